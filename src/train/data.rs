//! The data of a run: the training images, and the pairs or triplets that the chosen
//! architecture fits, validates and tests on, all built from the configuration alone.

use crate::data::{
    ClassId, DatasetSpec, DownloadOptions, ImagePrep, ImageSet, OMNIGLOT, OmniglotSet, Split,
    ensure_files, load_folder, load_omniglot, load_split, resolve_data_dir, resolve_named_dir,
};
use crate::rng::{Stream, stream_rng};
use crate::sampling::{
    ChapterSplit, PairSet, PkSampler, TripletSet, chapter_split, create_pairs, offline_triplets,
};

use super::{Arch, TrainConfig, TrainError};

/// The data a run trains and tests on, built from the configuration alone.
#[derive(Debug)]
pub struct ChapterData {
    /// The training split's images.
    pub images: ImageSet,
    /// Class names by label.
    pub class_names: Vec<String>,
    /// Pairs trained on.
    pub fit: PairSet,
    /// Pairs held out for validation (the unshuffled tail).
    pub validation: PairSet,
    /// The chapter's test pairs (from the training split's last 20% per class).
    pub test: PairSet,
    /// The 80/20 split per class the pairs were built from.
    pub split: ChapterSplit,
    /// Per class label, its group where the dataset has them (Omniglot: the alphabet, each
    /// rotation of an alphabet a group of its own); empty otherwise.
    pub class_groups: Vec<usize>,
}

/// Load the dataset and build the chapter's pairs for `config`.
pub fn chapter_data(
    config: &TrainConfig,
    download: &DownloadOptions,
) -> Result<ChapterData, TrainError> {
    let spec = DatasetSpec::parse(&config.dataset).map_err(TrainError::Config)?;
    if spec == DatasetSpec::SpokenMnist {
        return spoken_mnist_data(config, download);
    }
    let mut class_groups = Vec::new();
    let (images, class_names, name) = match spec {
        DatasetSpec::Idx(dataset) => {
            let dir = resolve_data_dir(dataset, config.data_dir.as_deref());
            ensure_files(dataset, &dir, download)?;
            let images = load_split(dataset, &dir, Split::Train)?;
            let names = dataset
                .class_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            (
                images,
                names,
                format!("{} in {}", dataset.name(), dir.display()),
            )
        }
        DatasetSpec::Folder(dir) => {
            let input = &config.model.input;
            let prep = ImagePrep::new(input.width, input.height);
            // The 80/20 split needs two images per class on each side.
            let set = load_folder(&dir, &prep, 10)?;
            (set.images, set.class_names, dir.display().to_string())
        }
        DatasetSpec::SpokenMnist => unreachable!("returned above"),
        DatasetSpec::Omniglot => {
            let input = &config.model.input;
            let dir = resolve_named_dir(OMNIGLOT, config.data_dir.as_deref());
            let prep = ImagePrep::new(input.width, input.height);
            let set = load_omniglot(&dir, OmniglotSet::Background, &prep)?;
            class_groups = set.class_alphabet.clone();
            (
                set.images,
                set.class_names,
                format!("omniglot background set in {}", dir.display()),
            )
        }
    };
    let originals = images.num_classes;
    let (images, class_names) = if config.rotate_classes {
        // Turn t of class c is class c + t * originals, in group group(c) + t * groups.
        let groups = class_groups.iter().max().map_or(0, |&g| g + 1);
        class_groups = (0..4)
            .flat_map(|turn| class_groups.iter().map(move |&g| g + turn * groups))
            .collect();
        crate::data::with_rotated_classes(&images, &class_names)
            .map_err(|e| TrainError::Config(format!("--rotate-classes: {name}: {e}")))?
    } else {
        (images, class_names)
    };
    let input = &config.model.input;
    if (images.rows, images.cols) != (input.height, input.width) {
        return Err(TrainError::Config(format!(
            "{name}: the images are {}x{}; the model takes {}x{}",
            images.rows, images.cols, input.height, input.width
        )));
    }
    if let Some(&bad) = config
        .classes
        .iter()
        .find(|&&c| usize::from(c) >= originals)
    {
        return Err(TrainError::Config(format!(
            "--classes: class {bad} does not exist; {name} has classes 0..{}",
            originals - 1
        )));
    }
    // An empty class list means every class of the dataset; with rotated classes, a class
    // list names original classes and brings their three rotations along.
    let classes: Vec<ClassId> = if config.classes.is_empty() {
        (0..images.num_classes as ClassId).collect()
    } else if config.rotate_classes {
        (0..4)
            .flat_map(|turn| {
                config
                    .classes
                    .iter()
                    .map(move |&c| c + (turn * originals) as ClassId)
            })
            .collect()
    } else {
        config.classes.clone()
    };
    let split = chapter_split(&images.labels, &classes, config.limit)?;
    let mut rng = stream_rng(config.seed, Stream::Pairs);
    let train = create_pairs(&split.train, &mut rng);
    let test = create_pairs(&split.test, &mut rng);
    let n_fit = (train.len() as f64 * (1.0 - config.validation_split)).floor() as usize;
    let (fit, validation) = train.split_at(n_fit);
    if fit.is_empty() {
        return Err(TrainError::Config(
            "no training pairs left after the validation hold-out".into(),
        ));
    }
    Ok(ChapterData {
        images,
        class_names,
        fit,
        validation,
        test,
        split,
        class_groups,
    })
}

/// Pairs per recording and epoch of the spoken-digit data: this many with an image of its
/// digit and as many with an image of another digit.
pub const PAIRS_PER_RECORDING: usize = 5;

/// The pseudo-Siamese network's data: FSDD recordings (left) against MNIST digits (right).
///
/// Speakers: the last two in name order (theo, yweweler) are held out entirely. Of the other
/// four, takes 10-49 are fitted, takes 5-9 validate, takes 0-4 (FSDD's own test split) are
/// left for `evaluate --pairs test`. Partners: MNIST training images 0-49,999 for fitting,
/// 50,000-59,999 for validation, the MNIST test split for testing. Each recording meets
/// [`PAIRS_PER_RECORDING`] images of its digit and as many of other digits (balanced). The
/// run's test pairs are the held-out speakers' recordings against MNIST test images: voices
/// and handwriting never seen in training. `--limit N` keeps at most N fitted recordings per
/// digit; `--validation-split 0` fits the validation takes too.
fn spoken_mnist_data(
    config: &TrainConfig,
    download: &DownloadOptions,
) -> Result<ChapterData, TrainError> {
    use crate::data::{Digits, Takes, cross_pairs, load_spoken_mnist};
    let (set, _) = load_spoken_mnist(config.data_dir.as_deref(), download)?;
    if let Some(&bad) = config.classes.iter().find(|&&c| c >= 10) {
        return Err(TrainError::Config(format!(
            "--classes: class {bad} does not exist; the digits are 0..9"
        )));
    }
    let classes: Vec<ClassId> = if config.classes.is_empty() {
        (0..10).collect()
    } else {
        config.classes.clone()
    };
    if classes.len() < 2 {
        return Err(TrainError::Config(
            "--classes: pairs need at least two digits".into(),
        ));
    }
    // Without a validation hold-out, takes 5-49 are fitted, `--limit` counting over all of them.
    let fitted = if config.validation_split == 0.0 {
        Takes::FitAndValidation
    } else {
        Takes::Fit
    };
    let fit_takes = set.recordings_by_class(fitted, &classes, config.limit);
    let validation_takes = set.recordings_by_class(Takes::Validation, &classes, None);
    let test_takes = set.recordings_by_class(Takes::Unseen, &classes, None);
    for (what, takes) in [("fitted", &fit_takes), ("held-out speakers'", &test_takes)] {
        if let Some(i) = takes.iter().position(Vec::is_empty) {
            return Err(TrainError::Config(format!(
                "no {what} recordings of digit {}",
                classes[i]
            )));
        }
    }
    let mut rng = stream_rng(config.seed, Stream::Pairs);
    let n = PAIRS_PER_RECORDING;
    let fit = cross_pairs(
        &fit_takes,
        &set.digits_by_class(Digits::Fit, &classes),
        n,
        &mut rng,
    );
    let validation = if config.validation_split == 0.0 {
        PairSet::default()
    } else {
        let partners = set.digits_by_class(Digits::Validation, &classes);
        cross_pairs(&validation_takes, &partners, n, &mut rng)
    };
    let test = cross_pairs(
        &test_takes,
        &set.digits_by_class(Digits::Test, &classes),
        n,
        &mut rng,
    );
    let class_names = (0..10).map(|d: u8| d.to_string()).collect();
    Ok(ChapterData {
        split: ChapterSplit {
            classes,
            per_class: fit_takes.iter().map(Vec::len).min().unwrap_or(0),
            train: fit_takes,
            test: test_takes,
        },
        images: set.images,
        class_names,
        fit,
        validation,
        test,
        class_groups: Vec::new(),
    })
}

/// Stream tag of the validation pairs and triplets of triplet runs.
const TRIPLET_VALIDATION: u64 = 0x5452_4950_5641_4c00;

/// How a run forms its training batches.
#[derive(Debug, Clone)]
pub enum FitPlan {
    /// Pairs (the Siamese network), shuffled each epoch.
    Pairs(PairSet),
    /// Offline triplets over these per-class image lists, drawn anew each epoch from the
    /// epoch's stream.
    Triplets {
        /// Per class, the images triplets are drawn from.
        per_class: Vec<Vec<u32>>,
        /// The class labels, in the order of `per_class`.
        classes: Vec<ClassId>,
    },
    /// Class-balanced P x K batches for online mining.
    Online(PkSampler),
}

impl FitPlan {
    /// What one training item is, for the log.
    pub fn item_name(&self) -> &'static str {
        match self {
            FitPlan::Pairs(_) => "pairs",
            FitPlan::Triplets { .. } => "triplets",
            FitPlan::Online(_) => "images",
        }
    }
}

/// Everything a run trains, validates and tests on.
#[derive(Debug)]
pub struct RunData {
    /// The training split's images.
    pub images: ImageSet,
    /// Class names by label.
    pub class_names: Vec<String>,
    /// How training batches are formed.
    pub fit: FitPlan,
    /// Validation pairs (monitoring each epoch, and threshold calibration).
    pub validation: PairSet,
    /// Validation triplets (triplet runs: the validation loss).
    pub validation_triplets: Option<TripletSet>,
    /// The chapter's test pairs: the same for every architecture, so runs compare.
    pub test: PairSet,
    /// Items (pairs, triplets or images) one epoch trains on.
    pub fit_items: usize,
    /// The classes trained on.
    pub classes: Vec<ClassId>,
}

/// The data of the run `config` describes.
///
/// The Siamese and 2-channel networks follow the chapter: its fit and validation pairs are the first 75%
/// and the last 25% of the chapter's training pairs. A triplet network trains on images rather
/// than pairs, so it holds out images instead: the first 75% of each class's training part
/// (the chapter's 80%) is fitted, the last 25% gives the validation pairs (by the chapter's
/// pair protocol) and validation triplets. Test pairs are the chapter's in both cases.
pub fn run_data(config: &TrainConfig, download: &DownloadOptions) -> Result<RunData, TrainError> {
    let chapter = chapter_data(config, download)?;
    if config.arch != Arch::Triplet {
        let fit_items = chapter.fit.len();
        return Ok(RunData {
            classes: chapter.split.classes.clone(),
            images: chapter.images,
            class_names: chapter.class_names,
            fit: FitPlan::Pairs(chapter.fit),
            validation: chapter.validation,
            validation_triplets: None,
            test: chapter.test,
            fit_items,
        });
    }
    let split = &chapter.split;
    let (fit, held): (Vec<Vec<u32>>, Vec<Vec<u32>>) = split
        .train
        .iter()
        .map(|images| {
            let n_fit = (images.len() as f64 * (1.0 - config.validation_split)).floor() as usize;
            (images[..n_fit].to_vec(), images[n_fit..].to_vec())
        })
        .unzip();
    let mut rng = stream_rng(config.seed, Stream::Other(TRIPLET_VALIDATION));
    let (validation, validation_triplets) = if held.iter().all(|h| h.len() >= 2) {
        let pairs = create_pairs(&held, &mut rng);
        let triplets = offline_triplets(&held, &split.classes, &mut rng)?;
        (pairs, Some(triplets))
    } else if config.validation_split > 0.0 {
        return Err(TrainError::Config(format!(
            "the validation hold-out leaves fewer than two images in a class ({} per class in \
             training); use more images (--limit) or --validation-split 0",
            split.train[0].len()
        )));
    } else {
        (PairSet::default(), None)
    };
    let (plan, fit_items) = match config.mining {
        None => {
            let items = fit.iter().map(Vec::len).sum();
            // Check now that every class can supply a positive.
            crate::sampling::check_triplet_classes(&fit, &split.classes)?;
            (
                FitPlan::Triplets {
                    per_class: fit,
                    classes: split.classes.clone(),
                },
                items,
            )
        }
        Some(_) => {
            let smallest = fit.iter().map(Vec::len).min().unwrap_or(0);
            if config.images_per_class > smallest {
                tracing::warn!(
                    "--images-per-class {} exceeds the {smallest} training images of the \
                     smallest class: such classes repeat images within a batch (drawn with \
                     replacement)",
                    config.images_per_class
                );
            }
            let mut sampler = PkSampler::new(
                fit,
                &split.classes,
                config.classes_per_batch,
                config.images_per_class,
            )?;
            if config.alphabet_batches {
                let groups = split
                    .classes
                    .iter()
                    .map(|&c| chapter.class_groups.get(usize::from(c)).copied())
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| {
                        TrainError::Config(
                            "--alphabet-batches: this dataset has no alphabets".into(),
                        )
                    })?;
                sampler = sampler.with_groups(groups)?;
            }
            let items = sampler.batches_per_epoch() * sampler.batch_size();
            (FitPlan::Online(sampler), items)
        }
    };
    Ok(RunData {
        classes: split.classes.clone(),
        images: chapter.images,
        class_names: chapter.class_names,
        fit: plan,
        validation,
        validation_triplets,
        test: chapter.test,
        fit_items,
    })
}
