//! End-to-end tests: they run the real `lode` binary as a user would.

mod cli;
mod crash;
mod rules;
mod support;
