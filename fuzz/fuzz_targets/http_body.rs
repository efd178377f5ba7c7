//! Arbitrary bytes as the body of `POST /v1/events`, through `lode_server::events_from_body`,
//! the function the append handler reads its body with.
//!
//! - It never panics.
//! - A refusal is a problem with status 400 (the body or an event does not parse, with the
//!   vocabulary's parse code and the event's index) or 413 (too many events), and its document
//!   serialises.
//! - What it accepts is at least one and at most `request_events_max` events, each stored in its
//!   canonical form, which parses again to the same event under the same id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lode_domain::{parse_event, ParseError};
use lode_server::{events_from_body, Limits};

/// Fewer than the server's default, so that the fuzzer reaches the limit's refusal.
const REQUEST_EVENTS_MAX: usize = 16;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { request_events_max: REQUEST_EVENTS_MAX, ..Limits::default() };
    match events_from_body(data, &limits) {
        Ok(events) => {
            assert!(!events.is_empty() && events.len() <= REQUEST_EVENTS_MAX, "{} events accepted", events.len());
            for ev in events {
                let again = parse_event(&ev.event).expect("an accepted event's stored form parses");
                assert_eq!(again.canonical_json(), ev.event, "an event is not stored in its canonical form");
                assert_eq!(again.id(), Some(ev.id), "an event is stored under another id than its own");
                assert_eq!(again, ev.payload);
            }
        }
        Err(problem) => {
            let status = problem.status.as_u16();
            assert!(status == 400 || status == 413, "status {status} for a body: {problem:?}");
            let server_codes = ["malformed_json", "empty_request", "too_many_events"];
            assert!(
                server_codes.contains(&problem.code.as_str()) || ParseError::CODES.contains(&problem.code.as_str()),
                "an undocumented code: {problem:?}"
            );
            let document = problem.body();
            assert_eq!(document["status"], status);
        }
    }
});
