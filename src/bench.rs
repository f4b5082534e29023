//! `siamese bench`: training-step and embedding throughput of the chapter's model.
//!
//! Figures are wall-clock timings of this process on this machine: run nothing heavy beside it.

use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use serde::Serialize;

use crate::data::DownloadOptions;
use crate::loss::contrastive_loss;
use crate::model::{ChapterCnnConfig, SiameseNet};
use crate::rng::{Stream, stream_rng};
use crate::train::{PairBatcher, TrainConfig, TrainError, chapter_data, image_tensor};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The training setup (data, model, batch size).
    pub train: TrainConfig,
    /// Timed training steps.
    pub steps: usize,
    /// Untimed steps first (page faults, pool start-up).
    pub warmup: usize,
    /// Images per embedding batch.
    pub embed_batch: usize,
    /// Embedding batches timed.
    pub embed_batches: usize,
    /// The CPU's peak FP32 rate in GFLOP/s, for the share-of-peak figure.
    pub peak_gflops: f64,
}

/// The figures `siamese bench` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Pairs per training step.
    pub batch_size: usize,
    /// Median milliseconds per training step (forward, backward, update).
    pub step_ms_median: f64,
    /// Fastest step in milliseconds.
    pub step_ms_min: f64,
    /// Milliseconds to build one batch's input from the pair indices (the data path).
    pub batch_build_ms: f64,
    /// Median milliseconds of a step's forward pass (encoder, distance, loss, penalty).
    pub forward_ms: f64,
    /// Median milliseconds of a step's backward pass.
    pub backward_ms: f64,
    /// Median milliseconds of a step's optimiser update.
    pub update_ms: f64,
    /// Training pairs per second at the median step time.
    pub pairs_per_second: f64,
    /// Floating-point operations of one step (the matrix products of forward and backward).
    pub gflop_per_step: f64,
    /// Achieved GFLOP/s at the median step time.
    pub gflops: f64,
    /// Share of the CPU's peak FP32 rate.
    pub share_of_peak: f64,
    /// Embeddings per second, inference without autodiff.
    pub embeddings_per_second: f64,
    /// Peak resident memory of the process in MiB.
    pub peak_rss_mib: Option<f64>,
}

/// Multiply-adds x 2 of one training step of the chapter's CNN on `batch_size` pairs: every
/// convolution and the dense layer forward, their weight gradients, and the input gradients of
/// all but the first convolution (whose input needs none).
pub fn chapter_step_flop(config: &ChapterCnnConfig, batch_size: usize) -> f64 {
    let images = 2.0 * batch_size as f64;
    let (h1, w1) = (config.height - 6, config.width - 6);
    let (h2, w2) = (h1 / 2 - 2, w1 / 2 - 2);
    let conv1 = 2.0 * images * (h1 * w1 * 32 * config.channels * 49) as f64;
    let conv2 = 2.0 * images * (h2 * w2 * 64 * 32 * 9) as f64;
    let dense = 2.0 * images * (config.flat_features() * config.embedding_dim) as f64;
    conv1 * 2.0 + conv2 * 3.0 + dense * 3.0
}

/// The CPU's peak FP32 rate estimated from what it reports: cores x 2 FMA units x SIMD lanes
/// (16 with AVX-512, 8 with AVX2, 4 otherwise; 8 for AMD's Zen 4, family 19h, whose AVX-512
/// runs on 256-bit units) x 2 flop x the clock `/proc/cpuinfo` gives (the base clock on most
/// virtual machines). Returns the figure and how it was made; `None` when the clock is
/// unknown.
pub fn estimated_peak_gflops() -> Option<(f64, String)> {
    let cores = std::thread::available_parallelism().ok()?.get();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    peak_from_cpuinfo(&cpuinfo, cores, simd_lanes())
}

/// [`estimated_peak_gflops`] from the text of `/proc/cpuinfo`, the cores and the SIMD width
/// the CPU reports.
fn peak_from_cpuinfo(
    cpuinfo: &str,
    cores: usize,
    (mut lanes, mut simd): (usize, &'static str),
) -> Option<(f64, String)> {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split(':').nth(1))
            .map(str::trim)
    };
    let mhz: f64 = field("cpu MHz")?.parse().ok()?;
    if lanes == 16
        && field("vendor_id") == Some("AuthenticAMD")
        && field("cpu family") == Some("25")
    {
        (lanes, simd) = (8, "AVX-512 on 256-bit units, Zen 4");
    }
    let peak = cores as f64 * 2.0 * lanes as f64 * 2.0 * mhz / 1e3;
    Some((
        peak,
        format!("{cores} cores x 2 FMA x {lanes} lanes ({simd}) x 2 flop x {mhz:.0} MHz"),
    ))
}

#[cfg(target_arch = "x86_64")]
fn simd_lanes() -> (usize, &'static str) {
    if std::arch::is_x86_feature_detected!("avx512f") {
        (16, "AVX-512")
    } else if std::arch::is_x86_feature_detected!("fma") {
        (8, "AVX2")
    } else {
        (4, "SSE")
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn simd_lanes() -> (usize, &'static str) {
    (4, "128-bit SIMD")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Time `config.steps` training steps and `config.embed_batches` embedding batches.
pub fn run_bench(
    config: &BenchConfig,
    device: &Device,
    download: &DownloadOptions,
) -> Result<BenchReport, TrainError> {
    let train = &config.train;
    crate::backend::flush_denormals();
    let data = chapter_data(train, download)?;
    let autodiff = device.clone().autodiff();
    let mut model = SiameseNet::init(&train.model, &autodiff, &mut stream_rng(0, Stream::Init));
    let mut optim = train.optimizer.init();
    let mut batcher = PairBatcher::new(&data.images);
    let batch = train.batch_size.min(data.fit.len());
    let eps = train.model.distance_epsilon;
    let (l2, l1) = (train.model.kernel_l2, train.model.bias_l1);

    let mut step_ms = Vec::new();
    let mut build_ms = Vec::new();
    let mut phase_ms: [Vec<f64>; 3] = Default::default();
    for step in 0..config.warmup + config.steps.max(1) {
        let start = (step * batch) % (data.fit.len() - batch + 1);
        let order: Vec<usize> = (start..start + batch).collect();
        let built = Instant::now();
        let (x, y) = batcher.batch(&data.fit, &order, &autodiff);
        let began = Instant::now();
        let distances = model.pair_distances(x, batch, eps);
        let loss = contrastive_loss(distances, y, train.margin) + model.penalty(l2, l1);
        let forward_done = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backward_done = Instant::now();
        model = optim.step(train.learning_rate, model, grads);
        let _: f32 = loss.into_scalar();
        if step >= config.warmup {
            let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
            let done = Instant::now();
            step_ms.push(ms(began, done));
            build_ms.push(ms(built, began));
            phase_ms[0].push(ms(began, forward_done));
            phase_ms[1].push(ms(forward_done, backward_done));
            phase_ms[2].push(ms(backward_done, done));
        }
    }

    let plain = device.clone().without_autodiff();
    let encoder = model.valid();
    let indices: Vec<usize> = (0..config.embed_batch)
        .map(|i| i % data.images.len())
        .collect();
    let warm = image_tensor(&data.images, &indices, &plain);
    let _ = encoder.embed(warm).into_data();
    let started = Instant::now();
    for _ in 0..config.embed_batches.max(1) {
        let x = image_tensor(&data.images, &indices, &plain);
        let _ = encoder.embed(x).into_data();
    }
    let embed_seconds = started.elapsed().as_secs_f64();

    let cnn = ChapterCnnConfig {
        channels: train.model.input.channels,
        height: train.model.input.height,
        width: train.model.input.width,
        embedding_dim: train.model.embedding_dim,
    };
    let flop = chapter_step_flop(&cnn, batch);
    let step_ms_min = step_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let step_ms_median = median(&mut step_ms);
    let gflops = flop / 1e9 / (step_ms_median / 1e3);
    Ok(BenchReport {
        batch_size: batch,
        step_ms_median,
        step_ms_min,
        batch_build_ms: median(&mut build_ms),
        forward_ms: median(&mut phase_ms[0]),
        backward_ms: median(&mut phase_ms[1]),
        update_ms: median(&mut phase_ms[2]),
        pairs_per_second: batch as f64 / (step_ms_median / 1e3),
        gflop_per_step: flop / 1e9,
        gflops,
        share_of_peak: gflops / config.peak_gflops,
        embeddings_per_second: (config.embed_batch * config.embed_batches.max(1)) as f64
            / embed_seconds,
        peak_rss_mib: crate::train::peak_rss_mib(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_from_what_the_cpu_reports() {
        // 2 cores x 2 FMA x lanes x 2 flop x 2.6 GHz: 166.4 GFLOP/s at 8 lanes, 332.8 at 16.
        let info = |vendor: &str, family: u32| {
            format!(
                "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\ncpu MHz\t\t: 2600.000\n"
            )
        };
        let peak = |text: &str, simd| peak_from_cpuinfo(text, 2, simd).unwrap().0;
        let avx512 = (16, "AVX-512");
        assert_eq!(peak(&info("GenuineIntel", 6), avx512), 332.8);
        // Zen 4 (family 19h = 25) runs AVX-512 on 256-bit units; Zen 5 (1Ah = 26) does not.
        assert_eq!(peak(&info("AuthenticAMD", 25), avx512), 166.4);
        assert_eq!(peak(&info("AuthenticAMD", 26), avx512), 332.8);
        assert_eq!(peak(&info("AuthenticAMD", 25), (8, "AVX2")), 166.4);
        assert!(peak_from_cpuinfo("vendor_id\t: x\n", 2, avx512).is_none());
    }

    #[test]
    fn flop_count_of_the_chapter_step() {
        // PERF-NOTES.md lists the step's GEMMs (M x K x N, 2 MNK flop each):
        // conv1 fwd 123904x49x32 and weight grad; conv2 fwd 20736x288x64, weight and input grad;
        // dense fwd 256x5184x128, weight and input grad: 4.09 GFLOP in all.
        let expected = 2.0 * (123_904.0 * 49.0 * 32.0) * 2.0
            + 2.0 * (20_736.0 * 288.0 * 64.0) * 3.0
            + 2.0 * (256.0 * 5184.0 * 128.0) * 3.0;
        let cnn = ChapterCnnConfig {
            channels: 1,
            height: 28,
            width: 28,
            embedding_dim: 128,
        };
        let flop = chapter_step_flop(&cnn, 128);
        assert_eq!(flop, expected);
        assert!((flop / 1e9 - 4.09).abs() < 0.01, "{}", flop / 1e9);
    }
}
