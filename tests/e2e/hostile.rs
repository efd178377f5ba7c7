//! Hostile input: malformed, hostile and rule-breaking events, each sent over HTTP to `lode serve`
//! and through `lode append` to a ledger with the same history. Each must get its documented
//! status and code, and leave the head exactly where it was.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{json, Value};

use crate::serve::{client, ev, extracted, get, head_hash, post, setup, setup_events, uuid, Tokens};
use crate::support::{code, json_line, lode, T};

/// One hostile input: its bytes, who sends it over HTTP, and what both edges must answer.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    /// The token's party over HTTP (the CLI has no authentication).
    token: Who,
    status: u16,
    code: &'static str,
    /// The code `lode append` stops with, when the CLI sees this input at all (`None`: an HTTP-only
    /// concern, such as a token or a body limit).
    cli: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum Who {
    Miner,
    Op,
    Auditor,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    let cli = match status {
        400 | 409 | 422 => Some(code),
        _ => None,
    };
    Case { name, body: body.into(), token: Who::Miner, status, code, cli }
}

/// A valid extraction of a fresh lot, as text to be mangled.
fn good(n: u64) -> String {
    extracted(&uuid(7, n), &format!("NEW-{n}"))
}

/// `good(n)` with `from` replaced by `to`, which must be there.
fn with(n: u64, from: &str, to: &str) -> String {
    let g = good(n);
    assert!(g.contains(from), "{from:?} not in {g}");
    g.replacen(from, to, 1)
}

fn data(n: u64, kind: &str, actor: &str, d: Value) -> String {
    ev(&uuid(7, n), kind, actor, d)
}

/// The history both ledgers hold before the cases: the setup's 4 events, then ORE-1 extracted by
/// the miner, shipped to nobody yet, and ORE-2 on hold.
fn history() -> Vec<String> {
    let mut h = setup_events();
    h.push(extracted(&uuid(6, 1), "ORE-1"));
    h.push(extracted(&uuid(6, 2), "ORE-2"));
    h.push(ev(&uuid(6, 3), "hold.placed", "aud", json!({ "lot": "ORE-2", "reason": "assay disputed" })));
    h
}

fn cases() -> Vec<Case> {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut c = vec![
        // Not JSON, or not an event.
        // `lode append` of nothing appends nothing and succeeds; a request must hold an event.
        Case { cli: None, ..case("empty body", "", 400, "malformed_json") },
        Case { cli: None, ..case("only white space", "  \n\t ", 400, "malformed_json") },
        case("truncated object", &good(1)[..40], 400, "malformed_json"),
        case("a JSON string", r#""lot.extracted""#, 400, "not_an_object"),
        case("a JSON number", "42", 400, "not_an_object"),
        case("JSON null", "null", 400, "not_an_object"),
        case("a byte order mark", [b"\xef\xbb\xbf".as_slice(), good(2).as_bytes()].concat(), 400, "malformed_json"),
        // Over HTTP a body is one request; `lode append` reads JSON lines and appends the complete
        // event before the garbage, as documented, so this one is the server's alone.
        Case { cli: None, ..case("trailing garbage", format!("{} xyz", good(3)), 400, "malformed_json") },
        case("an array holding a number", "[1]", 400, "not_an_object"),
        case("an empty object", "{}", 400, "missing_field"),
        // Invalid UTF-8 and control characters.
        case(
            "invalid UTF-8 in a value",
            [b"{\"type\":\"lot.extracted\",\"actor\":\"min\xffer\"}".as_slice()].concat(),
            400,
            "malformed_json",
        ),
        case(
            "invalid UTF-8 in a key",
            [b"{\"ty\xc3\x28pe\":\"lot.extracted\"}".as_slice()].concat(),
            400,
            "malformed_json",
        ),
        case(
            "an overlong UTF-8 encoding",
            [b"{\"type\":\"lot.extracted\",\"actor\":\"\xc0\xaf\"}".as_slice()].concat(),
            400,
            "malformed_json",
        ),
        case("a lone surrogate escape", with(4, "\"miner\"", "\"\\ud800\""), 400, "malformed_json"),
        case("a raw control character", with(5, "mine-1", "mine\u{1}-1"), 400, "malformed_json"),
        case("a NUL escape in a lot id", with(6, "NEW-6", "NEW\\u0000-6"), 400, "invalid_lot_id"),
        // Deep nesting.
        case(
            "nesting 40 deep",
            with(7, "\"mass_g\"", &format!("\"x\":{},\"mass_g\"", nested(40))),
            400,
            "nesting_too_deep",
        ),
        case(
            "nesting 1,000 deep",
            with(8, "\"mass_g\"", &format!("\"x\":{},\"mass_g\"", nested(1_000))),
            400,
            "nesting_too_deep",
        ),
        case(
            "nesting 30,000 deep",
            with(80, "\"mass_g\"", &format!("\"x\":{},\"mass_g\"", nested(30_000))),
            400,
            "nesting_too_deep",
        ),
        // Numbers.
        case("a mass of 10^30", with(9, "1000000", "1000000000000000000000000000000"), 400, "out_of_range"),
        case("a mass of u64::MAX + 1", with(10, "1000000", "18446744073709551616"), 400, "out_of_range"),
        case("a negative mass", with(11, "1000000", "-1000000"), 400, "out_of_range"),
        case("a zero mass", with(12, "1000000", "0"), 400, "out_of_range"),
        case("a mass over 10^12 g", with(13, "1000000", "1000000000001"), 400, "out_of_range"),
        case("a float mass", with(14, "1000000", "1000000.5"), 400, "not_an_integer"),
        case("a float with a zero fraction", with(15, "1000000", "1000000.0"), 400, "not_an_integer"),
        case("an exponent", with(16, "1000000", "1e6"), 400, "not_an_integer"),
        case("a mass as a string", with(17, "1000000", "\"1000000\""), 400, "wrong_type"),
        case("NaN", with(18, "1000000", "NaN"), 400, "malformed_json"),
        // Keys and fields.
        case(
            "a duplicate top-level key",
            with(19, "\"type\"", "\"type\":\"lot.moved\",\"type\""),
            400,
            "duplicate_key",
        ),
        case("a duplicate key in data", with(20, "\"mass_g\"", "\"mass_g\":5,\"mass_g\""), 400, "duplicate_key"),
        case("an unknown top-level field", with(21, "\"type\"", "\"admin\":true,\"type\""), 400, "unknown_field"),
        case("an unknown field in data", with(22, "\"mass_g\"", "\"weight_g\":1,\"mass_g\""), 400, "unknown_field"),
        case("an unknown field in material", with(23, "\"form\"", "\"purity\":\"5N\",\"form\""), 400, "unknown_field"),
        case(
            "a missing data",
            ev(&uuid(7, 24), "lot.extracted", "miner", json!(null)).replacen(",\"data\":null", "", 1),
            400,
            "missing_field",
        ),
        case("null data", ev(&uuid(7, 25), "lot.extracted", "miner", json!(null)), 400, "wrong_type"),
        case("the type as a number", with(26, "\"lot.extracted\"", "7"), 400, "wrong_type"),
        case("the actor as an array", with(27, "\"miner\"", "[\"miner\"]"), 400, "wrong_type"),
        case("an unknown type", with(28, "lot.extracted", "lot.exploded"), 400, "unknown_type"),
        case("an unknown material form", with(29, "\"ore\"", "\"plutonium\""), 400, "unknown_value"),
        // Identifiers.
        case("a path-like lot id", with(30, "NEW-30", "../../etc/passwd"), 400, "invalid_lot_id"),
        case("a lot id starting with a dot", with(31, "NEW-31", ".NEW-31"), 400, "invalid_lot_id"),
        case("an empty lot id", with(32, "NEW-32", ""), 400, "invalid_lot_id"),
        case("a 10,000-character lot id", with(33, "NEW-33", &"L".repeat(10_000)), 400, "invalid_lot_id"),
        case("a lot id with a right-to-left override", with(34, "NEW-34", "NEW\u{202e}34"), 400, "invalid_lot_id"),
        case("a lot id with white space", with(35, "NEW-35", "NEW 35"), 400, "invalid_lot_id"),
        case("a party id with a newline", with(36, "\"miner\"", "\"mi\\nner\""), 400, "invalid_party_id"),
        case("a site id with a query string", with(37, "mine-1", "mine-1?x=1"), 400, "invalid_site_id"),
        case("an id that is not a UUID", with(38, &uuid(7, 38), "not-a-uuid"), 400, "invalid_uuid"),
        case("the nil UUID", with(39, &uuid(7, 39), "00000000-0000-0000-0000-000000000000"), 400, "invalid_uuid"),
        // Times.
        case("a date without an offset", with(40, T, "2024-03-02T08:00:00"), 400, "invalid_timestamp"),
        case("month 13", with(41, T, "2024-13-02T08:00:00Z"), 400, "invalid_timestamp"),
        case("year 10000", with(42, T, "10000-03-02T08:00:00Z"), 400, "invalid_timestamp"),
        case("an event a year in the future", with(43, T, "2099-03-02T08:00:00Z"), 422, "occurred_in_future"),
        // Signatures.
        case(
            "a signature that is not base64",
            with(44, "\"type\"", "\"signature\":\"!!!\",\"type\""),
            400,
            "invalid_base64",
        ),
        case(
            "a signature by a party without a key",
            with(45, "\"type\"", &format!("\"signature\":\"{}\",\"type\"", "A".repeat(86) + "==")),
            422,
            "signature_unverifiable",
        ),
        // Replays and conflicts.
        case("an id reused with other content", extracted(&uuid(6, 1), "ORE-1-AGAIN"), 409, "id_conflict"),
        case(
            "a wrong expected version",
            with(46, "\"data\"", "\"expected\":{\"ORE-1\":7},\"data\""),
            409,
            "version_conflict",
        ),
        case("a lot id already used", extracted(&uuid(7, 47), "ORE-1"), 422, "lot_exists"),
        // Custody rules broken.
        case("extraction at a site that is not the actor's", with(48, "mine-1", "mine-2"), 422, "site_not_found"),
        case(
            "consuming more than the lot holds",
            data(49, "lot.consumed", "miner", json!({"lot": "ORE-1", "mass_g": 2_000_000, "reason": "destroyed"})),
            422,
            "insufficient_mass",
        ),
        case(
            "moving a lot on hold",
            data(50, "lot.moved", "miner", json!({"lot": "ORE-2", "to_site": "mine-1"})),
            422,
            "lot_on_hold",
        ),
        case(
            "an unbalanced transformation",
            data(
                51,
                "lot.transformed",
                "miner",
                json!({"process": "split", "site": "mine-1", "inputs": [{"lot": "ORE-1", "mass_g": 1000}], "outputs": [{"lot": "ORE-1-A", "material": {"form": "ore"}, "mass_g": 999}]}),
            ),
            400,
            "mass_unbalanced",
        ),
        case(
            "receiving a shipment that does not exist",
            data(
                52,
                "custody.received",
                "miner",
                json!({"shipment": "SHP-NONE", "lots": [{"lot": "ORE-1", "mass_g": 1}]}),
            ),
            422,
            "shipment_not_found",
        ),
        case(
            "correcting an event that is not there",
            data(53, "event.corrected", "miner", json!({"event": uuid(9, 9), "reason": "did_not_occur"})),
            422,
            "event_not_found",
        ),
        // Oversized.
        case(
            "an event over 64 KiB",
            with(54, "\"mass_g\"", &format!("\"permit\":\"{}\",\"mass_g\"", "p".repeat(70_000))),
            400,
            "event_too_large",
        ),
    ];
    // Over HTTP only: who may send what, and the body limits.
    let http =
        |name, body: String, token, status, code| Case { name, body: body.into(), token, status, code, cli: None };
    c.push(http("a spoofed actor", with(55, "\"miner\"", "\"op\""), Who::Miner, 403, "actor_mismatch"));
    c.push(http("an operator posing as the miner", good(56), Who::Op, 403, "actor_mismatch"));
    c.push(http(
        "a writer registering a party",
        data(57, "party.registered", "miner", json!({"party": "x", "name": "X", "roles": ["miner"], "country": "VN"})),
        Who::Miner,
        403,
        "role_forbidden",
    ));
    c.push(http(
        "an auditor extracting a lot",
        extracted(&uuid(7, 58), "NEW-58").replace("\"miner\"", "\"aud\""),
        Who::Auditor,
        403,
        "role_forbidden",
    ));
    c.push(http(
        "a body over --body-bytes-max",
        format!("[{}]", vec![good(59); 1_000].join(",")),
        Who::Miner,
        413,
        "body_too_large",
    ));
    c.push(http(
        "more events than --request-events-max",
        format!("[{}]", (60..72).map(good).collect::<Vec<_>>().join(",")),
        Who::Miner,
        413,
        "too_many_events",
    ));
    c
}

fn token_of(t: &Tokens, who: Who) -> &str {
    match who {
        Who::Miner => &t.miner,
        Who::Op => &t.op,
        Who::Auditor => &t.auditor,
    }
}

/// The head hash of a ledger not being served, from `lode checkpoint`-free means: its last record.
fn cli_head(dir: &Path) -> String {
    let out = lode(dir, &["verify"], b"");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_line(&out);
    v["head"].as_str().unwrap_or_else(|| panic!("verify names the head: {v}")).to_string()
}

#[test]
fn hostile_inputs_get_their_documented_error_and_leave_the_head_unchanged() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let tmp = tempfile::tempdir().unwrap();

    // Over HTTP.
    let dir = tmp.path().join("served");
    let (s, t) = setup(&dir, &["--body-bytes-max", "131072", "--request-events-max", "10"]);
    let c = client();
    let rest: Vec<String> = history().into_iter().skip(4).collect();
    let (status, v) = post(&c, &s, Some(&t.miner), format!("[{},{}]", rest[0], rest[1]));
    assert_eq!(status, 201, "{v}");
    let (status, v) = post(&c, &s, Some(&t.auditor), rest[2].clone());
    assert_eq!(status, 201, "{v}");
    let before = head_hash(&c, &s);
    let mut failures = Vec::new();
    for k in &cases {
        let (status, v) = post(&c, &s, Some(token_of(&t, k.token)), k.body.clone());
        if (status, v["code"].as_str()) != (k.status, Some(k.code)) {
            failures.push(format!("HTTP {}: expected {} {}, got {status} {v}", k.name, k.status, k.code));
        }
        if head_hash(&c, &s) != before {
            panic!("HTTP {}: the head moved ({status} {v})", k.name);
        }
    }

    // Through `lode append`, to a ledger with the same history.
    let cli_dir = tmp.path().join("cli");
    let out = lode(&cli_dir, &["append"], history().join("\n").as_bytes());
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let cli_before = cli_head(&cli_dir);
    let mut cli_cases = 0;
    for k in cases.iter().filter(|k| k.cli.is_some()) {
        cli_cases += 1;
        let out = lode(&cli_dir, &["append"], &k.body);
        let want = k.cli.unwrap();
        let got = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["rejected"]["code"].as_str().map(String::from));
        if code(&out) != 1 || got.as_deref() != Some(want) {
            failures.push(format!(
                "CLI {}: expected exit 1 and {want}, got exit {} and {got:?}: {}",
                k.name,
                code(&out),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        assert_eq!(cli_head(&cli_dir), cli_before, "CLI {}: the head moved", k.name);
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("hostile inputs: {} over HTTP, {cli_cases} through lode append, heads unchanged", cases.len());
}

/// A body sent slower than the request timeout is cut off with 408, and the server goes on.
#[test]
fn a_slow_body_times_out_and_a_flood_of_subscribers_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("served");
    let (s, t) = setup(&dir, &["--request-timeout-ms", "1000", "--subscribers-max", "4"]);
    let c = client();
    let before = head_hash(&c, &s);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = good(1);
    write!(
        conn,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        t.miner,
        body.len()
    )
    .unwrap();
    conn.write_all(&body.as_bytes()[..10]).unwrap();
    // Trickle nothing more: the server must answer 408 once the limit passes.
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    assert_eq!(head_hash(&c, &s), before);

    // A flood of subscribers: the first 4 stream, the rest are refused, and the server still answers.
    let stream_client = Client::builder().timeout(None).build().unwrap();
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..50 {
        let r = stream_client.get(s.at("/v1/subscribe")).bearer_auth(&t.auditor).send().unwrap();
        match r.status().as_u16() {
            200 => open.push(r),
            503 => refused += 1,
            other => panic!("a subscription answered {other}"),
        }
    }
    assert_eq!((open.len(), refused), (4, 46));
    assert_eq!(get(&c, &s, Some(&t.auditor), "/healthz").0, 200);
    let (status, v) = post(&c, &s, Some(&t.miner), good(2));
    assert_eq!(status, 201, "{v}");
    drop(open);
}
