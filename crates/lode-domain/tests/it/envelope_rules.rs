//! Rules that hold for every event: the first event of a ledger, the actor, holds on parties,
//! signatures, time, event ids, expected versions and the version rule.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::*;

const ID_A: Uuid = Uuid::from_u128(0xa);
const ID_B: Uuid = Uuid::from_u128(0xb);

fn at(event: Value, occurred_at: &str) -> Value {
    merge(event, json!({"occurred_at": occurred_at}))
}

fn expecting(event: Value, expected: Value) -> Value {
    merge(event, json!({"expected": expected}))
}

/// A party `signer` with the public key of seed 1 and a mine of its own.
fn signer_world() -> Vec<Value> {
    plus(
        world(),
        [
            merge(party(OP, "signer", &["miner"], "VN"), json!({"data": {"public_key": public_key_b64(1)}})),
            site(OP, "signer-mine", "signer", "mine", "VN"),
        ],
    )
}

fn signer_extract() -> Value {
    with_id(
        ev("lot.extracted", "signer", json!({"lot": "S-1", "site": "signer-mine", "material": ore(), "mass_g": 10})),
        WHEN_ID,
    )
}

fn keyed_bootstrap() -> Value {
    merge(bootstrap(), json!({"data": {"public_key": public_key_b64(1)}}))
}

pub fn cases() -> Vec<Case> {
    vec![
        // The first event of a ledger.
        case("an operator registers itself first").when(bootstrap()).accepts_lots(&[]),
        case("an operator registers itself with a key, unsigned").when(keyed_bootstrap()).accepts(),
        case("an operator registers itself signed with the key it registers")
            .when(signed(with_id(keyed_bootstrap(), WHEN_ID), &key(1)))
            .accepts(),
        case("an operator registers itself signed with another key")
            .when(signed(with_id(keyed_bootstrap(), WHEN_ID), &key(2)))
            .rejects("signature_invalid"),
        case("first event is not a registration").when(site(OP, MINE, OP, "mine", "VN")).rejects("bootstrap_required"),
        case("first event registers another party")
            .when(party(OP, MINER, &["operator"], "VN"))
            .rejects("bootstrap_required"),
        case("first party is not an operator")
            .when(party(OP, OP, &["auditor", "lab"], "CH"))
            .rejects("bootstrap_required"),
        // The actor.
        case("actor not registered")
            .given(world())
            .when(ev("lot.moved", "ghost", json!({"lot": ORE, "to_site": MINE})))
            .rejects("actor_not_found"),
        case("a party cannot register itself after the first event")
            .given(world())
            .when(party("newco", "newco", &["operator"], "VN"))
            .rejects("actor_not_found"),
        case("a held party cannot record events")
            .given(plus(world(), [hold(OP, "party", MINER, true)]))
            .when(extract("L-2", 1))
            .rejects("party_on_hold"),
        case("a released party records again")
            .given(plus(world(), [hold(OP, "party", MINER, true), hold(AUDITOR, "party", MINER, false)]))
            .when(extract("L-2", 1))
            .accepts(),
        case("a held operator cannot release its own hold")
            .given(plus(world(), [hold(AUDITOR, "party", OP, true)]))
            .when(hold(OP, "party", OP, false))
            .rejects("party_on_hold"),
        // Signatures.
        case("a key holder signs").given(signer_world()).when(signed(signer_extract(), &key(1))).accepts_lots(&["S-1"]),
        case("a key holder does not sign").given(signer_world()).when(signer_extract()).rejects("signature_required"),
        case("a key holder signs with another key")
            .given(signer_world())
            .when(signed(signer_extract(), &key(2)))
            .rejects("signature_invalid"),
        case("signed content changed afterwards")
            .given(signer_world())
            .when(merge(signed(signer_extract(), &key(1)), json!({"data": {"mass_g": 11}})))
            .rejects("signature_invalid"),
        case("signature carried over to another id")
            .given(signer_world())
            .when(merge(signed(signer_extract(), &key(1)), json!({"id": ID_A.to_string()})))
            .rejects("signature_invalid"),
        case("an operator with a key must sign its next event")
            .given([keyed_bootstrap()])
            .when(party(OP, MINER, &["miner"], "VN"))
            .rejects("signature_required"),
        case("an operator with a key signs its next event")
            .given([keyed_bootstrap()])
            .when(signed(with_id(party(OP, MINER, &["miner"], "VN"), WHEN_ID), &key(1)))
            .accepts(),
        case("a party without a key signs")
            .given(world())
            .when(signed(with_id(extract("L-2", 1), WHEN_ID), &key(1)))
            .rejects("signature_unverifiable"),
        // Time.
        case("occurred exactly 5 minutes after recording")
            .given(world())
            .when(at(extract("L-2", 1), "2024-03-02T12:05:00Z"))
            .accepts(),
        case("occurred a nanosecond more than 5 minutes after recording")
            .given(world())
            .when(at(extract("L-2", 1), "2024-03-02T12:05:00.000000001Z"))
            .rejects("occurred_in_future"),
        case("future time written with an offset")
            .given(world())
            .when(at(extract("L-2", 1), "2024-03-02T19:06:00+07:00"))
            .rejects("occurred_in_future"),
        case("past time written with an offset")
            .given(world())
            .when(at(extract("L-2", 1), "2024-03-02T19:04:00+07:00"))
            .accepts(),
        case("occurred long ago").given(world()).when(at(extract("L-2", 1), "1999-01-01T00:00:00Z")).accepts(),
        // Event ids.
        case("event id already in the ledger")
            .given(plus(world(), [with_id(extract("L-2", 1), ID_A)]))
            .when(with_id(extract("L-3", 1), ID_A))
            .rejects("event_id_exists"),
        case("envelope id differs from the id decided under")
            .given(world())
            .when(with_id(extract("L-2", 1), ID_A))
            .context_id(ID_B)
            .rejects("event_id_mismatch"),
        case("envelope without id decided under an assigned id")
            .given(world())
            .when(extract("L-2", 1))
            .context_id(ID_B)
            .accepts(),
        // Expected versions.
        case("expected version matches")
            .given(world())
            .when(expecting(moved(MINER, ORE, MINE_WH), json!({ORE: 1})))
            .accepts_lots(&[ORE]),
        case("expected version is stale")
            .given(world())
            .when(expecting(moved(MINER, ORE, MINE_WH), json!({ORE: 0})))
            .rejects("version_conflict"),
        case("expected version is ahead")
            .given(world())
            .when(expecting(moved(MINER, ORE, MINE_WH), json!({ORE: 2})))
            .rejects("version_conflict"),
        case("expected 0 for a lot that does not exist yet")
            .given(world())
            .when(expecting(extract("L-2", 1), json!({"L-2": 0})))
            .accepts(),
        case("expected 1 for a lot that does not exist")
            .given(world())
            .when(expecting(extract("L-2", 1), json!({"L-2": 1})))
            .rejects("version_conflict"),
        case("expected may name a lot the event does not touch")
            .given(world())
            .when(expecting(extract("L-2", 1), json!({ORE: 1, "L-2": 0})))
            .accepts_lots(&["L-2"]),
        case("expected may name a lot the event does not touch, and must match")
            .given(world())
            .when(expecting(extract("L-2", 1), json!({ORE: 3})))
            .rejects("version_conflict"),
        // The version rule: extracted 1, shipped 2, received 3, moved 4.
        case("version counts every event that named the lot")
            .given(plus(ore_at_refinery(), [moved(REFINER, ORE, REF_WH)]))
            .when(expecting(moved(REFINER, ORE, REFINERY), json!({ORE: 4})))
            .accepts(),
        case("hold, document and assay count; party holds and shipment documents do not")
            .given(plus(
                world(),
                [
                    hold(OP, "lot", ORE, true),
                    hold(OP, "lot", ORE, false),
                    attach(MINER, "lot", ORE),
                    assay(MINER, ORE, LAB),
                    hold(OP, "party", REFINER, true),
                    ship(MINER, "SHP-1", &[ORE], MINE, MAKER, PLANT),
                    attach(MINER, "shipment", "SHP-1"),
                ],
            ))
            .when(expecting(receive(MAKER, "SHP-1", &[(ORE, ORE_G)]), json!({ORE: 6})))
            .accepts_lots(&[ORE]),
    ]
}

#[test]
fn envelope_table() {
    run(&cases());
}
