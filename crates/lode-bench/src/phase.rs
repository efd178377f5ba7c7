//! One phase of one system, run in a child process of its own so that its peak memory is its
//! own: the parent re-executes `lode-bench phase …` and reads the JSON object it prints.

use std::path::{Path, PathBuf};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::chain::ChainHead;
use crate::measure::{dir_bytes, peak_rss_kib, peak_rss_kib_of, percentile};
use crate::workload::{load_lots, Input};
use crate::{lode, pg, sqlite};

/// The systems compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum System {
    Lode,
    Sqlite,
    Postgres,
}

impl System {
    pub const ALL: [System; 3] = [System::Lode, System::Sqlite, System::Postgres];

    /// The name used on the command line and in the JSON summary.
    pub fn key(self) -> &'static str {
        match self {
            System::Lode => "lode",
            System::Sqlite => "sqlite",
            System::Postgres => "postgres",
        }
    }

    /// The name printed in the table.
    pub fn label(self) -> &'static str {
        match self {
            System::Lode => "Lode",
            System::Sqlite => "SQLite",
            System::Postgres => "PostgreSQL",
        }
    }
}

/// The phases, each measured on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// The whole history in batches of 1,000, into an empty store; kept for the next phases.
    Import,
    /// Recompute every hash of what the last import wrote.
    Verify,
    /// Read the history of each sampled lot.
    Reads,
    /// The first events of the history, one durable append each, from concurrent writers.
    Single,
    /// Lode only: the work import, verification and lot reads cannot avoid, each alone, over
    /// data already in memory (hashing; decompressing; strict parsing and compressing): the
    /// ceilings of those three figures here.
    Limits,
}

impl Phase {
    pub fn key(self) -> &'static str {
        match self {
            Phase::Import => "import",
            Phase::Verify => "verify",
            Phase::Reads => "reads",
            Phase::Single => "single",
            Phase::Limits => "limits",
        }
    }
}

/// What a child is asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct PhaseArgs {
    #[arg(long, value_enum)]
    pub system: System,
    #[arg(long, value_enum)]
    pub phase: Phase,
    /// The work directory holding the generated events and the systems' data.
    #[arg(long)]
    pub work: PathBuf,
    /// Concurrent writers (single phase).
    #[arg(long, default_value_t = 1)]
    pub writers: usize,
    /// Events appended (single phase).
    #[arg(long, default_value_t = 4000)]
    pub events: usize,
    /// The head the import ended at, which verification must reach: its position...
    #[arg(long, requires = "expect_hash")]
    pub expect_seq: Option<u64>,
    /// ...and its hash, 64 hexadecimal digits.
    #[arg(long, requires = "expect_seq")]
    pub expect_hash: Option<String>,
    /// The PostgreSQL server.
    #[arg(long, env = "LODE_BENCH_PG", hide_env_values = true)]
    pub pg: Option<String>,
}

/// Runs one phase and returns what it measured.
///
/// # Errors
/// Any failure of the system under test, or of the harness: a benchmark that did not do what it
/// says must not print a figure.
pub fn run(args: &PhaseArgs) -> anyhow::Result<Value> {
    let dir = args.work.join(args.system.key());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = match args.phase {
        Phase::Import => import(args, &dir.join("import"))?,
        Phase::Verify => verify(args, &dir.join("import"))?,
        Phase::Reads => reads(args, &dir.join("import"))?,
        Phase::Single => single(args, &dir.join(format!("single-{}", args.writers)))?,
        Phase::Limits => match args.system {
            System::Lode => {
                let input = Input::load(&args.work)?;
                lode::limits(&dir.join("import"), &input.lines(), &load_lots(&args.work)?)?
            }
            _ => bail!("the limits phase measures Lode only"),
        },
    };
    if out.get("peak_rss_kib").is_none() {
        out["peak_rss_kib"] = json!(peak_rss_kib());
    }
    Ok(out)
}

fn pg_url(args: &PhaseArgs) -> anyhow::Result<&str> {
    args.pg.as_deref().context("no PostgreSQL server: set LODE_BENCH_PG or --pg")
}

/// An empty directory at `path`, whatever was there.
fn fresh_dir(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn import(args: &PhaseArgs, dir: &Path) -> anyhow::Result<Value> {
    let input = Input::load(&args.work)?;
    let mut out = match args.system {
        System::Lode => {
            fresh_dir(dir)?;
            let lines = input.lines();
            let imported = lode::import(dir, &lines)?;
            drop(lines);
            let disk = dir_bytes(dir)?;
            let peak = peak_rss_kib();
            let contents = lode::contents(dir)?;
            json!({
                "events": imported.head.seq,
                "seconds": imported.append.as_secs_f64(),
                "events_per_s": rate(imported.head.seq, imported.append),
                "close_seconds": imported.close.as_secs_f64(),
                "disk_bytes": disk,
                "head_seq": imported.head.seq,
                "head_hash": imported.head.hash.to_hex(),
                // Measured before `contents` reopened the store to look inside it.
                "peak_rss_kib": peak,
                "detail": contents,
            })
        }
        System::Sqlite => {
            fresh_dir(dir)?;
            let events = input.sql_events()?;
            let mut conn = sqlite::open(dir)?;
            let settings = sqlite::settings(&conn)?;
            let mut head = sqlite::head(&conn)?;
            let started = Instant::now();
            for batch in events.chunks(lode::BATCH_EVENTS) {
                sqlite::append(&mut conn, &mut head, batch)?;
            }
            let append = started.elapsed();
            let started = Instant::now();
            sqlite::checkpoint(&conn)?;
            conn.close().map_err(|(_, e)| e).context("closing the database")?;
            let close = started.elapsed();
            json!({
                "events": head.seq,
                "seconds": append.as_secs_f64(),
                "events_per_s": rate(head.seq, append),
                "close_seconds": close.as_secs_f64(),
                "disk_bytes": dir_bytes(dir)?,
                "head_seq": head.seq,
                "head_hash": hex(&head.hash),
                "detail": settings,
            })
        }
        System::Postgres => {
            let events = input.sql_events()?;
            let mut client = pg::connect(pg_url(args)?, pg::SCHEMA_IMPORT)?;
            pg::reset(&mut client, pg::SCHEMA_IMPORT)?;
            let settings = pg::settings(&mut client)?;
            let backend = pg::backend_pid(&mut client)?;
            let prepared = pg::Prepared::new(&mut client)?;
            let mut head = pg::head(&mut client)?;
            let wal_from = pg::wal_position(&mut client)?;
            let started = Instant::now();
            for batch in events.chunks(lode::BATCH_EVENTS) {
                pg::append_batch(&mut client, &prepared, &mut head, batch)?;
            }
            let append = started.elapsed();
            let wal = pg::wal_bytes_since(&mut client, &wal_from)?;
            // Statistics for the planner, as one runs after a bulk load: the read phase's plans
            // depend on them.
            let started = Instant::now();
            client.batch_execute("ANALYZE events; ANALYZE event_lots;")?;
            let close = started.elapsed();
            let (disk, parts) = pg::relation_bytes(&mut client)?;
            json!({
                "events": head.seq,
                "seconds": append.as_secs_f64(),
                "events_per_s": rate(head.seq, append),
                "close_seconds": close.as_secs_f64(),
                "disk_bytes": disk,
                "wal_bytes": wal,
                "head_seq": head.seq,
                "head_hash": hex(&head.hash),
                "backend_peak_rss_kib": peak_rss_kib_of(backend),
                "detail": { "settings": settings, "relations": parts },
            })
        }
    };
    let events = out["events"].as_u64().unwrap_or(0);
    if events > 0 {
        out["bytes_per_event"] = json!(out["disk_bytes"].as_u64().unwrap_or(0) as f64 / events as f64);
    }
    Ok(out)
}

fn expected_head(args: &PhaseArgs) -> anyhow::Result<Option<(u64, [u8; 32])>> {
    match (args.expect_seq, &args.expect_hash) {
        (Some(seq), Some(hex)) => {
            let hash = lode_store::Hash::from_hex(hex).with_context(|| format!("--expect-hash {hex:?}"))?;
            Ok(Some((seq, hash.0)))
        }
        _ => Ok(None),
    }
}

fn verify(args: &PhaseArgs, dir: &Path) -> anyhow::Result<Value> {
    let expect = expected_head(args)?;
    let (events, elapsed) = match args.system {
        System::Lode => lode::verify(dir, expect)?,
        System::Sqlite => {
            let conn = sqlite::open(dir)?;
            let started = Instant::now();
            let head = sqlite::verify(&conn, expect)?.map_err(|f| anyhow::anyhow!("verification failed at {f}"))?;
            (head.seq, started.elapsed())
        }
        System::Postgres => {
            let mut client = pg::connect(pg_url(args)?, pg::SCHEMA_IMPORT)?;
            let started = Instant::now();
            let head = pg::verify(&mut client, expect)?.map_err(|f| anyhow::anyhow!("verification failed at {f}"))?;
            (head.seq, started.elapsed())
        }
    };
    Ok(json!({ "events": events, "seconds": elapsed.as_secs_f64(), "events_per_s": rate(events, elapsed) }))
}

fn reads(args: &PhaseArgs, dir: &Path) -> anyhow::Result<Value> {
    let lots = load_lots(&args.work)?;
    if lots.is_empty() {
        bail!("no lots to read: the history names none");
    }
    let (records, latencies) = match args.system {
        System::Lode => lode::reads(dir, &lots)?,
        System::Sqlite => {
            let conn = sqlite::open(dir)?;
            let mut stmt = conn.prepare(sqlite::SELECT_LOT)?;
            let mut records = 0u64;
            let mut latencies = Vec::with_capacity(lots.len());
            for lot in &lots {
                let started = Instant::now();
                let history = sqlite::read_lot(&mut stmt, lot)?;
                latencies.push(started.elapsed());
                records += std::hint::black_box(history).len() as u64;
            }
            (records, latencies)
        }
        System::Postgres => {
            let mut client = pg::connect(pg_url(args)?, pg::SCHEMA_IMPORT)?;
            let stmt = client.prepare(pg::SELECT_LOT)?;
            let mut records = 0u64;
            let mut latencies = Vec::with_capacity(lots.len());
            for lot in &lots {
                let started = Instant::now();
                let history = pg::read_lot(&mut client, &stmt, lot)?;
                latencies.push(started.elapsed());
                records += std::hint::black_box(history).len() as u64;
            }
            (records, latencies)
        }
    };
    let total: Duration = latencies.iter().sum();
    let mut us: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    Ok(json!({
        "lots": lots.len(),
        "records": records,
        "seconds": total.as_secs_f64(),
        "lots_per_s": lots.len() as f64 / total.as_secs_f64(),
        "p50_us": percentile(&us, 50.0),
        "p99_us": percentile(&us, 99.0),
    }))
}

fn single(args: &PhaseArgs, dir: &Path) -> anyhow::Result<Value> {
    if args.writers == 0 {
        bail!("--writers must be at least 1");
    }
    let input = Input::load(&args.work)?;
    let elapsed = match args.system {
        System::Lode => {
            fresh_dir(dir)?;
            let lines = input.lines();
            let elapsed = lode::single(dir, &lines, args.writers, args.events)?;
            std::fs::remove_dir_all(dir)?;
            elapsed
        }
        System::Sqlite => {
            fresh_dir(dir)?;
            let events = input.sql_events()?;
            let events = &events[..args.events.min(events.len())];
            let conns = (0..args.writers).map(|_| sqlite::open(dir)).collect::<anyhow::Result<Vec<_>>>()?;
            let head = sqlite::head(&conns[0])?;
            let elapsed = serialised_appends(conns, head, events.len(), |conn, head, i| {
                sqlite::append(conn, head, &events[i..=i])
            })?;
            let check = sqlite::open(dir)?;
            let (rows, head) = (sqlite::count(&check)?, sqlite::head(&check)?);
            if rows != events.len() as u64 || head.seq != rows {
                bail!("the table holds {rows} rows (head {}) after {} single appends", head.seq, events.len());
            }
            drop(check);
            std::fs::remove_dir_all(dir)?;
            elapsed
        }
        System::Postgres => {
            let events = input.sql_events()?;
            let events = &events[..args.events.min(events.len())];
            let url = pg_url(args)?;
            let mut admin = pg::connect(url, pg::SCHEMA_SINGLE)?;
            pg::reset(&mut admin, pg::SCHEMA_SINGLE)?;
            let conns = (0..args.writers)
                .map(|_| {
                    let mut c = pg::connect(url, pg::SCHEMA_SINGLE)?;
                    let p = pg::Prepared::new(&mut c)?;
                    Ok((c, p))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let head = pg::head(&mut admin)?;
            let elapsed = serialised_appends(conns, head, events.len(), |(client, prepared), head, i| {
                pg::append_one(client, prepared, head, &events[i])
            })?;
            let head = pg::head(&mut admin)?;
            if head.seq != events.len() as u64 {
                bail!("the table's head is row {} after {} single appends", head.seq, events.len());
            }
            elapsed
        }
    };
    let events = args.events.min(input.lines().len()) as u64;
    Ok(json!({
        "writers": args.writers,
        "events": events,
        "seconds": elapsed.as_secs_f64(),
        "events_per_s": rate(events, elapsed),
    }))
}

/// Single-event appends to a SQL chain from one connection per writer.
///
/// Each append must chain to the row committed before it, so a writer holds the chain head
/// from before its insert until after its commit: appends to one chain are serialised, whatever
/// the number of connections. (A writer that released the head before committing could see a
/// later row committed on top of its own row that then fails: a broken chain.) The head moves
/// only after a commit succeeded.
fn serialised_appends<C: Send>(
    conns: Vec<C>,
    head: ChainHead,
    events: usize,
    append: impl Fn(&mut C, &mut ChainHead, usize) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<Duration> {
    let shared = Mutex::new((head, 0usize));
    let start = Barrier::new(conns.len() + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let (shared, start, append) = (&shared, &start, &append);
                s.spawn(move || -> anyhow::Result<()> {
                    start.wait();
                    loop {
                        let mut guard = shared.lock().expect("no writer panics holding it");
                        let (head, next) = &mut *guard;
                        if *next >= events {
                            return Ok(());
                        }
                        append(&mut conn, head, *next)?;
                        *next += 1;
                    }
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(started.elapsed())
    })
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
