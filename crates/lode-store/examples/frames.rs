//! The trade between the frame size of format-3 blocks, their stored size and the time to read
//! one record, measured on a ledger's own records (`docs/benchmarks.md`):
//!
//! ```sh
//! lode --data-dir L export log > log.jsonl
//! cargo run --release -p lode-store --example frames -- log.jsonl
//! ```
//!
//! Trains a dictionary as a log does (on one record in eight of about its first 8 MiB: here the
//! first 16,000 records), then packs the later records into 16 KiB blocks of each format and frame size, and times
//! compressing them, reading one record of each block left compressed (a read by position), and
//! decoding whole blocks (verification); then again with a dictionary trained on the first 2,000
//! records only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: stop at the first failure

use std::sync::Arc;
use std::time::Instant;

use lode_store::block::{self, Block, BlockBuilder, Dict, Dicts};

fn main() {
    let path = std::env::args().nth(1).expect("usage: frames LOG.jsonl (from `lode export log`)");
    let text = std::fs::read(&path).expect("reading the exported log");
    let records: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert!(records.len() > 20_000, "needs more than 20,000 records");
    let spread: Vec<&[u8]> = records[..16_000].iter().step_by(8).copied().collect();
    let dict = Arc::new(Dict::new(1, block::train_dict(&spread).expect("a dictionary")).unwrap());
    let mut dicts = Dicts::default();
    dicts.insert(dict.clone());
    let sample = &records[16_000..];
    let started = Instant::now();
    let _ = block::train_dict(&spread);
    println!("training on one record in eight of the first 16,000: {:.0?}", started.elapsed());
    println!("{} records of {:.0} bytes on average", sample.len(), mean(sample));
    println!(
        "format, frame: stored bytes/record, compress µs/record, read one record µs, decode whole block µs/record"
    );
    measure(sample, &dict, &dicts, &[None, Some(1), Some(1 << 10), Some(2 << 10), Some(4 << 10)]);
    // What the dictionary learnt from: as many bytes, but only the first 2,000 records (mostly
    // registrations); and all 16,000.
    for (what, samples) in
        [("the first 2,000 records", &records[..2_000]), ("all of the first 16,000", &records[..16_000])]
    {
        let started = Instant::now();
        let other = Arc::new(Dict::new(1, block::train_dict(samples).expect("a dictionary")).unwrap());
        println!("with a dictionary trained on {what} (training took {:.0?}):", started.elapsed());
        let mut other_dicts = Dicts::default();
        other_dicts.insert(other.clone());
        measure(sample, &other, &other_dicts, &[Some(2 << 10)]);
    }
}

fn measure(sample: &[&[u8]], dict: &Dict, dicts: &Dicts, frames: &[Option<usize>]) {
    for &frame in frames {
        let started = Instant::now();
        let mut values = Vec::new();
        let mut b = BlockBuilder::new();
        for r in sample {
            if b.count() > 0 && b.len_bytes() + r.len() > 16 << 10 {
                let full = std::mem::take(&mut b);
                values.push(match frame {
                    None => full.finish().0,
                    Some(f) => full.finish_framed(dict, f).0,
                });
            }
            b.push(r);
        }
        let compress = started.elapsed().as_secs_f64();
        let stored: usize = values.iter().map(Vec::len).sum();
        let started = Instant::now();
        let mut read = 0;
        for (i, v) in values.iter().enumerate() {
            let block = Block::open_with(v.as_slice(), dicts);
            read += block.record(i * 7 % block.len()).unwrap().unwrap().len();
        }
        let one = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for v in &values {
            read += Block::decode_with(v.as_slice(), dicts).len();
        }
        let whole = started.elapsed().as_secs_f64();
        std::hint::black_box(read);
        let n = sample.len() as f64;
        println!(
            "{}, {}: {:.1}, {:.2}, {:.2}, {:.2}",
            if frame.is_some() { 3 } else { 2 },
            frame.map_or("one frame of 16 KiB".to_string(), |f| format!("{f} bytes")),
            stored as f64 / n,
            compress * 1e6 / n,
            one * 1e6 / values.len() as f64,
            whole * 1e6 / n,
        );
    }
}

fn mean(records: &[&[u8]]) -> f64 {
    records.iter().map(|r| r.len()).sum::<usize>() as f64 / records.len() as f64
}
