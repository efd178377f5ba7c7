//! End-to-end tests: they run the real `lode` binary as a user would.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

mod bundle;
mod checkpoint;
mod cli;
mod crash;
mod crash_serve;
mod demo;
mod exports;
mod faults;
mod hostile;
mod prove;
mod query;
mod rules;
mod serve;
mod support;
