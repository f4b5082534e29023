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
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| format!("cannot size the thread pool to {n}: {e}"))
}
