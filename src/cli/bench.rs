//! `siamese bench`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use siamese::backend::{BackendKind, init_threads};
use siamese::bench::{BenchConfig, run_bench};
use siamese::data::DownloadOptions;
use siamese::train::TrainConfig;

/// Flags of `siamese bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Timed training steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Pairs per training step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Images per embedding batch.
    #[arg(long, default_value_t = 1024)]
    pub embed_batch: usize,
    /// Embedding batches timed.
    #[arg(long, default_value_t = 10)]
    pub embed_batches: usize,
    /// Peak FP32 GFLOP/s of this CPU, for the share-of-peak figure [default: estimated from
    /// the cores, SIMD width and clock the CPU reports].
    #[arg(long)]
    pub peak_gflops: Option<f64>,
    /// Folder holding the Fashion-MNIST files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Compute backend: flex (CPU), cuda or wgpu.
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// CPU threads for the compute pool [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let backend = BackendKind::parse(&args.backend).map_err(anyhow::Error::msg)?;
    init_threads(args.threads).map_err(anyhow::Error::msg)?;
    let device = backend.device().map_err(anyhow::Error::msg)?;
    let (peak_gflops, peak_source) = match args.peak_gflops {
        Some(p) if p > 0.0 => (p, "given".to_string()),
        Some(p) => anyhow::bail!("--peak-gflops must be positive, got {p}"),
        None => siamese::bench::estimated_peak_gflops().ok_or_else(|| {
            anyhow::anyhow!("cannot estimate this CPU's peak rate; pass --peak-gflops")
        })?,
    };
    let train = TrainConfig {
        data_dir: args.data_dir.clone(),
        batch_size: args.batch_size,
        ..TrainConfig::default()
    };
    train.validate().map_err(anyhow::Error::msg)?;
    let config = BenchConfig {
        train,
        steps: args.steps,
        warmup: args.warmup,
        embed_batch: args.embed_batch.max(1),
        embed_batches: args.embed_batches,
        peak_gflops,
    };
    let report = run_bench(&config, &device, &DownloadOptions::default())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("backend                 {}", args.backend);
    println!(
        "training step           {:.1} ms median, {:.1} ms best ({} pairs)",
        report.step_ms_median, report.step_ms_min, report.batch_size
    );
    println!(
        "  of which             forward {:.1} ms, backward {:.1} ms, update {:.1} ms (medians)",
        report.forward_ms, report.backward_ms, report.update_ms
    );
    println!(
        "data path per step      {:.2} ms ({:.1}% of a step)",
        report.batch_build_ms,
        100.0 * report.batch_build_ms / report.step_ms_median
    );
    println!(
        "training throughput     {:.0} pairs/s",
        report.pairs_per_second
    );
    println!(
        "compute                 {:.2} GFLOP/step, {:.1} GFLOP/s, {:.1}% of {:.0} GFLOP/s peak ({peak_source})",
        report.gflop_per_step,
        report.gflops,
        100.0 * report.share_of_peak,
        peak_gflops
    );
    println!(
        "embedding throughput    {:.0} images/s (batch {})",
        report.embeddings_per_second, config.embed_batch
    );
    if let Some(rss) = report.peak_rss_mib {
        println!("peak memory             {rss:.0} MiB");
    }
    Ok(ExitCode::SUCCESS)
}
