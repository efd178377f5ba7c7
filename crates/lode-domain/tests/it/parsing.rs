//! Strict parsing: every kind of malformed input, each with its code; and what must still pass.

use lode_domain::{parse_event, EVENT_BYTES_MAX};
use serde_json::{json, Value};

use crate::support::*;

fn bad(name: &str, event: Value, code: &'static str) -> Case {
    case(name).when(event).fails_parse(code)
}

fn bad_raw(name: &str, text: impl Into<Vec<u8>>, code: &'static str) -> Case {
    case(name).when_raw(text).fails_parse(code)
}

fn patched(event: Value, patch: Value) -> Value {
    merge(event, patch)
}

/// A balanced separation of 1000 g of ore into 900 g of oxide and 100 g of loss.
fn separation() -> Value {
    merge(
        transform(REFINER, "separation", REFINERY, &[(ORE, 1000)], &[("OX-1", oxide(&["Nd", "Pr"]), 900)]),
        json!({"data": {"loss_g": 100}}),
    )
}

fn shipped() -> Value {
    ship(MINER, "SHP-1", &[ORE], MINE, REFINER, REFINERY)
}

/// The same JSON text with `needle` replaced, for input that `serde_json::Value` cannot express.
fn text_with(event: &Value, needle: &str, replacement: &str) -> Vec<u8> {
    let text = serde_json::to_string(event).expect("serializes");
    assert!(text.contains(needle), "{needle} not in {text}");
    text.replacen(needle, replacement, 1).into_bytes()
}

pub fn cases() -> Vec<Case> {
    let ext = extract("VN-ORE-0002", 5000);
    let mut cases = vec![
        // Bytes and JSON.
        bad_raw(
            "over the size limit",
            {
                let mut text = serde_json::to_vec(&ext).expect("serializes");
                text.resize(EVENT_BYTES_MAX + 1, b' ');
                text
            },
            "event_too_large",
        ),
        bad_raw("control character in a lot id", text_with(&ext, "VN-ORE-0002", "VN-ORE-\\u0001"), "invalid_lot_id"),
        bad_raw("raw control character in a string", text_with(&ext, "VN-ORE-0002", "VN-ORE-\t"), "malformed_json"),
        bad_raw(
            "invalid utf-8 bytes",
            {
                let mut text = text_with(&ext, "VN-ORE-0002", "VN-ORE-@@");
                let at = text.iter().position(|&b| b == b'@').expect("marker");
                text[at] = 0xff;
                text
            },
            "invalid_utf8",
        ),
        bad_raw("empty input", "", "malformed_json"),
        bad_raw("trailing comma", text_with(&ext, "\"lot.extracted\"}", "\"lot.extracted\",}"), "malformed_json"),
        bad_raw(
            "two objects",
            [serde_json::to_vec(&ext).expect("serializes"), b" {}".to_vec()].concat(),
            "malformed_json",
        ),
        bad_raw("single quotes", "{'type': 'lot.extracted'}", "malformed_json"),
        bad_raw("unpaired surrogate", text_with(&ext, "\"ore\"", "\"\\ud800\""), "malformed_json"),
        bad_raw(
            "nesting too deep",
            text_with(&ext, "\"ore\"", &format!("{}1{}", "[".repeat(40), "]".repeat(40))),
            "nesting_too_deep",
        ),
        bad_raw("array instead of object", "[]", "not_an_object"),
        bad_raw("string instead of object", "\"lot.extracted\"", "not_an_object"),
        bad_raw("null instead of object", "null", "not_an_object"),
        // Duplicate keys, at every level.
        bad_raw(
            "duplicate key in the envelope",
            text_with(&ext, "\"actor\":", "\"actor\":\"x\",\"actor\":"),
            "duplicate_key",
        ),
        bad_raw("duplicate key in data", text_with(&ext, "\"mass_g\":", "\"mass_g\":1,\"mass_g\":"), "duplicate_key"),
        bad_raw(
            "duplicate key in a material",
            text_with(&ext, "\"form\":", "\"form\":\"ore\",\"form\":"),
            "duplicate_key",
        ),
        bad_raw(
            "duplicate key in an output",
            text_with(&separation(), "\"mass_g\":900", "\"mass_g\":900,\"mass_g\":900"),
            "duplicate_key",
        ),
        bad_raw(
            "duplicate key in expected",
            text_with(
                &patched(ext.clone(), json!({"expected": {"VN-ORE-0002": 0}})),
                "\"VN-ORE-0002\":0",
                "\"VN-ORE-0002\":0,\"VN-ORE-0002\":0",
            ),
            "duplicate_key",
        ),
        bad_raw(
            "duplicate key in oxides_ppm",
            text_with(&assay(MINER, ORE, LAB), "\"Nd2O3\":", "\"Nd2O3\":1,\"Nd2O3\":"),
            "duplicate_key",
        ),
        bad_raw(
            "duplicate key spelled with an escape",
            text_with(&ext, "\"mass_g\":", "\"mass_g\":1,\"mass\\u005fg\":"),
            "duplicate_key",
        ),
        // Unknown fields, at every level.
        bad("unknown envelope field", patched(ext.clone(), json!({"actr": MINER})), "unknown_field"),
        bad("unknown data field", patched(ext.clone(), json!({"data": {"mas_g": 1}})), "unknown_field"),
        bad(
            "unknown material field",
            patched(ext.clone(), json!({"data": {"material": {"purity": "x"}}})),
            "unknown_field",
        ),
        bad(
            "unknown input field",
            transform(REFINER, "separation", REFINERY, &[(ORE, 1)], &[("OX-1", ore(), 1)])
                .pointer_mut_set("/data/inputs/0/note", json!("x")),
            "unknown_field",
        ),
        bad("unknown output field", separation().pointer_mut_set("/data/outputs/0/grade", json!("x")), "unknown_field"),
        bad(
            "unknown document field",
            patched(shipped(), json!({"data": {"documents": [{"kind": "invoice", "ref": "I-1", "url": "x"}]}})),
            "unknown_field",
        ),
        bad(
            "unknown received lot field",
            receive(REFINER, "SHP-1", &[(ORE, 1)]).pointer_mut_set("/data/lots/0/tare_g", json!(1)),
            "unknown_field",
        ),
        bad("unknown field of another type", patched(ext.clone(), json!({"data": {"to_site": MINE}})), "unknown_field"),
        // Missing fields.
        bad("missing type", patched(ext.clone(), json!({"type": null})), "missing_field"),
        bad("missing actor", patched(ext.clone(), json!({"actor": null})), "missing_field"),
        bad("missing occurred_at", patched(ext.clone(), json!({"occurred_at": null})), "missing_field"),
        bad("missing data", patched(ext.clone(), json!({"data": null})), "missing_field"),
        bad("missing data field", patched(ext.clone(), json!({"data": {"mass_g": null}})), "missing_field"),
        bad(
            "missing material form",
            patched(ext.clone(), json!({"data": {"material": {"form": null}}})),
            "missing_field",
        ),
        bad("missing output material", separation().pointer_mut_remove("/data/outputs/0/material"), "missing_field"),
        bad(
            "missing document ref",
            patched(shipped(), json!({"data": {"documents": [{"kind": "invoice"}]}})),
            "missing_field",
        ),
        // Wrong JSON types, null included.
        bad("data is an array", patched(ext.clone(), json!({"data": [1]})), "wrong_type"),
        bad("mass_g is a string", patched(ext.clone(), json!({"data": {"mass_g": "5000"}})), "wrong_type"),
        bad("lots is an object", patched(shipped(), json!({"data": {"lots": {"a": 1}}})), "wrong_type"),
        bad("name is null", party(OP, "x", &["miner"], "VN").pointer_mut_set("/data/name", Value::Null), "wrong_type"),
        bad(
            "roles is a string",
            patched(party(OP, "x", &["miner"], "VN"), json!({"data": {"roles": "miner"}})),
            "wrong_type",
        ),
        bad("expected is an array", patched(ext.clone(), json!({"expected": []})), "wrong_type"),
        bad("type is a number", patched(ext.clone(), json!({"type": 1})), "wrong_type"),
        bad("mass_g is a boolean", patched(ext.clone(), json!({"data": {"mass_g": true}})), "wrong_type"),
        bad(
            "lat is a number",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lat": 1, "lon": "2"}})),
            "wrong_type",
        ),
        // Types and words.
        bad("unknown type", patched(ext.clone(), json!({"type": "custody.teleported"})), "unknown_type"),
        bad("type in the wrong case", patched(ext.clone(), json!({"type": "Lot.Extracted"})), "unknown_type"),
        bad("unknown role", party(OP, "x", &["miner", "smuggler"], "VN"), "unknown_value"),
        bad("unknown site kind", site(OP, "s", MINER, "quarry", "VN"), "unknown_value"),
        bad("unknown form", patched(ext.clone(), json!({"data": {"material": {"form": "powder"}}})), "unknown_value"),
        bad("unknown process", patched(separation(), json!({"data": {"process": "smelting"}})), "unknown_value"),
        bad(
            "unknown document kind",
            patched(attach(MINER, "lot", ORE), json!({"data": {"kind": "receipt"}})),
            "unknown_value",
        ),
        bad(
            "unknown consume reason",
            patched(consume(MINER, ORE, 1), json!({"data": {"reason": "stolen"}})),
            "unknown_value",
        ),
        bad(
            "unknown correction reason",
            patched(correct(OP, WHEN_ID), json!({"data": {"reason": "oops"}})),
            "unknown_value",
        ),
        // Identifiers.
        bad("actor in upper case", patched(ext.clone(), json!({"actor": "VN-Mine"})), "invalid_party_id"),
        bad(
            "to_party with a space",
            patched(shipped(), json!({"data": {"to_party": "vn refiner"}})),
            "invalid_party_id",
        ),
        bad("empty lab", patched(assay(MINER, ORE, LAB), json!({"data": {"lab": ""}})), "invalid_party_id"),
        bad("party id too long", party(OP, &"p".repeat(65), &["miner"], "VN"), "invalid_party_id"),
        bad("site with a space", patched(ext.clone(), json!({"data": {"site": "mine 1"}})), "invalid_site_id"),
        bad("to_site with a colon", patched(shipped(), json!({"data": {"to_site": "a:b"}})), "invalid_site_id"),
        bad("moved to a site id in upper case", moved(MINER, ORE, "MINE-1"), "invalid_site_id"),
        bad(
            "moved with a weight",
            patched(moved(MINER, ORE, MINE_WH), json!({"data": {"mass_g": 5}})),
            "unknown_field",
        ),
        bad("lot starting with a dash", patched(ext.clone(), json!({"data": {"lot": "-LOT"}})), "invalid_lot_id"),
        bad("lot with a hash in a list", patched(shipped(), json!({"data": {"lots": ["A#1"]}})), "invalid_lot_id"),
        bad("lot id too long", patched(ext.clone(), json!({"data": {"lot": "L".repeat(129)}})), "invalid_lot_id"),
        bad("expected key not a lot id", patched(ext.clone(), json!({"expected": {"bad lot": 0}})), "invalid_lot_id"),
        bad("empty shipment", patched(shipped(), json!({"data": {"shipment": ""}})), "invalid_shipment_id"),
        bad("shipment with a space", reject(REFINER, "SHP 1"), "invalid_shipment_id"),
        // UUIDs.
        bad("id not a uuid", patched(ext.clone(), json!({"id": "not-a-uuid"})), "invalid_uuid"),
        bad(
            "id without hyphens",
            patched(ext.clone(), json!({"id": "0193a1f27c3e7b8a9d2e4f5a6b7c8d9e"})),
            "invalid_uuid",
        ),
        bad(
            "id in braces",
            patched(ext.clone(), json!({"id": "{0193a1f2-7c3e-7b8a-9d2e-4f5a6b7c8d9e}"})),
            "invalid_uuid",
        ),
        bad(
            "id as a urn",
            patched(ext.clone(), json!({"id": "urn:uuid:0193a1f2-7c3e-7b8a-9d2e-4f5a6b7c8d9e"})),
            "invalid_uuid",
        ),
        bad("nil id", patched(ext.clone(), json!({"id": "00000000-0000-0000-0000-000000000000"})), "invalid_uuid"),
        bad(
            "id with a non-hex letter",
            patched(ext.clone(), json!({"id": "0193a1f2-7c3e-7b8a-9d2e-4f5a6b7c8d9g"})),
            "invalid_uuid",
        ),
        bad(
            "corrected event not a uuid",
            patched(correct(OP, WHEN_ID), json!({"data": {"event": "42"}})),
            "invalid_uuid",
        ),
        // Timestamps.
        bad(
            "timestamp without offset",
            patched(ext.clone(), json!({"occurred_at": "2024-03-02T08:00:00"})),
            "invalid_timestamp",
        ),
        bad("date only", patched(ext.clone(), json!({"occurred_at": "2024-03-02"})), "invalid_timestamp"),
        bad(
            "space separator",
            patched(ext.clone(), json!({"occurred_at": "2024-03-02 08:00:00Z"})),
            "invalid_timestamp",
        ),
        bad("lower-case t", patched(ext.clone(), json!({"occurred_at": "2024-03-02t08:00:00Z"})), "invalid_timestamp"),
        bad(
            "offset without colon",
            patched(ext.clone(), json!({"occurred_at": "2024-03-02T08:00:00+0700"})),
            "invalid_timestamp",
        ),
        bad("no such day", patched(ext.clone(), json!({"occurred_at": "2024-02-30T08:00:00Z"})), "invalid_timestamp"),
        bad("hour 24", patched(ext.clone(), json!({"occurred_at": "2024-03-02T24:00:00Z"})), "invalid_timestamp"),
        bad(
            "ten fraction digits",
            patched(ext.clone(), json!({"occurred_at": "2024-03-02T08:00:00.0123456789Z"})),
            "invalid_timestamp",
        ),
        bad(
            "empty fraction",
            patched(ext.clone(), json!({"occurred_at": "2024-03-02T08:00:00.Z"})),
            "invalid_timestamp",
        ),
        bad("unix seconds", patched(ext.clone(), json!({"occurred_at": "1709366400"})), "invalid_timestamp"),
        // Numbers.
        bad_raw("mass with a fraction", text_with(&ext, "\"mass_g\":5000", "\"mass_g\":5000.0"), "not_an_integer"),
        bad_raw("mass with an exponent", text_with(&ext, "\"mass_g\":5000", "\"mass_g\":5e3"), "not_an_integer"),
        bad_raw("ppm with a fraction", text_with(&assay(MINER, ORE, LAB), "745000", "745000.5"), "not_an_integer"),
        bad_raw(
            "delta with a fraction",
            text_with(&adjust(MINER, ORE, -2), "\"delta_g\":-2", "\"delta_g\":-2.0"),
            "not_an_integer",
        ),
        bad_raw(
            "version with an exponent",
            text_with(&patched(ext.clone(), json!({"expected": {ORE: 1}})), "\":1}", "\":1E0}"),
            "not_an_integer",
        ),
        bad("mass 0", patched(ext.clone(), json!({"data": {"mass_g": 0}})), "out_of_range"),
        bad("negative mass", patched(ext.clone(), json!({"data": {"mass_g": -5}})), "out_of_range"),
        bad("mass over 10^12", patched(ext.clone(), json!({"data": {"mass_g": 1_000_000_000_001u64}})), "out_of_range"),
        bad_raw(
            "mass beyond any integer type",
            text_with(&ext, "\"mass_g\":5000", "\"mass_g\":123456789012345678901234567890123456789012345"),
            "out_of_range",
        ),
        bad(
            "ppm over 10^6",
            patched(assay(MINER, ORE, LAB), json!({"data": {"oxides_ppm": {"Nd2O3": 1_000_001}}})),
            "out_of_range",
        ),
        bad(
            "treo_ppm over 10^6",
            patched(assay(MINER, ORE, LAB), json!({"data": {"treo_ppm": 1_000_001}})),
            "out_of_range",
        ),
        bad("negative additions", patched(separation(), json!({"data": {"additions_g": -1}})), "out_of_range"),
        bad(
            "loss over 10^12",
            patched(separation(), json!({"data": {"loss_g": 1_000_000_000_001u64}})),
            "out_of_range",
        ),
        bad("negative expected version", patched(ext.clone(), json!({"expected": {ORE: -1}})), "out_of_range"),
        bad(
            "expected version over 2^53-1",
            patched(ext.clone(), json!({"expected": {ORE: 9_007_199_254_740_992u64}})),
            "out_of_range",
        ),
        bad("delta under -10^12", adjust(MINER, ORE, -1_000_000_000_001), "out_of_range"),
        bad("delta over 10^12", adjust(MINER, ORE, 1_000_000_000_001), "out_of_range"),
        bad("received mass 0", receive(REFINER, "SHP-1", &[(ORE, 0)]), "out_of_range"),
        bad("consumed mass 0", consume(MINER, ORE, 0), "out_of_range"),
        bad("input mass 0", transform(REFINER, "repack", REFINERY, &[(ORE, 0)], &[("R-1", ore(), 1)]), "out_of_range"),
        bad("delta 0", adjust(MINER, ORE, 0), "zero_delta"),
        // Naming strings.
        bad("empty name", patched(party(OP, "x", &["miner"], "VN"), json!({"data": {"name": ""}})), "empty_string"),
        bad(
            "blank name",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"name": " \t "}})),
            "empty_string",
        ),
        bad(
            "empty rejection reason",
            patched(reject(REFINER, "SHP-1"), json!({"data": {"reason": ""}})),
            "empty_string",
        ),
        bad("empty adjustment reason", patched(adjust(MINER, ORE, 1), json!({"data": {"reason": ""}})), "empty_string"),
        bad("empty hold reason", patched(hold(OP, "lot", ORE, true), json!({"data": {"reason": ""}})), "empty_string"),
        bad("empty document ref", patched(attach(MINER, "lot", ORE), json!({"data": {"ref": ""}})), "empty_string"),
        bad("empty issuer", patched(attach(MINER, "lot", ORE), json!({"data": {"issuer": " "}})), "empty_string"),
        bad("empty certificate", patched(assay(MINER, ORE, LAB), json!({"data": {"certificate": ""}})), "empty_string"),
        bad("empty permit", patched(ext.clone(), json!({"data": {"permit": ""}})), "empty_string"),
        bad("empty note", patched(correct(OP, WHEN_ID), json!({"data": {"note": ""}})), "empty_string"),
        bad("empty grade", patched(ext.clone(), json!({"data": {"material": {"grade": ""}}})), "empty_string"),
        bad("empty hs_code", patched(ext.clone(), json!({"data": {"material": {"hs_code": ""}}})), "empty_string"),
        bad(
            "empty shipping document ref",
            patched(shipped(), json!({"data": {"documents": [{"kind": "invoice", "ref": ""}]}})),
            "empty_string",
        ),
        // Lists.
        bad("no roles", party(OP, "x", &[], "VN"), "empty_list"),
        bad("no lots shipped", ship(MINER, "SHP-1", &[], MINE, REFINER, REFINERY), "empty_list"),
        bad("no lots received", receive(REFINER, "SHP-1", &[]), "empty_list"),
        bad("no inputs", transform(REFINER, "other", REFINERY, &[], &[("X", ore(), 1)]), "empty_list"),
        bad(
            "no outputs",
            transform(REFINER, "other", REFINERY, &[(ORE, 1)], &[]).pointer_mut_set("/data/loss_g", json!(1)),
            "empty_list",
        ),
        bad("no oxides", assay(MINER, ORE, LAB).pointer_mut_set("/data/oxides_ppm", json!({})), "empty_list"),
        bad("no elements", patched(ext.clone(), json!({"data": {"material": {"elements": []}}})), "empty_list"),
        bad(
            "lot twice in a shipment",
            ship(MINER, "SHP-1", &[ORE, "B", ORE], MINE, REFINER, REFINERY),
            "duplicate_lot",
        ),
        bad("lot twice in a receipt", receive(REFINER, "SHP-1", &[(ORE, 1), (ORE, 2)]), "duplicate_lot"),
        bad(
            "lot twice in inputs",
            transform(REFINER, "blend", REFINERY, &[(ORE, 1), (ORE, 1)], &[("X", ore(), 2)]),
            "duplicate_lot",
        ),
        bad(
            "lot twice in outputs",
            transform(REFINER, "split", REFINERY, &[(ORE, 2)], &[("X", ore(), 1), ("X", ore(), 1)]),
            "duplicate_lot",
        ),
        bad(
            "output that is an input",
            transform(REFINER, "repack", REFINERY, &[(ORE, 2)], &[(ORE, ore(), 2)]),
            "duplicate_lot",
        ),
        bad("role twice", party(OP, "x", &["miner", "lab", "miner"], "VN"), "duplicate_value"),
        bad(
            "element twice",
            patched(ext.clone(), json!({"data": {"material": {"elements": ["Nd", "Pr", "Nd"]}}})),
            "duplicate_value",
        ),
        // Countries, elements, formulas, digests, coordinates.
        bad("user-assigned country", party(OP, "x", &["miner"], "XK"), "invalid_country"),
        bad("reserved country", site(OP, "s", MINER, "mine", "EU"), "invalid_country"),
        bad("lower-case country", party(OP, "x", &["miner"], "vn"), "invalid_country"),
        bad("three-letter country", party(OP, "x", &["miner"], "VNM"), "invalid_country"),
        bad("withdrawn country", party(OP, "x", &["miner"], "AN"), "invalid_country"),
        bad(
            "iron is not a rare earth",
            patched(ext.clone(), json!({"data": {"material": {"elements": ["Fe"]}}})),
            "invalid_element",
        ),
        bad(
            "element in lower case",
            patched(ext.clone(), json!({"data": {"material": {"elements": ["nd"]}}})),
            "invalid_element",
        ),
        bad(
            "oxide without elements",
            patched(ext.clone(), json!({"data": {"material": {"form": "oxide"}}})),
            "elements_required",
        ),
        bad(
            "metal without elements",
            patched(ext.clone(), json!({"data": {"material": {"form": "metal"}}})),
            "elements_required",
        ),
        bad(
            "alloy without elements",
            patched(ext.clone(), json!({"data": {"material": {"form": "alloy"}}})),
            "elements_required",
        ),
        bad(
            "magnet output without elements",
            separation().pointer_mut_set("/data/outputs/0/material", json!({"form": "magnet"})),
            "elements_required",
        ),
        bad(
            "formula in lower case",
            patched(assay(MINER, ORE, LAB), json!({"data": {"oxides_ppm": {"nd2o3": 1}}})),
            "invalid_formula",
        ),
        bad(
            "formula with an unknown symbol",
            patched(assay(MINER, ORE, LAB), json!({"data": {"oxides_ppm": {"Xx2O3": 1}}})),
            "invalid_formula",
        ),
        bad(
            "formula with a zero count",
            patched(assay(MINER, ORE, LAB), json!({"data": {"oxides_ppm": {"Nd0O3": 1}}})),
            "invalid_formula",
        ),
        bad(
            "formula with parentheses",
            patched(assay(MINER, ORE, LAB), json!({"data": {"oxides_ppm": {"(Nd)2O3": 1}}})),
            "invalid_formula",
        ),
        bad(
            "oxides over a million ppm",
            patched(assay(MINER, ORE, LAB), json!({"data": {"oxides_ppm": {"Nd2O3": 600_000, "Pr6O11": 400_001}}})),
            "ppm_sum_exceeded",
        ),
        bad(
            "digest in upper case",
            patched(attach(MINER, "lot", ORE), json!({"data": {"digest": "AB".repeat(32)}})),
            "invalid_digest",
        ),
        bad(
            "digest too short",
            patched(attach(MINER, "lot", ORE), json!({"data": {"digest": "ab".repeat(31)}})),
            "invalid_digest",
        ),
        bad(
            "shipping document digest not hex",
            patched(
                shipped(),
                json!({"data": {"documents": [{"kind": "invoice", "ref": "I-1", "digest": "zz".repeat(32)}]}}),
            ),
            "invalid_digest",
        ),
        bad(
            "latitude over 90",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lat": "90.5", "lon": "105"}})),
            "invalid_coordinate",
        ),
        bad(
            "longitude over 180",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lat": "21", "lon": "-180.1"}})),
            "invalid_coordinate",
        ),
        bad(
            "latitude not a decimal",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lat": "21N", "lon": "105"}})),
            "invalid_coordinate",
        ),
        bad(
            "latitude with an exponent",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lat": "2e1", "lon": "105"}})),
            "invalid_coordinate",
        ),
        bad(
            "latitude without longitude",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lat": "21"}})),
            "incomplete_coordinates",
        ),
        bad(
            "longitude without latitude",
            patched(site(OP, "s", MINER, "mine", "VN"), json!({"data": {"lon": "105"}})),
            "incomplete_coordinates",
        ),
        // Base64, keys, signatures.
        bad(
            "public key not base64",
            patched(party(OP, "x", &["miner"], "VN"), json!({"data": {"public_key": "not base64!"}})),
            "invalid_base64",
        ),
        bad(
            "public key in url-safe base64",
            patched(party(OP, "x", &["miner"], "VN"), json!({"data": {"public_key": "-_-_"}})),
            "invalid_base64",
        ),
        bad(
            "public key without padding",
            patched(
                party(OP, "x", &["miner"], "VN"),
                json!({"data": {"public_key": public_key_b64(1).trim_end_matches('=')}}),
            ),
            "invalid_base64",
        ),
        bad(
            "signature not base64",
            patched(with_id(ext.clone(), WHEN_ID), json!({"signature": "abc"})),
            "invalid_base64",
        ),
        bad(
            "public key of 31 bytes",
            patched(
                party(OP, "x", &["miner"], "VN"),
                json!({"data": {"public_key": lode_domain::encode_base64(&[9; 31])}}),
            ),
            "invalid_public_key",
        ),
        bad(
            "public key of small order",
            patched(
                party(OP, "x", &["miner"], "VN"),
                json!({"data": {"public_key": lode_domain::encode_base64(&identity_point())}}),
            ),
            "invalid_public_key",
        ),
        bad(
            "signature of 63 bytes",
            patched(with_id(ext.clone(), WHEN_ID), json!({"signature": lode_domain::encode_base64(&[1; 63])})),
            "invalid_signature_length",
        ),
        bad(
            "signature without an id",
            patched(ext.clone(), json!({"signature": lode_domain::encode_base64(&[1; 64])})),
            "signature_without_id",
        ),
        // Targets, balance, split.
        bad(
            "document on lot and shipment",
            patched(attach(MINER, "lot", ORE), json!({"data": {"shipment": "SHP-1"}})),
            "invalid_target",
        ),
        bad(
            "document on nothing",
            patched(attach(MINER, "lot", ORE), json!({"data": {"lot": null}})),
            "invalid_target",
        ),
        bad(
            "hold on lot and party",
            patched(hold(OP, "lot", ORE, true), json!({"data": {"party": MINER}})),
            "invalid_target",
        ),
        bad(
            "release of nothing",
            patched(hold(OP, "lot", ORE, false), json!({"data": {"lot": null}})),
            "invalid_target",
        ),
        bad("outputs exceed inputs", patched(separation(), json!({"data": {"loss_g": 101}})), "mass_unbalanced"),
        bad("inputs exceed outputs", patched(separation(), json!({"data": {"loss_g": null}})), "mass_unbalanced"),
        bad("additions unaccounted", patched(separation(), json!({"data": {"additions_g": 5}})), "mass_unbalanced"),
        bad(
            "split of two inputs",
            transform(REFINER, "split", REFINERY, &[(ORE, 1), ("B", 1)], &[("X", ore(), 2)]),
            "split_multiple_inputs",
        ),
        // Records read back must be canonical.
        case("record with leading whitespace")
            .when_record([b" ".to_vec(), canonical_of(&with_id(bootstrap(), WHEN_ID))].concat())
            .fails_parse("not_canonical"),
        case("record not canonical")
            .when_record(serde_json::to_vec_pretty(&with_id(bootstrap(), WHEN_ID)).expect("serializes"))
            .fails_parse("not_canonical"),
        case("record without id").when_record(canonical_of(&bootstrap())).fails_parse("missing_field"),
    ];

    // What strictness must still let through (the ledger then accepts it).
    cases.extend([
        case("upper-case uuid")
            .given(world())
            .when(patched(extract("L-2", 1), json!({"id": "0193A1F2-7C3E-7B8A-9D2E-4F5A6B7C8D9E"})))
            .accepts(),
        case("expected given empty").given(world()).when(patched(extract("L-2", 1), json!({"expected": {}}))).accepts(),
        case("occurred_at with offset and nanoseconds")
            .given(world())
            .when(patched(extract("L-2", 1), json!({"occurred_at": "2024-03-02T15:00:00.123456789+07:00"})))
            .accepts(),
        case("occurred_at with negative zero offset")
            .given(world())
            .when(patched(extract("L-2", 1), json!({"occurred_at": "2024-03-02T08:00:00-00:00"})))
            .accepts(),
        case("leap second")
            .given(world())
            .when(patched(extract("L-2", 1), json!({"occurred_at": "2016-12-31T23:59:60Z"})))
            .accepts(),
        case("escaped strings")
            .given(world())
            .when_raw(text_with(&extract("L-2", 1), "\"L-2\"", "\"\\u004c-2\""))
            .accepts_lots(&["L-2"]),
        case("masses at the bounds").given(world()).when(extract("L-MAX", 1_000_000_000_000)).accepts(),
        case("ppm at the bounds")
            .given(world())
            .when(patched(
                assay(MINER, ORE, LAB),
                json!({"data": {"oxides_ppm": {"Nd2O3": 1_000_000, "Pr6O11": 0}, "treo_ppm": 0}}),
            ))
            .accepts(),
        case("coordinates at the bounds")
            .given(world())
            .when(patched(
                site(OP, "s-pole", MINER, "warehouse", "AQ"),
                json!({"data": {"lat": "-90.000", "lon": "180"}}),
            ))
            .accepts(),
        case("elements optional for ore, given anyway")
            .given(world())
            .when(patched(
                extract("L-2", 1),
                json!({"data": {"material": {"elements": ["Nd", "Y", "Sc"], "grade": "2% TREO", "hs_code": "253090"}}}),
            ))
            .accepts(),
        case("event of exactly the size limit")
            .given(world())
            .when_raw({
                let mut text = serde_json::to_vec(&extract("L-2", 1)).expect("serializes");
                text.resize(EVENT_BYTES_MAX, b'\n');
                text
            })
            .accepts(),
        case("negative zero version")
            .given(world())
            .when_raw(text_with(
                &patched(extract("L-2", 1), json!({"expected": {"L-2": 0}})),
                "\"L-2\":0}",
                "\"L-2\":-0}",
            ))
            .accepts(),
    ]);
    cases
}

/// The small-order point with encoding 0x01 followed by zeros (the identity).
fn identity_point() -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 1;
    p
}

fn canonical_of(event: &Value) -> Vec<u8> {
    parse_event(&serde_json::to_vec(event).expect("serializes")).expect("parses").canonical_json()
}

/// Small helpers to edit a JSON value in place by JSON pointer.
trait PointerEdit {
    fn pointer_mut_set(self, pointer: &str, value: Value) -> Value;
    fn pointer_mut_remove(self, pointer: &str) -> Value;
}

impl PointerEdit for Value {
    fn pointer_mut_set(mut self, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
        match self.pointer_mut(parent).expect("parent exists") {
            Value::Object(map) => {
                map.insert(key.to_string(), value);
            }
            other => panic!("not an object at {parent}: {other}"),
        }
        self
    }

    fn pointer_mut_remove(mut self, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
        if let Some(Value::Object(map)) = self.pointer_mut(parent) {
            map.remove(key);
        }
        self
    }
}

#[test]
fn parse_table() {
    run(&cases());
}

#[test]
fn messages_name_the_field_path_and_value() {
    let message = |event: Value| match parse_event(&serde_json::to_vec(&event).expect("serializes")) {
        Ok(_) => panic!("parsed: {event}"),
        Err(e) => e.to_string(),
    };
    let two_outputs = transform(
        REFINER,
        "separation",
        REFINERY,
        &[(ORE, 1000)],
        &[("OX-1", oxide(&["Nd"]), 500), ("OX-2", oxide(&["Pr"]), 500)],
    );
    assert_eq!(
        message(two_outputs.clone().pointer_mut_set("/data/outputs/1/mass_g", json!("500"))),
        "data.outputs[1].mass_g must be an integer, found string"
    );
    assert_eq!(
        message(two_outputs.clone().pointer_mut_set("/data/outputs/1/mass_g", json!(0))),
        "data.outputs[1].mass_g is 0, outside 1..=1000000000000"
    );
    assert_eq!(
        message(
            two_outputs.pointer_mut_set("/data/outputs/1/material", json!({"form": "oxide", "elements": ["Nd", "Qq"]}))
        ),
        "data.outputs[1].material.elements[1] is not a rare-earth element symbol: \"Qq\""
    );
    assert_eq!(message(merge(extract("L", 1), json!({"data": {"mas_g": 1}}))), "unknown field data.mas_g");
    assert_eq!(
        message(merge(extract("L", 1), json!({"expected": {"VN/1": "x"}}))),
        "expected[\"VN/1\"] must be an integer, found string"
    );
    assert_eq!(
        message(ship(MINER, "S", &["A", "B", "A"], MINE, REFINER, REFINERY)),
        "lot A appears twice, again at data.lots[2]"
    );
    assert_eq!(message(merge(extract("L", 1), json!({"actor": "Vn"}))), "actor is not a valid party id: \"Vn\"");
    assert_eq!(
        message(party(OP, "x", &["miner", "smuggler"], "VN")),
        "data.roles[1] is \"smuggler\", not one of miner, processor, refiner, carrier, trader, importer, magnet_maker, lab, auditor, operator"
    );
    let dup = br#"{"type":"lot.extracted","actor":"a","occurred_at":"2024-03-02T08:00:00Z","expected":{"L":1,"L":2},"data":{}}"#;
    assert_eq!(
        parse_event(dup).map(|_| ()).expect_err("duplicate keys").to_string(),
        "duplicate key \"L\" in expected"
    );
    let dup = br#"{"type":"lot.extracted","type":"lot.extracted"}"#;
    assert_eq!(
        parse_event(dup).map(|_| ()).expect_err("duplicate keys").to_string(),
        "duplicate key \"type\" in the envelope"
    );
    let bad_json = b"{\n  \"type\": lot}";
    assert_eq!(
        parse_event(bad_json).map(|_| ()).expect_err("malformed").to_string(),
        "malformed json at line 2, column 11: unexpected character"
    );
}
