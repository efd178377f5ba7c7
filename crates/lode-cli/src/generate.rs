//! `lode generate`: a realistic scenario as JSON lines.

use std::io::{BufWriter, Write};

use crate::Failed;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lots extracted at mines; the history has roughly 15 to 40 events for each.
    #[arg(long, value_name = "N")]
    lots: usize,
    /// The seed: the same seed gives the same history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Generated histories end at this time.
const GENERATED_UNTIL: &str = "2026-01-01T00:00:00Z";

pub fn run(args: Args) -> Result<(), Failed> {
    // A fixed end keeps the output the same for the same seed; the history lies in the year
    // before it, so every event is in the past when it is appended.
    let start = chrono::DateTime::parse_from_rfc3339(GENERATED_UNTIL).expect("a valid constant").to_utc();
    let opts = lode_domain::scenario::ScenarioOptions { mine_lots: args.lots, seed: args.seed, start };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in lode_domain::scenario::generate(&opts) {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
