//! `siamese embed`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use siamese::infer::{EmbedFormat, Embedded, embed_sources, encode_embeddings, rows_file};
use siamese::io::write_atomic;

use super::common::{DataArgs, ModelArgs};

/// Flags of `siamese embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// What to embed: image files, folders of images (walked recursively), IDX image files, or
    /// dataset splits such as fashion-mnist:test; `SOURCE#N` picks one image of a set. A
    /// pseudo-Siamese model also takes recordings (8 kHz WAV files, or folders of them): they
    /// go through its recordings' branch into the same space and come first in the output.
    #[arg(required = true, value_name = "INPUTS")]
    pub inputs: Vec<String>,
    /// Output file; `-` writes CSV or JSON lines to stdout.
    #[arg(short, long, default_value = "embeddings.npy")]
    pub output: PathBuf,
    /// npy (float32 rows x dim, with a .rows.tsv naming each row's source), csv or jsonl
    /// [default: from the output's extension: .npy, .csv or .jsonl].
    #[arg(long)]
    pub format: Option<String>,
    /// Images per batch.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let to_stdout = args.output.as_os_str() == "-";
    let implied = EmbedFormat::from_path(&args.output);
    let format = match &args.format {
        Some(f) => {
            let format = EmbedFormat::parse(f).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
            if implied.is_some_and(|i| i != format) {
                anyhow::bail!(
                    "--format {f} does not match the output's extension ({}); change one of them",
                    args.output.display()
                );
            }
            format
        }
        None if to_stdout => EmbedFormat::Csv,
        None => implied.ok_or_else(|| {
            anyhow::anyhow!(
                "cannot tell the format from {}: name it .npy, .csv or .jsonl, or pass --format",
                args.output.display()
            )
        })?,
    };
    if !to_stdout {
        check_output_folder(&args.output)?;
    }
    if to_stdout && format == EmbedFormat::Npy {
        anyhow::bail!(
            "--output -: npy is binary and goes to a file; use --format csv or jsonl for stdout"
        );
    }
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let model = args.model.open()?;
    let (prep, data) = args.data.for_inputs(&model, args.model.invert());
    let started = Instant::now();
    let embedded = embed_sources(&model, &args.inputs, &prep, &data, args.batch_size)?;
    let seconds = started.elapsed().as_secs_f64();
    if embedded.skipped.hidden + embedded.skipped.not_images > 0 {
        tracing::info!(
            "skipped {} hidden and {} non-image entries",
            embedded.skipped.hidden,
            embedded.skipped.not_images
        );
    }
    let count = embedded.len();
    let what = if model.net.is_pseudo() {
        format!(
            "{} recordings and {} images",
            embedded.recordings, embedded.images
        )
    } else {
        format!("{count} images")
    };
    tracing::info!(
        "embedded {what} in {seconds:.2} s ({:.0} per second)",
        count as f64 / seconds.max(1e-9)
    );
    let Embedded {
        vectors: embeddings,
        sources,
        labels,
        ..
    } = embedded;
    let dim = model.embedding_dim();
    let (bytes, rows) = encode_embeddings(format, &embeddings, dim, &sources, &labels)
        .map_err(anyhow::Error::msg)?;
    if to_stdout {
        use std::io::Write;
        std::io::stdout().write_all(&bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    write_atomic(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let mut written = args.output.display().to_string();
    if let Some(rows) = rows {
        let path = rows_file(&args.output);
        write_atomic(&path, &rows).with_context(|| format!("writing {}", path.display()))?;
        written = format!("{written} and {}", path.display());
    }
    println!("{count} embeddings of {dim} values written to {written}");
    Ok(ExitCode::SUCCESS)
}

/// Find out before the work, not after, whether `output` can be written: it names a file in a
/// folder that exists.
pub fn check_output_folder(output: &std::path::Path) -> anyhow::Result<()> {
    if output.is_dir() {
        anyhow::bail!("-o {}: a folder; name the output file", output.display());
    }
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        anyhow::bail!(
            "-o {}: the folder {} does not exist",
            output.display(),
            parent.display()
        );
    }
    Ok(())
}
