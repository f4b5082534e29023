//! `siamese index`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use siamese::index::EmbeddingIndex;
use siamese::infer::embed_sources;

use super::common::{DataArgs, ModelArgs};

/// Flags of `siamese index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// The gallery to index, in the forms `embed` takes: image files, folders (walked
    /// recursively; an image's label is its folder), IDX image files, dataset splits such as
    /// fashion-mnist:test or omniglot:evaluation, `SOURCE#N`; recordings too for a
    /// pseudo-Siamese model.
    #[arg(required = true, value_name = "INPUTS")]
    pub inputs: Vec<String>,
    /// The index file to write (atomically).
    #[arg(short, long, default_value = "index.safetensors")]
    pub output: PathBuf,
    /// Images per batch.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
}

pub fn run(args: IndexArgs) -> anyhow::Result<ExitCode> {
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if args.output.as_os_str() == "-" {
        anyhow::bail!("-o -: an index is a binary file; name the file to write");
    }
    super::embed::check_output_folder(&args.output)?;
    // Only an index is ever replaced: never a model's weights, an input, or another file;
    // and nothing but a regular file is opened to find out (a FIFO would block).
    if let Ok(meta) = std::fs::symlink_metadata(&args.output)
        && !meta.is_file()
    {
        anyhow::bail!(
            "-o {}: not a regular file; name a file for the index",
            args.output.display()
        );
    }
    if args.output.exists() && EmbeddingIndex::read(&args.output).is_err() {
        anyhow::bail!(
            "-o {}: the file exists and is not a siamese index; it is left alone (remove it, or \
             name another file)",
            args.output.display()
        );
    }
    let model = args.model.open()?;
    let (prep, data) = args.data.for_inputs(&model, args.model.invert());
    let started = Instant::now();
    let embedded = embed_sources(&model, &args.inputs, &prep, &data, args.batch_size)?;
    let index = EmbeddingIndex::build(&model, embedded)?;
    tracing::info!(
        "embedded {} inputs in {:.2} s",
        index.len(),
        started.elapsed().as_secs_f64()
    );
    index
        .write(&args.output)
        .with_context(|| format!("writing the index {}", args.output.display()))?;
    println!(
        "{} embedding{} of {} values indexed in {} (model {})",
        index.len(),
        if index.len() == 1 { "" } else { "s" },
        index.dim(),
        args.output.display(),
        index.model().run.display()
    );
    Ok(ExitCode::SUCCESS)
}
