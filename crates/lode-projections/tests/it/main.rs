//! The integration tests of `lode-projections`, in one binary.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

// The domain's test ledger and history generator, included rather than copied, so that the views are
// tested over the same histories as the rules. Not every helper is used here.
#[allow(dead_code)]
#[path = "../../../lode-domain/tests/it/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../../../lode-domain/tests/it/history.rs"]
mod history;

mod book;
mod concurrency;
mod custody;
mod inventory;
mod lot_view;
mod origin;
mod persistence;
