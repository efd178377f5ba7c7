//! `lode-bench`: Lode measured side by side with what a team would build instead, a
//! hash-chained append-only table in SQLite or PostgreSQL, on the same generated events.
//!
//! - [`compare::run`] generates one history (`lode_domain::scenario::generate`, as `lode
//!   generate`), runs every phase of every system in a child process of its own (the
//!   `lode-bench phase` subcommand, [`phase::run`]), several rounds each, and prints a table of
//!   medians with Lode's ratio to the best peer, and a JSON summary.
//! - [`lode`] drives Lode through its real paths: `Store<Ledger>`, `prepare_event`, every rule,
//!   fsync on.
//! - [`sqlite`] and [`pg`] are the peers; [`chain`] is their hash chain and its verifier, the
//!   part of the harness whose correctness the tests check.
//!
//! `docs/benchmarks.md` describes the method. This crate is a benchmark harness, not a library
//! for others: its functions return `anyhow` errors.
//!
//! ```
//! use lode_bench::chain::{ChainHead, RowVerifier, SqlEvent};
//!
//! let ev = SqlEvent { id: uuid::Uuid::from_u128(1), lots: "VN-ORE-000000", event: br#"{"type":"x"}"# };
//! let (row, hash, head) = ChainHead::GENESIS.next(&ev, 1_000_000);
//! let mut verifier = RowVerifier::default();
//! verifier.push(&row, &hash).unwrap();
//! assert_eq!(verifier.finish(Some((1, head.hash))).unwrap(), head);
//! ```

pub mod chain;
pub mod compare;
pub mod lode;
pub mod measure;
pub mod pg;
pub mod phase;
pub mod sqlite;
pub mod workload;
