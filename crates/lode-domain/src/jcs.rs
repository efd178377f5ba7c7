//! RFC 8785 JSON Canonicalization Scheme (JCS) output.
//!
//! The canonical form is what the ledger stores and what a signature covers, so identical content must
//! give identical bytes. JCS fixes everything a JSON writer may otherwise choose: no whitespace, object
//! members sorted by the UTF-16 code units of their keys, strings with the minimal escapes of ECMAScript's
//! `JSON.stringify`, and numbers in ECMAScript's shortest form. Every number in an event is an integer
//! of magnitude at most 2^53 - 1, whose ECMAScript form is its plain decimal.

use std::borrow::Cow;

/// A value to be written canonically.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Canon<'a> {
    Str(Cow<'a, str>),
    Int(i128),
    Array(Vec<Canon<'a>>),
    Object(Vec<(Cow<'a, str>, Canon<'a>)>),
}

impl<'a> Canon<'a> {
    pub(crate) fn str(s: &'a str) -> Self {
        Canon::Str(Cow::Borrowed(s))
    }

    pub(crate) fn owned(s: String) -> Self {
        Canon::Str(Cow::Owned(s))
    }
}

/// Builds an object; members are sorted when it is built, so that [`Canon::Object`] always holds
/// them in canonical order.
#[derive(Debug, Default)]
pub(crate) struct ObjectBuilder<'a> {
    members: Vec<(Cow<'a, str>, Canon<'a>)>,
}

/// Members most objects of an event have at most, to start with room for them.
const OBJECT_MEMBERS_USUAL: usize = 8;

impl<'a> ObjectBuilder<'a> {
    pub(crate) fn new() -> Self {
        ObjectBuilder { members: Vec::with_capacity(OBJECT_MEMBERS_USUAL) }
    }

    pub(crate) fn put(mut self, key: &'a str, value: Canon<'a>) -> Self {
        self.members.push((Cow::Borrowed(key), value));
        self
    }

    pub(crate) fn put_opt(self, key: &'a str, value: Option<Canon<'a>>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    pub(crate) fn put_owned_key(mut self, key: Cow<'a, str>, value: Canon<'a>) -> Self {
        self.members.push((key, value));
        self
    }

    pub(crate) fn build(mut self) -> Canon<'a> {
        self.members.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
        Canon::Object(self.members)
    }
}

/// Compares strings by their UTF-16 code units, as RFC 8785 sorts keys. For ASCII (every key of
/// the vocabulary, and ids) that is the order of the bytes.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Writes `value` in canonical form.
pub(crate) fn write(value: &Canon<'_>, out: &mut Vec<u8>) {
    match value {
        Canon::Str(s) => write_string(s, out),
        Canon::Int(n) => write_int(*n, out),
        Canon::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Canon::Object(members) => {
            debug_assert!(members.is_sorted_by(|a, b| utf16_cmp(&a.0, &b.0).is_le()), "built sorted");
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(item, out);
            }
            out.push(b'}');
        }
    }
}

/// Writes an integer in decimal, as ECMAScript writes an integer of magnitude below 2^53.
fn write_int(n: i128, out: &mut Vec<u8>) {
    // 39 digits and a sign: the longest i128.
    let mut buf = [0u8; 40];
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    out.extend_from_slice(&buf[at..]);
}

/// Writes a string as ECMAScript's `JSON.stringify` does (RFC 8785 section 3.2.2.2): runs of bytes
/// that need no escape are copied whole.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    // Almost every string needs no escape: one pass that finds none, then one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            // Bytes of multi-byte characters are all >= 0x80, so this only matches control characters.
            0x00..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(escape);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &Canon<'_>) -> String {
        let mut out = Vec::new();
        write(value, &mut out);
        String::from_utf8(out).expect("jcs output is utf-8")
    }

    #[test]
    fn escapes_like_json_stringify() {
        let s = Canon::str("a\"b\\c/\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é€😀\u{2028}");
        assert_eq!(text(&s), "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}é€😀\u{2028}\"");
    }

    #[test]
    fn sorts_keys_by_utf16_code_units() {
        // RFC 8785 section 3.2.3: U+1F600 is written as the surrogates D83D DE00 in UTF-16, so it sorts
        // before U+FB33, although its scalar value (and its UTF-8) compares the other way round.
        let obj = ObjectBuilder::new()
            .put("\u{fb33}", Canon::Int(1))
            .put("😀", Canon::Int(2))
            .put("b", Canon::Int(3))
            .put("a", Canon::Array(vec![Canon::Int(-4), Canon::str("x")]))
            .put("", Canon::Int(0))
            .build();
        assert_eq!(text(&obj), "{\"\":0,\"a\":[-4,\"x\"],\"b\":3,\"😀\":2,\"\u{fb33}\":1}");
    }
}
