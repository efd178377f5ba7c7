//! Strict parsing of submitted events: everything that can be checked without the ledger's state.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use crate::crypto::{decode_base64, PublicKey, Signature};
use crate::envelope::Envelope;
use crate::events::{
    CustodyReceived, CustodyRejected, CustodyShipped, DocumentAttached, DocumentRef, DocumentTarget, Event,
    EventCorrected, HoldPlaced, HoldReleased, HoldTarget, LotAdjusted, LotAssayed, LotConsumed, LotExtracted, LotMoved,
    LotTransformed, PartyRegistered, ReceivedLot, SiteRegistered, TransformInput, TransformOutput, EVENT_TYPES,
};
use crate::ids::{shown, LotId, PartyId, ShipmentId, SiteId};
use crate::json::{self, push_key, Json, JsonError, JSON_DEPTH_MAX};
use crate::vocab::{
    is_bounded_decimal, ConsumeReason, Coordinates, CorrectionReason, Country, Digest, DocumentKind, Element, Form,
    Material, OxideFormula, Process, Role, SiteKind,
};

/// Largest submitted event, in bytes.
pub const EVENT_BYTES_MAX: usize = 64 * 1024;

/// Largest stored record (canonical form) accepted by [`parse_record`]: an event of [`EVENT_BYTES_MAX`]
/// submitted without an id grows by the `"id"` member the ledger adds, and canonicalization never makes
/// anything else longer.
pub const RECORD_BYTES_MAX: usize = EVENT_BYTES_MAX + 64;

/// Largest mass in grams: 10^12 g, a million tonnes.
pub const MASS_G_MAX: u64 = 1_000_000_000_000;

/// Parts per million of the whole.
pub const PPM_MAX: u32 = 1_000_000;

/// Largest version a client may state in `expected`: 2^53 - 1, so that the number survives any JSON
/// reader exactly (RFC 8785 numbers are IEEE 754 doubles).
pub const VERSION_MAX: u64 = (1 << 53) - 1;

/// Why a submitted event was refused before looking at the ledger.
///
/// Each variant has a stable [`code`](ParseError::code). Paths name the field as in
/// `data.outputs[1].mass_g`; keys that are not plain words are quoted: `expected["VN-NDPR-000123"]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// `event_too_large`: more bytes than [`EVENT_BYTES_MAX`] (or [`RECORD_BYTES_MAX`] for a record).
    #[error("event is {size} bytes, over the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// `invalid_utf8`: the bytes are not UTF-8.
    #[error("event is not valid utf-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    /// `malformed_json`: not JSON text (RFC 8259), or more than one value.
    #[error("malformed json at line {line}, column {column}: {reason}")]
    MalformedJson { line: usize, column: usize, reason: &'static str },
    /// `nesting_too_deep`: arrays and objects nest deeper than the limit.
    #[error("json nests deeper than {max} levels")]
    NestingTooDeep { max: usize },
    /// `not_an_object`: the event is not a JSON object.
    #[error("an event must be a json object, found {found}")]
    NotAnObject { found: &'static str },
    /// `duplicate_key`: a key appears twice in one object, anywhere in the event.
    #[error("duplicate key {key:?} in {}", object_name(.path))]
    DuplicateKey { path: String, key: String },
    /// `unknown_field`: a field the vocabulary does not define, anywhere in the event.
    #[error("unknown field {path}")]
    UnknownField { path: String },
    /// `missing_field`: a required field is absent.
    #[error("missing field {path}")]
    MissingField { path: String },
    /// `wrong_type`: a field has the wrong JSON type (`null` included).
    #[error("{path} must be {expected}, found {found}")]
    WrongType { path: String, expected: &'static str, found: &'static str },
    /// `unknown_type`: `type` is not an event type of the vocabulary.
    #[error("unknown event type {value:?}")]
    UnknownType { value: String },
    /// `unknown_value`: a word outside its list (role, site kind, form, process, reason, document kind).
    #[error("{path} is {value:?}, not one of {allowed}")]
    UnknownValue { path: String, value: String, allowed: String },
    /// `invalid_party_id`: not `^[a-z0-9][a-z0-9._-]{0,63}$`.
    #[error("{path} is not a valid party id: {value:?}")]
    InvalidPartyId { path: String, value: String },
    /// `invalid_site_id`: not `^[a-z0-9][a-z0-9._-]{0,63}$`.
    #[error("{path} is not a valid site id: {value:?}")]
    InvalidSiteId { path: String, value: String },
    /// `invalid_lot_id`: not `^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`.
    #[error("{path} is not a valid lot id: {value:?}")]
    InvalidLotId { path: String, value: String },
    /// `invalid_shipment_id`: not `^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`.
    #[error("{path} is not a valid shipment id: {value:?}")]
    InvalidShipmentId { path: String, value: String },
    /// `invalid_uuid`: not a hyphenated UUID (either case), or the nil UUID.
    #[error("{path} is not a uuid: {value:?}")]
    InvalidUuid { path: String, value: String },
    /// `invalid_timestamp`: not an RFC 3339 date-time with offset.
    #[error("{path} is not an rfc 3339 date-time with offset: {value:?}")]
    InvalidTimestamp { path: String, value: String },
    /// `not_an_integer`: a number with a fraction or exponent.
    #[error("{path} must be an integer, found {value}")]
    NotAnInteger { path: String, value: String },
    /// `out_of_range`: an integer outside the field's range.
    #[error("{path} is {value}, outside {min}..={max}")]
    OutOfRange { path: String, value: String, min: i128, max: i128 },
    /// `zero_delta`: an adjustment of 0 g.
    #[error("{path} must not be 0")]
    ZeroDelta { path: String },
    /// `empty_string`: a naming string (name, reason, reference, …) that is empty or only whitespace.
    #[error("{path} must not be empty or blank")]
    EmptyString { path: String },
    /// `empty_list`: a list or map that must have entries has none.
    #[error("{path} must not be empty")]
    EmptyList { path: String },
    /// `duplicate_lot`: a lot appears twice in a list, or a transformation output is also an input.
    #[error("lot {lot} appears twice, again at {path}")]
    DuplicateLot { path: String, lot: String },
    /// `duplicate_value`: a role or element appears twice.
    #[error("{path} repeats {value}")]
    DuplicateValue { path: String, value: String },
    /// `invalid_country`: not an officially assigned ISO 3166-1 alpha-2 code.
    #[error("{path} is not an officially assigned iso 3166-1 alpha-2 country code: {value:?}")]
    InvalidCountry { path: String, value: String },
    /// `invalid_element`: not a rare-earth element symbol (La..Lu, Y, Sc).
    #[error("{path} is not a rare-earth element symbol: {value:?}")]
    InvalidElement { path: String, value: String },
    /// `elements_required`: a material of form oxide, metal, alloy or magnet without `elements`.
    #[error("{path} of form {form} must list its elements")]
    ElementsRequired { path: String, form: Form },
    /// `invalid_formula`: an `oxides_ppm` key that is not element symbols with optional counts.
    #[error("{path} has key {value:?}, which is not an oxide formula")]
    InvalidFormula { path: String, value: String },
    /// `ppm_sum_exceeded`: `oxides_ppm` adds up to more than 1,000,000.
    #[error("{path} sums to {sum} ppm, over 1000000")]
    PpmSumExceeded { path: String, sum: u64 },
    /// `invalid_digest`: not 64 lower-case hex characters.
    #[error("{path} is not 64 lower-case hex characters: {value:?}")]
    InvalidDigest { path: String, value: String },
    /// `invalid_coordinate`: `lat` or `lon` not a decimal string within ±90 or ±180.
    #[error("{path} is not a decimal between -{bound} and {bound}: {value:?}")]
    InvalidCoordinate { path: String, value: String, bound: u32 },
    /// `incomplete_coordinates`: `lat` without `lon` or the reverse.
    #[error("{path} is given without {missing}")]
    IncompleteCoordinates { path: String, missing: String },
    /// `invalid_base64`: not RFC 4648 standard base64 with padding.
    #[error("{path} is not standard base64 with padding")]
    InvalidBase64 { path: String },
    /// `invalid_public_key`: not a usable raw 32-byte Ed25519 public key.
    #[error("{path} is not an ed25519 public key: {reason}")]
    InvalidPublicKey { path: String, reason: String },
    /// `invalid_signature_length`: the signature does not decode to 64 bytes.
    #[error("signature is {len} bytes, not 64")]
    InvalidSignatureLength { len: usize },
    /// `signature_without_id`: a signed event must carry its own `id`, which the signature covers.
    #[error("a signed event must carry its own id")]
    SignatureWithoutId,
    /// `invalid_target`: `document.attached` and holds name exactly one target.
    #[error("{path} must name exactly one of {options}")]
    InvalidTarget { path: String, options: &'static str },
    /// `mass_unbalanced`: sum(inputs) + additions_g differs from sum(outputs) + loss_g.
    #[error(
        "mass does not balance: inputs {inputs_g} g + additions {additions_g} g != outputs {outputs_g} g + loss {loss_g} g"
    )]
    MassUnbalanced { inputs_g: u128, additions_g: u64, outputs_g: u128, loss_g: u64 },
    /// `split_multiple_inputs`: a `split` has more than one input.
    #[error("a split has exactly one input, not {count}")]
    SplitMultipleInputs { count: usize },
    /// `not_canonical`: a stored record is not byte for byte the canonical form of its content.
    #[error("record is not in canonical form")]
    NotCanonical,
}

fn object_name(path: &str) -> &str {
    if path.is_empty() {
        "the envelope"
    } else {
        path
    }
}

impl ParseError {
    /// Every code [`ParseError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "event_too_large",
        "invalid_utf8",
        "malformed_json",
        "nesting_too_deep",
        "not_an_object",
        "duplicate_key",
        "unknown_field",
        "missing_field",
        "wrong_type",
        "unknown_type",
        "unknown_value",
        "invalid_party_id",
        "invalid_site_id",
        "invalid_lot_id",
        "invalid_shipment_id",
        "invalid_uuid",
        "invalid_timestamp",
        "not_an_integer",
        "out_of_range",
        "zero_delta",
        "empty_string",
        "empty_list",
        "duplicate_lot",
        "duplicate_value",
        "invalid_country",
        "invalid_element",
        "elements_required",
        "invalid_formula",
        "ppm_sum_exceeded",
        "invalid_digest",
        "invalid_coordinate",
        "incomplete_coordinates",
        "invalid_base64",
        "invalid_public_key",
        "invalid_signature_length",
        "signature_without_id",
        "invalid_target",
        "mass_unbalanced",
        "split_multiple_inputs",
        "not_canonical",
    ];

    /// A stable snake_case code for the error, for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::TooLarge { .. } => "event_too_large",
            ParseError::InvalidUtf8 { .. } => "invalid_utf8",
            ParseError::MalformedJson { .. } => "malformed_json",
            ParseError::NestingTooDeep { .. } => "nesting_too_deep",
            ParseError::NotAnObject { .. } => "not_an_object",
            ParseError::DuplicateKey { .. } => "duplicate_key",
            ParseError::UnknownField { .. } => "unknown_field",
            ParseError::MissingField { .. } => "missing_field",
            ParseError::WrongType { .. } => "wrong_type",
            ParseError::UnknownType { .. } => "unknown_type",
            ParseError::UnknownValue { .. } => "unknown_value",
            ParseError::InvalidPartyId { .. } => "invalid_party_id",
            ParseError::InvalidSiteId { .. } => "invalid_site_id",
            ParseError::InvalidLotId { .. } => "invalid_lot_id",
            ParseError::InvalidShipmentId { .. } => "invalid_shipment_id",
            ParseError::InvalidUuid { .. } => "invalid_uuid",
            ParseError::InvalidTimestamp { .. } => "invalid_timestamp",
            ParseError::NotAnInteger { .. } => "not_an_integer",
            ParseError::OutOfRange { .. } => "out_of_range",
            ParseError::ZeroDelta { .. } => "zero_delta",
            ParseError::EmptyString { .. } => "empty_string",
            ParseError::EmptyList { .. } => "empty_list",
            ParseError::DuplicateLot { .. } => "duplicate_lot",
            ParseError::DuplicateValue { .. } => "duplicate_value",
            ParseError::InvalidCountry { .. } => "invalid_country",
            ParseError::InvalidElement { .. } => "invalid_element",
            ParseError::ElementsRequired { .. } => "elements_required",
            ParseError::InvalidFormula { .. } => "invalid_formula",
            ParseError::PpmSumExceeded { .. } => "ppm_sum_exceeded",
            ParseError::InvalidDigest { .. } => "invalid_digest",
            ParseError::InvalidCoordinate { .. } => "invalid_coordinate",
            ParseError::IncompleteCoordinates { .. } => "incomplete_coordinates",
            ParseError::InvalidBase64 { .. } => "invalid_base64",
            ParseError::InvalidPublicKey { .. } => "invalid_public_key",
            ParseError::InvalidSignatureLength { .. } => "invalid_signature_length",
            ParseError::SignatureWithoutId => "signature_without_id",
            ParseError::InvalidTarget { .. } => "invalid_target",
            ParseError::MassUnbalanced { .. } => "mass_unbalanced",
            ParseError::SplitMultipleInputs { .. } => "split_multiple_inputs",
            ParseError::NotCanonical => "not_canonical",
        }
    }
}

/// Strictly parses one submitted event (one JSON object).
///
/// # Errors
/// A [`ParseError`] for anything that can be refused without the ledger's state: size, encoding, JSON
/// syntax, duplicate keys and unknown fields anywhere, unknown `type`, malformed identifiers, UUIDs,
/// timestamps, numbers, countries, elements, formulas, digests, coordinates and base64, empty names,
/// duplicate lots, and the mass balance of a transformation.
pub fn parse_event(json: &[u8]) -> Result<Envelope, ParseError> {
    parse_bytes(json, EVENT_BYTES_MAX)
}

/// Parses a record as the ledger stores it: the canonical form of an accepted envelope, with its `id`.
/// Use it when reading records back, to check they are what was written.
///
/// # Errors
/// Everything [`parse_event`] refuses (with the size limit [`RECORD_BYTES_MAX`]), plus `missing_field`
/// when there is no `id` and `not_canonical` when the bytes are not exactly the canonical form.
pub fn parse_record(json: &[u8]) -> Result<Envelope, ParseError> {
    let envelope = parse_bytes(json, RECORD_BYTES_MAX)?;
    if envelope.id().is_none() {
        return Err(ParseError::MissingField { path: "id".into() });
    }
    if envelope.canonical_json() != json {
        return Err(ParseError::NotCanonical);
    }
    Ok(envelope)
}

fn parse_bytes(bytes: &[u8], max: usize) -> Result<Envelope, ParseError> {
    if bytes.len() > max {
        return Err(ParseError::TooLarge { size: bytes.len(), max });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 { offset: e.valid_up_to() })?;
    let tree = json::parse(text).map_err(|e| match e {
        JsonError::Syntax { line, column, reason } => ParseError::MalformedJson { line, column, reason },
        JsonError::TooDeep => ParseError::NestingTooDeep { max: JSON_DEPTH_MAX },
        JsonError::DuplicateKey { path, key } => ParseError::DuplicateKey { path, key: shown(&key) },
    })?;
    envelope(&tree)
}

// ---------------------------------------------------------------------------------------------------------
// Paths

/// Where a value sits in the document; rendered only when there is an error to report.
#[derive(Clone, Copy)]
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    step: Step<'p>,
}

#[derive(Clone, Copy)]
enum Step<'p> {
    Root,
    Key(&'p str),
    Index(usize),
}

static ROOT: Path<'static> = Path { parent: None, step: Step::Root };

impl Path<'_> {
    fn key<'q>(&'q self, key: &'q str) -> Path<'q> {
        Path { parent: Some(self), step: Step::Key(key) }
    }

    fn index(&self, index: usize) -> Path<'_> {
        Path { parent: Some(self), step: Step::Index(index) }
    }

    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            steps.push(p.step);
            at = p.parent;
        }
        let mut out = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Root => {}
                Step::Key(k) => push_key(&mut out, k),
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------------------
// Typed readers

type Members<'a> = [(Cow<'a, str>, Json<'a>)];

/// The members of an object whose keys were all checked against a list.
struct Fields<'j, 'a> {
    members: &'j Members<'a>,
}

impl<'j, 'a> Fields<'j, 'a> {
    fn get(&self, key: &str) -> Option<&'j Json<'a>> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn required(&self, key: &str, path: &Path<'_>) -> Result<&'j Json<'a>, ParseError> {
        self.get(key).ok_or_else(|| ParseError::MissingField { path: path.key(key).render() })
    }
}

fn wrong_type(path: &Path<'_>, expected: &'static str, found: &Json<'_>) -> ParseError {
    ParseError::WrongType { path: path.render(), expected, found: found.kind() }
}

/// An object with only the `allowed` keys.
fn object<'j, 'a>(value: &'j Json<'a>, path: &Path<'_>, allowed: &[&str]) -> Result<Fields<'j, 'a>, ParseError> {
    let Json::Object(members) = value else {
        return Err(wrong_type(path, "an object", value));
    };
    if let Some((key, _)) = members.iter().find(|(k, _)| !allowed.contains(&k.as_ref())) {
        return Err(ParseError::UnknownField { path: path.key(key).render() });
    }
    Ok(Fields { members })
}

fn array<'j, 'a>(value: &'j Json<'a>, path: &Path<'_>) -> Result<&'j [Json<'a>], ParseError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(wrong_type(path, "an array", other)),
    }
}

fn non_empty_array<'j, 'a>(value: &'j Json<'a>, path: &Path<'_>) -> Result<&'j [Json<'a>], ParseError> {
    let items = array(value, path)?;
    if items.is_empty() {
        return Err(ParseError::EmptyList { path: path.render() });
    }
    Ok(items)
}

fn string<'j>(value: &'j Json<'_>, path: &Path<'_>) -> Result<&'j str, ParseError> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(wrong_type(path, "a string", other)),
    }
}

/// A string that names something: not empty, not only whitespace.
fn text(value: &Json<'_>, path: &Path<'_>) -> Result<String, ParseError> {
    let s = string(value, path)?;
    if s.trim().is_empty() {
        return Err(ParseError::EmptyString { path: path.render() });
    }
    Ok(s.to_string())
}

fn opt_text(fields: &Fields<'_, '_>, key: &str, path: &Path<'_>) -> Result<Option<String>, ParseError> {
    fields.get(key).map(|v| text(v, &path.key(key))).transpose()
}

fn integer(value: &Json<'_>, path: &Path<'_>, min: i128, max: i128) -> Result<i128, ParseError> {
    let Json::Number(number) = value else {
        return Err(wrong_type(path, "an integer", value));
    };
    if number.contains(['.', 'e', 'E']) {
        return Err(ParseError::NotAnInteger { path: path.render(), value: shown(number) });
    }
    let out_of_range = || ParseError::OutOfRange { path: path.render(), value: shown(number), min, max };
    // The grammar was checked, so parsing fails only when the integer does not fit.
    let n: i128 = number.parse().map_err(|_| out_of_range())?;
    if n < min || n > max {
        return Err(out_of_range());
    }
    Ok(n)
}

fn unsigned(value: &Json<'_>, path: &Path<'_>, min: u64, max: u64) -> Result<u64, ParseError> {
    let n = integer(value, path, i128::from(min), i128::from(max))?;
    Ok(u64::try_from(n).expect("the range check keeps n within u64"))
}

/// A mass in grams, 1 to 10^12.
fn mass(value: &Json<'_>, path: &Path<'_>) -> Result<u64, ParseError> {
    unsigned(value, path, 1, MASS_G_MAX)
}

fn ppm(value: &Json<'_>, path: &Path<'_>) -> Result<u32, ParseError> {
    let n = unsigned(value, path, 0, u64::from(PPM_MAX))?;
    Ok(u32::try_from(n).expect("the range check keeps ppm within u32"))
}

fn party_id(value: &Json<'_>, path: &Path<'_>) -> Result<PartyId, ParseError> {
    let s = string(value, path)?;
    PartyId::new(s).map_err(|_| ParseError::InvalidPartyId { path: path.render(), value: shown(s) })
}

fn site_id(value: &Json<'_>, path: &Path<'_>) -> Result<SiteId, ParseError> {
    let s = string(value, path)?;
    SiteId::new(s).map_err(|_| ParseError::InvalidSiteId { path: path.render(), value: shown(s) })
}

fn lot_id(value: &Json<'_>, path: &Path<'_>) -> Result<LotId, ParseError> {
    let s = string(value, path)?;
    LotId::new(s).map_err(|_| ParseError::InvalidLotId { path: path.render(), value: shown(s) })
}

fn shipment_id(value: &Json<'_>, path: &Path<'_>) -> Result<ShipmentId, ParseError> {
    let s = string(value, path)?;
    ShipmentId::new(s).map_err(|_| ParseError::InvalidShipmentId { path: path.render(), value: shown(s) })
}

/// A hyphenated UUID in either case; not the nil UUID.
fn uuid(value: &Json<'_>, path: &Path<'_>) -> Result<Uuid, ParseError> {
    let s = string(value, path)?;
    let bad = || ParseError::InvalidUuid { path: path.render(), value: shown(s) };
    let b = s.as_bytes();
    let hyphens_ok = b.len() == 36 && b.iter().enumerate().all(|(i, &c)| (c == b'-') == matches!(i, 8 | 13 | 18 | 23));
    if !hyphens_ok || !b.iter().all(|&c| c == b'-' || c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let id = Uuid::try_parse(s).map_err(|_| bad())?;
    if id.is_nil() {
        return Err(bad());
    }
    Ok(id)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z` or `±HH:MM`: RFC 3339's date-time with an upper-case
/// `T` and `Z` and at most nanosecond precision.
fn timestamp(value: &Json<'_>, path: &Path<'_>) -> Result<(String, DateTime<FixedOffset>), ParseError> {
    let s = string(value, path)?;
    let bad = || ParseError::InvalidTimestamp { path: path.render(), value: shown(s) };
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return Err(bad());
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return Err(bad());
        }
    }
    let offset_ok = match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len() && digits(i + 1..i + 3) && b.get(i + 3) == Some(&b':') && digits(i + 4..i + 6)
        }
        _ => false,
    };
    if !offset_ok {
        return Err(bad());
    }
    let parsed = DateTime::parse_from_rfc3339(s).map_err(|_| bad())?;
    Ok((s.to_string(), parsed))
}

fn word<T>(
    value: &Json<'_>,
    path: &Path<'_>,
    parse: fn(&str) -> Option<T>,
    allowed: &'static str,
) -> Result<T, ParseError> {
    let s = string(value, path)?;
    parse(s).ok_or_else(|| ParseError::UnknownValue {
        path: path.render(),
        value: shown(s),
        allowed: allowed.trim_end_matches(", ").to_string(),
    })
}

fn country(value: &Json<'_>, path: &Path<'_>) -> Result<Country, ParseError> {
    let s = string(value, path)?;
    Country::parse(s).ok_or_else(|| ParseError::InvalidCountry { path: path.render(), value: shown(s) })
}

fn digest(value: &Json<'_>, path: &Path<'_>) -> Result<Digest, ParseError> {
    let s = string(value, path)?;
    Digest::parse(s).ok_or_else(|| ParseError::InvalidDigest { path: path.render(), value: shown(s) })
}

fn base64(value: &Json<'_>, path: &Path<'_>) -> Result<Vec<u8>, ParseError> {
    let s = string(value, path)?;
    decode_base64(s).ok_or_else(|| ParseError::InvalidBase64 { path: path.render() })
}

fn coordinate(value: &Json<'_>, path: &Path<'_>, bound: u32) -> Result<String, ParseError> {
    let s = string(value, path)?;
    if !is_bounded_decimal(s, bound) {
        return Err(ParseError::InvalidCoordinate { path: path.render(), value: shown(s), bound });
    }
    Ok(s.to_string())
}

fn material(value: &Json<'_>, path: &Path<'_>) -> Result<Material, ParseError> {
    let f = object(value, path, &["form", "elements", "grade", "hs_code"])?;
    let form = word(f.required("form", path)?, &path.key("form"), Form::parse, Form::allowed())?;
    let elements = match f.get("elements") {
        None => None,
        Some(v) => {
            let elements_path = path.key("elements");
            let items = non_empty_array(v, &elements_path)?;
            let mut elements = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let p = elements_path.index(i);
                let s = string(item, &p)?;
                let element = Element::parse(s)
                    .ok_or_else(|| ParseError::InvalidElement { path: p.render(), value: shown(s) })?;
                if elements.contains(&element) {
                    return Err(ParseError::DuplicateValue { path: p.render(), value: element.to_string() });
                }
                elements.push(element);
            }
            Some(elements)
        }
    };
    if form.requires_elements() && elements.is_none() {
        return Err(ParseError::ElementsRequired { path: path.render(), form });
    }
    Ok(Material { form, elements, grade: opt_text(&f, "grade", path)?, hs_code: opt_text(&f, "hs_code", path)? })
}

/// Keeps a list's lots unique.
fn check_unique_lot(seen: &mut BTreeSet<LotId>, lot: &LotId, path: &Path<'_>) -> Result<(), ParseError> {
    if !seen.insert(lot.clone()) {
        return Err(ParseError::DuplicateLot { path: path.render(), lot: lot.to_string() });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The envelope

const ENVELOPE_FIELDS: &[&str] = &["id", "type", "actor", "occurred_at", "expected", "data", "signature"];

fn envelope(root: &Json<'_>) -> Result<Envelope, ParseError> {
    if !matches!(root, Json::Object(_)) {
        return Err(ParseError::NotAnObject { found: root.kind() });
    }
    let f = object(root, &ROOT, ENVELOPE_FIELDS)?;
    let type_path = ROOT.key("type");
    let type_name = string(f.required("type", &ROOT)?, &type_path)?;
    if !EVENT_TYPES.contains(&type_name) {
        return Err(ParseError::UnknownType { value: shown(type_name) });
    }
    let id = f.get("id").map(|v| uuid(v, &ROOT.key("id"))).transpose()?;
    let actor = party_id(f.required("actor", &ROOT)?, &ROOT.key("actor"))?;
    let (occurred_at_text, occurred_at) = timestamp(f.required("occurred_at", &ROOT)?, &ROOT.key("occurred_at"))?;

    let mut expected = BTreeMap::new();
    let expected_value = f.get("expected");
    if let Some(v) = expected_value {
        let path = ROOT.key("expected");
        let Json::Object(members) = v else {
            return Err(wrong_type(&path, "an object", v));
        };
        for (key, version) in members {
            let p = path.key(key);
            let lot = LotId::new(key.as_ref())
                .map_err(|_| ParseError::InvalidLotId { path: p.render(), value: shown(key) })?;
            expected.insert(lot, unsigned(version, &p, 0, VERSION_MAX)?);
        }
    }

    let signature = match f.get("signature") {
        None => None,
        Some(v) => {
            let bytes = base64(v, &ROOT.key("signature"))?;
            let raw: [u8; 64] =
                bytes.as_slice().try_into().map_err(|_| ParseError::InvalidSignatureLength { len: bytes.len() })?;
            Some(Signature::from_bytes(raw))
        }
    };
    if signature.is_some() && id.is_none() {
        return Err(ParseError::SignatureWithoutId);
    }

    let data_path = ROOT.key("data");
    let data = f.required("data", &ROOT)?;
    let p = &data_path;
    let event = match type_name {
        "party.registered" => Event::PartyRegistered(party_registered(data, p)?),
        "site.registered" => Event::SiteRegistered(site_registered(data, p)?),
        "lot.extracted" => Event::LotExtracted(lot_extracted(data, p)?),
        "lot.assayed" => Event::LotAssayed(lot_assayed(data, p)?),
        "lot.transformed" => Event::LotTransformed(lot_transformed(data, p)?),
        "custody.shipped" => Event::CustodyShipped(custody_shipped(data, p)?),
        "custody.received" => Event::CustodyReceived(custody_received(data, p)?),
        "custody.rejected" => Event::CustodyRejected(custody_rejected(data, p)?),
        "lot.moved" => Event::LotMoved(lot_moved(data, p)?),
        "document.attached" => Event::DocumentAttached(document_attached(data, p)?),
        "lot.consumed" => Event::LotConsumed(lot_consumed(data, p)?),
        "lot.adjusted" => Event::LotAdjusted(lot_adjusted(data, p)?),
        "hold.placed" => {
            let (target, reason) = hold(data, p)?;
            Event::HoldPlaced(HoldPlaced { target, reason })
        }
        "hold.released" => {
            let (target, reason) = hold(data, p)?;
            Event::HoldReleased(HoldReleased { target, reason })
        }
        "event.corrected" => Event::EventCorrected(event_corrected(data, p)?),
        other => return Err(ParseError::UnknownType { value: shown(other) }),
    };

    Ok(Envelope {
        id,
        actor,
        occurred_at_text,
        occurred_at,
        expected,
        expected_given: expected_value.is_some(),
        signature,
        event,
    })
}

// ---------------------------------------------------------------------------------------------------------
// The data of each type

fn party_registered(data: &Json<'_>, path: &Path<'_>) -> Result<PartyRegistered, ParseError> {
    let f = object(data, path, &["party", "name", "roles", "country", "public_key"])?;
    let roles_path = path.key("roles");
    let mut roles = Vec::new();
    for (i, item) in non_empty_array(f.required("roles", path)?, &roles_path)?.iter().enumerate() {
        let p = roles_path.index(i);
        let role = word(item, &p, Role::parse, Role::allowed())?;
        if roles.contains(&role) {
            return Err(ParseError::DuplicateValue { path: p.render(), value: role.to_string() });
        }
        roles.push(role);
    }
    let public_key = match f.get("public_key") {
        None => None,
        Some(v) => {
            let p = path.key("public_key");
            let bytes = base64(v, &p)?;
            let key = PublicKey::from_slice(&bytes)
                .map_err(|problem| ParseError::InvalidPublicKey { path: p.render(), reason: problem.to_string() })?;
            Some(key)
        }
    };
    Ok(PartyRegistered {
        party: party_id(f.required("party", path)?, &path.key("party"))?,
        name: text(f.required("name", path)?, &path.key("name"))?,
        roles,
        country: country(f.required("country", path)?, &path.key("country"))?,
        public_key,
    })
}

fn site_registered(data: &Json<'_>, path: &Path<'_>) -> Result<SiteRegistered, ParseError> {
    let f = object(data, path, &["site", "party", "name", "kind", "country", "lat", "lon"])?;
    let coordinates = match (f.get("lat"), f.get("lon")) {
        (None, None) => None,
        (Some(lat), Some(lon)) => Some(Coordinates {
            lat: coordinate(lat, &path.key("lat"), 90)?,
            lon: coordinate(lon, &path.key("lon"), 180)?,
        }),
        (Some(_), None) => {
            return Err(ParseError::IncompleteCoordinates {
                path: path.key("lat").render(),
                missing: path.key("lon").render(),
            })
        }
        (None, Some(_)) => {
            return Err(ParseError::IncompleteCoordinates {
                path: path.key("lon").render(),
                missing: path.key("lat").render(),
            })
        }
    };
    Ok(SiteRegistered {
        site: site_id(f.required("site", path)?, &path.key("site"))?,
        party: party_id(f.required("party", path)?, &path.key("party"))?,
        name: text(f.required("name", path)?, &path.key("name"))?,
        kind: word(f.required("kind", path)?, &path.key("kind"), SiteKind::parse, SiteKind::allowed())?,
        country: country(f.required("country", path)?, &path.key("country"))?,
        coordinates,
    })
}

fn lot_extracted(data: &Json<'_>, path: &Path<'_>) -> Result<LotExtracted, ParseError> {
    let f = object(data, path, &["lot", "site", "material", "mass_g", "permit"])?;
    Ok(LotExtracted {
        lot: lot_id(f.required("lot", path)?, &path.key("lot"))?,
        site: site_id(f.required("site", path)?, &path.key("site"))?,
        material: material(f.required("material", path)?, &path.key("material"))?,
        mass_g: mass(f.required("mass_g", path)?, &path.key("mass_g"))?,
        permit: opt_text(&f, "permit", path)?,
    })
}

fn lot_assayed(data: &Json<'_>, path: &Path<'_>) -> Result<LotAssayed, ParseError> {
    let f = object(data, path, &["lot", "lab", "certificate", "oxides_ppm", "treo_ppm"])?;
    let oxides_path = path.key("oxides_ppm");
    let oxides_value = f.required("oxides_ppm", path)?;
    let Json::Object(members) = oxides_value else {
        return Err(wrong_type(&oxides_path, "an object", oxides_value));
    };
    if members.is_empty() {
        return Err(ParseError::EmptyList { path: oxides_path.render() });
    }
    let mut oxides_ppm = BTreeMap::new();
    let mut sum: u64 = 0;
    for (key, value) in members {
        let formula = OxideFormula::parse(key)
            .ok_or_else(|| ParseError::InvalidFormula { path: oxides_path.render(), value: shown(key) })?;
        let share = ppm(value, &oxides_path.key(key))?;
        sum = sum.saturating_add(u64::from(share));
        oxides_ppm.insert(formula, share);
    }
    if sum > u64::from(PPM_MAX) {
        return Err(ParseError::PpmSumExceeded { path: oxides_path.render(), sum });
    }
    Ok(LotAssayed {
        lot: lot_id(f.required("lot", path)?, &path.key("lot"))?,
        lab: party_id(f.required("lab", path)?, &path.key("lab"))?,
        certificate: text(f.required("certificate", path)?, &path.key("certificate"))?,
        oxides_ppm,
        treo_ppm: f.get("treo_ppm").map(|v| ppm(v, &path.key("treo_ppm"))).transpose()?,
    })
}

fn lot_transformed(data: &Json<'_>, path: &Path<'_>) -> Result<LotTransformed, ParseError> {
    let f = object(data, path, &["process", "site", "inputs", "outputs", "additions_g", "loss_g"])?;
    let process = word(f.required("process", path)?, &path.key("process"), Process::parse, Process::allowed())?;
    let site = site_id(f.required("site", path)?, &path.key("site"))?;
    let mut seen = BTreeSet::new();

    let inputs_path = path.key("inputs");
    let mut inputs = Vec::new();
    for (i, item) in non_empty_array(f.required("inputs", path)?, &inputs_path)?.iter().enumerate() {
        let p = inputs_path.index(i);
        let g = object(item, &p, &["lot", "mass_g"])?;
        let lot = lot_id(g.required("lot", &p)?, &p.key("lot"))?;
        check_unique_lot(&mut seen, &lot, &p.key("lot"))?;
        inputs.push(TransformInput { lot, mass_g: mass(g.required("mass_g", &p)?, &p.key("mass_g"))? });
    }

    let outputs_path = path.key("outputs");
    let mut outputs = Vec::new();
    for (i, item) in non_empty_array(f.required("outputs", path)?, &outputs_path)?.iter().enumerate() {
        let p = outputs_path.index(i);
        let g = object(item, &p, &["lot", "material", "mass_g"])?;
        let lot = lot_id(g.required("lot", &p)?, &p.key("lot"))?;
        check_unique_lot(&mut seen, &lot, &p.key("lot"))?;
        outputs.push(TransformOutput {
            lot,
            material: material(g.required("material", &p)?, &p.key("material"))?,
            mass_g: mass(g.required("mass_g", &p)?, &p.key("mass_g"))?,
        });
    }

    let additions_g = f.get("additions_g").map(|v| unsigned(v, &path.key("additions_g"), 0, MASS_G_MAX)).transpose()?;
    let loss_g = f.get("loss_g").map(|v| unsigned(v, &path.key("loss_g"), 0, MASS_G_MAX)).transpose()?;

    if process == Process::Split && inputs.len() != 1 {
        return Err(ParseError::SplitMultipleInputs { count: inputs.len() });
    }

    // u128 sums cannot overflow: the event size bounds the number of entries far below 2^64.
    let inputs_g: u128 = inputs.iter().map(|i| u128::from(i.mass_g)).sum();
    let outputs_g: u128 = outputs.iter().map(|o| u128::from(o.mass_g)).sum();
    let additions = additions_g.unwrap_or(0);
    let loss = loss_g.unwrap_or(0);
    if inputs_g + u128::from(additions) != outputs_g + u128::from(loss) {
        return Err(ParseError::MassUnbalanced { inputs_g, additions_g: additions, outputs_g, loss_g: loss });
    }

    Ok(LotTransformed { process, site, inputs, outputs, additions_g, loss_g })
}

fn custody_shipped(data: &Json<'_>, path: &Path<'_>) -> Result<CustodyShipped, ParseError> {
    let f = object(data, path, &["shipment", "lots", "from_site", "to_party", "to_site", "carrier", "documents"])?;
    let lots_path = path.key("lots");
    let mut seen = BTreeSet::new();
    let mut lots = Vec::new();
    for (i, item) in non_empty_array(f.required("lots", path)?, &lots_path)?.iter().enumerate() {
        let p = lots_path.index(i);
        let lot = lot_id(item, &p)?;
        check_unique_lot(&mut seen, &lot, &p)?;
        lots.push(lot);
    }
    let documents = match f.get("documents") {
        None => None,
        Some(v) => {
            let docs_path = path.key("documents");
            let mut documents = Vec::new();
            for (i, item) in array(v, &docs_path)?.iter().enumerate() {
                let p = docs_path.index(i);
                let g = object(item, &p, &["kind", "ref", "digest"])?;
                documents.push(DocumentRef {
                    kind: word(g.required("kind", &p)?, &p.key("kind"), DocumentKind::parse, DocumentKind::allowed())?,
                    reference: text(g.required("ref", &p)?, &p.key("ref"))?,
                    digest: g.get("digest").map(|d| digest(d, &p.key("digest"))).transpose()?,
                });
            }
            Some(documents)
        }
    };
    Ok(CustodyShipped {
        shipment: shipment_id(f.required("shipment", path)?, &path.key("shipment"))?,
        lots,
        from_site: site_id(f.required("from_site", path)?, &path.key("from_site"))?,
        to_party: party_id(f.required("to_party", path)?, &path.key("to_party"))?,
        to_site: site_id(f.required("to_site", path)?, &path.key("to_site"))?,
        carrier: f.get("carrier").map(|v| party_id(v, &path.key("carrier"))).transpose()?,
        documents,
    })
}

fn custody_received(data: &Json<'_>, path: &Path<'_>) -> Result<CustodyReceived, ParseError> {
    let f = object(data, path, &["shipment", "lots"])?;
    let lots_path = path.key("lots");
    let mut seen = BTreeSet::new();
    let mut lots = Vec::new();
    for (i, item) in non_empty_array(f.required("lots", path)?, &lots_path)?.iter().enumerate() {
        let p = lots_path.index(i);
        let g = object(item, &p, &["lot", "mass_g"])?;
        let lot = lot_id(g.required("lot", &p)?, &p.key("lot"))?;
        check_unique_lot(&mut seen, &lot, &p.key("lot"))?;
        lots.push(ReceivedLot { lot, mass_g: mass(g.required("mass_g", &p)?, &p.key("mass_g"))? });
    }
    Ok(CustodyReceived { shipment: shipment_id(f.required("shipment", path)?, &path.key("shipment"))?, lots })
}

fn custody_rejected(data: &Json<'_>, path: &Path<'_>) -> Result<CustodyRejected, ParseError> {
    let f = object(data, path, &["shipment", "reason"])?;
    Ok(CustodyRejected {
        shipment: shipment_id(f.required("shipment", path)?, &path.key("shipment"))?,
        reason: text(f.required("reason", path)?, &path.key("reason"))?,
    })
}

fn lot_moved(data: &Json<'_>, path: &Path<'_>) -> Result<LotMoved, ParseError> {
    let f = object(data, path, &["lot", "to_site"])?;
    Ok(LotMoved {
        lot: lot_id(f.required("lot", path)?, &path.key("lot"))?,
        to_site: site_id(f.required("to_site", path)?, &path.key("to_site"))?,
    })
}

fn document_attached(data: &Json<'_>, path: &Path<'_>) -> Result<DocumentAttached, ParseError> {
    let f = object(data, path, &["lot", "shipment", "kind", "ref", "digest", "issuer"])?;
    let target = match (f.get("lot"), f.get("shipment")) {
        (Some(lot), None) => DocumentTarget::Lot(lot_id(lot, &path.key("lot"))?),
        (None, Some(shipment)) => DocumentTarget::Shipment(shipment_id(shipment, &path.key("shipment"))?),
        _ => return Err(ParseError::InvalidTarget { path: path.render(), options: "lot, shipment" }),
    };
    Ok(DocumentAttached {
        target,
        kind: word(f.required("kind", path)?, &path.key("kind"), DocumentKind::parse, DocumentKind::allowed())?,
        reference: text(f.required("ref", path)?, &path.key("ref"))?,
        digest: f.get("digest").map(|d| digest(d, &path.key("digest"))).transpose()?,
        issuer: opt_text(&f, "issuer", path)?,
    })
}

fn lot_consumed(data: &Json<'_>, path: &Path<'_>) -> Result<LotConsumed, ParseError> {
    let f = object(data, path, &["lot", "mass_g", "reason"])?;
    Ok(LotConsumed {
        lot: lot_id(f.required("lot", path)?, &path.key("lot"))?,
        mass_g: mass(f.required("mass_g", path)?, &path.key("mass_g"))?,
        reason: word(f.required("reason", path)?, &path.key("reason"), ConsumeReason::parse, ConsumeReason::allowed())?,
    })
}

fn lot_adjusted(data: &Json<'_>, path: &Path<'_>) -> Result<LotAdjusted, ParseError> {
    let f = object(data, path, &["lot", "delta_g", "reason"])?;
    let delta_path = path.key("delta_g");
    let max = i128::from(MASS_G_MAX);
    let delta = integer(f.required("delta_g", path)?, &delta_path, -max, max)?;
    if delta == 0 {
        return Err(ParseError::ZeroDelta { path: delta_path.render() });
    }
    Ok(LotAdjusted {
        lot: lot_id(f.required("lot", path)?, &path.key("lot"))?,
        delta_g: i64::try_from(delta).expect("the range check keeps delta within i64"),
        reason: text(f.required("reason", path)?, &path.key("reason"))?,
    })
}

fn hold(data: &Json<'_>, path: &Path<'_>) -> Result<(HoldTarget, String), ParseError> {
    let f = object(data, path, &["lot", "party", "reason"])?;
    let target = match (f.get("lot"), f.get("party")) {
        (Some(lot), None) => HoldTarget::Lot(lot_id(lot, &path.key("lot"))?),
        (None, Some(party)) => HoldTarget::Party(party_id(party, &path.key("party"))?),
        _ => return Err(ParseError::InvalidTarget { path: path.render(), options: "lot, party" }),
    };
    Ok((target, text(f.required("reason", path)?, &path.key("reason"))?))
}

fn event_corrected(data: &Json<'_>, path: &Path<'_>) -> Result<EventCorrected, ParseError> {
    let f = object(data, path, &["event", "reason", "note"])?;
    Ok(EventCorrected {
        event: uuid(f.required("event", path)?, &path.key("event"))?,
        reason: word(
            f.required("reason", path)?,
            &path.key("reason"),
            CorrectionReason::parse,
            CorrectionReason::allowed(),
        )?,
        note: opt_text(&f, "note", path)?,
    })
}
