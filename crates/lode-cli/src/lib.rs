//! `lode-cli`: the `lode` command of the Lode custody ledger: argument parsing, the commands,
//! and what they print. The root package's `lode` binary calls [`main`].
//!
//! Exit codes: 0 ok; 1 an event was rejected or verification failed; 2 usage or I/O error.

mod append;
mod bundle;
mod demo;
mod derived;
mod export;
mod generate;
mod input;
mod keygen;
mod output;
mod prove;
mod query;
mod read;
mod report;
mod serve;
mod verify;
mod watchdog;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code of a rejected event or a failed verification.
pub const EXIT_REJECTED: u8 = 1;
/// Exit code of a usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// The data directory used when neither `--data-dir` nor `LODE_DATA_DIR` is given.
pub const DEFAULT_DATA_DIR: &str = "lode-data";

#[derive(Debug, Parser)]
#[command(name = "lode", version, about = "Lode: a tamper-evident chain-of-custody ledger for rare-earth oxide lots")]
struct Cli {
    /// The ledger's data directory (default: ./lode-data).
    #[arg(long, global = true, env = "LODE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Append events from a file or standard input: one JSON object, a JSON array, or JSON lines.
    Append(append::Args),
    /// Print records as JSON lines, exactly as stored.
    Log(read::LogArgs),
    /// Recompute every hash of the ledger, or of an exported log, and name the first bad position.
    Verify(verify::Args),
    /// Export the ledger: its records, GS1 EPCIS 2.0 JSON-LD, or CSV tables.
    #[command(subcommand)]
    Export(read::Export),
    /// Load the demo supply chain (fictional) into a ledger and tell its story
    /// (data directory: ./lode-demo unless --data-dir is given).
    Demo,
    /// Merkle proofs (RFC 9162 with BLAKE3) that a record is in the log, or that the log
    /// extends an earlier one, as JSON.
    #[command(subcommand)]
    Prove(prove::Prove),
    /// Regenerate every projection from the log alone and print their digest.
    Rebuild,
    /// Print a lot's state as JSON: custody, mass, material, lineage, holds, documents, assays, origin.
    Lot(derived::LotArgs),
    /// Active and in-transit mass by party, site and material form, as JSON lines; now or as of a past point.
    Inventory(derived::InventoryArgs),
    /// Trace a lot back to the mines (origin, stages, every transformation), or forward for a recall.
    Trace(query::TraceArgs),
    /// Every handover of a lot and of its ancestors, in order.
    Custody(query::CustodyArgs),
    /// Audit a lot: origin, stages against covered countries, custody, findings. Exits 1 unless it passes.
    Audit(query::AuditArgs),
    /// List lots by custodian, material form, status and site.
    Lots(query::LotsArgs),
    /// Print a realistic, deterministic custody history as JSON lines, for an empty ledger.
    Generate(generate::Args),
    /// Make the operator's Ed25519 key pair: PREFIX.key (secret) and PREFIX.pub (C2SP verifier key).
    Keygen(keygen::KeygenArgs),
    /// Print the log's size, Merkle root and chain head as a signed C2SP tlog-checkpoint note.
    Checkpoint(keygen::CheckpointArgs),
    /// Write an audit bundle: a signed checkpoint, the records a lot's trace and custody derive
    /// from, and their inclusion proofs, in one JSON file.
    Bundle(bundle::BundleArgs),
    /// Verify an audit bundle without the ledger and print the lot's trace back and custody.
    VerifyBundle(bundle::VerifyBundleArgs),
    /// Serve the ledger over HTTP: appends, reads, live subscriptions, proofs (`docs/api.md`).
    Serve(serve::ServeArgs),
    /// The HTTP service's bearer tokens: add, revoke, list.
    #[command(subcommand)]
    Token(serve::Token),
    /// Reports for compliance: a lot's origin with the checkpoint it was built from.
    #[command(subcommand)]
    Report(report::Report),
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct Failed {
    pub code: u8,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed { code: EXIT_USAGE, error: e.into() }
    }
}

/// Ends with exit code 1 (rejected or verification failed), after the message was printed.
pub fn rejected(error: anyhow::Error) -> Failed {
    Failed { code: EXIT_REJECTED, error }
}

/// Runs the `lode` command with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_log(&cli.command);
    let demo_dir = cli.data_dir.clone().unwrap_or_else(|| PathBuf::from(demo::DEMO_DATA_DIR));
    let data_dir = cli.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let result = match cli.command {
        Command::Append(args) => append::run(&data_dir, args),
        Command::Log(args) => read::log(&data_dir, args),
        Command::Verify(args) => verify::run(&data_dir, args),
        Command::Export(e) => read::export(&data_dir, e),
        Command::Demo => demo::run(&demo_dir),
        Command::Prove(p) => prove::run(&data_dir, p),
        Command::Rebuild => derived::rebuild(&data_dir),
        Command::Lot(args) => derived::lot(&data_dir, args),
        Command::Inventory(args) => derived::inventory(&data_dir, args),
        Command::Trace(args) => query::trace(&data_dir, args),
        Command::Custody(args) => query::custody(&data_dir, args),
        Command::Audit(args) => query::audit(&data_dir, args),
        Command::Lots(args) => query::lots(&data_dir, args),
        Command::Generate(args) => generate::run(args),
        Command::Keygen(args) => keygen::keygen(args),
        Command::Checkpoint(args) => keygen::checkpoint(&data_dir, args),
        Command::Bundle(args) => bundle::bundle(&data_dir, args),
        Command::VerifyBundle(args) => bundle::verify_bundle(args),
        Command::Serve(args) => serve::serve(&data_dir, args),
        Command::Token(t) => serve::token(&data_dir, t),
        Command::Report(r) => report::run(&data_dir, r),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`lode log | head`) is not an error of ours.
        Err(Failed { error, .. })
            if error.chain().any(|e| {
                let kind = e
                    .downcast_ref::<std::io::Error>()
                    .map(std::io::Error::kind)
                    .or_else(|| e.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind));
                kind == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(Failed { code, error }) => {
            eprintln!("lode: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// The log on standard error: its level from `RUST_LOG` (or `LODE_LOG`); warnings only by default,
/// but the service logs every request by default, as text or, with `--log-format json`, as JSON.
fn init_log(command: &Command) {
    let (default, json) = match command {
        Command::Serve(args) => ("info", args.log_format == serve::LogFormat::Json),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("LODE_LOG"))
        .unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
