//! Identifiers of parties, sites, lots and shipments.
//!
//! Each is a string checked against its pattern when made, so holding one proves it is well formed:
//! party and site ids match `^[a-z0-9][a-z0-9._-]{0,63}$`, lot and shipment ids match
//! `^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`.

use std::borrow::Borrow;
use std::fmt;
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

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $valid:ident) => {
        $(#[$meta])*
        ///
        /// The text is shared: the state and the views hold the same id in many places (maps, links,
        /// dirty sets, references to events), and cloning one only counts a reference.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks `value` against the identifier pattern.
            ///
            /// # Errors
            /// [`IdError`] when `value` does not match the pattern.
            pub fn new(value: impl AsRef<str>) -> Result<Self, IdError> {
                let value = value.as_ref();
                if $valid(value) {
                    Ok(Self(Arc::from(value)))
                } else {
                    Err(IdError { kind: $kind, value: shown(value) })
                }
            }

            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                &self.0
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
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // The derived order is the order of the strings, so maps keyed by ids can be searched with `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
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
    fn errors_name_the_kind_and_value() {
        let err = LotId::new("bad lot").expect_err("space is not allowed");
        assert_eq!(err.to_string(), "invalid lot id \"bad lot\"");
        let long = "x".repeat(200);
        let err = LotId::new(format!(" {long}")).expect_err("leading space");
        assert!(err.value.ends_with('…') && err.value.chars().count() == SHOWN_CHARS_MAX + 1);
    }
}
