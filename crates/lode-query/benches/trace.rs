//! Trace-back latency over a large ledger: `cargo bench -p lode-query --bench trace`.
//!
//! Builds a ledger of a generated history (`LODE_BENCH_LOTS` mine lots, default 30,000: about 1M
//! events) in memory: each generated event is put in its canonical form, composed into a record and
//! replayed into a fresh `Ledger` through `Gate::replay`, as `Ledger::from_log` does, without a
//! store (appending a million events through the store with all its rules is the projections
//! benchmark's business, and takes minutes). Then it traces back every magnet lot and prints the
//! latency percentiles, and the same for synthetic lots with 12 generations of ancestors (the
//! generated histories have at most 7: ore, concentrate, oxide, split, blend, metal, alloy, magnet),
//! and for forward traces from the mine lots. Figures only: no timing is asserted.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

use std::time::{Duration, Instant};

use lode_domain::scenario::{generate, ScenarioOptions};
use lode_domain::Form;
use lode_projections::{prepare_event, Ledger};
use lode_query::Limits;
use lode_store::record::{encode, format_time};
use lode_store::{Gate, Hash, Record};

/// Synthetic chains of blends, each this many generations deep.
const DEEP_GENERATIONS: usize = 12;
/// How many synthetic chains.
const DEEP_CHAINS: usize = 500;

fn main() {
    let lots: usize = std::env::var("LODE_BENCH_LOTS").ok().and_then(|v| v.parse().ok()).unwrap_or(30_000);
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
    let recorded_at = format_time(&start);

    let t = Instant::now();
    let mut ledger = Ledger::default();
    let mut seq = 0u64;
    let mut bytes = Vec::new();
    let mut replay = |line: &str| {
        let event = prepare_event(line.as_bytes()).unwrap();
        seq += 1;
        bytes.clear();
        encode(&mut bytes, seq, &event.id, &recorded_at, &[], &Hash::GENESIS, &event.event);
        let record = Record::from_bytes(bytes.clone()).unwrap();
        Gate::replay(&mut ledger, &record).unwrap();
    };
    for line in generate(&ScenarioOptions { mine_lots: lots, seed: 42, start }) {
        replay(&line);
    }
    for line in deep_chains() {
        replay(&line);
    }
    let events = ledger.position();
    let build = t.elapsed();
    println!("trace benchmark: {events} events ({lots} generated mine lots and {DEEP_CHAINS} synthetic chains)");
    println!(
        "built in memory by Gate::replay in {:.1} s ({:.0} events/s)",
        build.as_secs_f64(),
        events as f64 / build.as_secs_f64()
    );

    let (magnets, mine_lots, deep) = ledger.read(|state, _| {
        let mut magnets = Vec::new();
        let mut mines = Vec::new();
        let mut deep = Vec::new();
        for (id, lot) in state.lots() {
            if lot.material.form == Form::Magnet {
                magnets.push(id.to_string());
            } else if id.as_str().starts_with("DEEP-") && id.as_str().ends_with(&format!("-{DEEP_GENERATIONS:02}")) {
                deep.push(id.to_string());
            } else if lot.mine.is_some() && !id.as_str().starts_with("DEEP-") {
                mines.push(id.to_string());
            }
        }
        (magnets, mines, deep)
    });
    let limits = Limits::default();

    // Warm up, and learn the size of each trace.
    let mut sizes = Vec::new();
    for lot in &magnets {
        let trace = ledger.read(|s, v| lode_query::trace_back(s, v, lot, &limits)).unwrap();
        assert_eq!(trace.origin.iter().map(|m| m.ppm).sum::<u32>(), 1_000_000);
        sizes.push((trace.lots.len(), trace.generations));
    }
    let back = time(&magnets, |lot| {
        ledger.read(|s, v| lode_query::trace_back(s, v, lot, &limits)).unwrap();
    });
    report("trace back, every magnet lot", &back, &sizes);
    let wide: Vec<String> = magnets.iter().zip(&sizes).filter(|(_, (n, _))| *n > 10).map(|(l, _)| l.clone()).collect();
    let wide_sizes: Vec<(usize, u32)> = sizes.iter().copied().filter(|(n, _)| *n > 10).collect();
    let wide_times = time(&wide, |lot| {
        ledger.read(|s, v| lode_query::trace_back(s, v, lot, &limits)).unwrap();
    });
    report("trace back, magnet lots with >= 10 ancestor lots", &wide_times, &wide_sizes);

    let deep_sizes: Vec<(usize, u32)> = deep
        .iter()
        .map(|lot| {
            let t = ledger.read(|s, v| lode_query::trace_back(s, v, lot, &limits)).unwrap();
            (t.lots.len(), t.generations)
        })
        .collect();
    let deep_times = time(&deep, |lot| {
        ledger.read(|s, v| lode_query::trace_back(s, v, lot, &limits)).unwrap();
    });
    report(&format!("trace back, synthetic lots with {DEEP_GENERATIONS} generations"), &deep_times, &deep_sizes);

    let sample: Vec<String> = mine_lots.iter().step_by((mine_lots.len() / 2_000).max(1)).cloned().collect();
    let forward_sizes: Vec<(usize, u32)> = sample
        .iter()
        .map(|lot| {
            let t = ledger.read(|s, v| lode_query::trace_forward(s, v, lot, &limits)).unwrap();
            (t.lots.len(), t.generations)
        })
        .collect();
    let forward = time(&sample, |lot| {
        ledger.read(|s, v| lode_query::trace_forward(s, v, lot, &limits)).unwrap();
    });
    report("trace forward, mine lots", &forward, &forward_sizes);
}

/// Synthetic lineages deeper than any generated one: chain `k` starts with an ore lot, and each of
/// its `DEEP_GENERATIONS` blends takes what is left of its own lot and a tenth of chain `k - 1`'s lot
/// of the same generation, so that the last lot of a chain has 12 generations of ancestors and up
/// to 90 ancestor lots.
fn deep_chains() -> Vec<String> {
    const AT: &str = "2025-12-01T00:00:00Z";
    const ACTOR: &str = "song-hong-mining";
    const SITE: &str = "vn-lc-mine-1";
    let id = |k: usize, g: usize| format!("DEEP-{k:04}-{g:02}");
    let mut out = Vec::new();
    let mut mass = vec![vec![0u64; DEEP_GENERATIONS + 1]; DEEP_CHAINS];
    for (k, masses) in mass.iter_mut().enumerate() {
        masses[0] = 10_000_000;
        out.push(format!(
            r#"{{"type":"lot.extracted","actor":"{ACTOR}","occurred_at":"{AT}","data":{{"lot":"{}","site":"{SITE}","material":{{"form":"ore"}},"mass_g":10000000}}}}"#,
            id(k, 0)
        ));
    }
    for g in 0..DEEP_GENERATIONS {
        // The highest chain first, so that a lot gives its tenth before its own chain uses the rest.
        for k in (0..DEEP_CHAINS).rev() {
            let mut inputs = Vec::new();
            let mut total = 0;
            if k > 0 {
                let tenth = mass[k - 1][g] / 10;
                mass[k - 1][g] -= tenth;
                inputs.push(format!(r#"{{"lot":"{}","mass_g":{tenth}}}"#, id(k - 1, g)));
                total += tenth;
            }
            let own = mass[k][g];
            inputs.push(format!(r#"{{"lot":"{}","mass_g":{own}}}"#, id(k, g)));
            total += own;
            mass[k][g + 1] = total;
            out.push(format!(
                r#"{{"type":"lot.transformed","actor":"{ACTOR}","occurred_at":"{AT}","data":{{"process":"blend","site":"{SITE}","inputs":[{}],"outputs":[{{"lot":"{}","material":{{"form":"ore"}},"mass_g":{total}}}]}}}}"#,
                inputs.join(","),
                id(k, g + 1)
            ));
        }
    }
    out
}

/// The latency of `f` for each lot, over two rounds, sorted.
fn time(lots: &[String], mut f: impl FnMut(&str)) -> Vec<Duration> {
    let mut out = Vec::with_capacity(lots.len() * 2);
    for _ in 0..2 {
        for lot in lots {
            let t = Instant::now();
            f(lot);
            out.push(t.elapsed());
        }
    }
    out.sort();
    out
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * p) / 100]
}

fn report(what: &str, times: &[Duration], sizes: &[(usize, u32)]) {
    let mut lots: Vec<usize> = sizes.iter().map(|s| s.0).collect();
    let mut generations: Vec<u32> = sizes.iter().map(|s| s.1).collect();
    lots.sort_unstable();
    generations.sort_unstable();
    let mid = |v: &[usize]| v.get(v.len() / 2).copied().unwrap_or(0);
    println!(
        "{what}: {} traces; lots per trace {}..{} (median {}), generations {}..{}",
        times.len(),
        lots.first().unwrap_or(&0),
        lots.last().unwrap_or(&0),
        mid(&lots),
        generations.first().unwrap_or(&0),
        generations.last().unwrap_or(&0),
    );
    println!(
        "    p50 {:>7.1} µs   p90 {:>7.1} µs   p99 {:>7.1} µs   max {:>7.1} µs",
        micros(percentile(times, 50)),
        micros(percentile(times, 90)),
        micros(percentile(times, 99)),
        micros(times.last().copied().unwrap_or_default()),
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
