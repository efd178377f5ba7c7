//! The ledger with all its rules: `cargo bench -p lode-projections --bench ledger`.
//!
//! Appends a generated history (`LODE_BENCH_LOTS` mine lots, default 30,000: about 1M events)
//! through the real path — strict parsing, the rules inside the writer, group commit with fsync —
//! then rebuilds every projection from the log, and prints events/s for both and the process's
//! peak memory.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use lode_domain::scenario::{generate, ScenarioOptions};
use lode_projections::{prepare_event, Ledger};
use lode_store::{Options, Store};

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn breakdown(lots: usize) {
    use lode_domain::{replay, Context, State};
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("constant").to_utc();
    let lines: Vec<String> = generate(&ScenarioOptions { mine_lots: lots, seed: 42, start }).collect();
    let t = Instant::now();
    let envs: Vec<_> = lines.iter().map(|l| lode_domain::parse_event(l.as_bytes()).expect("parse")).collect();
    println!("parse: {:.0}/s", envs.len() as f64 / t.elapsed().as_secs_f64());
    let ctxs: Vec<Context> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| Context { event_id: e.id().expect("id"), seq: i as u64 + 1, recorded_at: start })
        .collect();
    let t = Instant::now();
    let mut state = State::default();
    let mut acc = Vec::new();
    for (e, c) in envs.iter().zip(&ctxs) {
        acc.push(replay(&mut state, e, c));
    }
    println!("replay: {:.0}/s", envs.len() as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut state = State::default();
    let mut views = lode_projections::view::Views::default();
    for (e, c) in envs.iter().zip(&ctxs) {
        let a = replay(&mut state, e, c);
        views.apply(&state, e, &a, c);
    }
    println!("replay+views: {:.0}/s", envs.len() as f64 / t.elapsed().as_secs_f64());
    eprintln!("rss with state+views {:.0} MiB (lines and envelopes held too)", status_mib("VmRSS:"));
    let t = Instant::now();
    let n = state.take_dirty().len() + views.take_dirty().len();
    println!("take_dirty: {n} keys in {:?}", t.elapsed());
    eprintln!("rss after take_dirty {:.0} MiB", status_mib("VmRSS:"));
    drop(envs);
    drop(lines);
    drop(acc);
    eprintln!("rss without lines and envelopes {:.0} MiB", status_mib("VmRSS:"));
    let mut sizes = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for k in state.entity_keys() {
        let b = state.entity_bytes(&k).map_or(0, |v| v.len());
        let e = sizes.entry(format!("state {}", k.to_string().split(' ').next().unwrap_or(""))).or_default();
        e.0 += 1;
        e.1 += b;
    }
    for k in views.entity_keys() {
        let b = views.entity_bytes(&state, &k).map_or(0, |v| v.len());
        let e = sizes.entry(format!("view {}", k.to_string().split(' ').next().unwrap_or(""))).or_default();
        e.0 += 1;
        e.1 += b;
    }
    for (k, (n, b)) in sizes {
        eprintln!("{k}: {n} entities, {} MiB serialized", b / (1 << 20));
    }
}

fn main() {
    if let Ok(l) = std::env::var("LODE_BENCH_BREAKDOWN") {
        breakdown(l.parse().expect("lots"));
        return;
    }
    let lots: usize = std::env::var("LODE_BENCH_LOTS").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("constant").to_utc();
    let opts = ScenarioOptions { mine_lots: lots, seed: 42, start };
    let dir = tempfile::tempdir().expect("tempdir");

    // Append: a parser thread feeds batches of 1,000 to a pipeline with three in flight, as
    // `lode append` does.
    let t = Instant::now();
    let store = Store::open(dir.path(), Options::default(), Ledger::default()).expect("open");
    let (tx, rx) = mpsc::sync_channel(4);
    let producer = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(1000);
        for line in generate(&opts) {
            batch.push(prepare_event(line.as_bytes()).expect("generated events parse"));
            if batch.len() == 1000 && tx.send(std::mem::take(&mut batch)).is_err() {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
    });
    let pipeline = store.pipeline();
    let mut in_flight = VecDeque::new();
    for batch in rx {
        in_flight.push_back(pipeline.submit(batch).expect("submit"));
        if in_flight.len() > 3 {
            let out = in_flight.pop_front().expect("non-empty").wait().expect("append");
            assert!(out.stopped.is_none(), "a generated event was rejected: {:?}", out.stopped);
        }
    }
    for ticket in in_flight {
        assert!(ticket.wait().expect("append").stopped.is_none());
    }
    producer.join().expect("producer");
    let events = store.head().seq;
    let append_s = t.elapsed().as_secs_f64();
    eprintln!("rss after append {:.0} MiB, peak {:.0}", status_mib("VmRSS:"), peak_rss_mib());
    let t = Instant::now();
    store.close().expect("close");
    let close_s = t.elapsed().as_secs_f64();
    println!("ledger benchmark: {events} generated events ({lots} mine lots), all rules, fsync on");
    println!("append with all rules:  {:>9.0} events/s ({append_s:.2} s)", events as f64 / append_s);
    println!("close (final checkpoint): {close_s:>7.2} s");

    let t = Instant::now();
    let ledger = Ledger::default();
    let store = Store::open(dir.path(), Options::default(), ledger.clone()).expect("reopen");
    println!("reopen (restore, no replay): {:>6.2} s", t.elapsed().as_secs_f64());
    eprintln!("rss after reopen {:.0} MiB, peak {:.0}", status_mib("VmRSS:"), peak_rss_mib());
    let live = ledger.digest();
    drop(store);

    let mut rates = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let ledger = Ledger::default();
        let store = Store::open(dir.path(), Options { rebuild_state: true, ..Options::default() }, ledger.clone())
            .expect("rebuild");
        rates.push(events as f64 / t.elapsed().as_secs_f64());
        assert_eq!(ledger.digest(), live, "a rebuild gives the live projections");
        drop(store);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!("rebuild from the log:   {:>9.0} events/s (median of 3)", rates[1]);
    println!("peak memory (process):  {:>9.0} MiB", peak_rss_mib());
}
