//! Integration tests of the store: one binary, modules by feature.

mod append;
mod concurrency;
mod support;
mod tamper;
