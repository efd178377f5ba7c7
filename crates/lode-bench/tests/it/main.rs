//! The harness's own correctness: the SQL chain it measures must really be a chain (a verifier
//! that passes everything would make its verification figures meaningless), Lode's phases must
//! check what they claim, and the whole command must produce the figures it says it does.

mod command;
mod lode_phases;
mod sqlite_chain;

use std::path::Path;

/// A tiny generated history in `dir`: 3 mine lots, about 110 events.
fn tiny_workload(dir: &Path) -> lode_bench::workload::Generated {
    lode_bench::workload::write(dir, 3, 7, 10).expect("generate")
}
