//! Blocks and index segments: how records are packed into sled values.
//!
//! sled's cost is per key written, so each group commit writes its records as one or a few
//! *blocks* (one value holding many records) and, beside each block, one *index segment* (the
//! id, leaf hash and streams of each of its records). Both are keyed by the position of the
//! block's first record, so every key written is sequential.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Key prefix of compression dictionaries: `z` ‖ id (u32 BE).
pub const DICT_PREFIX: u8 = b'z';

/// The key of dictionary `id`.
pub fn dict_key(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = DICT_PREFIX;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Reads the id back from a dictionary key.
pub fn dict_key_id(key: &[u8]) -> Option<u32> {
    if key.len() != 5 || key[0] != DICT_PREFIX {
        return None;
    }
    Some(u32::from_be_bytes(key[1..].try_into().ok()?))
}

/// Key of the head: `seq` (u64 BE) ‖ chain hash (32 bytes) ‖ last `recorded_at` (i64 BE, µs).
pub const HEAD_KEY: &[u8] = b"h";
/// Key of the format version.
pub const FORMAT_KEY: &[u8] = b"format";
/// The layout this code writes into a new log.
pub const FORMAT_VERSION: &[u8] = b"lode-log-v2";
/// `lode-log-v2` once the log holds a compression dictionary (and so, from then on, blocks of
/// format 3): written in the batch that stores the dictionary, so that a binary that knows
/// neither refuses the log at open rather than failing on its blocks.
pub const FORMAT_VERSION_DICT: &[u8] = b"lode-log-v3";
/// The first layout, still read and appended to as it is: Merkle node pages of 256 nodes, blocks
/// of formats 1 and 2 only.
pub const FORMAT_VERSION_V1: &[u8] = b"lode-log-v1";

/// Merkle nodes per page in a log of the given layout; `None` for a layout this code does not know.
pub fn nodes_per_page(format: &[u8]) -> Option<u64> {
    match format {
        FORMAT_VERSION | FORMAT_VERSION_DICT => Some(NODES_PER_PAGE),
        FORMAT_VERSION_V1 => Some(NODES_PER_PAGE_V1),
        _ => None,
    }
}

/// Blocks of the first format: the records uncompressed. Read, never written any more.
const BLOCK_VERSION_PLAIN: u8 = 1;
/// Blocks of the second format: the records compressed together as one zstd frame. Written
/// until the log has a dictionary.
const BLOCK_VERSION_ZSTD: u8 = 2;
/// Blocks written once the log has a dictionary: the records in frames of about
/// [`FRAME_BYTES`], each frame compressed on its own with the dictionary, so that a read by
/// position decompresses one frame, not the block.
pub const BLOCK_VERSION_FRAMES: u8 = 3;
/// A frame of a format-3 block is closed once its records reach this many bytes. With a
/// dictionary, frames of 2 KiB (about four custody records) store smaller than 16 KiB blocks
/// without one, and one record reads in a quarter of the time (measured in `docs/benchmarks.md`).
pub const FRAME_BYTES: usize = 2 << 10;
/// The version byte of a stored dictionary.
const DICT_VERSION: u8 = 1;
/// The most bytes a dictionary holds: small enough to stay in a core's cache beside the frame
/// being decompressed.
pub const DICT_BYTES: usize = 16 << 10;
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

    /// The block value in the third format, and the block as a reader will see it: `3 ‖
    /// dictionary id u32 LE ‖ frame count u32 LE ‖ per frame (end u32 LE, records u32 LE) ‖
    /// frames`, each frame the records' `(len u32 LE ‖ bytes)*` compressed with `dict` (an end
    /// counts from the first frame's start).
    pub fn finish_with(self, dict: &Dict) -> (Vec<u8>, Block) {
        self.finish_framed(dict, FRAME_BYTES)
    }

    /// [`BlockBuilder::finish_with`] with frames closed at `frame_bytes`: for measuring the
    /// trade between frame size, stored size and read time (`examples/frames.rs`).
    pub fn finish_framed(self, dict: &Dict, frame_bytes: usize) -> (Vec<u8>, Block) {
        let block = Block::from_raw(self.raw, 0);
        let Repr::Raw { raw, frames: spans } = &block.repr else { unreachable!("from_raw makes a raw block") };
        // Frames: (start, end) in `raw`, and how many records.
        let mut frames: Vec<(usize, usize, u32)> = Vec::new();
        for &(start, len) in spans {
            let (at, end) = (start as usize - 4, (start + len) as usize);
            match frames.last_mut() {
                Some(f) if f.1 - f.0 < frame_bytes => {
                    f.1 = end;
                    f.2 += 1;
                }
                _ => frames.push((at, end, 1)),
            }
        }
        let count = u32::try_from(frames.len()).expect("blocks hold far fewer than 4G frames");
        let mut out = Vec::with_capacity(9 + 8 * frames.len() + raw.len() / 3);
        out.push(BLOCK_VERSION_FRAMES);
        out.extend_from_slice(&dict.id.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        let table = out.len();
        out.resize(table + 8 * frames.len(), 0);
        let frames_at = out.len();
        for (i, &(start, end, records)) in frames.iter().enumerate() {
            compress_with(dict, &raw[start..end], &mut out);
            let at = u32::try_from(out.len() - frames_at).expect("blocks are bounded far below 4 GiB");
            out[table + 8 * i..table + 8 * i + 4].copy_from_slice(&at.to_le_bytes());
            out[table + 8 * i + 4..table + 8 * i + 8].copy_from_slice(&records.to_le_bytes());
        }
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
///
/// A block of the third format can stay compressed ([`Block::open_with`]): each record is then
/// decompressed when asked for, alone.
#[derive(Debug, Clone)]
pub struct Block {
    repr: Repr,
    /// The index of the first frame that does not decode, and why.
    broken: Option<(usize, Corrupt)>,
}

#[derive(Debug, Clone)]
enum Repr {
    /// The records' bytes, and the start and length of each in `raw`.
    Raw { raw: Vec<u8>, frames: Vec<(u32, u32)> },
    /// A stored value of the third format: each zstd frame's start and length in `value` and
    /// the index of its first record, the records in all, and the dictionary they need.
    Framed { value: sled::IVec, frames: Vec<Frame>, records: usize, dict: Arc<Dict> },
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    start: u32,
    len: u32,
    first: u32,
}

impl Block {
    /// Decodes a stored block value of the first two formats. A third-format block needs the
    /// log's dictionaries ([`Block::decode_with`]); here it decodes as broken.
    pub fn decode(value: &[u8]) -> Block {
        Block::decode_with(value, &Dicts::default())
    }

    /// Decodes a stored block value of any format, every record. A value that does not decode at
    /// all (an unknown version, a compressed frame that fails its checksum, a dictionary the log
    /// does not hold) gives a block of no records, broken at 0.
    pub fn decode_with(value: impl Into<sled::IVec>, dicts: &Dicts) -> Block {
        Block::open_with(value, dicts).decoded()
    }

    /// This block with every record decompressed; where a frame does not decompress, it is
    /// broken there.
    pub fn decoded(self) -> Block {
        let Repr::Framed { dict, frames, value, records } = &self.repr else { return self };
        let mut raw = Vec::with_capacity(value.len() * 4);
        let mut spans = Vec::new();
        let mut broken = self.broken.clone();
        for (k, f) in frames.iter().enumerate() {
            let appended = with_frame(dict, value, frames, *records, k, |bytes, records| {
                let at = raw.len() as u32;
                raw.extend_from_slice(bytes);
                spans.extend(records.iter().map(|&(start, len)| (at + start, len)));
            });
            if let Err(why) = appended {
                broken = Some((f.first as usize, Corrupt { what: "block", why }));
                break;
            }
        }
        Block { repr: Repr::Raw { raw, frames: spans }, broken }
    }

    /// Like [`Block::decode_with`], but a third-format block stays compressed: [`Block::get`]
    /// then decompresses the one record asked for.
    ///
    /// `value` is kept as it is when it is already a sled value (a read from the log passes its
    /// own, which costs no copy), copied otherwise.
    pub fn open_with(value: impl Into<sled::IVec>, dicts: &Dicts) -> Block {
        let value: sled::IVec = value.into();
        let bad = |why| Block {
            repr: Repr::Raw { raw: Vec::new(), frames: Vec::new() },
            broken: Some((0, Corrupt { what: "block", why })),
        };
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
            BLOCK_VERSION_FRAMES => {
                let word = |at: usize| rest.get(at..at + 4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")));
                let (Some(id), Some(count)) = (word(0), word(4)) else { return bad("truncated header") };
                let Some(dict) = dicts.get(id) else { return bad("it names a dictionary the log does not hold") };
                let count = count as usize;
                let frames_at = 1 + 8 + 8 * count;
                if count == 0 || frames_at > value.len() {
                    return bad("its frame table does not fit");
                }
                let mut frames = Vec::with_capacity(count);
                let mut broken = None;
                let (mut start, mut records) = (0usize, 0usize);
                for i in 0..count {
                    let end = word(8 + 8 * i).expect("the table fits") as usize;
                    let n = word(12 + 8 * i).expect("the table fits") as usize;
                    if end < start || frames_at + end > value.len() || n == 0 || records + n > BLOCK_RAW_BYTES_MAX / 4 {
                        broken = Some((records, Corrupt { what: "block", why: "its frame table is inconsistent" }));
                        break;
                    }
                    frames.push(Frame {
                        start: (frames_at + start) as u32,
                        len: (end - start) as u32,
                        first: records as u32,
                    });
                    start = end;
                    records += n;
                }
                if broken.is_none() && frames_at + start != value.len() {
                    broken = Some((records, Corrupt { what: "block", why: "bytes follow its last frame" }));
                }
                Block { repr: Repr::Framed { value, frames, records, dict }, broken }
            }
            _ => bad("unknown block version"),
        }
    }

    fn from_raw(raw: Vec<u8>, at: usize) -> Block {
        let (frames, broken) = record_spans(&raw, at);
        let broken = match broken {
            Some(why) => Some((frames.len(), Corrupt { what: "block", why })),
            None if frames.is_empty() => Some((0, Corrupt { what: "block", why: "no records" })),
            None => None,
        };
        Block { repr: Repr::Raw { raw, frames }, broken }
    }

    /// How many records decoded (or, for a block left compressed, how many its frame table
    /// lists).
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Raw { frames, .. } => frames.len(),
            // Up to the frame where the table broke, if it did.
            Repr::Framed { records, .. } => *records,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `n`th record (from 0); `None` past the end, or when its frame does not decompress
    /// ([`Block::record`] says why).
    pub fn get(&self, n: usize) -> Option<Cow<'_, [u8]>> {
        self.record(n).ok().flatten()
    }

    /// The `n`th record (from 0), `None` past the end, or why its frame does not decompress.
    pub fn record(&self, n: usize) -> Result<Option<Cow<'_, [u8]>>, Corrupt> {
        match &self.repr {
            Repr::Raw { raw, frames } => {
                let Some(&(start, len)) = frames.get(n) else { return Ok(None) };
                Ok(raw.get(start as usize..(start + len) as usize).map(Cow::Borrowed))
            }
            Repr::Framed { value, dict, frames, .. } => {
                if n >= self.len() {
                    return Ok(None);
                }
                let k = self.frame_of(n).expect("n is below the count");
                let i = n - frames[k].first as usize;
                let record = with_frame(dict, value, frames, self.len(), k, |bytes, records| {
                    let (start, len) = records[i];
                    bytes[start as usize..(start + len) as usize].to_vec()
                });
                record.map(|r| Some(Cow::Owned(r))).map_err(|why| Corrupt { what: "block", why })
            }
        }
    }

    /// Which part of the block holds record `n` (from 0): its frame in a block left compressed,
    /// 0 in a decoded one; `None` past the end.
    pub fn frame_of(&self, n: usize) -> Option<usize> {
        if n >= self.len() {
            return None;
        }
        match &self.repr {
            Repr::Raw { .. } => Some(0),
            Repr::Framed { frames, .. } => Some(frames.partition_point(|f| f.first as usize <= n) - 1),
        }
    }

    /// Every record that decoded, in order, up to the first that does not.
    pub fn records(&self) -> Vec<Cow<'_, [u8]>> {
        (0..self.len()).map_while(|i| self.get(i)).collect()
    }

    /// Where the framing broke: the index of the first record that does not decode, and why.
    /// For a block left compressed, only its frame table has been checked.
    pub fn broken(&self) -> Option<&(usize, Corrupt)> {
        self.broken.as_ref()
    }

    /// Bytes held in memory, for caches.
    pub fn mem_bytes(&self) -> usize {
        match &self.repr {
            Repr::Raw { raw, frames } => raw.capacity() + frames.capacity() * 8,
            Repr::Framed { value, frames, .. } => value.len() + frames.capacity() * 12,
        }
    }
}

/// A compression dictionary of the log: trained on its first records ([`train_dict`]), stored
/// under [`dict_key`] as `1 ‖ zstd dictionary`, named by the blocks compressed with it. Never
/// changed or removed once written.
pub struct Dict {
    pub id: u32,
    bytes: Vec<u8>,
    cdict: zstd::zstd_safe::CDict<'static>,
    ddict: zstd::zstd_safe::DDict<'static>,
}

impl std::fmt::Debug for Dict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dict").field("id", &self.id).field("bytes", &self.bytes.len()).finish_non_exhaustive()
    }
}

impl Dict {
    /// A dictionary from the bytes [`train_dict`] made.
    pub fn new(id: u32, bytes: Vec<u8>) -> Result<Dict, Corrupt> {
        let bad = |why| Corrupt { what: "dictionary", why };
        if bytes.is_empty() || bytes.len() > 16 * DICT_BYTES {
            return Err(bad("its size is out of bounds"));
        }
        let cdict = zstd::zstd_safe::CDict::try_create(&bytes, ZSTD_LEVEL).ok_or(bad("zstd refuses it"))?;
        let ddict = zstd::zstd_safe::DDict::try_create(&bytes).ok_or(bad("zstd refuses it"))?;
        Ok(Dict { id, bytes, cdict, ddict })
    }

    /// Reads a stored dictionary value back.
    pub fn decode(id: u32, value: &[u8]) -> Result<Dict, Corrupt> {
        match value.split_first() {
            Some((&DICT_VERSION, bytes)) => Dict::new(id, bytes.to_vec()),
            _ => Err(Corrupt { what: "dictionary", why: "unknown version" }),
        }
    }

    /// The value to store under [`dict_key`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![DICT_VERSION];
        out.extend_from_slice(&self.bytes);
        out
    }
}

/// The log's dictionaries, by id.
#[derive(Debug, Clone, Default)]
pub struct Dicts(BTreeMap<u32, Arc<Dict>>);

impl Dicts {
    pub fn get(&self, id: u32) -> Option<Arc<Dict>> {
        self.0.get(&id).cloned()
    }

    pub fn insert(&mut self, dict: Arc<Dict>) {
        self.0.insert(dict.id, dict);
    }

    /// The dictionary of the highest id: the one new blocks use.
    pub fn latest(&self) -> Option<Arc<Dict>> {
        self.0.last_key_value().map(|(_, d)| d.clone())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Trains a dictionary of at most [`DICT_BYTES`] on `samples` (records); `None` when zstd finds
/// too little to learn from. Its id field is cleared, so that frames compressed with it do not
/// carry the id: blocks name their dictionary themselves.
pub fn train_dict<S: AsRef<[u8]>>(samples: &[S]) -> Option<Vec<u8>> {
    let mut bytes = train(samples, DICT_BYTES)?;
    bytes[4..8].copy_from_slice(&[0; 4]);
    Some(bytes)
}

/// A zstd dictionary of at most `max` bytes trained on `samples`, checked to start as one does:
/// its magic number, then its id (both u32 LE).
fn train<S: AsRef<[u8]>>(samples: &[S], max: usize) -> Option<Vec<u8>> {
    let bytes = zstd::dict::from_samples(samples, max).ok()?;
    (bytes.len() >= 8 && bytes[..4] == [0x37, 0xA4, 0x30, 0xEC]).then_some(bytes)
}

/// Appends `raw` compressed with `dict` as one zstd frame (with its size, without checksum or
/// dictionary id: the records' hashes check their content) to `out`.
fn compress_with(dict: &Dict, raw: &[u8], out: &mut Vec<u8>) {
    thread_local! {
        static CCTX: std::cell::RefCell<Option<(zstd::zstd_safe::CCtx<'static>, Vec<u8>)>> =
            const { std::cell::RefCell::new(None) };
    }
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        let (cctx, scratch) = c.get_or_insert_with(|| (zstd::zstd_safe::CCtx::create(), Vec::new()));
        scratch.clear();
        scratch.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        cctx.compress_using_cdict(scratch, raw, &dict.cdict).expect("compressing to a buffer of zstd's bound");
        out.extend_from_slice(scratch);
    })
}

/// The start and length of each length-prefixed record in `raw` from `at` on, and why the walk
/// stopped early, if it did: the body of a block, or of one frame of a format-3 block.
fn record_spans(raw: &[u8], mut at: usize) -> (Vec<(u32, u32)>, Option<&'static str>) {
    let mut spans = Vec::new();
    while at < raw.len() {
        let Some(len) = raw.get(at..at + 4) else { return (spans, Some("truncated length")) };
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        if raw.len() - at - 4 < len {
            return (spans, Some("record runs past the end of the block"));
        }
        spans.push(((at + 4) as u32, len as u32));
        at += 4 + len;
    }
    (spans, None)
}

/// Decompresses frame `k` of a format-3 block `value` (whose table lists `records` in all) and
/// hands `f` its bytes and the start and length of each of its records, once they are checked
/// against the table's count.
fn with_frame<T>(
    dict: &Dict,
    value: &[u8],
    frames: &[Frame],
    records: usize,
    k: usize,
    f: impl FnOnce(&[u8], &[(u32, u32)]) -> T,
) -> Result<T, &'static str> {
    let frame = &frames[k];
    let stated = frames.get(k + 1).map_or(records, |next| next.first as usize) - frame.first as usize;
    with_decompressed(
        dict,
        &value[frame.start as usize..(frame.start + frame.len) as usize],
        BLOCK_RAW_BYTES_MAX,
        |bytes| match record_spans(bytes, 0) {
            (spans, None) if spans.len() == stated => Ok(f(bytes, &spans)),
            (_, None) => Err("a frame holds another number of records than its table says"),
            (_, Some(why)) => Err(why),
        },
    )?
}

/// Decompresses the zstd `frame`, compressed with `dict`, into a buffer kept per thread and
/// hands it to `f`; a frame stating more than `max` bytes is refused.
fn with_decompressed<T>(dict: &Dict, frame: &[u8], max: usize, f: impl FnOnce(&[u8]) -> T) -> Result<T, &'static str> {
    thread_local! {
        static DCTX: std::cell::RefCell<Option<(zstd::zstd_safe::DCtx<'static>, Vec<u8>)>> =
            const { std::cell::RefCell::new(None) };
    }
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n as usize <= max => n as usize,
        Ok(Some(_)) => return Err("a frame's stated size is over the limit"),
        _ => return Err("a frame does not state its size (damaged)"),
    };
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        let (dctx, scratch) = d.get_or_insert_with(|| (zstd::zstd_safe::DCtx::create(), Vec::new()));
        scratch.clear();
        scratch.reserve(size);
        match dctx.decompress_using_ddict(scratch, frame, &dict.ddict) {
            Ok(n) if n == size => Ok(f(scratch)),
            Ok(_) => Err("a frame decompresses to another size than it states"),
            Err(_) => Err("a frame does not decompress (damaged)"),
        }
    })
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

/// Set in a state page's length word when the page's event ids are written as references to
/// their positions (`refs.rs`); the word's other bits are the length.
pub const STATE_PAGE_REFS: u32 = 1 << 31;

/// A page of the gate's state with every quoted event id that `position` knows written as a
/// reference to its position (`refs.rs`), for [`encode_state_page`] with `refs`.
pub fn state_page_refs(page: &[u8], position: impl Fn(&Uuid) -> Option<u64>) -> Vec<u8> {
    crate::refs::encode(page, position)
}

/// Compresses a page of the gate's state for storage: `length word u32 LE ‖ zstd frame`, the
/// frame with its content checksum and, when compressed with the state's dictionary, that
/// dictionary's id. `refs`: the page holds event references ([`state_page_refs`]), which the
/// length word then says.
pub fn encode_state_page(page: &[u8], dict: Option<&Dict>, refs: bool) -> Vec<u8> {
    let raw_len = u32::try_from(page.len()).ok().filter(|&n| n as usize <= STATE_PAGE_RAW_BYTES_MAX);
    let raw_len = raw_len.expect("pages are bounded far below the limit");
    let flags = if refs { STATE_PAGE_REFS } else { 0 };
    let mut out = (raw_len | flags).to_le_bytes().to_vec();
    match dict {
        None => compress_into(page, &mut out),
        Some(dict) => {
            use zstd::zstd_safe::{CCtx, CParameter};
            thread_local! {
                static CCTX: std::cell::RefCell<Option<(CCtx<'static>, Vec<u8>)>> =
                    const { std::cell::RefCell::new(None) };
            }
            CCTX.with(|c| {
                let mut c = c.borrow_mut();
                let (cctx, scratch) = c.get_or_insert_with(|| {
                    let mut cctx = CCtx::create();
                    cctx.set_parameter(CParameter::ChecksumFlag(true)).expect("a flag zstd knows");
                    cctx.set_parameter(CParameter::DictIdFlag(true)).expect("a flag zstd knows");
                    (cctx, Vec::new())
                });
                scratch.clear();
                scratch.reserve(zstd::zstd_safe::compress_bound(page.len()));
                cctx.ref_cdict(&dict.cdict).expect("no frame is in progress between pages");
                let done = cctx.compress2(scratch, page);
                // The context keeps no reference to a dictionary that may be dropped before its next use.
                cctx.disable_dictionary().expect("no frame is in progress after one ends");
                done.expect("compressing to a buffer of zstd's bound");
                out.extend_from_slice(scratch);
            });
        }
    }
    out
}

/// Reads back a page written by [`encode_state_page`]; `dict` is the state's dictionary, if it
/// has one. A page with event references is refused: only its log resolves them
/// ([`decode_state_page_refs`]).
pub fn decode_state_page(value: &[u8], dict: Option<&Dict>) -> Result<Vec<u8>, Corrupt> {
    match decompress_state_page(value, dict)? {
        (raw, false) => Ok(raw),
        (_, true) => Err(Corrupt { what: "state page", why: "it holds event references, which only its log resolves" }),
    }
}

/// Reads back a page written by [`encode_state_page`], with or without event references; `id`
/// gives the event id at a position, for references.
pub fn decode_state_page_refs(
    value: &[u8],
    dict: Option<&Dict>,
    id: impl FnMut(u64) -> Option<Uuid>,
) -> Result<Vec<u8>, Corrupt> {
    match decompress_state_page(value, dict)? {
        (raw, false) => Ok(raw),
        (raw, true) => crate::refs::decode(&raw, id).map_err(|why| Corrupt { what: "state page", why }),
    }
}

/// The page's bytes as compressed, and whether they hold event references.
fn decompress_state_page(value: &[u8], dict: Option<&Dict>) -> Result<(Vec<u8>, bool), Corrupt> {
    let bad = |why| Corrupt { what: "state page", why };
    let len = value.get(..4).ok_or(bad("truncated length"))?;
    let word = u32::from_le_bytes(len.try_into().expect("4 bytes"));
    let refs = word & STATE_PAGE_REFS != 0;
    let raw_len = (word & !STATE_PAGE_REFS) as usize;
    if raw_len > STATE_PAGE_RAW_BYTES_MAX {
        return Err(bad("its stated size is over the limit"));
    }
    let frame = &value[4..];
    let raw = match zstd::zstd_safe::get_dict_id_from_frame(frame) {
        None => decompress(frame, raw_len),
        Some(id) => {
            let dict = dict
                .filter(|d| d.id == id.get())
                .ok_or(bad("it names a compression dictionary the state does not hold"))?;
            with_decompressed(dict, frame, STATE_PAGE_RAW_BYTES_MAX, <[u8]>::to_vec).map_err(std::io::Error::other)
        }
    };
    match raw {
        Ok(raw) if raw.len() == raw_len => Ok((raw, refs)),
        Ok(_) => Err(bad("it decompresses to another size than it states")),
        Err(_) => Err(bad("it does not decompress (damaged)")),
    }
}

/// Bytes of the derived state's dictionary.
pub const STATE_DICT_BYTES: usize = 64 << 10;
/// Bytes of pages the derived state's dictionary is trained on, about: the store takes every
/// n-th page of a checkpoint to make them.
pub const STATE_DICT_SAMPLE_BYTES: usize = 1 << 20;

/// Trains the dictionary of the derived state's pages on `samples`, pages chosen by the caller
/// (spread over a large checkpoint, about [`STATE_DICT_SAMPLE_BYTES`], so that it sees every
/// kind of entity), cut into pieces of 4 KiB. Its id is zstd's own (never 0), written in every
/// frame compressed with it; `None` when zstd finds too little to learn from.
pub fn train_state_dict(samples: &[&[u8]]) -> Option<Dict> {
    const PIECE: usize = 4 << 10;
    let pieces: Vec<&[u8]> = samples.iter().flat_map(|p| p.chunks(PIECE)).collect();
    let mut bytes = train(&pieces, STATE_DICT_BYTES)?;
    if bytes[4..8] == [0; 4] {
        bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    }
    let id = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    Dict::new(id, bytes).ok()
}

impl Dict {
    /// Reads the derived state's stored dictionary back (its id is in its bytes).
    pub fn decode_state(value: &[u8]) -> Result<Dict, Corrupt> {
        // `version ‖ magic ‖ id ‖ …`
        let id = value.get(5..9).ok_or(Corrupt { what: "state dictionary", why: "truncated" })?;
        Dict::decode(u32::from_le_bytes(id.try_into().expect("4 bytes")), value)
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
