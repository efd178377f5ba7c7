//! Integration tests of the store: one binary, modules by feature.

mod append;
mod concurrency;
mod gate;
mod support;
mod tamper;
