//! `lode-store`: Lode's append-only event log on sled, every record chained to the previous one
//! by BLAKE3.
//!
//! - [`Store`] owns one writer thread that gathers concurrent [`Store::append`] requests into one
//!   sled batch and one durable flush (group commit). Event ids are idempotent over the whole log,
//!   `expected` stream versions give optimistic concurrency, and a [`Gate`] applies the ledger's
//!   rules inside the writer.
//! - [`Reader`] reads by position, by id and by stream, and opens [`Subscription`]s that catch up
//!   from the log and then follow it live.
//! - [`verify_store`] and [`verify_lines`] recompute every hash and name the first bad position.
//! - [`merkle`] is an RFC 9162 Merkle tree over the records' leaf hashes, with inclusion and
//!   consistency proofs and their verifiers; the writer keeps the tree's nodes as it appends, and
//!   [`Reader::merkle_root`] and the proof methods answer for any durable size.
//!
//! The store knows nothing of lots: to it, the lots an event touches are *streams*, opaque names.
//! `docs/format.md` describes records, hashing and the sled layout byte by byte.
//!
//! ```
//! use lode_store::{NewEvent, Options, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open_open(dir.path(), Options::default()).unwrap();
//! let ev = NewEvent {
//!     id: uuid::Uuid::now_v7(),
//!     event: br#"{"type":"example"}"#.to_vec(),
//!     expected: vec![("lot-1".into(), 0)],
//!     payload: vec!["lot-1".to_string()],
//! };
//! let out = store.append(vec![ev]).unwrap();
//! assert_eq!(out.positions[0].seq, 1);
//! assert_eq!(store.reader().version("lot-1"), 1);
//! let report = lode_store::verify_store(&store.reader(), None, |_| {}).unwrap();
//! assert_eq!(report.head, store.head());
//! ```

pub mod block;
mod cache;
mod error;
mod gate;
pub mod mark;
pub mod merkle;
pub mod record;
mod refs;
mod store;
mod subscribe;
mod verify;

pub use error::{AppendError, OpenError, ReadError, StopReason};
pub use gate::{Candidate, Gate, Never, Open, Page};
pub use record::Hash;
pub use store::{
    load_dicts, Appended, Head, NewEvent, Options, Pipeline, Position, Reader, Record, RecordIter, StatePages, Stopped,
    Store, StoredBytes, Ticket, STATE_CODEC_KEY, STATE_DICT_KEY, STATE_POSITION_KEY,
};
pub use subscribe::{SubscribeError, Subscription, SUBSCRIPTION_CHUNK_MAX};
pub use verify::{verify_lines, verify_path, verify_store, ChainVerifier, Failure, Report};
