//! The state as independently persisted entities: what a store writes at a checkpoint and reads back
//! at open, so that only the log after the checkpoint is replayed.
//!
//! Each entity has a key ([`EntityKey`], written as bytes by [`EntityKey::to_bytes`]) and a value: the
//! entity as compact JSON, fields in declaration order, maps and sets in key order, lists in their
//! order. The same state always gives the same bytes. The events map, which only grows, is kept in
//! chunks of [`EVENT_CHUNK_EVENTS`] events by position, so that a checkpoint rewrites only the chunks
//! that changed.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::EVENT_TYPES;
use crate::ids::{LotId, PartyId, ShipmentId, SiteId};
use crate::state::{EventRecord, State};

/// The number of positions one event chunk covers: [`EntityKey::EventChunk`]`(n)` holds the events at
/// positions `n * EVENT_CHUNK_EVENTS` to `(n + 1) * EVENT_CHUNK_EVENTS - 1`.
pub const EVENT_CHUNK_EVENTS: u64 = 4096;

/// The version of the entity encoding. A store that finds entities written under another version
/// rebuilds the state from the log instead of restoring them.
pub const ENTITY_FORMAT_VERSION: u32 = 1;

/// One independently persisted piece of the [`State`].
///
/// | key | bytes | value |
/// | --- | --- | --- |
/// | `EventChunk(n)` | `e:` and `n` as 8 bytes big-endian | the events at positions in chunk `n` |
/// | `Shipment(id)` | `h:` and the id | a [`ShipmentState`](crate::ShipmentState) |
/// | `Lot(id)` | `l:` and the id | a [`LotState`](crate::LotState) |
/// | `Party(id)` | `p:` and the id | a [`PartyState`](crate::PartyState) |
/// | `Site(id)` | `s:` and the id | a [`SiteState`](crate::SiteState) |
/// | `Totals` | `t:` | the [`MassTotals`](crate::MassTotals) |
///
/// Ids are written as their UTF-8 text. The variants are declared in the order of their prefixes, so
/// keys compare (`Ord`) exactly as their bytes do.
///
/// Values are compact JSON: struct fields in declaration order, maps and sets in key order, lists in
/// their order, so the same state always gives the same bytes. An event chunk is a list of
/// `{"id", "seq", "actor", "type", "corrections"}` in order of position; the events map only grows, so a
/// checkpoint rewrites only the chunks that changed (a correction rewrites its target's chunk too).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum EntityKey {
    /// The events whose position `seq` satisfies `seq / EVENT_CHUNK_EVENTS == n`.
    EventChunk(u64),
    Shipment(ShipmentId),
    Lot(LotId),
    Party(PartyId),
    Site(SiteId),
    /// The ledger's running [`MassTotals`](crate::MassTotals).
    Totals,
}

impl EntityKey {
    /// The chunk holding the event at position `seq`.
    pub fn event_chunk_of(seq: u64) -> EntityKey {
        EntityKey::EventChunk(seq / EVENT_CHUNK_EVENTS)
    }

    /// The key as bytes; see the table on [`EntityKey`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let (prefix, rest): (&[u8], &[u8]) = match self {
            EntityKey::EventChunk(n) => {
                let mut out = b"e:".to_vec();
                out.extend_from_slice(&n.to_be_bytes());
                return out;
            }
            EntityKey::Shipment(id) => (b"h:", id.as_str().as_bytes()),
            EntityKey::Lot(id) => (b"l:", id.as_str().as_bytes()),
            EntityKey::Party(id) => (b"p:", id.as_str().as_bytes()),
            EntityKey::Site(id) => (b"s:", id.as_str().as_bytes()),
            EntityKey::Totals => (b"t:", b""),
        };
        let mut out = Vec::with_capacity(prefix.len() + rest.len());
        out.extend_from_slice(prefix);
        out.extend_from_slice(rest);
        out
    }

    /// The key these bytes encode, or `None` when they encode none (an unknown prefix, an id that does
    /// not match its pattern, a chunk number that is not 8 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Option<EntityKey> {
        let (prefix, rest) = (bytes.get(..2)?, &bytes[2..]);
        let text = || std::str::from_utf8(rest).ok();
        Some(match prefix {
            b"e:" => EntityKey::EventChunk(u64::from_be_bytes(rest.try_into().ok()?)),
            b"h:" => EntityKey::Shipment(ShipmentId::new(text()?).ok()?),
            b"l:" => EntityKey::Lot(LotId::new(text()?).ok()?),
            b"p:" => EntityKey::Party(PartyId::new(text()?).ok()?),
            b"s:" => EntityKey::Site(SiteId::new(text()?).ok()?),
            b"t:" if rest.is_empty() => EntityKey::Totals,
            _ => return None,
        })
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityKey::EventChunk(n) => write!(f, "event chunk {n}"),
            EntityKey::Shipment(id) => write!(f, "shipment {id}"),
            EntityKey::Lot(id) => write!(f, "lot {id}"),
            EntityKey::Party(id) => write!(f, "party {id}"),
            EntityKey::Site(id) => write!(f, "site {id}"),
            EntityKey::Totals => f.write_str("mass totals"),
        }
    }
}

/// Why an entity could not be restored from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The bytes are not the encoding of the entity the key names.
    #[error("{key}: stored bytes do not decode: {message}")]
    Decode { key: EntityKey, message: String },
    /// An event chunk holds an event whose position belongs to another chunk.
    #[error("{key}: event {event} at position {seq} belongs to another chunk")]
    WrongChunk { key: EntityKey, event: Uuid, seq: u64 },
    /// An event chunk holds an event already restored from another chunk, or twice.
    #[error("{key}: event {event} is restored twice")]
    DuplicateEvent { key: EntityKey, event: Uuid },
}

/// One event of an event chunk.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkEvent {
    id: Uuid,
    seq: u64,
    actor: PartyId,
    #[serde(rename = "type")]
    type_name: String,
    corrections: Vec<Uuid>,
}

/// [`ChunkEvent`] as it is written: borrowed from the state rather than copied out of it. The same
/// fields in the same order, so the same bytes.
#[derive(Serialize)]
struct ChunkEventRef<'a> {
    id: &'a Uuid,
    seq: u64,
    actor: &'a PartyId,
    #[serde(rename = "type")]
    type_name: &'a str,
    corrections: &'a [Uuid],
}

/// Appends `value` as compact JSON; false (and nothing written) when there is none.
fn write_json<T: Serialize>(out: &mut Vec<u8>, value: Option<&T>) -> bool {
    let Some(value) = value else {
        return false;
    };
    // Serializing these plain structs (strings, integers, maps with string keys) cannot fail.
    serde_json::to_writer(out, value).expect("state entities serialize to JSON");
    true
}

fn from_json<'a, T: Deserialize<'a>>(key: &EntityKey, bytes: &'a [u8]) -> Result<T, RestoreError> {
    serde_json::from_slice(bytes).map_err(|e| RestoreError::Decode { key: key.clone(), message: e.to_string() })
}

impl State {
    /// Keys of the entities changed by [`apply`](crate::apply) or [`replay`](crate::replay) since the
    /// last call, sorted, without duplicates. A checkpoint writes [`State::entity_bytes`] of each (a key
    /// whose entity does not exist is to be deleted; the state never deletes one today).
    ///
    /// The set may name entities whose bytes did not change, never miss one that did. Until it is taken
    /// it grows up to the number of entities.
    pub fn take_dirty(&mut self) -> Vec<EntityKey> {
        let mut keys: Vec<EntityKey> = std::mem::take(&mut self.dirty).into_iter().collect();
        keys.sort();
        keys
    }

    /// Whether [`apply`](crate::apply) and [`replay`](crate::replay) record the entities they change
    /// for [`State::take_dirty`]; they do unless told otherwise. A store whose next checkpoint writes
    /// every entity anyway (its first) turns it off until then: recording costs an insert into a set
    /// that grows to every entity, for each change. Turning it off forgets what was recorded.
    pub fn track_changes(&mut self, on: bool) {
        self.untracked = !on;
        if !on {
            self.dirty = Default::default();
        }
    }

    /// The deterministic bytes of one entity (compact JSON, see [`EntityKey`]), or `None` if it does not
    /// exist.
    pub fn entity_bytes(&self, key: &EntityKey) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.write_entity(key, &mut out).then_some(out)
    }

    /// Appends the bytes [`State::entity_bytes`] gives for `key` to `out`, and returns whether the
    /// entity exists (when it does not, `out` is left as it was). A checkpoint writes many entities
    /// into one page; this spares it an allocation and a copy per entity.
    pub fn write_entity(&self, key: &EntityKey, out: &mut Vec<u8>) -> bool {
        match key {
            EntityKey::EventChunk(n) => {
                let Some(first) = n.checked_mul(EVENT_CHUNK_EVENTS) else {
                    return false;
                };
                let last = first + (EVENT_CHUNK_EVENTS - 1);
                let events: Vec<ChunkEventRef<'_>> = self
                    .event_index
                    .range((first, Uuid::nil())..=(last, Uuid::max()))
                    .filter_map(|(_, id)| {
                        let record = self.events.get(id)?;
                        Some(ChunkEventRef {
                            id,
                            seq: record.seq,
                            actor: &record.actor,
                            type_name: record.type_name,
                            corrections: &record.corrections,
                        })
                    })
                    .collect();
                !events.is_empty() && write_json(out, Some(&events))
            }
            EntityKey::Shipment(id) => write_json(out, self.shipments.get(id)),
            EntityKey::Lot(id) => write_json(out, self.lots.get(id)),
            EntityKey::Party(id) => write_json(out, self.parties.get(id)),
            EntityKey::Site(id) => write_json(out, self.sites.get(id)),
            EntityKey::Totals => write_json(out, Some(&self.totals)),
        }
    }

    /// Every existing entity's key, sorted (which is also the order of their bytes).
    pub fn entity_keys(&self) -> Vec<EntityKey> {
        let mut keys: Vec<EntityKey> = Vec::new();
        let mut chunk = None;
        for (seq, _) in &self.event_index {
            let n = seq / EVENT_CHUNK_EVENTS;
            if chunk != Some(n) {
                chunk = Some(n);
                keys.push(EntityKey::EventChunk(n));
            }
        }
        keys.extend(self.shipments.keys().map(|id| EntityKey::Shipment(id.clone())));
        keys.extend(self.lots.keys().map(|id| EntityKey::Lot(id.clone())));
        keys.extend(self.parties.keys().map(|id| EntityKey::Party(id.clone())));
        keys.extend(self.sites.keys().map(|id| EntityKey::Site(id.clone())));
        keys.push(EntityKey::Totals);
        keys
    }

    /// Restores one entity from the bytes [`State::entity_bytes`] gave for it. Used at open on a fresh
    /// state, entities in any order; restoring an entity again replaces it. Marks nothing dirty: what is
    /// restored is already stored.
    ///
    /// # Errors
    /// [`RestoreError`] naming the key, when the bytes do not decode as that entity or an event chunk
    /// holds events of other positions or events already restored.
    pub fn restore_entity(&mut self, key: &EntityKey, bytes: &[u8]) -> Result<(), RestoreError> {
        match key {
            EntityKey::EventChunk(n) => {
                let events: Vec<ChunkEvent> = from_json(key, bytes)?;
                let mut records = Vec::with_capacity(events.len());
                for e in events {
                    if e.seq / EVENT_CHUNK_EVENTS != *n {
                        return Err(RestoreError::WrongChunk { key: key.clone(), event: e.id, seq: e.seq });
                    }
                    let type_name = EVENT_TYPES.iter().copied().find(|t| *t == e.type_name).ok_or_else(|| {
                        RestoreError::Decode {
                            key: key.clone(),
                            message: format!("unknown event type {:?}", e.type_name),
                        }
                    })?;
                    records.push((
                        e.id,
                        EventRecord { seq: e.seq, actor: e.actor, type_name, corrections: e.corrections },
                    ));
                }
                // Restoring a chunk again replaces it.
                if let Some(first) = n.checked_mul(EVENT_CHUNK_EVENTS) {
                    let last = first + (EVENT_CHUNK_EVENTS - 1);
                    let old: Vec<(u64, Uuid)> =
                        self.event_index.range((first, Uuid::nil())..=(last, Uuid::max())).copied().collect();
                    for entry in old {
                        self.event_index.remove(&entry);
                        self.events.remove(&entry.1);
                    }
                }
                for (id, record) in records {
                    if self.events.contains_key(&id) {
                        return Err(RestoreError::DuplicateEvent { key: key.clone(), event: id });
                    }
                    self.event_index.insert((record.seq, id));
                    self.events.insert(id, record);
                }
            }
            EntityKey::Shipment(id) => {
                self.shipments.insert(id.clone(), from_json(key, bytes)?);
            }
            EntityKey::Lot(id) => {
                self.lots.insert(id.clone(), from_json(key, bytes)?);
            }
            EntityKey::Party(id) => {
                self.parties.insert(id.clone(), from_json(key, bytes)?);
            }
            EntityKey::Site(id) => {
                self.sites.insert(id.clone(), from_json(key, bytes)?);
            }
            EntityKey::Totals => self.totals = from_json(key, bytes)?,
        }
        Ok(())
    }
}

/// Serde for [`Material`](crate::Material), which the vocabulary defines without serde: `form`, then
/// `elements`, `grade` and `hs_code` when present.
pub(crate) mod material {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::vocab::{Element, Form, Material};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Repr {
        form: Form,
        #[serde(default)]
        elements: Option<Vec<Element>>,
        #[serde(default)]
        grade: Option<String>,
        #[serde(default)]
        hs_code: Option<String>,
    }

    /// [`Repr`] as it is written: borrowed from the material rather than cloned from it.
    #[derive(Serialize)]
    struct ReprRef<'a> {
        form: Form,
        #[serde(skip_serializing_if = "Option::is_none")]
        elements: Option<&'a [Element]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        grade: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        hs_code: Option<&'a str>,
    }

    pub(crate) fn serialize<S: Serializer>(m: &Material, serializer: S) -> Result<S::Ok, S::Error> {
        ReprRef {
            form: m.form,
            elements: m.elements.as_deref(),
            grade: m.grade.as_deref(),
            hs_code: m.hs_code.as_deref(),
        }
        .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Material, D::Error> {
        let r = Repr::deserialize(deserializer)?;
        Ok(Material { form: r.form, elements: r.elements, grade: r.grade, hs_code: r.hs_code })
    }
}

/// Serde for an optional site position: `{"lat": .., "lon": ..}` or `null`.
pub(crate) mod coordinates {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::vocab::{is_bounded_decimal, Coordinates};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Repr {
        lat: String,
        lon: String,
    }

    pub(crate) fn serialize<S: Serializer>(c: &Option<Coordinates>, serializer: S) -> Result<S::Ok, S::Error> {
        c.as_ref().map(|c| Repr { lat: c.lat.clone(), lon: c.lon.clone() }).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Coordinates>, D::Error> {
        let Some(r) = Option::<Repr>::deserialize(deserializer)? else {
            return Ok(None);
        };
        if !is_bounded_decimal(&r.lat, 90) || !is_bounded_decimal(&r.lon, 180) {
            return Err(serde::de::Error::custom(format!("invalid coordinates {:?}, {:?}", r.lat, r.lon)));
        }
        Ok(Some(Coordinates { lat: r.lat, lon: r.lon }))
    }
}

/// Serde for an optional public key: its base64 text or `null`.
pub(crate) mod public_key {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::crypto::{decode_base64, PublicKey};

    pub(crate) fn serialize<S: Serializer>(k: &Option<PublicKey>, serializer: S) -> Result<S::Ok, S::Error> {
        k.as_ref().map(PublicKey::to_base64).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<PublicKey>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let bytes = decode_base64(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("public key {text:?} is not base64")))?;
        PublicKey::from_slice(&bytes)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("public key {text:?}: {e}")))
    }
}
