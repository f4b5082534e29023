//! The pair sets and class pools an evaluation runs on.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;

use super::model::{InferError, TrainedModel};
use crate::data::{
    AudioImageSet, ClassId, DatasetSpec, Digits, DownloadOptions, FSDD, IdxDataset, ImageSet,
    OMNIGLOT, OmniglotData, OmniglotSet, Split, Takes, cross_pairs, ensure_split, load_folder,
    load_image, load_omniglot, load_split, load_spoken_mnist, read_pairs_csv, resolve_data_dir,
    resolve_named_dir,
};
use crate::rng::{Stream, stream_rng};
use crate::sampling::{PairSet, create_pairs};
use crate::train::chapter_data;

/// Where an evaluation's pairs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairSource {
    /// The chapter's test pairs (the last 20% per class of the training split), rebuilt from
    /// the run's configuration: the pairs its "Accuracy on test set" was measured on.
    SeedTest,
    /// Pairs built the same way from the official test split, for the training classes.
    Test,
    /// Pairs from the official test split for the classes never used in training.
    Unseen,
    /// A pairs file (CSV: left path, right path, label).
    Csv(PathBuf),
    /// An image folder (one sub-folder per class), paired by the chapter's protocol.
    Folder(PathBuf),
}

impl PairSource {
    /// Parse `--pairs`: `seed-test`, `test`, `unseen`, `csv:PATH` or `folder:PATH`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "seed-test" => Ok(PairSource::SeedTest),
            "test" => Ok(PairSource::Test),
            "unseen" => Ok(PairSource::Unseen),
            _ => {
                if let Some(p) = text.strip_prefix("csv:").filter(|p| !p.is_empty()) {
                    Ok(PairSource::Csv(p.into()))
                } else if let Some(p) = text.strip_prefix("folder:").filter(|p| !p.is_empty()) {
                    Ok(PairSource::Folder(p.into()))
                } else {
                    Err(format!(
                        "unknown pair set {text:?}; expected seed-test, test, unseen, all, csv:FILE or folder:DIR"
                    ))
                }
            }
        }
    }

    /// What `--pairs all` means for `model`: the chapter's seed-test pairs, then the sets its
    /// dataset has: test and unseen for an IDX dataset (unseen only when at least two classes
    /// were left out of training) and for the spoken digits, unseen for Omniglot, none more
    /// for an image folder.
    pub fn all_for(model: &TrainedModel) -> Vec<PairSource> {
        let mut out = vec![PairSource::SeedTest];
        match DatasetSpec::parse(&model.meta.train.dataset) {
            Ok(DatasetSpec::SpokenMnist) => out.extend([PairSource::Test, PairSource::Unseen]),
            Ok(DatasetSpec::Omniglot) => out.push(PairSource::Unseen),
            Ok(DatasetSpec::Idx(dataset)) => {
                out.push(PairSource::Test);
                if unseen_classes(model, dataset.class_names().len()).len() >= 2 {
                    out.push(PairSource::Unseen);
                }
            }
            _ => {}
        }
        out
    }

    /// The name an evaluation report gives it.
    pub fn name(&self) -> String {
        match self {
            PairSource::SeedTest => "seed-test".into(),
            PairSource::Test => "test".into(),
            PairSource::Unseen => "unseen".into(),
            PairSource::Csv(p) => format!("csv:{}", p.display()),
            PairSource::Folder(p) => format!("folder:{}", p.display()),
        }
    }
}

/// Images and the pairs over them, ready to score.
#[derive(Debug, Clone)]
pub struct PairSetData {
    /// The pair set's name.
    pub name: String,
    /// How it was built.
    pub description: String,
    /// The images the pairs index.
    pub images: ImageSet,
    /// The pairs.
    pub pairs: PairSet,
}

/// Settings shared by everything that loads evaluation data.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// The dataset's folder, overriding the run's and the default.
    pub data_dir: Option<PathBuf>,
    /// Whether missing dataset files may be downloaded.
    pub download: DownloadOptions,
    /// Seed of the pairs and episodes an evaluation draws (not the run's seed).
    pub seed: u64,
    /// Invert user images (a dark object on a light background) before use.
    pub invert: bool,
    /// The run's dataset and the folder evaluation reads it from
    /// ([`DataOptions::with_run_folder`]): `gather_inputs` reads that dataset's splits
    /// (`fashion-mnist:test`, `omniglot:evaluation`) from there when `data_dir` is not given.
    pub run_folder: Option<(DatasetSpec, PathBuf)>,
}

impl DataOptions {
    /// These options, also knowing where `model`'s run found its dataset (the folder
    /// [`evaluation_data_dir`] chooses), so that its splits are found without
    /// `SIAMESE_DATA` or a download, as `evaluate` finds them.
    ///
    /// A pseudo-Siamese run's images are MNIST's, found as its training found them (beside its
    /// FSDD folder); there `data_dir` may name the FSDD folder, as in `evaluate`, or MNIST's.
    pub fn with_run_folder(mut self, model: &TrainedModel) -> Self {
        match DatasetSpec::parse(&model.meta.train.dataset) {
            Ok(spec @ (DatasetSpec::Idx(_) | DatasetSpec::Omniglot)) => {
                self.run_folder = evaluation_data_dir(model, &self).map(|dir| (spec, dir));
            }
            Ok(DatasetSpec::SpokenMnist) => {
                let mnist = IdxDataset::Mnist;
                let holds_mnist =
                    |dir: &Path| mnist.files().iter().all(|(f, _)| dir.join(f).is_file());
                if self.data_dir.as_deref().is_some_and(holds_mnist) {
                    return self;
                }
                let fsdd = resolve_named_dir(FSDD, evaluation_data_dir(model, &self).as_deref());
                self.data_dir = None;
                self.run_folder = Some((
                    DatasetSpec::Idx(mnist),
                    crate::data::fsdd::mnist_dir_for(&fsdd),
                ));
            }
            _ => {}
        }
        self
    }

    /// The folder to read `dataset` from, when one is known: `data_dir`, else the run's.
    pub(crate) fn folder_for(&self, dataset: &DatasetSpec) -> Option<PathBuf> {
        self.data_dir.clone().or_else(|| {
            self.run_folder
                .as_ref()
                .filter(|(d, _)| d == dataset)
                .map(|(_, dir)| dir.clone())
        })
    }
}

/// The IDX dataset of the run, or an error saying which pair sets need one.
fn idx_dataset(model: &TrainedModel, what: &str) -> Result<IdxDataset, InferError> {
    match DatasetSpec::parse(&model.meta.train.dataset) {
        Ok(DatasetSpec::Idx(d)) => Ok(d),
        _ => Err(InferError::Invalid(format!(
            "{what} needs the official test split of an IDX dataset, but this model was trained on {:?}; \
             evaluate it on csv:FILE or folder:DIR pairs instead",
            model.meta.train.dataset
        ))),
    }
}

/// The dataset folder an evaluation of `model` reads, as an explicit path: `--data-dir`, else
/// the one the run was told, else (when the usual places, `$SIAMESE_DATA` and the user
/// cache, lack the files) the folder training actually read, as `model.json` records it. So
/// a model trained with `SIAMESE_DATA` set can be evaluated without it.
pub(crate) fn evaluation_data_dir(model: &TrainedModel, opts: &DataOptions) -> Option<PathBuf> {
    if let Some(dir) = opts.data_dir.clone().or(model.meta.train.data_dir.clone()) {
        return Some(dir);
    }
    // Omniglot and FSDD are not downloaded: their usual folder, else the one training read.
    let named = match DatasetSpec::parse(&model.meta.train.dataset) {
        Ok(DatasetSpec::Omniglot) => Some((OMNIGLOT, OmniglotSet::Background.images_file())),
        Ok(DatasetSpec::SpokenMnist) => Some((FSDD, "metadata.tsv".to_string())),
        _ => None,
    };
    if let Some((name, marker)) = named {
        if resolve_named_dir(name, None).join(&marker).is_file() {
            return None;
        }
        return model
            .meta
            .data_dir_used
            .clone()
            .filter(|dir| dir.join(&marker).is_file());
    }
    let Ok(DatasetSpec::Idx(dataset)) = DatasetSpec::parse(&model.meta.train.dataset) else {
        return None;
    };
    let has_files = |dir: &std::path::Path| {
        dataset
            .files()
            .iter()
            .all(|(name, _)| dir.join(name).is_file())
    };
    if has_files(&resolve_data_dir(dataset, None)) {
        return None;
    }
    model
        .meta
        .data_dir_used
        .clone()
        .filter(|dir| has_files(dir))
}

/// The official test split of the run's dataset.
fn test_split(
    model: &TrainedModel,
    what: &str,
    opts: &DataOptions,
) -> Result<ImageSet, InferError> {
    let dataset = idx_dataset(model, what)?;
    let explicit = evaluation_data_dir(model, opts);
    let dir = resolve_data_dir(dataset, explicit.as_deref());
    ensure_split(dataset, &dir, Split::Test, &opts.download)?;
    let set = load_split(dataset, &dir, Split::Test)?;
    let input = &model.meta.model.input;
    if (set.rows, set.cols) != (input.height, input.width) {
        return Err(InferError::Invalid(format!(
            "{} test split in {}: the images are {}x{}; the model takes {}x{}",
            dataset.name(),
            dir.display(),
            set.rows,
            set.cols,
            input.height,
            input.width
        )));
    }
    Ok(set)
}

/// The classes of the run's dataset that training never saw.
fn unseen_classes(model: &TrainedModel, num_classes: usize) -> Vec<ClassId> {
    let trained = effective_classes(&model.meta.train.classes, num_classes);
    (0..num_classes as ClassId)
        .filter(|c| !trained.contains(c))
        .collect()
}

/// A run's class list, where empty means all classes, within the `num_classes` of the data
/// at hand (a run trained with rotated classes is tested on the unrotated originals).
fn effective_classes(classes: &[ClassId], num_classes: usize) -> Vec<ClassId> {
    if classes.is_empty() {
        (0..num_classes as ClassId).collect()
    } else {
        classes
            .iter()
            .copied()
            .filter(|&c| usize::from(c) < num_classes)
            .collect()
    }
}

/// Per class of `classes`, the indices of its images, in dataset order.
fn indices_by_class(labels: &[ClassId], classes: &[ClassId]) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); classes.len()];
    for (i, l) in labels.iter().enumerate() {
        if let Some(slot) = classes.iter().position(|c| c == l) {
            out[slot].push(i as u32);
        }
    }
    out
}

/// Pairs over `classes` of `images` by the chapter's pair protocol (each class's images in
/// order; the smallest class sets the count), drawn from the evaluation seed.
fn protocol_pairs(images: &ImageSet, classes: &[ClassId], seed: u64, tag: u64) -> PairSet {
    let per_class = indices_by_class(&images.labels, classes);
    create_pairs(&per_class, &mut eval_rng(seed, tag))
}

/// Build the pair set `source` for `model`.
pub fn build_pair_set(
    model: &TrainedModel,
    source: &PairSource,
    opts: &DataOptions,
) -> Result<PairSetData, InferError> {
    let name = source.name();
    if is_spoken(model) && matches!(source, PairSource::Folder(_)) {
        return Err(InferError::Invalid(format!(
            "{name}: a pseudo-Siamese model pairs recordings with images; image-only pair sets \
             do not fit it. Use seed-test, test, unseen, or csv:FILE with a recording and an \
             image on each line"
        )));
    }
    match source {
        PairSource::SeedTest => {
            let mut config = model.meta.train.clone();
            config.data_dir = evaluation_data_dir(model, opts);
            let data = chapter_data(&config, &opts.download)?;
            let description = if is_spoken(model) {
                format!(
                    "the run's test pairs: the held-out speakers' recordings against MNIST test \
                     images, drawn with the training seed {}",
                    config.seed
                )
            } else {
                format!(
                    "the chapter's test pairs: last 20% of each training class of the {} \
                     training split, seed {}",
                    config.dataset, config.seed
                )
            };
            Ok(PairSetData {
                name,
                description,
                images: data.images,
                pairs: data.test,
            })
        }
        PairSource::Test | PairSource::Unseen if is_spoken(model) => {
            let set = spoken_mnist(model, opts)?;
            let (takes, tag, what) = if *source == PairSource::Test {
                (
                    Takes::SeenTest,
                    1,
                    "takes 0-4 (FSDD's test split) of the training speakers",
                )
            } else {
                (Takes::Unseen, 2, "every take of the held-out speakers")
            };
            let classes = effective_classes(&model.meta.train.classes, 10);
            let queries = set.recordings_by_class(takes, &classes, None);
            let partners = set.digits_by_class(Digits::Test, &classes);
            let pairs = cross_pairs(
                &queries,
                &partners,
                crate::train::PAIRS_PER_RECORDING,
                &mut eval_rng(opts.seed, tag),
            );
            Ok(PairSetData {
                name,
                description: format!(
                    "recordings ({what}; speakers held out: {}) against MNIST test images, {} \
                     of each recording's digit and as many of other digits, digits \
                     {classes:?}, evaluation seed {}",
                    set.unseen_speakers.join(", "),
                    crate::train::PAIRS_PER_RECORDING,
                    opts.seed
                ),
                images: set.images,
                pairs,
            })
        }
        PairSource::Test | PairSource::Unseen if is_omniglot(model) => {
            if *source == PairSource::Test {
                return Err(InferError::Invalid(
                    "test: Omniglot's evaluation set holds only characters never trained on; \
                     score it with --pairs unseen (or seed-test for held-out drawings of the \
                     training characters)"
                        .into(),
                ));
            }
            let set = omniglot_evaluation(model, opts)?;
            let classes: Vec<ClassId> = (0..set.class_names.len() as ClassId).collect();
            let pairs = protocol_pairs(&set.images, &classes, opts.seed, 2);
            Ok(PairSetData {
                name,
                description: format!(
                    "the chapter's pair protocol on the {} characters of Omniglot's evaluation \
                     set (never trained on), evaluation seed {}",
                    classes.len(),
                    opts.seed
                ),
                images: set.images,
                pairs,
            })
        }
        PairSource::Test | PairSource::Unseen => {
            let images = test_split(model, &name, opts)?;
            let classes = if *source == PairSource::Test {
                effective_classes(&model.meta.train.classes, images.num_classes)
            } else {
                unseen_classes(model, images.num_classes)
            };
            if classes.len() < 2 {
                return Err(InferError::Invalid(format!(
                    "{name}: {} class(es) {classes:?}; pairs need at least two",
                    classes.len()
                )));
            }
            let tag = if *source == PairSource::Test { 1 } else { 2 };
            let pairs = protocol_pairs(&images, &classes, opts.seed, tag);
            Ok(PairSetData {
                name,
                description: format!(
                    "the chapter's pair protocol on the official test split, classes {classes:?}, evaluation seed {}",
                    opts.seed
                ),
                images,
                pairs,
            })
        }
        PairSource::Folder(dir) => {
            let set = load_folder(dir, &model.image_prep(opts.invert), 2)?;
            let classes: Vec<ClassId> = (0..set.class_names.len() as ClassId).collect();
            let pairs = protocol_pairs(&set.images, &classes, opts.seed, 3);
            Ok(PairSetData {
                name,
                description: format!(
                    "the chapter's pair protocol on {} classes of {}, evaluation seed {}",
                    classes.len(),
                    dir.display(),
                    opts.seed
                ),
                images: set.images,
                pairs,
            })
        }
        PairSource::Csv(path) => {
            let mut file = read_pairs_csv(path)?;
            let prep = model.image_prep(opts.invert);
            let recording = |p: &PathBuf| super::embed::is_wav(p);
            if is_spoken(model) {
                // A recording and an image on each line, in either order: recordings left.
                for i in 0..file.labels.len() {
                    if recording(&file.right[i]) && !recording(&file.left[i]) {
                        std::mem::swap(&mut file.left[i], &mut file.right[i]);
                    }
                    if !recording(&file.left[i]) || recording(&file.right[i]) {
                        return Err(InferError::Invalid(format!(
                            "{}: pair {} ({}, {}): a pseudo-Siamese model pairs a recording \
                             (a .wav file) with an image",
                            path.display(),
                            i + 1,
                            file.left[i].display(),
                            file.right[i].display()
                        )));
                    }
                }
            } else if let Some(wav) = file.left.iter().chain(&file.right).find(|p| recording(p)) {
                return Err(InferError::Invalid(format!(
                    "{}: {} is a recording; only a pseudo-Siamese model (--arch pseudo) pairs \
                     recordings",
                    path.display(),
                    wav.display()
                )));
            }
            let mut paths: Vec<PathBuf> = file.left.iter().chain(&file.right).cloned().collect();
            paths.sort();
            paths.dedup();
            let mut pixels = Vec::with_capacity(paths.len() * prep.width * prep.height);
            for p in &paths {
                if recording(p) {
                    pixels.extend(super::embed::recording_image(p)?);
                } else {
                    pixels.extend(load_image(p, &prep)?);
                }
            }
            let index = |p: &PathBuf| paths.binary_search(p).unwrap_or(0) as u32;
            let pairs = PairSet {
                left: file.left.iter().map(index).collect(),
                right: file.right.iter().map(index).collect(),
                labels: file.labels.clone(),
            };
            let convention = if file.declared_different {
                "declared 1 = different, flipped to 1 = same"
            } else {
                "1 = same"
            };
            Ok(PairSetData {
                name,
                description: format!(
                    "{} pairs of {} inputs from {} (labels {convention})",
                    pairs.len(),
                    paths.len(),
                    path.display()
                ),
                images: ImageSet {
                    labels: vec![0; paths.len()],
                    images: pixels,
                    rows: prep.height,
                    cols: prep.width,
                    num_classes: 1,
                },
                pairs,
            })
        }
    }
}

fn is_spoken(model: &TrainedModel) -> bool {
    matches!(
        DatasetSpec::parse(&model.meta.train.dataset),
        Ok(DatasetSpec::SpokenMnist)
    )
}

/// The recordings and MNIST digits of a pseudo-Siamese run, FSDD from the folder
/// [`evaluation_data_dir`] chooses.
fn spoken_mnist(model: &TrainedModel, opts: &DataOptions) -> Result<AudioImageSet, InferError> {
    let dir = evaluation_data_dir(model, opts);
    Ok(load_spoken_mnist(dir.as_deref(), &opts.download)?.0)
}

fn is_omniglot(model: &TrainedModel) -> bool {
    matches!(
        DatasetSpec::parse(&model.meta.train.dataset),
        Ok(DatasetSpec::Omniglot)
    )
}

/// Omniglot's evaluation set at the model's input size.
fn omniglot_evaluation(
    model: &TrainedModel,
    opts: &DataOptions,
) -> Result<OmniglotData, InferError> {
    let explicit = opts.data_dir.clone().or(model.meta.train.data_dir.clone());
    let mut dir = resolve_named_dir(OMNIGLOT, explicit.as_deref());
    if explicit.is_none()
        && !dir.join(OmniglotSet::Evaluation.images_file()).is_file()
        && let Some(used) = &model.meta.data_dir_used
    {
        dir = used.clone();
    }
    Ok(load_omniglot(
        &dir,
        OmniglotSet::Evaluation,
        &model.image_prep(false),
    )?)
}

/// Images grouped by class for one-shot episodes.
#[derive(Debug, Clone)]
pub struct ClassPool {
    /// What the pool is.
    pub description: String,
    /// The images.
    pub images: ImageSet,
    /// Per class, the indices of its images.
    pub per_class: Vec<Vec<usize>>,
    /// The class names, in `per_class` order.
    pub class_names: Vec<String>,
    /// Cross-modal pools (the pseudo-Siamese network): per class, the candidates' indices,
    /// while `per_class` holds the queries'.
    pub candidates: Option<Vec<Vec<usize>>>,
    /// When episodes stay within groups (Omniglot's alphabets): per group, the positions of
    /// its classes in `per_class`.
    pub groups: Option<Vec<Vec<usize>>>,
}

/// The class pool `--one-shot-classes` names: `unseen` (test-split classes never trained on),
/// `seen` (the trained classes, test split), `all` (every class of the test split), or
/// `folder:DIR`.
pub fn class_pool(
    model: &TrainedModel,
    spec: &str,
    opts: &DataOptions,
) -> Result<ClassPool, InferError> {
    if let Some(dir) = spec.strip_prefix("folder:")
        && !is_spoken(model)
    {
        let set = load_folder(dir.as_ref(), &model.image_prep(opts.invert), 1)?;
        let classes: Vec<ClassId> = (0..set.class_names.len() as ClassId).collect();
        let per_class = to_usize(indices_by_class(&set.images.labels, &classes));
        return Ok(ClassPool {
            description: format!("the {} classes of {dir}", classes.len()),
            images: set.images,
            per_class,
            class_names: set.class_names,
            groups: None,
            candidates: None,
        });
    }
    if is_spoken(model) {
        let takes: &[Takes] = match spec {
            "unseen" => &[Takes::Unseen],
            "seen" => &[Takes::SeenTest],
            "all" => &[Takes::SeenTest, Takes::Unseen],
            other => {
                return Err(InferError::Invalid(format!(
                    "class pool {other:?} does not apply to spoken digits; expected unseen \
                     (recordings of the held-out speakers), seen (takes 0-4 of the training \
                     speakers) or all (both), each against MNIST test images"
                )));
            }
        };
        let set = spoken_mnist(model, opts)?;
        let classes = effective_classes(&model.meta.train.classes, 10);
        let mut queries = vec![Vec::new(); classes.len()];
        for &t in takes {
            for (q, more) in queries
                .iter_mut()
                .zip(set.recordings_by_class(t, &classes, None))
            {
                q.extend(more);
            }
        }
        let candidates = to_usize(set.digits_by_class(Digits::Test, &classes));
        return Ok(ClassPool {
            description: format!(
                "recordings of {} (held out: {}) as queries, MNIST test images as candidates",
                match spec {
                    "unseen" => "the held-out speakers",
                    "seen" => "the training speakers' takes 0-4",
                    _ => "every speaker's test takes",
                },
                set.unseen_speakers.join(", ")
            ),
            images: set.images,
            per_class: to_usize(queries),
            class_names: classes.iter().map(|c| c.to_string()).collect(),
            groups: None,
            candidates: Some(candidates),
        });
    }
    if is_omniglot(model) {
        let within = match spec {
            "unseen" | "all" => false,
            "alphabet" => true,
            other => {
                return Err(InferError::Invalid(format!(
                    "class pool {other:?} does not apply to Omniglot; expected unseen (or all: \
                     the evaluation set's 659 characters, never trained on), alphabet (each \
                     episode within one alphabet, as Lake et al. and Koch et al. test) or \
                     folder:DIR (your own images, one sub-folder per class)"
                )));
            }
        };
        let set = omniglot_evaluation(model, opts)?;
        let classes: Vec<ClassId> = (0..set.class_names.len() as ClassId).collect();
        let per_class = to_usize(indices_by_class(&set.images.labels, &classes));
        let groups = within.then(|| {
            let mut groups = vec![Vec::new(); set.alphabets.len()];
            for (class, &alphabet) in set.class_alphabet.iter().enumerate() {
                groups[alphabet].push(class);
            }
            groups
        });
        return Ok(ClassPool {
            description: format!(
                "the {} characters of Omniglot's evaluation set{}",
                classes.len(),
                if within {
                    ", episodes within one alphabet"
                } else {
                    ""
                }
            ),
            images: set.images,
            per_class,
            class_names: set.class_names,
            groups,
            candidates: None,
        });
    }
    let what = format!("one-shot on {spec:?} classes");
    let images = test_split(model, &what, opts)?;
    let classes = match spec {
        "unseen" => unseen_classes(model, images.num_classes),
        "seen" => effective_classes(&model.meta.train.classes, images.num_classes),
        "all" => (0..images.num_classes as ClassId).collect(),
        other => {
            return Err(InferError::Invalid(format!(
                "unknown class pool {other:?}; expected unseen, seen, all or folder:DIR"
            )));
        }
    };
    let names = &model.meta.class_names;
    let class_names = classes
        .iter()
        .map(|&c| {
            names
                .get(usize::from(c))
                .cloned()
                .unwrap_or_else(|| c.to_string())
        })
        .collect();
    let per_class = to_usize(indices_by_class(&images.labels, &classes));
    Ok(ClassPool {
        description: format!("{spec} classes {classes:?} of the official test split"),
        images,
        per_class,
        class_names,
        groups: None,
        candidates: None,
    })
}

fn to_usize(v: Vec<Vec<u32>>) -> Vec<Vec<usize>> {
    v.into_iter()
        .map(|c| c.into_iter().map(|i| i as usize).collect())
        .collect()
}

/// A generator for one of an evaluation's draws (`tag` tells them apart), separate from every
/// training stream.
pub(crate) fn eval_rng(seed: u64, tag: u64) -> ChaCha8Rng {
    stream_rng(seed, Stream::Other(0x4556_414c_0000 ^ tag))
}
