//! Bearer tokens: each bound to one party and one role, stored only as BLAKE3 hashes in the
//! token file (`tokens.json` in the data directory unless told otherwise).
//!
//! A token is `lode_` followed by 64 hexadecimal digits (32 random bytes): far too much entropy
//! to guess, so a fast hash is enough to store it, and a lookup by hash compares nothing secret.
//! The server reads the file again whenever it changes, so `lode token revoke` takes effect on
//! the next request without a restart.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The token file's name in the data directory.
pub const TOKENS_FILE: &str = "tokens.json";
/// What every token starts with, so that a leaked one is easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "lode_";
/// The largest token file read.
pub const TOKENS_FILE_BYTES_MAX: u64 = 16 << 20;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Records its own party's lot, custody and document events, and corrections of them.
    Writer,
    /// Reads everything; places and releases holds; attaches documents such as audit reports.
    Auditor,
    /// Registers parties and sites; places and releases holds; corrects events.
    Operator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Writer, Role::Auditor, Role::Operator];

    pub fn name(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
        }
    }

    /// The event types a token of this role may record (always as its own party).
    pub fn may_record(self, event_type: &str) -> bool {
        match self {
            Role::Writer => matches!(
                event_type,
                "lot.extracted"
                    | "lot.assayed"
                    | "lot.transformed"
                    | "custody.shipped"
                    | "custody.received"
                    | "custody.rejected"
                    | "lot.moved"
                    | "document.attached"
                    | "lot.consumed"
                    | "lot.adjusted"
                    | "event.corrected"
            ),
            Role::Auditor => matches!(event_type, "hold.placed" | "hold.released" | "document.attached"),
            Role::Operator => matches!(
                event_type,
                "party.registered"
                    | "site.registered"
                    | "hold.placed"
                    | "hold.released"
                    | "document.attached"
                    | "event.corrected"
            ),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("{s:?} is not a role (writer, auditor, operator)"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One token as stored: never the token itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A short public id, to name the token in `lode token revoke` and in logs.
    pub id: String,
    /// BLAKE3 of the token's text, as 64 hexadecimal digits.
    pub hash: String,
    pub party: String,
    pub role: Role,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// The token file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    pub tokens: Vec<TokenEntry>,
}

/// Why the token file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is not a token file: {why}", .path.display())]
    Malformed { path: PathBuf, why: String },
    #[error("no token with id {0:?}")]
    NoSuchToken(String),
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
}

/// Fills `buf` from the operating system's CSPRNG (`/dev/urandom`), without a crate for it: tokens,
/// and the keys the command makes.
pub fn os_random(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf))
}

/// The hash a token is stored as.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The token file of a data directory.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKENS_FILE)
}

/// Reads a token file; a missing file holds no tokens.
pub fn load(path: &Path) -> Result<TokenFile, TokenError> {
    let io = |source| TokenError::Io { path: path.to_path_buf(), source };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokenFile::default()),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(TOKENS_FILE_BYTES_MAX + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > TOKENS_FILE_BYTES_MAX {
        return Err(TokenError::Malformed {
            path: path.to_path_buf(),
            why: format!("over {TOKENS_FILE_BYTES_MAX} bytes"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed { path: path.to_path_buf(), why: e.to_string() })
}

/// Writes a token file beside itself and renames it into place, readable by its owner only.
pub fn save(path: &Path, file: &TokenFile) -> Result<(), TokenError> {
    let io = |source| TokenError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("json.partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io)?;
    let mut text = serde_json::to_vec_pretty(file).map_err(|e| io(std::io::Error::other(e)))?;
    text.push(b'\n');
    f.write_all(&text).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Makes a new token for `party` with `role`, adds its hash to the file and returns the entry
/// and the token's text, which exists nowhere else afterwards.
pub fn add(path: &Path, party: &str, role: Role, note: Option<String>) -> Result<(TokenEntry, String), TokenError> {
    party.parse::<lode_domain::PartyId>().map_err(|e| TokenError::Invalid { what: "party", why: e.to_string() })?;
    let mut file = load(path)?;
    let mut secret = [0u8; 32];
    os_random(&mut secret).map_err(|source| TokenError::Io { path: PathBuf::from("/dev/urandom"), source })?;
    let token = format!("{TOKEN_PREFIX}{}", hex(&secret));
    let hash = token_hash(&token);
    let entry = TokenEntry {
        id: format!("tok_{}", &hash[..12]),
        hash,
        party: party.to_string(),
        role,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        note,
        revoked_at: None,
    };
    file.tokens.push(entry.clone());
    save(path, &file)?;
    Ok((entry, token))
}

/// Marks a token revoked; it is kept in the file so that logs naming its id stay explainable.
pub fn revoke(path: &Path, id: &str) -> Result<TokenEntry, TokenError> {
    let mut file = load(path)?;
    let entry = file.tokens.iter_mut().find(|t| t.id == id).ok_or_else(|| TokenError::NoSuchToken(id.to_string()))?;
    if entry.revoked_at.is_none() {
        entry.revoked_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let entry = entry.clone();
    save(path, &file)?;
    Ok(entry)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub party: String,
    pub role: Role,
}

/// The tokens the server accepts, read again whenever the file changes.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    cache: RwLock<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    stamp: Option<(SystemTime, u64)>,
    by_hash: HashMap<String, Principal>,
}

impl Tokens {
    /// Reads the token file now, so that a malformed one stops the server at start.
    pub fn open(path: PathBuf) -> Result<Self, TokenError> {
        let tokens = Tokens { path, cache: RwLock::new(Cache::default()) };
        tokens.refresh()?;
        Ok(tokens)
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    fn refresh(&self) -> Result<(), TokenError> {
        let stamp = self.stamp();
        if self.cache.read().map(|c| c.stamp == stamp && stamp.is_some()).unwrap_or(false) {
            return Ok(());
        }
        let file = load(&self.path)?;
        let by_hash = file
            .tokens
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| (t.hash, Principal { token_id: t.id, party: t.party, role: t.role }))
            .collect();
        if let Ok(mut c) = self.cache.write() {
            *c = Cache { stamp, by_hash };
        }
        Ok(())
    }

    /// The principal a token belongs to, if it is known and not revoked. A token file that became
    /// unreadable keeps the tokens last read, and says so in the log.
    pub fn check(&self, token: &str) -> Option<Principal> {
        if let Err(e) = self.refresh() {
            tracing::error!(error = %e, "the token file cannot be read; keeping the tokens read before");
        }
        let hash = token_hash(token);
        self.cache.read().ok()?.by_hash.get(&hash).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_only_as_hashes_and_revocation_takes_effect_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(TOKENS_FILE);
        let (entry, token) = add(&path, "mine-co", Role::Writer, None).expect("add");
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token[TOKEN_PREFIX.len()..]), "the file must not hold the token");
        let tokens = Tokens::open(path.clone()).expect("open");
        let p = tokens.check(&token).expect("known");
        assert_eq!((p.party.as_str(), p.role), ("mine-co", Role::Writer));
        assert!(tokens.check("lode_0000").is_none());
        revoke(&path, &entry.id).expect("revoke");
        assert!(tokens.check(&token).is_none(), "a revoked token is refused without a restart");
        assert!(matches!(revoke(&path, "tok_nope"), Err(TokenError::NoSuchToken(_))));
    }

    #[test]
    fn roles_limit_event_types() {
        assert!(Role::Writer.may_record("custody.shipped"));
        assert!(!Role::Writer.may_record("hold.placed"));
        assert!(!Role::Writer.may_record("party.registered"));
        assert!(Role::Auditor.may_record("hold.released"));
        assert!(!Role::Auditor.may_record("lot.extracted"));
        assert!(Role::Operator.may_record("site.registered"));
        assert!(!Role::Operator.may_record("lot.consumed"));
        for t in lode_domain::EVENT_TYPES {
            assert!(Role::ALL.iter().any(|r| r.may_record(t)), "no role may record {t}");
        }
    }
}
