//! `lode serve`: the ledger as an HTTP service; and `lode token`: the service's bearer tokens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use lode_query::checkpoint::{self, SecretKey};
use lode_server::auth::{self, Role, Tokens};
use lode_server::{AppState, Config, Limits};
use serde_json::json;

use crate::keygen::read_small;
use crate::output::print_json;
use crate::Failed;

/// How the service writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on. The default is loopback only; say 0.0.0.0:PORT to be reachable
    /// from other machines.
    #[arg(long, default_value = lode_server::DEFAULT_ADDR, value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    /// Serve a fresh copy of the demo ledger (fictional), with public reads, a signing key and
    /// printed tokens to try writes with. Nothing is kept after it stops.
    #[arg(long)]
    pub demo: bool,
    /// Reads need no token.
    #[arg(long)]
    pub public_read: bool,
    /// The operator's secret key (from `lode keygen`), to sign checkpoints and bundles.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The log's identity in checkpoints (default: lode/<data directory name>).
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// The token file (default: tokens.json in the data directory).
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// The log's format on standard error; the level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().body_bytes_max)]
    pub body_bytes_max: usize,
    /// The most events in one append request.
    #[arg(long, value_name = "N", default_value_t = Limits::default().request_events_max)]
    pub request_events_max: usize,
    /// The most records one GET /v1/events answers with.
    #[arg(long, value_name = "N", default_value_t = Limits::default().page_events_max)]
    pub page_events_max: usize,
    /// The most live subscriptions at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().subscribers_max)]
    pub subscribers_max: usize,
    /// How long a request may take, its body included, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Limits::default().request_timeout_ms)]
    pub request_timeout_ms: u64,
    /// The interval of a subscription's heartbeats, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Limits::default().heartbeat_ms)]
    pub heartbeat_ms: u64,
}

/// The demo's tokens: a party and a role each.
const DEMO_TOKENS: [(&str, Role); 3] =
    [("han-river-materials", Role::Writer), ("lode-op", Role::Operator), ("lode-op", Role::Auditor)];

/// `lode serve`.
pub fn serve(data_dir: &Path, args: ServeArgs) -> Result<(), Failed> {
    let limits = Limits {
        body_bytes_max: args.body_bytes_max,
        request_events_max: args.request_events_max.clamp(1, 10_000),
        page_events_max: args.page_events_max.max(1),
        subscribers_max: args.subscribers_max,
        request_timeout_ms: args.request_timeout_ms.max(1),
        heartbeat_ms: args.heartbeat_ms.max(1),
    };
    // The demo lives in a directory of its own that goes when the server does.
    let demo_dir = if args.demo { Some(tempfile::Builder::new().prefix("lode-serve-demo-").tempdir()?) } else { None };
    let dir = demo_dir.as_ref().map_or(data_dir, |d| d.path());
    let tokens_path = args.tokens.clone().unwrap_or_else(|| auth::default_path(dir));
    let origin = match &args.origin {
        Some(o) => o.clone(),
        None if args.demo => "lode/demo".to_string(),
        None => crate::keygen::default_origin(dir)?,
    };
    checkpoint::check_origin(&origin)?;

    let (store, ledger, key, demo_tokens) = if args.demo {
        let (store, ledger) = crate::read::open_ledger(dir)?;
        let out = store.append(crate::demo::demo_events()?).context("appending the demo events")?;
        if let Some(st) = out.stopped {
            return Err(anyhow::anyhow!("demo event {} was refused: {}", st.index + 1, st.reason).into());
        }
        let mut seed = [0u8; 32];
        auth::os_random(&mut seed).context("reading 32 random bytes from /dev/urandom")?;
        let key = SecretKey::from_seed("lode-demo", seed)?;
        std::fs::write(dir.join("operator.pub"), key.verifier().to_text())?;
        let mut tokens = Vec::new();
        for (party, role) in DEMO_TOKENS {
            let (_, token) = auth::add(&tokens_path, party, role, Some("demo".into()))?;
            tokens.push((party, role, token));
        }
        (store, ledger, Some(key), tokens)
    } else {
        // A directory without a ledger gets a new one: the service is how events arrive.
        let (store, ledger) = crate::read::open_ledger(dir)?;
        let key = match &args.key {
            Some(path) => Some(
                SecretKey::parse(&read_small(path, checkpoint::KEY_FILE_BYTES_MAX)?)
                    .with_context(|| format!("reading the key in {}", path.display()))?,
            ),
            None => None,
        };
        (store, ledger, key, Vec::new())
    };
    let tokens = Tokens::open(tokens_path.clone())?;
    let config = Config { limits, public_read: args.public_read || args.demo, key, origin };
    let head = store.head().seq;
    let state = Arc::new(AppState::new(store, ledger, tokens, config));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let store = runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("listening on {}", args.addr))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond loopback: every client that can reach this address can try a token");
        }
        tracing::info!(%addr, head, data_dir = %dir.display(), "serving");
        // The first line of standard output names the address, so that scripts and tests that
        // asked for port 0 learn which port they got.
        println!("lode: serving {} (head {head}) on http://{addr}", dir.display());
        if args.demo {
            print_demo_help(addr, dir, &demo_tokens);
        }
        let served = lode_server::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(served)
    })?;
    store.close().context("closing the ledger")?;
    tracing::info!("stopped");
    Ok(())
}

fn print_demo_help(addr: SocketAddr, dir: &Path, tokens: &[(&str, Role, String)]) {
    let u = format!("http://{addr}");
    println!(
        "A fresh copy of the demo ledger (fictional companies) in {}; it goes when the server stops.",
        dir.display()
    );
    println!("Try:");
    println!("  curl {u}/v1/lots/JP-MAG-2025-0001/trace             # back to the mine");
    println!("  curl {u}/v1/lots/JP-MAG-2025-0001/audit             # origin, stages, findings");
    println!("  curl -N {u}/v1/subscribe                            # the live stream (Ctrl-C to stop)");
    println!(
        "  curl {u}/v1/checkpoint                              # the signed head (key: {}/operator.pub)",
        dir.display()
    );
    println!("  curl {u}/openapi.json                               # every route");
    println!("Tokens for writes (shown once):");
    for (party, role, token) in tokens {
        println!("  {party:<20} {:<9} {token}", role.name());
    }
    println!("Stop with Ctrl-C.");
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Token {
    /// Make a token for a party and a role, and print it once: only its hash is kept.
    Add {
        /// The party the token records events as.
        #[arg(long, value_name = "PARTY")]
        party: String,
        /// writer (its party's events), auditor (reads, holds), or operator (parties, sites, holds).
        #[arg(long, value_name = "ROLE")]
        role: Role,
        /// A note kept beside the token's hash, to tell tokens apart.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// The token file (default: tokens.json in the data directory).
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
    },
    /// Revoke a token by its id; a running server refuses it from its next request on.
    Revoke {
        /// The token's id (tok_…), as `lode token add` and `lode token list` print it.
        id: String,
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
    },
    /// List the tokens: ids, parties, roles, revocations; never the tokens themselves.
    List {
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
    },
}

/// `lode token`.
pub fn token(data_dir: &Path, t: Token) -> Result<(), Failed> {
    let path = |p: Option<PathBuf>| -> anyhow::Result<PathBuf> {
        match p {
            Some(p) => Ok(p),
            None => {
                std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
                Ok(auth::default_path(data_dir))
            }
        }
    };
    match t {
        Token::Add { party, role, note, tokens } => {
            let (entry, token) = auth::add(&path(tokens)?, &party, role, note)?;
            print_json(&json!({ "id": entry.id, "party": entry.party, "role": entry.role, "token": token }))?;
        }
        Token::Revoke { id, tokens } => {
            let entry = auth::revoke(&path(tokens)?, &id)?;
            print_json(
                &json!({ "id": entry.id, "party": entry.party, "role": entry.role, "revoked_at": entry.revoked_at }),
            )?;
        }
        Token::List { tokens } => {
            for t in auth::load(&path(tokens)?)?.tokens {
                print_json(&json!({
                    "id": t.id, "party": t.party, "role": t.role, "created_at": t.created_at,
                    "note": t.note, "revoked_at": t.revoked_at,
                }))?;
            }
        }
    }
    Ok(())
}
