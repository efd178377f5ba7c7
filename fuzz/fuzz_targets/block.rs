//! Arbitrary bytes as a stored block, a compressed state page and an index segment: what a
//! damaged or hostile data directory hands the store's decoders.
//!
//! - `Block::decode` never panics and never allocates past its limit; what it yields is
//!   consistent (`len`, `get`, `records`, `broken` agree), and a block that decodes whole encodes
//!   back, through `BlockBuilder`, to a value that decodes to the same records.
//! - The same holds of blocks of the third format (frames compressed with a dictionary, here a
//!   fixed one of id 1), and reading one record of a block left compressed (`Block::open_with`,
//!   as reads by position do) yields what decoding the whole block yields.
//! - `decode_state_page` never panics, with or without a dictionary; a page it accepts without
//!   one round-trips through `encode_state_page`; any bytes round-trip through event references
//!   (`state_page_refs`, `decode_state_page_refs`), which never panic on arbitrary input.
//! - `decode_segment_ref` and `decode_segment` agree and never panic.
//! - A valid compressed block (built from the input's records) with one byte flipped decodes
//!   consistently or not at all. It may decode to the same records: zstd's encoding has bits that
//!   change nothing, and tamper evidence rests on the records' hashes, not on compressed bytes.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use lode_store::block::{self, Block, BlockBuilder, Dict, Dicts};

/// A dictionary of raw content, as zstd takes any bytes: id 1.
fn dicts() -> &'static (Arc<Dict>, Dicts) {
    static DICTS: OnceLock<(Arc<Dict>, Dicts)> = OnceLock::new();
    DICTS.get_or_init(|| {
        let content = br#"{"seq":1,"id":"00000000-0000-7000-8000-000000000001","recorded_at":"2026-01-01T00:00:00Z","streams":["lot-1"],"prev":"0000000000000000000000000000000000000000000000000000000000000000","event":{"type":"lot.shipped"}}"#;
        let dict = Arc::new(Dict::new(1, content.repeat(4)).expect("a raw-content dictionary"));
        let mut dicts = Dicts::default();
        dicts.insert(dict.clone());
        (dict, dicts)
    })
}

fuzz_target!(|data: &[u8]| {
    as_block(data);
    as_framed_block(data);
    as_state_page(data);
    as_segment(data);
});

fn as_block(data: &[u8]) {
    let b = Block::decode(data);
    let recs = b.records();
    assert_eq!(recs.len(), b.len());
    assert_eq!(b.is_empty(), recs.is_empty());
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(b.get(i).as_ref(), Some(r));
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
    let recs: Vec<Vec<u8>> = recs.into_iter().map(|r| r.into_owned()).collect();
    assert_eq!(decoded.records(), recs);
    let again = Block::decode(&value);
    assert!(again.broken().is_none());
    assert_eq!(again.records(), recs);
    // One flipped byte of a valid compressed block, at a place the input chooses: near-valid
    // frames reach deep into zstd's decoder. Whatever decodes is held to the same consistency.
    // (A flip may also decode to the very same records: zstd's encoding has bits that change
    // nothing, such as the frame header's unused bit. Tamper evidence rests on the records'
    // hashes, which verification recomputes, not on the compressed bytes.)
    let at = data.first().map_or(0, |&b| b as usize) * 7919 % value.len();
    let mut flipped = value;
    flipped[at] ^= data.get(1).copied().unwrap_or(1).max(1);
    let f = Block::decode(&flipped);
    assert_eq!(f.records().len(), f.len());
    if let Some((i, _)) = f.broken() {
        assert_eq!(*i, f.len());
    }
}

/// The input as a third-format block, decoded whole and left compressed; then the input's
/// records (as a whole block of the first format would yield them) framed, with one byte flipped.
fn as_framed_block(data: &[u8]) {
    let (dict, dicts) = dicts();
    let mut value = vec![3u8];
    value.extend_from_slice(data);
    for value in [&value[..], data] {
        let whole = Block::decode_with(value, dicts);
        let recs = whole.records();
        assert_eq!(recs.len(), whole.len());
        if let Some((i, _)) = whole.broken() {
            assert_eq!(*i, whole.len(), "a block breaks right after the records it yields");
        }
        let lazy = Block::open_with(value, dicts);
        assert!(lazy.len() >= whole.len());
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(lazy.record(i).ok().flatten().as_ref(), Some(r), "record {i} read alone");
        }
        assert!(matches!(lazy.record(lazy.len()), Ok(None)));
    }
    let plain = {
        let mut v = vec![1u8];
        v.extend_from_slice(data);
        Block::decode(&v)
    };
    let recs = plain.records();
    if recs.is_empty() {
        return;
    }
    let mut builder = BlockBuilder::new();
    for r in &recs {
        builder.push(r);
    }
    let (value, _) = builder.finish_with(dict);
    let again = Block::decode_with(value.as_slice(), dicts);
    assert!(again.broken().is_none());
    assert_eq!(again.records(), recs);
    let at = data.first().map_or(0, |&b| b as usize) * 7919 % value.len();
    let mut flipped = value;
    flipped[at] ^= data.get(1).copied().unwrap_or(1).max(1);
    let f = Block::decode_with(flipped.as_slice(), dicts);
    assert_eq!(f.records().len(), f.len());
    if let Some((i, _)) = f.broken() {
        assert_eq!(*i, f.len());
    }
    let lazy = Block::open_with(flipped.as_slice(), dicts);
    for (i, r) in f.records().iter().enumerate() {
        assert_eq!(lazy.record(i).ok().flatten().as_ref(), Some(r));
    }
}

fn as_state_page(data: &[u8]) {
    // A page may name a dictionary: decoding with one (here of raw content) never panics either.
    let _ = block::decode_state_page(data, Some(&dicts().0));
    if let Ok(page) = block::decode_state_page(data, None) {
        assert_eq!(block::decode_state_page(&block::encode_state_page(&page, None, false), None).ok(), Some(page));
    }
    // Event references: decoding arbitrary bytes never panics, and any bytes, written with
    // references to the ids a log knows, read back as they were.
    let known: Vec<uuid::Uuid> =
        (1..=3).map(|n| uuid::Uuid::from_u128(0x1000_0000_0000_7000_8000_0000_0000_0000 | n)).collect();
    let id = |seq: u64| known.get(usize::try_from(seq).ok()?.checked_sub(1)?).copied();
    let _ = block::decode_state_page_refs(data, None, id);
    let position = |u: &uuid::Uuid| known.iter().position(|k| k == u).map(|i| i as u64 + 1);
    let stored = block::encode_state_page(&block::state_page_refs(data, position), None, true);
    assert_eq!(block::decode_state_page_refs(&stored, None, id).ok().as_deref(), Some(data));
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
