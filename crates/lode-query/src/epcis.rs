//! GS1 EPCIS 2.0 exports: the ledger's events as a JSON-LD `EPCISDocument` that validates against
//! the GS1 JSON Schema. `docs/epcis.md` gives the mapping of every event type, the URIs and the
//! event ids; this module is its implementation, shared by `lode export epcis` and the server.
//!
//! [`document`] reads the log up to its durable head (and the ledger's state for the lot's ancestry,
//! shipments and master data) and answers an [`EpcisDocument`], which serializes with `serde_json`:
//!
//! ```no_run
//! # fn f(reader: &lode_store::Reader, ledger: &lode_projections::Ledger) -> Result<(), Box<dyn std::error::Error>> {
//! use lode_query::epcis::{document, EpcisOptions};
//! let options = EpcisOptions { lot: Some("JP-MAG-2025-0001".into()), ancestry: true, ..EpcisOptions::default() };
//! let doc = document(reader, ledger, &options)?;
//! let body: Vec<u8> = serde_json::to_vec(&doc)?;
//! # Ok(()) }
//! ```
//!
//! Quantities are kilograms written from integer grams as exact decimal text (`20000.000`). The
//! schema wants JSON numbers there, and a `serde_json::Value` holds a fraction only as an `f64`,
//! so the document is a typed struct whose masses serialize through `serde_json`'s `RawValue`: the
//! digits are written exactly as computed on integers, and no floating point is involved. (Turning
//! the document into a `serde_json::Value` would route them through `f64`; serialize it instead.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use lode_domain::{
    ConsumeReason, CorrectionReason, DocumentKind, DocumentTarget, Envelope, Event, HoldTarget, LotId, PartyId,
    Process, ShipmentId, SiteId, State,
};
use lode_projections::Ledger;
use lode_store::{Reader, Record};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::audit::{log_error, parse, Ancestry};
use crate::{render, ExportError, TRACE_LOTS_MAX};

/// Ids become URIs under this base unless told otherwise.
pub const DEFAULT_BASE_URI: &str = "https://id.lode.example/";

/// The namespace of Lode's extension fields and vocabulary (JSON-LD prefix `lode`).
pub const LODE_NAMESPACE: &str = "https://lode.example/ns/epcis/";

/// The GS1 EPCIS 2.0 JSON-LD context; `data/standards/epcis/epcis-context.jsonld` is a copy.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// The most events one document holds unless told otherwise.
pub const EPCIS_EVENTS_MAX: usize = 1_000_000;

/// The longest base URI accepted.
pub const BASE_URI_BYTES_MAX: usize = 512;

/// The base under which lot, party, site, shipment and document ids become URIs: an absolute
/// `http` or `https` URI without query or fragment, ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUri(String);

impl Default for BaseUri {
    fn default() -> Self {
        BaseUri(DEFAULT_BASE_URI.to_string())
    }
}

impl BaseUri {
    /// Checks a base URI; a missing final `/` is added, so that ids are path segments under it.
    ///
    /// # Errors
    /// [`ExportError::InvalidBaseUri`] naming what is wrong.
    pub fn parse(text: &str) -> Result<BaseUri, ExportError> {
        let bad = |why| ExportError::InvalidBaseUri { uri: text.to_string(), why };
        if text.len() > BASE_URI_BYTES_MAX {
            return Err(bad("longer than 512 bytes"));
        }
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(|| bad("must start with https:// or http://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("has no host"));
        }
        // RFC 3986 characters only; a query or fragment would swallow the ids appended to it.
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/@!$&'()*+,;=%".contains(c);
        if !rest.chars().all(allowed) {
            return Err(bad("may hold only URI characters, without '?', '#', spaces or quotes"));
        }
        let mut base = text.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(BaseUri(base))
    }

    /// The base as text, ending with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn under(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}/{}", self.0, percent_encode(id))
    }

    /// `<base>lot/<id>`.
    pub fn lot(&self, id: &str) -> String {
        self.under("lot", id)
    }

    /// `<base>party/<id>`.
    pub fn party(&self, id: &str) -> String {
        self.under("party", id)
    }

    /// `<base>site/<id>`.
    pub fn site(&self, id: &str) -> String {
        self.under("site", id)
    }

    /// `<base>shipment/<id>`.
    pub fn shipment(&self, id: &str) -> String {
        self.under("shipment", id)
    }

    /// `<base>document/<kind>/<reference>`.
    pub fn document(&self, kind: &str, reference: &str) -> String {
        format!("{}document/{kind}/{}", self.0, percent_encode(reference))
    }
}

/// Every byte outside RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) as `%XX`, so that
/// an id is always one path segment: lot ids may hold `:` and `/`, references anything.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The EPCIS `eventID` of a record: `ni:///blake3;` and its leaf hash (`docs/format.md` §2, the
/// Merkle leaf its inclusion proof starts from) in 64 lowercase hex digits.
pub fn event_id(record: &Record) -> String {
    format!("ni:///blake3;{}", record.leaf().to_hex())
}

/// Parses a time bound, naming it in the error.
///
/// # Errors
/// [`ExportError::InvalidTime`] when `text` is not an RFC 3339 date-time with offset.
pub fn parse_time(name: &'static str, text: &str) -> Result<DateTime<FixedOffset>, ExportError> {
    DateTime::parse_from_rfc3339(text).map_err(|_| ExportError::InvalidTime { name, text: text.to_string() })
}

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcisOptions {
    /// Only the events of this lot (with `ancestry`, of its ancestors too); every event when absent.
    pub lot: Option<String>,
    /// With `lot`: also its ancestors' events, each up to the transformation that made the lot from
    /// it, as the audit counts them.
    pub ancestry: bool,
    /// Only events that occurred at or after this time.
    pub from: Option<DateTime<FixedOffset>>,
    /// Only events that occurred before this time.
    pub to: Option<DateTime<FixedOffset>>,
    pub base: BaseUri,
    /// The most lots the ancestry may have; a larger one is refused, never cut.
    pub lots_max: usize,
    /// The most events the document may hold; a larger export is refused.
    pub events_max: usize,
}

impl Default for EpcisOptions {
    fn default() -> Self {
        EpcisOptions {
            lot: None,
            ancestry: false,
            from: None,
            to: None,
            base: BaseUri::default(),
            lots_max: TRACE_LOTS_MAX,
            events_max: EPCIS_EVENTS_MAX,
        }
    }
}

/// A mass in grams written as kilograms, an exact JSON number (see the [module](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kg(pub u64);

impl Serialize for Kg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(render::kg(u128::from(self.0)))
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// An `EPCISDocument`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EpcisDocument {
    #[serde(rename = "@context")]
    pub context: (&'static str, serde_json::Value),
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "schemaVersion")]
    pub schema_version: &'static str,
    /// The `recorded_at` of the last record of the log it was made from, so that the same log
    /// always gives the same document.
    #[serde(rename = "creationDate")]
    pub creation_date: String,
    #[serde(rename = "epcisHeader")]
    pub header: Header,
    #[serde(rename = "epcisBody")]
    pub body: Body,
    /// The log it was made from: enough to prove every event against a signed checkpoint.
    #[serde(rename = "lode:log")]
    pub log: LogInfo,
    /// What was asked for.
    #[serde(rename = "lode:selection")]
    pub selection: Selection,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Header {
    #[serde(rename = "epcisMasterData")]
    pub master_data: MasterData,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MasterData {
    #[serde(rename = "vocabularyList")]
    pub vocabularies: Vec<Vocabulary>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Vocabulary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "vocabularyElementList")]
    pub elements: Vec<VocabularyElement>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct VocabularyElement {
    pub id: String,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Attribute {
    pub id: String,
    pub attribute: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Body {
    #[serde(rename = "eventList")]
    pub events: Vec<EpcisEvent>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LogInfo {
    /// The number of records the document was made from (its durable head).
    #[serde(rename = "lode:size")]
    pub size: u64,
    /// The Merkle root of those records, hex (`docs/format.md` §6).
    #[serde(rename = "lode:merkleRoot")]
    pub merkle_root: String,
    /// The chain hash of the last of them, hex (`docs/format.md` §2).
    #[serde(rename = "lode:chainHead")]
    pub chain_head: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Selection {
    #[serde(rename = "lode:lot", skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(rename = "lode:ancestry")]
    pub ancestry: bool,
    #[serde(rename = "lode:from", skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "lode:to", skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(rename = "lode:baseURI")]
    pub base: String,
}

/// One EPCIS event: an ObjectEvent, a TransformationEvent or a TransactionEvent, with the fields
/// its mapping uses, then Lode's extension fields.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EpcisEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// `occurred_at` as written, unless its offset is outside EPCIS's ±14:00 (then in UTC).
    #[serde(rename = "eventTime")]
    pub event_time: String,
    #[serde(rename = "eventTimeZoneOffset")]
    pub event_time_zone_offset: String,
    /// The ledger's `recorded_at`.
    #[serde(rename = "recordTime")]
    pub record_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    #[serde(rename = "bizStep", skip_serializing_if = "Option::is_none")]
    pub biz_step: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<&'static str>,
    #[serde(rename = "quantityList", skip_serializing_if = "Option::is_none")]
    pub quantities: Option<Vec<Quantity>>,
    #[serde(rename = "inputQuantityList", skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<Quantity>>,
    #[serde(rename = "outputQuantityList", skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<Quantity>>,
    #[serde(rename = "readPoint", skip_serializing_if = "Option::is_none")]
    pub read_point: Option<Place>,
    #[serde(rename = "bizLocation", skip_serializing_if = "Option::is_none")]
    pub biz_location: Option<Place>,
    #[serde(rename = "bizTransactionList", skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<BizTransaction>,
    #[serde(rename = "sourceList", skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    #[serde(rename = "destinationList", skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ilmd: Option<Ilmd>,
    #[serde(rename = "errorDeclaration", skip_serializing_if = "Option::is_none")]
    pub error_declaration: Option<ErrorDeclaration>,
    /// The record's position in the log: `lode prove inclusion <seq>`.
    #[serde(rename = "lode:seq")]
    pub seq: u64,
    /// The Lode event id (the envelope's `id`).
    #[serde(rename = "lode:eventUUID")]
    pub uuid: String,
    /// The Lode event type, e.g. `custody.shipped`.
    #[serde(rename = "lode:eventType")]
    pub event_type: &'static str,
    /// The party that recorded it.
    #[serde(rename = "lode:actor")]
    pub actor: String,
    #[serde(flatten)]
    pub details: Details,
}

/// Lode's extension fields that only some event types carry.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Details {
    #[serde(rename = "lode:process", skip_serializing_if = "Option::is_none")]
    pub process: Option<&'static str>,
    #[serde(rename = "lode:additionsKg", skip_serializing_if = "Option::is_none")]
    pub additions: Option<Kg>,
    #[serde(rename = "lode:lossKg", skip_serializing_if = "Option::is_none")]
    pub loss: Option<Kg>,
    #[serde(rename = "lode:deltaKg", skip_serializing_if = "Option::is_none")]
    pub delta: Option<Kg>,
    #[serde(rename = "lode:shipment", skip_serializing_if = "Option::is_none")]
    pub shipment: Option<String>,
    #[serde(rename = "lode:carrier", skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(rename = "lode:lab", skip_serializing_if = "Option::is_none")]
    pub lab: Option<String>,
    #[serde(rename = "lode:oxidesPpm", skip_serializing_if = "Option::is_none")]
    pub oxides_ppm: Option<BTreeMap<String, u32>>,
    #[serde(rename = "lode:treoPpm", skip_serializing_if = "Option::is_none")]
    pub treo_ppm: Option<u32>,
    #[serde(rename = "lode:documentKind", skip_serializing_if = "Option::is_none")]
    pub document_kind: Option<&'static str>,
    #[serde(rename = "lode:digest", skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(rename = "lode:issuer", skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(rename = "lode:reason", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Quantity {
    #[serde(rename = "epcClass")]
    pub epc_class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Kg>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uom: Option<&'static str>,
}

impl Quantity {
    fn kg(lot: String, g: u64) -> Quantity {
        Quantity { epc_class: lot, quantity: Some(Kg(g)), uom: Some("KGM") }
    }

    /// A lot named without a quantity: the event concerns it whatever its mass then.
    fn lot(lot: String) -> Quantity {
        Quantity { epc_class: lot, quantity: None, uom: None }
    }
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Place {
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BizTransaction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "bizTransaction")]
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Source {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Destination {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub destination: String,
}

/// Instance/lot master data of the lots an event creates.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Ilmd {
    #[serde(rename = "lode:lots")]
    pub lots: Vec<LotMaterial>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LotMaterial {
    #[serde(rename = "lode:lot")]
    pub lot: String,
    #[serde(rename = "lode:form")]
    pub form: &'static str,
    #[serde(rename = "lode:elements", skip_serializing_if = "Option::is_none")]
    pub elements: Option<Vec<&'static str>>,
    #[serde(rename = "lode:grade", skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    #[serde(rename = "lode:hsCode", skip_serializing_if = "Option::is_none")]
    pub hs_code: Option<String>,
}

/// The corrections of an event: the first gives EPCIS's declaration time and reason; all of them,
/// corrections of corrections included, are listed.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ErrorDeclaration {
    #[serde(rename = "declarationTime")]
    pub declaration_time: String,
    pub reason: &'static str,
    #[serde(rename = "lode:corrections")]
    pub corrections: Vec<Correction>,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Correction {
    /// The `event.corrected` record's EPCIS event id (its leaf hash).
    #[serde(rename = "lode:eventID")]
    pub event_id: String,
    #[serde(rename = "lode:seq")]
    pub seq: u64,
    /// The event id of what it corrects: this event, or an earlier correction.
    #[serde(rename = "lode:corrects")]
    pub corrects: String,
    #[serde(rename = "lode:declarationTime")]
    pub declaration_time: String,
    #[serde(rename = "lode:reason")]
    pub reason: &'static str,
    #[serde(rename = "lode:note", skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(rename = "lode:actor")]
    pub actor: String,
}

/// A document known for a shipment: listed when shipping, or attached later.
#[derive(Debug, Clone)]
struct ShipmentDocument {
    seq: u64,
    kind: DocumentKind,
    reference: String,
}

/// What the mapping of one record needs besides the record.
struct Mapper<'a> {
    state: &'a State,
    reader: &'a Reader,
    base: &'a BaseUri,
    head: u64,
    /// Documents attached to shipments by `document.attached`, by shipment, in ledger order.
    attached: HashMap<ShipmentId, Vec<ShipmentDocument>>,
    /// The parties and sites the events name, for the master data.
    parties: BTreeSet<PartyId>,
    sites: BTreeSet<SiteId>,
}

/// The EPCIS document of the ledger's events, of one lot's, or of a lot's and its ancestors', as
/// `docs/epcis.md` maps them. Reads records up to the log's durable head.
///
/// # Errors
/// [`ExportError::EmptyLog`], [`ExportError::LotNotFound`], [`ExportError::TooManyLots`],
/// [`ExportError::TooManyEvents`], or [`ExportError::Log`] for a record that does not read.
pub fn document(reader: &Reader, ledger: &Ledger, options: &EpcisOptions) -> Result<EpcisDocument, ExportError> {
    let head = reader.head();
    if head.seq == 0 {
        return Err(ExportError::EmptyLog);
    }
    let last = reader.get(head.seq).map_err(|e| ExportError::from(log_error(head.seq, e)))?;
    let creation_date = last
        .as_ref()
        .map(|r| r.header().recorded_at.to_string())
        .ok_or(ExportError::Log { seq: head.seq, message: "the head record is missing".to_string() })?;
    let root = reader
        .merkle_root(head.seq)
        .ok_or(ExportError::Log { seq: head.seq, message: "the Merkle tree's nodes are missing".to_string() })?;
    let (events, header) = ledger.read(|state, _| -> Result<(Vec<EpcisEvent>, Header), ExportError> {
        let mut mapper = Mapper {
            state,
            reader,
            base: &options.base,
            head: head.seq,
            attached: attached_documents(state, reader, head.seq)?,
            parties: BTreeSet::new(),
            sites: BTreeSet::new(),
        };
        let mut events = Vec::new();
        let mut push = |mapper: &mut Mapper<'_>, record: &Record| -> Result<(), ExportError> {
            let (id, env) = parse(record)?;
            let at = env.occurred_at();
            if options.from.is_some_and(|from| at < from) || options.to.is_some_and(|to| at >= to) {
                return Ok(());
            }
            if let Some(event) = mapper.map(record, id, &env)? {
                if events.len() >= options.events_max {
                    return Err(ExportError::TooManyEvents { max: options.events_max });
                }
                events.push(event);
            }
            Ok(())
        };
        match &options.lot {
            None => {
                for record in reader.iter_from(1) {
                    let record = record.map_err(|e| log_error(0, e))?;
                    if record.seq > head.seq {
                        break;
                    }
                    push(&mut mapper, &record)?;
                }
            }
            Some(lot) => {
                for record in lot_records(state, reader, head.seq, lot, options, &mapper.attached)? {
                    push(&mut mapper, &record)?;
                }
            }
        }
        Ok((events, Header { master_data: mapper.master_data() }))
    })?;
    Ok(EpcisDocument {
        context: (EPCIS_CONTEXT, serde_json::json!({ "lode": LODE_NAMESPACE })),
        kind: "EPCISDocument",
        schema_version: "2.0",
        creation_date,
        header,
        body: Body { events },
        log: LogInfo { size: head.seq, merkle_root: root.to_hex(), chain_head: head.hash.to_hex() },
        selection: Selection {
            lot: options.lot.clone(),
            ancestry: options.ancestry,
            from: options.from.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            to: options.to.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            base: options.base.as_str().to_string(),
        },
    })
}

/// The documents attached to shipments by `document.attached` up to `head`, by shipment, in ledger
/// order. Neither the state nor the views keep their references, so they are read from the log at
/// the positions the state indexes.
fn attached_documents(
    state: &State,
    reader: &Reader,
    head: u64,
) -> Result<HashMap<ShipmentId, Vec<ShipmentDocument>>, ExportError> {
    let mut positions: Vec<u64> = state
        .events()
        .filter(|(_, r)| r.type_name == "document.attached" && r.seq <= head)
        .map(|(_, r)| r.seq)
        .collect();
    positions.sort_unstable();
    let mut attached: HashMap<ShipmentId, Vec<ShipmentDocument>> = HashMap::new();
    for seq in positions {
        let record = read(reader, seq)?;
        let (_, env) = parse(&record)?;
        if let Event::DocumentAttached(d) = env.event() {
            if let DocumentTarget::Shipment(shipment) = &d.target {
                attached.entry(shipment.clone()).or_default().push(ShipmentDocument {
                    seq,
                    kind: d.kind,
                    reference: d.reference.clone(),
                });
            }
        }
    }
    Ok(attached)
}

fn read(reader: &Reader, seq: u64) -> Result<Record, ExportError> {
    reader
        .get(seq)
        .map_err(|e| log_error(seq, e))?
        .ok_or_else(|| ExportError::Log { seq, message: "the record is missing".to_string() })
}

/// The records of a lot (and of its ancestors, each up to the transformation that made the lot from
/// it), and the `document.attached` records of the shipments among them, in log order.
fn lot_records(
    state: &State,
    reader: &Reader,
    head: u64,
    lot: &str,
    options: &EpcisOptions,
    attached: &HashMap<ShipmentId, Vec<ShipmentDocument>>,
) -> Result<Vec<Record>, ExportError> {
    let not_found = || ExportError::LotNotFound { lot: lot.to_string() };
    state.lot(lot).ok_or_else(not_found)?;
    let id = LotId::new(lot).map_err(|_| not_found())?;
    let lots: Vec<(LotId, u64)> = if options.ancestry {
        let ancestry = Ancestry::of(state, &id, options.lots_max);
        if ancestry.truncated {
            return Err(ExportError::TooManyLots { lot: lot.to_string(), max: options.lots_max });
        }
        ancestry.order.iter().map(|l| (l.clone(), ancestry.cutoff.get(l).copied().unwrap_or(u64::MAX))).collect()
    } else {
        vec![(id, u64::MAX)]
    };
    let mut positions = BTreeSet::new();
    for (l, cutoff) in &lots {
        positions.extend(reader.stream_positions(l.as_str()).into_iter().filter(|&s| s <= head && s <= *cutoff));
    }
    let mut records = Vec::with_capacity(positions.len());
    let mut documents = BTreeSet::new();
    for &seq in &positions {
        let record = read(reader, seq)?;
        let (_, env) = parse(&record)?;
        if let Event::CustodyShipped(s) = env.event() {
            documents.extend(attached.get(&s.shipment).into_iter().flatten().map(|d| d.seq));
        }
        records.push(record);
    }
    for seq in documents.difference(&positions) {
        records.push(read(reader, *seq)?);
    }
    records.sort_by_key(|r| r.seq);
    Ok(records)
}

/// `occurred_at` as EPCIS's `eventTime` and `eventTimeZoneOffset`. EPCIS allows offsets from
/// -14:00 to +14:00; a time written with another offset (RFC 3339 allows up to ±23:59) is given in
/// UTC instead, the same instant.
fn event_time(env: &Envelope) -> (String, String) {
    let at = env.occurred_at();
    let seconds = at.offset().local_minus_utc();
    if seconds.abs() <= 14 * 3600 {
        let sign = if seconds < 0 { '-' } else { '+' };
        let minutes = seconds.abs() / 60;
        (env.occurred_at_text().to_string(), format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60))
    } else {
        (at.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true), "+00:00".to_string())
    }
}

/// The CBV business transaction type of a document kind, or Lode's own type URI for kinds the CBV
/// has no type for.
fn transaction_type(kind: DocumentKind) -> String {
    match kind {
        DocumentKind::BillOfLading => "bol".to_string(),
        DocumentKind::Invoice => "inv".to_string(),
        DocumentKind::CertificateOfAnalysis => "testres".to_string(),
        other => format!("{LODE_NAMESPACE}btt/{}", other.as_str()),
    }
}

impl Mapper<'_> {
    fn party(&mut self, id: &PartyId) -> String {
        self.parties.insert(id.clone());
        self.base.party(id.as_str())
    }

    fn site(&mut self, id: &SiteId) -> Place {
        self.sites.insert(id.clone());
        Place { id: self.base.site(id.as_str()) }
    }

    fn document(&self, kind: DocumentKind, reference: &str) -> BizTransaction {
        BizTransaction { kind: transaction_type(kind), id: self.base.document(kind.as_str(), reference) }
    }

    fn sources(&mut self, party: &PartyId, site: &SiteId) -> Vec<Source> {
        let (party, site) = (self.party(party), self.site(site).id);
        vec![
            Source { kind: "owning_party", source: party.clone() },
            Source { kind: "possessing_party", source: party },
            Source { kind: "location", source: site },
        ]
    }

    fn destinations(&mut self, party: &PartyId, site: &SiteId) -> Vec<Destination> {
        let (party, site) = (self.party(party), self.site(site).id);
        vec![
            Destination { kind: "owning_party", destination: party.clone() },
            Destination { kind: "possessing_party", destination: party },
            Destination { kind: "location", destination: site },
        ]
    }

    /// The EPCIS event of a record, or `None` for the types that map to no event (`docs/epcis.md`).
    fn map(&mut self, record: &Record, id: Uuid, env: &Envelope) -> Result<Option<EpcisEvent>, ExportError> {
        let (event_time, event_time_zone_offset) = event_time(env);
        let own_id = event_id(record);
        let actor = self.party(env.actor());
        let mut e = EpcisEvent {
            kind: "ObjectEvent",
            event_id: own_id.clone(),
            event_time,
            event_time_zone_offset,
            record_time: record.header().recorded_at.to_string(),
            action: Some("OBSERVE"),
            biz_step: None,
            disposition: None,
            quantities: None,
            inputs: None,
            outputs: None,
            read_point: None,
            biz_location: None,
            transactions: Vec::new(),
            sources: Vec::new(),
            destinations: Vec::new(),
            ilmd: None,
            error_declaration: None,
            seq: record.seq,
            uuid: id.to_string(),
            event_type: env.type_name(),
            actor,
            details: Details::default(),
        };
        let base = self.base;
        // A hold on a party names no object; EPCIS has no event for it.
        if matches!(hold_target(env.event()), Some(HoldTarget::Party(_))) {
            return Ok(None);
        }
        match env.event() {
            // Registrations are master data (the document's header), and corrections are the
            // errorDeclaration of the event they correct.
            Event::PartyRegistered(_) | Event::SiteRegistered(_) | Event::EventCorrected(_) => return Ok(None),
            Event::LotExtracted(x) => {
                e.action = Some("ADD");
                e.biz_step = Some("commissioning");
                e.disposition = Some("active");
                e.quantities = Some(vec![Quantity::kg(base.lot(x.lot.as_str()), x.mass_g)]);
                e.read_point = Some(self.site(&x.site));
                e.biz_location = e.read_point.clone();
                e.ilmd = Some(Ilmd { lots: vec![material(base, &x.lot, &x.material)] });
                if let Some(permit) = &x.permit {
                    e.transactions.push(self.document(DocumentKind::Permit, permit));
                }
            }
            Event::LotAssayed(a) => {
                e.biz_step = Some("inspecting");
                e.quantities = Some(vec![Quantity::lot(base.lot(a.lot.as_str()))]);
                e.transactions.push(BizTransaction {
                    kind: "testres".to_string(),
                    id: base.document(DocumentKind::CertificateOfAnalysis.as_str(), &a.certificate),
                });
                e.details.lab = Some(self.party(&a.lab));
                e.details.oxides_ppm =
                    Some(a.oxides_ppm.iter().map(|(formula, ppm)| (formula.as_str().to_string(), *ppm)).collect());
                e.details.treo_ppm = a.treo_ppm;
            }
            Event::LotTransformed(t) => {
                e.kind = "TransformationEvent";
                e.action = None;
                e.biz_step = Some(match t.process {
                    Process::Split | Process::Repack => "repackaging",
                    _ => "commissioning",
                });
                e.disposition = Some("active");
                e.inputs = Some(t.inputs.iter().map(|i| Quantity::kg(base.lot(i.lot.as_str()), i.mass_g)).collect());
                e.outputs = Some(t.outputs.iter().map(|o| Quantity::kg(base.lot(o.lot.as_str()), o.mass_g)).collect());
                e.read_point = Some(self.site(&t.site));
                e.biz_location = e.read_point.clone();
                e.ilmd = Some(Ilmd { lots: t.outputs.iter().map(|o| material(base, &o.lot, &o.material)).collect() });
                e.details.process = Some(t.process.as_str());
                e.details.additions = t.additions_g.map(Kg);
                e.details.loss = t.loss_g.map(Kg);
            }
            Event::CustodyShipped(s) => {
                e.biz_step = Some("shipping");
                e.disposition = Some("in_transit");
                let shipped = self.state.shipment(s.shipment.as_str());
                e.quantities = Some(
                    s.lots
                        .iter()
                        .map(|lot| match shipped.and_then(|sh| sh.lots.get(lot)) {
                            Some(l) => Quantity::kg(base.lot(lot.as_str()), l.shipped_g),
                            None => Quantity::lot(base.lot(lot.as_str())),
                        })
                        .collect(),
                );
                e.read_point = Some(self.site(&s.from_site));
                e.sources = self.sources(env.actor(), &s.from_site);
                e.destinations = self.destinations(&s.to_party, &s.to_site);
                for d in s.documents.iter().flatten() {
                    e.transactions.push(self.document(d.kind, &d.reference));
                }
                // Documents attached to the shipment later belong to it too, where known.
                let later: Vec<(DocumentKind, String)> = self
                    .attached
                    .get(&s.shipment)
                    .into_iter()
                    .flatten()
                    .filter(|d| d.seq <= self.head)
                    .map(|d| (d.kind, d.reference.clone()))
                    .collect();
                for (kind, reference) in later {
                    e.transactions.push(self.document(kind, &reference));
                }
                e.details.shipment = Some(base.shipment(s.shipment.as_str()));
                e.details.carrier = s.carrier.as_ref().map(|c| self.party(c));
            }
            Event::CustodyReceived(r) => {
                e.biz_step = Some("receiving");
                e.disposition = Some("in_progress");
                e.quantities = Some(r.lots.iter().map(|l| Quantity::kg(base.lot(l.lot.as_str()), l.mass_g)).collect());
                if let Some(sh) = self.state.shipment(r.shipment.as_str()) {
                    let (shipper, from, to_party, to_site) =
                        (sh.shipper.clone(), sh.from_site.clone(), sh.to_party.clone(), sh.to_site.clone());
                    e.read_point = Some(self.site(&to_site));
                    e.biz_location = e.read_point.clone();
                    e.sources = self.sources(&shipper, &from);
                    e.destinations = self.destinations(&to_party, &to_site);
                }
                e.details.shipment = Some(base.shipment(r.shipment.as_str()));
            }
            Event::CustodyRejected(r) => {
                // The lots it returned are the record's streams: those still in transit then.
                e.disposition = Some("returned");
                let sh = self.state.shipment(r.shipment.as_str());
                let lots: Vec<Quantity> = record
                    .header()
                    .streams
                    .iter()
                    .map(|lot| match sh.and_then(|sh| sh.lots.get(*lot)) {
                        Some(l) => Quantity::kg(base.lot(lot), l.shipped_g),
                        None => Quantity::lot(base.lot(lot)),
                    })
                    .collect();
                e.quantities = Some(lots);
                if let Some(from) = sh.map(|sh| sh.from_site.clone()) {
                    e.read_point = Some(self.site(&from));
                    e.biz_location = e.read_point.clone();
                }
                e.details.shipment = Some(base.shipment(r.shipment.as_str()));
                e.details.reason = Some(r.reason.clone());
            }
            Event::LotMoved(m) => {
                e.biz_step = Some("transporting");
                e.quantities = Some(vec![Quantity::lot(base.lot(m.lot.as_str()))]);
                e.read_point = Some(self.site(&m.to_site));
                e.biz_location = e.read_point.clone();
            }
            Event::DocumentAttached(d) => {
                e.kind = "TransactionEvent";
                e.action = Some("ADD");
                e.transactions.push(self.document(d.kind, &d.reference));
                let lots: Vec<Quantity> = match &d.target {
                    DocumentTarget::Lot(lot) => vec![Quantity::lot(base.lot(lot.as_str()))],
                    DocumentTarget::Shipment(s) => {
                        e.details.shipment = Some(base.shipment(s.as_str()));
                        self.state
                            .shipment(s.as_str())
                            .map(|sh| sh.lots.keys().map(|l| Quantity::lot(base.lot(l.as_str()))).collect())
                            .unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                if lots.is_empty() {
                    // A TransactionEvent must name an object; a target without lots names none.
                    return Ok(None);
                }
                e.quantities = Some(lots);
                e.details.document_kind = Some(d.kind.as_str());
                e.details.digest = d.digest.as_ref().map(|x| x.as_str().to_string());
                e.details.issuer = d.issuer.clone();
            }
            Event::LotConsumed(c) => {
                e.action = Some("DELETE");
                let (step, disposition) = match c.reason {
                    ConsumeReason::Destroyed => ("destroying", Some("destroyed")),
                    ConsumeReason::Sample => ("sampling", None),
                    ConsumeReason::Lost => ("decommissioning", Some("unknown")),
                    _ => ("decommissioning", Some("inactive")),
                };
                e.biz_step = Some(step);
                e.disposition = disposition;
                e.quantities = Some(vec![Quantity::kg(base.lot(c.lot.as_str()), c.mass_g)]);
                e.details.reason = Some(c.reason.as_str().to_string());
            }
            Event::LotAdjusted(a) => {
                e.action = Some(if a.delta_g > 0 { "ADD" } else { "DELETE" });
                e.biz_step = Some("stock_taking");
                e.quantities = Some(vec![Quantity::kg(base.lot(a.lot.as_str()), a.delta_g.unsigned_abs())]);
                e.details.reason = Some(a.reason.clone());
            }
            Event::HoldPlaced(h) => {
                e.biz_step = Some("holding");
                e.disposition = Some("unavailable");
                e.quantities = hold_lot(base, &h.target);
                e.details.reason = Some(h.reason.clone());
            }
            Event::HoldReleased(h) => {
                e.biz_step = Some("holding");
                e.disposition = Some("available");
                e.quantities = hold_lot(base, &h.target);
                e.details.reason = Some(h.reason.clone());
            }
            _ => return Ok(None),
        }
        e.error_declaration = self.error_declaration(id, &own_id)?;
        Ok(Some(e))
    }

    /// The corrections of event `id`, and of those corrections, breadth first.
    fn error_declaration(&mut self, id: Uuid, own_id: &str) -> Result<Option<ErrorDeclaration>, ExportError> {
        let Some(corrected) = self.state.event(&id) else {
            return Ok(None);
        };
        let mut queue: std::collections::VecDeque<(Uuid, String)> =
            corrected.corrections.iter().map(|c| (*c, own_id.to_string())).collect();
        let mut seen = BTreeSet::new();
        let mut corrections = Vec::new();
        while let Some((cid, corrects)) = queue.pop_front() {
            let Some(c) = self.state.event(&cid).filter(|c| c.seq <= self.head) else {
                continue;
            };
            if !seen.insert(cid) {
                continue;
            }
            let record = read(self.reader, c.seq)?;
            let (_, env) = parse(&record)?;
            let Event::EventCorrected(ec) = env.event() else {
                continue;
            };
            let correction_id = event_id(&record);
            queue.extend(c.corrections.iter().map(|cc| (*cc, correction_id.clone())));
            corrections.push(Correction {
                event_id: correction_id,
                seq: c.seq,
                corrects,
                declaration_time: env.occurred_at_text().to_string(),
                reason: reason(ec.reason),
                note: ec.note.clone(),
                actor: self.party(env.actor()),
            });
        }
        Ok(corrections.first().map(|first| ErrorDeclaration {
            declaration_time: first.declaration_time.clone(),
            reason: first.reason,
            corrections: corrections.clone(),
        }))
    }

    /// The sites and parties the events named, with their registrations, as EPCIS master data.
    fn master_data(&mut self) -> MasterData {
        // A site's operator is master data of the site, so it is listed among the parties too.
        let operators: Vec<PartyId> =
            self.sites.iter().filter_map(|s| self.state.site(s.as_str())).map(|s| s.party.clone()).collect();
        self.parties.extend(operators);
        let mda = |name: &str| format!("urn:epcglobal:cbv:mda#{name}");
        let ours = |name: &str| format!("{LODE_NAMESPACE}{name}");
        let attr = |id: String, attribute: String| Attribute { id, attribute };
        let sites = self
            .sites
            .iter()
            .filter_map(|id| self.state.site(id.as_str()).map(|s| (id, s)))
            .map(|(id, s)| {
                let mut attributes =
                    vec![attr(mda("name"), s.name.clone()), attr(mda("countryCode"), s.country.to_string())];
                if let Some(c) = &s.coordinates {
                    // As the decimal text registered: exact, no floating point.
                    attributes.push(attr(mda("latitude"), c.lat.clone()));
                    attributes.push(attr(mda("longitude"), c.lon.clone()));
                }
                attributes.push(attr(ours("siteKind"), s.kind.to_string()));
                attributes.push(attr(ours("operator"), self.base.party(s.party.as_str())));
                VocabularyElement { id: self.base.site(id.as_str()), attributes }
            })
            .collect();
        let parties = self
            .parties
            .iter()
            .filter_map(|id| self.state.party(id.as_str()).map(|p| (id, p)))
            .map(|(id, p)| {
                let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
                VocabularyElement {
                    id: self.base.party(id.as_str()),
                    attributes: vec![
                        attr(mda("name"), p.name.clone()),
                        attr(mda("countryCode"), p.country.to_string()),
                        attr(ours("roles"), roles.join(" ")),
                    ],
                }
            })
            .collect();
        MasterData {
            vocabularies: vec![
                Vocabulary { kind: "urn:epcglobal:epcis:vtype:BusinessLocation", elements: sites },
                Vocabulary { kind: "urn:epcglobal:epcis:vtype:SourceDest", elements: parties },
            ],
        }
    }
}

fn hold_target(event: &Event) -> Option<&HoldTarget> {
    match event {
        Event::HoldPlaced(h) => Some(&h.target),
        Event::HoldReleased(h) => Some(&h.target),
        _ => None,
    }
}

fn hold_lot(base: &BaseUri, target: &HoldTarget) -> Option<Vec<Quantity>> {
    match target {
        HoldTarget::Lot(lot) => Some(vec![Quantity::lot(base.lot(lot.as_str()))]),
        _ => None,
    }
}

fn reason(r: CorrectionReason) -> &'static str {
    match r {
        CorrectionReason::DidNotOccur => "did_not_occur",
        _ => "incorrect_data",
    }
}

fn material(base: &BaseUri, lot: &LotId, m: &lode_domain::Material) -> LotMaterial {
    LotMaterial {
        lot: base.lot(lot.as_str()),
        form: m.form.as_str(),
        elements: m.elements.as_ref().map(|e| e.iter().map(|x| x.as_str()).collect()),
        grade: m.grade.clone(),
        hs_code: m.hs_code.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn envelope(at: &str) -> Envelope {
        let event = format!(
            r#"{{"type":"hold.placed","actor":"op","occurred_at":"{at}","data":{{"party":"x","reason":"check"}}}}"#
        );
        lode_domain::parse_event(event.as_bytes()).unwrap()
    }

    #[test]
    fn event_times_keep_their_offset_within_epcis_range_and_go_to_utc_beyond() {
        let cases = [
            ("2025-03-10T07:00:00Z", "2025-03-10T07:00:00Z", "+00:00"),
            ("2025-03-10T07:00:00.5+07:00", "2025-03-10T07:00:00.5+07:00", "+07:00"),
            ("2025-03-10T07:00:00-09:30", "2025-03-10T07:00:00-09:30", "-09:30"),
            ("2025-03-10T07:00:00+14:00", "2025-03-10T07:00:00+14:00", "+14:00"),
            ("2025-03-10T07:00:00-00:00", "2025-03-10T07:00:00-00:00", "+00:00"),
            // Beyond ±14:00: the same instant in UTC.
            ("2025-03-10T07:00:00.123456789+15:30", "2025-03-09T15:30:00.123456789Z", "+00:00"),
            ("2025-03-10T07:00:00-23:59", "2025-03-11T06:59:00Z", "+00:00"),
        ];
        for (written, time, offset) in cases {
            assert_eq!(event_time(&envelope(written)), (time.to_string(), offset.to_string()), "{written}");
        }
    }

    #[test]
    fn ids_are_one_percent_encoded_path_segment() {
        assert_eq!(percent_encode("VN-NDPR-2025-0001"), "VN-NDPR-2025-0001");
        assert_eq!(percent_encode("a:b/c d~e_f.g"), "a%3Ab%2Fc%20d~e_f.g");
        assert_eq!(percent_encode("Ü"), "%C3%9C");
        let base = BaseUri::default();
        assert_eq!(base.site("vn-laichau-mine"), "https://id.lode.example/site/vn-laichau-mine");
        assert_eq!(
            base.document("bill_of_lading", "B/L 7"),
            "https://id.lode.example/document/bill_of_lading/B%2FL%207"
        );
    }

    #[test]
    fn kilograms_are_written_digit_for_digit() {
        let text = serde_json::to_string(&[Kg(1), Kg(21_862_060), Kg(1_000_000_000_000)]).unwrap();
        assert_eq!(text, "[0.001,21862.060,1000000000.000]");
    }
}
