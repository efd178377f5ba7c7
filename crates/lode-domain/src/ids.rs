//! Identifiers of parties, sites, lots and shipments.
//!
//! Each is a string checked against its pattern when made, so holding one proves it is well formed:
//! party and site ids match `^[a-z0-9][a-z0-9._-]{0,63}$`, lot and shipment ids match
//! `^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

/// Longest text of an input value repeated in an error message; longer values are cut and end in `…`.
pub(crate) const SHOWN_CHARS_MAX: usize = 80;

/// A value from the input, cut to a length fit for an error message.
pub(crate) fn shown(value: &str) -> String {
    if value.chars().count() <= SHOWN_CHARS_MAX {
        value.to_string()
    } else {
        let mut cut: String = value.chars().take(SHOWN_CHARS_MAX).collect();
        cut.push('…');
        cut
    }
}

/// A string that is not a valid identifier of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {value:?}")]
pub struct IdError {
    /// `party`, `site`, `lot` or `shipment`.
    pub kind: &'static str,
    /// The rejected text (cut if long).
    pub value: String,
}

fn is_party_or_site_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && matches!(b[0], b'a'..=b'z' | b'0'..=b'9')
        && b[1..].iter().all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

fn is_lot_or_shipment_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=128).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[1..].iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'/' | b'-'))
}

/// Bytes of an id kept inline.
const HEAD_BYTES: usize = 16;

/// The first [`HEAD_BYTES`] bytes of an id, padded with zeros, as two big-endian integers: two
/// ids compare as their heads do, unless the heads are equal. Then the ids are equal up to their
/// 16th byte, or both shorter and equal (an id never contains a zero byte, so the padding cannot
/// be mistaken for text), and the rest of the text decides. That is exactly the order of the
/// text: comparing ids needs the text itself only for ids longer than the head that share it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Head([u64; 2]);

impl Head {
    fn of(text: &str) -> Head {
        let mut bytes = [0u8; HEAD_BYTES];
        let n = text.len().min(HEAD_BYTES);
        bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
        let (hi, lo) = bytes.split_at(HEAD_BYTES / 2);
        Head([u64::from_be_bytes(hi.try_into().expect("8 bytes")), u64::from_be_bytes(lo.try_into().expect("8 bytes"))])
    }
}

/// The text after the head.
fn tail(text: &str) -> &[u8] {
    text.as_bytes().get(HEAD_BYTES..).unwrap_or_default()
}

/// Whether two ids with equal heads are equal. Most ids fit in their head: then their tails are
/// empty, and neither the text nor `memcmp` is reached.
fn tails_eq(a: &str, b: &str) -> bool {
    let (a, b) = (tail(a), tail(b));
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// How two ids with equal heads compare (see [`tails_eq`]).
fn tails_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (tail(a), tail(b));
    if a.is_empty() && b.is_empty() {
        Ordering::Equal
    } else {
        a.cmp(b)
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $valid:ident) => {
        $(#[$meta])*
        ///
        /// The text is shared: the state and the views hold the same id in many places (maps, links,
        /// dirty sets, references to events), and cloning one only counts a reference. Its first
        /// bytes are also kept inline ([`Head`]), so that comparing two ids (which maps keyed by
        /// ids do at every lookup) rarely has to follow the pointer to the text.
        #[derive(Clone)]
        pub struct $name {
            head: Head,
            text: Arc<str>,
        }

        impl $name {
            /// Checks `value` against the identifier pattern.
            ///
            /// # Errors
            /// [`IdError`] when `value` does not match the pattern.
            pub fn new(value: impl AsRef<str>) -> Result<Self, IdError> {
                let value = value.as_ref();
                if $valid(value) {
                    Ok(Self { head: Head::of(value), text: Arc::from(value) })
                } else {
                    Err(IdError { kind: $kind, value: shown(value) })
                }
            }

            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                &self.text
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.as_str()).finish()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.head == other.head && tails_eq(&self.text, &other.text)
            }
        }

        impl Eq for $name {}

        // The order of the text (see `Head`), which `Borrow<str>` requires.
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                self.head.cmp(&other.head).then_with(|| tails_cmp(&self.text, &other.text))
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        // The hash of the text, which `Borrow<str>` requires.
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.text
            }
        }

        // Equality, order and hash are those of the text, so maps keyed by ids can be searched with
        // `&str` (searching with an id is faster: it compares heads first).
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.text
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A party: a company or organisation that records events (`vn-refiner`).
    PartyId,
    "party",
    is_party_or_site_id
);
id_type!(
    /// A site operated by a party: a mine, plant, warehouse, port or lab (`vn-refinery-1`).
    SiteId,
    "site",
    is_party_or_site_id
);
id_type!(
    /// A lot of material (`VN-NDPR-000123`).
    LotId,
    "lot",
    is_lot_or_shipment_id
);
id_type!(
    /// A shipment of lots from one party to another (`SHP-2024-0042`).
    ShipmentId,
    "shipment",
    is_lot_or_shipment_id
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_and_site_ids_follow_their_pattern() {
        for ok in ["a", "0", "vn-refiner", "a.b_c-d", &"a".repeat(64)] {
            assert!(PartyId::new(ok).is_ok(), "{ok}");
            assert!(SiteId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "_a", "A", "a b", "a/b", "a:b", "é", &"a".repeat(65)] {
            assert!(PartyId::new(bad).is_err(), "{bad}");
            assert!(SiteId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lot_and_shipment_ids_follow_their_pattern() {
        for ok in ["A", "9", "VN-NDPR-000123", "urn:lot/a.b_c-d", &"A".repeat(128)] {
            assert!(LotId::new(ok).is_ok(), "{ok}");
            assert!(ShipmentId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-A", "/A", ":A", "A B", "A#B", "Ä", &"A".repeat(129)] {
            assert!(LotId::new(bad).is_err(), "{bad}");
            assert!(ShipmentId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_compare_hash_and_print_as_their_text() {
        use std::hash::BuildHasher;
        let texts = [
            "A",
            "AB",
            "AB-0",
            "AB-1",
            "AB-10",
            "ABCDEFGHIJKLMNO",
            "ABCDEFGHIJKLMNOP",
            "ABCDEFGHIJKLMNOP0",
            "ABCDEFGHIJKLMNOP1",
            "ABCDEFGHIJKLMNOPQ",
            "ABCDEFGHIJKLMNOQ",
            "a",
            "z/9",
            "urn:lot/a.b_c-d",
        ];
        let hasher = std::collections::hash_map::RandomState::new();
        for a in texts {
            let id_a = LotId::new(a).expect("valid");
            assert_eq!(hasher.hash_one(&id_a), hasher.hash_one(a), "{a}");
            assert_eq!(format!("{id_a:?}"), format!("LotId({a:?})"));
            for b in texts {
                let id_b = LotId::new(b).expect("valid");
                assert_eq!(id_a.cmp(&id_b), a.cmp(b), "{a} vs {b}");
                assert_eq!(id_a == id_b, a == b, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn errors_name_the_kind_and_value() {
        let err = LotId::new("bad lot").expect_err("space is not allowed");
        assert_eq!(err.to_string(), "invalid lot id \"bad lot\"");
        let long = "x".repeat(200);
        let err = LotId::new(format!(" {long}")).expect_err("leading space");
        assert!(err.value.ends_with('…') && err.value.chars().count() == SHOWN_CHARS_MAX + 1);
    }
}
