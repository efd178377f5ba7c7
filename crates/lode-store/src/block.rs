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
/// Merkle nodes per page in the layout written now: page `p` of level `L` holds the hashes of
/// nodes `p·16 …` of that level, 32 bytes each, as many as are complete. Small pages keep the
/// bytes rewritten per group commit small: every group rewrites the last, partial page of each
/// level its records reach.
pub const NODES_PER_PAGE: u64 = 16;
/// Merkle nodes per page in the first layout (`lode-log-v1`), read as it is.
pub const NODES_PER_PAGE_V1: u64 = 256;

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
/// The layout this code writes.
pub const FORMAT_VERSION: &[u8] = b"lode-log-v2";
/// The first layout, still read and appended to as it is: Merkle node pages of 256 nodes.
pub const FORMAT_VERSION_V1: &[u8] = b"lode-log-v1";

/// Merkle nodes per page in a log of the given layout; `None` for a layout this code does not know.
pub fn nodes_per_page(format: &[u8]) -> Option<u64> {
    match format {
        FORMAT_VERSION => Some(NODES_PER_PAGE),
        FORMAT_VERSION_V1 => Some(NODES_PER_PAGE_V1),
        _ => None,
    }
}

/// Blocks of the first format: the records uncompressed. Read, never written any more.
const BLOCK_VERSION_PLAIN: u8 = 1;
/// Blocks written now: the records compressed with zstd.
const BLOCK_VERSION_ZSTD: u8 = 2;
const SEGMENT_VERSION: u8 = 1;
/// zstd's level for blocks: its fastest but one, which on custody events compresses almost as
/// well as its default (measured in `docs/benchmarks.md`).
const ZSTD_LEVEL: i32 = 1;
/// The most bytes a block may say it decompresses to: far above any block this code writes
/// (`Options::block_bytes_max` plus one event), so that a damaged or hostile length cannot make
/// a reader allocate without bound.
pub const BLOCK_RAW_BYTES_MAX: usize = 16 << 20;

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

/// Gathers records into a block value: `2 ‖ raw length u32 LE ‖ zstd frame of (len u32 LE ‖
/// record bytes)*` (`docs/format.md` §4).
#[derive(Debug, Default)]
pub struct BlockBuilder {
    raw: Vec<u8>,
    count: usize,
}

impl BlockBuilder {
    pub fn new() -> Self {
        BlockBuilder::default()
    }

    pub fn push(&mut self, record: &[u8]) {
        let len = u32::try_from(record.len()).expect("records are bounded far below 4 GiB");
        self.raw.extend_from_slice(&len.to_le_bytes());
        self.raw.extend_from_slice(record);
        self.count += 1;
    }

    /// The records' bytes with their length prefixes, before compression.
    pub fn len_bytes(&self) -> usize {
        self.raw.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The block value to store, and the block as a reader will see it after decoding that value.
    pub fn finish(self) -> (Vec<u8>, Block) {
        let raw_len = u32::try_from(self.raw.len()).expect("blocks are bounded far below 4 GiB");
        let mut out = vec![BLOCK_VERSION_ZSTD];
        out.extend_from_slice(&raw_len.to_le_bytes());
        compress_into(&self.raw, &mut out);
        let block = Block::from_raw(self.raw, 0);
        (out, block)
    }

    /// The block value in the first format, uncompressed: for tests that read old ledgers.
    pub fn finish_plain(self) -> Vec<u8> {
        let mut out = vec![BLOCK_VERSION_PLAIN];
        out.extend_from_slice(&self.raw);
        out
    }
}

/// Why a block or segment value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {why}")]
pub struct Corrupt {
    pub what: &'static str,
    pub why: &'static str,
}

/// A block decoded: its records' bytes, each found in constant time, and where its framing
/// broke, if it did.
#[derive(Debug, Clone)]
pub struct Block {
    raw: Vec<u8>,
    /// Start and length of each record in `raw`.
    frames: Vec<(u32, u32)>,
    /// The index of the first frame that does not decode, and why.
    broken: Option<(usize, Corrupt)>,
}

impl Block {
    /// Decodes a stored block value of either format. A value that does not decode at all (an
    /// unknown version, a compressed frame that fails its checksum) gives a block of no records,
    /// broken at 0.
    pub fn decode(value: &[u8]) -> Block {
        let bad =
            |why| Block { raw: Vec::new(), frames: Vec::new(), broken: Some((0, Corrupt { what: "block", why })) };
        let Some((&version, rest)) = value.split_first() else {
            return bad("empty");
        };
        match version {
            BLOCK_VERSION_PLAIN => Block::from_raw(rest.to_vec(), 0),
            BLOCK_VERSION_ZSTD => {
                let Some(len) = rest.get(..4) else { return bad("truncated length") };
                let raw_len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                if raw_len > BLOCK_RAW_BYTES_MAX {
                    return bad("its stated size is over the limit");
                }
                match decompress(&rest[4..], raw_len) {
                    Ok(raw) if raw.len() == raw_len => Block::from_raw(raw, 0),
                    Ok(_) => bad("it decompresses to another size than it states"),
                    Err(_) => bad("it does not decompress (damaged)"),
                }
            }
            _ => bad("unknown block version"),
        }
    }

    fn from_raw(raw: Vec<u8>, mut at: usize) -> Block {
        let bad = |why| Corrupt { what: "block", why };
        let mut frames = Vec::new();
        let mut broken = None;
        while at < raw.len() {
            let Some(len) = raw.get(at..at + 4) else {
                broken = Some((frames.len(), bad("truncated length")));
                break;
            };
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            if raw.len() - at - 4 < len {
                broken = Some((frames.len(), bad("record runs past the end of the block")));
                break;
            }
            frames.push(((at + 4) as u32, len as u32));
            at += 4 + len;
        }
        if frames.is_empty() && broken.is_none() {
            broken = Some((0, bad("no records")));
        }
        Block { raw, frames, broken }
    }

    /// How many records decoded.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The `n`th record (from 0).
    pub fn get(&self, n: usize) -> Option<&[u8]> {
        let &(start, len) = self.frames.get(n)?;
        self.raw.get(start as usize..(start + len) as usize)
    }

    /// Every record that decoded, in order.
    pub fn records(&self) -> Vec<&[u8]> {
        (0..self.frames.len()).filter_map(|i| self.get(i)).collect()
    }

    /// Where the framing broke: the index of the first record that does not decode, and why.
    pub fn broken(&self) -> Option<&(usize, Corrupt)> {
        self.broken.as_ref()
    }

    /// Bytes held in memory, for caches.
    pub fn mem_bytes(&self) -> usize {
        self.raw.capacity() + self.frames.capacity() * 8
    }
}

/// Appends `raw` compressed as one zstd frame, with its size and content checksum, to `out`,
/// with a context kept per thread: making one costs about as much as compressing a block.
fn compress_into(raw: &[u8], out: &mut Vec<u8>) {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let c = c.get_or_insert_with(|| {
            let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("zstd accepts its own level");
            c.include_checksum(true).expect("a flag zstd knows");
            c
        });
        out.extend_from_slice(&c.compress(raw).expect("compressing to memory"));
    })
}

/// Decompresses one zstd frame of at most `raw_len` bytes, with a context kept per thread:
/// making one costs more than decompressing a small block.
fn decompress(frame: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        d.as_mut().expect("just made").decompress(frame, raw_len)
    })
}

/// The most bytes a persisted page of the derived state may say it decompresses to.
pub const STATE_PAGE_RAW_BYTES_MAX: usize = 256 << 20;

/// Compresses a page of the gate's state for storage: `raw length u32 LE ‖ zstd frame`.
pub fn encode_state_page(page: &[u8]) -> Vec<u8> {
    let raw_len = u32::try_from(page.len()).expect("pages are bounded far below 4 GiB");
    let mut out = raw_len.to_le_bytes().to_vec();
    compress_into(page, &mut out);
    out
}

/// Reads back a page written by [`encode_state_page`].
pub fn decode_state_page(value: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let bad = |why| Corrupt { what: "state page", why };
    let len = value.get(..4).ok_or(bad("truncated length"))?;
    let raw_len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    if raw_len > STATE_PAGE_RAW_BYTES_MAX {
        return Err(bad("its stated size is over the limit"));
    }
    match decompress(&value[4..], raw_len) {
        Ok(raw) if raw.len() == raw_len => Ok(raw),
        Ok(_) => Err(bad("it decompresses to another size than it states")),
        Err(_) => Err(bad("it does not decompress (damaged)")),
    }
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

/// One record's index entry, borrowed from the segment value: nothing allocated per stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub id: Uuid,
    pub leaf: Hash,
    /// The stream names, each checked to be UTF-8.
    pub streams: Vec<&'a str>,
}

/// Decodes an index segment without copying its stream names.
pub fn decode_segment_ref(value: &[u8]) -> Result<Vec<EntryRef<'_>>, Corrupt> {
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
            streams.push(std::str::from_utf8(&tail[..len]).map_err(|_| bad("stream name is not UTF-8"))?);
            rest = &tail[len..];
        }
        out.push(EntryRef { id, leaf, streams });
    }
    Ok(out)
}

/// Decodes an index segment.
pub fn decode_segment(value: &[u8]) -> Result<Vec<Entry>, Corrupt> {
    Ok(decode_segment_ref(value)?
        .into_iter()
        .map(|e| Entry { id: e.id, leaf: e.leaf, streams: e.streams.into_iter().map(str::to_owned).collect() })
        .collect())
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
