//! Embedding many inputs at once: image files, folders, IDX image files and dataset splits, and
//! the files the embeddings are written to.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::model::{InferError, TrainedModel};
use super::sets::DataOptions;
use crate::data::image::Skipped;
use crate::data::{
    DatasetSpec, IdxDataset, ImagePrep, OMNIGLOT, OmniglotSet, Split, ensure_split, files_under,
    image_files, load_image, load_omniglot, load_split, read_idx, resolve_data_dir,
    resolve_named_dir,
};

/// Images gathered for embedding, each with where it came from.
#[derive(Debug, Clone, Default)]
pub struct EmbedInputs {
    /// 8-bit pixels of every image, at the model's input size, one after another.
    pub pixels: Vec<u8>,
    /// Per image: its source (`path`, or `path#index` for an image inside an IDX file, or
    /// `dataset:split#index`).
    pub sources: Vec<String>,
    /// Per image: its class, when the input says (the label of a dataset split, or the folder
    /// an image file sits in for a folder input); empty otherwise.
    pub labels: Vec<String>,
    /// What folder walks left out.
    pub skipped: Skipped,
}

impl EmbedInputs {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn push(&mut self, pixels: &[u8], source: String, label: String) {
        self.pixels.extend_from_slice(pixels);
        self.sources.push(source);
        self.labels.push(label);
    }
}

/// Omniglot's sets as `omniglot:background` (its 964 training characters) and
/// `omniglot:evaluation` (the 659 one-shot test characters), resized to the model's input.
fn parse_omniglot(text: &str) -> Option<OmniglotSet> {
    match text {
        "omniglot:background" => Some(OmniglotSet::Background),
        "omniglot:evaluation" => Some(OmniglotSet::Evaluation),
        _ => None,
    }
}

/// A `NAME:SPLIT` dataset split, as `fashion-mnist:test`.
fn parse_split(text: &str) -> Option<(IdxDataset, Split)> {
    let (name, split) = text.split_once(':')?;
    let dataset = IdxDataset::ALL.into_iter().find(|d| d.name() == name)?;
    let split = match split {
        "train" => Split::Train,
        "test" => Split::Test,
        _ => return None,
    };
    Some((dataset, split))
}

/// Gather the images `inputs` name, brought to `prep`, in the order given (a folder's files in
/// path order). Each input is an image file, a folder (walked recursively; hidden entries and
/// non-images skipped and counted), an IDX image file (gzip or raw) whose images have the
/// model's size, or a dataset split `NAME:SPLIT` (`fashion-mnist:test`, `mnist:train`…); any
/// of them followed by `#N` stands for its image N alone (`fashion-mnist:test#0`).
pub fn gather_inputs(
    inputs: &[String],
    prep: &ImagePrep,
    data: &DataOptions,
) -> Result<EmbedInputs, InferError> {
    let mut out = EmbedInputs::default();
    for input in inputs {
        // `SOURCE#N`: image N of a multi-image source (as the sources of embeddings are named).
        if !Path::new(input).exists()
            && let Some((base, index)) = input.rsplit_once('#')
            && (Path::new(base).exists()
                || parse_split(base).is_some()
                || parse_omniglot(base).is_some())
        {
            let index: usize = index.parse().map_err(|_| {
                InferError::Invalid(format!(
                    "{input}: {index:?} is not an image number; SOURCE#N takes N = 0, 1, 2…"
                ))
            })?;
            let all = gather_inputs(&[base.to_string()], prep, data)?;
            if index >= all.len() {
                return Err(InferError::Invalid(format!(
                    "{input}: {base} holds {} image(s), so there is no image {index} (counted from 0)",
                    all.len()
                )));
            }
            let size = prep.width * prep.height;
            out.push(
                &all.pixels[index * size..(index + 1) * size],
                all.sources[index].clone(),
                all.labels[index].clone(),
            );
            continue;
        }
        let path = Path::new(input);
        if path.is_dir() {
            let (files, skipped) = image_files(path)?;
            out.skipped.hidden += skipped.hidden;
            out.skipped.not_images += skipped.not_images;
            for file in files {
                let label = folder_label(&file, path);
                out.push(&load_image(&file, prep)?, file.display().to_string(), label);
            }
        } else if path.is_file() {
            if crate::data::image::has_image_extension(path) {
                out.push(&load_image(path, prep)?, input.clone(), String::new());
            } else {
                idx_images(path, prep, &mut out)?;
            }
        } else if let Some((dataset, split)) = parse_split(input) {
            let dir = resolve_data_dir(
                dataset,
                data.folder_for(&DatasetSpec::Idx(dataset)).as_deref(),
            );
            ensure_split(dataset, &dir, split, &data.download)?;
            let set = load_split(dataset, &dir, split)?;
            check_size(input, set.rows, set.cols, prep)?;
            let names = dataset.class_names();
            for i in 0..set.len() {
                let label = names[usize::from(set.labels[i])].to_string();
                out.push(set.image(i), format!("{input}#{i}"), label);
            }
        } else if let Some(set) = parse_omniglot(input) {
            let dir =
                resolve_named_dir(OMNIGLOT, data.folder_for(&DatasetSpec::Omniglot).as_deref());
            let loaded = load_omniglot(&dir, set, prep)?;
            for i in 0..loaded.images.len() {
                let label = &loaded.class_names[usize::from(loaded.images.labels[i])];
                out.push(
                    loaded.images.image(i),
                    format!("{input}#{i}"),
                    label.clone(),
                );
            }
        } else {
            return Err(InferError::Invalid(format!(
                "{input}: no such file or folder, and not a dataset split; expected an image file, \
                 a folder of images, an IDX image file, or NAME:SPLIT such as fashion-mnist:test \
                 or omniglot:evaluation"
            )));
        }
    }
    Ok(out)
}

/// A recording (a mono WAV at the spoken-digit rate, 8 kHz) as a pseudo-Siamese network's
/// left input: its 8-bit log-mel image, as training computed it. An error, naming the file, for
/// another rate or a clip with no sound in it.
pub fn recording_image(path: &Path) -> Result<Vec<u8>, InferError> {
    let bytes = std::fs::read(path).map_err(|e| crate::data::DataError::io(path, e))?;
    recording_image_from_bytes(path, &bytes)
}

/// [`recording_image`] of a WAV file's bytes; `name` names it in errors.
pub fn recording_image_from_bytes(name: &Path, bytes: &[u8]) -> Result<Vec<u8>, InferError> {
    use crate::data::audio::{MelSpec, read_wav_bytes};
    let spec = MelSpec::spoken_digits();
    let (samples, rate) = read_wav_bytes(name, bytes)?;
    if rate != spec.sample_rate {
        return Err(InferError::Invalid(format!(
            "{}: sample rate {rate} Hz; the model was trained on {} Hz recordings",
            name.display(),
            spec.sample_rate
        )));
    }
    let front = spec.front_end().map_err(InferError::Invalid)?;
    let image = front.log_mel_image(&samples, crate::data::fsdd::FRAMES);
    if image.iter().all(|&v| v == 0) {
        return Err(InferError::Invalid(format!(
            "{}: no sound in it (silent, or shorter than one {}-sample frame)",
            name.display(),
            spec.n_fft
        )));
    }
    Ok(image)
}

/// Whether `path` names a WAV file by its extension (a folder so named does not).
pub fn is_wav(path: &Path) -> bool {
    !path.is_dir()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

/// The recordings `inputs` name, as log-mel images ([`recording_image`]): WAV files, and the
/// WAV files under folders (walked recursively, hidden entries skipped, in path order). Other
/// inputs are left to [`gather_inputs`]. Labels are the folder a file sits in, as for images.
pub fn gather_recordings(inputs: &[String]) -> Result<EmbedInputs, InferError> {
    let mut out = EmbedInputs::default();
    for input in inputs {
        let root = Path::new(input);
        if is_wav(root) && !root.exists() {
            return Err(InferError::Invalid(format!("{input}: no such file")));
        }
        if !(root.is_dir() || root.is_file() && is_wav(root)) {
            continue;
        }
        let (files, _) = files_under(root, is_wav)?;
        for file in files {
            let label = folder_label(&file, root);
            out.push(&recording_image(&file)?, file.display().to_string(), label);
        }
    }
    Ok(out)
}

/// The class a file found under the input `root` is labelled with: the name of the folder it
/// sits in, or nothing for a file directly in (or given as) the input.
fn folder_label(file: &Path, root: &Path) -> String {
    if file == root {
        return String::new();
    }
    file.parent()
        .filter(|p| *p != root)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn check_size(source: &str, rows: usize, cols: usize, prep: &ImagePrep) -> Result<(), InferError> {
    if (rows, cols) != (prep.height, prep.width) {
        return Err(InferError::Invalid(format!(
            "{source}: images are {rows}x{cols}; the model takes {}x{}",
            prep.height, prep.width
        )));
    }
    Ok(())
}

/// The images of an IDX file (3-D: count x rows x cols), inverted when `prep` says so.
fn idx_images(path: &Path, prep: &ImagePrep, out: &mut EmbedInputs) -> Result<(), InferError> {
    // A file named like neither an image nor an IDX file (.gz, ubyte, idx) that does not read
    // as IDX is called what it is, not a broken download.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let idx_like = ["idx", "ubyte", ".gz"].iter().any(|m| name.contains(m));
    let array = read_idx(path).map_err(|e| {
        if idx_like {
            InferError::from(e)
        } else {
            InferError::Invalid(format!(
                "{}: neither an image file (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff, .webp) nor \
                 an IDX image file",
                path.display()
            ))
        }
    })?;
    let [count, rows, cols] = array.dims[..] else {
        return Err(InferError::Invalid(format!(
            "{}: an IDX array of {} dimension(s) {:?}; IDX images have 3 (count x rows x cols) \
             (an image file needs an image extension: .png, .jpg…)",
            path.display(),
            array.dims.len(),
            array.dims
        )));
    };
    check_size(&path.display().to_string(), rows, cols, prep)?;
    let size = rows * cols;
    for i in 0..count {
        let mut pixels = array.data[i * size..(i + 1) * size].to_vec();
        if prep.invert {
            pixels.iter_mut().for_each(|v| *v = 255 - *v);
        }
        out.push(&pixels, format!("{}#{i}", path.display()), String::new());
    }
    Ok(())
}

/// File formats embeddings are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedFormat {
    /// NumPy `.npy`, float32, `rows x dim`, with a `.rows.tsv` beside it naming each row's
    /// source and label.
    Npy,
    /// CSV with a header: `source,label,e0,e1,…`.
    Csv,
    /// One JSON object per line: `{"source", "label", "embedding"}`.
    Jsonl,
}

impl EmbedFormat {
    /// Parse `--format`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "npy" => Ok(EmbedFormat::Npy),
            "csv" => Ok(EmbedFormat::Csv),
            "jsonl" | "json" => Ok(EmbedFormat::Jsonl),
            _ => Err(format!(
                "unknown format {text:?}; expected npy, csv or jsonl"
            )),
        }
    }

    /// The format a file name's extension implies, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Self::parse(&ext).ok()
    }
}

/// The file naming the rows of a `.npy` embeddings file: `x.npy` -> `x.rows.tsv`.
pub fn rows_file(npy: &Path) -> PathBuf {
    npy.with_extension("rows.tsv")
}

/// Encode `embeddings` (`sources.len()` rows of `dim` values) in `format`. For `.npy`, the
/// second element is the `.rows.tsv` text naming each row's source.
pub fn encode_embeddings(
    format: EmbedFormat,
    embeddings: &[f32],
    dim: usize,
    sources: &[String],
    labels: &[String],
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let rows = sources.len();
    if embeddings.len() != rows * dim || labels.len() != rows {
        return Err(format!(
            "{} values and {} labels for {rows} rows of {dim}",
            embeddings.len(),
            labels.len()
        ));
    }
    let row = |i: usize| &embeddings[i * dim..(i + 1) * dim];
    match format {
        EmbedFormat::Npy => {
            let mut bytes = Vec::new();
            {
                use npyz::WriterBuilder;
                let mut writer = npyz::WriteOptions::<f32>::new()
                    .default_dtype()
                    .shape(&[rows as u64, dim as u64])
                    .writer(&mut bytes)
                    .begin_nd()
                    .map_err(|e| e.to_string())?;
                writer
                    .extend(embeddings.iter().copied())
                    .map_err(|e| e.to_string())?;
                writer.finish().map_err(|e| e.to_string())?;
            }
            let mut tsv = String::from("row\tsource\tlabel\n");
            for i in 0..rows {
                tsv.push_str(&format!(
                    "{i}\t{}\t{}\n",
                    tsv_field(&sources[i]),
                    tsv_field(&labels[i])
                ));
            }
            Ok((bytes, Some(tsv.into_bytes())))
        }
        EmbedFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["source".to_string(), "label".to_string()];
            header.extend((0..dim).map(|k| format!("e{k}")));
            writer.write_record(&header).map_err(|e| e.to_string())?;
            for i in 0..rows {
                let mut record = vec![sources[i].clone(), labels[i].clone()];
                record.extend(row(i).iter().map(|v| v.to_string()));
                writer.write_record(&record).map_err(|e| e.to_string())?;
            }
            let bytes = writer.into_inner().map_err(|e| e.to_string())?;
            Ok((bytes, None))
        }
        EmbedFormat::Jsonl => {
            let mut bytes = Vec::new();
            for i in 0..rows {
                let line = serde_json::json!({
                    "source": sources[i],
                    "label": labels[i],
                    "embedding": row(i),
                });
                bytes.extend(line.to_string().into_bytes());
                bytes.push(b'\n');
            }
            Ok((bytes, None))
        }
    }
}

/// A TSV field without the characters that would break the table.
fn tsv_field(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

/// The embeddings of inputs, a row each, with where each came from.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    /// The rows, one after another.
    pub vectors: Vec<f32>,
    /// Per row: its source, as [`EmbedInputs::sources`] names it.
    pub sources: Vec<String>,
    /// Per row: its label, as [`EmbedInputs::labels`] gives it.
    pub labels: Vec<String>,
    /// Rows that are recordings (they come first).
    pub recordings: usize,
    /// Rows that are images.
    pub images: usize,
    /// What folder walks left out.
    pub skipped: Skipped,
}

impl Embedded {
    /// Rows.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// Embed what `inputs` name (see [`gather_inputs`]) with `model`, `batch` at a time. A
/// pseudo-Siamese model also takes recordings ([`gather_recordings`]): they go through its
/// recordings' branch into the same space and come first. An error when nothing is found, for
/// a recording given to another model, and for a model with no embeddings (2-channel).
pub fn embed_sources(
    model: &TrainedModel,
    inputs: &[String],
    prep: &ImagePrep,
    data: &DataOptions,
    batch: usize,
) -> Result<Embedded, InferError> {
    model.check_embeds()?;
    let pseudo = model.net.is_pseudo();
    if !pseudo && let Some(wav) = inputs.iter().find(|i| is_wav(Path::new(i))) {
        return Err(InferError::Invalid(format!(
            "{wav}: a recording; only a pseudo-Siamese model (--arch pseudo) embeds recordings"
        )));
    }
    let recordings = if pseudo {
        gather_recordings(inputs)?
    } else {
        EmbedInputs::default()
    };
    let image_inputs: Vec<String> = inputs
        .iter()
        .filter(|i| !is_wav(Path::new(i)))
        .cloned()
        .collect();
    let mut images = if image_inputs.is_empty() {
        EmbedInputs::default()
    } else {
        gather_inputs(&image_inputs, prep, data)?
    };
    // Recordings found in folders are not "non-image entries" for a pseudo-Siamese model.
    let wav_args = inputs.len() - image_inputs.len();
    images.skipped.not_images = images
        .skipped
        .not_images
        .saturating_sub(recordings.len() - wav_args);
    if images.is_empty() && recordings.is_empty() {
        return Err(InferError::Invalid(format!(
            "no {} found in {} ({} hidden and {} other files skipped)",
            if pseudo {
                "recordings or images"
            } else {
                "images"
            },
            inputs.join(", "),
            images.skipped.hidden,
            images.skipped.not_images
        )));
    }
    let mut vectors = if recordings.is_empty() {
        Vec::new()
    } else {
        model.embed_recordings(&recordings.pixels, recordings.len(), batch)?
    };
    if !images.is_empty() {
        vectors.extend(model.embed(&images.pixels, images.len(), batch)?);
    }
    Ok(Embedded {
        vectors,
        recordings: recordings.len(),
        images: images.len(),
        sources: [recordings.sources, images.sources].concat(),
        labels: [recordings.labels, images.labels].concat(),
        skipped: images.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_rows_file() {
        let values = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let sources = vec!["a.png".to_string(), "b\tc.png".to_string()];
        let labels = vec!["x".to_string(), String::new()];
        let (bytes, rows) =
            encode_embeddings(EmbedFormat::Npy, &values, 3, &sources, &labels).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        let read: Vec<f32> = npy.into_vec().unwrap();
        assert_eq!(read, values);
        let rows = String::from_utf8(rows.unwrap()).unwrap();
        assert_eq!(rows, "row\tsource\tlabel\n0\ta.png\tx\n1\tb c.png\t\n");
    }

    #[test]
    fn csv_and_jsonl_carry_the_source() {
        let values = [0.5f32, -1.0];
        let sources = vec!["s".to_string()];
        let labels = vec!["Bag".to_string()];
        let (csv, _) = encode_embeddings(EmbedFormat::Csv, &values, 2, &sources, &labels).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "source,label,e0,e1\ns,Bag,0.5,-1\n"
        );
        let (jsonl, _) =
            encode_embeddings(EmbedFormat::Jsonl, &values, 2, &sources, &labels).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&jsonl).unwrap();
        assert_eq!(v["source"], "s");
        assert_eq!(v["embedding"][1], -1.0);
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        let e = encode_embeddings(
            EmbedFormat::Csv,
            &[1.0, 2.0, 3.0],
            2,
            &["a".into()],
            &["".into()],
        );
        assert!(e.unwrap_err().contains("3 values"));
    }

    #[test]
    fn split_names() {
        assert_eq!(
            parse_split("fashion-mnist:test"),
            Some((IdxDataset::FashionMnist, Split::Test))
        );
        assert_eq!(
            parse_split("mnist:train"),
            Some((IdxDataset::Mnist, Split::Train))
        );
        assert_eq!(parse_split("mnist:validation"), None);
        assert_eq!(parse_split("cifar:test"), None);
        assert_eq!(
            EmbedFormat::from_path(Path::new("x/e.JSONL")),
            Some(EmbedFormat::Jsonl)
        );
        assert_eq!(EmbedFormat::from_path(Path::new("e.bin")), None);
    }
}
