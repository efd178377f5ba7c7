//! Integration tests of the store: one binary, modules by feature.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

mod append;
mod concurrency;
mod dict;
mod gate;
mod merkle;
mod support;
mod tamper;
mod tree;
