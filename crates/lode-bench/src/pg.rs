//! The PostgreSQL peer: the same hash-chained table as the SQLite peer, on a server.
//!
//! Durability is the server's default (`fsync=on`, `synchronous_commit=on`), which the report
//! prints as the server states it. A batch is one transaction of two statements that insert the
//! whole batch from arrays (`unnest`), so a batch of 1,000 costs four round trips, not thousands.
//! A single-event append is one statement (a data-modifying `WITH` inserting the row and its lot
//! index entries) in its own transaction: one round trip and one durable commit. Verification
//! reads the rows through a cursor in chunks, so the client's memory stays bounded.

use anyhow::{bail, Context};
use postgres::{Client, NoTls, Statement, Transaction};
use uuid::Uuid;

use crate::chain::{hash_from_column, now_us, ChainFailure, ChainHead, Row, RowVerifier, SqlEvent};

/// The schema the import, verification and read phases use.
pub const SCHEMA_IMPORT: &str = "lode_bench_import";
/// The schema the single-event phases use, reset for every run.
pub const SCHEMA_SINGLE: &str = "lode_bench_single";

/// Rows fetched per round trip when verifying.
const VERIFY_CHUNK_ROWS: i32 = 10_000;

const TABLES: &str = "
CREATE TABLE events (
    seq         bigint PRIMARY KEY,
    id          uuid   NOT NULL UNIQUE,
    recorded_at bigint NOT NULL,
    lots        text   NOT NULL,
    event       bytea  NOT NULL,
    hash        bytea  NOT NULL
);
CREATE TABLE event_lots (
    lot text   NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (lot, seq)
);
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'events is append-only'; END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
";

const INSERT_EVENTS: &str = "INSERT INTO events (seq, id, recorded_at, lots, event, hash)
    SELECT * FROM unnest($1::int8[], $2::uuid[], $3::int8[], $4::text[], $5::bytea[], $6::bytea[])";
const INSERT_LOTS: &str = "INSERT INTO event_lots (lot, seq) SELECT * FROM unnest($1::text[], $2::int8[])";
/// One event and its lot index entries in one statement, hence one round trip.
const INSERT_ONE: &str = "WITH e AS (
        INSERT INTO events (seq, id, recorded_at, lots, event, hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq
    )
    INSERT INTO event_lots (lot, seq) SELECT l, e.seq FROM e, unnest($7::text[]) AS l";
const SELECT_ALL: &str = "SELECT seq, id, recorded_at, lots, event, hash FROM events ORDER BY seq";
const SELECT_LAST_TWO: &str = "SELECT seq, id, recorded_at, lots, event, hash FROM events ORDER BY seq DESC LIMIT 2";
/// A lot's history: its rows through the lot index, in order, with the events' bytes.
pub const SELECT_LOT: &str =
    "SELECT e.seq, e.event FROM event_lots l JOIN events e ON e.seq = l.seq WHERE l.lot = $1 ORDER BY l.seq";

/// Connects to `url` and works in `schema`.
///
/// # Errors
/// Connection errors.
pub fn connect(url: &str, schema: &str) -> anyhow::Result<Client> {
    let mut client = Client::connect(url, NoTls).context("connecting to PostgreSQL")?;
    client.batch_execute(&format!("SET search_path TO {schema}"))?;
    Ok(client)
}

/// Checks that a server answers at `url` within a few seconds, and returns its version.
///
/// # Errors
/// The connection's error: the reason PostgreSQL is skipped.
pub fn probe(url: &str) -> anyhow::Result<String> {
    let mut config: postgres::Config = url.parse().context("parsing the PostgreSQL URL")?;
    config.connect_timeout(std::time::Duration::from_secs(5));
    let mut client = config.connect(NoTls).context("connecting to PostgreSQL")?;
    Ok(client.query_one("SHOW server_version", &[])?.get(0))
}

/// Drops `schema` with everything in it and creates the tables afresh.
///
/// # Errors
/// SQL errors.
pub fn reset(client: &mut Client, schema: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema}; {TABLES}"
        ))
        .with_context(|| format!("creating the schema {schema}"))
}

/// The server's version and the durability settings in force, for the report.
///
/// # Errors
/// SQL errors.
pub fn settings(client: &mut Client) -> anyhow::Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    for name in
        ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers"]
    {
        let value: String = client.query_one(&format!("SHOW {name}"), &[])?.get(0);
        out.insert(name.into(), value.into());
    }
    Ok(out.into())
}

/// Reads the head from the last row and checks it: its hash must be the hash of the row before
/// it and its own columns.
///
/// # Errors
/// SQL errors, and a last row that does not chain to the one before it.
pub fn head(client: &mut Client) -> anyhow::Result<ChainHead> {
    let rows = client.query(SELECT_LAST_TWO, &[])?;
    let Some(last) = rows.first() else { return Ok(ChainHead::GENESIS) };
    let last_seq = u64::try_from(last.get::<_, i64>(0)).context("a negative seq")?;
    let prev = match rows.get(1) {
        Some(p) if u64::try_from(p.get::<_, i64>(0)).ok() == Some(last_seq - 1) => {
            hash_from_column(last_seq - 1, p.get::<_, &[u8]>(5))?
        }
        None if last_seq == 1 => [0; 32],
        _ => bail!("the chain's last rows are not consecutive (last row {last_seq})"),
    };
    let row =
        Row { seq: last_seq, id: last.get(1), recorded_at_us: last.get(2), lots: last.get(3), event: last.get(4) };
    let hash = crate::chain::row_hash(&prev, &row);
    if last.get::<_, &[u8]>(5) != hash {
        bail!("row {last_seq}: the stored hash of the last row does not chain to the row before it");
    }
    Ok(ChainHead { seq: last_seq, hash, recorded_at_us: row.recorded_at_us })
}

/// The statements an appender prepares once per connection.
#[derive(Debug)]
pub struct Prepared {
    events: Statement,
    lots: Statement,
    one: Statement,
}

impl Prepared {
    /// Prepares the insert statements on `client`.
    ///
    /// # Errors
    /// SQL errors.
    pub fn new(client: &mut Client) -> anyhow::Result<Prepared> {
        Ok(Prepared {
            events: client.prepare(INSERT_EVENTS)?,
            lots: client.prepare(INSERT_LOTS)?,
            one: client.prepare(INSERT_ONE)?,
        })
    }
}

/// Appends `events` in one transaction; `head` moves only once it is committed.
///
/// # Errors
/// SQL errors, among them a unique violation when `head` is stale or an id is already there.
pub fn append_batch(
    client: &mut Client,
    prepared: &Prepared,
    head: &mut ChainHead,
    events: &[SqlEvent<'_>],
) -> anyhow::Result<()> {
    let mut next = *head;
    let now = now_us();
    let n = events.len();
    let (mut seqs, mut ids, mut times, mut lots, mut bodies, mut hashes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut lot_names, mut lot_seqs) = (Vec::new(), Vec::new());
    for ev in events {
        let (row, hash, after) = next.next(ev, now);
        let seq = i64::try_from(row.seq).context("seq beyond i64")?;
        seqs.push(seq);
        ids.push(row.id);
        times.push(row.recorded_at_us);
        lots.push(row.lots);
        bodies.push(row.event);
        hashes.push(hash);
        for lot in ev.lot_list() {
            lot_names.push(lot);
            lot_seqs.push(seq);
        }
        next = after;
    }
    let hash_refs: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
    let mut tx: Transaction<'_> = client.transaction()?;
    tx.execute(&prepared.events, &[&seqs, &ids, &times, &lots, &bodies, &hash_refs])?;
    tx.execute(&prepared.lots, &[&lot_names, &lot_seqs])?;
    tx.commit()?;
    *head = next;
    Ok(())
}

/// Appends one event in its own transaction (autocommit): one round trip, one durable commit.
///
/// # Errors
/// SQL errors, among them a unique violation when `head` is stale or the id is already there.
pub fn append_one(
    client: &mut Client,
    prepared: &Prepared,
    head: &mut ChainHead,
    ev: &SqlEvent<'_>,
) -> anyhow::Result<()> {
    let (row, hash, after) = head.next(ev, now_us());
    let seq = i64::try_from(row.seq).context("seq beyond i64")?;
    let lots: Vec<&str> = ev.lot_list().collect();
    client.execute(
        &prepared.one,
        &[&seq, &row.id, &row.recorded_at_us, &row.lots, &row.event, &hash.as_slice(), &lots],
    )?;
    *head = after;
    Ok(())
}

/// Reads every row in `seq` order and recomputes the chain; with `expect`, it must end there.
///
/// # Errors
/// `Err` for SQL errors; `Ok(Err(failure))` names the first row that is not what was written.
pub fn verify(client: &mut Client, expect: Option<(u64, [u8; 32])>) -> anyhow::Result<Result<ChainHead, ChainFailure>> {
    // A cursor (a portal inside a read-only transaction) fetches the rows in chunks: the whole
    // table is never in the client's memory at once.
    let mut tx = client.build_transaction().read_only(true).start()?;
    let portal = tx.bind(SELECT_ALL, &[])?;
    let mut verifier = RowVerifier::default();
    let mut position = 0u64;
    loop {
        let rows = tx.query_portal(&portal, VERIFY_CHUNK_ROWS)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            position += 1;
            let checked = (|| -> Result<(), ChainFailure> {
                let bad =
                    |what: &str| ChainFailure { seq: position, what: format!("the {what} column does not decode") };
                let seq = u64::try_from(r.try_get::<_, i64>(0).map_err(|_| bad("seq"))?).map_err(|_| bad("seq"))?;
                let id: Uuid = r.try_get(1).map_err(|_| bad("id"))?;
                let recorded_at_us: i64 = r.try_get(2).map_err(|_| bad("recorded_at"))?;
                let lots: &str = r.try_get(3).map_err(|_| bad("lots"))?;
                let event: &[u8] = r.try_get(4).map_err(|_| bad("event"))?;
                let hash: &[u8] = r.try_get(5).map_err(|_| bad("hash"))?;
                verifier.push(&Row { seq, id, recorded_at_us, lots, event }, hash)
            })();
            if let Err(failure) = checked {
                return Ok(Err(failure));
            }
        }
    }
    tx.commit()?;
    Ok(verifier.finish(expect))
}

/// A lot's history: the events' bytes in order, copied out as a client would keep them.
///
/// # Errors
/// SQL errors.
pub fn read_lot(client: &mut Client, stmt: &Statement, lot: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    Ok(client.query(stmt, &[&lot])?.iter().map(|r| r.get::<_, Vec<u8>>(1)).collect())
}

/// Bytes of both tables with their indexes and TOAST, and of each part.
///
/// # Errors
/// SQL errors.
pub fn relation_bytes(client: &mut Client) -> anyhow::Result<(u64, serde_json::Value)> {
    let r = client.query_one(
        "SELECT pg_total_relation_size('events'), pg_relation_size('events'), pg_indexes_size('events'),
                pg_total_relation_size('event_lots'), pg_indexes_size('event_lots')",
        &[],
    )?;
    let get = |i: usize| u64::try_from(r.get::<_, i64>(i)).unwrap_or(0);
    let total = get(0) + get(3);
    Ok((
        total,
        serde_json::json!({
            "events_total": get(0), "events_heap": get(1), "events_indexes": get(2),
            "event_lots_total": get(3), "event_lots_indexes": get(4),
        }),
    ))
}

/// The server's current WAL position, as text.
///
/// # Errors
/// SQL errors.
pub fn wal_position(client: &mut Client) -> anyhow::Result<String> {
    Ok(client.query_one("SELECT pg_current_wal_lsn()::text", &[])?.get(0))
}

/// Bytes of WAL the server wrote since `from` (a position from [`wal_position`]).
///
/// # Errors
/// SQL errors.
pub fn wal_bytes_since(client: &mut Client, from: &str) -> anyhow::Result<u64> {
    let bytes: i64 =
        client.query_one("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::int8", &[&from])?.get(0);
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// The process id of this connection's server backend.
///
/// # Errors
/// SQL errors.
pub fn backend_pid(client: &mut Client) -> anyhow::Result<u32> {
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[])?.get(0);
    u32::try_from(pid).context("a negative backend pid")
}
