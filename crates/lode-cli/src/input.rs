//! Reading submitted events: one JSON object, a JSON array of objects, or JSON lines.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde_json::value::RawValue;

/// One submitted event's bytes and the line it starts on (1-based).
#[derive(Debug)]
pub struct Unit<'a> {
    pub line: usize,
    pub bytes: &'a [u8],
}

/// Reads the whole input: a path, or `-` for standard input.
pub fn read_all(source: &Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if source == Path::new("-") {
        std::io::stdin().lock().read_to_end(&mut buf).context("reading standard input")?;
    } else {
        std::fs::File::open(source)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .with_context(|| format!("reading {}", source.display()))?;
    }
    Ok(buf)
}

/// Splits the input into events without judging them: that is the domain's work. A JSON array is
/// split into its elements; otherwise the input is a sequence of JSON values separated by white
/// space (a single object, or JSON lines).
///
/// Returns the events up to the first place where the input stops being JSON, and that place.
pub fn split(input: &[u8]) -> (Vec<Unit<'_>>, Option<NotJson>) {
    let lines = LineIndex::new(input);
    let start = input.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return (Vec::new(), None);
    };
    let mut out = Vec::new();
    if input[start] == b'[' {
        let items: Vec<&RawValue> = match serde_json::from_slice(input) {
            Ok(items) => items,
            Err(e) => {
                let why = format!("the input is not a JSON array of events: {e}");
                return (out, Some(NotJson { line: e.line(), index: 0, why }));
            }
        };
        for item in items {
            let offset = item.get().as_ptr() as usize - input.as_ptr() as usize;
            out.push(Unit { line: lines.line_of(offset), bytes: item.get().as_bytes() });
        }
    } else {
        let mut stream = serde_json::Deserializer::from_slice(input).into_iter::<&RawValue>();
        loop {
            let before = stream.byte_offset();
            match stream.next() {
                None => break,
                Some(Ok(item)) => {
                    let offset = item.get().as_ptr() as usize - input.as_ptr() as usize;
                    out.push(Unit { line: lines.line_of(offset), bytes: item.get().as_bytes() });
                }
                Some(Err(e)) => {
                    let skipped = input[before..].iter().take_while(|b| b.is_ascii_whitespace()).count();
                    let line = lines.line_of(before + skipped);
                    let index = out.len();
                    return (out, Some(NotJson { line, index, why: format!("not JSON: {e}") }));
                }
            }
        }
    }
    (out, None)
}

/// Where the input stops being JSON.
#[derive(Debug)]
pub struct NotJson {
    /// The line (1-based).
    pub line: usize,
    /// The number of events before it.
    pub index: usize,
    pub why: String,
}

/// Byte offset to line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(input: &[u8]) -> Self {
        let mut starts = vec![0];
        starts.extend(input.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_objects_arrays_and_lines_with_their_line_numbers() {
        let (u, e) = split(b"{\"a\":1}");
        assert_eq!((u.len(), u[0].line, e.is_none()), (1, 1, true));
        let (u, _) = split(b"[\n{\"a\":1},\n{\"b\":2}\n]");
        assert_eq!(u.iter().map(|u| u.line).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(u[1].bytes, b"{\"b\":2}");
        let (u, _) = split(b"{\"a\":1}\n\n{\"b\":\n2}\n");
        assert_eq!(u.iter().map(|u| u.line).collect::<Vec<_>>(), vec![1, 3]);
        let (u, e) = split(b"{\"a\":1}\n{\"b\":\n");
        let e = e.unwrap();
        assert_eq!((u.len(), e.line, e.index), (1, 2, 1));
        assert!(split(b"  \n").0.is_empty());
    }
}
