//! The service under load: `cargo bench -p lode-server --bench serve`.
//!
//! Builds a ledger of a generated history (`LODE_BENCH_LOTS` mine lots, default 300: about 10,000
//! events with magnet lots 7 generations deep), serves it on loopback, then drives it over HTTP/1.1
//! with `LODE_BENCH_CONNS` keep-alive connections (default 64), each sending one request after
//! another:
//! - single-event appends (`POST /v1/events`, one `lot.extracted` each, every one durable before its
//!   answer: fsync on), `LODE_BENCH_APPENDS` in all (default 40,000), in `LODE_BENCH_ROUNDS` rounds
//!   (default 3): events per second and latency percentiles per round, and their medians;
//! - trace-backs of the magnet lots (`GET /v1/lots/{lot}/trace`), `LODE_BENCH_TRACES` (default 20,000),
//!   over all the connections and then over 4.
//!
//! Client and server share the machine's cores. Figures only: no timing is asserted.

#![allow(clippy::unwrap_used)] // a failing test or benchmark should stop right there

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_domain::scenario::{generate, ScenarioOptions};
use lode_domain::Form;
use lode_projections::{prepare_event, Ledger};
use lode_query::LotFilter;
use lode_server::auth::{self, Role, Tokens};
use lode_server::{AppState, Config, Limits};
use lode_store::{Options, Store};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Sends `bodies` (or GETs `paths`) over `conns` keep-alive connections; the latency of each.
async fn drive(base: &str, token: &str, conns: usize, requests: Arc<Vec<(bool, String)>>) -> (Duration, Vec<Duration>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).http1_only().build().unwrap();
        let (next, requests, base, token) = (next.clone(), requests.clone(), base.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((post, what)) = requests.get(i) else { break };
                let t = Instant::now();
                let r = if *post {
                    client
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(what.clone())
                        .send()
                        .await
                        .unwrap()
                } else {
                    client.get(format!("{base}{what}")).bearer_auth(&token).send().await.unwrap()
                };
                let status = r.status();
                let body = r.bytes().await.unwrap();
                assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (elapsed, all)
}

fn main() {
    let lots = env("LODE_BENCH_LOTS", 300);
    let conns = env("LODE_BENCH_CONNS", 64);
    let appends = env("LODE_BENCH_APPENDS", 40_000);
    let rounds = env("LODE_BENCH_ROUNDS", 3).max(1);
    let traces = env("LODE_BENCH_TRACES", 20_000);

    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::default();
    let store = Store::open(dir.path(), Options::default(), ledger.clone()).unwrap();
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let lines: Vec<String> = generate(&ScenarioOptions { mine_lots: lots, seed: 42, start }).collect();
    let operator: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let operator = operator["actor"].as_str().unwrap().to_string();
    let at = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut setup = lines;
    setup.push(format!(
        r#"{{"type":"party.registered","actor":"{operator}","occurred_at":"{at}","data":{{"party":"bench-miner","name":"Bench miner","roles":["miner"],"country":"VN"}}}}"#
    ));
    setup.push(format!(
        r#"{{"type":"site.registered","actor":"{operator}","occurred_at":"{at}","data":{{"site":"bench-mine","party":"bench-miner","name":"Bench pit","kind":"mine","country":"VN"}}}}"#
    ));
    for chunk in setup.chunks(5_000) {
        let batch = chunk.iter().map(|l| prepare_event(l.as_bytes()).unwrap()).collect();
        assert!(store.append(batch).unwrap().stopped.is_none());
    }
    let magnets: Vec<String> = ledger.read(|s, _| {
        let filter = LotFilter { form: Some(Form::Magnet), ..LotFilter::default() };
        lode_query::lots(s, &filter, usize::MAX).lots.into_iter().map(|l| l.lot.to_string()).collect()
    });
    let events = store.head().seq;
    let tokens_path = dir.path().join("tokens.json");
    let (_, writer) = auth::add(&tokens_path, "bench-miner", Role::Writer, None).unwrap();
    let (_, auditor) = auth::add(&tokens_path, &operator, Role::Auditor, None).unwrap();
    let limits = Limits { subscribers_max: 16, ..Limits::default() };
    let config = Config { limits, public_read: false, key: None, origin: "lode/bench".into() };
    let state = Arc::new(AppState::new(store, ledger, Tokens::open(tokens_path).unwrap(), config));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(lode_server::serve(listener, state, async move {
            let _ = stop_rx.await;
        }));
        println!(
            "serve benchmark: {events} events ({lots} generated mine lots, {} magnet lots), {conns} keep-alive connections, fsync on",
            magnets.len()
        );

        let per_round = appends / rounds;
        let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let bodies: Vec<(bool, String)> = (0..per_round)
                .map(|i| {
                    (true, format!(
                        r#"{{"type":"lot.extracted","actor":"bench-miner","occurred_at":"{at}","data":{{"lot":"B-{round}-{i}","site":"bench-mine","material":{{"form":"ore"}},"mass_g":1000000}}}}"#
                    ))
                })
                .collect();
            let (elapsed, lat) = drive(&base, &writer, conns, Arc::new(bodies)).await;
            let rate = per_round as f64 / elapsed.as_secs_f64();
            println!(
                "  appends round {}: {per_round} single-event appends in {:.2} s: {rate:.0} events/s, p50 {}, p99 {}, max {}",
                round + 1,
                elapsed.as_secs_f64(),
                ms(percentile(&lat, 50)),
                ms(percentile(&lat, 99)),
                ms(*lat.last().unwrap())
            );
            rates.push(rate);
            p50s.push(percentile(&lat, 50).as_secs_f64() * 1e3);
            p99s.push(percentile(&lat, 99).as_secs_f64() * 1e3);
        }
        println!(
            "single-event appends (median of {rounds} rounds): {:.0} events/s, p50 {:.2} ms, p99 {:.2} ms",
            median(rates),
            median(p50s),
            median(p99s)
        );

        // Traces under the full load of connections, then with a few: the first is the server's
        // throughput (latency is then mostly queueing, connections / throughput), the second what
        // one trace costs a client when the server is not saturated.
        for trace_conns in [conns, 4] {
            let paths: Vec<(bool, String)> =
                (0..traces).map(|i| (false, format!("/v1/lots/{}/trace", magnets[i % magnets.len()]))).collect();
            let (elapsed, lat) = drive(&base, &auditor, trace_conns, Arc::new(paths)).await;
            println!(
                "trace back of magnet lots, {trace_conns} connections: {traces} requests in {:.2} s: {:.0} requests/s, p50 {}, p99 {}, max {}",
                elapsed.as_secs_f64(),
                traces as f64 / elapsed.as_secs_f64(),
                ms(percentile(&lat, 50)),
                ms(percentile(&lat, 99)),
                ms(*lat.last().unwrap())
            );
        }
        let _ = stop_tx.send(());
        let store = server.await.unwrap().unwrap();
        store.close().unwrap();
    });
}
