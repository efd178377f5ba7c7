//! The whole comparison: generate the history once, run every phase of every system in child
//! processes, several rounds each, then print the table and the JSON summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::measure::{load_average, machine, median};
use crate::phase::{Phase, System};
use crate::{pg, workload};

/// Options of the comparison.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// Mine lots in the generated history (about 33 events each), as `lode generate --lots`.
    #[arg(long, default_value_t = 3000)]
    pub lots: usize,
    /// The generator's seed, as `lode generate --seed`.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Rounds of every phase; the table shows the median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=99))]
    pub runs: u64,
    /// Events appended one at a time in each single-event run (the history's first ones).
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..))]
    pub single_events: u64,
    /// Concurrent writers of the single-event phases.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub writers: Vec<usize>,
    /// Lots whose history the read phase reads, drawn at random from the history.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub reads: u64,
    /// The systems to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "lode,sqlite,postgres")]
    pub systems: Vec<System>,
    /// The PostgreSQL server (postgres://…). Without one, PostgreSQL is skipped and the table
    /// says so; `crates/lode-bench/run.sh` starts a throwaway server.
    #[arg(long, env = "LODE_BENCH_PG", hide_env_values = true)]
    pub pg: Option<String>,
    /// Also write the JSON summary to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Work here (events and the systems' data, kept afterwards) instead of a temporary
    /// directory that is removed at the end. Put it on the disk you mean to measure.
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
}

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// One row of the table.
#[derive(Debug)]
struct Metric {
    key: String,
    label: String,
    unit: &'static str,
    better: Better,
    /// The median per system, for the systems that have the figure.
    values: BTreeMap<&'static str, f64>,
    /// The lowest and highest run per system: on a shared machine the spread matters.
    ranges: BTreeMap<&'static str, (f64, f64)>,
    /// For a ceiling, which only Lode has: the peers' figures of the row it bounds, which its
    /// ratio is taken against (how far the aim could go if everything else were free).
    bounds: BTreeMap<&'static str, f64>,
}

/// Each ceiling row, and the row whose figure it bounds.
const CEILINGS: [(&str, &str); 6] = [
    ("import_ceiling_events_per_s", "import_events_per_s"),
    ("verify_ceiling_events_per_s", "verify_events_per_s"),
    ("verify_work_ceiling_events_per_s", "verify_events_per_s"),
    ("verify_format_ceiling_events_per_s", "verify_events_per_s"),
    ("reads_ceiling_lots_per_s", "reads_lots_per_s"),
    ("reads_sled_ceiling_lots_per_s", "reads_lots_per_s"),
];

/// Every child's output, by system, then phase (`import`, `single-8` …), one per run.
type Results = BTreeMap<&'static str, BTreeMap<String, Vec<Value>>>;

/// Runs the comparison, prints the table and the JSON summary, and returns the summary.
///
/// # Errors
/// A failure of any system or phase: the comparison stops rather than print figures of a run
/// that did not do what it says.
pub fn run(args: &CompareArgs) -> anyhow::Result<Value> {
    let started_at = chrono::Utc::now();
    let load_start = load_average();
    let temp;
    let work: PathBuf = match &args.work {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("lode-bench-").tempdir().context("creating a work directory")?;
            temp.path().to_owned()
        }
    };
    let reads = usize::try_from(args.reads).unwrap_or(usize::MAX);
    eprintln!("lode-bench: generating {} mine lots (seed {}) into {}", args.lots, args.seed, work.display());
    let generated = workload::write(&work, args.lots, args.seed, reads)?;
    eprintln!(
        "lode-bench: {} events, {} lots; {} drawn for reads",
        generated.events, generated.lots, generated.sampled
    );

    let mut systems = Vec::new();
    let mut status: BTreeMap<&'static str, Value> = BTreeMap::new();
    for s in System::ALL.into_iter().filter(|s| args.systems.contains(s)) {
        if s != System::Postgres {
            systems.push(s);
            status.insert(s.key(), json!({ "status": "measured" }));
            continue;
        }
        match &args.pg {
            None => {
                status.insert(s.key(), json!({ "status": "skipped", "reason": "no server given: set LODE_BENCH_PG=postgres://… or pass --pg (crates/lode-bench/run.sh starts a throwaway one)" }));
            }
            Some(url) => match pg::probe(url) {
                Ok(version) => {
                    systems.push(s);
                    status.insert(s.key(), json!({ "status": "measured", "server_version": version }));
                }
                Err(e) => {
                    status.insert(s.key(), json!({ "status": "skipped", "reason": format!("{e:#}") }));
                }
            },
        }
    }
    if systems.is_empty() {
        bail!("no system to measure");
    }

    // The physical limit of a durable single-event append, taken at the start, before the
    // single-event phases and at the end: on a shared disk it moves, and says how much.
    let mut fsync_us = vec![("start", fsync_latency_us(&work)?)];

    let mut results: Results = BTreeMap::new();
    let runner = Runner { work: &work, pg: args.pg.as_deref() };
    let mut record =
        |s: System, key: String, v: Value| results.entry(s.key()).or_default().entry(key).or_default().push(v);

    // Rounds interleave the systems, so that a burst of other work on a shared machine falls on
    // all of them rather than on one.
    let mut heads: BTreeMap<&'static str, (u64, String)> = BTreeMap::new();
    for run in 0..args.runs {
        for &s in &systems {
            eprintln!("lode-bench: import, {} (run {}/{})", s.label(), run + 1, args.runs);
            let v = runner.phase(s, Phase::Import, &[])?;
            if v["events"].as_u64() != Some(generated.events) {
                bail!("{} imported {} events of {}", s.label(), v["events"], generated.events);
            }
            let head = (v["head_seq"].as_u64().unwrap_or(0), v["head_hash"].as_str().unwrap_or("").to_string());
            heads.insert(s.key(), head);
            record(s, "import".into(), v);
        }
    }
    for run in 0..args.runs {
        for &s in &systems {
            eprintln!("lode-bench: verify, {} (run {}/{})", s.label(), run + 1, args.runs);
            let (seq, hash) = &heads[s.key()];
            let extra = ["--expect-seq".to_string(), seq.to_string(), "--expect-hash".into(), hash.clone()];
            record(s, "verify".into(), runner.phase(s, Phase::Verify, &extra)?);
        }
    }
    for run in 0..args.runs {
        for &s in &systems {
            eprintln!("lode-bench: reads, {} (run {}/{})", s.label(), run + 1, args.runs);
            record(s, "reads".into(), runner.phase(s, Phase::Reads, &[])?);
        }
    }
    if systems.contains(&System::Lode) {
        for run in 0..args.runs {
            eprintln!("lode-bench: ceilings, Lode (run {}/{})", run + 1, args.runs);
            record(System::Lode, "limits".into(), runner.phase(System::Lode, Phase::Limits, &[])?);
        }
    }
    fsync_us.push(("before single-event appends", fsync_latency_us(&work)?));
    for &w in &args.writers {
        for run in 0..args.runs {
            for &s in &systems {
                eprintln!(
                    "lode-bench: single-event appends, {w} writers, {} (run {}/{})",
                    s.label(),
                    run + 1,
                    args.runs
                );
                let extra = ["--writers".to_string(), w.to_string(), "--events".into(), args.single_events.to_string()];
                record(s, format!("single-{w}"), runner.phase(s, Phase::Single, &extra)?);
            }
        }
    }

    fsync_us.push(("end", fsync_latency_us(&work)?));

    let metrics = metrics(&results, &args.writers);
    let notes = notes(&results, &status);
    let load_end = load_average();
    let summary = json!({
        "date": started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "machine": {
            "host": machine(),
            "load_average_1m_start": load_start,
            "load_average_1m_end": load_end,
            "fsync_512_bytes_median_us": fsync_us.iter().map(|(when, us)| json!({ "when": when, "us": us })).collect::<Vec<_>>(),
        },
        "workload": {
            "generator": "lode_domain::scenario::generate, as `lode generate`",
            "mine_lots": args.lots,
            "seed": args.seed,
            "events": generated.events,
            "event_bytes_mean": generated.event_bytes as f64 / generated.events.max(1) as f64,
            "distinct_lots": generated.lots,
            "batch_events": crate::lode::BATCH_EVENTS,
            "single_events": args.single_events,
            "writers": args.writers,
            "read_lots": generated.sampled,
            "runs": args.runs,
        },
        "systems": status,
        "metrics": metrics.iter().map(metric_json).collect::<Vec<_>>(),
        "notes": notes,
        "runs": results,
    });
    print_table(&summary, &metrics, &systems, &status, &notes);
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary)
}

/// The median time of `fdatasync` after a 512-byte append to a file in `dir`, in µs: what one
/// durable commit costs at least on this disk, now.
fn fsync_latency_us(dir: &Path) -> anyhow::Result<f64> {
    use std::io::Write;
    const SAMPLES: usize = 200;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut us = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        file.write_all(&[0u8; 512])?;
        let started = std::time::Instant::now();
        file.sync_data()?;
        us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(median(&us).expect("SAMPLES > 0"))
}

/// Starts child processes: this same executable, `lode-bench phase …`.
struct Runner<'a> {
    work: &'a Path,
    pg: Option<&'a str>,
}

impl Runner<'_> {
    fn phase(&self, system: System, phase: Phase, extra: &[String]) -> anyhow::Result<Value> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let mut cmd = Command::new(exe);
        cmd.args(["phase", "--system", system.key(), "--phase", phase.key(), "--work"])
            .arg(self.work)
            .args(extra)
            .env_remove("LODE_BENCH_PG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // The URL may hold a password: it goes through the environment, not the arguments.
        if let Some(url) = self.pg {
            cmd.env("LODE_BENCH_PG", url);
        }
        let out = cmd.output().context("starting a phase")?;
        if !out.status.success() {
            bail!("{} {} failed ({})", system.label(), phase.key(), out.status);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).with_context(|| format!("{} {} printed {last:?}", system.label(), phase.key()))
    }
}

/// The figures of one field of one phase, one per run.
fn samples(results: &Results, system: &str, phase: &str, field: &str) -> Vec<f64> {
    results
        .get(system)
        .and_then(|p| p.get(phase))
        .map(|runs| runs.iter().filter_map(|v| v[field].as_f64()).collect())
        .unwrap_or_default()
}

fn metrics(results: &Results, writers: &[usize]) -> Vec<Metric> {
    // (key, label, unit, better, phase, field, scale)
    let mut defs: Vec<(String, String, &'static str, Better, String, &'static str, f64)> = vec![
        (
            "import_events_per_s".into(),
            "batched import, 1,000 per batch".into(),
            "events/s",
            Better::Higher,
            "import".into(),
            "events_per_s",
            1.0,
        ),
        (
            "import_ceiling_events_per_s".into(),
            "  its ceiling: parse, hash, compress alone, 2 threads".into(),
            "events/s",
            Better::Higher,
            "limits".into(),
            "import_work_events_per_s",
            1.0,
        ),
    ];
    for &w in writers {
        defs.push((
            format!("single_{w}_events_per_s"),
            format!("single-event durable appends, {w} writer{}", if w == 1 { "" } else { "s" }),
            "events/s",
            Better::Higher,
            format!("single-{w}"),
            "events_per_s",
            1.0,
        ));
    }
    defs.extend([
        (
            "verify_events_per_s".into(),
            "full verification".into(),
            "events/s",
            Better::Higher,
            "verify".into(),
            "events_per_s",
            1.0,
        ),
        (
            "verify_ceiling_events_per_s".into(),
            "  its ceiling: BLAKE3 of the records alone, 2 threads".into(),
            "events/s",
            Better::Higher,
            "limits".into(),
            "hash_events_per_s",
            1.0,
        ),
        (
            "verify_work_ceiling_events_per_s".into(),
            "  its ceiling: decompress and hash alone, 2 threads".into(),
            "events/s",
            Better::Higher,
            "limits".into(),
            "verify_work_events_per_s",
            1.0,
        ),
        (
            "verify_format_ceiling_events_per_s".into(),
            "  its ceiling: decompress, hash, parse headers alone, 2 threads".into(),
            "events/s",
            Better::Higher,
            "limits".into(),
            "verify_format_events_per_s",
            1.0,
        ),
        (
            "reads_lots_per_s".into(),
            "a lot's history by lot id".into(),
            "lots/s",
            Better::Higher,
            "reads".into(),
            "lots_per_s",
            1.0,
        ),
        (
            "reads_ceiling_lots_per_s".into(),
            "  its ceiling: decompression alone".into(),
            "lots/s",
            Better::Higher,
            "limits".into(),
            "read_decompress_lots_per_s",
            1.0,
        ),
        (
            "reads_sled_ceiling_lots_per_s".into(),
            "  its ceiling: sled's lookup (cold) and decompression alone".into(),
            "lots/s",
            Better::Higher,
            "limits".into(),
            "read_sled_lots_per_s",
            1.0,
        ),
        ("reads_p50_us".into(), "  latency p50".into(), "µs", Better::Lower, "reads".into(), "p50_us", 1.0),
        ("reads_p99_us".into(), "  latency p99".into(), "µs", Better::Lower, "reads".into(), "p99_us", 1.0),
        (
            "disk_bytes_per_event".into(),
            "disk after import".into(),
            "bytes/event",
            Better::Lower,
            "import".into(),
            "bytes_per_event",
            1.0,
        ),
        (
            "close_seconds".into(),
            "closing after import".into(),
            "s",
            Better::Lower,
            "import".into(),
            "close_seconds",
            1.0,
        ),
        (
            "import_peak_mib".into(),
            "peak memory, import".into(),
            "MiB",
            Better::Lower,
            "import".into(),
            "peak_rss_kib",
            1.0 / 1024.0,
        ),
        (
            "verify_peak_mib".into(),
            "peak memory, verification".into(),
            "MiB",
            Better::Lower,
            "verify".into(),
            "peak_rss_kib",
            1.0 / 1024.0,
        ),
        (
            "reads_peak_mib".into(),
            "peak memory, reads".into(),
            "MiB",
            Better::Lower,
            "reads".into(),
            "peak_rss_kib",
            1.0 / 1024.0,
        ),
        (
            "pg_wal_bytes_per_event".into(),
            "WAL written by the import (not in disk)".into(),
            "bytes/event",
            Better::Lower,
            "import".into(),
            "wal_bytes_per_event",
            1.0,
        ),
        (
            "pg_backend_peak_mib".into(),
            "server backend's peak memory, import".into(),
            "MiB",
            Better::Lower,
            "import".into(),
            "backend_peak_rss_kib",
            1.0 / 1024.0,
        ),
    ]);
    let mut out = defs
        .into_iter()
        .map(|(key, label, unit, better, phase, field, scale)| {
            let (mut values, mut ranges) = (BTreeMap::new(), BTreeMap::new());
            for s in System::ALL {
                let mut v = samples(results, s.key(), &phase, field);
                if field == "wal_bytes_per_event" {
                    // Derived here from the two figures the child reports.
                    let wal = samples(results, s.key(), &phase, "wal_bytes");
                    let events = samples(results, s.key(), &phase, "events");
                    v = wal.iter().zip(&events).filter(|(_, e)| **e > 0.0).map(|(w, e)| w / e).collect();
                }
                if let Some(m) = median(&v) {
                    values.insert(s.key(), m * scale);
                    let (lo, hi) =
                        v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
                    ranges.insert(s.key(), (lo * scale, hi * scale));
                }
            }
            Metric { key, label, unit, better, values, ranges, bounds: BTreeMap::new() }
        })
        .filter(|m| !m.values.is_empty())
        .collect::<Vec<_>>();
    for (ceiling, figure) in CEILINGS {
        let peers: BTreeMap<_, _> = out
            .iter()
            .find(|m| m.key == figure)
            .map(|m| m.values.iter().filter(|(s, _)| **s != "lode").map(|(s, v)| (*s, *v)).collect())
            .unwrap_or_default();
        if let Some(m) = out.iter_mut().find(|m| m.key == ceiling) {
            m.bounds = peers;
        }
    }
    out
}

/// Lode's figure divided by the best peer's, when both exist; for a ceiling, divided by the best
/// peer's figure of the row it bounds.
fn ratio(m: &Metric) -> Option<f64> {
    let lode = *m.values.get("lode")?;
    let peers = m.values.iter().chain(&m.bounds).filter(|(k, _)| **k != "lode").map(|(_, v)| *v);
    let best = match m.better {
        Better::Higher => peers.fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v)))),
        Better::Lower => peers.fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.min(v)))),
    }?;
    (best > 0.0).then(|| lode / best)
}

fn metric_json(m: &Metric) -> Value {
    json!({
        "key": m.key,
        "label": m.label.trim(),
        "unit": m.unit,
        "better": match m.better { Better::Higher => "higher", Better::Lower => "lower" },
        "values": m.values,
        "min_max": m.ranges.iter().map(|(k, (lo, hi))| (*k, json!([lo, hi]))).collect::<BTreeMap<_, _>>(),
        "lode_vs_best_peer": ratio(m),
    })
}

fn notes(results: &Results, status: &BTreeMap<&'static str, Value>) -> Vec<String> {
    let mut notes = vec![
        "The SQL peers check only the hash chain and the uniqueness of seq and event id, not Lode's custody rules. \
         Lode's figures include strict parsing of every event and every rule (decide, apply, projections); \
         the peers get each event's id and lots ready-made."
            .to_string(),
        "Single-event appends to a SQL chain are serialised on the chain head (each must chain to the row committed \
         before it), so more writers do not share commits there; Lode's writer gathers concurrent requests into one \
         group commit."
            .to_string(),
        "Verification: Lode's verify_store also checks its index segments and recomputes the Merkle tree against \
         every stored node; the SQL verifiers recompute the chain over all rows."
            .to_string(),
        "Peak memory is each phase's own process (VmHWM), input held in memory included (the whole events file, \
         as `lode append` holds it)."
            .to_string(),
    ];
    if let Some(detail) = results.get("lode").and_then(|p| p.get("import")).and_then(|r| r.last()).map(|v| &v["detail"])
    {
        let events = results["lode"]["import"].last().and_then(|v| v["events"].as_f64()).unwrap_or(0.0).max(1.0);
        let per = |v: &Value| v.as_f64().unwrap_or(0.0) / events;
        let stored = &detail["stored"];
        notes.push(format!(
            "Lode's disk figure is its whole data directory. Per event: records {:.0} bytes, kept in compressed \
             blocks as {:.0}; index segments {:.0}; Merkle node pages {:.0}; the persisted projections {:.0} bytes, \
             kept compressed as {:.0}; compression dictionaries {:.2}; the rest is sled's overhead and superseded \
             versions. The SQL figures hold the chain table and the lot index only.",
            per(&detail["record_bytes"]),
            per(&stored["blocks"]),
            per(&stored["index_segments"]),
            per(&stored["merkle_node_pages"]),
            per(&detail["projection_page_bytes"]),
            per(&stored["projection_pages"]),
            per(&stored["dictionaries"]),
        ));
    }
    if status.get("postgres").is_some_and(|s| s["status"] == "measured") {
        notes.push(
            "PostgreSQL: disk is the relations' size with indexes and TOAST; the WAL its import wrote is shown \
             apart. Its peak memory is the client's; the server backend's (shared buffers it touched included) \
             is shown apart."
                .to_string(),
        );
    }
    notes
}

fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "µs" if v < 100.0 => format!("{v:.1}"),
        "s" => format!("{v:.2}"),
        _ => thousands(v.round() as u64),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_table(
    summary: &Value,
    metrics: &[Metric],
    systems: &[System],
    status: &BTreeMap<&'static str, Value>,
    notes: &[String],
) {
    let w = &summary["workload"];
    println!(
        "Lode beside a hash-chained append-only table in SQLite and PostgreSQL: {} events ({} mine lots, seed {}), \
         median of {} runs, {}",
        w["events"],
        w["mine_lots"],
        w["seed"],
        w["runs"],
        summary["date"].as_str().unwrap_or("")
    );
    let m = &summary["machine"];
    println!(
        "machine: {} cpus, {} GiB, Linux {}; load average {} at the start, {} at the end",
        m["host"]["cpus"],
        m["host"]["memory_gib"],
        m["host"]["kernel"].as_str().unwrap_or("?"),
        m["load_average_1m_start"],
        m["load_average_1m_end"]
    );
    let fsyncs: Vec<String> = m["fsync_512_bytes_median_us"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| format!("{:.0} µs ({})", f["us"].as_f64().unwrap_or(0.0), f["when"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    println!("fsync of a 512-byte write in the work directory, median: {}", fsyncs.join(", "));
    for s in System::ALL {
        if let Some(st) = status.get(s.key()) {
            if st["status"] == "skipped" {
                println!("{} skipped: {}", s.label(), st["reason"].as_str().unwrap_or(""));
            }
        }
    }
    println!();
    let label_width = metrics.iter().map(|m| m.label.chars().count() + m.unit.chars().count() + 3).max().unwrap_or(20);
    let mut header = format!("{:<label_width$}  {:<6}", "figure", "better");
    for s in systems {
        header += &format!("  {:>12}", s.label());
    }
    header += "  Lode ÷ best peer";
    println!("{header}");
    println!("{}", "-".repeat(header.chars().count()));
    for m in metrics {
        let mut line = format!(
            "{:<label_width$}  {:<6}",
            format!("{} ({})", m.label, m.unit),
            match m.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            }
        );
        for s in systems {
            let v = m.values.get(s.key()).map_or_else(|| "—".to_string(), |v| format_value(*v, m.unit));
            line += &format!("  {v:>12}");
        }
        line += &match ratio(m) {
            Some(r) => format!("  {r:.2}×"),
            None => "  —".to_string(),
        };
        println!("{line}");
    }
    // The widest spread between runs says at a glance how far to trust the medians.
    let widest = metrics
        .iter()
        .flat_map(|m| m.ranges.iter().map(move |(s, r)| (m, *s, *r)))
        .filter(|(_, _, (lo, _))| *lo > 0.0)
        .max_by(|a, b| (a.2 .1 / a.2 .0).total_cmp(&(b.2 .1 / b.2 .0)));
    if let Some((m, s, (lo, hi))) = widest {
        println!(
            "widest spread between runs: {} ({}), {}: {} to {} (every run's figures are in the JSON)",
            m.label.trim(),
            m.unit,
            s,
            format_value(lo, m.unit),
            format_value(hi, m.unit)
        );
    }
    println!();
    for n in notes {
        println!("- {n}");
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_takes_the_best_peer_in_the_right_direction() {
        let m = |better, lode, a, b| Metric {
            key: String::new(),
            label: String::new(),
            unit: "",
            better,
            values: BTreeMap::from([("lode", lode), ("sqlite", a), ("postgres", b)]),
            ranges: BTreeMap::new(),
            bounds: BTreeMap::new(),
        };
        assert_eq!(ratio(&m(Better::Higher, 200.0, 100.0, 50.0)), Some(2.0));
        assert_eq!(ratio(&m(Better::Lower, 200.0, 100.0, 50.0)), Some(4.0));
        let lode_only = Metric { values: BTreeMap::from([("lode", 1.0)]), ..m(Better::Higher, 0.0, 0.0, 0.0) };
        assert_eq!(ratio(&lode_only), None);
        // A ceiling is compared with the peers of the row it bounds.
        let ceiling = Metric {
            values: BTreeMap::from([("lode", 300.0)]),
            bounds: BTreeMap::from([("sqlite", 100.0), ("postgres", 60.0)]),
            ..m(Better::Higher, 0.0, 0.0, 0.0)
        };
        assert_eq!(ratio(&ceiling), Some(3.0));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
