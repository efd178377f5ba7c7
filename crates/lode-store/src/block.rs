//! Blocks and index segments: how records are packed into sled values.
//!
//! sled's cost is per key written, so each group commit writes its records as one or a few
//! *blocks* (one value holding many records) and, beside each block, one *index segment* (the
//! id, leaf hash and streams of each of its records). Both are keyed by the position of the
//! block's first record, so every key written is sequential.

use uuid::Uuid;

use crate::record::Hash;

/// Key prefix of blocks.
pub const BLOCK_PREFIX: u8 = b'b';
/// Key prefix of index segments.
pub const SEGMENT_PREFIX: u8 = b'x';
/// Key prefix of Merkle node pages: `n` ‖ level (u8) ‖ page (u64 BE).
pub const NODE_PAGE_PREFIX: u8 = b'n';
/// Merkle nodes per page: page `p` of level `L` holds the hashes of nodes `p·256 …` of that level,
/// 32 bytes each, as many as are complete.
pub const NODES_PER_PAGE: u64 = 256;

/// The key of a Merkle node page.
pub fn node_page_key(level: u8, page: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE_PAGE_PREFIX;
    k[1] = level;
    k[2..].copy_from_slice(&page.to_be_bytes());
    k
}

/// Key of the head: `seq` (u64 BE) ‖ chain hash (32 bytes) ‖ last `recorded_at` (i64 BE, µs).
pub const HEAD_KEY: &[u8] = b"h";
/// Key of the format version.
pub const FORMAT_KEY: &[u8] = b"format";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: &[u8] = b"lode-log-v1";

const BLOCK_VERSION: u8 = 1;
const SEGMENT_VERSION: u8 = 1;

/// The key of the block or segment whose first record is at `seq`.
pub fn key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Reads the first position back from a block or segment key.
pub fn key_seq(prefix: u8, key: &[u8]) -> Option<u64> {
    if key.len() != 9 || key[0] != prefix {
        return None;
    }
    Some(u64::from_be_bytes(key[1..].try_into().ok()?))
}

/// Appends records to a block value: `version u8 ‖ (len u32 LE ‖ record bytes)*`.
#[derive(Debug, Default)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl BlockBuilder {
    pub fn new() -> Self {
        BlockBuilder { buf: vec![BLOCK_VERSION], count: 0 }
    }

    pub fn push(&mut self, record: &[u8]) {
        let len = u32::try_from(record.len()).expect("records are bounded far below 4 GiB");
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(record);
        self.count += 1;
    }

    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Why a block or segment value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {why}")]
pub struct Corrupt {
    pub what: &'static str,
    pub why: &'static str,
}

/// Splits a block value into its records.
pub fn records(block: &[u8]) -> Result<Vec<&[u8]>, Corrupt> {
    match records_partial(block) {
        (recs, None) => Ok(recs),
        (_, Some((_, e))) => Err(e),
    }
}

/// Splits a block value into its records as far as its framing holds: the records before the
/// first bad frame, and the index of that frame with what is wrong with it.
pub fn records_partial(block: &[u8]) -> (Vec<&[u8]>, Option<(usize, Corrupt)>) {
    let bad = |why| Corrupt { what: "block", why };
    let mut out = Vec::new();
    let Some((&version, mut rest)) = block.split_first() else {
        return (out, Some((0, bad("empty"))));
    };
    if version != BLOCK_VERSION {
        return (out, Some((0, bad("unknown block version"))));
    }
    while !rest.is_empty() {
        if rest.len() < 4 {
            return (out.clone(), Some((out.len(), bad("truncated length"))));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        rest = &rest[4..];
        if rest.len() < len {
            return (out.clone(), Some((out.len(), bad("record runs past the end of the block"))));
        }
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    if out.is_empty() {
        return (out, Some((0, bad("no records"))));
    }
    (out, None)
}

/// The `n`th record of a block (from 0), found by hopping over the length prefixes.
pub fn nth_record(block: &[u8], n: usize) -> Option<&[u8]> {
    let (&version, mut rest) = block.split_first()?;
    if version != BLOCK_VERSION {
        return None;
    }
    for i in 0.. {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let rec = rest.get(4..4 + len)?;
        if i == n {
            return Some(rec);
        }
        rest = &rest[4 + len..];
    }
    None
}

/// One record's index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: Uuid,
    pub leaf: Hash,
    pub streams: Vec<String>,
}

/// Encodes an index segment: `version u8 ‖ (id 16 ‖ leaf 32 ‖ n u16 LE ‖ (len u8 ‖ name)*)*`.
pub fn encode_segment<'a>(entries: impl IntoIterator<Item = (&'a Uuid, &'a Hash, &'a [String])>) -> Vec<u8> {
    let mut out = vec![SEGMENT_VERSION];
    for (id, leaf, streams) in entries {
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&leaf.0);
        let n = u16::try_from(streams.len()).expect("streams per record are bounded");
        out.extend_from_slice(&n.to_le_bytes());
        for s in streams {
            let len = u8::try_from(s.len()).expect("stream names are at most 128 bytes");
            out.push(len);
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// Decodes an index segment.
pub fn decode_segment(value: &[u8]) -> Result<Vec<Entry>, Corrupt> {
    let bad = |why| Corrupt { what: "index segment", why };
    let (&version, mut rest) = value.split_first().ok_or(bad("empty"))?;
    if version != SEGMENT_VERSION {
        return Err(bad("unknown segment version"));
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 50 {
            return Err(bad("truncated entry"));
        }
        let id = Uuid::from_bytes(rest[..16].try_into().expect("16 bytes"));
        let leaf = Hash(rest[16..48].try_into().expect("32 bytes"));
        let n = u16::from_le_bytes(rest[48..50].try_into().expect("2 bytes")) as usize;
        rest = &rest[50..];
        let mut streams = Vec::with_capacity(n);
        for _ in 0..n {
            let (&len, tail) = rest.split_first().ok_or(bad("truncated stream"))?;
            let len = len as usize;
            if tail.len() < len {
                return Err(bad("truncated stream"));
            }
            let name = std::str::from_utf8(&tail[..len]).map_err(|_| bad("stream name is not UTF-8"))?;
            streams.push(name.to_owned());
            rest = &tail[len..];
        }
        out.push(Entry { id, leaf, streams });
    }
    Ok(out)
}

/// The head as stored under [`HEAD_KEY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHead {
    pub seq: u64,
    pub hash: Hash,
    pub recorded_at_us: i64,
}

impl StoredHead {
    pub fn encode(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..40].copy_from_slice(&self.hash.0);
        out[40..].copy_from_slice(&self.recorded_at_us.to_be_bytes());
        out
    }

    pub fn decode(v: &[u8]) -> Option<StoredHead> {
        if v.len() != 48 {
            return None;
        }
        Some(StoredHead {
            seq: u64::from_be_bytes(v[..8].try_into().ok()?),
            hash: Hash(v[8..40].try_into().ok()?),
            recorded_at_us: i64::from_be_bytes(v[40..].try_into().ok()?),
        })
    }
}
