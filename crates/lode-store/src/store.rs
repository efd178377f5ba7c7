//! The store: opening, the single writer with group commit, and reads.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use crate::block::{self, Block, BlockBuilder, StoredHead, BLOCK_PREFIX, HEAD_KEY, SEGMENT_PREFIX};
use crate::cache::BlockCache;
use crate::error::{AppendError, OpenError, ReadError, StopReason};
use crate::gate::{Candidate, Gate, Open};
use crate::mark::{self, Mark};
use crate::merkle;
use crate::record::{self, Hash};

/// The hasher of the store's in-memory maps (ids, streams, a group's pending ids and versions):
/// foldhash, seeded at random per process, rather than SipHash, which was 5% of the writer's
/// time in a bulk import (several lookups and inserts per event) and of rebuilding the index at
/// open.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Tunable limits and durability settings. Every limit is named with its unit last.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest event accepted, in bytes of its JSON.
    pub event_bytes_max: usize,
    /// Most events in one append request.
    pub batch_events_max: usize,
    /// Most events the writer gathers into one group commit.
    pub group_events_max: usize,
    /// Most append requests waiting for the writer; past it appends fail with `Overloaded`.
    pub queue_depth: usize,
    /// A block is closed once its records reach this many bytes (before compression).
    pub block_bytes_max: usize,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Decoded blocks kept for reads by position (a lot's history, an event by id), in bytes.
    pub block_cache_bytes: usize,
    /// Records' bytes the log trains its first compression dictionary on, once it has written
    /// that many; blocks written after it are cut into frames compressed with it (block format
    /// 3, `docs/format.md` §4), which a read by position decompresses alone. 0: never; blocks
    /// stay in format 2.
    pub dict_train_bytes: usize,
    /// Records' bytes, counted from the log's start, at which the log trains its second and last
    /// dictionary, on the records written since the first: enough of them to compress later ones
    /// as well as the log can. 0 (or no more than `dict_train_bytes`): no second dictionary.
    pub dict_retrain_bytes: usize,
    /// Raw bytes a checkpoint's pages must reach for the derived state to train its compression
    /// dictionary on them (once). 0: never.
    pub state_dict_train_bytes: usize,
    /// `fsync` the data files after each group commit. Only tests turn this off.
    pub fsync: bool,
    /// Drop the gate's persisted state at open and rebuild it from the whole log.
    pub rebuild_state: bool,
    /// Free bytes the data directory's file system must keep: below it the store refuses to open
    /// and refuses appends (`docs/reliability.md`). sled damages its own files when a write fails
    /// for want of space, so the store stops before the disk is full. 0 turns the check off. The
    /// default is 64 MiB, or `LODE_DISK_FREE_MIN_BYTES` when set.
    pub disk_free_bytes_min: u64,
}

/// The default of [`Options::disk_free_bytes_min`].
pub const DISK_FREE_BYTES_MIN: u64 = 64 << 20;

/// The bytes free to unprivileged users on the file system of `dir`.
fn disk_free_bytes(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Refuses when the file system of `dir` has less than `min` bytes free.
fn check_disk_free(dir: &Path, min: u64) -> Result<(), (u64, u64)> {
    if min == 0 {
        return Ok(());
    }
    match disk_free_bytes(dir) {
        Ok(free) if free < min => Err((free, min)),
        // A file system that cannot say is not refused for it.
        _ => Ok(()),
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            event_bytes_max: 64 * 1024,
            batch_events_max: 10_000,
            group_events_max: 10_000,
            queue_depth: 4096,
            block_bytes_max: 16 * 1024,
            cache_bytes: 256 * 1024 * 1024,
            block_cache_bytes: 16 * 1024 * 1024,
            dict_train_bytes: 2 << 20,
            dict_retrain_bytes: 8 << 20,
            state_dict_train_bytes: 4 << 20,
            fsync: true,
            rebuild_state: false,
            disk_free_bytes_min: std::env::var("LODE_DISK_FREE_MIN_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DISK_FREE_BYTES_MIN),
        }
    }
}

/// The position of the last durable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of records, which is also the position of the last one (0 when empty).
    pub seq: u64,
    /// Chain hash of the last record ([`Hash::GENESIS`] when empty).
    pub hash: Hash,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Global position, from 1.
    pub seq: u64,
    /// The record's bytes exactly as stored and hashed.
    pub bytes: Vec<u8>,
}

impl Record {
    /// Builds a record from stored bytes, once its header parses.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Record, record::Malformed> {
        let header = record::parse(&bytes)?;
        Ok(Record { seq: header.seq, bytes })
    }

    /// The record's chain hash, from its `prev` field and its leaf hash: computed when asked
    /// (a BLAKE3 pass over the record), not on every read.
    pub fn hash(&self) -> Hash {
        record::chain_hash(&self.header().prev, &self.leaf())
    }

    /// The record's leaf hash (`docs/format.md` §2).
    pub fn leaf(&self) -> Hash {
        record::leaf_hash(&self.bytes)
    }

    /// The record's parsed header.
    pub fn header(&self) -> record::Header<'_> {
        record::parse(&self.bytes).expect("records are checked when they are read")
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent<P> {
    /// The event's id. The same id with identical `event` bytes is an idempotent retry.
    pub id: Uuid,
    /// The event as one JSON object on one line, stored verbatim.
    pub event: Vec<u8>,
    /// Stream versions the event expects; a mismatch stops the append.
    pub expected: Vec<(String, u64)>,
    /// What the gate needs to decide (for [`Open`], the streams the event touches).
    pub payload: P,
}

/// Where an appended event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub hash: Hash,
    /// The event was already in the log (an idempotent retry): nothing new was written.
    pub duplicate: bool,
}

/// An event that stopped an append, with its index in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped<R> {
    pub index: usize,
    pub reason: StopReason<R>,
}

/// The result of an append request that reached the writer.
#[derive(Debug, Clone)]
pub struct Appended<R> {
    /// Positions of the events appended (or found as retries), in request order.
    pub positions: Vec<Position>,
    /// The event that stopped the request, if one did; nothing from it on was appended.
    pub stopped: Option<Stopped<R>>,
    /// The durable head after the group that carried this request.
    pub head: Head,
}

/// What an append request is answered with.
type Answer<R> = Result<Appended<R>, AppendError>;
type Reply<R> = oneshot::Sender<Answer<R>>;
/// A request's outcome before its group is durable: positions and where it stopped.
type Outcome<R> = Result<(Vec<Position>, Option<Stopped<R>>), AppendError>;
/// Pages of persisted gate state: (key, value).
pub type StatePages = Vec<(Vec<u8>, Vec<u8>)>;

struct Request<G: Gate> {
    events: Vec<NewEvent<G::Payload>>,
    reply: Reply<G::Rejection>,
    /// Set when a request of the same [`Pipeline`] stopped: later ones are refused whole.
    pipeline: Option<Arc<AtomicBool>>,
    /// Persist the gate's state and sync, whatever is due.
    checkpoint: bool,
}

/// Several append requests in flight from one client, taken in order, with the guarantee that
/// once one stops (a conflict or a rejection), none submitted after it appends anything.
///
/// A client that waits for each batch to be durable before sending the next leaves the disk idle
/// while it prepares the next batch; a pipeline keeps the writer and the disk busy.
#[derive(Debug)]
pub struct Pipeline<'a, G: Gate> {
    store: &'a Store<G>,
    stopped: Arc<AtomicBool>,
}

/// An append request submitted through a [`Pipeline`], not yet answered.
#[derive(Debug)]
pub struct Ticket<R> {
    rx: oneshot::Receiver<Answer<R>>,
}

impl<R> Ticket<R> {
    /// Waits until the request's group is durable (or refused).
    pub fn wait(self) -> Result<Appended<R>, AppendError> {
        self.rx.blocking_recv().map_err(|_| AppendError::Closed)?
    }
}

impl<G: Gate> Pipeline<'_, G> {
    /// Submits a request behind the ones submitted before.
    ///
    /// # Errors
    /// As [`Store::append`]; a request submitted after one that stopped is answered with
    /// [`AppendError::PipelineStopped`].
    pub fn submit(&self, events: Vec<NewEvent<G::Payload>>) -> Result<Ticket<G::Rejection>, AppendError> {
        Ok(Ticket { rx: self.store.submit(events, Some(self.stopped.clone()))? })
    }
}

/// Ids and streams of the durable log, kept in memory and rebuilt at open from the index
/// segments.
#[derive(Debug, Default)]
pub(crate) struct Index {
    ids: FastMap<Uuid, u64>,
    streams: FastMap<Box<str>, Vec<u64>>,
    /// The first position of every block, in order: a point lookup finds a record's block.
    blocks: Vec<u64>,
}

impl Index {
    fn version(&self, stream: &str) -> u64 {
        self.streams.get(stream).map_or(0, |v| v.len() as u64)
    }
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) db: Sled<sled::Db>,
    pub(crate) log: Sled<sled::Tree>,
    /// The gate's persisted state: its pages, and its position under [`STATE_POSITION_KEY`].
    pub(crate) state: Sled<sled::Tree>,
    pub(crate) index: RwLock<Index>,
    pub(crate) durable: Mutex<Head>,
    pub(crate) durable_cv: Condvar,
    pub(crate) durable_tx: watch::Sender<u64>,
    poisoned: Mutex<Option<String>>,
    pub(crate) closed: AtomicBool,
    /// The head mark (`mark.rs`), advanced after every durable group.
    mark: Mark,
    /// Decoded blocks for reads by position.
    blocks: Mutex<BlockCache>,
    /// The log's compression dictionaries, which blocks of format 3 need.
    dicts: RwLock<block::Dicts>,
    /// The derived state's compression dictionary, once trained.
    state_dict: RwLock<Option<Arc<block::Dict>>>,
    /// Merkle nodes per node page in this log's layout.
    nodes_per_page: u64,
}

/// A sled handle that a failed store can leave unflushed: dropping sled's handles flushes, and
/// after a failed write (a full disk, say) that flush waits for ever for a write that will never
/// complete.
pub(crate) struct Sled<T>(Option<T>);

impl<T> std::ops::Deref for Sled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("sled's handles are taken only when the store is dropped")
    }
}

impl<T> Sled<T> {
    /// Lets the operating system close the handle, without sled's flush.
    fn abandon(&mut self) {
        if let Some(h) = self.0.take() {
            std::mem::forget(h);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // What was durable is on disk; what was not was never acknowledged.
        if self.poisoned.get_mut().map(|p| p.is_some()).unwrap_or(true) {
            tracing::warn!("the store failed a write: closing without flushing sled");
            self.state.abandon();
            self.log.abandon();
            self.db.abandon();
        }
    }
}

/// Event ids by position, read from the index segments as they are asked for and kept for one
/// operation (a restore, a checkpoint, a read of the state): what resolves the event references
/// of the state's pages.
struct SegmentIds<'a> {
    shared: &'a Shared,
    /// The ids of each block asked for so far, by the block's first position.
    blocks: FastMap<u64, Vec<Uuid>>,
}

impl<'a> SegmentIds<'a> {
    fn new(shared: &'a Shared) -> Self {
        SegmentIds { shared, blocks: FastMap::default() }
    }

    /// The id of the event at `seq`, if the log holds it.
    fn id(&mut self, seq: u64) -> Option<Uuid> {
        let first = {
            let index = self.shared.index.read().expect("index lock");
            *index.blocks.get(index.blocks.partition_point(|&f| f <= seq).checked_sub(1)?)?
        };
        if !self.blocks.contains_key(&first) {
            let segment = self.shared.log.get(block::key(SEGMENT_PREFIX, first)).ok()??;
            let ids = block::decode_segment_ref(&segment).ok()?.into_iter().map(|e| e.id).collect();
            self.blocks.insert(first, ids);
        }
        self.blocks[&first].get(usize::try_from(seq - first).ok()?).copied()
    }
}

/// `f` over `items`, split between this thread and one more when there are enough to pay for it.
fn on_two_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let (a, b) = items.split_at(items.len() / 2);
    std::thread::scope(|s| {
        let h = s.spawn(|| b.iter().map(&f).collect::<Vec<_>>());
        let mut out: Vec<R> = a.iter().map(&f).collect();
        out.extend(h.join().expect("the work on pages does not panic"));
        out
    })
}

impl Shared {
    /// The derived state's dictionary, if it has one.
    fn state_dict(&self) -> Option<Arc<block::Dict>> {
        self.state_dict.read().expect("state dictionary lock").clone()
    }

    /// Drops the persisted derived state, dictionary included, for a rebuild from the log.
    fn clear_state(&self) -> Result<(), sled::Error> {
        self.state.clear()?;
        *self.state_dict.write().expect("state dictionary lock") = None;
        Ok(())
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// The append-only, hash-chained event log.
///
/// One writer thread owns appends; any number of threads read. Dropping the store lets the
/// writer finish the requests already queued, then closes the database.
pub struct Store<G: Gate = Open> {
    shared: Arc<Shared>,
    tx: Option<SyncSender<Request<G>>>,
    /// The writer, the composer, then the syncer: each one's end closes the next one's queue.
    threads: Vec<JoinHandle<()>>,
    options: Options,
}

/// The key of the gate's persisted position in the `state` tree.
pub const STATE_POSITION_KEY: &[u8] = b"\x00position";
/// Key under which the state tree says how its pages are stored; absent in ledgers written
/// before pages were compressed, whose derived state is then rebuilt from the log once.
pub const STATE_CODEC_KEY: &[u8] = b"\x00codec";
/// Pages compressed by [`block::encode_state_page`], with the state's dictionary once it has one,
/// their event ids written as references to positions (`refs.rs`).
const STATE_CODEC: &[u8] = b"zstd-v3";
/// Codecs written before, whose pages are still read: without references, and without a
/// dictionary (v1) or perhaps with one (v2).
const STATE_CODECS_READ: [&[u8]; 2] = [b"zstd-v1", b"zstd-v2"];
/// Key of the derived state's compression dictionary, trained on the pages of its first large
/// checkpoint and written in the batch of the first pages compressed with it.
pub const STATE_DICT_KEY: &[u8] = b"\x00dict";

/// Pages of the derived state written in one sled batch. A checkpoint of more (the first of a
/// ledger, or after a long import) is written in parts of this many, each flushed before the
/// next: sled keeps every node version superseded within one batch until later writes let it
/// reclaim them, and on the 100,019 events of the benchmark one batch of all 4,096 pages left
/// 2.4 bytes on disk per live byte, parts of 128 pages 1.6 (`docs/benchmarks.md`).
const STATE_PAGES_PER_BATCH: usize = 128;

/// Groups handed to sled and waiting for the syncer, at most.
const SYNC_QUEUE_GROUPS: usize = 4;

impl<G: Gate> std::fmt::Debug for Store<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.shared.dir).field("head", &self.head()).finish()
    }
}

impl Store<Open> {
    /// Opens (or creates) a store with no rules: every event is admitted with the streams given
    /// in its payload.
    pub fn open_open(dir: &Path, options: Options) -> Result<Store<Open>, OpenError> {
        Store::open(dir, options, Open::default())
    }
}

impl<G: Gate> Store<G> {
    /// Opens (or creates) the store in `dir`, brings `gate` up to date with the log by replaying
    /// the records after its position, and starts the writer.
    ///
    /// # Errors
    /// [`OpenError::InUse`] when another process has the directory open, [`OpenError::Format`]
    /// for a directory of another format, [`OpenError::Corrupt`] when the stored indexes do not
    /// decode, [`OpenError::Replay`]/[`OpenError::GateAhead`] when the gate cannot follow the log,
    /// and [`OpenError::Storage`] for I/O failures.
    pub fn open(dir: &Path, options: Options, mut gate: G) -> Result<Store<G>, OpenError> {
        let storage = |source: std::io::Error| OpenError::Storage { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(storage)?;
        mark::check_db_present(dir).map_err(OpenError::Corrupt)?;
        let known = mark::read(dir).map_err(OpenError::Corrupt)?;
        // Opening writes (sled's recovery, the mark): on a full disk it could damage the files.
        check_disk_free(dir, options.disk_free_bytes_min).map_err(|(free, min)| OpenError::DiskFull {
            path: dir.to_owned(),
            free,
            min,
        })?;
        let db = open_sled(dir, options.cache_bytes)?;
        let log = db.open_tree("log").map_err(|e| storage(sled_to_io(e)))?;
        let state = db.open_tree("state").map_err(|e| storage(sled_to_io(e)))?;
        let old_codec = state
            .get(STATE_CODEC_KEY)
            .map_err(|e| storage(sled_to_io(e)))?
            .is_none_or(|c| c != STATE_CODEC && !STATE_CODECS_READ.contains(&c.as_ref()));
        if options.rebuild_state || (old_codec && !state.is_empty()) {
            state.clear().map_err(|e| storage(sled_to_io(e)))?;
        }
        // A dictionary that does not decode leaves its pages undecodable: the state is rebuilt.
        let state_dict = match state.get(STATE_DICT_KEY).map_err(|e| storage(sled_to_io(e)))? {
            Some(v) => block::Dict::decode_state(&v)
                .inspect_err(|e| tracing::warn!(error = %e, "the derived state's dictionary does not decode"))
                .ok()
                .map(Arc::new),
            None => None,
        };

        let layout = log.get(block::FORMAT_KEY).map_err(|e| storage(sled_to_io(e)))?;
        let nodes_per_page = match &layout {
            Some(v) if block::nodes_per_page(v).is_some() => block::nodes_per_page(v).expect("just matched"),
            Some(v) => {
                return Err(OpenError::Format {
                    path: dir.to_owned(),
                    found: String::from_utf8_lossy(v).into_owned(),
                    expected: String::from_utf8_lossy(block::FORMAT_VERSION).into_owned(),
                })
            }
            None => {
                if log.first().map_err(|e| storage(sled_to_io(e)))?.is_some() {
                    return Err(OpenError::Corrupt("the log has records but no format key".into()));
                }
                log.insert(block::FORMAT_KEY, block::FORMAT_VERSION).map_err(|e| storage(sled_to_io(e)))?;
                db.flush().map_err(|e| storage(sled_to_io(e)))?;
                if options.fsync {
                    sync_dir_files(dir).map_err(storage)?;
                }
                block::NODES_PER_PAGE
            }
        };

        let stored = match log.get(HEAD_KEY).map_err(|e| storage(sled_to_io(e)))? {
            Some(v) => {
                StoredHead::decode(&v).ok_or_else(|| OpenError::Corrupt("the head key does not decode".into()))?
            }
            None => StoredHead { seq: 0, hash: Hash::GENESIS, recorded_at_us: 0 },
        };

        let index = load_index(&log, stored.seq)?;
        let (dicts, next_dict_id) = load_dicts(&log).map_err(|e| storage(sled_to_io(e)))?;

        let head = Head { seq: stored.seq, hash: stored.hash };
        let (durable_tx, _) = watch::channel(head.seq);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            db: Sled(Some(db)),
            log: Sled(Some(log)),
            state: Sled(Some(state)),
            index: RwLock::new(index),
            durable: Mutex::new(head),
            durable_cv: Condvar::new(),
            durable_tx,
            poisoned: Mutex::new(None),
            closed: AtomicBool::new(false),
            mark: Mark::open(dir).map_err(storage)?,
            blocks: Mutex::new(BlockCache::new(options.block_cache_bytes)),
            dicts: RwLock::new(dicts),
            state_dict: RwLock::new(state_dict),
            nodes_per_page,
        });
        if let Some(known) = known {
            check_mark(&Reader { shared: shared.clone() }, head, known)?;
        }
        shared.mark.write(&head, options.fsync).map_err(storage)?;

        // Bring the gate up to date before any append can reach it: restore what it persisted,
        // then replay the records after that.
        if !G::STATELESS {
            restore_gate(&shared, &mut gate, head.seq).map_err(|e| storage(sled_to_io(e)))?;
        }
        let from = if G::STATELESS { head.seq } else { gate.position() };
        if from > head.seq {
            return Err(OpenError::GateAhead { gate: from, head: head.seq });
        }
        if from < head.seq {
            let reader = Reader { shared: shared.clone() };
            for rec in reader.iter_from(from + 1) {
                let rec = rec.map_err(|e| OpenError::Corrupt(e.to_string()))?;
                gate.replay(&rec).map_err(|e| OpenError::Replay { seq: rec.seq, reason: e.to_string() })?;
            }
        }

        let (tx, rx) = mpsc::sync_channel(options.queue_depth);
        let (sync_tx, sync_rx) = mpsc::sync_channel(SYNC_QUEUE_GROUPS);
        let syncer_state = Syncer {
            shared: shared.clone(),
            rx: sync_rx,
            db_file: if options.fsync { Some(File::open(dir.join("db")).map_err(storage)?) } else { None },
            blobs_synced: 0,
            blob_watch: BlobWatch::new(dir),
        };
        let syncer = std::thread::Builder::new()
            .name("lode-syncer".into())
            .spawn(move || syncer_state.run())
            .map_err(storage)?;
        let reader = Reader { shared: shared.clone() };
        let tree = match merkle::Appender::from_store(&reader, head.seq) {
            Some(tree) => tree,
            // A ledger written before the tree was kept, or whose node pages were lost: the
            // nodes derive from the leaf hashes in the index segments, so build them again.
            None => rebuild_tree(&shared.log, head.seq, nodes_per_page).map_err(OpenError::Corrupt)?,
        };
        let unwritten = Unwritten::default();
        let (compose_tx, compose_rx) = mpsc::sync_channel(COMPOSE_QUEUE_JOBS);
        let composer_state = Composer {
            shared: shared.clone(),
            rx: compose_rx,
            sync_tx,
            options: options.clone(),
            written: head,
            merkle: tree,
            node_pages: HashMap::new(),
            unwritten: unwritten.clone(),
            failed: None,
            next_dict_id,
            samples: Vec::new(),
            seen: 0,
            seen_bytes: 0,
            train_at: if layout.as_deref() == Some(block::FORMAT_VERSION_V1) {
                0
            } else {
                train_threshold(&options, next_dict_id)
            },
            retrain_at: train_threshold(&options, 2),
            training: None,
            seeded: false,
            // A log of the first layout keeps blocks of formats 1 and 2; one of the second is
            // marked as the third when it gets its dictionary.
            layout_v2: layout.as_deref().is_none_or(|v| v == block::FORMAT_VERSION),
        };
        let composer = std::thread::Builder::new()
            .name("lode-composer".into())
            .spawn(move || composer_state.run())
            .map_err(storage)?;
        let writer_state = Writer {
            shared: shared.clone(),
            gate,
            rx,
            options: options.clone(),
            head,
            last_recorded_us: stored.recorded_at_us,
            compose_tx,
            unwritten,
        };
        let writer = std::thread::Builder::new()
            .name("lode-writer".into())
            .spawn(move || writer_state.run())
            .map_err(storage)?;
        // Joined in this order at close: each one's end closes the next one's queue.
        Ok(Store { shared, tx: Some(tx), threads: vec![writer, composer, syncer], options })
    }

    /// A cheap, cloneable handle for reads and subscriptions.
    pub fn reader(&self) -> Reader {
        Reader { shared: self.shared.clone() }
    }

    /// The durable head.
    pub fn head(&self) -> Head {
        self.reader().head()
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Appends a batch and waits until it is durable.
    ///
    /// Events are taken in order; the first one that conflicts or is rejected stops the request
    /// (see [`Appended::stopped`]): the events before it are appended, it and those after it are
    /// not. Everything appended by one group commit becomes durable together.
    ///
    /// # Errors
    /// See [`AppendError`]: in every case nothing of the request was appended, except
    /// [`AppendError::Storage`], after which the outcome of that group is unknown until reopening.
    pub fn append(&self, events: Vec<NewEvent<G::Payload>>) -> Result<Appended<G::Rejection>, AppendError> {
        let rx = self.submit(events, None)?;
        rx.blocking_recv().map_err(|_| AppendError::Closed)?
    }

    /// Persists the gate's state now and waits until it is durable.
    ///
    /// # Errors
    /// As [`Store::append`].
    pub fn checkpoint(&self) -> Result<Head, AppendError> {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(AppendError::Closed)?;
        tx.send(Request { events: Vec::new(), reply, pipeline: None, checkpoint: true })
            .map_err(|_| AppendError::Closed)?;
        Ok(rx.blocking_recv().map_err(|_| AppendError::Closed)??.head)
    }

    /// Starts a [`Pipeline`] of requests.
    pub fn pipeline(&self) -> Pipeline<'_, G> {
        Pipeline { store: self, stopped: Arc::new(AtomicBool::new(false)) }
    }

    /// [`Store::append`] for async callers.
    pub async fn append_async(&self, events: Vec<NewEvent<G::Payload>>) -> Result<Appended<G::Rejection>, AppendError> {
        let rx = self.submit(events, None)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    fn submit(
        &self,
        events: Vec<NewEvent<G::Payload>>,
        pipeline: Option<Arc<AtomicBool>>,
    ) -> Result<oneshot::Receiver<Answer<G::Rejection>>, AppendError> {
        if events.len() > self.options.batch_events_max {
            return Err(AppendError::BatchTooLarge { events: events.len(), max: self.options.batch_events_max });
        }
        for (index, ev) in events.iter().enumerate() {
            if ev.event.len() > self.options.event_bytes_max {
                return Err(AppendError::EventTooLarge {
                    index,
                    bytes: ev.event.len(),
                    max: self.options.event_bytes_max,
                });
            }
            check_event_bytes(&ev.event).map_err(|why| AppendError::InvalidEvent { index, why })?;
            for (name, _) in &ev.expected {
                if !record::is_valid_stream(name) {
                    return Err(AppendError::InvalidStream { index, name: name.clone() });
                }
            }
            if let Some(name) = G::payload_streams(&ev.payload).iter().find(|s| !record::is_valid_stream(s)) {
                return Err(AppendError::InvalidStream { index, name: name.clone() });
            }
        }
        if let Some(why) = self.shared.poisoned.lock().expect("poison lock").clone() {
            return Err(AppendError::Poisoned(why));
        }
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(AppendError::Closed)?;
        match tx.try_send(Request { events, reply, pipeline, checkpoint: false }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(AppendError::Overloaded { queue_depth: self.options.queue_depth }),
            Err(TrySendError::Disconnected(_)) => Err(AppendError::Closed),
        }
    }

    /// Stops accepting appends, lets the writer finish what is queued, and flushes.
    pub fn close(mut self) -> Result<(), ReadError> {
        self.shutdown();
        self.shared.db.flush()?;
        Ok(())
    }

    fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        drop(self.tx.take());
        let running = !self.threads.is_empty();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a store thread panicked");
            }
        }
        if running && self.shared.poisoned.lock().map(|p| p.is_none()).unwrap_or(false) {
            let head = *self.shared.durable.lock().expect("durable lock");
            if let Err(e) = self.shared.mark.write(&head, self.options.fsync) {
                tracing::warn!(error = %e, "writing the head mark at close failed");
            }
        }
    }
}

impl<G: Gate> Drop for Store<G> {
    fn drop(&mut self) {
        self.shutdown();
        // Wake blocked subscribers so they can see the store is closing.
        self.shared.durable_cv.notify_all();
        self.shared.durable_tx.send_modify(|_| {});
    }
}

/// The writer thread's state.
struct Writer<G: Gate> {
    shared: Arc<Shared>,
    gate: G,
    rx: Receiver<Request<G>>,
    options: Options,
    /// The head of everything handed to the composer, written or not yet.
    head: Head,
    last_recorded_us: i64,
    compose_tx: SyncSender<ComposeJob<G::Rejection>>,
    /// Groups handed to the composer and not yet written to sled.
    unwritten: Unwritten,
}

/// Groups the writer checked and chained, in order, until the composer has written them: a
/// retry of an event among them is compared with these, since sled does not hold them yet.
type Unwritten = Arc<Mutex<std::collections::VecDeque<Arc<Vec<Pending>>>>>;

/// Jobs the composer takes in one go, at most.
const COMPOSE_JOBS_MAX: usize = 256;
/// Jobs waiting for the composer, at most (two a group: its records, then its answers): the
/// writer runs at most this far ahead of sled, holding those groups in memory.
const COMPOSE_QUEUE_JOBS: usize = 16;

/// What the writer hands the composer, in order.
enum ComposeJob<R> {
    /// A checked group and the head it ends at: to write to sled as one atomic batch.
    Write { records: Arc<Vec<Pending>>, head: StoredHead },
    /// Answers for the syncer, passed on once everything before them is written.
    Sync(SyncJob<R>),
    /// Answered once everything before it is written.
    Drain(SyncSender<()>),
}

/// The composer thread: packs each group the writer checked into blocks (compressed), index
/// segments and Merkle node pages, writes them and the head in one atomic sled batch, and hands
/// the answers to the syncer. The writer meanwhile checks the next group against the rules.
struct Composer<R> {
    shared: Arc<Shared>,
    rx: Receiver<ComposeJob<R>>,
    sync_tx: SyncSender<SyncJob<R>>,
    options: Options,
    /// The head of everything written to sled.
    written: Head,
    /// The Merkle tree's right frontier, and the pages of nodes being filled, by (level, page).
    merkle: merkle::Appender,
    node_pages: HashMap<(u8, u64), Vec<u8>>,
    unwritten: Unwritten,
    /// Why a write failed: later groups are not written, their requests are refused.
    failed: Option<String>,
    /// The id the next dictionary gets: above every dictionary key in the log, even one that
    /// does not decode, so that none is ever overwritten.
    next_dict_id: u32,
    /// One record in [`DICT_SAMPLE_EVERY`] of those written, to train the dictionary on, until
    /// it exists.
    samples: Vec<Vec<u8>>,
    /// Records seen for sampling, and their bytes.
    seen: u64,
    seen_bytes: usize,
    /// Train once `seen_bytes` reaches this; 0: never.
    train_at: usize,
    /// `train_at` for the second dictionary, once the first exists.
    retrain_at: usize,
    /// Training runs on a thread of its own (about 70 ms on 1 MiB of samples), while groups keep
    /// being written in format 2.
    training: Option<std::thread::JoinHandle<Option<block::Dict>>>,
    /// Whether the samples hold the log's last records already: a log grown by many short-lived
    /// processes (one `lode append` each) trains on what earlier ones wrote.
    seeded: bool,
    /// The log's layout is `lode-log-v2`: storing a dictionary also marks it `lode-log-v3`.
    layout_v2: bool,
}

/// A group handed to sled, waiting for the syncer to make it durable and answer its requests.
struct SyncJob<R> {
    head: Head,
    /// Sync even if the head did not move (a checkpoint was written).
    force: bool,
    replies: Vec<(Reply<R>, Outcome<R>)>,
}

/// A record composed in the current group, not yet written.
struct Pending {
    seq: u64,
    id: Uuid,
    streams: Vec<String>,
    bytes: Vec<u8>,
    leaf: Hash,
}

impl Pending {
    /// Its position and chain hash, and whether it holds exactly `event`.
    fn compare(&self, event: &[u8]) -> Result<(u64, Hash, bool), String> {
        let h = record::parse(&self.bytes).map_err(|e| e.to_string())?;
        Ok((self.seq, record::chain_hash(&h.prev, &self.leaf), h.event == event))
    }
}

impl<G: Gate> Writer<G> {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut n = first.events.len();
            let mut group = vec![first];
            while n < self.options.group_events_max {
                match self.rx.try_recv() {
                    Ok(r) => {
                        n += r.events.len();
                        group.push(r);
                    }
                    Err(_) => break,
                }
            }
            if let Err((free, min)) = check_disk_free(&self.shared.dir, self.options.disk_free_bytes_min) {
                tracing::error!(free, min, "refusing appends: the disk is nearly full");
                for req in group {
                    let _ = req.reply.send(Err(AppendError::DiskFull { free, min }));
                }
                continue;
            }
            self.commit_group(group);
        }
        // Closing: persist the gate's state so that the next open replays nothing.
        if self.shared.poisoned.lock().expect("poison lock").is_none() {
            if let Err(why) = self.persist_gate(true) {
                tracing::error!(%why, "persisting the derived state at close failed; it will be rebuilt");
            }
        }
    }

    /// Writes the gate's changed pages and its position in one atomic sled batch.
    fn persist_gate(&mut self, force: bool) -> Result<(), String> {
        let started = std::time::Instant::now();
        let state = self.shared.state.clone();
        let dict = self.shared.state_dict();
        // A page that does not decompress is handed over as stored: the gate cannot decode it
        // either, and then persists nothing rather than overwrite entities it cannot see.
        let ids = std::cell::RefCell::new(SegmentIds::new(&self.shared));
        let stored = |key: &[u8]| {
            state.get(key).ok().flatten().map(|v| {
                block::decode_state_page_refs(&v, dict.as_deref(), |seq| ids.borrow_mut().id(seq))
                    .unwrap_or_else(|_| v.to_vec())
            })
        };
        let Some(pages) = self.gate.checkpoint(force, &stored) else { return Ok(()) };
        drop(ids);
        // The state must never be persisted ahead of the log it derives from: sled recovers a
        // prefix of its batches, so the records go first.
        self.drain();
        if let Some(why) = self.shared.poisoned.lock().expect("poison lock").clone() {
            return Err(format!("not persisting the derived state: {why}"));
        }
        self.gate.committed(self.head.seq);
        let n = pages.len();
        // Every event id the log holds becomes a reference to its position, page by page just
        // before its compression, so that the pages are never held twice.
        let index = self.shared.index.read().expect("index lock");
        let refs = |page: &[u8]| block::state_page_refs(page, |id| index.ids.get(id).copied());
        // The first checkpoint large enough trains the state's dictionary on its own pages, as
        // they will be compressed: pages spread over all of them, about what the training takes.
        let raw_bytes: usize = pages.iter().filter_map(|(_, v)| v.as_ref()).map(Vec::len).sum();
        let trained = if dict.is_none()
            && self.options.state_dict_train_bytes > 0
            && raw_bytes >= self.options.state_dict_train_bytes
        {
            let step = (raw_bytes / block::STATE_DICT_SAMPLE_BYTES).max(1);
            let samples: Vec<Vec<u8>> =
                pages.iter().filter_map(|(_, v)| v.as_deref()).step_by(step).map(refs).collect();
            let samples: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
            let training = std::time::Instant::now();
            let dict = block::train_state_dict(&samples).map(Arc::new);
            tracing::info!(trained = dict.is_some(), took = ?training.elapsed(), "training the derived state's dictionary");
            dict
        } else {
            None
        };
        let dict = trained.clone().or(dict);
        // A checkpoint at close or after a long import rewrites thousands of pages while no
        // append waits: two threads.
        let compressed = on_two_threads(&pages, |(_, v)| {
            v.as_deref().map(|v| block::encode_state_page(&refs(v), dict.as_deref(), true))
        });
        drop(index);
        let prepared = started.elapsed();
        let writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = pages.into_iter().map(|(k, _)| k).zip(compressed).collect();
        let parts = writes.len().div_ceil(STATE_PAGES_PER_BATCH).max(1);
        let mut writes = writes.into_iter();
        for part in 0..parts {
            let mut batch = sled::Batch::default();
            if part == 0 && parts > 1 {
                // Until the last part is written, the pages on disk are of no one position: without
                // a position they are dropped at the next open and the state rebuilt from the log.
                batch.remove(STATE_POSITION_KEY);
            }
            if let Some(d) = trained.as_ref().filter(|_| part == 0) {
                batch.insert(STATE_DICT_KEY, d.encode());
            }
            for (k, v) in writes.by_ref().take(STATE_PAGES_PER_BATCH) {
                assert!(k.first().is_some_and(|&b| b != 0), "gate page keys must not be empty or start with byte 0");
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
            if part + 1 == parts {
                batch.insert(STATE_POSITION_KEY, &self.gate.position().to_be_bytes()[..]);
                batch.insert(STATE_CODEC_KEY, STATE_CODEC);
            }
            self.shared.state.apply_batch(batch).map_err(|e| format!("writing the derived state: {e}"))?;
            if part + 1 < parts {
                // Flushed part by part, sled reclaims the node versions each part supersedes as the
                // next is written; one batch of thousands of pages leaves them all on disk.
                self.shared.state.flush().map_err(|e| format!("writing the derived state: {e}"))?;
            }
        }
        if let Some(d) = trained {
            *self.shared.state_dict.write().expect("state dictionary lock") = Some(d);
        }
        tracing::info!(pages = n, parts, position = self.gate.position(), ?prepared, total = ?started.elapsed(), "checkpoint");
        Ok(())
    }

    /// Checks and composes a group, hands it to sled as one atomic batch, and passes it on to the
    /// syncer. While the syncer waits for the disk, this thread composes the next group.
    fn commit_group(&mut self, group: Vec<Request<G>>) {
        if let Some(why) = self.shared.poisoned.lock().expect("poison lock").clone() {
            for req in group {
                let _ = req.reply.send(Err(AppendError::Poisoned(why.clone())));
            }
            return;
        }
        let now_us = Utc::now().timestamp_micros().max(self.last_recorded_us);
        let recorded_at = DateTime::<Utc>::from_timestamp_micros(now_us).expect("the clock is within chrono's range");
        let recorded_str = record::format_time(&recorded_at);

        let mut pending: Vec<Pending> = Vec::new();
        let mut pending_ids: FastMap<Uuid, usize> = FastMap::default();
        let mut pending_versions: FastMap<String, u64> = FastMap::default();
        let mut replies = Vec::with_capacity(group.len());
        let mut chain = self.head.hash;
        let mut next_seq = self.head.seq + 1;
        let mut failure = None;
        let force_checkpoint = group.iter().any(|r| r.checkpoint);
        let mut requests = group.into_iter();
        {
            let index = self.shared.index.read().expect("index lock");
            'requests: for req in requests.by_ref() {
                if req.pipeline.as_ref().is_some_and(|p| p.load(Ordering::SeqCst)) {
                    replies.push((req.reply, Err(AppendError::PipelineStopped)));
                    continue;
                }
                let mut positions = Vec::with_capacity(req.events.len());
                let mut stopped = None;
                for (i, ev) in req.events.into_iter().enumerate() {
                    let NewEvent { id, event, expected, payload } = ev;
                    // 1. Idempotency over the whole log.
                    let earlier = match pending_ids.get(&id) {
                        Some(&p) => Some(Earlier::Pending(p)),
                        None => index.ids.get(&id).map(|&s| Earlier::Logged(s)),
                    };
                    if let Some(earlier) = earlier {
                        match self.same_event(earlier, &pending, &event) {
                            Ok((seq, hash, true)) => {
                                positions.push(Position { seq, hash, duplicate: true });
                                continue;
                            }
                            Ok((seq, _, false)) => {
                                stopped = Some(Stopped { index: i, reason: StopReason::IdConflict { id, seq } });
                                break;
                            }
                            Err(e) => {
                                failure = Some(format!("reading the earlier event {id}: {e}"));
                                replies.push((req.reply, Ok((positions, stopped))));
                                break 'requests;
                            }
                        }
                    }
                    // 2. Optimistic concurrency.
                    if let Some((stream, expected, actual)) = expected.iter().find_map(|(s, v)| {
                        let actual = index.version(s) + pending_versions.get(s.as_str()).copied().unwrap_or(0);
                        (actual != *v).then(|| (s.clone(), *v, actual))
                    }) {
                        stopped = Some(Stopped {
                            index: i,
                            reason: StopReason::VersionConflict { stream, expected, actual },
                        });
                        break;
                    }
                    // 3. The rules.
                    let candidate = Candidate { seq: next_seq, id, recorded_at };
                    let mut streams = match self.gate.admit(&candidate, payload) {
                        Ok(s) => s,
                        Err(r) => {
                            stopped = Some(Stopped { index: i, reason: StopReason::Rejected(r) });
                            break;
                        }
                    };
                    streams.sort_unstable();
                    streams.dedup();
                    assert!(
                        streams.iter().all(|s| record::is_valid_stream(s))
                            && streams.len() <= record::RECORD_STREAMS_MAX,
                        "the gate returned an invalid stream list"
                    );
                    // 4. Compose the record.
                    let mut bytes = Vec::new();
                    record::encode(&mut bytes, next_seq, &id, &recorded_str, &streams, &chain, &event);
                    let leaf = record::leaf_hash(&bytes);
                    chain = record::chain_hash(&chain, &leaf);
                    for s in &streams {
                        match pending_versions.get_mut(s.as_str()) {
                            Some(v) => *v += 1,
                            None => {
                                pending_versions.insert(s.clone(), 1);
                            }
                        }
                    }
                    pending_ids.insert(id, pending.len());
                    positions.push(Position { seq: next_seq, hash: chain, duplicate: false });
                    pending.push(Pending { seq: next_seq, id, streams, bytes, leaf });
                    next_seq += 1;
                }
                if let (Some(_), Some(p)) = (&stopped, &req.pipeline) {
                    p.store(true, Ordering::SeqCst);
                }
                replies.push((req.reply, Ok((positions, stopped))));
            }
        }
        // Requests a failure left unprocessed.
        let unanswered: Vec<Request<G>> = requests.collect();
        if let Some(why) = failure {
            // The gate may have admitted events that will now never be written: refuse all
            // further writes until the store is reopened and the gate rebuilt.
            let replies = replies.into_iter().map(|(r, _)| r).chain(unanswered.into_iter().map(|req| req.reply));
            self.refuse(&why, replies, false);
            return;
        }

        if !pending.is_empty() {
            let new_head = StoredHead { seq: next_seq - 1, hash: chain, recorded_at_us: now_us };
            self.last_recorded_us = now_us;
            self.head = Head { seq: new_head.seq, hash: new_head.hash };
            // The indexes move now, so that the next group is checked against this one; readers
            // see none of it before the syncer makes it durable.
            let mut index = self.shared.index.write().expect("index lock");
            for p in &pending {
                index.ids.insert(p.id, p.seq);
                for s in &p.streams {
                    match index.streams.get_mut(s.as_str()) {
                        Some(v) => v.push(p.seq),
                        None => {
                            index.streams.insert(s.as_str().into(), vec![p.seq]);
                        }
                    }
                }
            }
            drop(index);
            let records = Arc::new(pending);
            self.unwritten.lock().expect("unwritten lock").push_back(records.clone());
            let _ = self.compose_tx.send(ComposeJob::Write { records, head: new_head });
        }
        if let Err(why) = self.persist_gate(force_checkpoint) {
            // The log is intact; the derived state will be rebuilt from it at the next open.
            self.refuse(&why, replies.into_iter().map(|(r, _)| r), true);
            return;
        }
        // Even a group of retries waits for the syncer: the records they point at may not be
        // durable yet.
        let _ = self.compose_tx.send(ComposeJob::Sync(SyncJob { head: self.head, replies, force: force_checkpoint }));
    }

    /// Waits until the composer has written every group handed to it.
    fn drain(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.compose_tx.send(ComposeJob::Drain(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// Compares an event with the one already logged under the same id.
    fn same_event(&self, earlier: Earlier, pending: &[Pending], event: &[u8]) -> Result<(u64, Hash, bool), String> {
        match earlier {
            Earlier::Pending(i) => pending[i].compare(event),
            Earlier::Logged(seq) => {
                let group = self
                    .unwritten
                    .lock()
                    .expect("unwritten lock")
                    .iter()
                    .find(|g| g.first().is_some_and(|p| p.seq <= seq) && g.last().is_some_and(|p| seq <= p.seq))
                    .cloned();
                if let Some(group) = group {
                    return group[(seq - group[0].seq) as usize].compare(event);
                }
                let rec = Reader { shared: self.shared.clone() }
                    .get_unsynced(seq)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("indexed position {seq} is missing"))?;
                let same = rec.header().event == event;
                Ok((seq, rec.hash(), same))
            }
        }
    }

    /// Poisons the store and answers `replies` with the storage error, through the syncer so
    /// that they come after the answers of earlier groups; `force` syncs what was written.
    fn refuse(&mut self, why: &str, replies: impl Iterator<Item = Reply<G::Rejection>>, force: bool) {
        self.poison(why);
        let replies = replies.map(|r| (r, Err(AppendError::Storage(why.to_owned())))).collect();
        let _ = self.compose_tx.send(ComposeJob::Sync(SyncJob { head: self.head, replies, force }));
    }

    fn poison(&self, why: &str) {
        tracing::error!(%why, "append failed; the store refuses writes until reopened");
        *self.shared.poisoned.lock().expect("poison lock") = Some(why.to_owned());
    }
}

impl<R> Composer<R> {
    fn run(mut self) {
        while let Ok(job) = self.rx.recv() {
            // Everything queued meanwhile goes into one sled batch: with many small groups (one
            // event per request), a batch per group would cost more than the writer saves.
            let mut jobs = vec![job];
            while jobs.len() < COMPOSE_JOBS_MAX {
                match self.rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let mut groups = Vec::new();
            let mut last = None;
            for j in &jobs {
                if let ComposeJob::Write { records, head } = j {
                    groups.push(records.clone());
                    last = Some(*head);
                }
            }
            if let (Some(head), None) = (last, &self.failed) {
                let records: Vec<&Pending> = groups.iter().flat_map(|g| g.iter()).collect();
                match self.write(&records, &head) {
                    Ok(blocks) => {
                        let mut index = self.shared.index.write().expect("index lock");
                        index.blocks.extend(blocks.iter().map(|(first, _)| *first));
                        drop(index);
                        // Readers near the head (subscribers, retries, the event just
                        // written) find these without reading them back from sled.
                        let mut cache = self.shared.blocks.lock().expect("block cache lock");
                        for (first, block) in blocks {
                            cache.insert(first, Arc::new(block));
                        }
                        drop(cache);
                        self.written = Head { seq: head.seq, hash: head.hash };
                        // Only now: until the index above finds them, retries read them here.
                        let mut unwritten = self.unwritten.lock().expect("unwritten lock");
                        for _ in &groups {
                            unwritten.pop_front();
                        }
                    }
                    Err(why) => {
                        tracing::error!(%why, "append failed; the store refuses writes until reopened");
                        *self.shared.poisoned.lock().expect("poison lock") = Some(why.clone());
                        self.failed = Some(why);
                    }
                }
            }
            for job in jobs {
                match job {
                    ComposeJob::Write { .. } => {}
                    ComposeJob::Sync(mut job) => {
                        if let Some(why) = &self.failed {
                            // Nothing past what was written may be published as durable.
                            job.head = self.written;
                            job.replies = job
                                .replies
                                .into_iter()
                                .map(|(reply, _)| (reply, Err(AppendError::Storage(why.clone()))))
                                .collect();
                        }
                        let _ = self.sync_tx.send(job);
                    }
                    ComposeJob::Drain(ack) => {
                        let _ = ack.send(());
                    }
                }
            }
        }
        self.keep_trained_dict();
    }

    /// At close: a dictionary whose training ended after the last group (a short `lode append`
    /// writes its last group long before) is stored on its own, for the next process to use.
    fn keep_trained_dict(&mut self) {
        let Some(t) = self.training.take() else { return };
        let Ok(Some(d)) = t.join() else { return };
        if self.failed.is_some() {
            return;
        }
        let mut batch = sled::Batch::default();
        self.add_dict(&mut batch, &d);
        match self.shared.log.apply_batch(batch) {
            Ok(()) => self.shared.dicts.write().expect("dictionaries lock").insert(Arc::new(d)),
            Err(e) => {
                tracing::warn!(error = %e, "could not store the trained dictionary; the next process trains again")
            }
        }
    }

    /// Hands the group to sled as blocks, index segments and the new head, in one atomic batch.
    fn write(&mut self, pending: &[&Pending], head: &StoredHead) -> Result<Vec<(u64, Block)>, String> {
        let mut firsts = Vec::new();
        let mut batch = sled::Batch::default();
        let new_dict = self.train(pending);
        if let Some(d) = &new_dict {
            // In the same batch as the first blocks that need it.
            self.add_dict(&mut batch, d);
        }
        // New blocks use the newest dictionary: one just trained (stored in this batch), or the
        // latest of the log's.
        let dict = new_dict.clone().or_else(|| self.shared.dicts.read().expect("dictionaries lock").latest());
        let mut start = 0;
        while start < pending.len() {
            let mut b = BlockBuilder::new();
            let mut end = start;
            while end < pending.len()
                && (b.count() == 0 || b.len_bytes() + pending[end].bytes.len() <= self.options.block_bytes_max)
            {
                b.push(&pending[end].bytes);
                end += 1;
            }
            let first = pending[start].seq;
            let (value, decoded) = match &dict {
                Some(d) => b.finish_with(d),
                None => b.finish(),
            };
            firsts.push((first, decoded));
            let seg = block::encode_segment(pending[start..end].iter().map(|p| (&p.id, &p.leaf, p.streams.as_slice())));
            batch.insert(&block::key(BLOCK_PREFIX, first), value);
            batch.insert(&block::key(SEGMENT_PREFIX, first), seg);
            start = end;
        }
        // The Merkle tree's new complete nodes (levels above the leaves, which the index segments
        // hold), appended to their pages.
        let mut touched = std::collections::BTreeSet::new();
        for p in pending {
            for (level, index, hash) in self.merkle.push(p.leaf) {
                if level == 0 {
                    continue;
                }
                let page_no = index / self.shared.nodes_per_page;
                let page = match self.node_pages.entry((level, page_no)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let stored = self
                            .shared
                            .log
                            .get(block::node_page_key(level, page_no))
                            .map_err(|e| format!("reading a Merkle node page: {e}"))?;
                        e.insert(stored.map(|v| v.to_vec()).unwrap_or_default())
                    }
                };
                let offset = (index % self.shared.nodes_per_page) as usize * 32;
                if page.len() != offset {
                    return Err(format!(
                        "Merkle node page {level}/{page_no} holds {} bytes, expected {offset}",
                        page.len()
                    ));
                }
                page.extend_from_slice(&hash.0);
                touched.insert((level, page_no));
            }
        }
        for (level, page_no) in touched {
            let page = &self.node_pages[&(level, page_no)];
            batch.insert(&block::node_page_key(level, page_no), page.as_slice());
            if page.len() as u64 == self.shared.nodes_per_page * 32 {
                // Full pages never change again.
                self.node_pages.remove(&(level, page_no));
            }
        }
        batch.insert(HEAD_KEY, &head.encode()[..]);
        self.shared.log.apply_batch(batch).map_err(|e| format!("writing the batch: {e}"))?;
        if let Some(d) = new_dict {
            // Before the blocks are indexed: a reader that finds them can decode them.
            self.shared.dicts.write().expect("dictionaries lock").insert(d);
            self.layout_v2 = false;
        }
        Ok(firsts)
    }

    /// Adds dictionary `d` to `batch`, and the layout that says the log has one.
    fn add_dict(&self, batch: &mut sled::Batch, d: &block::Dict) {
        batch.insert(&block::dict_key(d.id), d.encode());
        if self.layout_v2 {
            batch.insert(block::FORMAT_KEY, block::FORMAT_VERSION_DICT);
        }
    }

    /// Samples `pending`'s records until the log has written enough, then trains the log's
    /// dictionary on the samples on a thread of its own; the dictionary once that thread has
    /// finished, `None` before, after it exists, or when training failed (it is tried again after
    /// four times as many records, up to 64 MiB).
    fn train(&mut self, pending: &[&Pending]) -> Option<Arc<block::Dict>> {
        if self.train_at == 0 || self.next_dict_id > DICTS_TRAINED_MAX {
            return None;
        }
        if let Some(t) = &self.training {
            if !t.is_finished() {
                return None;
            }
            let trained = self.training.take().expect("just seen").join().ok().flatten();
            if let Some(d) = trained {
                self.next_dict_id += 1;
                // The second learns from the records written after the first was trained.
                self.train_at = if self.next_dict_id > DICTS_TRAINED_MAX { 0 } else { self.retrain_at };
                return Some(Arc::new(d));
            }
            tracing::warn!("no dictionary could be trained; trying again later on more records");
            self.train_at = if self.train_at >= 64 << 20 { 0 } else { self.train_at * 4 };
            return None;
        }
        if !self.seeded {
            self.seeded = true;
            let reader = Reader { shared: self.shared.clone() };
            tail_records(&reader, self.train_at, |r| self.sample(r));
        }
        for p in pending {
            self.sample(&p.bytes);
        }
        if self.seen_bytes < self.train_at {
            return None;
        }
        let samples = std::mem::take(&mut self.samples);
        (self.seen, self.seen_bytes) = (0, 0);
        let id = self.next_dict_id;
        let spawned = std::thread::Builder::new().name("lode-dict".into()).spawn(move || {
            let started = std::time::Instant::now();
            let d = block::train_dict(&samples).and_then(|bytes| block::Dict::new(id, bytes).ok());
            tracing::info!(id, samples = samples.len(), trained = d.is_some(), took = ?started.elapsed(), "training the log's dictionary");
            d
        });
        match spawned {
            Ok(t) => self.training = Some(t),
            Err(e) => tracing::warn!(error = %e, "could not start training a dictionary"),
        }
        None
    }

    /// Counts `record` towards training, and keeps a copy of one in [`DICT_SAMPLE_EVERY`].
    fn sample(&mut self, record: &[u8]) {
        self.seen_bytes += record.len();
        if self.seen % DICT_SAMPLE_EVERY == 0 {
            self.samples.push(record.to_vec());
        }
        self.seen += 1;
    }
}

/// Hands `f` the log's last records, newest blocks first, until they reach `max_bytes`: to
/// sample for a dictionary, which copies only the records it keeps. A block that does not read
/// is skipped (verification reports it).
fn tail_records(reader: &Reader, max_bytes: usize, mut f: impl FnMut(&[u8])) {
    let firsts: Vec<u64> = reader.shared.index.read().expect("index lock").blocks.clone();
    let mut bytes = 0;
    for &first in firsts.iter().rev() {
        if bytes >= max_bytes {
            break;
        }
        let Ok((_, block)) = reader.block_containing(first) else { continue };
        for r in block.decoded().records() {
            bytes += r.len();
            f(&r);
        }
    }
}

/// The dictionary learns from one record in this many: what matters is that its samples span
/// the log's history, not how many they are (`docs/benchmarks.md`: one in eight of 16,000
/// records trains in a seventh of the time and compresses as well as all of them).
const DICT_SAMPLE_EVERY: u64 = 8;

/// Dictionaries the log trains, at most. The first, early (`Options::dict_train_bytes`, 2 MiB),
/// so that reads by position decompress a frame rather than a whole block from then on; the
/// second on enough records to learn from (`Options::dict_retrain_bytes`, 8 MiB): trained on a
/// custody log's first 2 MiB alone, a dictionary compresses the rest about 4% worse than 16 KiB
/// blocks without one, trained on one record in eight of its first 8 MiB, 7% better
/// (`docs/benchmarks.md`).
const DICTS_TRAINED_MAX: u32 = 2;

/// The records' bytes to sample before training dictionary `id`: for the first, counted from
/// the log's start; for the second, from when the first was trained. 0: none to train.
fn train_threshold(options: &Options, id: u32) -> usize {
    match id {
        1 => options.dict_train_bytes,
        2 if options.dict_train_bytes > 0 => options.dict_retrain_bytes.saturating_sub(options.dict_train_bytes),
        _ => 0,
    }
}

/// The syncer thread: makes what the writer handed to sled durable, publishes the durable head,
/// and answers the requests. One flush and one fsync cover every group that arrived meanwhile.
struct Syncer<R> {
    shared: Arc<Shared>,
    rx: Receiver<SyncJob<R>>,
    db_file: Option<File>,
    blobs_synced: u64,
    blob_watch: BlobWatch,
}

impl<R> Syncer<R> {
    fn run(mut self) {
        while let Ok(job) = self.rx.recv() {
            let mut jobs = vec![job];
            while let Ok(j) = self.rx.try_recv() {
                jobs.push(j);
            }
            let head = jobs.iter().map(|j| j.head).max_by_key(|h| h.seq).expect("at least one job");
            let mut mark = None;
            let durable = self.shared.durable.lock().expect("durable lock").seq;
            if head.seq > durable || jobs.iter().any(|j| j.force) {
                if let Err(why) = self.sync() {
                    tracing::error!(%why, "sync failed; the store refuses writes until reopened");
                    *self.shared.poisoned.lock().expect("poison lock") = Some(why.clone());
                    for job in jobs {
                        for (reply, _) in job.replies {
                            let _ = reply.send(Err(AppendError::Storage(why.clone())));
                        }
                    }
                    continue;
                }
                *self.shared.durable.lock().expect("durable lock") = head;
                self.shared.durable_cv.notify_all();
                self.shared.durable_tx.send_replace(head.seq);
                mark = Some(head);
            }
            for job in jobs {
                for (reply, outcome) in job.replies {
                    let _ =
                        reply.send(outcome.map(|(positions, stopped)| Appended { positions, stopped, head: job.head }));
                }
            }
            // After the answers, off their latency. Not synced: a mark behind the log is
            // harmless, and it never gets ahead of it.
            if let Some(head) = mark {
                if let Err(e) = self.shared.mark.write(&head, false) {
                    tracing::warn!(error = %e, "writing the head mark failed");
                }
            }
        }
    }

    fn sync(&mut self) -> Result<(), String> {
        self.shared.db.flush().map_err(|e| format!("flushing: {e}"))?;
        if let Some(f) = &self.db_file {
            f.sync_data().map_err(|e| format!("fsync of the db file: {e}"))?;
            // sled has written every blob of the flushed groups by now, so a watch that saw no
            // file created since the last look means there is none to sync.
            if self.blob_watch.changed() {
                self.blobs_synced = sync_new_blobs(&self.shared.dir, self.blobs_synced)
                    .map_err(|e| format!("fsync of sled's blob files: {e}"))?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Earlier {
    Pending(usize),
    Logged(u64),
}

/// Checks that an event is one JSON object with no raw line break.
fn check_event_bytes(event: &[u8]) -> Result<(), String> {
    if event.first() != Some(&b'{') || event.last() != Some(&b'}') {
        return Err("it does not start with { and end with }".into());
    }
    if event.contains(&b'\n') || event.contains(&b'\r') {
        return Err("it contains a line break".into());
    }
    let v: &serde_json::value::RawValue = serde_json::from_slice(event).map_err(|e| e.to_string())?;
    if !v.get().starts_with('{') {
        return Err("it is not an object".into());
    }
    Ok(())
}

/// Builds the Merkle tree's node pages from the leaf hashes in the index segments, writes them,
/// and returns the tree's frontier.
fn rebuild_tree(log: &sled::Tree, head: u64, nodes_per_page: u64) -> Result<merkle::Appender, String> {
    tracing::warn!(head, "building the Merkle tree's nodes from the index segments");
    let mut tree = merkle::Appender::new();
    let mut pages: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
    for kv in log.scan_prefix([SEGMENT_PREFIX]) {
        let (_, v) = kv.map_err(|e| e.to_string())?;
        for entry in block::decode_segment_ref(&v).map_err(|e| e.to_string())? {
            for (level, index, hash) in tree.push(entry.leaf) {
                if level > 0 {
                    pages.entry((level, index / nodes_per_page)).or_default().extend_from_slice(&hash.0);
                }
            }
        }
    }
    if tree.size() != head {
        return Err(format!("the index segments list {} records, the head is at {head}", tree.size()));
    }
    let mut batch = sled::Batch::default();
    for ((level, page), bytes) in pages {
        batch.insert(&block::node_page_key(level, page), bytes);
    }
    log.apply_batch(batch).map_err(|e| e.to_string())?;
    Ok(tree)
}

/// Refuses a log that ends before the head mark, or holds another chain hash there.
fn check_mark(reader: &Reader, head: Head, known: Head) -> Result<(), OpenError> {
    if head.seq < known.seq {
        return Err(OpenError::Corrupt(format!(
            "the log ends at position {} but had reached position {} ({}): records were lost or sled's files \
             were damaged; restore the data directory from a backup",
            head.seq,
            known.seq,
            mark::MARK_FILE
        )));
    }
    if known.seq == 0 {
        return Ok(());
    }
    let rec = reader.get(known.seq).map_err(|e| OpenError::Corrupt(e.to_string()))?.ok_or_else(|| {
        OpenError::Corrupt(format!("the record at position {} is missing, below the head {}", known.seq, head.seq))
    })?;
    if rec.hash() != known.hash {
        return Err(OpenError::Corrupt(format!(
            "the record at position {} has chain hash {}, but {} names {}: the log was rewritten or damaged",
            known.seq,
            rec.hash(),
            mark::MARK_FILE,
            known.hash
        )));
    }
    Ok(())
}

/// Restores the gate from its persisted pages, if any and not ahead of the log; otherwise leaves
/// it fresh (and drops what cannot be used) so that the whole log is replayed.
fn restore_gate<G: Gate>(shared: &Shared, gate: &mut G, head: u64) -> Result<(), sled::Error> {
    let Some(pos) = shared.state.get(STATE_POSITION_KEY)? else {
        // Pages without a position are those of a checkpoint cut short while written in parts.
        for key in shared.state.iter().keys() {
            if !key?.starts_with(&[0]) {
                tracing::warn!("the persisted derived state was cut short while being written; rebuilding it");
                shared.clear_state()?;
                break;
            }
        }
        return Ok(());
    };
    let pos = <[u8; 8]>::try_from(pos.as_ref()).map(u64::from_be_bytes).unwrap_or(u64::MAX);
    if pos > head {
        tracing::warn!(pos, head, "the persisted derived state is ahead of the log; rebuilding it");
        shared.clear_state()?;
        return Ok(());
    }
    let dict = shared.state_dict();
    let mut ids = SegmentIds::new(shared);
    // Every page must decompress before the gate sees any: a gate restored from part of its
    // pages would be wrong, and it has no way back to fresh.
    for kv in shared.state.iter() {
        let (k, v) = kv?;
        if !k.starts_with(&[0]) && block::decode_state_page_refs(&v, dict.as_deref(), |seq| ids.id(seq)).is_err() {
            tracing::warn!(key = ?k, "a persisted page of the derived state does not decompress; rebuilding it");
            shared.clear_state()?;
            return Ok(());
        }
    }
    let mut failed = None;
    let mut pages = shared.state.iter().filter_map(|kv| match kv {
        Ok((k, v)) if !k.starts_with(&[0]) => Some((
            k.to_vec(),
            block::decode_state_page_refs(&v, dict.as_deref(), |seq| ids.id(seq))
                .expect("every page decompressed just before"),
        )),
        Ok(_) => None,
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    let restored = gate.restore(pos, &mut pages);
    drop(pages);
    if let Some(e) = failed {
        return Err(e);
    }
    if let Err(e) = restored {
        tracing::warn!(error = %e, "the persisted derived state cannot be restored; rebuilding it");
        shared.clear_state()?;
    }
    Ok(())
}

/// The log's dictionaries, and the id the next one gets. One that does not decode is left out
/// (with a warning): the blocks that name it fail to decode, at their position, and
/// verification reports them. The id counts it all the same, so that none is ever overwritten.
///
/// Public for tools that read a closed log's blocks straight from its `log` tree (the
/// benchmark's ceilings).
///
/// # Errors
/// sled's, reading the tree.
pub fn load_dicts(log: &sled::Tree) -> Result<(block::Dicts, u32), sled::Error> {
    let mut dicts = block::Dicts::default();
    let mut next = 1u32;
    for kv in log.scan_prefix([block::DICT_PREFIX]) {
        let (k, v) = kv?;
        let Some(id) = block::dict_key_id(&k) else {
            tracing::warn!(key = ?k, "a key under the dictionaries' prefix that names none");
            continue;
        };
        next = next.max(id.saturating_add(1));
        match block::Dict::decode(id, &v) {
            Ok(d) => dicts.insert(Arc::new(d)),
            Err(e) => tracing::warn!(id, error = %e, "a dictionary does not decode; the blocks that need it will not"),
        }
    }
    Ok((dicts, next))
}

/// Rebuilds the in-memory id and stream indexes from the index segments.
fn load_index(log: &sled::Tree, head_seq: u64) -> Result<Index, OpenError> {
    let mut index = Index {
        ids: FastMap::with_capacity_and_hasher(head_seq as usize, Default::default()),
        streams: FastMap::default(),
        blocks: Vec::new(),
    };
    let mut next = 1u64;
    for kv in log.scan_prefix([SEGMENT_PREFIX]) {
        let (k, v) = kv.map_err(|e| OpenError::Corrupt(e.to_string()))?;
        let first =
            block::key_seq(SEGMENT_PREFIX, &k).ok_or_else(|| OpenError::Corrupt("bad index segment key".into()))?;
        if first != next {
            return Err(OpenError::Corrupt(format!("index segment starts at {first}, expected {next}")));
        }
        let entries = block::decode_segment_ref(&v).map_err(|e| OpenError::Corrupt(format!("at {first}: {e}")))?;
        index.blocks.push(first);
        for (i, e) in entries.into_iter().enumerate() {
            let seq = first + i as u64;
            index.ids.insert(e.id, seq);
            for s in e.streams {
                match index.streams.get_mut(s) {
                    Some(v) => v.push(seq),
                    None => {
                        index.streams.insert(s.into(), vec![seq]);
                    }
                }
            }
            next = seq + 1;
        }
    }
    if next - 1 != head_seq {
        return Err(OpenError::Corrupt(format!("index segments end at {}, the head is at {head_seq}", next - 1)));
    }
    Ok(index)
}

/// Bytes kept in sled, by kind (keys included), as stored: blocks and state pages compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredBytes {
    /// The records, in blocks.
    pub blocks: u64,
    /// The index segments: each record's id, leaf hash and streams.
    pub segments: u64,
    /// The Merkle tree's nodes above the leaves.
    pub node_pages: u64,
    /// The gate's persisted state.
    pub state_pages: u64,
    /// The compression dictionaries.
    pub dicts: u64,
    /// The head and the format key.
    pub other: u64,
}

/// Read access to the durable log.
#[derive(Debug, Clone)]
pub struct Reader {
    pub(crate) shared: Arc<Shared>,
}

impl Reader {
    /// The durable head.
    pub fn head(&self) -> Head {
        *self.shared.durable.lock().expect("durable lock")
    }

    /// The gate's persisted pages in key order, and the position they were persisted at.
    pub fn state_pages(&self) -> Result<(Option<u64>, StatePages), ReadError> {
        let dict = self.shared.state_dict();
        let mut ids = SegmentIds::new(&self.shared);
        let mut pos = None;
        let mut out = Vec::new();
        for kv in self.shared.state.iter() {
            let (k, v) = kv?;
            if k.as_ref() == STATE_POSITION_KEY {
                pos = <[u8; 8]>::try_from(v.as_ref()).ok().map(u64::from_be_bytes);
            } else if !k.starts_with(&[0]) {
                let page = block::decode_state_page_refs(&v, dict.as_deref(), |seq| ids.id(seq))
                    .map_err(|e| ReadError::Corrupt { seq: 0, why: e.to_string() })?;
                out.push((k.to_vec(), page));
            }
        }
        Ok((pos, out))
    }

    /// The bytes (keys and values) the store keeps in sled, by kind: what the data directory
    /// holds beyond these is sled's own overhead and superseded versions.
    ///
    /// # Errors
    /// A sled read failure.
    pub fn stored_bytes(&self) -> Result<StoredBytes, ReadError> {
        let mut out = StoredBytes::default();
        for kv in self.shared.log.iter() {
            let (k, v) = kv?;
            let n = (k.len() + v.len()) as u64;
            match k.first() {
                Some(&BLOCK_PREFIX) => out.blocks += n,
                Some(&SEGMENT_PREFIX) => out.segments += n,
                Some(&block::NODE_PAGE_PREFIX) => out.node_pages += n,
                Some(&block::DICT_PREFIX) => out.dicts += n,
                _ => out.other += n,
            }
        }
        for kv in self.shared.state.iter() {
            let (k, v) = kv?;
            out.state_pages += (k.len() + v.len()) as u64;
        }
        Ok(out)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The version of a stream: how many durable records name it.
    pub fn version(&self, stream: &str) -> u64 {
        let durable = self.head().seq;
        let index = self.shared.index.read().expect("index lock");
        index.streams.get(stream).map_or(0, |v| v.partition_point(|&s| s <= durable) as u64)
    }

    /// The position of an event id, if durably logged.
    pub fn position_of(&self, id: &Uuid) -> Option<u64> {
        let durable = self.head().seq;
        self.shared.index.read().expect("index lock").ids.get(id).copied().filter(|&s| s <= durable)
    }

    /// The positions of every durable record naming `stream`, in order.
    pub fn stream_positions(&self, stream: &str) -> Vec<u64> {
        let durable = self.head().seq;
        let index = self.shared.index.read().expect("index lock");
        index.streams.get(stream).map_or_else(Vec::new, |v| v[..v.partition_point(|&s| s <= durable)].to_vec())
    }

    /// Number of distinct streams.
    pub fn stream_count(&self) -> usize {
        self.shared.index.read().expect("index lock").streams.len()
    }

    /// The record at `seq`, if durable.
    pub fn get(&self, seq: u64) -> Result<Option<Record>, ReadError> {
        if seq > self.head().seq {
            return Ok(None);
        }
        self.get_unsynced(seq)
    }

    /// The record at `seq` if sled has it, durable or not: for the writer only.
    fn get_unsynced(&self, seq: u64) -> Result<Option<Record>, ReadError> {
        if seq == 0 {
            return Ok(None);
        }
        let (first, block) = self.cached_block(seq)?;
        let bytes = record_in(&block, first, seq)?;
        Ok(Some(to_record(seq, bytes)?))
    }

    /// The record of an event id, if logged.
    pub fn get_by_id(&self, id: &Uuid) -> Result<Option<Record>, ReadError> {
        match self.position_of(id) {
            Some(seq) => self.get(seq),
            None => Ok(None),
        }
    }

    /// Up to `limit` records from position `from` on.
    pub fn range(&self, from: u64, limit: usize) -> Result<Vec<Record>, ReadError> {
        self.iter_from(from).take(limit).collect()
    }

    /// Every record naming `stream`, in order, skipping the first `skip`, at most `limit`.
    pub fn stream(&self, stream: &str, skip: usize, limit: usize) -> Result<Vec<Record>, ReadError> {
        let seqs = self.stream_positions(stream);
        let mut out = Vec::with_capacity(seqs.len().saturating_sub(skip).min(limit));
        let mut cached: Option<(u64, Arc<Block>)> = None;
        for &seq in seqs.iter().skip(skip).take(limit) {
            if cached.as_ref().is_none_or(|(first, b)| seq >= first + b.len() as u64) {
                cached = Some(self.cached_block(seq)?);
            }
            let (first, b) = cached.as_ref().expect("just filled");
            out.push(to_record(seq, record_in(b, *first, seq)?)?);
        }
        Ok(out)
    }

    /// Iterates over durable records from position `from` (at least 1) to the head as it stands
    /// now, reading one block at a time.
    pub fn iter_from(&self, from: u64) -> RecordIter {
        RecordIter { reader: self.clone(), next: from.max(1), end: self.head().seq, buf: Vec::new().into_iter() }
    }

    /// The first position of the block that holds `seq` (0 if none does).
    fn block_first(&self, seq: u64) -> u64 {
        let index = self.shared.index.read().expect("index lock");
        let i = index.blocks.partition_point(|&f| f <= seq);
        if i == 0 {
            0
        } else {
            index.blocks[i - 1]
        }
    }

    /// The block that holds `seq`, decoded, read from sled.
    fn block_containing(&self, seq: u64) -> Result<(u64, Block), ReadError> {
        let first = self.block_first(seq);
        let v = self
            .shared
            .log
            .get(block::key(BLOCK_PREFIX, first))?
            .ok_or_else(|| ReadError::Corrupt { seq, why: "no block holds it".into() })?;
        Ok((first, Block::open_with(&v, &self.shared.dicts.read().expect("dictionaries lock"))))
    }

    /// The block that holds `seq`, from the block cache or read into it.
    fn cached_block(&self, seq: u64) -> Result<(u64, Arc<Block>), ReadError> {
        let first = self.block_first(seq);
        if let Some(b) = self.shared.blocks.lock().expect("block cache lock").get(first) {
            return Ok((first, b));
        }
        let (first, block) = self.block_containing(seq)?;
        let block = Arc::new(block);
        // A damaged block is not kept: the next read reports it afresh.
        if block.broken().is_none() {
            self.shared.blocks.lock().expect("block cache lock").insert(first, block.clone());
        }
        Ok((first, block))
    }
}

/// The record at `seq` in `block`, whose first record is at `first`.
fn record_in(block: &Block, first: u64, seq: u64) -> Result<Vec<u8>, ReadError> {
    match block.record((seq - first) as usize) {
        Ok(Some(bytes)) => Ok(bytes.into_owned()),
        Ok(None) => Err(ReadError::Corrupt {
            seq,
            why: match block.broken() {
                Some((_, e)) => format!("its block is damaged: {e}"),
                None => "missing from its block".into(),
            },
        }),
        Err(e) => Err(ReadError::Corrupt { seq, why: format!("its block is damaged: {e}") }),
    }
}

fn to_record(seq: u64, bytes: Vec<u8>) -> Result<Record, ReadError> {
    let rec = Record::from_bytes(bytes).map_err(|e| ReadError::Corrupt { seq, why: e.to_string() })?;
    if rec.seq != seq {
        return Err(ReadError::Corrupt { seq, why: format!("the record there says seq {}", rec.seq) });
    }
    Ok(rec)
}

impl merkle::NodeStore for Reader {
    /// Leaves come from the index segments, other complete nodes from the node pages.
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        if level == 0 {
            let seq = index.checked_add(1)?;
            let first = self.block_first(seq);
            let seg = self.shared.log.get(block::key(SEGMENT_PREFIX, first)).ok()??;
            let entries = block::decode_segment_ref(&seg).ok()?;
            return entries.get(usize::try_from(seq - first).ok()?).map(|e| e.leaf);
        }
        let per_page = self.shared.nodes_per_page;
        let page = self.shared.log.get(block::node_page_key(level, index / per_page)).ok()??;
        let at = (index % per_page) as usize * 32;
        page.get(at..at + 32).map(|b| Hash(b.try_into().expect("32 bytes")))
    }
}

impl Reader {
    /// The Merkle tree root of the first `size` records (RFC 9162, BLAKE3), if durable.
    pub fn merkle_root(&self, size: u64) -> Option<Hash> {
        (size <= self.head().seq).then(|| merkle::root(self, size)).flatten()
    }

    /// The inclusion proof of record `seq` in the tree of the first `size` records.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Option<Vec<Hash>> {
        if seq == 0 || size > self.head().seq {
            return None;
        }
        merkle::inclusion_proof(self, seq - 1, size)
    }

    /// The proof that the tree of the first `new` records extends the tree of the first `old`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if new > self.head().seq {
            return None;
        }
        merkle::consistency_proof(self, old, new)
    }
}

/// Iterator over records, returned by [`Reader::iter_from`].
#[derive(Debug)]
pub struct RecordIter {
    reader: Reader,
    next: u64,
    end: u64,
    buf: std::vec::IntoIter<Record>,
}

impl Iterator for RecordIter {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.buf.next() {
            return Some(Ok(r));
        }
        if self.next > self.end {
            return None;
        }
        let seq = self.next;
        let res = (|| {
            let (first, block) = self.reader.block_containing(seq)?;
            let block = block.decoded();
            if let Some((_, e)) = block.broken() {
                return Err(ReadError::Corrupt { seq, why: e.to_string() });
            }
            let recs = block.records();
            let mut out = Vec::new();
            for (i, bytes) in recs.into_iter().enumerate() {
                let s = first + i as u64;
                if s >= seq && s <= self.end {
                    out.push(to_record(s, bytes.into_owned())?);
                }
            }
            if out.is_empty() {
                return Err(ReadError::Corrupt { seq, why: "no block holds it".into() });
            }
            Ok(out)
        })();
        match res {
            Ok(out) => {
                self.next = out.last().expect("non-empty").seq + 1;
                self.buf = out.into_iter();
                self.buf.next().map(Ok)
            }
            Err(e) => {
                self.next = self.end + 1;
                Some(Err(e))
            }
        }
    }
}

/// Opens the sled database in `dir`, telling a directory in use apart from other failures.
pub(crate) fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, OpenError> {
    if !dir.join("conf").exists() && dir.join("db").exists() {
        return Err(OpenError::Format {
            path: dir.to_owned(),
            found: "a db file without conf".into(),
            expected: "a lode data directory".into(),
        });
    }
    // sled's background threads may hold the lock for a moment after a database of this process
    // was dropped; another process holding it keeps it, and is reported once the wait is over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(OPEN_LOCK_WAIT_MS);
    loop {
        let res = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .cache_capacity(cache_bytes)
            .open();
        match res {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if is_lock_error(&io) => {
                if std::time::Instant::now() >= deadline {
                    return Err(OpenError::InUse(dir.to_owned()));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(other) => return Err(OpenError::Storage { path: dir.to_owned(), source: sled_to_io(other) }),
        }
    }
}

/// How long opening waits for a data directory's lock before reporting it in use.
const OPEN_LOCK_WAIT_MS: u64 = 1000;

pub(crate) fn sled_to_io(e: sled::Error) -> std::io::Error {
    match e {
        sled::Error::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

fn is_lock_error(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

/// fsyncs every file of a fresh data directory and the directory itself.
fn sync_dir_files(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}

/// Tells whether files may have appeared in sled's `blobs/` folder since the last look, so that
/// the syncer lists the folder only then: listing it costs about as much as an fsync, and with
/// blocks far below sled's blob threshold most groups create no blob.
struct BlobWatch {
    /// An inotify watch of `blobs/` for created and moved-in files; `None` if it could not be set
    /// up, and then every look says "maybe".
    fd: Option<rustix::fd::OwnedFd>,
    /// Nothing looked yet: files from before the watch existed must be listed once.
    first: bool,
}

impl BlobWatch {
    fn new(dir: &Path) -> BlobWatch {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).ok().filter(|fd| {
            inotify::add_watch(fd, dir.join("blobs"), inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO)
                .is_ok()
        });
        BlobWatch { fd, first: true }
    }

    /// Whether a file may have been created in `blobs/` since the last call (always, the first
    /// time, when the watch is missing, or when its queue overflowed).
    fn changed(&mut self) -> bool {
        use rustix::fs::inotify;
        let first = std::mem::replace(&mut self.first, false);
        let Some(fd) = &self.fd else { return true };
        let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
        let mut events = inotify::Reader::new(fd, &mut buf);
        let mut any = first;
        loop {
            match events.next() {
                Ok(_) => any = true,
                Err(rustix::io::Errno::AGAIN) => return any,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return true,
            }
        }
    }
}

/// sled writes large pages to files under `blobs/` without syncing them; sync those created
/// since the last call (their names are increasing log sequence numbers) and the folder.
fn sync_new_blobs(dir: &Path, synced: u64) -> std::io::Result<u64> {
    let blobs = dir.join("blobs");
    let mut max = synced;
    let mut any = false;
    let rd = match std::fs::read_dir(&blobs) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(synced),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let Some(lsn) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        if lsn > synced {
            match File::open(entry.path()) {
                Ok(f) => f.sync_all()?,
                // sled may have collected it meanwhile: nothing left to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            max = max.max(lsn);
            any = true;
        }
    }
    if any {
        File::open(&blobs)?.sync_all()?;
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blob_watch_sees_files_created_since_the_last_look() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let mut watch = BlobWatch::new(dir.path());
        assert!(watch.fd.is_some(), "inotify is available on Linux");
        assert!(watch.changed(), "the first look lists what was there before the watch");
        assert!(!watch.changed());
        std::fs::write(dir.path().join("blobs").join("17"), b"x").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        std::fs::write(dir.path().join("tmp-18"), b"x").unwrap();
        std::fs::rename(dir.path().join("tmp-18"), dir.path().join("blobs").join("18")).unwrap();
        assert!(watch.changed(), "a file moved in counts too");
    }

    #[test]
    fn without_a_blob_folder_every_look_says_maybe() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = BlobWatch::new(dir.path());
        assert!(watch.changed() && watch.changed());
    }
}
