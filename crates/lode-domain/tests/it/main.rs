//! The integration tests of `lode-domain`, in one binary.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

mod canonical;
mod conservation;
mod coverage;
mod custody_rules;
mod effects;
mod envelope_rules;
mod history;
mod lot_rules;
mod master_rules;
mod oversight_rules;
mod parsing;
mod persistence;
mod scenario;
mod support;
