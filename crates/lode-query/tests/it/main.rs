//! The integration tests of `lode-query`, in one binary.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

mod custody;
mod epcis;
mod findings;
mod golden;
mod inventory;
mod lots;
mod render;
mod support;
mod svg;
mod trace;
