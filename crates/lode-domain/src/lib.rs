//! The custody vocabulary of Lode: the events of the chain of custody of rare-earth oxide lots, their
//! strict parsing, the rules they must pass and their effects.
//!
//! - [`parse_event`] turns one submitted JSON object into an [`Envelope`] (an [`Event`] with its actor,
//!   time, expected lot versions and signature), refusing with a [`ParseError`] everything that can be
//!   refused without the ledger's state. [`Envelope::canonical_json`] is the RFC 8785 form the ledger
//!   stores; [`Envelope::signing_bytes`] is what a signature covers.
//! - [`decide`] checks an envelope against the [`State`] and returns [`Accepted`] (the lots whose version
//!   it increments, and audit [`Finding`]s) or a [`Rejection`]. It never mutates.
//! - [`apply`] then applies the accepted event to the [`State`]; it cannot fail. [`replay`] rebuilds
//!   the state from events already in the ledger without checking the rules again.
//!
//! The crate does no I/O and reads no clock and no randomness: time and ids come in through [`Context`].
//! There is no floating point: masses are integer grams, shares integer parts per million.
//!
//! ```
//! use lode_domain::{apply, decide, parse_event, Context, State};
//!
//! let mut envelope = parse_event(br#"{
//!     "type": "party.registered",
//!     "actor": "lode-op",
//!     "occurred_at": "2024-03-02T08:00:00Z",
//!     "data": {"party": "lode-op", "name": "Lode operations", "roles": ["operator"], "country": "CH"}
//! }"#)?;
//! // The ledger assigns an id to an event submitted without one.
//! let id = uuid::Uuid::from_u128(0x0193a1f2_7c3e_7b8a_9d2e_4f5a6b7c8d9e);
//! envelope.set_id(id);
//! let ctx = Context { event_id: id, seq: 0, recorded_at: "2024-03-02T08:00:01Z".parse()? };
//!
//! let mut state = State::default();
//! let accepted = decide(&state, &envelope, &ctx)?;
//! apply(&mut state, &envelope, &accepted, &ctx);
//! assert!(state.party("lode-op").is_some());
//!
//! // The same party again is refused, with a stable code.
//! let again = Context { event_id: uuid::Uuid::from_u128(2), seq: 1, ..ctx };
//! let mut envelope = envelope.clone();
//! envelope.set_id(again.event_id);
//! assert_eq!(decide(&state, &envelope, &again).expect_err("registered twice").code(), "party_exists");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod crypto;
mod entity;
mod envelope;
mod events;
mod ids;
mod jcs;
mod json;
mod parse;
mod rules;
pub mod scenario;
mod state;
mod vocab;

pub use crypto::{decode_base64, encode_base64, PublicKey, Signature};
pub use entity::{EntityKey, RestoreError, ENTITY_FORMAT_VERSION, EVENT_CHUNK_EVENTS};
pub use envelope::Envelope;
pub use events::{
    CustodyReceived, CustodyRejected, CustodyShipped, DocumentAttached, DocumentRef, DocumentTarget, Event,
    EventCorrected, HoldPlaced, HoldReleased, HoldTarget, LotAdjusted, LotAssayed, LotConsumed, LotExtracted, LotMoved,
    LotTransformed, PartyRegistered, ReceivedLot, SiteRegistered, TransformInput, TransformOutput, EVENT_TYPES,
};
pub use ids::{IdError, LotId, PartyId, ShipmentId, SiteId};
pub use parse::{
    parse_event, parse_record, ParseError, EVENT_BYTES_MAX, MASS_G_MAX, PPM_MAX, RECORD_BYTES_MAX, VERSION_MAX,
};
pub use rules::{
    decide, transit_difference_is_finding, Accepted, Context, Finding, Rejection, FUTURE_TOLERANCE_SECONDS,
    TRANSIT_DIFFERENCE_PER_MILLE_MAX,
};
pub use state::{
    apply, replay, transformation_stage, EventRecord, Hold, LotLink, LotState, MassTotals, PartyState, ShipmentState,
    ShippedLot, ShippedLotStatus, SiteState, StageRecord, State,
};
pub use vocab::{
    ConsumeReason, Coordinates, CorrectionReason, Country, Digest, DocumentKind, Element, Form, LotStatus, Material,
    OxideFormula, Process, Role, SiteKind, Stage,
};

/// The version of the vocabulary this crate implements. Later versions may add event types and
/// optional fields, never change the meaning of what exists.
pub const VOCABULARY_VERSION: u32 = 1;
