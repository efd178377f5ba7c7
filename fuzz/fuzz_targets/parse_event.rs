//! Arbitrary bytes as a submitted event.
//!
//! - `parse_event` never panics.
//! - When it parses, its canonical form parses again to the same envelope and the same bytes; so
//!   do the signing bytes (the canonical form without `signature`); with an id, the canonical form
//!   is a stored record that `parse_record` accepts.
//! - The rules decide it against the demo's state without panicking; when they accept it, its
//!   effects keep the invariants of `lode_fuzz::check_invariants`. Replaying it without the rules
//!   (as a rebuild or a bundle's verification does) never panics either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lode_domain::{apply, decide, parse_event, parse_record, replay, Context};
use uuid::Uuid;

/// The id of an event that has none, as the ledger would assign one.
const ASSIGNED: Uuid = Uuid::from_u128(0x0193_a1f2_7c3e_7b8a_9d2e_4f5a_6b7c_8d9e);

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = parse_event(data) else {
        return;
    };

    let canonical = envelope.canonical_json();
    let again = parse_event(&canonical).expect("the canonical form of a parsed event parses");
    assert_eq!(again, envelope, "the canonical form parses to another envelope");
    assert_eq!(again.canonical_json(), canonical, "the canonical form is not a fixed point");

    let signing = envelope.signing_bytes();
    let unsigned = parse_event(&signing).expect("the signing bytes of a parsed event parse");
    assert_eq!(unsigned.signing_bytes(), signing);
    assert!(unsigned.signature().is_none());

    let mut stored = envelope.clone();
    if stored.id().is_none() {
        stored.set_id(ASSIGNED);
    }
    let record = stored.canonical_json();
    let read = parse_record(&record).expect("the canonical form with an id is a valid stored record");
    assert_eq!(read, stored);

    let (state, views, position) = lode_fuzz::demo_state();
    let ctx = Context {
        event_id: stored.id().expect("given an id above"),
        seq: position + 1,
        recorded_at: lode_fuzz::recorded_at(position + 1),
    };
    let (mut after, mut after_views) = (state.clone(), views.clone());
    match decide(state, &stored, &ctx) {
        Ok(accepted) => {
            apply(&mut after, &stored, &accepted, &ctx);
            after_views.apply(&after, &stored, &accepted, &ctx);
            lode_fuzz::check_invariants(&after, &after_views);
        }
        Err(rejection) => {
            assert!(!rejection.code().is_empty());
            // What a rebuild does with a record it trusts: no rules, and it must not panic.
            let accepted = replay(&mut after, &stored, &ctx);
            after_views.apply(&after, &stored, &accepted, &ctx);
        }
    }
});
