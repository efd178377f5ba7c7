//! Measuring: peak memory from `/proc`, directory sizes, and the statistics printed.

use std::path::Path;

/// The peak resident set (`VmHWM`) of this process, in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("/proc/self/status", "VmHWM:")
}

/// The peak resident set of another process (a PostgreSQL backend), in KiB, when this process
/// may read its status.
pub fn peak_rss_kib_of(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "VmHWM:")
}

fn status_kib(path: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Bytes of every file under `path`, recursively (apparent sizes, as `du --apparent-size`).
///
/// # Errors
/// I/O errors while walking the directory.
pub fn dir_bytes(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let md = entry.metadata()?;
        total += if md.is_dir() { dir_bytes(&entry.path())? } else { md.len() };
    }
    Ok(total)
}

/// The median of `values` (the upper one of the two middle values for an even count), or
/// `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The `p`-th percentile (0–100) of sorted values, by the nearest-rank method.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// What the machine is, for the report: cores, memory, kernel, and the load average, which
/// says whether other work was running.
pub fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).ok();
    let mem_kib = status_kib("/proc/meminfo", "MemTotal:");
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu_model,
        "memory_gib": mem_kib.map(|k| (k as f64 / (1024.0 * 1024.0)).round()),
        "kernel": read("/proc/sys/kernel/osrelease"),
    })
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }
}
