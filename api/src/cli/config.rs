//! `ringback config example` and `ringback config check`: the operator's view of the
//! configuration, without starting anything.

use crate::config::locate::ConfigFile;
use crate::config::{check, example};
use clap::Subcommand;
use std::process::ExitCode;

/// `ringback config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete `ringback.toml`: every key with its default and what it does (the same
    /// text as deploy/ringback.example.toml).
    Example,
    /// Read the configuration (`--config`, or the default places), and print as JSON what it
    /// amounts to: listeners, trunks, database, providers, models found or missing, and every
    /// problem by key. Exit 1 when it cannot work (the server would refuse to start), 0 otherwise.
    Check,
}

/// Runs one; the exit status is the verdict, the text is on stdout and stderr.
pub fn run(command: ConfigCommand, file: &ConfigFile) -> ExitCode {
    match command {
        ConfigCommand::Example => {
            #[allow(clippy::print_stdout)] // the file is this command's output
            {
                print!("{}", example::render());
            }
            ExitCode::SUCCESS
        }
        ConfigCommand::Check => check_file(file),
    }
}

fn check_file(file: &ConfigFile) -> ExitCode {
    let config = match file.load() {
        Ok(config) => config,
        Err(err) => {
            let place = file
                .path()
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default();
            eprintln!("ringback: config check{place}: {err}");
            return ExitCode::from(1);
        }
    };
    let report = check::report(&config, file.path());
    match serde_json::to_string_pretty(&report) {
        #[allow(clippy::print_stdout)] // the report is this command's output
        Ok(json) => println!("{json}"),
        Err(err) => {
            eprintln!("ringback: config check: cannot write the report: {err}");
            return ExitCode::from(2);
        }
    }
    for problem in &report.problems {
        eprintln!("ringback: config check: {problem}");
    }
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
