//! `siamese train`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use siamese::backend::{BackendKind, init_threads};
use siamese::data::DownloadOptions;
use siamese::loss::triplet::Mining;
use siamese::model::EncoderKind;
use siamese::train::{Arch, RunDir, TrainConfig, TrainOptions, read_json, train};

use super::logging;

/// Flags of `siamese train`. Each overrides one setting of the chapter's experiment.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Architecture: siamese (pairs, contrastive loss: the chapter), triplet (anchor,
    /// positive, negative through one shared encoder, triplet loss; L2-normalised embeddings,
    /// margin 0.2 unless --margin), two-channel (both images of a pair as two channels of
    /// one CNN, a same/different output, binary cross-entropy; no embeddings) or pseudo (a
    /// spoken digit and a handwritten one through two unshared encoders, contrastive loss;
    /// dataset fsdd-mnist) [default: siamese].
    #[arg(long)]
    pub arch: Option<String>,
    /// Triplet network: offline (triplets drawn from class lists, --batch-size triplets a
    /// step), or online mining from P x K batches: batch-all, batch-hard, semi-hard; or nca
    /// (no triplets: a softmax over every distance of the P x K batch, see --temperature)
    /// [default: offline].
    #[arg(long)]
    pub mining: Option<String>,
    /// Encoder under the head: chapter-cnn (the chapter's), deep-cnn (three blocks of conv
    /// 64@3x3, ReLU, max-pool, batch norm; a dense layer to the embedding), mlp (dense 512,
    /// ReLU, dense) or lstm (128 units over the input's columns, a dense layer)
    /// [default: chapter-cnn].
    #[arg(long)]
    pub encoder: Option<String>,
    /// Pseudo-Siamese network: the encoder of the recordings' branch (any of --encoder's),
    /// while --encoder sets the images' branch [default: lstm].
    #[arg(long)]
    pub audio_encoder: Option<String>,
    /// Scale embeddings to unit length (true or false) [default: false; true for triplet].
    #[arg(long)]
    pub normalize: Option<bool>,
    /// L2 penalty on every kernel, `l2 * sum(w^2)` added to the loss [default: 0.01, the
    /// chapter's].
    #[arg(long)]
    pub kernel_l2: Option<f32>,
    /// L1 penalty on every bias, `l1 * sum(|b|)` added to the loss [default: 0.01].
    #[arg(long)]
    pub bias_l1: Option<f32>,
    /// Online mining: classes per batch (P) [default: 6].
    #[arg(long)]
    pub classes_per_batch: Option<usize>,
    /// Online mining: images per class in a batch (K) [default: 16].
    #[arg(long)]
    pub images_per_class: Option<usize>,
    /// Passes over the training pairs [default: 13].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pairs per training step [default: 128].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// RMSprop learning rate [default: 0.001; 0.0001 for batch-hard mining].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// The loss's margin [default: 1 (contrastive); 0.2 (triplet)].
    #[arg(long, allow_negative_numbers = true)]
    pub margin: Option<f32>,
    /// NCA (--mining nca): temperature of the softmax over -d^2 [default: 0.1].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Add every training class three more times, rotated by 90, 180 and 270 degrees, as new
    /// classes (how Omniglot is usually trained; square images only).
    #[arg(long)]
    pub rotate_classes: bool,
    /// Omniglot with online mining: draw each batch's classes from one alphabet (each rotation
    /// of an alphabet counting as its own), so negatives look alike as in a within-alphabet
    /// one-shot test; a batch larger than its alphabet is filled from others.
    #[arg(long)]
    pub alphabet_batches: bool,
    /// Distort each training image at random every time it is drawn, as Koch et al. (2015)
    /// did on Omniglot: rotation up to 10 degrees, shear up to 0.3, scale 0.8-1.2, shift up to
    /// 2 pixels in 105, each applied with probability 1/2.
    #[arg(long)]
    pub distort: bool,
    /// Distance below which a pair is called "same" [default: 0.5]. Used by the chapter's
    /// encoder and the 2-channel network; triplet runs and other encoders calibrate it on the
    /// validation pairs at the end of training.
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    /// Seed of every random choice (pairs, initial weights, shuffles) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Classes to train on, comma-separated label numbers (for a folder: the sub-folders in name
    /// order, from 0) [default: 0,1,2,4,5,9; a folder: all].
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<siamese::data::ClassId>>,
    /// Dataset: fashion-mnist, mnist, omniglot, fsdd-mnist (spoken digits against MNIST
    /// digits; --data-dir then names the FSDD folder), or folder:PATH (one sub-folder of images per class,
    /// brought to 28x28 grey; all its classes unless --classes) [default: fashion-mnist].
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder holding the dataset's files (e.g. ../shared/data/fashion-mnist). Without it:
    /// $SIAMESE_DATA/<dataset>, else the user cache folder, downloading missing files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Share of the training data held out for validation, from the end, unshuffled
    /// [default: 0.25, the chapter's]. 0 trains on all of it (no validation figures, and no
    /// threshold calibration for the runs that need it).
    #[arg(long)]
    pub validation_split: Option<f64>,
    /// Side of the square input images, in pixels: Omniglot and image folders are resized to
    /// it (the IDX datasets are 28x28 and refuse another size) [default: 28].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Use at most N images per class of the training split (quick runs; protocol unchanged).
    #[arg(long)]
    pub limit: Option<usize>,
    /// The run folder [default: runs/<dataset>-seed<seed>, numbered if it exists].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint, with its saved settings.
    #[arg(long, value_name = "RUN", conflicts_with_all = [
        "arch", "mining", "encoder", "audio_encoder", "normalize", "kernel_l2", "bias_l1", "classes_per_batch", "images_per_class",
        "epochs", "batch_size", "lr", "margin", "temperature", "rotate_classes", "alphabet_batches", "distort", "threshold", "seed", "validation_split", "classes", "dataset", "limit", "image_size", "out", "overwrite"
    ])]
    pub resume: Option<PathBuf>,
    /// Replace the run already in --out instead of refusing.
    #[arg(long)]
    pub overwrite: bool,
    /// Never download dataset files; fail if they are missing.
    #[arg(long)]
    pub no_download: bool,
    /// Compute backend: flex (CPU), cuda or wgpu (the last two need those cargo features).
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// CPU threads for the compute pool [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
}

impl TrainArgs {
    fn config(&self) -> anyhow::Result<TrainConfig> {
        let arch = match &self.arch {
            Some(a) => Arch::parse(a).map_err(|e| anyhow::anyhow!("--arch: {e}"))?,
            None => Arch::Siamese,
        };
        let mining = match self.mining.as_deref() {
            None | Some("offline") => None,
            Some(m) => {
                Some(Mining::parse(m).map_err(|e| anyhow::anyhow!("--mining: {e} (or offline)"))?)
            }
        };
        if arch != Arch::Triplet
            && (self.mining.is_some()
                || self.classes_per_batch.is_some()
                || self.images_per_class.is_some())
        {
            bail!("--mining, --classes-per-batch and --images-per-class apply to --arch triplet");
        }
        let mut c = match arch {
            Arch::Siamese => TrainConfig::default(),
            Arch::Triplet => TrainConfig::triplet(mining),
            Arch::TwoChannel => TrainConfig::two_channel(),
            Arch::Pseudo => {
                let audio = match &self.audio_encoder {
                    Some(v) => EncoderKind::parse(v)
                        .map_err(|e| anyhow::anyhow!("--audio-encoder: {e}"))?,
                    None => TrainConfig::PSEUDO_AUDIO_ENCODER,
                };
                TrainConfig::pseudo(audio)
            }
        };
        if arch != Arch::Pseudo && self.audio_encoder.is_some() {
            bail!("--audio-encoder applies to --arch pseudo (its recordings' branch)");
        }
        if let Some(v) = self.classes_per_batch {
            c.classes_per_batch = v;
        }
        if let Some(v) = &self.encoder {
            c.model.encoder =
                EncoderKind::parse(v).map_err(|e| anyhow::anyhow!("--encoder: {e}"))?;
        }
        if let Some(v) = self.normalize {
            c.model.normalize = v;
        }
        if let Some(v) = self.kernel_l2 {
            c.model.kernel_l2 = v;
        }
        if let Some(v) = self.bias_l1 {
            c.model.bias_l1 = v;
        }
        if let Some(v) = self.images_per_class {
            c.images_per_class = v;
        }
        if let Some(v) = self.epochs {
            c.epochs = v;
        }
        if let Some(v) = self.batch_size {
            c.batch_size = v;
        }
        if let Some(v) = self.lr {
            c.learning_rate = v;
        }
        if let Some(v) = self.margin {
            c.margin = v;
        }
        if let Some(v) = self.threshold {
            c.threshold = v;
        }
        if let Some(v) = self.temperature {
            if c.mining != Some(Mining::Nca) {
                bail!("--temperature applies to --mining nca");
            }
            c.temperature = v;
        }
        c.rotate_classes = self.rotate_classes;
        c.alphabet_batches = self.alphabet_batches;
        c.distort = self.distort;
        if let Some(v) = self.seed {
            c.seed = v;
        }
        if let Some(v) = &self.classes {
            c.classes = v.clone();
        }
        if let Some(v) = &self.dataset {
            c.dataset = v.clone();
            // The chapter's class list is Fashion-MNIST's; a folder trains on all its classes
            // unless told otherwise.
            if (v.starts_with("folder:") || v == "omniglot" || v == "fsdd-mnist")
                && self.classes.is_none()
            {
                c.classes.clear();
            }
        }
        if let Some(side) = self.image_size {
            c.model.input.height = side;
            c.model.input.width = side;
        }
        c.data_dir = self.data_dir.clone();
        c.limit = self.limit;
        if let Some(v) = self.validation_split {
            c.validation_split = v;
        }
        Ok(c)
    }
}

/// A fresh default run folder, numbered when taken: `runs/<dataset>-seed<seed>` for the
/// chapter's Siamese network, `runs/<dataset>-triplet-<mining>-seed<seed>` for a triplet
/// network; an image folder is named by its last component.
fn default_out(config: &TrainConfig) -> PathBuf {
    let dataset = match config.dataset.strip_prefix("folder:") {
        Some(path) => Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "folder".into()),
        None => config.dataset.clone(),
    };
    let arch = match config.arch {
        Arch::Siamese => String::new(),
        Arch::Triplet => format!("-triplet-{}", config.mining.map_or("offline", |m| m.name())),
        Arch::TwoChannel => "-two-channel".into(),
        Arch::Pseudo => "-pseudo".into(),
    };
    let name: String = format!("{dataset}{arch}-seed{}", config.seed)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = PathBuf::from("runs").join(name);
    if !base.exists() {
        return base;
    }
    (2..)
        .map(|i| PathBuf::from(format!("{}-{i}", base.display())))
        .find(|p| !p.exists())
        .unwrap_or(base)
}

fn holds_a_run(dir: &Path) -> bool {
    RunDir::new(dir).config_path().exists()
}

pub fn run(args: TrainArgs, verbose: u8, quiet: bool) -> anyhow::Result<ExitCode> {
    let backend = BackendKind::parse(&args.backend).map_err(anyhow::Error::msg)?;
    init_threads(args.threads).map_err(anyhow::Error::msg)?;
    let device = backend.device().map_err(anyhow::Error::msg)?;
    let mut replaced: Option<PathBuf> = None;
    let (config, out, resume) = match &args.resume {
        Some(run) => {
            let path = RunDir::new(run).config_path();
            if !run.exists() {
                bail!("cannot resume {}: it does not exist", run.display());
            }
            if !path.exists() {
                bail!(
                    "cannot resume {}: it holds no config.json, so it is not a run folder",
                    run.display()
                );
            }
            let mut config: TrainConfig =
                read_json(&path).with_context(|| format!("reading {}", path.display()))?;
            if args.data_dir.is_some() {
                config.data_dir = args.data_dir.clone();
            }
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("{}: invalid setting: {e}", path.display()))?;
            (config, run.clone(), true)
        }
        None => {
            let mut config = args.config()?;
            // An image folder is recorded by its absolute path, so that the run can be
            // evaluated and resumed from any working directory.
            if let Ok(siamese::data::DatasetSpec::Folder(dir)) =
                siamese::data::DatasetSpec::parse(&config.dataset)
                && let Ok(absolute) = std::fs::canonicalize(&dir)
                && let Some(text) = absolute.to_str()
            {
                config.dataset = format!("folder:{text}");
            }
            // Every setting is checked before anything on disk is touched.
            config
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
            let out = args.out.clone().unwrap_or_else(|| default_out(&config));
            if holds_a_run(&out) && !args.overwrite {
                bail!(
                    "{} already holds a run; pass --resume {} to continue it, --overwrite to replace it, or another --out",
                    out.display(),
                    out.display()
                );
            }
            if args.overwrite && out.exists() {
                // Only a run folder is ever deleted: never a folder of the user's other files.
                if !holds_a_run(&out) {
                    bail!(
                        "--overwrite: {} is not a run folder (it holds no config.json), so it is \
                         left alone; choose another --out",
                        out.display()
                    );
                }
                // Set aside, not deleted, until the new run has started for real: a run that
                // fails on its data (a class that does not exist, images of another size) gives
                // the old one back.
                let aside = aside_path(&out);
                std::fs::rename(&out, &aside)
                    .with_context(|| format!("moving the old run {} aside", out.display()))?;
                replaced = Some(aside);
            }
            (config, out, false)
        }
    };
    let created = !out.exists();
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating run folder {}", out.display()))?;
    logging::init_with_file(verbose, quiet, &out.join("train.log"))?;
    tracing::info!("run folder {}", out.display());
    let options = TrainOptions {
        out: out.clone(),
        resume,
        progress: !quiet,
        download: DownloadOptions {
            allow_download: !args.no_download,
            ..DownloadOptions::default()
        },
        device,
        stop_after: None,
    };
    on_interrupt(out.clone(), replaced.clone(), created);
    let outcome = match train(&config, &options) {
        Ok(outcome) => outcome,
        Err(e) => {
            // A folder this call made that never got as far as a run (bad data, say) is
            // removed, so failed attempts leave no numbered leftovers.
            if created && !holds_a_run(&out) {
                let _ = std::fs::remove_dir_all(&out);
            }
            if let Some(aside) = &replaced {
                // No epoch finished: the old run comes back; otherwise the new run's
                // checkpoints stay (it can be resumed) and the old run is dropped.
                if !out.join("checkpoints").is_dir() {
                    let _ = std::fs::remove_dir_all(&out);
                    if std::fs::rename(aside, &out).is_ok() {
                        return Err(anyhow::anyhow!(
                            "{e}\n(the old run in {} is left as it was)",
                            out.display()
                        ));
                    }
                } else {
                    let _ = std::fs::remove_dir_all(aside);
                }
            }
            return Err(e.into());
        }
    };
    if let Some(aside) = &replaced {
        let _ = std::fs::remove_dir_all(aside);
    }
    if let Some(acc) = outcome.metrics.test_accuracy {
        println!("Accuracy on test set: {:.2}%", acc * 100.0);
    }
    println!("Run folder: {}", outcome.run.root().display());
    Ok(ExitCode::SUCCESS)
}

/// Where `--overwrite` sets an old run aside while the new one starts: a hidden sibling.
fn aside_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    out.with_file_name(format!(".{name}.replaced-{}", std::process::id()))
}

/// Ctrl-C (or SIGTERM) during training: say what is kept and how to go on, tidy up as a
/// failed run does, and exit with status 130. Checkpoints are written atomically, so the last
/// one stands whatever moment the signal comes.
fn on_interrupt(out: PathBuf, replaced: Option<PathBuf>, created: bool) {
    let handler = move || {
        let resumable = out.join("checkpoints").join("latest").is_file();
        if resumable {
            if let Some(aside) = &replaced {
                let _ = std::fs::remove_dir_all(aside);
            }
            eprintln!(
                "\ninterrupted; the run keeps its last finished epoch: continue it with \
                 `siamese train --resume {}`",
                out.display()
            );
        } else {
            if created || replaced.is_some() {
                let _ = std::fs::remove_dir_all(&out);
            }
            match &replaced {
                Some(aside) if std::fs::rename(aside, &out).is_ok() => eprintln!(
                    "\ninterrupted before the first epoch ended; the old run in {} is left as \
                     it was",
                    out.display()
                ),
                _ => eprintln!("\ninterrupted before the first epoch ended; nothing was kept"),
            }
        }
        std::process::exit(130);
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        tracing::warn!("no Ctrl-C handler ({e}); an interrupted run still resumes");
    }
}
