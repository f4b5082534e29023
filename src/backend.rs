//! Choosing the device and the CPU thread pool.

use burn::tensor::Device;

/// The compute backends this build offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's `flex` CPU backend (always built).
    Flex,
    /// NVIDIA GPUs through CUDA (`--features cuda`).
    Cuda,
    /// GPUs through wgpu (Vulkan/Metal/DX12; `--features wgpu`).
    Wgpu,
}

impl BackendKind {
    /// Parse a backend name as the command line spells it.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "flex" | "cpu" => Ok(Self::Flex),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(format!(
                "unknown backend {other:?}; expected flex, cuda or wgpu"
            )),
        }
    }

    /// The device of this backend, or an error saying how to build it in.
    pub fn device(self) -> Result<Device, String> {
        match self {
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda => {
                Err("this build has no CUDA backend; rebuild with `--features cuda`".into())
            }
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::default())),
            #[cfg(not(feature = "wgpu"))]
            Self::Wgpu => {
                Err("this build has no wgpu backend; rebuild with `--features wgpu`".into())
            }
        }
    }
}

/// Size the one CPU thread pool the CPU backend uses. `None` keeps the default (one thread per
/// core). Must be called before any tensor work; a second call is refused.
pub fn init_threads(threads: Option<usize>) -> Result<(), String> {
    let Some(n) = threads else { return Ok(()) };
    if n == 0 {
        return Err("--threads must be at least 1".into());
    }
    // More threads than cores only slows a CPU-bound pool down; far more exhausts the system.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let most = 4 * cores;
    if n > most {
        return Err(format!(
            "--threads {n} is more than 4 per core ({cores} cores here: at most {most}); \
             one per core is the default and usually fastest"
        ));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| format!("cannot size the thread pool to {n}: {e}"))
}

/// Treat subnormal floats as zero on the CPU, in this thread and in every thread of rayon's
/// pool (the one burn's `flex` backend and our kernels run on): the flush-to-zero and
/// denormals-are-zero bits of x86's MXCSR.
///
/// Why: as training converges, some gradients and weight updates become subnormal
/// (below 1.2e-38), and x86 cores handle those in slow microcode. A run of the chapter's
/// experiment slowed from about 14 s per epoch at the start to 21-23 s by the end because of
/// it; TensorFlow sets the same bits in its threads for the same reason. Values that small
/// change no result that matters here, and the flush is deterministic, so the same seed still
/// gives the same result bit for bit.
///
/// Other architectures keep their default (subnormals computed exactly).
pub fn flush_denormals() {
    set_flush_bits();
    rayon::broadcast(|_| set_flush_bits());
}

#[cfg(target_arch = "x86_64")]
#[allow(deprecated)]
fn set_flush_bits() {
    use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
    /// MXCSR's flush-to-zero (results) and denormals-are-zero (inputs) bits.
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
    // SAFETY: reading and writing MXCSR only changes how this thread rounds and treats
    // subnormal floats; SSE is always present on x86_64. The intrinsics are deprecated in
    // favour of inline assembly, which would do exactly the same.
    unsafe { _mm_setcsr(_mm_getcsr() | FTZ_DAZ) };
}

#[cfg(not(target_arch = "x86_64"))]
fn set_flush_bits() {}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::hint::black_box;

    #[test]
    fn subnormals_flush_to_zero_in_this_thread_and_the_pool() {
        // 1e-39 is subnormal in f32 (the smallest normal is about 1.18e-38).
        let tiny = black_box(1e-39f32);
        let exact = std::thread::spawn(move || black_box(tiny) * black_box(1.0f32))
            .join()
            .unwrap();
        assert_eq!(
            exact, 1e-39f32,
            "a fresh thread computes subnormals exactly"
        );
        let (here, pooled) = std::thread::spawn(move || {
            super::flush_denormals();
            let here = black_box(tiny) * black_box(1.0f32);
            let pooled = rayon::broadcast(|_| black_box(tiny) * black_box(1.0f32));
            (here, pooled)
        })
        .join()
        .unwrap();
        assert_eq!(here, 0.0);
        assert!(pooled.iter().all(|&v| v == 0.0), "{pooled:?}");
    }
}
