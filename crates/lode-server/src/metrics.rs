//! The server's metrics, written in the Prometheus text exposition format (0.0.4).
//!
//! Counters and histograms are plain atomics and small maps: a few dozen series do not need a
//! metrics library. Durations are kept in integer microseconds and printed in seconds.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Histogram bucket bounds in microseconds, from 100 µs to 10 s.
const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, us: u64) {
        if let Some(i) = BUCKETS_US.iter().position(|&b| us <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, n) in BUCKETS_US.iter().zip(&self.buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}", seconds(*b));
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", seconds(self.sum_us.load(Relaxed)));
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Microseconds as decimal seconds, exactly.
fn seconds(us: u64) -> String {
    let frac = format!("{:06}", us % 1_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}", us / 1_000_000)
    } else {
        format!("{}.{frac}", us / 1_000_000)
    }
}

/// Every metric the server keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events appended (not counting idempotent retries).
    pub events_appended: AtomicU64,
    /// Events found already in the log (idempotent retries).
    pub events_duplicate: AtomicU64,
    /// Append requests answered with 201.
    pub append_requests: AtomicU64,
    /// Refused events by code.
    rejections: Mutex<BTreeMap<String, u64>>,
    /// Requests by route, method and status.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Request latency by route.
    latency: Mutex<BTreeMap<String, std::sync::Arc<Histogram>>>,
    /// Time from an append request's arrival to its durable answer.
    pub append_latency: Histogram,
    /// Events sent to subscribers.
    pub events_streamed: AtomicU64,
}

impl Metrics {
    pub fn rejected(&self, code: &str) {
        if let Ok(mut m) = self.rejections.lock() {
            *m.entry(code.to_string()).or_default() += 1;
        }
    }

    pub fn request(&self, route: &str, method: &str, status: u16, us: u64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_string(), method.to_string(), status)).or_default() += 1;
        }
        let h = match self.latency.lock() {
            Ok(mut m) => m.entry(route.to_string()).or_default().clone(),
            Err(_) => return,
        };
        h.observe(us);
    }

    /// The exposition text, with the gauges read now.
    pub fn render(&self, head: u64, subscribers: u64) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(&mut out, "lode_events_appended_total", "Events appended.", self.events_appended.load(Relaxed));
        counter(
            &mut out,
            "lode_events_duplicate_total",
            "Events already in the log (idempotent retries).",
            self.events_duplicate.load(Relaxed),
        );
        counter(
            &mut out,
            "lode_append_requests_total",
            "Append requests answered 201.",
            self.append_requests.load(Relaxed),
        );
        counter(
            &mut out,
            "lode_events_streamed_total",
            "Events sent to subscribers.",
            self.events_streamed.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP lode_rejections_total Events refused, by code.\n# TYPE lode_rejections_total counter"
        );
        if let Ok(m) = self.rejections.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(out, "lode_rejections_total{{code=\"{}\"}} {n}", escape(code));
            }
        }
        let _ = writeln!(
            out,
            "# HELP lode_head_position The position of the last durable record.\n# TYPE lode_head_position gauge\nlode_head_position {head}"
        );
        let _ = writeln!(
            out,
            "# HELP lode_subscribers Live event subscriptions.\n# TYPE lode_subscribers gauge\nlode_subscribers {subscribers}"
        );
        let _ = writeln!(
            out,
            "# HELP lode_http_requests_total HTTP requests, by route, method and status.\n# TYPE lode_http_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((route, method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "lode_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP lode_http_request_duration_seconds HTTP request latency, by route.\n# TYPE lode_http_request_duration_seconds histogram"
        );
        let hists: Vec<(String, std::sync::Arc<Histogram>)> = match self.latency.lock() {
            Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => Vec::new(),
        };
        for (route, h) in hists {
            h.write(&mut out, "lode_http_request_duration_seconds", &format!("route=\"{}\"", escape(&route)));
        }
        let _ = writeln!(
            out,
            "# HELP lode_append_duration_seconds From an append request's arrival to its durable answer.\n# TYPE lode_append_duration_seconds histogram"
        );
        self.append_latency.write(&mut out, "lode_append_duration_seconds", "");
        out
    }
}

/// Escapes a label value.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(100), "0.0001");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(10_000_000), "10");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn histograms_are_cumulative() {
        let m = Metrics::default();
        m.append_latency.observe(90);
        m.append_latency.observe(300);
        m.append_latency.observe(20_000_000);
        let text = m.render(7, 2);
        assert!(text.contains("lode_append_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("lode_append_duration_seconds_bucket{le=\"0.0005\"} 2\n"));
        assert!(text.contains("lode_append_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("lode_append_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("lode_append_duration_seconds_count 3\n"));
        assert!(text.contains("lode_head_position 7\n"));
        assert!(text.contains("lode_subscribers 2\n"));
    }
}
