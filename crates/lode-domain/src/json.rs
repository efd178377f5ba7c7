//! A strict JSON reader (RFC 8259) into a small tree.
//!
//! We read JSON ourselves instead of through `serde_json::Value` because the ledger must see what a
//! general-purpose reader hides: a duplicate key in any object (serde_json keeps the last one), the exact
//! text of a number (so that `1.0` and `1e3` are told apart from integers and large integers are not
//! rounded), and where in the document the problem is.

use std::borrow::Cow;
use std::collections::HashSet;

/// How deeply arrays and objects may nest. The deepest valid event nests six levels
/// (envelope, `data`, `outputs`, an output, its `material`, `elements`); the limit keeps a hostile
/// document from exhausting the stack.
pub(crate) const JSON_DEPTH_MAX: usize = 32;

/// Members most objects of an event have at most (the envelope has five or six), to start with room
/// for them rather than grow.
const OBJECT_MEMBERS_USUAL: usize = 8;

/// Objects with fewer keys than this are checked for duplicates by searching their keys.
const KEYS_SEARCHED_MAX: usize = 16;

/// A parsed JSON value. Strings borrow from the input unless they contained escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text exactly as written, already checked against the JSON number grammar.
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in document order; keys are unique (duplicates are a parse error).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    /// The JSON type's name, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// What went wrong while reading JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    Syntax { line: usize, column: usize, reason: &'static str },
    TooDeep,
    DuplicateKey { path: String, key: String },
}

/// One step of a path from the root of the document.
#[derive(Debug, Clone)]
enum Step<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// Reads exactly one JSON value, with optional whitespace around it and nothing else.
pub(crate) fn parse(text: &str) -> Result<Json<'_>, JsonError> {
    let mut parser = Parser { text, bytes: text.as_bytes(), pos: 0, path: Vec::new() };
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return Err(parser.syntax("unexpected content after the json value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The path to the value being read; its length is the current nesting depth.
    path: Vec<Step<'a>>,
}

impl<'a> Parser<'a> {
    fn syntax(&self, reason: &'static str) -> JsonError {
        let before = &self.bytes[..self.pos.min(self.bytes.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters, not bytes, so that they match what an editor shows.
        let column = self.text[line_start..self.pos.min(self.text.len())].chars().count() + 1;
        JsonError::Syntax { line, column, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Json<'a>, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax("unexpected character")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    fn enter(&mut self, step: Step<'a>) -> Result<(), JsonError> {
        if self.path.len() >= JSON_DEPTH_MAX {
            return Err(JsonError::TooDeep);
        }
        self.path.push(step);
        Ok(())
    }

    fn object(&mut self) -> Result<Json<'a>, JsonError> {
        // The nesting check counts the container itself.
        if self.path.len() >= JSON_DEPTH_MAX {
            return Err(JsonError::TooDeep);
        }
        self.pos += 1; // '{'
        let mut members: Vec<(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(OBJECT_MEMBERS_USUAL);
        let mut seen: Option<HashSet<Cow<'a, str>>> = None;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after a key"));
            }
            self.pos += 1;
            self.skip_whitespace();
            // Small objects are searched; large ones (maps such as `expected`) keep a set, so that a
            // hostile object of many keys costs linear time, not quadratic.
            let duplicate = if members.len() < KEYS_SEARCHED_MAX {
                members.iter().any(|(k, _)| *k == key)
            } else {
                let seen = seen.get_or_insert_with(|| members.iter().map(|(k, _)| k.clone()).collect());
                !seen.insert(key.clone())
            };
            if duplicate {
                return Err(JsonError::DuplicateKey { path: render_path(&self.path), key: key.into_owned() });
            }
            self.enter(Step::Key(key.clone()))?;
            let value = self.value()?;
            self.path.pop();
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.syntax("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self) -> Result<Json<'a>, JsonError> {
        if self.path.len() >= JSON_DEPTH_MAX {
            return Err(JsonError::TooDeep);
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_whitespace();
            self.enter(Step::Index(items.len()))?;
            let value = self.value()?;
            self.path.pop();
            items.push(value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.syntax("expected ',' or ']' in an array")),
            }
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast path: no escapes, so the string is a slice of the input. Quote and backslash are ASCII,
        // so every index we stop at is a character boundary.
        loop {
            match self.peek() {
                None => return Err(self.syntax("unterminated string")),
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(b) if b < 0x20 => return Err(self.syntax("unescaped control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.peek() {
                None => return Err(self.syntax("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.syntax("invalid escape in a string")),
                    };
                    self.pos += 1;
                    out.push(escaped);
                }
                Some(b) if b < 0x20 => return Err(self.syntax("unescaped control character in a string")),
                Some(_) => {
                    // Copy one whole UTF-8 character.
                    let rest = &self.text[self.pos..];
                    let c = rest.chars().next().ok_or_else(|| self.syntax("unterminated string"))?;
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// Reads the four hex digits after `\u` (and a following `\uXXXX` for a surrogate pair).
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(self.syntax("unpaired surrogate in a string"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.syntax("unpaired surrogate in a string"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.syntax("unpaired surrogate in a string")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.syntax("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.syntax("invalid unicode escape")),
            };
            value = value * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.syntax("leading zero in a number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
            self.digits();
        }
        Ok(Json::Number(&self.text[start..self.pos]))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

/// Renders a path the way messages show it: `data.outputs[1].mass_g`, with keys that are not plain
/// identifiers quoted: `expected["VN-NDPR-000123"]`.
fn render_path(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => push_key(&mut out, key),
            Step::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Appends one key to a rendered path.
pub(crate) fn push_key(out: &mut String, key: &str) {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push_str(&format!("[{key:?}]"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> JsonError {
        match parse(text) {
            Ok(v) => panic!("{text:?} parsed as {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn reads_values_and_keeps_number_text() {
        let v = parse(r#" {"a": [1, -0, 12.5e-3, true, false, null, "x\u00e9\ud83d\ude00\n"]} "#).expect("valid");
        let Json::Object(members) = v else { panic!("not an object") };
        let Json::Array(items) = &members[0].1 else { panic!("not an array") };
        assert_eq!(items[0], Json::Number("1"));
        assert_eq!(items[1], Json::Number("-0"));
        assert_eq!(items[2], Json::Number("12.5e-3"));
        assert_eq!(items[6], Json::String(Cow::Owned("xé😀\n".to_string())));
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "tru",
            "nul",
            "\"\\x\"",
            "\"a\nb\"",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "{'a':1}",
            "{\"a\" 1}",
            "[1 2]",
            "1 2",
            "\u{feff}{}",
            "NaN",
            "-",
        ] {
            assert!(matches!(err(bad), JsonError::Syntax { .. }), "{bad:?}");
        }
    }

    #[test]
    fn reports_duplicate_keys_with_their_path() {
        assert_eq!(
            err(r#"{"data": {"outputs": [{}, {"mass_g": 1, "mass_g": 2}]}}"#),
            JsonError::DuplicateKey { path: "data.outputs[1]".into(), key: "mass_g".into() }
        );
        // Escapes are decoded before keys are compared.
        assert!(matches!(err(r#"{"a": 1, "\u0061": 2}"#), JsonError::DuplicateKey { .. }));
    }

    #[test]
    fn finds_duplicates_in_large_objects() {
        let keys: Vec<String> = (0..1000).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{}}}", keys.join(","));
        assert!(matches!(parse(&text), Ok(Json::Object(m)) if m.len() == 1000));
        let text = format!("{{{},\"k500\":1}}", keys.join(","));
        assert_eq!(err(&text), JsonError::DuplicateKey { path: String::new(), key: "k500".into() });
    }

    #[test]
    fn limits_nesting() {
        let deep = "[".repeat(JSON_DEPTH_MAX + 1) + &"]".repeat(JSON_DEPTH_MAX + 1);
        assert_eq!(err(&deep), JsonError::TooDeep);
        let ok = "[".repeat(JSON_DEPTH_MAX) + &"]".repeat(JSON_DEPTH_MAX);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(err("{\n  \"é\": x}"), JsonError::Syntax { line: 2, column: 8, reason: "unexpected character" });
    }

    #[test]
    fn renders_paths() {
        let mut s = String::new();
        push_key(&mut s, "expected");
        push_key(&mut s, "VN-NDPR-000123");
        assert_eq!(s, r#"expected["VN-NDPR-000123"]"#);
    }
}
