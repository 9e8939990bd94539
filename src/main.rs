//! lifeboat's entry point: arguments → logging → command → exit code.

use std::process::ExitCode;

use clap::Parser;
use lifeboat::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    few_malloc_arenas();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // By default a failed write is reported with `eprintln!`, which panics
        // when stderr is a closed pipe: inside a step, that failed the step
        // and rolled the run back. A log line that cannot be written is lost.
        .log_internal_errors(false)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    ExitCode::from(run(cli))
}

/// glibc gives each thread that allocates its own arena (up to 8 per core).
/// A backup or restore hands 1 MiB buffers from one thread to another, so
/// each arena keeps freed buffers of its own: peak RSS grows with the
/// number of threads, not with the work. Two arenas are enough for a
/// process whose threads mostly move data (docs/benchmarks.md, "Recovery
/// time"); `MALLOC_ARENA_MAX` in the environment still decides if set.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
