//! lifeboat's entry point: arguments → logging → command → exit code.

use std::process::ExitCode;

use clap::Parser;
use lifeboat::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
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
