//! Event references in the derived state's pages (`docs/format.md` §5).
//!
//! The state a gate persists names events by their ids: every lot records the events that made
//! it, every reference to an event carries its id. An id is 36 characters of random hex, which no
//! compressor shrinks below about 18 bytes, and the benchmark's state holds 5.5 of them per event.
//! The log already knows every id and its position, and positions are small and close together.
//! So the store writes each event id it has logged, where a page holds it as a JSON string, as a
//! reference to its position, and writes it back exactly on reading. The gate sees its own bytes:
//! the transformation knows nothing of what the page means.
//!
//! A reference is `"` 0xFF ‖ the position as an unsigned LEB128 varint (at least 1), in place of
//! the 38 bytes `"` ‖ id as lowercase hyphenated hex ‖ `"`. A `"` 0xFF already in the page (no
//! JSON text holds 0xFF, but a page's framing may) is written `"` 0xFF 0x00. Reading is therefore
//! unambiguous, whatever the page holds.

use uuid::Uuid;

/// What starts a reference, or an escaped `"` 0xFF.
const MARK: [u8; 2] = [b'"', 0xFF];
/// A quoted id: `"` ‖ 36 characters ‖ `"`.
const QUOTED_ID: usize = 38;

/// The page with every quoted event id that `position` knows replaced by a reference.
pub(crate) fn encode(page: &[u8], position: impl Fn(&Uuid) -> Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(page.len());
    let mut at = 0;
    while let Some(q) = page[at..].iter().position(|&b| b == b'"') {
        let q = at + q;
        out.extend_from_slice(&page[at..q]);
        let rest = &page[q..];
        if rest.get(1) == Some(&0xFF) {
            out.extend_from_slice(&MARK);
            out.push(0);
            at = q + 2;
            continue;
        }
        let seq = rest
            .get(..QUOTED_ID)
            .filter(|s| s[QUOTED_ID - 1] == b'"')
            .and_then(|s| canonical_id(&s[1..QUOTED_ID - 1]))
            .and_then(|id| position(&id));
        match seq {
            Some(seq) if seq > 0 => {
                out.extend_from_slice(&MARK);
                put_varint(&mut out, seq);
                at = q + QUOTED_ID;
            }
            _ => {
                out.push(b'"');
                at = q + 1;
            }
        }
    }
    out.extend_from_slice(&page[at..]);
    out
}

/// The page as it was before [`encode`]; `id` gives the event id at a position. Fails on a
/// reference that does not decode or names a position `id` does not know.
pub(crate) fn decode(page: &[u8], mut id: impl FnMut(u64) -> Option<Uuid>) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(page.len() + page.len() / 2);
    let mut at = 0;
    while let Some(q) = page[at..].windows(2).position(|w| w == MARK) {
        let q = at + q;
        out.extend_from_slice(&page[at..q]);
        let (seq, len) = get_varint(&page[q + 2..]).ok_or("a reference to an event does not decode")?;
        if seq == 0 {
            out.extend_from_slice(&MARK);
        } else {
            let id = id(seq).ok_or("a reference names a position the log does not hold")?;
            out.push(b'"');
            out.extend_from_slice(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
            out.push(b'"');
        }
        at = q + 2 + len;
    }
    out.extend_from_slice(&page[at..]);
    Ok(out)
}

/// The id written exactly as `Uuid`'s lowercase hyphenated form, so that writing it back gives
/// the same bytes; any other spelling stays text.
fn canonical_id(text: &[u8]) -> Option<Uuid> {
    let id = Uuid::try_parse_ascii(text).ok()?;
    (id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes() == text).then_some(id)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A varint and the bytes it took; `None` when it runs past the end or past 64 bits.
fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7F);
        if i == 9 && part > 1 {
            return None;
        }
        n |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Vec<Uuid> {
        (0..n).map(|i| Uuid::from_u128(0x0123_4567_89ab_7def_8000_0000_0000_0000 + u128::from(i) * 0x1_0001)).collect()
    }

    fn round_trip(page: &[u8], known: &[Uuid]) -> Vec<u8> {
        let position = |id: &Uuid| known.iter().position(|k| k == id).map(|i| i as u64 + 1);
        let encoded = encode(page, position);
        let decoded = decode(&encoded, |seq| known.get(seq as usize - 1).copied()).unwrap();
        assert_eq!(decoded, page, "encoded as {encoded:?}");
        encoded
    }

    #[test]
    fn known_quoted_ids_become_references_and_come_back_exactly() {
        let known = ids(300);
        let page = format!(
            r#"{{"events":["{}","{}"],"by":"{}","other":"{}"}}"#,
            known[0],
            known[299],
            known[5],
            Uuid::from_u128(42)
        );
        let encoded = round_trip(page.as_bytes(), &known);
        assert_eq!(encoded.len(), page.len() - 3 * QUOTED_ID + (2 + 1) + (2 + 2) + (2 + 1));
        assert!(encoded.windows(36).any(|w| w == Uuid::from_u128(42).to_string().as_bytes()), "unknown ids stay");
    }

    #[test]
    fn other_spellings_framing_bytes_and_marks_already_there_stay_as_they_are() {
        let known = ids(3);
        let upper = known[0].to_string().to_uppercase();
        let unquoted = known[1].to_string();
        let mut page = format!(r#"["{upper}",{unquoted},"#).into_bytes();
        page.extend_from_slice(&[b'"', 0xFF, 0x00, b'"', 0xFF, b'"', b'"', 0xFF]);
        page.extend_from_slice(&[0, 0, 0, 38, b'"']); // framing ending in a quote
        page.extend_from_slice(format!(r#""{}"#, known[2]).as_bytes()); // no closing quote
        let encoded = round_trip(&page, &known);
        assert_eq!(encoded.len(), page.len() + 3, "three marks escaped, nothing replaced");
    }

    #[test]
    fn every_byte_sequence_round_trips() {
        // Every page of two to five bytes from an alphabet that makes marks, quotes and varints.
        let known = ids(2);
        let alphabet = [b'"', 0xFF, 0x00, 0x01, 0x80, b'a'];
        for len in 2..=5u32 {
            for n in 0..alphabet.len().pow(len) {
                let page: Vec<u8> = (0..len).map(|i| alphabet[n / alphabet.len().pow(i) % alphabet.len()]).collect();
                round_trip(&page, &known);
            }
        }
    }

    #[test]
    fn a_damaged_reference_is_an_error_not_a_guess() {
        assert!(decode(&[b'"', 0xFF], |_| None).is_err(), "cut after the mark");
        assert!(decode(&[b'"', 0xFF, 0x85], |_| None).is_err(), "cut inside the varint");
        assert!(decode(&[b'"', 0xFF, 0x07], |_| None).is_err(), "a position the log does not hold");
        assert!(decode(&[b'"', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], |_| None).is_err());
    }

    #[test]
    fn varints_round_trip_at_their_edges() {
        for n in [1u64, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert_eq!(get_varint(&out), Some((n, out.len())));
        }
    }
}
