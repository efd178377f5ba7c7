//! `lode append`: parse, check and append events in batches.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;
use lode_store::{AppendError, NewEvent, StopReason, Ticket};
use serde_json::json;

use crate::input::{self, Unit};
use crate::output::{print_json, rate};
use crate::{rejected, Failed};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file of events, or `-` for standard input.
    #[arg(default_value = "-", value_name = "FILE|-")]
    source: PathBuf,
    /// Events per append batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch: u64,
}

/// Batches submitted and not yet answered, at most.
const PIPELINE_BATCHES: usize = 3;

/// Inputs at least this long get a progress bar when standard error is a terminal.
const PROGRESS_EVENTS_MIN: usize = 10_000;

/// Why an append stopped, as it is reported.
struct Stop {
    line: usize,
    index: usize,
    code: String,
    reason: String,
}

type Batch = (Vec<NewEvent<lode_domain::Envelope>>, Vec<usize>);

pub fn run(dir: &Path, args: Args) -> Result<(), Failed> {
    let input = input::read_all(&args.source)?;
    let (units, not_json) = input::split(&input);
    let (store, _) = crate::read::open_ledger(dir)?;
    let started = Instant::now();
    let first_head = store.head();
    let bar = (std::io::stderr().is_terminal() && units.len() >= PROGRESS_EVENTS_MIN).then(|| {
        let bar = indicatif::ProgressBar::new(units.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {eta}")
                .expect("the template is valid"),
        );
        bar
    });

    let mut appended = 0u64;
    let mut duplicates = 0u64;
    let mut stop: Option<Stop> = None;
    let batch = args.batch as usize;
    std::thread::scope(|s| -> Result<(), Failed> {
        // Parse the next batch while the writer commits the current one.
        let (tx, rx) = mpsc::sync_channel::<Result<Batch, Stop>>(2);
        s.spawn(move || parse_batches(&units, batch, tx));
        // Keep a few batches in flight so that the writer composes one while the disk syncs
        // another; the pipeline guarantees nothing after a stopped batch is appended.
        let pipeline = store.pipeline();
        let mut in_flight: VecDeque<(Ticket<lode_domain::Rejection>, Vec<usize>, usize)> = VecDeque::new();
        let mut done = 0usize;
        let mut parse_stop = None;
        let mut settle =
            |ticket: Ticket<lode_domain::Rejection>, lines: Vec<usize>, offset: usize| -> Result<(), Failed> {
                let out = match ticket.wait() {
                    Ok(out) => out,
                    Err(AppendError::PipelineStopped) => return Ok(()),
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("appending the batch from line {}", lines[0]))
                            .into())
                    }
                };
                for p in &out.positions {
                    if p.duplicate {
                        duplicates += 1;
                    } else {
                        appended += 1;
                    }
                }
                if let Some(st) = out.stopped {
                    let (code, reason) = describe(&st.reason);
                    stop = Some(Stop { line: lines[st.index], index: offset + st.index, code, reason });
                }
                if let Some(bar) = &bar {
                    bar.set_position((offset + lines.len()) as u64);
                }
                Ok(())
            };
        for msg in rx {
            let (events, lines) = match msg {
                Ok(b) => b,
                Err(st) => {
                    parse_stop = Some(st);
                    break;
                }
            };
            let n = lines.len();
            in_flight.push_back((pipeline.submit(events)?, lines, done));
            done += n;
            while in_flight.len() > PIPELINE_BATCHES {
                let (t, l, o) = in_flight.pop_front().expect("non-empty");
                settle(t, l, o)?;
            }
        }
        for (t, l, o) in in_flight {
            settle(t, l, o)?;
        }
        if stop.is_none() {
            stop = parse_stop;
        }
        Ok(())
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if stop.is_none() {
        if let Some(nj) = not_json {
            stop = Some(Stop { line: nj.line, index: nj.index, code: "malformed_json".into(), reason: nj.why });
        }
    }

    let head = store.head();
    let elapsed = started.elapsed();
    let mut summary = json!({
        "appended": appended,
        "duplicates": duplicates,
        "first_seq": if appended > 0 { Some(first_head.seq + 1) } else { None },
        "last_seq": if appended > 0 { Some(head.seq) } else { None },
        "head": head.hash.to_hex(),
        "events_per_s": rate(appended, elapsed),
    });
    if let Some(st) = &stop {
        summary["rejected"] = json!({ "line": st.line, "event": st.index + 1, "code": st.code, "reason": st.reason });
    }
    print_json(&summary)?;
    store.close().context("closing the ledger")?;
    match stop {
        None => Ok(()),
        Some(st) => Err(rejected(anyhow::anyhow!(
            "line {}: event {} rejected ({}): {}; nothing from it on was appended",
            st.line,
            st.index + 1,
            st.code,
            st.reason
        ))),
    }
}

/// Parses units into batches ready for the store; stops at the first event that does not parse.
fn parse_batches(units: &[Unit<'_>], batch: usize, tx: mpsc::SyncSender<Result<Batch, Stop>>) {
    let mut index = 0usize;
    for chunk in units.chunks(batch) {
        let mut events = Vec::with_capacity(chunk.len());
        let mut lines = Vec::with_capacity(chunk.len());
        let mut failed = None;
        for u in chunk {
            match lode_projections::prepare_event(u.bytes) {
                Ok(ev) => {
                    events.push(ev);
                    lines.push(u.line);
                }
                Err(e) => {
                    failed = Some(Stop { line: u.line, index, code: e.code().to_string(), reason: e.to_string() });
                    break;
                }
            }
            index += 1;
        }
        if !events.is_empty() && tx.send(Ok((events, lines))).is_err() {
            return;
        }
        if let Some(f) = failed {
            let _ = tx.send(Err(f));
            return;
        }
    }
}

/// The stable code and the message of a stopped append.
pub fn describe(reason: &StopReason<lode_domain::Rejection>) -> (String, String) {
    let code = match reason {
        StopReason::IdConflict { .. } => "id_conflict".to_string(),
        StopReason::VersionConflict { .. } => "version_conflict".to_string(),
        StopReason::Rejected(r) => r.code().to_string(),
        _ => "rejected".to_string(),
    };
    (code, reason.to_string())
}
