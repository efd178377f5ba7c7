//! `lode-projections`: the ledger's state derived from the log.
//!
//! [`Ledger`] is the [`lode_store::Gate`] of a Lode ledger. Inside the store's writer it checks
//! each event against the custody rules of `lode-domain` (`decide`) and applies it (`apply`), so
//! that rules and appends are one atomic step; it also keeps the views users ask about (lot
//! state, origin, inventory, custody chains, lineage: [`view::Views`]). Both are persisted as
//! pages at checkpoints (every [`CHECKPOINT_EVENTS`] events and at close) and restored at open,
//! after which only the log's tail is replayed. [`Ledger::digest`] hashes every page, so a live
//! ledger and one rebuilt from the log alone can be compared byte for byte.
//!
//! ```
//! use lode_projections::Ledger;
//! use lode_store::{Options, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let ledger = Ledger::default();
//! let store = Store::open(dir.path(), Options::default(), ledger.clone()).unwrap();
//! let mut env = lode_domain::parse_event(br#"{"type":"party.registered","actor":"op",
//!   "occurred_at":"2024-03-02T08:00:00Z","data":{"party":"op","name":"Operator","roles":["operator"],"country":"KR"}}"#).unwrap();
//! let id = uuid::Uuid::now_v7();
//! env.set_id(id);
//! let ev = lode_store::NewEvent { id, event: env.canonical_json(), expected: vec![], payload: env };
//! assert!(store.append(vec![ev]).unwrap().stopped.is_none());
//! assert!(ledger.read(|state, _| state.party("op").is_some()));
//! ```

pub mod view;

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use lode_domain::{apply, decide, parse_record, replay, Context, EntityKey, Envelope, Rejection, State};
use lode_store::{Candidate, Gate, NewEvent, Page, Record};

use crate::view::{ViewKey, Views};

/// Events between two checkpoints of the derived state, at most (besides the one at close).
pub const CHECKPOINT_EVENTS: u64 = 500_000;

/// The derived state is stored in this many pages; each entity lives in the page its key hashes
/// to. sled's cost is per key, so a few thousand pages beat one key per entity by far (measured:
/// 65,536 pages doubled peak memory at a million events); a checkpoint rewrites only the pages
/// whose entities changed.
pub const PAGES: u16 = 4096;

/// Page key prefix.
const PAGE_PREFIX: u8 = b'p';
/// The version of the page encoding.
const PAGE_VERSION: u8 = 1;

/// Page key prefix of the rules' state.
const DOMAIN_PREFIX: u8 = b'd';
/// Page key prefix of the views.
const VIEW_PREFIX: u8 = b'v';

/// The state derived from the log.
#[derive(Debug)]
struct Derived {
    state: State,
    views: Views,
    position: u64,
    since_checkpoint: u64,
    /// Nothing persisted yet: the next checkpoint writes every page, so that entities that
    /// never changed from their initial value (such as zero totals) are stored too. Until then
    /// the state and the views do not track which entities change (see `Derived::set_stored`).
    stored: bool,
}

impl Default for Derived {
    fn default() -> Self {
        let mut d = Derived {
            state: State::default(),
            views: Views::default(),
            position: 0,
            since_checkpoint: 0,
            stored: true,
        };
        d.set_stored(false);
        d
    }
}

/// The custody rules, the state they check against and the views, shared between the store's
/// writer (which updates them) and readers (which read them under a lock).
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    inner: Arc<RwLock<Derived>>,
}

impl Ledger {
    /// Reads the rules' state and the views, consistently.
    pub fn read<T>(&self, f: impl FnOnce(&State, &Views) -> T) -> T {
        let d = self.inner.read().expect("ledger lock");
        f(&d.state, &d.views)
    }

    /// [`Ledger::read`], also handing over the log position the state reflects.
    pub fn read_at<T>(&self, f: impl FnOnce(u64, &State, &Views) -> T) -> T {
        let d = self.inner.read().expect("ledger lock");
        f(d.position, &d.state, &d.views)
    }

    /// The log position the derived state reflects.
    pub fn position(&self) -> u64 {
        self.inner.read().expect("ledger lock").position
    }

    /// Derives the state from every record of the log, in memory, without touching what the
    /// store persisted: the reference a live ledger's state is compared with.
    ///
    /// # Errors
    /// A record that cannot be read or replayed, with its position.
    pub fn from_log(reader: &lode_store::Reader) -> Result<Ledger, String> {
        let mut ledger = Ledger::default();
        for rec in reader.iter_from(1) {
            let rec = rec.map_err(|e| e.to_string())?;
            Gate::replay(&mut ledger, &rec).map_err(|e| format!("position {}: {e}", rec.seq))?;
        }
        Ok(ledger)
    }

    /// BLAKE3 over every entity of the derived state, in key order: the same for a live ledger
    /// and one rebuilt from its log.
    pub fn digest(&self) -> lode_store::Hash {
        let d = self.inner.read().expect("ledger lock");
        let mut entities = d.all_entities();
        entities.sort();
        digest_entities(entities.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
    }
}

impl Derived {
    /// Every entity of the rules' state and of the views: (prefixed key, bytes).
    fn all_entities(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for k in self.state.entity_keys() {
            if let Some(v) = self.state.entity_bytes(&k) {
                out.push((domain_key(&k), v));
            }
        }
        for k in self.views.entity_keys() {
            if let Some(v) = self.views.entity_bytes(&self.state, &k) {
                out.push((view_key(&k), v));
            }
        }
        out
    }

    /// Whether the derived state was persisted. Until it is, the next checkpoint writes every
    /// entity, so tracking which changed would only cost (an insert into a set growing to every
    /// entity, for each change: a large part of applying an event during an import).
    fn set_stored(&mut self, stored: bool) {
        self.stored = stored;
        self.state.track_changes(stored);
        self.views.track_changes(stored);
    }

    /// Appends the bytes of an entity to `out`; false (and nothing written) when it does not exist.
    fn write_entity(&self, key: &AnyKey, out: &mut Vec<u8>) -> bool {
        match key {
            AnyKey::Domain(k) => self.state.write_entity(k, out),
            AnyKey::View(k) => self.views.write_entity(&self.state, k, out),
        }
    }
}

/// The key of an entity of the rules' state or of the views.
#[derive(Debug)]
enum AnyKey {
    Domain(EntityKey),
    View(ViewKey),
}

impl AnyKey {
    /// The key a prefixed entity key of a page names, or `None` when it names none.
    fn from_prefixed(key: &[u8]) -> Option<AnyKey> {
        match key.split_first() {
            Some((&DOMAIN_PREFIX, rest)) => EntityKey::from_bytes(rest).map(AnyKey::Domain),
            Some((&VIEW_PREFIX, rest)) => ViewKey::from_bytes(rest).map(AnyKey::View),
            _ => None,
        }
    }
}

/// The page an entity is stored in: the first two bytes of the BLAKE3 hash of its key, modulo
/// [`PAGES`].
fn page_of(entity_key: &[u8]) -> u16 {
    let h = blake3::hash(entity_key);
    u16::from_be_bytes([h.as_bytes()[0], h.as_bytes()[1]]) % PAGES
}

fn page_key(page: u16) -> Vec<u8> {
    let mut k = vec![PAGE_PREFIX];
    k.extend(page.to_be_bytes());
    k
}

/// A page: its version, then for each entity in key order: key length (u32 BE), key, value
/// length (u32 BE), value. The values are written straight into the page; `None` when none of
/// the keys names an existing entity (the page is to be deleted).
fn encode_page<'k>(d: &Derived, entities: impl IntoIterator<Item = (&'k [u8], &'k AnyKey)>) -> Option<Vec<u8>> {
    let mut out = vec![PAGE_VERSION];
    for (k, key) in entities {
        let start = out.len();
        out.extend((k.len() as u32).to_be_bytes());
        out.extend(k);
        let value_at = out.len() + 4;
        out.extend([0; 4]);
        if d.write_entity(key, &mut out) {
            let len = (out.len() - value_at) as u32;
            out[value_at - 4..value_at].copy_from_slice(&len.to_be_bytes());
        } else {
            out.truncate(start);
        }
    }
    (out.len() > 1).then_some(out)
}

/// An entity as stored in a page: (prefixed key, bytes).
type Entry<'a> = (&'a [u8], &'a [u8]);

fn decode_page(page: &[u8]) -> Result<Vec<Entry<'_>>, &'static str> {
    let (&version, mut rest) = page.split_first().ok_or("an empty page")?;
    if version != PAGE_VERSION {
        return Err("a page of another version");
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut field = || -> Result<&[u8], &'static str> {
            let len = rest.get(..4).ok_or("a truncated page")?;
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
            let v = rest.get(4..4 + len).ok_or("a truncated page")?;
            rest = &rest[4 + len..];
            Ok(v)
        };
        let k = field()?;
        let v = field()?;
        out.push((k, v));
    }
    Ok(out)
}

/// The digest of the derived state as stored: the entities of every page, in key order.
///
/// # Errors
/// A page that does not decode.
pub fn digest_stored_pages(pages: &[(Vec<u8>, Vec<u8>)]) -> Result<lode_store::Hash, String> {
    let mut entities = Vec::new();
    for (k, v) in pages {
        entities.extend(decode_page(v).map_err(|e| format!("page {k:?}: {e}"))?);
    }
    entities.sort();
    Ok(digest_entities(entities))
}

/// The digest of entities given in key order: BLAKE3 over, for each, the key's length (u32 BE),
/// the key, the value's length (u32 BE) and the value.
pub fn digest_entities<'a>(pages: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> lode_store::Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"lode projections v1\0");
    for (k, v) in pages {
        h.update(&(k.len() as u32).to_be_bytes());
        h.update(k);
        h.update(&(v.len() as u32).to_be_bytes());
        h.update(v);
    }
    lode_store::Hash(*h.finalize().as_bytes())
}

/// Parses one submitted event and prepares it for the store: the ledger assigns a UUIDv7 to an
/// event without an id, and stores the canonical form.
///
/// # Errors
/// The event's [`lode_domain::ParseError`].
pub fn prepare_event(bytes: &[u8]) -> Result<NewEvent<Envelope>, lode_domain::ParseError> {
    prepare_event_with(bytes, uuid::Uuid::now_v7)
}

/// [`prepare_event`] with the id an event without one gets taken from `assign`.
///
/// # Errors
/// The event's [`lode_domain::ParseError`].
pub fn prepare_event_with(
    bytes: &[u8],
    assign: impl FnOnce() -> uuid::Uuid,
) -> Result<NewEvent<Envelope>, lode_domain::ParseError> {
    let mut env = lode_domain::parse_event(bytes)?;
    let id = match env.id() {
        Some(id) => id,
        None => {
            let id = assign();
            env.set_id(id);
            id
        }
    };
    let expected = env.expected().iter().map(|(lot, v)| (lot.to_string(), *v)).collect();
    Ok(NewEvent { id, event: env.canonical_json(), expected, payload: env })
}

fn domain_key(k: &EntityKey) -> Vec<u8> {
    let mut out = vec![DOMAIN_PREFIX];
    out.extend(k.to_bytes());
    out
}

fn view_key(k: &ViewKey) -> Vec<u8> {
    let mut out = vec![VIEW_PREFIX];
    out.extend(k.to_bytes());
    out
}

fn context(record: &Record) -> Result<(Envelope, Context), Box<dyn Error + Send + Sync>> {
    let header = record.header();
    let env = parse_record(header.event)?;
    let recorded_at: DateTime<Utc> = DateTime::parse_from_rfc3339(header.recorded_at)?.with_timezone(&Utc);
    Ok((env, Context { event_id: header.id, seq: header.seq, recorded_at }))
}

impl Gate for Ledger {
    type Payload = Envelope;
    type Rejection = Rejection;

    fn position(&self) -> u64 {
        self.position()
    }

    fn replay(&mut self, record: &Record) -> Result<(), Box<dyn Error + Send + Sync>> {
        // Records were checked when they were appended: rebuild without checking the rules again,
        // so that a rebuild never depends on rules or keys that changed later.
        let (env, ctx) = context(record)?;
        let mut d = self.inner.write().expect("ledger lock");
        let d = &mut *d;
        let accepted = replay(&mut d.state, &env, &ctx);
        d.views.apply(&d.state, &env, &accepted, &ctx);
        d.position = record.seq;
        d.since_checkpoint += 1;
        Ok(())
    }

    fn admit(&mut self, candidate: &Candidate, env: Envelope) -> Result<Vec<String>, Rejection> {
        let ctx = Context { event_id: candidate.id, seq: candidate.seq, recorded_at: candidate.recorded_at };
        let mut d = self.inner.write().expect("ledger lock");
        let d = &mut *d;
        let accepted = decide(&d.state, &env, &ctx)?;
        apply(&mut d.state, &env, &accepted, &ctx);
        d.views.apply(&d.state, &env, &accepted, &ctx);
        d.position = candidate.seq;
        d.since_checkpoint += 1;
        Ok(accepted.lots.iter().map(|l| l.to_string()).collect())
    }

    fn restore(
        &mut self,
        position: u64,
        pages: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), Box<dyn Error + Send + Sync>> {
        let mut d = Derived { position, ..Derived::default() };
        d.set_stored(true);
        let mut views = Vec::new();
        for (_, page) in pages {
            for (k, v) in decode_page(&page)? {
                match k.split_first() {
                    Some((&DOMAIN_PREFIX, rest)) => {
                        let key =
                            EntityKey::from_bytes(rest).ok_or("an entity key of the rules' state does not decode")?;
                        d.state.restore_entity(&key, v)?;
                    }
                    Some((&VIEW_PREFIX, rest)) => {
                        let key = ViewKey::from_bytes(rest).ok_or("an entity key of the views does not decode")?;
                        views.push((key, v.to_vec()));
                    }
                    _ => return Err("an entity key has an unknown prefix".into()),
                }
            }
        }
        // Views may refer to the rules' state, so they are restored once it is complete.
        for (key, v) in views {
            d.views.restore_entity(&d.state, &key, &v)?;
        }
        d.state.take_dirty();
        d.views.take_dirty();
        *self.inner.write().expect("ledger lock") = d;
        Ok(())
    }

    fn checkpoint(&mut self, force: bool, stored: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<Page>> {
        let mut d = self.inner.write().expect("ledger lock");
        if !force && d.since_checkpoint < CHECKPOINT_EVENTS {
            return None;
        }
        d.since_checkpoint = 0;
        let d = &mut *d;
        // The entities each changed page must hold: on the first checkpoint every entity; after
        // that, those the stored page holds (some may be gone now) and those that changed. Each
        // by its prefixed key (the page's order) and its typed key (to find it).
        let mut members: BTreeMap<u16, BTreeMap<Vec<u8>, AnyKey>> = BTreeMap::new();
        let (state_keys, view_keys) = if d.stored {
            (d.state.take_dirty(), d.views.take_dirty())
        } else {
            d.state.take_dirty();
            d.views.take_dirty();
            (d.state.entity_keys(), d.views.entity_keys())
        };
        let keys = state_keys
            .into_iter()
            .map(|k| (domain_key(&k), AnyKey::Domain(k)))
            .chain(view_keys.into_iter().map(|k| (view_key(&k), AnyKey::View(k))));
        for (k, key) in keys {
            members.entry(page_of(&k)).or_default().insert(k, key);
        }
        if d.stored {
            for (p, keys) in &mut members {
                if let Some(page) = stored(&page_key(*p)) {
                    match decode_page(&page) {
                        Ok(entries) => {
                            for (k, _) in entries {
                                if !keys.contains_key(k) {
                                    // A key that names no entity would not be written again.
                                    if let Some(key) = AnyKey::from_prefixed(k) {
                                        keys.insert(k.to_vec(), key);
                                    }
                                }
                            }
                        }
                        // Unreadable: persist nothing now; the next open rebuilds from the log.
                        Err(e) => {
                            tracing::warn!(page = p, error = e, "a stored page does not decode");
                            return Some(Vec::new());
                        }
                    }
                }
            }
        }
        d.set_stored(true);
        let pages = members
            .into_iter()
            .map(|(p, keys)| (page_key(p), encode_page(d, keys.iter().map(|(k, key)| (k.as_slice(), key)))))
            .collect();
        Some(pages)
    }
}
