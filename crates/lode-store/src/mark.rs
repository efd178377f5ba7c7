//! The head mark: a small file beside sled's, `lode.head`, naming a position the log is known to
//! have reached and the chain hash there.
//!
//! sled recovers from a damaged or missing file by keeping what it can read and starting afresh
//! after it: a flipped byte early in its `db` file, or the file gone, and it opens as an empty or
//! shorter database without an error. The records are chained, but a chain cut short is still a
//! valid chain. The mark is how the store notices: it is written after every group is durable, so
//! it never names a position the log has not durably reached, and at open a log that ends before
//! the mark, or holds another hash there, is refused as corrupt.
//!
//! The mark is not synced on every group (that would cost a second fsync per group): it is synced
//! at open and at close, and otherwise reaches the disk with the operating system's write-back. A
//! crash can therefore leave it behind the log (never ahead), and damage to the last seconds of
//! records before a crash can go unnoticed here; signed checkpoints (`docs/format.md` §7) cover
//! that.
//!
//! Format (`docs/format.md` §5): one line, `lode-head <seq, 20 digits> <chain hash, 64 hex>\n`,
//! 96 bytes, always written whole at offset 0.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::record::Hash;
use crate::store::Head;

/// The mark's file name in the data directory.
pub const MARK_FILE: &str = "lode.head";
const MARK_BYTES: usize = 96;

fn encode(head: &Head) -> String {
    format!("lode-head {:020} {}\n", head.seq, head.hash.to_hex())
}

/// Refuses a data directory that held a ledger (a mark, or sled's `conf`) but lost its `db` file:
/// sled would open it as a new, empty database.
///
/// # Errors
/// What was wrong, for [`crate::OpenError::Corrupt`].
pub fn check_db_present(dir: &Path) -> Result<(), String> {
    let had_ledger = dir.join(MARK_FILE).exists() || dir.join("conf").exists();
    if had_ledger && !dir.join("db").exists() {
        return Err(format!(
            "{} is missing: the ledger's records are gone; restore the data directory from a backup",
            dir.join("db").display()
        ));
    }
    Ok(())
}

/// Reads the mark, if there is one.
///
/// # Errors
/// A mark that cannot be read or does not decode.
pub fn read(dir: &Path) -> Result<Option<Head>, String> {
    let path = dir.join(MARK_FILE);
    let mut text = String::new();
    match File::open(&path) {
        Ok(f) => f.take(4096).read_to_string(&mut text).map_err(|e| format!("reading {}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let bad = || format!("{} is not a head mark: {text:?}", path.display());
    let parts: Vec<&str> = text.strip_suffix('\n').ok_or_else(bad)?.split(' ').collect();
    let [tag, seq, hash] = parts[..] else { return Err(bad()) };
    if tag != "lode-head" || seq.len() != 20 {
        return Err(bad());
    }
    let seq = seq.parse::<u64>().map_err(|_| bad())?;
    let hash = Hash::from_hex(hash).ok_or_else(bad)?;
    Ok(Some(Head { seq, hash }))
}

/// The open mark file.
#[derive(Debug)]
pub(crate) struct Mark {
    file: File,
}

impl Mark {
    pub(crate) fn open(dir: &Path) -> std::io::Result<Mark> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(MARK_FILE))?;
        Ok(Mark { file })
    }

    /// Overwrites the mark in place; `sync` also waits for the disk.
    pub(crate) fn write(&self, head: &Head, sync: bool) -> std::io::Result<()> {
        let text = encode(head);
        debug_assert_eq!(text.len(), MARK_BYTES);
        self.file.write_all_at(text.as_bytes(), 0)?;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_what_was_written_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let m = Mark::open(dir.path()).unwrap();
        let head = Head { seq: 42, hash: Hash([7; 32]) };
        m.write(&head, true).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(head));
        m.write(&Head { seq: 43, hash: Hash([8; 32]) }, false).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap().seq, 43);
        std::fs::write(dir.path().join(MARK_FILE), "lode-head 12 zz\n").unwrap();
        assert!(read(dir.path()).is_err());
    }
}
