//! The canonical form (RFC 8785) the ledger stores and signatures cover.

use lode_domain::{parse_event, parse_record, Envelope};
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

fn parse(text: &str) -> Envelope {
    parse_event(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("canonical json is utf-8")
}

#[test]
fn canonical_form_is_jcs_with_lowercase_uuids() {
    let envelope = parse(
        r#"{
        "data": {"site": "vn-mine-1", "mass_g": 5000, "lot": "\u004c-2",
                 "material": {"hs_code": "253090", "form": "ore"}},
        "type": "lot.extracted",
        "id": "0193A1F2-7C3E-7B8A-9D2E-4F5A6B7C8D9E",
        "actor": "vn-mine-co",
        "occurred_at": "2024-03-02T15:00:00.5+07:00",
        "expected": {"L-2": -0, "A": 3}
    }"#,
    );
    assert_eq!(
        text(envelope.canonical_json()),
        r#"{"actor":"vn-mine-co","data":{"lot":"L-2","mass_g":5000,"material":{"form":"ore","hs_code":"253090"},"site":"vn-mine-1"},"expected":{"A":3,"L-2":0},"id":"0193a1f2-7c3e-7b8a-9d2e-4f5a6b7c8d9e","occurred_at":"2024-03-02T15:00:00.5+07:00","type":"lot.extracted"}"#
    );
}

#[test]
fn strings_are_escaped_minimally() {
    let envelope = parse(
        r#"{"type":"custody.rejected","actor":"vn-refiner","occurred_at":"2024-03-02T08:00:00Z",
            "data":{"shipment":"S","reason":"\u00e9t\u00e9 \/ \"wet\"\t\u001f \ud83d\ude00"}}"#,
    );
    assert_eq!(
        text(envelope.canonical_json()),
        "{\"actor\":\"vn-refiner\",\"data\":{\"reason\":\"été / \\\"wet\\\"\\t\\u001f 😀\",\"shipment\":\"S\"},\"occurred_at\":\"2024-03-02T08:00:00Z\",\"type\":\"custody.rejected\"}"
    );
}

#[test]
fn identical_content_gives_identical_bytes() {
    let a = parse(
        r#"{"type":"lot.adjusted","actor":"vn-mine-co","occurred_at":"2024-03-02T08:00:00Z","id":"0193a1f2-7c3e-7b8a-9d2e-4f5a6b7c8d9e","data":{"lot":"L","delta_g":-5,"reason":"recount"}}"#,
    );
    let b = parse(
        "{ \"data\" : { \"reason\" : \"re\\u0063ount\" , \"delta_g\" : -5 , \"lot\" : \"\\u004c\" } ,\r\n\t\"occurred_at\":\"2024-03-02T08:00:00Z\", \"actor\":\"vn-mine-co\", \"id\": \"0193A1F2-7C3E-7B8A-9D2E-4F5A6B7C8D9E\", \"type\": \"lot.adjusted\" }",
    );
    assert_eq!(a, b);
    assert_eq!(a.canonical_json(), b.canonical_json());
}

#[test]
fn optional_members_are_kept_exactly_as_given() {
    // A signer computes JCS over what it submits: fields given with default values stay.
    let given = merge(
        transform(REFINER, "repack", REFINERY, &[(ORE, 5)], &[("R", ore(), 5)]),
        json!({"data": {"additions_g": 0, "loss_g": 0}, "expected": {}}),
    );
    let canonical = text(parse(&given.to_string()).canonical_json());
    assert!(canonical.contains("\"additions_g\":0") && canonical.contains("\"loss_g\":0"), "{canonical}");
    assert!(canonical.contains("\"expected\":{}"), "{canonical}");
    let omitted = transform(REFINER, "repack", REFINERY, &[(ORE, 5)], &[("R", ore(), 5)]);
    let canonical = text(parse(&omitted.to_string()).canonical_json());
    assert!(!canonical.contains("additions_g") && !canonical.contains("expected"), "{canonical}");
}

#[test]
fn canonical_form_round_trips_for_every_type() {
    let mut ledger = Ledger::new();
    let events = plus(
        ore_at_refinery(),
        [
            merge(site(OP, "vn-port-1", REFINER, "port", "VN"), json!({"data": {"lat": "20.86", "lon": "106.68"}})),
            merge(party(OP, "signer", &["trader"], "VN"), json!({"data": {"public_key": public_key_b64(4)}})),
            with_id(assay(LAB, ORE, LAB), Uuid::from_u128(0xa55a)),
            merge(
                transform(REFINER, "separation", REFINERY, &[(ORE, 1000)], &[("OX", oxide(&["Nd", "Pr"]), 900)]),
                json!({"data": {"loss_g": 100}}),
            ),
            merge(
                ship(REFINER, "SHP-2", &["OX"], REFINERY, MAKER, PLANT),
                json!({"data": {"carrier": CARRIER, "documents": [{"kind": "invoice", "ref": "I", "digest": "ab".repeat(32)}]}}),
            ),
            merge(attach(REFINER, "shipment", "SHP-2"), json!({"data": {"issuer": "x", "digest": "cd".repeat(32)}})),
            reject(MAKER, "SHP-2"),
            moved(REFINER, ORE, REF_WH),
            consume(REFINER, "OX", 1),
            adjust(REFINER, "OX", -1),
            hold(OP, "lot", "OX", true),
            hold(OP, "lot", "OX", false),
            merge(correct(OP, Uuid::from_u128(0xa55a)), json!({"data": {"note": "typo"}})),
        ],
    );
    for event in &events {
        ledger.must(event);
    }
    let mut types = std::collections::BTreeSet::new();
    for (envelope, _) in &ledger.accepted {
        types.insert(envelope.type_name());
        let canonical = envelope.canonical_json();
        let again = parse_record(&canonical).unwrap_or_else(|e| panic!("{e}: {}", text(canonical.clone())));
        assert_eq!(&again, envelope);
        assert_eq!(again.canonical_json(), canonical);
        // The canonical form is JSON any reader accepts, with the same content.
        let value: serde_json::Value = serde_json::from_slice(&canonical).expect("json");
        assert_eq!(value["type"], envelope.type_name());
    }
    assert_eq!(types.len(), lode_domain::EVENT_TYPES.len(), "every type is exercised: {types:?}");
}

#[test]
fn signing_bytes_are_the_canonical_form_without_signature() {
    let event = signed(with_id(extract("L-2", 5), WHEN_ID), &key(1));
    let envelope = parse(&event.to_string());
    let canonical = text(envelope.canonical_json());
    let signing = text(envelope.signing_bytes());
    assert!(canonical.contains("\"signature\":\""));
    assert!(!signing.contains("signature"));
    let mut without: serde_json::Value = serde_json::from_str(&canonical).expect("json");
    without.as_object_mut().expect("object").remove("signature");
    assert_eq!(parse(&without.to_string()).canonical_json(), envelope.signing_bytes());
    // Exactly one member fewer, nothing else changed.
    assert_eq!(signing, text(parse(&without.to_string()).canonical_json()));
}

#[test]
fn the_assigned_id_is_part_of_the_canonical_form() {
    let mut envelope = parse(&extract("L-2", 5).to_string());
    assert!(envelope.id().is_none());
    assert!(!text(envelope.canonical_json()).contains("\"id\""));
    envelope.set_id(Uuid::from_u128(0xABC));
    assert!(text(envelope.canonical_json()).contains("\"id\":\"00000000-0000-0000-0000-000000000abc\""));
}
