//! `lode-bench`: the side-by-side comparison of Lode with a hash-chained table in SQLite and
//! PostgreSQL. Exit codes: 0 ok; 1 a system or phase failed (a figure is never printed for a
//! run that did not do what it says); 2 usage.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lode_bench::compare::{self, CompareArgs};
use lode_bench::phase::{self, PhaseArgs};

/// The allocator the `lode` binary uses, so that Lode is measured as it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "lode-bench",
    about = "Lode beside a hash-chained append-only table in SQLite and PostgreSQL, on the same generated events",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    compare: CompareArgs,
    #[command(subcommand)]
    command: Option<Child>,
}

#[derive(Debug, Subcommand)]
enum Child {
    /// One phase of one system, printing what it measured as one JSON line: the comparison runs
    /// each in a process of its own.
    #[command(hide = true)]
    Phase(PhaseArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Child::Phase(args)) => phase::run(&args).map(|v| println!("{v}")),
        None => compare::run(&cli.compare).map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lode-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}
