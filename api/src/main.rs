//! The `ringback` binary.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ringback::cli::Cli::parse();
    ringback::cli::init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ringback: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(ringback::cli::run(cli))
}
