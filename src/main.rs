//! The `siamese` command line: turns arguments into library configs, calls the library, prints.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    keep_freed_memory();
    quiet_broken_pipe();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Ask glibc's allocator to keep freed memory for reuse instead of handing it back to the kernel.
///
/// A training step allocates and frees tensors of several megabytes. By default glibc serves
/// those with fresh `mmap`s and unmaps them when freed, so every step paid for page faults and
/// page clearing again (a fifth of a step's time in a profile). Raising the mmap and trim
/// thresholds lets the heap keep those pages: peak memory is unchanged, since the same sizes are
/// reused each step.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // 32 MiB is the largest mmap threshold glibc accepts on 64-bit targets.
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;
    const TRIM_THRESHOLD: libc::c_int = 512 << 20;
    // SAFETY: mallopt only changes allocator tuning parameters; it is called before any other
    // thread exists.
    let accepted = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            && libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
    };
    debug_assert!(accepted, "glibc refused an allocator setting");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// End quietly, as other command-line tools do, when the reader of stdout goes away
/// (`siamese search ... | head`), instead of panicking on the failed write: the default
/// action of SIGPIPE, which Rust's runtime sets to be ignored.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn quiet_broken_pipe() {
    // SAFETY: restores the default disposition of one signal before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn quiet_broken_pipe() {}
