//! Arbitrary bytes as a record, as an exported log, and as the records of a log rebuilt from them.
//!
//! - `record::parse` and `Record::from_bytes` agree and never panic; a record that parses is
//!   exactly what `record::encode` writes from its fields (the header is strict), and replaying it
//!   into a fresh ledger never panics.
//! - `verify_lines` over the bytes as an export never panics; it succeeds only for a log of
//!   complete lines, with one record a line, and a failure names a position of the log.
//! - The lines that parse, chained again into a valid log, verify. Rewriting that log's history
//!   from any record on is caught at that record or the one before it (the verifier cannot tell
//!   them apart), never elsewhere; any single changed byte is caught at its record when the true
//!   head is known.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lode_projections::Ledger;
use lode_store::record::{self, Header};
use lode_store::{verify_lines, Gate, Hash, Head, Record};

/// The most records of a log chained again: each is verified once per tampering, so this bounds
/// an input's cost.
const CHAIN_MAX: usize = 16;
/// Single-byte changes tried per input.
const FLIPS: usize = 4;

fuzz_target!(|data: &[u8]| {
    one_record(data);
    as_export(data);
    rechained(data);
});

fn one_record(data: &[u8]) {
    let parsed = record::parse(data);
    let built = Record::from_bytes(data.to_vec());
    assert_eq!(parsed.is_ok(), built.is_ok(), "record::parse and Record::from_bytes disagree");
    let (Ok(header), Ok(built)) = (parsed, built) else {
        return;
    };
    let streams: Vec<String> = header.streams.iter().map(|s| s.to_string()).collect();
    let mut again = Vec::new();
    record::encode(&mut again, header.seq, &header.id, header.recorded_at, &streams, &header.prev, header.event);
    assert_eq!(again, data, "a record that parses is not what its fields encode to");
    assert_eq!(built.header(), header);
    assert_eq!(built.hash(), record::chain_hash(&header.prev, &record::leaf_hash(data)));
    // A rebuild trusts the records it replays; an odd one must fail cleanly, not panic.
    let _ = Gate::replay(&mut Ledger::default(), &built);
}

fn as_export(data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64;
    match verify_lines(data, None, |_| {}) {
        Ok(report) => {
            assert!(data.is_empty() || data.ends_with(b"\n"), "an export cut short verified");
            assert_eq!(report.head.seq, lines);
        }
        Err(failure) => {
            assert!((1..=lines + 1).contains(&failure.seq), "{failure} names no position of {lines} lines");
        }
    }
}

/// The log of `headers` chained again: record `first + i` carries `headers[i]`'s id, time, streams
/// and event, and links to the chain hash before it, starting from `prev`.
fn compose(headers: &[Header<'_>], first: u64, mut prev: Hash) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let streams: Vec<String> = h.streams.iter().map(|s| s.to_string()).collect();
        let mut bytes = Vec::new();
        record::encode(&mut bytes, first + i as u64, &h.id, h.recorded_at, &streams, &prev, h.event);
        prev = record::chain_hash(&prev, &record::leaf_hash(&bytes));
        out.push(bytes);
    }
    out
}

fn export(log: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in log {
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    out
}

fn rechained(data: &[u8]) {
    let headers: Vec<Header<'_>> =
        data.split(|&b| b == b'\n').filter_map(|line| record::parse(line).ok()).take(CHAIN_MAX).collect();
    if headers.is_empty() {
        return;
    }
    let log = compose(&headers, 1, Hash::GENESIS);
    let hash = log.iter().fold(Hash::GENESIS, |chain, r| record::chain_hash(&chain, &record::leaf_hash(r)));
    let head = Head { seq: log.len() as u64, hash };
    for expect in [None, Some(head)] {
        let report = verify_lines(&export(&log)[..], expect, |_| {}).expect("a log chained again verifies");
        assert_eq!(report.head, head);
    }

    // History rewritten from record `at` on: its `prev` is forged and every later record links to it.
    for at in 1..=log.len() {
        let forged = Hash(*blake3::hash(&(at as u64).to_be_bytes()).as_bytes());
        let mut rewritten = log[..at - 1].to_vec();
        rewritten.extend(compose(&headers[at - 1..], at as u64, forged));
        for expect in [None, Some(head)] {
            let failure = verify_lines(&export(&rewritten)[..], expect, |_| {}).expect_err("a rewritten log verified");
            let at = at as u64;
            assert!(
                failure.seq == at || (at > 1 && failure.seq == at - 1),
                "history rewritten from record {at} is blamed on {failure}"
            );
        }
    }

    // Single bytes changed, at places drawn from the input.
    let seed = blake3::hash(data);
    let seed = seed.as_bytes();
    for k in 0..FLIPS {
        let pick = u64::from_le_bytes(seed[8 * k..8 * k + 8].try_into().expect("8 bytes"));
        let at = (pick % log.len() as u64) as usize;
        let offset = ((pick >> 16) % log[at].len() as u64) as usize;
        let xor = (seed[(k + 3) % 32] | 1).rotate_left(k as u32);
        let mut changed = log.clone();
        changed[at][offset] ^= xor;
        let failure = verify_lines(&export(&changed)[..], Some(head), |_| {}).expect_err("a changed byte went unseen");
        let expected = at as u64 + 1;
        if changed[at][offset] == b'\n' {
            // The record is cut in two lines, and its first part may still parse as a record (the
            // header does not read the event's JSON): the blame may then fall on a later line.
            assert!((expected..=log.len() as u64 + 1).contains(&failure.seq), "{failure}");
        } else {
            assert_eq!(failure.seq, expected, "a byte changed in record {expected} is blamed on {failure}");
        }
    }
}
