//! Kill a real `lode serve` with SIGKILL at random moments while writers append over HTTP and a
//! subscriber follows the stream; after each kill the ledger verifies (chain and projections),
//! every acknowledged event and every streamed event is there, no request is half there, and the
//! subscriber resumes with `Last-Event-ID` without a gap or a repeat.
//!
//! `LODE_CRASH_CYCLES=N` runs N cycles (default 20); `LODE_CRASH_WINDOW_MS=M` kills each server
//! between 20 ms and M ms after its writers start (default 1,500): a long campaign uses a short
//! window, so that the ledger, which every cycle verifies whole, grows less; `LODE_CRASH_WRITERS`
//! sets the concurrent writers (default 4).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

use crate::serve::{extracted, setup, uuid, Server};
use crate::support::{campaign, code, lode, logged_ids};

/// Events per append request: a request is whole or absent after a crash.
const PER_REQUEST: u64 = 5;

#[test]
fn sigkill_of_the_server_loses_nothing_acknowledged_or_streamed_and_subscribers_resume_without_gaps() {
    let (cycles, seed) = campaign(20);
    let writer_count: u64 = std::env::var("LODE_CRASH_WRITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(4).max(1);
    let window_ms: u64 =
        std::env::var("LODE_CRASH_WINDOW_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_500).max(21);
    eprintln!(
        "server crash campaign: {cycles} cycles, {writer_count} writers, kill window 20..{window_ms} ms, LODE_CRASH_SEED={seed}"
    );
    let mut rng = seed;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (first, tokens) = setup(&dir, &[]);
    drop(first);
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    // Every request ever sent: (its ids), to check each is whole or absent.
    let sent: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let mut streamed: Vec<(u64, String)> = Vec::new();
    let mut request_no = 0u64;
    let mut killed_with_appends_in_flight = 0;
    for cycle in 0..cycles {
        let s = Server::start(&dir, &[]);
        let stop = Arc::new(AtomicBool::new(false));
        // The subscriber resumes after the last position it saw.
        let last_seen = streamed.last().map_or(0, |(seq, _)| *seq);
        let got: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
        let subscriber = {
            let (url, token, got) = (s.at("/v1/subscribe"), tokens.auditor.clone(), got.clone());
            std::thread::spawn(move || {
                let c = Client::builder().timeout(None).build().unwrap();
                let Ok(r) = c.get(url).bearer_auth(token).header("Last-Event-ID", last_seen.to_string()).send() else {
                    return;
                };
                let mut id = None;
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { return };
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse::<u64>().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        let d: serde_json::Value = serde_json::from_str(v).unwrap();
                        let event_id = d["record"]["id"].as_str().unwrap().to_string();
                        got.lock().unwrap().push((id.take().unwrap(), event_id));
                    }
                }
            })
        };
        let writers: Vec<_> = (0..writer_count)
            .map(|w| {
                let first_request = request_no + w * 1_000_000;
                let (url, token, stop) = (s.at("/v1/events"), tokens.miner.clone(), stop.clone());
                let (acknowledged, sent) = (acknowledged.clone(), sent.clone());
                std::thread::spawn(move || {
                    let c = Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                    let mut r = first_request;
                    while !stop.load(Ordering::Relaxed) {
                        let ids: Vec<String> =
                            (0..PER_REQUEST).map(|i| uuid(40 + cycle, r * PER_REQUEST + i)).collect();
                        let body = format!(
                            "[{}]",
                            ids.iter().map(|id| extracted(id, &format!("K-{id}"))).collect::<Vec<_>>().join(",")
                        );
                        sent.lock().unwrap().push(ids.clone());
                        match c
                            .post(&url)
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                        {
                            Ok(resp) if resp.status() == 201 => acknowledged.lock().unwrap().extend(ids),
                            Ok(resp) => panic!("an append answered {}", resp.status()),
                            Err(_) => return, // the server died
                        }
                        r += 1;
                    }
                })
            })
            .collect();
        request_no += 10_000_000;
        let delay = Duration::from_millis(20 + next_rand() % (window_ms - 20));
        let started = Instant::now();
        while started.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut s = s;
        s.kill();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        subscriber.join().unwrap();
        killed_with_appends_in_flight += 1;

        let v = lode(&dir, &["verify"], b"");
        assert_eq!(
            code(&v),
            0,
            "cycle {cycle} (seed {seed}): verify failed: {} {}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        let present: HashSet<String> = logged_ids(&dir).into_iter().collect();
        let lost: Vec<_> = acknowledged.lock().unwrap().difference(&present).cloned().collect();
        assert!(lost.is_empty(), "cycle {cycle} (seed {seed}): {} acknowledged events lost", lost.len());
        for ids in sent.lock().unwrap().iter() {
            let n = ids.iter().filter(|id| present.contains(*id)).count();
            assert!(
                n == 0 || n == ids.len(),
                "cycle {cycle} (seed {seed}): a request is half there ({n} of {})",
                ids.len()
            );
        }
        let got = std::mem::take(&mut *got.lock().unwrap());
        for (seq, id) in &got {
            assert!(present.contains(id), "cycle {cycle} (seed {seed}): streamed event {seq} is gone after the crash");
        }
        streamed.extend(got);
        if (cycle + 1) % 25 == 0 {
            eprintln!(
                "server crash campaign: {} cycles done, {} acknowledged, {} streamed, 0 lost",
                cycle + 1,
                acknowledged.lock().unwrap().len(),
                streamed.len()
            );
        }
    }
    // Across every restart the subscriber saw each position once, in order, from the first.
    let seqs: Vec<u64> = streamed.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seed {seed}: a gap or a repeat in the stream");
    let acknowledged = acknowledged.lock().unwrap().len();
    eprintln!(
        "server crash campaign: {cycles} cycles, {killed_with_appends_in_flight} kills under load, {acknowledged} acknowledged \
         events, {} streamed, 0 lost",
        streamed.len()
    );
}
