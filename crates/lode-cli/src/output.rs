//! Printing results.

use std::io::Write;
use std::time::Duration;

/// Prints one JSON value on one line of standard output.
pub fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Events per second, as a whole number.
pub fn rate(events: u64, elapsed: Duration) -> u64 {
    let us = elapsed.as_micros().max(1);
    u64::try_from(u128::from(events) * 1_000_000 / us).unwrap_or(u64::MAX)
}
