//! Store throughput: `cargo bench -p lode-store --bench store`.
//!
//! Prints events/s for batched appends (1,000 per batch), single-event durable appends with 1, 8
//! and 64 concurrent writers, verification, and reading a lot's history; each the median of
//! several runs, with fsync on as in production. `LODE_BENCH_EVENTS` sets the batched size
//! (default 200,000).

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_store::{verify_path, NewEvent, Options, Store};
use uuid::Uuid;

const RUNS: usize = 5;

/// A realistic custody event of about 320 bytes, touching one or two lots.
fn event(n: u64) -> NewEvent<Vec<String>> {
    let lot = format!("VN-NDPR-{:06}", n / 4);
    let to = format!("KR-NDPR-{:06}", n / 3);
    let body = format!(
        concat!(
            r#"{{"actor":"vn-refiner","data":{{"from_site":"vn-haiphong-port","lots":["{lot}"],"#,
            r#""shipment":"SHP-{n:08}","to_party":"kr-importer","to_site":"kr-incheon-wh","#,
            r#""documents":[{{"kind":"bill_of_lading","ref":"BL-{n:08}"}}]}},"#,
            r#""expected":{{}},"id":"{id}","occurred_at":"2024-03-02T08:00:00Z","type":"custody.shipped"}}"#
        ),
        lot = lot,
        n = n,
        id = Uuid::from_u128(u128::from(n)).hyphenated(),
    );
    let streams = if n % 2 == 0 { vec![lot] } else { vec![lot, to] };
    NewEvent { id: Uuid::now_v7(), event: body.into_bytes(), expected: vec![], payload: streams }
}

fn options() -> Options {
    let mut o = Options::default();
    if let Some(b) = std::env::var("LODE_BENCH_BLOCK").ok().and_then(|v| v.parse().ok()) {
        o.block_bytes_max = b;
    }
    o
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::var("LODE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    if std::env::var("LODE_BENCH_ONLY").is_ok_and(|v| v == "verify") {
        verify_breakdown(n);
        return;
    }
    println!("lode-store benchmark: {n} events of ~{} bytes, fsync on, median of {RUNS} runs", event(1).event.len());

    let mut batched = Vec::new();
    let mut verify = Vec::new();
    let mut history = Vec::new();
    let mut bytes_per_event = 0.0;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_open(dir.path(), options()).expect("open");
        let events: Vec<_> = (0..n).map(event).collect();
        let batches: Vec<Vec<_>> = events.chunks(1000).map(|c| c.to_vec()).collect();
        let t = Instant::now();
        // A client keeps a few batches in flight, as `lode append` does.
        let pipeline = store.pipeline();
        let mut in_flight = std::collections::VecDeque::new();
        for batch in batches {
            if in_flight.len() == 3 {
                let ticket: lode_store::Ticket<_> = in_flight.pop_front().expect("non-empty");
                ticket.wait().expect("append");
            }
            in_flight.push_back(pipeline.submit(batch).expect("submit"));
        }
        for ticket in in_flight {
            ticket.wait().expect("append");
        }
        batched.push(n as f64 / t.elapsed().as_secs_f64());

        let reader = store.reader();
        let lots: Vec<String> = (0..1000u64).map(|i| format!("VN-NDPR-{:06}", i * (n / 4 / 1000).max(1))).collect();
        let t = Instant::now();
        let mut read = 0usize;
        for lot in &lots {
            read += reader.stream(lot, 0, usize::MAX).expect("read").len();
        }
        history.push(lots.len() as f64 / t.elapsed().as_secs_f64());
        assert!(read > 0);
        drop(reader);
        store.close().expect("close");
        bytes_per_event = dir_size(dir.path()) as f64 / n as f64;

        let t = Instant::now();
        let report = verify_path(dir.path(), None, |_| {}).expect("open").expect("verifies");
        verify.push(report.head.seq as f64 / t.elapsed().as_secs_f64());
    }
    println!("batched append (1,000/batch): {:>10.0} events/s", median(batched));
    println!("verification:                 {:>10.0} events/s", median(verify));
    println!("lot history reads:            {:>10.0} lots/s", median(history));
    println!("disk:                         {bytes_per_event:>10.0} bytes/event");

    if std::env::var("LODE_BENCH_ONLY").is_ok_and(|v| v == "batched") {
        return;
    }
    for writers in [1usize, 8, 64] {
        let mut rates = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Arc::new(Store::open_open(dir.path(), options()).expect("open"));
            let per_writer = (4000 / writers).max(50) as u64;
            let t = Instant::now();
            std::thread::scope(|s| {
                for w in 0..writers {
                    let store = store.clone();
                    s.spawn(move || {
                        for i in 0..per_writer {
                            store.append(vec![event(w as u64 * 1_000_000 + i)]).expect("append");
                        }
                    });
                }
            });
            rates.push((per_writer * writers as u64) as f64 / t.elapsed().as_secs_f64());
        }
        println!("single-event appends, {writers:>2} writers: {:>8.0} events/s", median(rates));
    }

    // The physical limit behind single-event appends: one fsync of a small write.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    let mut lat = Vec::new();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).expect("create");
        for _ in 0..500 {
            f.write_all(&[0u8; 512]).expect("write");
            let t = Instant::now();
            f.sync_data().expect("fsync");
            lat.push(t.elapsed().as_secs_f64());
        }
    }
    let m = median(lat);
    println!("fsync of a 512-byte write:    {:>10.1} µs ({:.0}/s)", m * 1e6, 1.0 / m);
    let _ = Duration::ZERO;
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).expect("read_dir").flatten() {
        let md = e.metadata().expect("metadata");
        total += if md.is_dir() { dir_size(&e.path()) } else { md.len() };
    }
    total
}

/// Where verification spends its time: scanning sled, splitting blocks, hashing, the whole.
fn verify_breakdown(n: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_open(dir.path(), options()).expect("open");
    let events: Vec<_> = (0..n).map(event).collect();
    for chunk in events.chunks(1000) {
        store.append(chunk.to_vec()).expect("append");
    }
    store.close().expect("close");
    for _ in 0..3 {
        let db = sled::Config::new().path(dir.path()).open().expect("sled");
        let log = db.open_tree("log").expect("tree");
        let t = Instant::now();
        let mut bytes = 0usize;
        for kv in log.scan_prefix([lode_store::block::BLOCK_PREFIX]) {
            bytes += kv.expect("kv").1.len();
        }
        let scan = t.elapsed();
        let t = Instant::now();
        let mut recs = 0usize;
        for kv in log.scan_prefix([lode_store::block::BLOCK_PREFIX]) {
            let v = kv.expect("kv").1;
            let b = lode_store::block::Block::decode(&v);
            for r in b.records() {
                recs += 1;
                std::hint::black_box(lode_store::record::parse(&r).expect("parse"));
            }
        }
        let parse = t.elapsed();
        let t = Instant::now();
        for kv in log.scan_prefix([lode_store::block::BLOCK_PREFIX]) {
            let v = kv.expect("kv").1;
            let b = lode_store::block::Block::decode(&v);
            for r in b.records() {
                std::hint::black_box(lode_store::record::leaf_hash(&r));
            }
        }
        let hash = t.elapsed();
        drop(log);
        drop(db);
        let t = Instant::now();
        verify_path(dir.path(), None, |_| {}).expect("open").expect("ok");
        let all = t.elapsed();
        println!(
            "{recs} records, {bytes} bytes: scan {:?}, scan+parse {:?}, scan+hash {:?}, verify {:?} ({:.0}/s)",
            scan,
            parse,
            hash,
            all,
            recs as f64 / all.as_secs_f64()
        );
    }
}
