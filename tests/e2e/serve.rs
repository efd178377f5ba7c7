//! `lode serve`: the real binary on an ephemeral port, driven by a real HTTP client.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

use crate::support::{code, json_line, lode, lode_bin, T};

/// A running `lode serve`, stopped with SIGTERM (or killed when dropped).
pub struct Server {
    child: Option<Child>,
    pub url: String,
    /// What the server printed on standard output after its first line.
    pub printed: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let log = dir.with_extension("serve.log");
        let mut child = Command::new(lode_bin())
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env_remove("LODE_DATA_DIR")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("lode serve runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let url = first
            .trim()
            .rsplit(" on ")
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "lode serve did not name its address: {first:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap()
                )
            })
            .to_string();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server { child: Some(child), url, printed }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// SIGKILL, and waits for the process to end.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the process to end.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // The tests forbid unsafe code, so the signal goes through kill(1).
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "lode serve did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `lode token add`: the token's text.
pub fn token(dir: &Path, party: &str, role: &str) -> String {
    let out = lode(dir, &["token", "add", "--party", party, "--role", role], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    json_line(&out)["token"].as_str().unwrap().to_string()
}

pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// POSTs `body` to /v1/events with `token`; the status and the JSON answer.
pub fn post(c: &Client, s: &Server, token: Option<&str>, body: impl Into<reqwest::blocking::Body>) -> (u16, Value) {
    let mut req = c.post(s.at("/v1/events")).header("content-type", "application/json").body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().unwrap())
}

pub fn get(c: &Client, s: &Server, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = c.get(s.at(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().unwrap())
}

fn answer(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let problem =
        r.headers().get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("application/problem+json"));
    let text = r.text().unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status >= 400 {
        assert!(problem, "an error must be a problem document: {status} {v}");
        assert_eq!(v["status"], status, "{v}");
        assert!(v["code"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    }
    (status, v)
}

/// The durable head's hash.
pub fn head_hash(c: &Client, s: &Server) -> String {
    let (status, v) = get(c, s, None, "/healthz");
    assert_eq!(status, 200);
    v["head_hash"].as_str().unwrap().to_string()
}

pub fn ev(id: &str, kind: &str, actor: &str, data: Value) -> String {
    json!({ "id": id, "type": kind, "actor": actor, "occurred_at": T, "data": data }).to_string()
}

pub fn uuid(tag: u64, n: u64) -> String {
    format!("00000000-0000-7000-{:04x}-{n:012x}", 0x8000 + tag)
}

pub fn extracted(id: &str, lot: &str) -> String {
    ev(
        id,
        "lot.extracted",
        "miner",
        json!({ "lot": lot, "site": "mine-1", "material": { "form": "ore" }, "mass_g": 1_000_000 }),
    )
}

/// The test ledger's first 4 events: an operator `op`, a miner `miner` with mine `mine-1`, and an
/// auditor `aud`.
pub fn setup_events() -> Vec<String> {
    let reg = |id, party: &str, role: &str, country: &str| {
        ev(id, "party.registered", "op", json!({ "party": party, "name": party, "roles": [role], "country": country }))
    };
    vec![
        reg(&uuid(0, 1), "op", "operator", "KR"),
        reg(&uuid(0, 2), "miner", "miner", "VN"),
        reg(&uuid(0, 3), "aud", "auditor", "KR"),
        ev(
            &uuid(0, 4),
            "site.registered",
            "op",
            json!({ "site": "mine-1", "party": "miner", "name": "Pit", "kind": "mine", "country": "VN" }),
        ),
    ]
}

/// Tokens of the test ledger's parties.
pub struct Tokens {
    pub op: String,
    pub miner: String,
    pub auditor: String,
}

/// A new ledger with an operator `op`, a miner `miner` with mine `mine-1`, and an auditor `aud`,
/// served; 4 records.
pub fn setup(dir: &Path, extra: &[&str]) -> (Server, Tokens) {
    let tokens = Tokens {
        op: token(dir, "op", "operator"),
        miner: token(dir, "miner", "writer"),
        auditor: token(dir, "aud", "auditor"),
    };
    let s = Server::start(dir, extra);
    let c = client();
    let body = format!("[{}]", setup_events().join(","));
    let (status, v) = post(&c, &s, Some(&tokens.op), body);
    assert_eq!(status, 201, "{v}");
    (s, tokens)
}

#[test]
fn an_append_and_query_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (mut s, t) = setup(&dir, &[]);
    let c = client();

    let id = uuid(1, 1);
    let (status, v) = post(&c, &s, Some(&t.miner), extracted(&id, "ORE-1"));
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["positions"][0]["seq"], 5);
    assert_eq!(v["positions"][0]["duplicate"], false);
    let hash = v["positions"][0]["hash"].as_str().unwrap().to_string();
    assert_eq!(v["head"]["seq"], 5);

    // An idempotent retry answers the original position.
    let (status, again) = post(&c, &s, Some(&t.miner), extracted(&id, "ORE-1"));
    assert_eq!(status, 201);
    assert_eq!(again["positions"][0]["seq"], 5);
    assert_eq!(again["positions"][0]["hash"], hash.as_str());
    assert_eq!(again["positions"][0]["duplicate"], true);

    // The same id with other content is a conflict, and changes nothing.
    let before = head_hash(&c, &s);
    let (status, v) = post(&c, &s, Some(&t.miner), extracted(&id, "ORE-2"));
    assert_eq!((status, v["code"].as_str().unwrap()), (409, "id_conflict"), "{v}");
    assert_eq!(head_hash(&c, &s), before);

    let (status, v) = get(&c, &s, Some(&t.auditor), &format!("/v1/events/{id}"));
    assert_eq!(status, 200);
    assert_eq!((v["seq"].as_u64(), v["hash"].as_str()), (Some(5), Some(hash.as_str())));
    assert_eq!(v["record"]["event"]["data"]["lot"], "ORE-1");
    let (status, v) = get(&c, &s, Some(&t.auditor), "/v1/events?after=3&limit=10");
    assert_eq!(status, 200);
    let seqs: Vec<u64> = v["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![4, 5]);
    assert_eq!(v["head"], 5);

    let (status, lot) = get(&c, &s, Some(&t.auditor), "/v1/lots/ORE-1");
    assert_eq!(status, 200, "{lot}");
    assert_eq!(lot["mass_g"], 1_000_000, "{lot}");
    let (status, trace) = get(&c, &s, Some(&t.auditor), "/v1/lots/ORE-1/trace");
    assert_eq!(status, 200);
    assert_eq!(trace["origin"][0]["mine"], "mine-1");
    assert_eq!(trace["origin"][0]["ppm"], 1_000_000);
    let (status, v) = get(&c, &s, Some(&t.auditor), "/v1/lots/NOPE/trace");
    assert_eq!((status, v["code"].as_str().unwrap()), (404, "lot_not_found"));
    let (status, inv) = get(&c, &s, Some(&t.auditor), "/v1/inventory?party=miner");
    assert_eq!(status, 200);
    assert_eq!(inv["rows"][0]["active_g"], 1_000_000, "{inv}");
    let (status, past) = get(&c, &s, Some(&t.auditor), "/v1/inventory?party=miner&as_of=4");
    assert_eq!(status, 200);
    assert_eq!(past["rows"].as_array().unwrap().len(), 0, "{past}");

    // The inclusion proof leads from the record's leaf hash to the root.
    let (status, proof) = get(&c, &s, Some(&t.auditor), "/v1/proofs/inclusion?seq=5");
    assert_eq!(status, 200);
    assert_eq!(proof["size"], 5);
    let (status, v) = get(&c, &s, Some(&t.auditor), "/v1/proofs/consistency?from=2&to=5");
    assert_eq!(status, 200, "{v}");
    let (status, v) = get(&c, &s, Some(&t.auditor), "/v1/checkpoint");
    assert_eq!((status, v["code"].as_str().unwrap()), (503, "no_signing_key"));

    // The metrics count what happened.
    let metrics = c.get(s.at("/metrics")).bearer_auth(&t.auditor).send().unwrap().text().unwrap();
    assert!(metrics.contains("lode_head_position 5\n"), "{metrics}");
    assert!(metrics.contains("lode_rejections_total{code=\"id_conflict\"} 1\n"), "{metrics}");

    assert!(s.stop().success());
    let out = lode(&dir, &["verify"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

/// Reads server-sent events: (id, data) pairs, until `n` arrived.
fn read_events(r: Response, n: usize, out: &mut Vec<(u64, Value)>) {
    let mut lines = BufReader::new(r).lines();
    let mut id = None;
    let mut data = None;
    let mut got = 0;
    while got < n {
        let line = lines.next().expect("the stream ended early").unwrap();
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse::<u64>().unwrap());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str::<Value>(v).unwrap());
        } else if line.is_empty() {
            if let (Some(i), Some(d)) = (id.take(), data.take()) {
                out.push((i, d));
                got += 1;
            }
        }
    }
}

#[test]
fn a_subscriber_receives_10000_concurrent_appends_exactly_once_and_in_order_across_a_resume() {
    const WRITERS: u64 = 8;
    const PER_WRITER: u64 = 1_250;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (s, t) = setup(&dir, &[]);
    let s = Arc::new(s);
    let stream_client = Client::builder().timeout(None).build().unwrap();

    // Subscribe before the load starts, from the beginning.
    let first = stream_client.get(s.at("/v1/subscribe?after=0")).bearer_auth(&t.auditor).send().unwrap();
    assert_eq!(first.status(), 200);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = s.clone();
            let token = t.miner.clone();
            std::thread::spawn(move || {
                let c = client();
                let mut ids = Vec::new();
                for i in 0..PER_WRITER {
                    let id = uuid(10 + w, i);
                    let (status, v) = post(&c, &s, Some(&token), extracted(&id, &format!("L-{w}-{i}")));
                    assert_eq!(status, 201, "{v}");
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let total = (4 + WRITERS * PER_WRITER) as usize;
    let mut got = Vec::new();
    // Read a part, drop the connection mid-load, and resume where it stopped.
    read_events(first, 3_000, &mut got);
    let last = got.last().unwrap().0;
    let resumed = stream_client
        .get(s.at("/v1/subscribe?after=0"))
        .bearer_auth(&t.auditor)
        .header("Last-Event-ID", last.to_string())
        .send()
        .unwrap();
    assert_eq!(resumed.status(), 200);
    read_events(resumed, total - got.len(), &mut got);
    let acknowledged: HashSet<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();

    let seqs: Vec<u64> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>(), "every position once, in order");
    for (id, data) in &got {
        assert_eq!(data["seq"].as_u64(), Some(*id));
        assert_eq!(data["record"]["seq"].as_u64(), Some(*id));
    }
    let streamed: HashSet<String> = got.iter().map(|(_, d)| d["record"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(streamed.len(), total, "no event twice");
    assert!(acknowledged.is_subset(&streamed), "every acknowledged event was streamed");
    assert_eq!(acknowledged.len() as u64, WRITERS * PER_WRITER);

    // Filters: one lot's events, one type's.
    let r = stream_client.get(s.at("/v1/subscribe?lot=L-3-7")).bearer_auth(&t.auditor).send().unwrap();
    let mut one = Vec::new();
    read_events(r, 1, &mut one);
    assert_eq!(one[0].1["record"]["event"]["data"]["lot"], "L-3-7");
    let r = stream_client.get(s.at("/v1/subscribe?type=site.registered")).bearer_auth(&t.auditor).send().unwrap();
    let mut one = Vec::new();
    read_events(r, 1, &mut one);
    assert_eq!(one[0].0, 4);
    let c = client();
    let (status, v) = get(&c, &s, Some(&t.auditor), "/v1/subscribe?type=lot.exploded");
    assert_eq!((status, v["code"].as_str().unwrap()), (400, "invalid_parameter"));
}

#[test]
fn subscriptions_over_the_limit_are_refused_and_heartbeats_keep_idle_ones_alive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (s, t) = setup(&dir, &["--subscribers-max", "2", "--heartbeat-ms", "200"]);
    let stream_client = Client::builder().timeout(None).build().unwrap();
    let a = stream_client.get(s.at("/v1/subscribe?after=4")).bearer_auth(&t.auditor).send().unwrap();
    let _b = stream_client.get(s.at("/v1/subscribe?after=4")).bearer_auth(&t.auditor).send().unwrap();
    let c = client();
    let (status, v) = get(&c, &s, Some(&t.auditor), "/v1/subscribe");
    assert_eq!((status, v["code"].as_str().unwrap()), (503, "too_many_subscribers"));
    // Nothing happens: the idle stream still carries heartbeat comments.
    let mut lines = BufReader::new(a).lines();
    let line = lines.next().unwrap().unwrap();
    assert!(line.starts_with(':'), "a heartbeat is an SSE comment: {line:?}");
    drop(lines);
    // A freed place can be taken again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = stream_client.get(s.at("/v1/subscribe")).bearer_auth(&t.auditor).send().unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the closed subscription's place was never freed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_authentication_matrix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (mut s, t) = setup(&dir, &[]);
    let c = client();
    let (status, _) = post(&c, &s, Some(&t.miner), extracted(&uuid(2, 1), "ORE-1"));
    assert_eq!(status, 201);
    let hold = |id: &str, actor: &str| {
        ev(id, "hold.placed", actor, json!({ "lot": "ORE-1", "reason": "documents under review" }))
    };
    let register = |id: &str, actor: &str| {
        ev(
            id,
            "party.registered",
            actor,
            json!({ "party": "trader", "name": "T", "roles": ["trader"], "country": "KR" }),
        )
    };

    // (token, event, expected status, expected code)
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (None, extracted(&uuid(2, 2), "ORE-2"), 401, "unauthorized"),
        (Some("lode_not-a-token"), extracted(&uuid(2, 3), "ORE-3"), 401, "unauthorized"),
        (Some(&t.miner), extracted(&uuid(2, 4), "ORE-4").replace("\"miner\"", "\"op\""), 403, "actor_mismatch"),
        (Some(&t.op), extracted(&uuid(2, 5), "ORE-5"), 403, "actor_mismatch"),
        (Some(&t.miner), register(&uuid(2, 6), "miner"), 403, "role_forbidden"),
        (Some(&t.miner), hold(&uuid(2, 7), "miner"), 403, "role_forbidden"),
        (Some(&t.auditor), register(&uuid(2, 8), "aud"), 403, "role_forbidden"),
        (Some(&t.auditor), hold(&uuid(2, 9), "op"), 403, "actor_mismatch"),
        (Some(&t.op), hold(&uuid(2, 10), "aud"), 403, "actor_mismatch"),
    ];
    let before = head_hash(&c, &s);
    for (token, body, want_status, want_code) in &cases {
        let (status, v) = post(&c, &s, *token, body.clone());
        assert_eq!((status, v["code"].as_str().unwrap()), (*want_status, *want_code), "{body}: {v}");
        assert_eq!(head_hash(&c, &s), before, "a refused write changed the ledger: {body}");
    }
    // What each role may do.
    let (status, v) = post(&c, &s, Some(&t.auditor), hold(&uuid(2, 11), "aud"));
    assert_eq!(status, 201, "an auditor places holds: {v}");
    let release = ev(&uuid(2, 12), "hold.released", "aud", json!({ "lot": "ORE-1", "reason": "cleared" }));
    let (status, v) = post(&c, &s, Some(&t.auditor), release);
    assert_eq!(status, 201, "and releases them: {v}");
    let (status, v) = post(&c, &s, Some(&t.op), register(&uuid(2, 13), "op"));
    assert_eq!(status, 201, "an operator registers parties: {v}");
    // A token without the Bearer scheme is refused.
    let r = c.post(s.at("/v1/events")).header("authorization", format!("Basic {}", t.miner)).body("{}").send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());

    // Reads need a token unless reads are public.
    for path in ["/v1/lots/ORE-1", "/v1/events", "/v1/inventory", "/metrics", "/v1/proofs/inclusion?seq=1"] {
        let (status, v) = get(&c, &s, None, path);
        assert_eq!((status, v["code"].as_str()), (401, Some("unauthorized")), "{path}");
        for tok in [&t.miner, &t.auditor, &t.op] {
            assert_eq!(get(&c, &s, Some(tok), path).0, 200, "{path}");
        }
    }
    assert_eq!(get(&c, &s, None, "/healthz").0, 200);
    assert_eq!(get(&c, &s, None, "/openapi.json").0, 200);

    // Revocation takes effect on the next request, without a restart.
    let list = lode(&dir, &["token", "list"], b"");
    let miner_id = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["party"] == "miner")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = String::from_utf8(lode(&dir, &["token", "list"], b"").stdout).unwrap();
    assert!(!list.contains(&t.miner["lode_".len()..]), "token list must not show tokens");
    let out = lode(&dir, &["token", "revoke", &miner_id], b"");
    assert_eq!(code(&out), 0);
    let (status, _) = post(&c, &s, Some(&t.miner), extracted(&uuid(2, 14), "ORE-14"));
    assert_eq!(status, 401);
    assert_eq!(get(&c, &s, Some(&t.miner), "/v1/lots/ORE-1").0, 401);
    assert!(s.stop().success());

    // With --public-read, reads need no token; writes still do.
    let s = Server::start(&dir, &["--public-read"]);
    assert_eq!(get(&c, &s, None, "/v1/lots/ORE-1").0, 200);
    assert_eq!(post(&c, &s, None, extracted(&uuid(2, 15), "ORE-15")).0, 401);
}

#[test]
fn malformed_oversized_and_wrongly_typed_bodies_get_their_status_and_leave_the_head_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (s, t) = setup(&dir, &["--body-bytes-max", "65536", "--request-events-max", "10"]);
    let c = client();
    let (status, _) = post(&c, &s, Some(&t.miner), extracted(&uuid(3, 1), "ORE-1"));
    assert_eq!(status, 201);
    let good = extracted(&uuid(3, 2), "ORE-2");
    let many =
        format!("[{}]", (0..11).map(|i| extracted(&uuid(3, 100 + i), &format!("M-{i}"))).collect::<Vec<_>>().join(","));
    let huge = format!(r#"{{"type":"lot.extracted","pad":"{}"}}"#, "x".repeat(100_000));
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        ("truncated JSON", good.as_bytes()[..good.len() - 3].to_vec(), 400, Some("malformed_json")),
        ("a JSON string", br#""lot.extracted""#.to_vec(), 400, Some("not_an_object")),
        ("an empty body", Vec::new(), 400, Some("malformed_json")),
        ("an empty array", b"[]".to_vec(), 400, Some("empty_request")),
        ("invalid UTF-8", [b"{\"type\":\"lot.extracted\",\"actor\":\"miner\xff\"}".as_slice()].concat(), 400, None),
        ("mass as a string", good.replace("1000000", "\"1000000\"").into_bytes(), 400, None),
        ("mass as a float", good.replace("1000000", "1000000.5").into_bytes(), 400, None),
        ("an unknown field", good.replace("\"mass_g\"", "\"weight_g\":1,\"mass_g\"").into_bytes(), 400, None),
        ("an unknown type", good.replace("lot.extracted", "lot.exploded").into_bytes(), 400, None),
        ("an array of 11 events", many.into_bytes(), 413, Some("too_many_events")),
        ("a body over 64 KiB", huge.into_bytes(), 413, Some("body_too_large")),
        (
            "a lot that does not exist",
            ev(&uuid(3, 3), "lot.moved", "miner", json!({"lot": "NOPE", "to_site": "mine-1"})).into_bytes(),
            422,
            Some("lot_not_found"),
        ),
        (
            "a wrong expected version",
            good.replace("\"data\"", "\"expected\":{\"ORE-2\":3},\"data\"").into_bytes(),
            409,
            Some("version_conflict"),
        ),
    ];
    let before = head_hash(&c, &s);
    for (what, body, want_status, want_code) in cases {
        let (status, v) = post(&c, &s, Some(&t.miner), body);
        assert_eq!(status, want_status, "{what}: {v}");
        if let Some(code) = want_code {
            assert_eq!(v["code"], code, "{what}: {v}");
        }
        assert_eq!(head_hash(&c, &s), before, "{what} changed the ledger");
    }
    // A body that is not declared JSON.
    let r = c
        .post(s.at("/v1/events"))
        .bearer_auth(&t.miner)
        .header("content-type", "text/plain")
        .body(good.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
    // Bad query parameters name themselves.
    for (path, parameter) in [
        ("/v1/events?after=-1", "after"),
        ("/v1/events/not-a-uuid", "id"),
        ("/v1/lots/ORE-1/trace?direction=sideways", "direction"),
        ("/v1/inventory?as_of=yesterday", "as_of"),
        ("/v1/lots/ORE-1/audit?covered=XXX", "covered"),
        ("/v1/proofs/inclusion", "seq"),
    ] {
        let (status, v) = get(&c, &s, Some(&t.auditor), path);
        assert_eq!((status, v["parameter"].as_str()), (400, Some(parameter)), "{path}: {v}");
    }
    assert_eq!(head_hash(&c, &s), before);
    let (status, _) = post(&c, &s, Some(&t.miner), good);
    assert_eq!(status, 201, "the ledger still takes good events");
}

/// A value for a path or query parameter that the route will accept.
fn sample(name: &str, event_id: &str) -> String {
    match name {
        "lot" => "ORE-1".into(),
        "id" => event_id.into(),
        "seq" | "from" | "to" => "1".into(),
        other => panic!("no sample for required parameter {other}"),
    }
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_the_server_has() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (s, t) = setup(&dir, &[]);
    let c = client();
    let (status, _) = post(&c, &s, Some(&t.miner), extracted(&uuid(4, 1), "ORE-1"));
    assert_eq!(status, 201);
    let (status, doc) = get(&c, &s, None, "/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let stream_client = Client::builder().timeout(None).build().unwrap();
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut url = path.clone();
            let mut query = Vec::new();
            for p in op["parameters"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                match (p["in"].as_str().unwrap(), p["required"].as_bool().unwrap()) {
                    ("path", _) => url = url.replace(&format!("{{{name}}}"), &sample(name, &uuid(4, 1))),
                    ("query", true) => query.push(format!("{name}={}", sample(name, &uuid(4, 1)))),
                    _ => {}
                }
            }
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let req = match method.as_str() {
                "get" => stream_client.get(s.at(&url)),
                "post" => stream_client.post(s.at(&url)).header("content-type", "application/json").body("[]"),
                other => panic!("unexpected method {other}"),
            };
            let r = req.bearer_auth(&t.op).send().unwrap();
            let status = r.status().as_u16();
            let documented = op["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&status.to_string()),
                "{method} {url} answered {status}, which its document does not list"
            );
            assert_ne!(status, 404, "{method} {url}: documented but not served");
            assert_ne!(status, 405, "{method} {url}: documented but not served");
            seen.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(seen.len() >= 17, "{seen:?}");
    assert!(seen.contains("POST /v1/events") && seen.contains("GET /v1/subscribe"), "{seen:?}");
    // What the document does not list is not served.
    let (status, v) = get(&c, &s, Some(&t.op), "/v1/nothing");
    assert_eq!((status, v["code"].as_str().unwrap()), (404, "no_route"));
    let r = c.delete(s.at("/v1/events")).bearer_auth(&t.op).send().unwrap();
    assert_eq!(r.status(), 405);
}

#[test]
fn sigterm_during_appends_loses_no_acknowledged_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (s, t) = setup(&dir, &[]);
    let url = s.url.clone();
    let s = Arc::new(Mutex::new(s));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let token = t.miner.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let c = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let id = uuid(20 + w, i);
                    let r = c
                        .post(format!("{url}/v1/events"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(extracted(&id, &format!("S-{w}-{i}")))
                        .send();
                    match r {
                        Ok(r) if r.status() == 201 => acknowledged.push(id),
                        // Once the server stops, connections are refused or answered 503.
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let status = s.lock().unwrap().stop();
    assert!(status.success(), "lode serve ended with {status}");
    let acknowledged: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    assert!(acknowledged.len() > 10, "the load did not run: {} appends", acknowledged.len());
    let logged: HashSet<String> = crate::support::logged_ids(&dir).into_iter().collect();
    for id in &acknowledged {
        assert!(logged.contains(id), "acknowledged event {id} is missing after shutdown");
    }
    let out = lode(&dir, &["verify"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn serve_demo_answers_with_the_demo_ledger_and_signs_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(&tmp.path().join("unused"), &["--demo"]);
    let c = client();
    let (status, trace) = get(&c, &s, None, "/v1/lots/JP-MAG-2025-0001/trace");
    assert_eq!(status, 200);
    assert_eq!(trace["origin"][0]["mine"], "vn-laichau-mine", "{trace}");
    let (status, audit) = get(&c, &s, None, "/v1/lots/KR-MAG-2025-0001/audit");
    assert_eq!(status, 200);
    assert_eq!(audit["passed"], false);
    let note = c.get(s.at("/v1/checkpoint")).send().unwrap().text().unwrap();
    assert!(note.starts_with("lode/demo\n158\n"), "{note}");
    // The bundle verifies offline with the operator's key the demo printed the path of.
    let (status, bundle) = get(&c, &s, None, "/v1/lots/JP-MAG-2025-0001/bundle");
    assert_eq!(status, 200);
    let printed = s.printed.lock().unwrap().join("\n");
    let pub_path: PathBuf = printed
        .split("key: ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("the demo names its key: {printed}"));
    let bundle_path = tmp.path().join("bundle.json");
    std::fs::write(&bundle_path, bundle.to_string()).unwrap();
    let out =
        lode(tmp.path(), &["verify-bundle", bundle_path.to_str().unwrap(), "--key", pub_path.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("vn-laichau-mine"));
    // The lineage picture and the EPCIS export, as the command makes them.
    let r = c.get(s.at("/v1/lots/JP-MAG-2025-0001/graph.svg")).send().unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let svg = r.text().unwrap();
    roxmltree::Document::parse(&svg).expect("the picture is well-formed XML");
    assert!(svg.contains("vn-laichau-mine"), "the picture names the mine");
    let r = c.get(s.at("/v1/export/epcis?lot=JP-MAG-2025-0001&ancestry=true")).send().unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/standards/epcis/EPCIS-JSON-Schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    assert!(validator.is_valid(&doc), "the served EPCIS document validates against the GS1 schema");
    assert!(!doc["epcisBody"]["eventList"].as_array().unwrap().is_empty());
    let (status, v) = get(&c, &s, None, "/v1/export/epcis?lot=NOPE");
    assert_eq!((status, v["code"].as_str().unwrap()), (404, "lot_not_found"));
    let (status, v) = get(&c, &s, None, "/v1/export/epcis?from=yesterday");
    assert_eq!((status, v["parameter"].as_str().unwrap()), (400, "from"));

    // The demo prints tokens to try writes with; a write with one of them works.
    let writer = printed
        .lines()
        .find(|l| l.trim_start().starts_with("han-river-materials"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .to_string();
    let body =
        ev(&uuid(5, 1), "lot.moved", "han-river-materials", json!({ "lot": "NOPE", "to_site": "kr-incheon-wh" }));
    let (status, v) = post(&c, &s, Some(&writer), body);
    assert_eq!((status, v["code"].as_str().unwrap()), (422, "lot_not_found"));
    // Stopped cleanly, the demo removes its temporary ledger.
    let demo_dir = printed
        .split("demo ledger (fictional companies) in ")
        .nth(1)
        .and_then(|r| r.split("; it goes").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("the demo names its directory: {printed}"));
    assert!(demo_dir.exists());
    let mut s = s;
    assert!(s.stop().success());
    assert!(!demo_dir.exists(), "the demo's temporary ledger is left behind");
}
