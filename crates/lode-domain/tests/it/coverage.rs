//! The tables together: every code is exercised, every event type is accepted and refused somewhere,
//! and the project's vocabulary document lists every code.

use std::collections::BTreeSet;

use lode_domain::{ParseError, Rejection, EVENT_TYPES};

use crate::support::{Case, Then};

fn all_cases() -> Vec<Case> {
    [
        crate::parsing::cases(),
        crate::envelope_rules::cases(),
        crate::master_rules::cases(),
        crate::lot_rules::cases(),
        crate::custody_rules::cases(),
        crate::oversight_rules::cases(),
    ]
    .concat()
}

#[test]
fn every_code_has_a_case_and_every_case_a_known_code() {
    let cases = all_cases();
    eprintln!("{} table cases", cases.len());
    let mut rejections = BTreeSet::new();
    let mut parse_errors = BTreeSet::new();
    for case in &cases {
        match case.then {
            Then::Rejected(code) => {
                assert!(Rejection::CODES.contains(&code), "{}: unknown rejection code {code}", case.name);
                rejections.insert(code);
            }
            Then::ParseError(code) => {
                assert!(ParseError::CODES.contains(&code), "{}: unknown parse code {code}", case.name);
                parse_errors.insert(code);
            }
            Then::Accepted => {}
        }
    }
    let missing: Vec<&str> = Rejection::CODES.iter().copied().filter(|c| !rejections.contains(c)).collect();
    assert!(missing.is_empty(), "rejection codes without a case: {missing:?}");
    let missing: Vec<&str> = ParseError::CODES.iter().copied().filter(|c| !parse_errors.contains(c)).collect();
    assert!(missing.is_empty(), "parse codes without a case: {missing:?}");
    let unique: BTreeSet<&str> = Rejection::CODES.iter().chain(ParseError::CODES).copied().collect();
    assert_eq!(unique.len(), Rejection::CODES.len() + ParseError::CODES.len(), "codes are unique across both");
}

#[test]
fn every_event_type_is_accepted_and_refused() {
    let cases = all_cases();
    for type_name in EVENT_TYPES {
        let of_type = || cases.iter().filter(move |c| c.when_type().as_deref() == Some(type_name));
        assert!(of_type().any(|c| c.then == Then::Accepted), "no accepting case for {type_name}");
        assert!(of_type().any(|c| matches!(c.then, Then::Rejected(_))), "no case where the rules reject {type_name}");
        assert!(of_type().any(|c| matches!(c.then, Then::ParseError(_))), "no case where parsing refuses {type_name}");
    }
}

#[test]
fn the_vocabulary_document_lists_every_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vocabulary.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for code in Rejection::CODES.iter().chain(ParseError::CODES) {
        assert!(doc.contains(&format!("| `{code}` |")), "docs/vocabulary.md has no table row for `{code}`");
    }
    for type_name in EVENT_TYPES {
        assert!(doc.contains(&format!("`{type_name}`")), "docs/vocabulary.md does not mention `{type_name}`");
    }
}
