//! Logs go to stderr through `tracing`, and to a log file in the run folder when there is one.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

fn filter(verbose: u8, quiet: bool) -> EnvFilter {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    EnvFilter::try_from_env("SIAMESE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("siamese={level},warn")))
}

/// Log to stderr only.
pub fn init_stderr(verbose: u8, quiet: bool) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, quiet))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Log to stderr and append to `log_file`.
pub fn init_with_file(verbose: u8, quiet: bool, log_file: &Path) -> anyhow::Result<()> {
    let file = File::options()
        .create(true)
        .append(true)
        .open(log_file)
        .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", log_file.display()))?;
    // The file always gets info-level lines, whatever the terminal shows.
    let file_writer = Arc::new(file).with_max_level(tracing::Level::INFO);
    let stderr_level = if quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::TRACE
    };
    let writer = std::io::stderr
        .with_max_level(stderr_level)
        .and(file_writer);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, false))
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    Ok(())
}
