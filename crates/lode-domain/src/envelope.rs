//! The envelope around every event, and its canonical form.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use uuid::Uuid;

use crate::crypto::Signature;
use crate::events::Event;
use crate::ids::{LotId, PartyId};
use crate::jcs::{self, Canon, ObjectBuilder};

/// One submitted event: who recorded what, when, under which expectations, possibly signed.
///
/// Made only by [`parse_event`](crate::parse_event) or [`parse_record`](crate::parse_record), so every
/// envelope passed all checks that need no ledger state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub(crate) id: Option<Uuid>,
    pub(crate) actor: PartyId,
    /// `occurred_at` exactly as written (validated), and its value.
    pub(crate) occurred_at_text: String,
    pub(crate) occurred_at: DateTime<FixedOffset>,
    pub(crate) expected: BTreeMap<LotId, u64>,
    /// Whether `expected` was written (possibly as `{}`), so the canonical form repeats it.
    pub(crate) expected_given: bool,
    pub(crate) signature: Option<Signature>,
    pub(crate) event: Event,
}

impl Envelope {
    /// The event's id, when the client gave one or the ledger assigned one.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// Sets the id; the ledger assigns a UUIDv7 to an event submitted without one. A signed event always
    /// carries its own id, and changing it would invalidate the signature.
    pub fn set_id(&mut self, id: Uuid) {
        self.id = Some(id);
    }

    /// The event's `type`, e.g. `custody.shipped`.
    pub fn type_name(&self) -> &'static str {
        self.event.type_name()
    }

    /// The party recording the event.
    pub fn actor(&self) -> &PartyId {
        &self.actor
    }

    /// When the event happened in the world.
    pub fn occurred_at(&self) -> DateTime<FixedOffset> {
        self.occurred_at
    }

    /// `occurred_at` exactly as written, with its original offset and precision.
    pub fn occurred_at_text(&self) -> &str {
        &self.occurred_at_text
    }

    /// The lot versions the client expects (lot id to version); empty when not given.
    pub fn expected(&self) -> &BTreeMap<LotId, u64> {
        &self.expected
    }

    /// The actor's signature, if the event is signed.
    pub fn signature(&self) -> Option<&Signature> {
        self.signature.as_ref()
    }

    /// The event and its data.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The RFC 8785 (JCS) canonical JSON of the whole envelope, `signature` included when present, with
    /// UUIDs in lower case. This is the form the ledger stores; identical content gives identical bytes.
    pub fn canonical_json(&self) -> Vec<u8> {
        self.canonical(true)
    }

    /// The canonical JSON of the envelope without `signature`: the bytes a signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        self.canonical(false)
    }

    fn canonical(&self, with_signature: bool) -> Vec<u8> {
        let expected = self.expected_given.then(|| {
            let mut map = ObjectBuilder::new();
            for (lot, version) in &self.expected {
                map = map.put_owned_key(lot.as_str().into(), Canon::Int(i128::from(*version)));
            }
            map.build()
        });
        let mut id_text = Uuid::encode_buffer();
        let id_text = self.id.map(|id| &*id.hyphenated().encode_lower(&mut id_text));
        let value = ObjectBuilder::new()
            .put_opt("id", id_text.map(Canon::str))
            .put("type", Canon::str(self.type_name()))
            .put("actor", Canon::str(self.actor.as_str()))
            .put("occurred_at", Canon::str(&self.occurred_at_text))
            .put_opt("expected", expected)
            .put("data", self.event.data_canon())
            .put_opt(
                "signature",
                self.signature.as_ref().filter(|_| with_signature).map(|s| Canon::owned(s.to_base64())),
            )
            .build();
        let mut out = Vec::with_capacity(512);
        jcs::write(&value, &mut out);
        out
    }
}
