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

/// Builds an object; members are sorted when written.
#[derive(Debug, Default)]
pub(crate) struct ObjectBuilder<'a> {
    members: Vec<(Cow<'a, str>, Canon<'a>)>,
}

impl<'a> ObjectBuilder<'a> {
    pub(crate) fn new() -> Self {
        Self::default()
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

    pub(crate) fn build(self) -> Canon<'a> {
        Canon::Object(self.members)
    }
}

/// Writes `value` in canonical form.
pub(crate) fn write(value: &Canon<'_>, out: &mut Vec<u8>) {
    match value {
        Canon::Str(s) => write_string(s, out),
        Canon::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
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
            let mut sorted: Vec<&(Cow<'_, str>, Canon<'_>)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
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

/// Writes a string as ECMAScript's `JSON.stringify` does (RFC 8785 section 3.2.2.2).
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            // Bytes of multi-byte characters are all >= 0x80, so this only matches control characters.
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
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
