//! The events every system receives: one generated history, written once to the work directory
//! by the parent process and read by every child, so that all systems append the same bytes.
//!
//! - `events.jsonl`: the history exactly as `lode generate --lots N --seed S` prints it.
//! - `events.meta`: for each event, in the same order, its id and the lots its data names
//!   (`<uuid>\t<lot> <lot> …`), which is what the SQL peers index. They get it ready-made: parsing
//!   is not charged to them, while Lode's figures include its strict parsing.
//! - `lots.txt`: the lots whose history the read phase asks for, drawn at random (seeded) from
//!   every lot the history names.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context};
use lode_domain::scenario::{generate, ScenarioOptions};
use uuid::Uuid;

use crate::chain::SqlEvent;

pub const EVENTS_FILE: &str = "events.jsonl";
pub const META_FILE: &str = "events.meta";
pub const LOTS_FILE: &str = "lots.txt";

/// The end of generated histories, the same constant as `lode generate` uses, so that the same
/// `--lots` and `--seed` give the same bytes as the command.
pub const GENERATED_UNTIL: &str = "2026-01-01T00:00:00Z";

/// What was generated.
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    pub events: u64,
    /// Bytes of all events, line breaks excluded.
    pub event_bytes: u64,
    /// Distinct lots the history names.
    pub lots: usize,
    /// Lots drawn for the read phase.
    pub sampled: usize,
}

/// Generates the history of `mine_lots` mine lots with `seed` into `dir`, and draws `reads`
/// lots for the read phase.
///
/// # Errors
/// I/O errors, and a generated event that does not parse or has no id (a generator bug).
pub fn write(dir: &Path, mine_lots: usize, seed: u64, reads: usize) -> anyhow::Result<Generated> {
    let start = chrono::DateTime::parse_from_rfc3339(GENERATED_UNTIL).expect("a valid constant").to_utc();
    let opts = ScenarioOptions { mine_lots, seed, start };
    let create = |name: &str| -> anyhow::Result<BufWriter<std::fs::File>> {
        let path = dir.join(name);
        Ok(BufWriter::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?))
    };
    let mut events_out = create(EVENTS_FILE)?;
    let mut meta_out = create(META_FILE)?;
    let mut all_lots = BTreeSet::new();
    let mut events = 0u64;
    let mut event_bytes = 0u64;
    for line in generate(&opts) {
        events += 1;
        let env = lode_domain::parse_event(line.as_bytes())
            .with_context(|| format!("generated event {events} does not parse"))?;
        let id = env.id().with_context(|| format!("generated event {events} has no id"))?;
        let mut lots: Vec<&str> = env.event().named_lots().into_iter().map(|l| l.as_str()).collect();
        lots.sort_unstable();
        lots.dedup();
        all_lots.extend(lots.iter().map(|l| l.to_string()));
        events_out.write_all(line.as_bytes())?;
        events_out.write_all(b"\n")?;
        writeln!(meta_out, "{}\t{}", id.hyphenated(), lots.join(" "))?;
        event_bytes += line.len() as u64;
    }
    events_out.flush()?;
    meta_out.flush()?;

    // A partial Fisher–Yates shuffle: `reads` distinct lots, the same ones for the same seed.
    let mut lots: Vec<String> = all_lots.into_iter().collect();
    let distinct = lots.len();
    let sampled = reads.min(distinct);
    let mut rng = SplitMix64(seed ^ 0x6c6f_6465_2d62_656e);
    for i in 0..sampled {
        let j = i + (rng.next_u64() % (distinct - i) as u64) as usize;
        lots.swap(i, j);
    }
    let mut lots_out = create(LOTS_FILE)?;
    for lot in &lots[..sampled] {
        writeln!(lots_out, "{lot}")?;
    }
    lots_out.flush()?;
    Ok(Generated { events, event_bytes, lots: distinct, sampled })
}

/// SplitMix64: a few lines of well-known arithmetic, enough to draw lots reproducibly.
#[derive(Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The generated files, read back whole by a child process before its clock starts, as
/// `lode append` reads its input whole.
#[derive(Debug)]
pub struct Input {
    events: Vec<u8>,
    meta: String,
}

impl Input {
    /// Reads `events.jsonl` and `events.meta` from `dir`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn load(dir: &Path) -> anyhow::Result<Input> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let meta = String::from_utf8(read(META_FILE)?).context("events.meta is not UTF-8")?;
        Ok(Input { events: read(EVENTS_FILE)?, meta })
    }

    /// The events, one slice each, without line breaks.
    pub fn lines(&self) -> Vec<&[u8]> {
        self.events.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect()
    }

    /// The events with their ids and lots, as the SQL peers receive them.
    ///
    /// # Errors
    /// A `events.meta` that does not match `events.jsonl`.
    pub fn sql_events(&self) -> anyhow::Result<Vec<SqlEvent<'_>>> {
        let lines = self.lines();
        let metas: Vec<&str> = self.meta.lines().collect();
        if metas.len() != lines.len() {
            bail!("events.meta has {} lines for {} events", metas.len(), lines.len());
        }
        lines
            .into_iter()
            .zip(metas)
            .enumerate()
            .map(|(i, (event, meta))| {
                let (id, lots) = meta.split_once('\t').with_context(|| format!("events.meta line {}", i + 1))?;
                let id = Uuid::parse_str(id).with_context(|| format!("events.meta line {}: the id", i + 1))?;
                Ok(SqlEvent { id, lots, event })
            })
            .collect()
    }
}

/// The lots the read phase asks for.
///
/// # Errors
/// I/O errors.
pub fn load_lots(dir: &Path) -> anyhow::Result<Vec<String>> {
    let path = dir.join(LOTS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().map(str::to_owned).collect())
}
