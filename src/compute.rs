//! Where models run: the CPU's vector features and thread count, and which GPU backends
//! this build has and whether one is usable here.

use serde::Serialize;

/// The environment variable that sets how long candle's CPU pool workers spin, waiting
/// for the next operation, before they park.
pub const CANDLE_SPIN_LIMIT_VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
/// Our default for it (candle's own is 25 000). candle's pool runs the quantized
/// matmuls and elementwise operations, rayon the float matrix products and our
/// convolutions; on 2 cores, workers of one pool that spin long hold the cores the other
/// pool needs. Measured with `make bench-peers`' server on 2 cores: the Piper voice ran
/// at a real-time factor of 0.030 with candle's default, 0.025 with 2000; LLM decode
/// stayed at 155–166 tokens/s with 2000 and fell to 125–145 with 200, where workers park
/// between the matmuls of one token.
pub const CANDLE_SPIN_LIMIT: u32 = 2_000;

/// Allocations up to this size come from the heap and stay there when freed, instead
/// of being mapped and unmapped each time (glibc's `M_MMAP_THRESHOLD`, which otherwise
/// starts at 128 KiB). The voice's decoder allocates signals of up to 14 MB a sentence;
/// mapped afresh, every page faults and is zeroed again (about 5 % of synthesis time).
/// Measured with `make bench-peers`' server: RTF 0.0297 → 0.0269 and 0.0266 → 0.0245.
pub const MMAP_THRESHOLD_BYTES: i32 = 256 << 20;
/// Freed heap memory is given back to the system only above this much at the top
/// (glibc's `M_TRIM_THRESHOLD`), so the next sentence finds its buffers.
pub const TRIM_THRESHOLD_BYTES: i32 = 512 << 20;

/// Sets the process's defaults for running models on the CPU, each unless the user set
/// it in the environment: candle's pool spin limit ([`CANDLE_SPIN_LIMIT`]) and, with
/// glibc, the allocator's mapping and trimming thresholds ([`MMAP_THRESHOLD_BYTES`],
/// [`TRIM_THRESHOLD_BYTES`]; `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`).
///
/// # Safety
/// Sets an environment variable: call it before any other thread exists, and before
/// candle's pool starts (its first CPU operation).
pub unsafe fn set_cpu_defaults() {
    if std::env::var_os(CANDLE_SPIN_LIMIT_VAR).is_none() {
        // SAFETY: the caller guarantees no other thread exists.
        unsafe { std::env::set_var(CANDLE_SPIN_LIMIT_VAR, CANDLE_SPIN_LIMIT.to_string()) };
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: mallopt only changes allocator parameters; no other thread runs.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        }
        if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) };
        }
    }
}

/// The CPU as the models see it.
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    /// Hardware threads available to this process.
    pub n_threads: usize,
    /// Vector features detected at run time (`avx2`, `fma`, `f16c`, `avx512f`, `neon` …).
    pub features: Vec<&'static str>,
    /// Vector features this binary was compiled to assume (target-cpu).
    pub compiled_for: Vec<&'static str>,
}

/// GPU backends compiled into this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuBackend {
    /// NVIDIA CUDA (`--features cuda`).
    Cuda,
    /// Apple Metal (`--features metal`).
    Metal,
}

impl GpuBackend {
    /// Backends this binary was built with.
    pub fn compiled() -> Vec<GpuBackend> {
        let mut backends = Vec::new();
        if cfg!(feature = "cuda") {
            backends.push(GpuBackend::Cuda);
        }
        if cfg!(feature = "metal") {
            backends.push(GpuBackend::Metal);
        }
        backends
    }

    /// True when the backend finds a device on this machine.
    pub fn is_usable(self) -> bool {
        match self {
            GpuBackend::Cuda => candle_core::Device::new_cuda(0).is_ok(),
            GpuBackend::Metal => candle_core::Device::new_metal(0).is_ok(),
        }
    }

    /// The backend's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GpuBackend::Cuda => "cuda",
            GpuBackend::Metal => "metal",
        }
    }
}

/// Reads the CPU's features and thread count.
pub fn cpu_report() -> CpuReport {
    let n_threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    CpuReport {
        n_threads,
        features: detected_features(),
        compiled_for: compiled_features(),
    }
}

#[cfg(target_arch = "x86_64")]
fn detected_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    macro_rules! probe {
        ($($name:tt),*) => {
            $(if std::arch::is_x86_feature_detected!($name) { features.push($name); })*
        };
    }
    probe!(
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vnni"
    );
    features
}

#[cfg(target_arch = "aarch64")]
fn detected_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    if std::arch::is_aarch64_feature_detected!("neon") {
        features.push("neon");
    }
    if std::arch::is_aarch64_feature_detected!("dotprod") {
        features.push("dotprod");
    }
    features
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detected_features() -> Vec<&'static str> {
    Vec::new()
}

fn compiled_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    if cfg!(target_feature = "avx2") {
        features.push("avx2");
    }
    if cfg!(target_feature = "fma") {
        features.push("fma");
    }
    if cfg!(target_feature = "f16c") {
        features.push("f16c");
    }
    if cfg!(target_feature = "avx512f") {
        features.push("avx512f");
    }
    if cfg!(target_feature = "neon") {
        features.push("neon");
    }
    features
}

/// Compiled-for features the CPU lacks: a binary built for them would crash with SIGILL.
pub fn missing_compiled_features(report: &CpuReport) -> Vec<&'static str> {
    report
        .compiled_for
        .iter()
        .copied()
        .filter(|feature| !report.features.contains(feature))
        .collect()
}

/// The candle device to run models on: the first usable compiled GPU backend unless
/// `force_cpu`, else the CPU.
pub fn select_device(force_cpu: bool) -> candle_core::Device {
    if !force_cpu {
        for backend in GpuBackend::compiled() {
            let device = match backend {
                GpuBackend::Cuda => candle_core::Device::new_cuda(0),
                GpuBackend::Metal => candle_core::Device::new_metal(0),
            };
            if let Ok(device) = device {
                return device;
            }
        }
    }
    candle_core::Device::Cpu
}

/// The process's peak resident memory so far (Linux `VmHWM`), in bytes; `None` where
/// the platform does not say.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The environment variable that makes the SIMD kernels' tests fail when a kernel cannot
/// run on this CPU, instead of checking only the portable path. `.ci/run` sets it to
/// `avx512` where `/proc/cpuinfo` shows AVX-512 VNNI, so a green CI proves the fast paths
/// ran.
pub const REQUIRE_SIMD_VAR: &str = "IDEADESK_REQUIRE_SIMD";

/// For tests: says that `kernel` could not run on this CPU and only its portable twin was
/// checked; fails the test when `IDEADESK_REQUIRE_SIMD=avx512` is set.
#[cfg(test)]
pub(crate) fn simd_kernel_missing(kernel: &str) {
    let required = std::env::var(REQUIRE_SIMD_VAR).is_ok_and(|value| value == "avx512");
    assert!(
        !required,
        "{kernel} did not run: this CPU lacks the AVX-512 features it needs, and {REQUIRE_SIMD_VAR}=avx512 requires them"
    );
    eprintln!("{kernel}: this CPU lacks AVX-512; only the portable path was checked");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_binary_runs_on_this_cpu() {
        let report = cpu_report();
        assert!(report.n_threads >= 1);
        assert!(missing_compiled_features(&report).is_empty(), "{report:?}");
    }

    #[test]
    fn peak_rss_is_reported_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = peak_rss_bytes().expect("VmHWM in /proc/self/status");
            assert!(rss > 1024 * 1024, "{rss}");
        }
    }

    #[test]
    fn forced_cpu_is_cpu() {
        assert!(select_device(true).is_cpu());
    }
}
