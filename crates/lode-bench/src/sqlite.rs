//! The SQLite peer: a hash-chained, append-only table as a competent team would write it today.
//!
//! WAL journal with `synchronous=FULL` (every commit is durable: the WAL is fsynced at each
//! commit), the same page-cache budget as Lode's sled cache, prepared statements, one
//! transaction per batch, the chain head kept in memory and moved only after a commit. The
//! `seq` primary key and the unique `id` are what "checked" means: a writer whose head is stale
//! (another process appended) fails with a constraint violation instead of forking the chain.
//! Triggers refuse updates and deletes, as an append-only table would; they stop mistakes, not
//! someone with the file, which is what the chain is for.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Statement, TransactionBehavior};
use uuid::Uuid;

use crate::chain::{hash_from_column, now_us, ChainFailure, ChainHead, Row, RowVerifier, SqlEvent};

/// The database file inside the peer's directory (beside it, SQLite keeps `-wal` and `-shm`).
pub const DB_FILE: &str = "chain.sqlite";

/// Page cache per connection, in KiB: Lode's default sled cache (256 MiB), so that neither side
/// wins by caching more.
const CACHE_KIB: i64 = 256 * 1024;

/// How long a connection waits for another's lock before failing. The bench's writers are
/// serialised by the in-memory chain head, so only WAL checkpoints could make one wait.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq         INTEGER PRIMARY KEY,
    id          BLOB    NOT NULL UNIQUE,
    recorded_at INTEGER NOT NULL,
    lots        TEXT    NOT NULL,
    event       BLOB    NOT NULL,
    hash        BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS event_lots (
    lot TEXT    NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (lot, seq)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
";

const INSERT_EVENT: &str =
    "INSERT INTO events (seq, id, recorded_at, lots, event, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const INSERT_LOT: &str = "INSERT INTO event_lots (lot, seq) VALUES (?1, ?2)";
const SELECT_ALL: &str = "SELECT seq, id, recorded_at, lots, event, hash FROM events ORDER BY seq";
const SELECT_LAST_TWO: &str = "SELECT seq, id, recorded_at, lots, event, hash FROM events ORDER BY seq DESC LIMIT 2";
/// A lot's history: its rows through the lot index, in order, with the events' bytes.
pub const SELECT_LOT: &str =
    "SELECT e.seq, e.event FROM event_lots l JOIN events e ON e.seq = l.seq WHERE l.lot = ?1 ORDER BY l.seq";

/// Opens (or creates) the chain in `dir` with WAL and `synchronous=FULL`.
///
/// # Errors
/// SQLite errors, and a database that refuses WAL mode.
pub fn open(dir: &Path) -> anyhow::Result<Connection> {
    let path = dir.join(DB_FILE);
    let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("{} refused WAL mode (journal_mode is {mode})", path.display());
    }
    conn.execute_batch(&format!("PRAGMA synchronous=FULL; PRAGMA cache_size=-{CACHE_KIB};"))?;
    conn.execute_batch(SCHEMA).context("creating the schema")?;
    Ok(conn)
}

/// The library version and the durability settings in force, for the report.
///
/// # Errors
/// SQLite errors.
pub fn settings(conn: &Connection) -> anyhow::Result<serde_json::Value> {
    let version: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let synchronous: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    Ok(serde_json::json!({
        "sqlite_version": version,
        "journal_mode": journal,
        // 2 is FULL.
        "synchronous": if synchronous == 2 { "FULL".to_string() } else { synchronous.to_string() },
        "cache_kib": CACHE_KIB,
    }))
}

/// Reads the head from the last row and checks it: its hash must be the hash of the row before
/// it and its own columns.
///
/// # Errors
/// SQLite errors, and a last row that does not chain to the one before it.
pub fn head(conn: &Connection) -> anyhow::Result<ChainHead> {
    let mut stmt = conn.prepare(SELECT_LAST_TWO)?;
    let mut rows = stmt.query([])?;
    let mut owned = Vec::with_capacity(2);
    while let Some(r) = rows.next()? {
        owned.push(OwnedRow::read(r)?);
    }
    let Some(last) = owned.first() else { return Ok(ChainHead::GENESIS) };
    let prev = match owned.get(1) {
        Some(p) if p.seq + 1 == last.seq => hash_from_column(p.seq, &p.hash)?,
        None if last.seq == 1 => [0; 32],
        _ => bail!("the chain's last rows are not consecutive (last row {})", last.seq),
    };
    let row = last.as_row();
    let hash = crate::chain::row_hash(&prev, &row);
    if last.hash != hash {
        bail!("row {}: the stored hash of the last row does not chain to the row before it", last.seq);
    }
    Ok(ChainHead { seq: last.seq, hash, recorded_at_us: last.recorded_at_us })
}

/// Appends `events` in one transaction; `head` moves only once it is committed.
///
/// # Errors
/// SQLite errors, among them a constraint violation when `head` is stale or an id is already
/// in the chain.
pub fn append(conn: &mut Connection, head: &mut ChainHead, events: &[SqlEvent<'_>]) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut next = *head;
    {
        let mut insert_event = tx.prepare_cached(INSERT_EVENT)?;
        let mut insert_lot = tx.prepare_cached(INSERT_LOT)?;
        let now = now_us();
        for ev in events {
            let (row, hash, after) = next.next(ev, now);
            let seq = i64::try_from(row.seq).context("seq beyond i64")?;
            insert_event.execute(params![
                seq,
                row.id.as_bytes().as_slice(),
                row.recorded_at_us,
                row.lots,
                row.event,
                hash.as_slice()
            ])?;
            for lot in ev.lot_list() {
                insert_lot.execute(params![lot, seq])?;
            }
            next = after;
        }
    }
    tx.commit()?;
    *head = next;
    Ok(())
}

/// Reads every row in `seq` order and recomputes the chain; with `expect`, it must end there.
///
/// # Errors
/// `Err` for SQLite errors; `Ok(Err(failure))` names the first row that is not what was written.
pub fn verify(conn: &Connection, expect: Option<(u64, [u8; 32])>) -> anyhow::Result<Result<ChainHead, ChainFailure>> {
    let mut stmt = conn.prepare(SELECT_ALL)?;
    let mut rows = stmt.query([])?;
    let mut verifier = RowVerifier::default();
    let mut position = 0u64;
    while let Some(r) = rows.next()? {
        position += 1;
        // Columns are read in place, not copied: a verifier reads every byte once.
        let checked = (|| -> Result<(), ChainFailure> {
            let bad =
                |what: &str| ChainFailure { seq: position, what: format!("the {what} column has the wrong type") };
            let seq = match r.get_ref(0).map_err(|_| bad("seq"))? {
                ValueRef::Integer(s) => u64::try_from(s).map_err(|_| bad("seq"))?,
                _ => return Err(bad("seq")),
            };
            let id = Uuid::from_slice(r.get_ref(1).and_then(|v| Ok(v.as_blob()?)).map_err(|_| bad("id"))?)
                .map_err(|_| bad("id"))?;
            let recorded_at_us = r.get_ref(2).and_then(|v| Ok(v.as_i64()?)).map_err(|_| bad("recorded_at"))?;
            let lots = r.get_ref(3).and_then(|v| Ok(v.as_str()?)).map_err(|_| bad("lots"))?;
            let event = r.get_ref(4).and_then(|v| Ok(v.as_blob()?)).map_err(|_| bad("event"))?;
            let hash = r.get_ref(5).and_then(|v| Ok(v.as_blob()?)).map_err(|_| bad("hash"))?;
            verifier.push(&Row { seq, id, recorded_at_us, lots, event }, hash)
        })();
        if let Err(failure) = checked {
            return Ok(Err(failure));
        }
    }
    Ok(verifier.finish(expect))
}

/// A lot's history: the events' bytes in order, copied out as a client would keep them.
///
/// # Errors
/// SQLite errors.
pub fn read_lot(stmt: &mut Statement<'_>, lot: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut rows = stmt.query([lot])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(r.get::<_, Vec<u8>>(1)?);
    }
    Ok(out)
}

/// Moves the WAL into the database and truncates it, as a clean shutdown would, so that the
/// directory's size is the database's.
///
/// # Errors
/// SQLite errors, and a checkpoint that could not complete.
pub fn checkpoint(conn: &Connection) -> anyhow::Result<()> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        bail!("the WAL checkpoint was blocked by another connection");
    }
    Ok(())
}

/// The number of rows, for checks.
///
/// # Errors
/// SQLite errors.
pub fn count(conn: &Connection) -> anyhow::Result<u64> {
    let n: Option<i64> = conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
    Ok(n.map_or(0, |n| n as u64))
}

/// A row read back whole (for the head check, where two rows are read).
#[derive(Debug)]
struct OwnedRow {
    seq: u64,
    id: Uuid,
    recorded_at_us: i64,
    lots: String,
    event: Vec<u8>,
    hash: Vec<u8>,
}

impl OwnedRow {
    fn read(r: &rusqlite::Row<'_>) -> anyhow::Result<OwnedRow> {
        let seq: i64 = r.get(0)?;
        let id: Vec<u8> = r.get(1)?;
        Ok(OwnedRow {
            seq: u64::try_from(seq).context("a negative seq")?,
            id: Uuid::from_slice(&id).context("an id of the wrong length")?,
            recorded_at_us: r.get(2)?,
            lots: r.get(3)?,
            event: r.get(4)?,
            hash: r.get(5)?,
        })
    }

    fn as_row(&self) -> Row<'_> {
        Row { seq: self.seq, id: self.id, recorded_at_us: self.recorded_at_us, lots: &self.lots, event: &self.event }
    }
}
