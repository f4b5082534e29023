//! The Free Spoken Digit Dataset (Jakobovski et al.) and its pairing with MNIST for the
//! pseudo-Siamese "does this recording say the digit this image shows?" task.
//!
//! The folder holds `recordings/{digit}_{speaker}_{index}.wav` (8 kHz mono) and
//! `metadata.tsv` (one row per recording: `file, digit, speaker, index, ...`, optionally an
//! `md5` column that is then checked), as `../shared/data/fsdd` does. Every recording becomes a
//! 28x28 log-mel image ([`MelSpec::spoken_digits`], 28 frames), the same size as an MNIST
//! digit, so both kinds of input travel in one [`ImageSet`]: recordings first, then MNIST's
//! training images, then its test images. The two branches of the network never share weights.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rand::{Rng, RngExt};
use rayon::prelude::*;

use super::audio::{MelSpec, read_wav_bytes};
use super::{ClassId, DataError, ImageSet};
use crate::sampling::PairSet;

/// The folder name of the dataset (under `$SIAMESE_DATA`).
pub const FSDD: &str = "fsdd";

/// Frames (columns) of a recording's image: 28, as MNIST's width.
pub const FRAMES: usize = 28;

/// Speakers held out of training: the last this many in name order (of FSDD's six: theo and
/// yweweler).
pub const UNSEEN_SPEAKERS: usize = 2;

/// One recording's row of `metadata.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// File name under `recordings/`.
    pub file: String,
    /// The spoken digit.
    pub digit: ClassId,
    /// Who spoke it.
    pub speaker: String,
    /// Take number (FSDD's own test split is takes 0-4).
    pub index: u32,
    /// The MD5 of the WAV file, when the index gives one (checked on loading).
    pub md5: Option<String>,
}

/// Which recordings a pair set draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// Training speakers, takes 10 and above: fitted.
    Fit,
    /// Training speakers, takes 5 and above: fitted when no validation is held out.
    FitAndValidation,
    /// Training speakers, takes 5-9: validation (and threshold calibration).
    Validation,
    /// Training speakers, takes 0-4 (FSDD's own test split): seen voices, unheard takes.
    SeenTest,
    /// The held-out speakers, every take: voices never heard in training.
    Unseen,
}

/// Which MNIST images the other side of a pair comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digits {
    /// MNIST training images 0-49,999.
    Fit,
    /// MNIST training images 50,000-59,999.
    Validation,
    /// MNIST's test split.
    Test,
}

/// Recordings and MNIST digits in one image set.
#[derive(Debug, Clone)]
pub struct AudioImageSet {
    /// Recordings (as log-mel images), then MNIST train, then MNIST test; labels are digits.
    pub images: ImageSet,
    /// The recordings, in the order of the first `recordings.len()` images.
    pub recordings: Vec<Recording>,
    /// Speakers in name order, and which of them are held out.
    pub speakers: Vec<String>,
    /// The held-out speakers.
    pub unseen_speakers: Vec<String>,
    mnist_train: Range<usize>,
    mnist_test: Range<usize>,
}

/// Read `metadata.tsv` of `dir`, checking each row names an existing recording.
pub fn read_fsdd_index(dir: &Path) -> Result<Vec<Recording>, DataError> {
    let path = dir.join("metadata.tsv");
    if !path.is_file() {
        return Err(DataError::Missing {
            dir: dir.to_path_buf(),
            file: "metadata.tsv".into(),
            hint: "the Free Spoken Digit Dataset's index (file, digit, speaker, index columns); \
                   it is not downloaded: point --data-dir at a folder holding it and \
                   recordings/"
                .into(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let bad = |line: usize, reason: String| DataError::Table {
        path: path.clone(),
        line,
        reason,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let column = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            bad(
                1,
                format!("no {name:?} column; expected a header with file, digit, speaker, index"),
            )
        })
    };
    let c_md5 = header.iter().position(|h| *h == "md5");
    let (c_file, c_digit, c_speaker, c_index) = (
        column("file")?,
        column("digit")?,
        column("speaker")?,
        column("index")?,
    );
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 2;
        let fields: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| {
            fields.get(c).copied().ok_or_else(|| {
                bad(
                    n,
                    format!("{} fields; the header has {}", fields.len(), header.len()),
                )
            })
        };
        let digit: ClassId = get(c_digit)?
            .parse()
            .ok()
            .filter(|d| *d < 10)
            .ok_or_else(|| bad(n, format!("digit {:?} is not 0-9", fields[c_digit])))?;
        let index: u32 = get(c_index)?.parse().map_err(|_| {
            bad(
                n,
                format!("index {:?} is not a whole number", fields[c_index]),
            )
        })?;
        let file = get(c_file)?.to_string();
        if file.contains('/') || file.contains('\\') || file.is_empty() {
            return Err(bad(n, format!("file {file:?} must be a bare file name")));
        }
        out.push(Recording {
            file,
            digit,
            speaker: get(c_speaker)?.to_string(),
            index,
            md5: match c_md5 {
                Some(c) => Some(get(c)?.to_ascii_lowercase()),
                None => None,
            },
        });
    }
    if out.is_empty() {
        return Err(bad(0, "no recordings listed".into()));
    }
    Ok(out)
}

/// Load every recording of `dir` as a 28x28 log-mel image, labelled by digit.
pub fn load_fsdd(dir: &Path) -> Result<(ImageSet, Vec<Recording>), DataError> {
    let recordings = read_fsdd_index(dir)?;
    let spec = MelSpec::spoken_digits();
    let front = spec.front_end().map_err(|reason| DataError::Audio {
        path: dir.to_path_buf(),
        reason,
    })?;
    let images: Vec<Vec<u8>> = recordings
        .par_iter()
        .map(|r| {
            let path: PathBuf = dir.join("recordings").join(&r.file);
            // One read serves both the checksum and the decoding.
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            if let Some(expected) = &r.md5 {
                let found = super::md5_hex(&bytes);
                if &found != expected {
                    return Err(DataError::ChecksumMismatch {
                        path,
                        expected: expected.clone(),
                        found,
                    });
                }
            }
            let (samples, rate) = read_wav_bytes(&path, &bytes)?;
            if rate != spec.sample_rate {
                return Err(DataError::Audio {
                    path,
                    reason: format!("sample rate {rate} Hz; expected {} Hz", spec.sample_rate),
                });
            }
            Ok(front.log_mel_image(&samples, FRAMES))
        })
        .collect::<Result<_, _>>()?;
    let set = ImageSet {
        images: images.concat(),
        labels: recordings.iter().map(|r| r.digit).collect(),
        rows: spec.n_mels,
        cols: FRAMES,
        num_classes: 10,
    };
    Ok((set, recordings))
}

impl AudioImageSet {
    /// Put the recordings and MNIST's two splits (28x28, labels 0-9) into one set.
    pub fn new(
        audio: ImageSet,
        recordings: Vec<Recording>,
        mnist_train: &ImageSet,
        mnist_test: &ImageSet,
    ) -> Result<Self, String> {
        for (what, set) in [("MNIST train", mnist_train), ("MNIST test", mnist_test)] {
            if (set.rows, set.cols) != (audio.rows, audio.cols) {
                return Err(format!(
                    "{what} images are {}x{}; the recordings' images are {}x{}",
                    set.rows, set.cols, audio.rows, audio.cols
                ));
            }
        }
        let speakers: Vec<String> = recordings
            .iter()
            .map(|r| r.speaker.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if speakers.len() <= UNSEEN_SPEAKERS {
            return Err(format!(
                "{} speaker(s) {speakers:?}; training needs more than the {UNSEEN_SPEAKERS} held out",
                speakers.len()
            ));
        }
        let unseen_speakers = speakers[speakers.len() - UNSEEN_SPEAKERS..].to_vec();
        let a = audio.len();
        let mnist_train_range = a..a + mnist_train.len();
        let mnist_test_range = mnist_train_range.end..mnist_train_range.end + mnist_test.len();
        let mut images = audio.images;
        images.extend_from_slice(&mnist_train.images);
        images.extend_from_slice(&mnist_test.images);
        let mut labels = audio.labels;
        labels.extend_from_slice(&mnist_train.labels);
        labels.extend_from_slice(&mnist_test.labels);
        Ok(Self {
            images: ImageSet {
                images,
                labels,
                rows: audio.rows,
                cols: audio.cols,
                num_classes: 10,
            },
            recordings,
            speakers,
            unseen_speakers,
            mnist_train: mnist_train_range,
            mnist_test: mnist_test_range,
        })
    }

    /// Per class of `classes`, the indices of the recordings of `takes` in dataset order; with
    /// a `limit`, at most that many, taken take by take across the speakers (the lowest take
    /// number of every speaker first), so a small limit still hears every training voice.
    pub fn recordings_by_class(
        &self,
        takes: Takes,
        classes: &[ClassId],
        limit: Option<usize>,
    ) -> Vec<Vec<u32>> {
        let mut order: Vec<usize> = (0..self.recordings.len()).collect();
        if limit.is_some() {
            order.sort_by_key(|&i| (self.recordings[i].index, i));
        }
        let mut out = vec![Vec::new(); classes.len()];
        for i in order {
            let r = &self.recordings[i];
            let unseen = self.unseen_speakers.contains(&r.speaker);
            let keep = match takes {
                Takes::Fit => !unseen && r.index >= 10,
                Takes::FitAndValidation => !unseen && r.index >= 5,
                Takes::Validation => !unseen && (5..10).contains(&r.index),
                Takes::SeenTest => !unseen && r.index < 5,
                Takes::Unseen => unseen,
            };
            if let Some(slot) = classes.iter().position(|&c| c == r.digit)
                && keep
                && limit.is_none_or(|l| out[slot].len() < l)
            {
                out[slot].push(i as u32);
            }
        }
        for list in &mut out {
            list.sort_unstable();
        }
        out
    }

    /// Per class of `classes`, the indices of the MNIST images of `digits`.
    pub fn digits_by_class(&self, digits: Digits, classes: &[ClassId]) -> Vec<Vec<u32>> {
        let cut = (self.mnist_train.start + 50_000).min(self.mnist_train.end);
        let range = match digits {
            Digits::Fit => self.mnist_train.start..cut,
            Digits::Validation => cut..self.mnist_train.end,
            Digits::Test => self.mnist_test.clone(),
        };
        let mut out = vec![Vec::new(); classes.len()];
        for i in range {
            if let Some(slot) = classes.iter().position(|&c| c == self.images.labels[i]) {
                out[slot].push(i as u32);
            }
        }
        out
    }
}

/// Cross-modal pairs: each query (per class, `queries[c]`) with `per_query` positives (a
/// random partner of its own class) and as many negatives (a partner of a uniformly drawn
/// other class), alternating positive and negative, so the set is exactly balanced. Queries go
/// left, partners right. Classes without partners are refused by the caller; a query class
/// with no partners is skipped here.
pub fn cross_pairs<R: Rng>(
    queries: &[Vec<u32>],
    partners: &[Vec<u32>],
    per_query: usize,
    rng: &mut R,
) -> PairSet {
    let k = queries.len();
    let mut pairs = PairSet::default();
    if k < 2 || partners.iter().any(Vec::is_empty) {
        return pairs;
    }
    for (c, list) in queries.iter().enumerate() {
        for &q in list {
            for _ in 0..per_query {
                let same = &partners[c];
                pairs.left.push(q);
                pairs.right.push(same[rng.random_range(0..same.len())]);
                pairs.labels.push(1);
                let other = (c + rng.random_range(1..k)) % k;
                let diff = &partners[other];
                pairs.left.push(q);
                pairs.right.push(diff[rng.random_range(0..diff.len())]);
                pairs.labels.push(0);
            }
        }
    }
    pairs
}

/// The MNIST folder for the spoken-digit pairs: the usual one (`$SIAMESE_DATA/mnist`, the user
/// cache) when it holds the files, else `mnist/` beside the FSDD folder when that does, else the
/// usual one (where missing files are downloaded).
pub fn mnist_dir_for(fsdd_dir: &Path) -> PathBuf {
    let dataset = super::IdxDataset::Mnist;
    let usual = super::resolve_data_dir(dataset, None);
    let has_files = |d: &Path| dataset.files().iter().all(|(f, _)| d.join(f).is_file());
    if has_files(&usual) {
        return usual;
    }
    match fsdd_dir.parent().map(|p| p.join("mnist")) {
        Some(sibling) if has_files(&sibling) => sibling,
        _ => usual,
    }
}

/// Load FSDD from `fsdd_dir` (`$SIAMESE_DATA/fsdd` when `None`) and MNIST (see
/// [`mnist_dir_for`]; downloaded when missing and allowed) into one [`AudioImageSet`]. Also
/// returns the FSDD folder used.
pub fn load_spoken_mnist(
    fsdd_dir: Option<&Path>,
    download: &super::DownloadOptions,
) -> Result<(AudioImageSet, PathBuf), DataError> {
    let dir = super::resolve_named_dir(FSDD, fsdd_dir);
    let (audio, recordings) = load_fsdd(&dir)?;
    let mnist = mnist_dir_for(&dir);
    let dataset = super::IdxDataset::Mnist;
    super::ensure_files(dataset, &mnist, download)?;
    let train = super::load_split(dataset, &mnist, super::Split::Train)?;
    let test = super::load_split(dataset, &mnist, super::Split::Test)?;
    let set = AudioImageSet::new(audio, recordings, &train, &test).map_err(|reason| {
        DataError::Table {
            path: dir.join("metadata.tsv"),
            line: 0,
            reason,
        }
    })?;
    Ok((set, dir))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn cross_pairs_are_balanced_and_labelled_by_class() {
        // Queries 0-5 (classes 0, 1, 2: two each); partners 100+ by class.
        let queries = vec![vec![0, 1], vec![2, 3], vec![4, 5]];
        let partners = vec![vec![100, 101], vec![110], vec![120, 121, 122]];
        let class_of = |i: u32| -> usize {
            if i < 100 {
                (i / 2) as usize
            } else {
                ((i - 100) / 10) as usize
            }
        };
        let pairs = cross_pairs(&queries, &partners, 3, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(pairs.len(), 6 * 3 * 2);
        assert_eq!(pairs.positives(), 18);
        for i in 0..pairs.len() {
            let (l, r) = (pairs.left[i], pairs.right[i]);
            assert!(l < 100 && r >= 100, "queries left, partners right");
            assert_eq!(
                pairs.labels[i] == 1,
                class_of(l) == class_of(r),
                "pair {i}: {l} {r}"
            );
        }
    }

    #[test]
    fn fsdd_index_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.tsv"),
            "file\tdigit\tspeaker\tindex\n0_a_0.wav\t0\ta\t0\n1_a_0.wav\t12\ta\t0\n",
        )
        .unwrap();
        let err = read_fsdd_index(dir.path()).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("\"12\""), "{err}");
        let err = read_fsdd_index(&dir.path().join("nowhere"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("metadata.tsv"), "{err}");
    }

    /// The real dataset's folder: `$SIAMESE_DATA/fsdd`, else `../shared/data/fsdd`.
    fn shared_fsdd() -> PathBuf {
        let dir = crate::data::resolve_named_dir(FSDD, None);
        if dir.join("metadata.tsv").is_file() {
            dir
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/fsdd")
        }
    }

    /// A recording whose bytes do not match the index's MD5 is refused, naming the file and
    /// both sums; with the true sum (`md5sum 0_george_0.wav`, also the shared index's
    /// value) the same file loads.
    #[test]
    fn recordings_are_checked_against_their_md5() {
        let shared = shared_fsdd();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("recordings")).unwrap();
        std::fs::copy(
            shared.join("recordings/0_george_0.wav"),
            dir.path().join("recordings/0_george_0.wav"),
        )
        .unwrap();
        let index = |md5: &str| {
            std::fs::write(
                dir.path().join("metadata.tsv"),
                format!("file\tdigit\tspeaker\tindex\tmd5\n0_george_0.wav\t0\tgeorge\t0\t{md5}\n"),
            )
            .unwrap()
        };
        index("9AC95A34295C0ABCF1EA39DFBD367CD6");
        let (audio, _) = load_fsdd(dir.path()).unwrap();
        assert_eq!(audio.len(), 1);
        index("00000000000000000000000000000000");
        let err = load_fsdd(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("0_george_0.wav")
                && err.contains("00000000000000000000000000000000")
                && err.contains("9ac95a34295c0abcf1ea39dfbd367cd6"),
            "{err}"
        );
    }

    /// The real dataset (read from `$SIAMESE_DATA/fsdd` or `../shared/data/fsdd`): 3,000
    /// recordings, 6 speakers, the last two held out; 28x28 images; the takes partition the
    /// recordings.
    #[test]
    fn shared_fsdd_loads_and_splits() {
        let dir = shared_fsdd();
        let (audio, recordings) = load_fsdd(&dir).unwrap();
        assert_eq!((audio.len(), audio.rows, audio.cols), (3000, 28, 28));
        // No image is blank: the kept frames of every recording reach within 10 dB of its
        // peak (the longest clips keep their loudest 28 frames), and a clip that fits keeps
        // its peak (255).
        for i in 0..audio.len() {
            let max = audio.image(i).iter().copied().max().unwrap();
            assert!(max >= 223, "recording {i}: brightest cell {max}");
        }
        let fits = recordings
            .iter()
            .position(|r| r.file == "0_george_0.wav")
            .unwrap();
        assert!(
            audio.image(fits).contains(&255),
            "2,384 samples fit 28 frames"
        );
        let tiny = ImageSet {
            images: vec![0; 784 * 20],
            labels: (0..20).map(|i| (i % 10) as ClassId).collect(),
            rows: 28,
            cols: 28,
            num_classes: 10,
        };
        let set = AudioImageSet::new(audio, recordings, &tiny, &tiny).unwrap();
        assert_eq!(set.unseen_speakers, ["theo", "yweweler"]);
        let classes: Vec<ClassId> = (0..10).collect();
        let count = |t| -> usize {
            set.recordings_by_class(t, &classes, None)
                .iter()
                .map(Vec::len)
                .sum()
        };
        // 4 speakers x 10 digits x (40, 5, 5) takes; 2 x 500 unseen.
        assert_eq!(
            [
                Takes::Fit,
                Takes::Validation,
                Takes::SeenTest,
                Takes::Unseen
            ]
            .map(count),
            [1600, 200, 200, 1000]
        );
        let test = set.digits_by_class(Digits::Test, &classes);
        assert!(test.iter().all(|c| c.len() == 2));
        assert!(test.iter().flatten().all(|&i| i >= 3020));
    }
}
