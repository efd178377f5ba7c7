//! Records: the exact bytes that are hashed, stored and exported.
//!
//! A record is one line of UTF-8 JSON with its keys in a fixed order:
//!
//! ```text
//! {"seq":7,"id":"0193a1f2-…","recorded_at":"2026-11-27T15:29:29.123456Z","streams":["VN-1"],"prev":"<64 hex>","event":{…}}
//! ```
//!
//! `docs/format.md` specifies it byte by byte. The writer composes these bytes once; every
//! later reader hashes the stored bytes and never re-serialises them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Domain-separation prefix of a record's leaf hash (as in RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of a Merkle interior node (RFC 9162 §2.1.1); reserved here.
pub const NODE_PREFIX: u8 = 0x01;
/// Domain-separation prefix of a chain link.
pub const CHAIN_PREFIX: u8 = 0x02;

/// Longest stream name accepted, in bytes.
pub const STREAM_BYTES_MAX: usize = 128;
/// Most streams one record may name.
pub const RECORD_STREAMS_MAX: usize = 1024;

/// A BLAKE3 digest: a record's leaf hash or a chain hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The chain hash before the first record: 32 zero bytes.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lowercase hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        s
    }

    /// Parses exactly 64 lowercase hexadecimal characters.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
            bad |= (hi | lo) & 0x80;
            *o = (hi << 4) | (lo & 0x0f);
        }
        (bad == 0).then_some(Hash(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The value of each lowercase hexadecimal digit; 0x80 marks every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// `BLAKE3(0x00 ‖ record bytes)`: the record's leaf hash.
pub fn leaf_hash(record: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[LEAF_PREFIX]);
    h.update(record);
    Hash(*h.finalize().as_bytes())
}

/// `BLAKE3(0x02 ‖ previous chain hash ‖ leaf hash)`: the chain hash of a record.
pub fn chain_hash(prev: &Hash, leaf: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = CHAIN_PREFIX;
    buf[1..33].copy_from_slice(&prev.0);
    buf[33..].copy_from_slice(&leaf.0);
    Hash(*blake3::hash(&buf).as_bytes())
}

/// Whether `name` is a valid stream name: 1 to 128 bytes of `A-Z a-z 0-9 . _ : / -`,
/// starting with a letter or digit. Such names never need escaping in JSON.
pub fn is_valid_stream(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= STREAM_BYTES_MAX
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'/' | b'-'))
}

/// Formats a record time: RFC 3339, UTC, microseconds, `Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Composes the bytes of a record. The caller guarantees that `event` is one JSON object with no
/// raw line break and that every stream name is valid.
pub fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    id: &Uuid,
    recorded_at: &str,
    streams: &[String],
    prev: &Hash,
    event: &[u8],
) {
    use std::io::Write as _;
    out.reserve(event.len() + 200 + streams.iter().map(|s| s.len() + 3).sum::<usize>());
    write!(out, "{{\"seq\":{seq},\"id\":\"{}\",\"recorded_at\":\"{recorded_at}\",\"streams\":[", id.hyphenated())
        .expect("writing to a Vec cannot fail");
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"],\"prev\":\"");
    out.extend_from_slice(prev.to_hex().as_bytes());
    out.extend_from_slice(b"\",\"event\":");
    out.extend_from_slice(event);
    out.push(b'}');
}

/// The fields of a record that the chain and the indexes depend on, borrowed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Global position, from 1.
    pub seq: u64,
    /// Event id.
    pub id: Uuid,
    /// When the ledger recorded it (RFC 3339, UTC).
    pub recorded_at: &'a str,
    /// Streams (lot ids) the event touches, in record order.
    pub streams: Vec<&'a str>,
    /// Chain hash of the previous record.
    pub prev: Hash,
    /// The event object's bytes, exactly as stored.
    pub event: &'a [u8],
}

/// Why a record's bytes are not a well-formed record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed record: {0}")]
pub struct Malformed(pub &'static str);

/// Parses the header of a record. Strict: the keys must stand in the documented order with no
/// white space, exactly as the writer composes them.
pub fn parse(bytes: &[u8]) -> Result<Header<'_>, Malformed> {
    let mut p = Cursor { b: bytes, i: 0 };
    p.lit(b"{\"seq\":", "expected {\"seq\":")?;
    let seq = p.uint()?;
    p.lit(b",\"id\":\"", "expected ,\"id\":\"")?;
    let id = parse_uuid(p.until_quote()?).ok_or(Malformed("id is not a lowercase hyphenated UUID"))?;
    p.lit(b",\"recorded_at\":\"", "expected ,\"recorded_at\":\"")?;
    let recorded_at = p.until_quote()?;
    if !is_record_time(recorded_at) {
        return Err(Malformed("recorded_at is not YYYY-MM-DDTHH:MM:SS.ffffffZ"));
    }
    p.lit(b",\"streams\":[", "expected ,\"streams\":[")?;
    let mut streams = Vec::new();
    if !p.eat(b']') {
        loop {
            p.lit(b"\"", "expected a stream name")?;
            let s = p.until_quote()?;
            if !is_valid_stream(s) {
                return Err(Malformed("invalid stream name"));
            }
            streams.push(s);
            if streams.len() > RECORD_STREAMS_MAX {
                return Err(Malformed("too many streams"));
            }
            if p.eat(b']') {
                break;
            }
            p.lit(b",", "expected , or ] in streams")?;
        }
    }
    p.lit(b",\"prev\":\"", "expected ,\"prev\":\"")?;
    let prev = Hash::from_hex(p.until_quote()?).ok_or(Malformed("prev is not 64 lowercase hex digits"))?;
    p.lit(b",\"event\":", "expected ,\"event\":")?;
    let rest = &bytes[p.i..];
    if rest.len() < 3 || rest[0] != b'{' || !rest.ends_with(b"}}") {
        return Err(Malformed("event is not a JSON object closing the record"));
    }
    let event = &rest[..rest.len() - 1];
    if event.contains(&b'\n') {
        return Err(Malformed("record contains a line break"));
    }
    Ok(Header { seq, id, recorded_at, streams, prev, event })
}

/// A lowercase hyphenated UUID (8-4-4-4-12 hexadecimal digits).
fn parse_uuid(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < 36 {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        out[n] = (hex_val(b[i])? << 4) | hex_val(b[i + 1])?;
        n += 1;
        i += 2;
    }
    Some(Uuid::from_bytes(out))
}

/// Whether `s` has the exact shape the writer gives `recorded_at`, with plausible fields.
fn is_record_time(s: &str) -> bool {
    const SHAPE: &[u8; 27] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    let b = s.as_bytes();
    if b.len() != 27 || !b.iter().zip(SHAPE).all(|(&c, &m)| if m == b'd' { c.is_ascii_digit() } else { c == m }) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
    (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, lit: &[u8], what: &'static str) -> Result<(), Malformed> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(Malformed(what))
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn uint(&mut self) -> Result<u64, Malformed> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10).and_then(|v| v.checked_add(u64::from(c - b'0'))).ok_or(Malformed("seq overflows"))?;
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return Err(Malformed("seq is not a canonical decimal integer"));
        }
        Ok(v)
    }

    /// A string body up to the next `"`; must be printable ASCII without escapes.
    fn until_quote(&mut self) -> Result<&'a str, Malformed> {
        let start = self.i;
        // Eight bytes at a time while none of them ends the string or is out of place (header
        // strings are 12 to 64 bytes; byte by byte, this loop was 40% of a record's parse).
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            if !plain_ascii_word(u64::from_le_bytes(chunk.try_into().expect("8 bytes"))) {
                break;
            }
            self.i += 8;
        }
        while let Some(&c) = self.b.get(self.i) {
            if c == b'"' {
                let s = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| Malformed("invalid UTF-8"))?;
                self.i += 1;
                return Ok(s);
            }
            if c == b'\\' || !(0x20..0x7f).contains(&c) {
                return Err(Malformed("unexpected character in a header string"));
            }
            self.i += 1;
        }
        Err(Malformed("unterminated string"))
    }
}

/// Whether all eight bytes of `w` are printable ASCII (0x20 to 0x7e) other than `"` and `\\`:
/// the bytes a header string holds, none of which ends it.
fn plain_ascii_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Some byte of `x` is below `n` (n at most 0x80): the borrow of the subtraction reaches the
    // high bit of a byte whose own high bit was clear.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS != 0;
    let has = |byte: u64| below(w ^ (ONES * byte), 1);
    w & HIGHS == 0 && !below(w, 0x20) && !has(u64::from(b'"')) && !has(u64::from(b'\\')) && !has(0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_words_are_told_from_any_byte_that_ends_or_breaks_a_header_string() {
        let word = |b: [u8; 8]| plain_ascii_word(u64::from_le_bytes(b));
        assert!(word(*b"VN-NDPR-"));
        assert!(word(*b" ~!#$%&'"));
        // Each byte that a header string cannot hold, at each of the eight places.
        for bad in (0u8..0x20).chain([b'"', b'\\', 0x7f]).chain(0x80..=0xff) {
            for at in 0..8 {
                let mut b = *b"abcdefgh";
                b[at] = bad;
                assert!(!word(b), "byte {bad:#04x} at {at}");
            }
        }
        // Every allowed byte, everywhere, with every other allowed byte beside it.
        for good in (0x20u8..0x7f).filter(|c| *c != b'"' && *c != b'\\') {
            for other in (0x20u8..0x7f).filter(|c| *c != b'"' && *c != b'\\') {
                assert!(word([good, other, good, other, other, good, other, good]), "{good:#04x} {other:#04x}");
            }
        }
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let id = Uuid::from_u128(0x0193a1f2_7c3e_7b8a_9d2e_4f5a6b7c8d9e);
        let mut out = Vec::new();
        let streams = vec!["VN-1".to_string(), "KR:2/x".to_string()];
        let prev = Hash([7; 32]);
        encode(&mut out, 42, &id, "2026-11-27T15:29:29.123456Z", &streams, &prev, br#"{"a":"}"}"#);
        let h = parse(&out).expect("well formed");
        assert_eq!(h.seq, 42);
        assert_eq!(h.id, id);
        assert_eq!(h.streams, vec!["VN-1", "KR:2/x"]);
        assert_eq!(h.prev, prev);
        assert_eq!(h.event, br#"{"a":"}"}"#);
        assert!(parse(&out[..out.len() - 1]).is_err());
    }

    #[test]
    fn hex_round_trips_and_rejects_uppercase() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()), None);
    }

    #[test]
    fn seq_must_be_canonical() {
        let rec = br#"{"seq":07,"id":"0193a1f2-7c3e-7b8a-9d2e-4f5a6b7c8d9e","recorded_at":"2026-11-27T15:29:29Z","streams":[],"prev":"0000000000000000000000000000000000000000000000000000000000000000","event":{}}"#;
        assert!(parse(rec).is_err());
    }
}
