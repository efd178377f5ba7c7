//! Lode through its real paths: `Store<Ledger>` with every custody rule, fsync on.
//!
//! - Import is what `lode append` does: a parser thread runs `prepare_event` (strict parsing,
//!   the canonical form) on batches of 1,000 while a `Pipeline` keeps three batches in flight,
//!   then the store is closed, which persists the projections (the final checkpoint).
//! - Single-event appends are `Store::append` of one event from each of several threads, split
//!   into its two halves (`Pipeline::submit`, then `Ticket::wait`), so that events are submitted
//!   in the history's order: the rules refuse a shipment of a lot not yet extracted, so the order
//!   must be the history's, while the waits for durability overlap as concurrent clients' do.
//! - Verification is `verify_store`; reading a lot's history is `Reader::stream`.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{mpsc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lode_domain::Envelope;
use lode_projections::{prepare_event, Ledger};
use lode_store::block::BlockBuilder;
use lode_store::{Hash, Head, NewEvent, Options, Store, Ticket};

/// Rounds of each ceiling in [`limits`], of which the best is kept.
const CEILING_ROUNDS: usize = 5;

/// Events per append batch in the import, as `lode append` sends them by default.
pub const BATCH_EVENTS: usize = 1000;
/// Batches submitted and not yet answered, at most, as in `lode append`.
const PIPELINE_BATCHES: usize = 3;

/// What an import measured.
#[derive(Debug)]
pub struct Imported {
    pub head: Head,
    /// From the first submission to the last batch durable.
    pub append: Duration,
    /// Closing the store: the final checkpoint of the projections and sled's flush.
    pub close: Duration,
}

fn open_ledger(dir: &Path) -> anyhow::Result<Store<Ledger>> {
    Store::open(dir, Options::default(), Ledger::default())
        .with_context(|| format!("opening a ledger in {}", dir.display()))
}

fn refused(what: &str, stopped: &lode_store::Stopped<lode_domain::Rejection>) -> anyhow::Error {
    anyhow::anyhow!("{what}: event {} of the request was refused: {}", stopped.index + 1, stopped.reason)
}

/// Appends `lines` to a new ledger in `dir` as `lode append` does, then closes it.
///
/// # Errors
/// A store error, or an event that does not parse or is refused (the generated history is
/// valid, so either is a bug worth stopping for).
pub fn import(dir: &Path, lines: &[&[u8]]) -> anyhow::Result<Imported> {
    let store = open_ledger(dir)?;
    let started = Instant::now();
    let outcome = std::thread::scope(|s| -> anyhow::Result<()> {
        let (tx, rx) = mpsc::sync_channel::<anyhow::Result<Vec<NewEvent<Envelope>>>>(2);
        s.spawn(move || {
            for (b, chunk) in lines.chunks(BATCH_EVENTS).enumerate() {
                let batch: anyhow::Result<Vec<_>> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        prepare_event(l).with_context(|| format!("event {} does not parse", b * BATCH_EVENTS + i + 1))
                    })
                    .collect();
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        let pipeline = store.pipeline();
        let mut in_flight: VecDeque<Ticket<lode_domain::Rejection>> = VecDeque::new();
        let settle = |t: Ticket<lode_domain::Rejection>| -> anyhow::Result<()> {
            let out = t.wait().context("appending a batch")?;
            match out.stopped {
                Some(st) => Err(refused("import", &st)),
                None => Ok(()),
            }
        };
        for batch in rx {
            in_flight.push_back(pipeline.submit(batch?).context("submitting a batch")?);
            while in_flight.len() > PIPELINE_BATCHES {
                settle(in_flight.pop_front().expect("non-empty"))?;
            }
        }
        for t in in_flight {
            settle(t)?;
        }
        Ok(())
    });
    let append = started.elapsed();
    outcome?;
    let head = store.head();
    if head.seq != lines.len() as u64 {
        bail!("the ledger holds {} events after importing {}", head.seq, lines.len());
    }
    let started = Instant::now();
    store.close().context("closing the ledger")?;
    Ok(Imported { head, append, close: started.elapsed() })
}

/// What a ledger directory holds, for the report: the records' bytes and the projections'
/// persisted pages, beside the directory's size.
///
/// # Errors
/// A store that does not open or read.
pub fn contents(dir: &Path) -> anyhow::Result<serde_json::Value> {
    let store = Store::open_open(dir, Options::default()).context("reopening the ledger")?;
    let reader = store.reader();
    let mut record_bytes = 0u64;
    for r in reader.iter_from(1) {
        record_bytes += r?.bytes.len() as u64;
    }
    let (_, pages) = reader.state_pages()?;
    let page_bytes: u64 = pages.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    let stored = reader.stored_bytes()?;
    drop(reader);
    store.close()?;
    Ok(serde_json::json!({
        "record_bytes": record_bytes,
        "projection_page_bytes": page_bytes,
        "stored": {
            "blocks": stored.blocks,
            "index_segments": stored.segments,
            "merkle_node_pages": stored.node_pages,
            "projection_pages": stored.state_pages,
            "dictionaries": stored.dicts,
            "other": stored.other,
        },
    }))
}

/// Appends the first `events` of `lines` to a new ledger in `dir`, one event per request, from
/// `writers` threads; returns the time from the start signal to the last append durable.
///
/// # Errors
/// As [`import`].
pub fn single(dir: &Path, lines: &[&[u8]], writers: usize, events: usize) -> anyhow::Result<Duration> {
    let store = open_ledger(dir)?;
    let lines = &lines[..events.min(lines.len())];
    // The next event to submit. Holding it while submitting keeps submissions in the history's
    // order; the wait for durability happens after it is released. Parsing happens under it too
    // (a few µs an event, against the tens of µs an append takes even with 64 writers), which
    // charges Lode a little, never the peers.
    let next = Mutex::new(0usize);
    let start = Barrier::new(writers + 1);
    let elapsed = std::thread::scope(|s| -> anyhow::Result<Duration> {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let (store, next, start) = (&store, &next, &start);
                s.spawn(move || -> anyhow::Result<()> {
                    // One pipeline per writer: each is an independent client.
                    let pipeline = store.pipeline();
                    start.wait();
                    loop {
                        let ticket = {
                            let mut n = next.lock().expect("no writer panics holding it");
                            let Some(line) = lines.get(*n) else { return Ok(()) };
                            let ev = prepare_event(line).with_context(|| format!("event {} does not parse", *n + 1))?;
                            *n += 1;
                            pipeline.submit(vec![ev]).context("submitting an event")?
                        };
                        let out = ticket.wait().context("appending an event")?;
                        if let Some(st) = out.stopped {
                            return Err(refused("single-event append", &st));
                        }
                    }
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??;
        }
        Ok(started.elapsed())
    })?;
    if store.head().seq != lines.len() as u64 {
        bail!("the ledger holds {} events after {} single appends", store.head().seq, lines.len());
    }
    store.close().context("closing the ledger")?;
    Ok(elapsed)
}

/// Verifies the ledger in `dir` with `verify_store` against the head the import ended at;
/// returns the events verified and the time the verification took (opening excluded).
///
/// # Errors
/// A store that does not open, and a failed verification.
pub fn verify(dir: &Path, expect: Option<(u64, [u8; 32])>) -> anyhow::Result<(u64, Duration)> {
    let store = Store::open_open(dir, Options::default()).context("opening the ledger")?;
    let reader = store.reader();
    let expect = expect.map(|(seq, hash)| Head { seq, hash: Hash(hash) });
    let started = Instant::now();
    let report =
        lode_store::verify_store(&reader, expect, |_| {}).map_err(|f| anyhow::anyhow!("verification failed at {f}"))?;
    let elapsed = started.elapsed();
    drop(reader);
    store.close()?;
    Ok((report.head.seq, elapsed))
}

/// What bounds three of the comparison's figures on this machine, each measured on work Lode
/// cannot skip, held in memory, without the rest of the path around it:
///
/// - verification: every record's leaf hash (on two threads, as `verify_store` does) and the
///   chain over them (on one); the same with every block decompressed first, which any verifier
///   of the stored log must do; and the same again with each record's header parsed (as strictly
///   as `verify_store` parses it), which gives the position and `prev` the chain is checked
///   against. The rest of verification is reading sled and checking the index and the tree;
/// - import: what every event costs whatever the rules and the storage: its strict parse into its
///   canonical form (`prepare_event`, as the import's parser thread runs it), its record's leaf
///   hash, and its record compressed as the store compresses it (16 KiB blocks of 2 KiB frames
///   with the log's latest dictionary), on one thread and split over two; the parse alone is reported
///   too. The rest of the import is the rules, the views, the chain, index and tree, and sled;
/// - a lot's history: decompressing, once each, the frames (format-3 blocks) and whole blocks
///   (format 2, before the log's first dictionary) that hold the sampled lots' records, from values
///   already read from sled; and the same with each block fetched from sled, once, in a database
///   opened afresh (sled's cache cold, as in the read phase). The rest of a read is Lode's index
///   and block cache, the copy and the header check.
///
/// Each is the best of five rounds: the figures are ceilings, and a shared machine only ever
/// lowers them.
///
/// # Errors
/// A store that does not open or read, or an event that does not parse.
pub fn limits(dir: &Path, lines: &[&[u8]], lots: &[String]) -> anyhow::Result<serde_json::Value> {
    use lode_store::record::{chain_hash, leaf_hash};
    let store = Store::open_open(dir, Options::default()).context("opening the ledger")?;
    let reader = store.reader();
    let records: Vec<Vec<u8>> = reader.iter_from(1).map(|r| r.map(|r| r.bytes)).collect::<Result<_, _>>()?;
    let positions: Vec<Vec<u64>> = lots.iter().map(|l| reader.stream_positions(l)).collect();
    drop(reader);
    store.close()?;
    // The stored values are read straight from sled's `log` tree (`docs/format.md` §4), outside
    // every timing.
    let db = open_sled(dir)?;
    let log = db.open_tree("log")?;
    let (blocks, dicts) = stored_blocks(&log)?;
    drop((log, db));
    let bytes: usize = records.iter().map(Vec::len).sum();

    // Runs `work` over `items` split into `threads` parts, and returns the best time of ROUNDS.
    fn best_split<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> R + Sync) -> [f64; 2] {
        let mut best = [f64::INFINITY; 2];
        for _ in 0..CEILING_ROUNDS {
            for (threads, best) in [1usize, 2].into_iter().zip(best.iter_mut()) {
                let chunk = items.len().div_ceil(threads).max(1);
                let started = Instant::now();
                let out: Vec<R> = std::thread::scope(|s| {
                    let parts: Vec<_> = items.chunks(chunk).map(|part| s.spawn(|| work(part))).collect();
                    parts.into_iter().map(|h| h.join().expect("the measured work does not panic")).collect()
                });
                *best = best.min(started.elapsed().as_secs_f64());
                drop(std::hint::black_box(out));
            }
        }
        best
    }

    let hash = best_split(&records, |part| {
        let leaves: Vec<Hash> = part.iter().map(|r| leaf_hash(r)).collect();
        leaves.iter().fold(Hash::GENESIS, |chain, leaf| chain_hash(&chain, leaf))
    });
    if lines.len() != records.len() {
        bail!("the ledger holds {} records for {} events", records.len(), lines.len());
    }
    let parse = best_split(lines, |part| part.iter().map(|l| prepare_event(l).is_ok()).filter(|&ok| ok).count());
    if let Some(Err(e)) = lines.iter().map(|l| prepare_event(l)).find(Result::is_err) {
        bail!("an event does not parse: {e}");
    }
    // The import's unavoidable work per event: its strict parse, its record's leaf hash, and its
    // record compressed into 16 KiB blocks of 2 KiB frames with the log's latest dictionary (or,
    // for a log too small to have trained one, as whole blocks).
    let dict = dicts.latest();
    let finish = |b: BlockBuilder| match &dict {
        Some(d) => b.finish_with(d).0.len(),
        None => b.finish().0.len(),
    };
    let pairs: Vec<(&[u8], &[u8])> = lines.iter().copied().zip(records.iter().map(Vec::as_slice)).collect();
    let block_bytes = Options::default().block_bytes_max;
    let import = best_split(&pairs, |part| {
        let mut kept = 0usize;
        let mut builder = BlockBuilder::new();
        for (line, record) in part {
            let parsed = prepare_event(line).is_ok();
            std::hint::black_box((parsed, leaf_hash(record)));
            builder.push(record);
            if builder.len_bytes() >= block_bytes {
                kept += finish(std::mem::take(&mut builder));
            }
        }
        kept + if builder.count() > 0 { finish(builder) } else { 0 }
    });
    let decompress = decompress_ceiling(&blocks, &dicts, &positions)?;
    // Verification's work on the stored log: every block decompressed, every record leaf-hashed
    // (blocks dealt out to the threads), then the chain over the leaves.
    let unpack = best_split(&blocks, |part| {
        let leaves: Vec<Vec<Hash>> = part
            .iter()
            .map(|(_, v)| {
                lode_store::block::Block::decode_with(v, &dicts).records().iter().map(|r| leaf_hash(r)).collect()
            })
            .collect();
        leaves.iter().flatten().fold(Hash::GENESIS, |chain, leaf| chain_hash(&chain, leaf))
    });
    // The same, with each record's header parsed: the chain needs each record's stated position
    // and `prev`, which only the header gives.
    let unpack_parse = best_split(&blocks, |part| {
        let links: Vec<Vec<(u64, Hash, Hash)>> = part
            .iter()
            .map(|(_, v)| {
                let block = lode_store::block::Block::decode_with(v, &dicts);
                block
                    .records()
                    .iter()
                    .map(|r| match lode_store::record::parse(r) {
                        Ok(h) => (h.seq, h.prev, leaf_hash(r)),
                        Err(_) => (0, Hash::GENESIS, leaf_hash(r)),
                    })
                    .collect()
            })
            .collect();
        // Each part chains from the genesis, so its `prev`s mostly differ: the comparison's cost
        // is what counts here, not its outcome.
        links.iter().flatten().fold((Hash::GENESIS, 0u64), |(chain, bad), (seq, prev, leaf)| {
            (chain_hash(&chain, leaf), bad + u64::from(*prev != chain || *seq == 0))
        })
    });
    let sled_read = sled_read_ceiling(dir, &blocks, &dicts, &positions)?;
    let n = records.len() as f64;
    Ok(serde_json::json!({
        "events": records.len(),
        "record_bytes_mean": bytes as f64 / n.max(1.0),
        "hash_events_per_s_1_thread": n / hash[0],
        "hash_events_per_s": n / hash[1],
        "verify_work_events_per_s_1_thread": n / unpack[0],
        "verify_work_events_per_s": n / unpack[1],
        "verify_format_events_per_s_1_thread": n / unpack_parse[0],
        "verify_format_events_per_s": n / unpack_parse[1],
        "parse_events_per_s_1_thread": lines.len() as f64 / parse[0],
        "parse_events_per_s": lines.len() as f64 / parse[1],
        "import_work_events_per_s_1_thread": n / import[0],
        "import_work_events_per_s": n / import[1],
        "read_decompress_lots_per_s": lots.len() as f64 / decompress,
        "read_sled_lots_per_s": lots.len() as f64 / sled_read,
    }))
}

/// Opens the ledger's sled database read as it is, waiting a moment for the lock that sled's
/// threads may still hold after the database was last dropped in this process.
fn open_sled(dir: &Path) -> anyhow::Result<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match sled::open(dir) {
            Err(sled::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.context("opening the ledger's sled database"),
        }
    }
}

/// Every block of the log, in order, with the position of its first record, and the log's
/// dictionaries (as the store loads them).
fn stored_blocks(log: &sled::Tree) -> anyhow::Result<(Vec<(u64, sled::IVec)>, lode_store::block::Dicts)> {
    use lode_store::block::{key_seq, BLOCK_PREFIX};
    let (dicts, _) = lode_store::load_dicts(log)?;
    let blocks = log
        .scan_prefix([BLOCK_PREFIX])
        .map(|kv| -> anyhow::Result<_> {
            let (k, v) = kv?;
            Ok((key_seq(BLOCK_PREFIX, &k).context("a block key that names no position")?, v))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((blocks, dicts))
}

/// Each record at `positions`, in order, as its block's index in `blocks` (first position and
/// value, in order) and its place in that block.
fn wanted_records(blocks: &[(u64, sled::IVec)], positions: &[Vec<u64>]) -> anyhow::Result<Vec<(usize, usize)>> {
    positions
        .iter()
        .flatten()
        .map(|&seq| {
            let i = blocks.partition_point(|(first, _)| *first <= seq).checked_sub(1);
            i.map(|i| (i, (seq - blocks[i].0) as usize)).context("a record before every block")
        })
        .collect()
}

/// The best time of [`CEILING_ROUNDS`] to decompress, once each, what holds the records at
/// `positions`: the frame of a format-3 block, the whole of an older block, from the log's
/// `blocks` (first position and value, in order) already read, outside the timing.
fn decompress_ceiling(
    blocks: &[(u64, sled::IVec)],
    dicts: &lode_store::block::Dicts,
    positions: &[Vec<u64>],
) -> anyhow::Result<f64> {
    use lode_store::block::{Block, BLOCK_VERSION_FRAMES};
    use std::collections::{HashMap, HashSet};
    // The work, in the order the reads meet it: a frame of a format-3 block (the block opened
    // beforehand: that reads only its frame table), or a whole older block, each once.
    enum Work<'a> {
        Frame(&'a Block, usize),
        Whole(&'a sled::IVec, usize),
    }
    let wanted = wanted_records(blocks, positions)?;
    let opened: HashMap<usize, Block> = wanted
        .iter()
        .filter(|&&(i, _)| blocks[i].1.first() == Some(&BLOCK_VERSION_FRAMES))
        .map(|&(i, _)| (i, Block::open_with(&blocks[i].1, dicts)))
        .collect();
    let mut seen = HashSet::new();
    let mut work = Vec::new();
    for (i, n) in wanted {
        match opened.get(&i) {
            Some(b) => {
                let frame = b.frame_of(n).context("a record its block does not hold")?;
                if seen.insert((i, frame)) {
                    work.push(Work::Frame(b, n));
                }
            }
            None if seen.insert((i, 0)) => work.push(Work::Whole(&blocks[i].1, n)),
            None => {}
        }
    }
    let mut best = f64::INFINITY;
    for _ in 0..CEILING_ROUNDS {
        let started = Instant::now();
        let mut total = 0usize;
        for w in &work {
            total += match *w {
                Work::Frame(b, n) => b.get(n).map(|r| r.len()),
                Work::Whole(v, n) => Block::open_with(v, dicts).get(n).map(|r| r.len()),
            }
            .context("a record its block does not hold")?;
        }
        best = best.min(started.elapsed().as_secs_f64());
        std::hint::black_box(total);
    }
    Ok(best)
}

/// The best time of [`CEILING_ROUNDS`] to fetch from sled, each once, the blocks that hold the
/// records at `positions` and to decompress, each once, what holds those records (as
/// [`decompress_ceiling`]): in a database opened afresh for each round, so that sled's cache is as
/// cold as for the read phase, and the operating system's as warm. The rest of a read is Lode's
/// index, its block cache, the copy and the header check.
fn sled_read_ceiling(
    dir: &Path,
    blocks: &[(u64, sled::IVec)],
    dicts: &lode_store::block::Dicts,
    positions: &[Vec<u64>],
) -> anyhow::Result<f64> {
    use lode_store::block::{key, Block, BLOCK_PREFIX};
    use std::collections::{hash_map::Entry, HashMap, HashSet};
    let wanted: Vec<(u64, usize)> =
        wanted_records(blocks, positions)?.into_iter().map(|(i, n)| (blocks[i].0, n)).collect();
    let mut best = f64::INFINITY;
    for _ in 0..CEILING_ROUNDS {
        let db = open_sled(dir)?;
        let log = db.open_tree("log")?;
        let started = Instant::now();
        let mut opened: HashMap<u64, Block> = HashMap::new();
        let mut seen = HashSet::new();
        let mut total = 0usize;
        for &(first, n) in &wanted {
            let block = match opened.entry(first) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let value = log.get(key(BLOCK_PREFIX, first))?.context("a block the index names is missing")?;
                    e.insert(Block::open_with(value, dicts))
                }
            };
            let frame = block.frame_of(n).context("a record its block does not hold")?;
            if seen.insert((first, frame)) {
                total += block.get(n).map(|r| r.len()).context("a record its block does not hold")?;
            }
        }
        best = best.min(started.elapsed().as_secs_f64());
        std::hint::black_box(total);
        drop((opened, log, db));
    }
    Ok(best)
}

/// Reads each lot's history; returns the records read and each lot's latency.
///
/// # Errors
/// A store that does not open or read.
pub fn reads(dir: &Path, lots: &[String]) -> anyhow::Result<(u64, Vec<Duration>)> {
    let store = Store::open_open(dir, Options::default()).context("opening the ledger")?;
    let reader = store.reader();
    let mut records = 0u64;
    let mut latencies = Vec::with_capacity(lots.len());
    for lot in lots {
        let started = Instant::now();
        let history = reader.stream(lot, 0, usize::MAX)?;
        latencies.push(started.elapsed());
        records += std::hint::black_box(history).len() as u64;
    }
    drop(reader);
    store.close()?;
    Ok((records, latencies))
}
