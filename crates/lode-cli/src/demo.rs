//! `lode demo`: loads the fictional supply chain of `data/demo/` into a ledger and tells its story.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use lode_query::{AuditOptions, Limits, Verdict};
use lode_store::NewEvent;

use crate::output::rate;
use crate::Failed;

/// The demo ledger's events, built into the binary so that the demo runs from anywhere.
const DEMO_EVENTS: &str = include_str!("../../../data/demo/events.jsonl");

/// The data directory of the demo when `--data-dir` is not given.
pub const DEMO_DATA_DIR: &str = "lode-demo";

/// The clean magnet lot the story follows, and the one with oxide from a covered country.
const CLEAN_MAGNET: &str = "JP-MAG-2025-0001";
const COVERED_MAGNET: &str = "KR-MAG-2025-0001";

/// Prepares the demo's events. An event without an id gets one derived from its line, so that
/// running the demo again on the same directory is an idempotent retry, not a second copy.
pub(crate) fn demo_events() -> anyhow::Result<Vec<NewEvent<lode_domain::Envelope>>> {
    let mut out = Vec::new();
    for (i, line) in DEMO_EVENTS.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let derived_id = || {
            let mut h = blake3::Hasher::new();
            h.update(b"lode demo event\0");
            h.update(&(i as u64).to_be_bytes());
            h.update(line.as_bytes());
            let bytes: [u8; 16] = h.finalize().as_bytes()[..16].try_into().expect("16 of 32 bytes");
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        };
        let ev = lode_projections::prepare_event_with(line.as_bytes(), derived_id)
            .map_err(|e| anyhow::anyhow!("data/demo/events.jsonl line {}: {e}", i + 1))?;
        out.push(ev);
    }
    Ok(out)
}

pub fn run(dir: &Path) -> Result<(), Failed> {
    let events = demo_events()?;
    let n = events.len() as u64;
    let started = std::time::Instant::now();
    let ledger = lode_projections::Ledger::default();
    let store = lode_store::Store::open(dir, lode_store::Options::default(), ledger.clone())
        .with_context(|| format!("opening the ledger in {}", dir.display()))?;
    let out = store.append(events).context("appending the demo events")?;
    if let Some(st) = out.stopped {
        let (code, reason) = crate::append::describe(&st.reason);
        return Err(anyhow::anyhow!(
            "{} does not hold the demo ledger: demo event {} was refused ({code}): {reason}; use an empty --data-dir",
            dir.display(),
            st.index + 1
        )
        .into());
    }
    let appended = out.positions.iter().filter(|p| !p.duplicate).count() as u64;
    let elapsed = started.elapsed();

    let limits = Limits::default();
    let reader = store.reader();
    let (trace, custody, audit, covered) = ledger.read(|s, v| {
        (
            lode_query::trace_back(s, v, CLEAN_MAGNET, &limits),
            lode_query::custody(s, v, CLEAN_MAGNET),
            lode_query::audit(s, v, &reader, CLEAN_MAGNET, &AuditOptions::default()),
            lode_query::audit(s, v, &reader, COVERED_MAGNET, &AuditOptions::default()),
        )
    });
    let head = store.head();
    drop(reader);
    store.close().context("closing the ledger")?;
    let (trace, custody, audit, covered) = (
        trace.context("tracing the demo's magnet lot")?,
        custody.context("the demo magnet lot's custody")?,
        audit.context("auditing the demo's magnet lot")?,
        covered.context("auditing the demo's blended magnet lot")?,
    );
    let verified = lode_store::verify_path(dir, None, |_| {}).context("verifying the demo ledger")?;

    let mut w = BufWriter::new(std::io::stdout().lock());
    let rule = "=".repeat(78);
    writeln!(w, "Lode demo: the chain of custody of rare-earth oxides, from a Vietnamese mine to a")?;
    writeln!(w, "magnet maker in Japan. All companies, people and sites are fictional.")?;
    writeln!(w)?;
    if appended == n {
        writeln!(w, "Loaded {n} events into {} ({} events/s).", dir.display(), rate(n, elapsed))?;
    } else {
        writeln!(w, "{} already held the demo's {n} events ({appended} appended now).", dir.display())?;
    }
    writeln!(w)?;
    writeln!(w, "{rule}\n1. Where did the rare earths in magnet lot {CLEAN_MAGNET} come from?\n{rule}")?;
    crate::query::write_trace_back(&mut w, &trace)?;
    writeln!(w)?;
    writeln!(w, "{rule}\n2. Who held it, and when? Every handover of it and of its ancestors\n{rule}")?;
    crate::query::write_custody(&mut w, &custody)?;
    writeln!(w)?;
    writeln!(w, "{rule}\n3. What is wrong with its record? The audit\n{rule}")?;
    crate::query::write_audit(&mut w, &audit)?;
    writeln!(w)?;
    writeln!(w, "{rule}\n4. For contrast: magnet lot {COVERED_MAGNET}, made with a blend of Chinese oxide\n{rule}")?;
    let stages: Vec<String> =
        covered.stages.iter().filter(|s| s.verdict == Verdict::Covered).map(|s| s.stage.as_str().to_string()).collect();
    writeln!(
        w,
        "Audit: {}. Stages in a covered country (CN, RU, KP, IR): {}. Findings: {}.",
        if covered.passed() { "passed" } else { "not passed" },
        if stages.is_empty() { "none".to_string() } else { stages.join(", ") },
        covered.findings.len()
    )?;
    writeln!(w, "(`lode --data-dir {} audit {COVERED_MAGNET}` shows all of it.)", dir.display())?;
    writeln!(w)?;
    writeln!(w, "{rule}\n5. Can anyone have rewritten it? Verification of every record's hash\n{rule}")?;
    match &verified {
        Ok(report) => writeln!(
            w,
            "ok: {} records, every hash recomputed; head {} at position {}.",
            report.head.seq, report.head.hash, report.head.seq
        )?,
        Err(f) => writeln!(w, "FAILED at {f}")?,
    }
    debug_assert_eq!(verified.as_ref().map(|r| r.head).ok(), Some(head));
    writeln!(w)?;
    writeln!(w, "Explore it further:")?;
    let d = dir.display();
    writeln!(w, "  lode --data-dir {d} trace {CLEAN_MAGNET} --format dot   # the lineage as a graph")?;
    writeln!(w, "  lode --data-dir {d} trace VN-NDPR-2025-0001 --forward   # where a lot went (recall)")?;
    writeln!(w, "  lode --data-dir {d} lots --material magnet              # every magnet lot")?;
    writeln!(w, "  lode --data-dir {d} inventory --format text             # who holds what, where")?;
    writeln!(w, "  lode --data-dir {d} verify                              # verify again")?;
    w.flush()?;
    if verified.is_err() {
        return Err(crate::rejected(anyhow::anyhow!("the demo ledger failed verification")));
    }
    Ok(())
}
