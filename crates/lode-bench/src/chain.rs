//! The hash chain of the SQL peers: what each row's hash covers, the head a writer keeps in
//! memory, and the verifier that recomputes the chain from rows read in order.
//!
//! The peers store one row per event: `seq` (from 1, gap-free), the event `id`, `recorded_at`
//! (microseconds since the Unix epoch, never decreasing), `lots` (the lots the event names,
//! sorted, separated by one space) and the `event` bytes exactly as submitted, plus `hash`:
//!
//! ```text
//! hash(0) = 32 zero bytes
//! hash(n) = BLAKE3( "lode-bench sql chain v1" 0x00 ‖ hash(n-1) ‖ seq u64 BE ‖ id (16 bytes)
//!                   ‖ recorded_at i64 BE ‖ len(lots) u32 BE ‖ lots ‖ event )
//! ```
//!
//! One BLAKE3 call per row over everything the row says, so that changing any column of any
//! row, or dropping, inserting or reordering rows, breaks the chain. That is the design a team
//! would write for an append-only custody table; it checks nothing about custody itself.

use uuid::Uuid;

/// Separates this chain's hashes from any other use of BLAKE3.
const DOMAIN: &[u8] = b"lode-bench sql chain v1\0";

/// An event as the SQL peers receive it: its id and the lots it names, taken from the event
/// before the clock starts (the peers are not charged for parsing), and its bytes as submitted.
#[derive(Debug, Clone, Copy)]
pub struct SqlEvent<'a> {
    pub id: Uuid,
    /// The lots the event's data names, sorted, separated by one space; empty for none.
    pub lots: &'a str,
    pub event: &'a [u8],
}

impl SqlEvent<'_> {
    /// The lots one by one, for the lot index table.
    pub fn lot_list(&self) -> impl Iterator<Item = &str> {
        self.lots.split(' ').filter(|l| !l.is_empty())
    }
}

/// One stored row, as the writer composes it or as it is read back.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub seq: u64,
    pub id: Uuid,
    pub recorded_at_us: i64,
    pub lots: &'a str,
    pub event: &'a [u8],
}

/// The row hash chaining `row` to the row before it, whose hash is `prev`.
pub fn row_hash(prev: &[u8; 32], row: &Row<'_>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(&row.seq.to_be_bytes());
    h.update(row.id.as_bytes());
    h.update(&row.recorded_at_us.to_be_bytes());
    // Lot ids are at most 128 characters and an event names few lots: the length always fits.
    let lots_len = u32::try_from(row.lots.len()).expect("an event's lot list is far below 4 GiB");
    h.update(&lots_len.to_be_bytes());
    h.update(row.lots.as_bytes());
    h.update(row.event);
    *h.finalize().as_bytes()
}

/// The last row of the chain, as a writer keeps it in memory between appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Rows in the chain, which is also the last row's `seq` (0 when empty).
    pub seq: u64,
    /// The last row's hash (32 zero bytes when empty).
    pub hash: [u8; 32],
    /// The last row's `recorded_at`, so that the next one never goes back in time.
    pub recorded_at_us: i64,
}

impl ChainHead {
    /// The head of the empty chain.
    pub const GENESIS: ChainHead = ChainHead { seq: 0, hash: [0; 32], recorded_at_us: 0 };

    /// The row that appends `event` after this head at time `now_us`, its hash, and the new
    /// head. The head itself moves only once the row is committed: the caller assigns the
    /// returned head after its transaction succeeded.
    pub fn next<'a>(&self, event: &SqlEvent<'a>, now_us: i64) -> (Row<'a>, [u8; 32], ChainHead) {
        let row = Row {
            seq: self.seq + 1,
            id: event.id,
            recorded_at_us: now_us.max(self.recorded_at_us),
            lots: event.lots,
            event: event.event,
        };
        let hash = row_hash(&self.hash, &row);
        (row, hash, ChainHead { seq: row.seq, hash, recorded_at_us: row.recorded_at_us })
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The first place where the stored rows are not the chain that was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {seq}: {what}")]
pub struct ChainFailure {
    /// The first `seq` at which the table disagrees with the chain.
    pub seq: u64,
    pub what: String,
}

/// Recomputes the chain from rows given in `seq` order.
#[derive(Debug)]
pub struct RowVerifier {
    head: ChainHead,
}

impl Default for RowVerifier {
    fn default() -> Self {
        RowVerifier { head: ChainHead::GENESIS }
    }
}

impl RowVerifier {
    /// Checks the next row against the chain so far and its stored hash.
    ///
    /// # Errors
    /// A row out of sequence, one that goes back in time, or one whose stored hash is not the
    /// one recomputed from the previous row and its own columns.
    pub fn push(&mut self, row: &Row<'_>, stored_hash: &[u8]) -> Result<(), ChainFailure> {
        let expected = self.head.seq + 1;
        if row.seq != expected {
            return Err(ChainFailure {
                seq: expected,
                what: format!("found row {} where row {expected} belongs", row.seq),
            });
        }
        if row.recorded_at_us < self.head.recorded_at_us {
            return Err(ChainFailure { seq: row.seq, what: "recorded_at goes back in time".into() });
        }
        let hash = row_hash(&self.head.hash, row);
        if stored_hash != hash {
            return Err(ChainFailure {
                seq: row.seq,
                what: "the stored hash is not the hash of the previous row and this row's columns".into(),
            });
        }
        self.head = ChainHead { seq: row.seq, hash, recorded_at_us: row.recorded_at_us };
        Ok(())
    }

    /// Ends the walk: the recomputed head must be `expect` when one is trusted (a head saved
    /// earlier), which catches rows dropped from the end.
    ///
    /// # Errors
    /// The chain does not end at the trusted head.
    pub fn finish(self, expect: Option<(u64, [u8; 32])>) -> Result<ChainHead, ChainFailure> {
        if let Some((seq, hash)) = expect {
            if self.head.seq != seq || self.head.hash != hash {
                // The first row that differs: the first one missing, the first one too many,
                // or the last one when only its hash disagrees.
                let first = match self.head.seq.cmp(&seq) {
                    std::cmp::Ordering::Less => self.head.seq + 1,
                    std::cmp::Ordering::Greater => seq + 1,
                    std::cmp::Ordering::Equal => seq,
                };
                return Err(ChainFailure {
                    seq: first,
                    what: format!("the chain ends at row {}, not at the trusted head (row {seq})", self.head.seq),
                });
            }
        }
        Ok(self.head)
    }
}

/// 32 bytes from a stored `hash` column.
///
/// # Errors
/// A value that is not 32 bytes long.
pub fn hash_from_column(seq: u64, bytes: &[u8]) -> Result<[u8; 32], ChainFailure> {
    bytes
        .try_into()
        .map_err(|_| ChainFailure { seq, what: format!("the stored hash is {} bytes, not 32", bytes.len()) })
}
