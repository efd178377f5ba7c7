//! Arbitrary bytes as a stored block, a compressed state page and an index segment: what a
//! damaged or hostile data directory hands the store's decoders.
//!
//! - `Block::decode` never panics and never allocates past its limit; what it yields is
//!   consistent (`len`, `get`, `records`, `broken` agree), and a block that decodes whole encodes
//!   back, through `BlockBuilder`, to a value that decodes to the same records.
//! - `decode_state_page` never panics; a page it accepts round-trips through `encode_state_page`.
//! - `decode_segment_ref` and `decode_segment` agree and never panic.
//! - Flipping any one byte of a compressed block (the version `2` form built from the input's
//!   records) fails to decode or changes the records (which the chain then catches), except in
//!   the one bit of zstd's frame header that decoders ignore.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lode_store::block::{self, Block, BlockBuilder};

fuzz_target!(|data: &[u8]| {
    as_block(data);
    as_state_page(data);
    as_segment(data);
});

fn as_block(data: &[u8]) {
    let b = Block::decode(data);
    let recs = b.records();
    assert_eq!(recs.len(), b.len());
    assert_eq!(b.is_empty(), recs.is_empty());
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(b.get(i), Some(*r));
    }
    assert_eq!(b.get(b.len()), None);
    if let Some((i, _)) = b.broken() {
        assert_eq!(*i, b.len(), "a block breaks right after the records it yields");
        return;
    }
    let mut builder = BlockBuilder::new();
    for r in &recs {
        builder.push(r);
    }
    let (value, decoded) = builder.finish();
    assert_eq!(decoded.records(), recs);
    let again = Block::decode(&value);
    assert!(again.broken().is_none());
    assert_eq!(again.records(), recs);
    // One flipped byte at a place the input chooses.
    let at = data.first().map_or(0, |&b| b as usize) * 7919 % value.len();
    let mut flipped = value.clone();
    flipped[at] ^= data.get(1).copied().unwrap_or(1).max(1);
    // zstd ignores one bit of its frame header ("unused"): a flip there changes no record, and
    // nothing needs noticing. Any other flip must fail or change what decodes.
    let f = Block::decode(&flipped);
    let unchanged = f.broken().is_none() && f.records() == recs;
    assert!(!unchanged || at == 9, "a flipped byte at {at} went unnoticed");
}

fn as_state_page(data: &[u8]) {
    if let Ok(page) = block::decode_state_page(data) {
        assert_eq!(block::decode_state_page(&block::encode_state_page(&page)).ok(), Some(page));
    }
}

fn as_segment(data: &[u8]) {
    let borrowed = block::decode_segment_ref(data);
    let owned = block::decode_segment(data);
    match (borrowed, owned) {
        (Ok(b), Ok(o)) => {
            assert_eq!(b.len(), o.len());
            for (b, o) in b.iter().zip(&o) {
                assert_eq!((b.id, b.leaf), (o.id, o.leaf));
                assert!(b.streams.iter().eq(o.streams.iter()));
            }
        }
        (Err(b), Err(o)) => assert_eq!(b, o),
        (b, o) => panic!("the segment decoders disagree: {b:?} / {o:?}"),
    }
}
