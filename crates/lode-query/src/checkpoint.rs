//! Signed checkpoints: the log's size, Merkle root and chain head as a C2SP `tlog-checkpoint`
//! signed with Ed25519 as a C2SP `signed-note` (`docs/format.md` §7).
//!
//! Pure functions over text and keys: formatting and strict parsing of the note, of the operator's
//! key files, and the comparison of a checkpoint with the state of a log. The commands that read
//! files and the ledger are in the `lode` command and the server.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use lode_domain::{decode_base64, encode_base64};
use lode_store::merkle::ProofError;
use lode_store::Hash;
use sha2::{Digest, Sha256};

/// The largest note `lode verify --checkpoint` reads.
pub const NOTE_BYTES_MAX: u64 = 64 * 1024;
/// The most signature lines a note may carry.
pub const NOTE_SIGNATURES_MAX: usize = 100;
/// The largest key file read.
pub const KEY_FILE_BYTES_MAX: u64 = 4 * 1024;
/// The largest tree size a checkpoint may state (as for Merkle proofs).
pub const TREE_SIZE_MAX: u64 = 1 << 63;

/// The signature type byte of Ed25519 in C2SP signed-note keys.
const ALG_ED25519: u8 = 0x01;
/// The keyword of Lode's extension line.
const CHAIN_HEAD: &str = "lode-chain-head";
/// What starts a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// What starts a signer (secret) key file, as in Go's `golang.org/x/mod/sumdb/note`.
const SECRET_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note, a key or a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note is not a well-formed checkpoint signed note.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// A key file is not well-formed.
    #[error("malformed key: {0}")]
    BadKey(String),
    /// No signature line names the key.
    #[error("the checkpoint is not signed by key {name:?}")]
    NotSigned { name: String },
    /// A signature line names the key but carries another key id.
    #[error("the checkpoint is signed by another key named {name:?} (key id {found:08x}, expected {expected:08x})")]
    WrongKey { name: String, expected: u32, found: u32 },
    /// The signature of the key does not verify over the body.
    #[error("bad signature by key {name:?}: the checkpoint was altered or forged")]
    BadSignature { name: String },
    /// The checkpoint states more records than the log holds.
    #[error("the checkpoint's size {size} is beyond the log's {head} records: the log was truncated")]
    Truncated { size: u64, head: u64 },
    /// The root of the log's first `size` records is not the checkpoint's.
    #[error("the Merkle root of the log's first {size} records is {actual}, the checkpoint's is {expected}: the log was rewritten")]
    RootMismatch { size: u64, expected: Hash, actual: Hash },
    /// The consistency proof from the checkpoint to the log's head does not verify.
    #[error("the log of {head} records does not extend the checkpoint of {size}: {proof}")]
    Inconsistent { size: u64, head: u64, proof: ProofError },
    /// The chain hash of record `size` is not the checkpoint's `lode-chain-head`.
    #[error("the chain hash at position {size} is {actual}, the checkpoint's is {expected}: the log was rewritten")]
    ChainMismatch { size: u64, expected: Hash, actual: Hash },
}

fn malformed(why: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(why.into())
}

fn bad_key(why: impl Into<String>) -> CheckpointError {
    CheckpointError::BadKey(why.into())
}

/// The state of a log that a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, the note's first line.
    pub origin: String,
    /// The number of records.
    pub size: u64,
    /// The Merkle root of the first `size` records (`docs/format.md` §6).
    pub root: Hash,
    /// The chain hash of record `size` (`docs/format.md` §2), from the `lode-chain-head` line,
    /// when the note has one.
    pub chain_head: Option<Hash>,
}

/// The C2SP key id: the first 4 bytes, big-endian, of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Checks a key name: non-empty, printable, without white space or `+` (C2SP signed-note).
pub fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+') {
        return Err(bad_key(format!("key name {name:?} must be non-empty, without spaces or '+'")));
    }
    Ok(())
}

/// The operator's signing key with its name.
pub struct SecretKey {
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("SecretKey").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A public key with its name: what verifies checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub key: VerifyingKey,
}

impl SecretKey {
    /// A key from 32 secret bytes (the Ed25519 seed).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        Ok(SecretKey { name: name.to_string(), key: SigningKey::from_bytes(&seed) })
    }

    /// Its public half.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// The key file text: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>` and a line feed.
    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{SECRET_PREFIX}{}+{:08x}+{}\n", self.name, self.verifier().id(), encode_base64(&raw))
    }

    /// Parses [`SecretKey::to_text`]'s output (one trailing line feed allowed) and checks the key id.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let rest = line
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| bad_key(format!("a secret key starts with {SECRET_PREFIX:?}")))?;
        let (name, id, raw) = split_key(rest)?;
        let seed: [u8; 32] = raw.try_into().map_err(|_| bad_key("an Ed25519 secret key is 32 bytes"))?;
        let key = SecretKey::from_seed(name, seed)?;
        if key.verifier().id() != id {
            return Err(bad_key(format!("key id {id:08x} does not match the key ({:08x})", key.verifier().id())));
        }
        Ok(key)
    }

    /// Signs `checkpoint`: the whole note, ready to print.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        self.sign_body(&body(checkpoint))
    }

    /// Signs a body: [`body`]'s output, optionally followed by extension lines, each ending
    /// with a line feed. The whole note, ready to print.
    pub fn sign_body(&self, body: &str) -> String {
        let signature = self.key.sign(body.as_bytes());
        let mut raw = self.verifier().id().to_be_bytes().to_vec();
        raw.extend_from_slice(&signature.to_bytes());
        format!("{body}\n{SIG_PREFIX}{} {}\n", self.name, encode_base64(&raw))
    }
}

impl Verifier {
    /// Its C2SP key id.
    pub fn id(&self) -> u32 {
        key_id(&self.name, self.key.as_bytes())
    }

    /// The verifier key text: `<name>+<hex id>+<base64(0x01 ‖ public key)>` and a line feed.
    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}\n", self.name, self.id(), encode_base64(&raw))
    }

    /// Parses [`Verifier::to_text`]'s output (one trailing line feed allowed) and checks the key id.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let (name, id, raw) = split_key(line)?;
        let public: [u8; 32] = raw.try_into().map_err(|_| bad_key("an Ed25519 public key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad_key("not a point on edwards25519"))?;
        if key.is_weak() {
            return Err(bad_key("a weak key of small order"));
        }
        check_key_name(name)?;
        let verifier = Verifier { name: name.to_string(), key };
        if verifier.id() != id {
            return Err(bad_key(format!("key id {id:08x} does not match the key ({:08x})", verifier.id())));
        }
        Ok(verifier)
    }
}

/// Splits `<name>+<8 hex digits>+<base64(0x01 ‖ 32 bytes)>` and returns the 32 bytes.
fn split_key(s: &str) -> Result<(&str, u32, Vec<u8>), CheckpointError> {
    // The name holds no `+` and the id is hexadecimal; the base64 key may hold `+`.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_key("expected <name>+<key id>+<key>"));
    };
    let id = parse_hex_id(id).ok_or_else(|| bad_key(format!("key id {id:?} is not 8 lowercase hexadecimal digits")))?;
    let raw = decode_base64(key).ok_or_else(|| bad_key("the key is not base64"))?;
    match raw.split_first() {
        Some((&ALG_ED25519, rest)) => Ok((name, id, rest.to_vec())),
        _ => Err(bad_key("the key's type is not Ed25519 (0x01)")),
    }
}

fn parse_hex_id(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// The checkpoint's body, the signed bytes: `<origin>\n<size>\n<base64 root>\n` and, when there is
/// a chain head, `lode-chain-head <size> <hex>\n`.
pub fn body(c: &Checkpoint) -> String {
    let mut s = format!("{}\n{}\n{}\n", c.origin, c.size, encode_base64(&c.root.0));
    if let Some(h) = &c.chain_head {
        s.push_str(&format!("{CHAIN_HEAD} {} {}\n", c.size, h.to_hex()));
    }
    s
}

/// Checks an origin: non-empty, no control characters, no leading or trailing space.
pub fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() || origin.chars().any(char::is_control) || origin.trim() != origin {
        return Err(malformed(format!(
            "origin {origin:?} must be non-empty, without control characters or surrounding spaces"
        )));
    }
    if origin.starts_with('\u{2014}') {
        return Err(malformed("the origin must not start with an em dash"));
    }
    Ok(())
}

/// Parses a decimal without sign or leading zero.
fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok().filter(|&n| n <= TREE_SIZE_MAX)
}

/// Parses a body strictly (the bytes [`body`] writes; other extension lines are ignored).
pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
    let lines_text = text.strip_suffix('\n').ok_or_else(|| malformed("the body must end with a line feed"))?;
    let mut lines = lines_text.split('\n');
    let origin = lines.next().unwrap_or_default();
    check_origin(origin)?;
    let size_text = lines.next().ok_or_else(|| malformed("no tree size line"))?;
    let size = parse_size(size_text).ok_or_else(|| {
        malformed(format!("tree size {size_text:?} is not a decimal number without sign or leading zero"))
    })?;
    let root_text = lines.next().ok_or_else(|| malformed("no root hash line"))?;
    let root = decode_base64(root_text)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Hash)
        .ok_or_else(|| malformed(format!("root hash {root_text:?} is not 32 bytes in base64")))?;
    let mut chain_head = None;
    for line in lines {
        if line.is_empty() {
            return Err(malformed("an empty line in the body"));
        }
        if line.chars().any(char::is_control) {
            return Err(malformed("a control character in the body"));
        }
        // Unknown extension lines are opaque (C2SP tlog-checkpoint); ours must be well-formed.
        if line.split(' ').next() == Some(CHAIN_HEAD) {
            if chain_head.is_some() {
                return Err(malformed(format!("more than one {CHAIN_HEAD} line")));
            }
            chain_head = Some(parse_chain_head(line, size)?);
        }
    }
    Ok(Checkpoint { origin: origin.to_string(), size, root, chain_head })
}

fn parse_chain_head(line: &str, size: u64) -> Result<Hash, CheckpointError> {
    let bad = || malformed(format!("{line:?} is not `{CHAIN_HEAD} <size> <64 lowercase hex digits>`"));
    let mut parts = line.split(' ');
    let (Some(_), Some(at), Some(hex), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let at = parse_size(at).ok_or_else(bad)?;
    if at != size {
        return Err(malformed(format!("{CHAIN_HEAD} is at position {at}, the tree size is {size}")));
    }
    Hash::from_hex(hex).ok_or_else(bad)
}

/// One signature line: the signer's name, key id and the signature.
struct SignatureLine<'a> {
    name: &'a str,
    id: u32,
    signature: [u8; 64],
}

fn parse_signature_line(line: &str) -> Result<SignatureLine<'_>, CheckpointError> {
    let bad = || malformed(format!("{line:?} is not a signature line `\u{2014} <name> <base64>`"));
    let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(bad)?;
    let mut parts = rest.split(' ');
    let (Some(name), Some(b64), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    check_key_name(name).map_err(|_| bad())?;
    let raw = decode_base64(b64).ok_or_else(bad)?;
    if raw.len() < 4 {
        return Err(bad());
    }
    let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    // Another algorithm's signature has another length; it cannot be ours.
    let signature = <[u8; 64]>::try_from(&raw[4..]).unwrap_or([0; 64]);
    Ok(SignatureLine { name, id, signature })
}

/// Parses a signed checkpoint note strictly and checks `verifier`'s signature over its body.
/// Signatures by other names are ignored (C2SP signed-note); the note must carry a valid one by
/// `verifier`.
///
/// # Errors
///
/// [`CheckpointError::Malformed`] for a note that is not exactly the format of `docs/format.md`
/// §7, [`CheckpointError::NotSigned`], [`CheckpointError::WrongKey`] or
/// [`CheckpointError::BadSignature`] when `verifier` did not sign this body.
pub fn open(note: &str, verifier: &Verifier) -> Result<Checkpoint, CheckpointError> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed("a control character other than line feed"));
    }
    // Body lines are never empty, so the first blank line ends the body.
    let split = note.find("\n\n").ok_or_else(|| malformed("no blank line between body and signatures"))?;
    let (body_text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let sig_lines = sigs.strip_suffix('\n').ok_or_else(|| malformed("the note must end with a line feed"))?;
    if sig_lines.is_empty() {
        return Err(malformed("no signature line"));
    }
    let lines: Vec<&str> = sig_lines.split('\n').collect();
    if lines.len() > NOTE_SIGNATURES_MAX {
        return Err(malformed(format!("{} signature lines, the limit is {NOTE_SIGNATURES_MAX}", lines.len())));
    }
    let sigs = lines.into_iter().map(parse_signature_line).collect::<Result<Vec<_>, _>>()?;
    let checkpoint = parse_body(body_text)?;
    let id = verifier.id();
    let ours: Vec<&SignatureLine<'_>> = sigs.iter().filter(|s| s.name == verifier.name).collect();
    if ours.is_empty() {
        return Err(CheckpointError::NotSigned { name: verifier.name.clone() });
    }
    let Some(sig) = ours.iter().find(|s| s.id == id) else {
        return Err(CheckpointError::WrongKey { name: verifier.name.clone(), expected: id, found: ours[0].id });
    };
    let signature = ed25519_dalek::Signature::from_bytes(&sig.signature);
    verifier
        .key
        .verify_strict(body_text.as_bytes(), &signature)
        .map_err(|_| CheckpointError::BadSignature { name: verifier.name.clone() })?;
    Ok(checkpoint)
}

/// What a log says at a checkpoint's size, read by the caller once the size is known to be
/// within the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAt {
    /// The Merkle root of the log's first `size` records.
    pub root: Hash,
    /// The chain hash of record `size` ([`Hash::GENESIS`] for 0).
    pub chain: Hash,
    /// The outcome of verifying the consistency proof from `size` to the head (`Ok` for size 0,
    /// which every log extends).
    pub consistency: Result<(), ProofError>,
}

/// Checks that a log of `head` records can extend the checkpoint at all.
///
/// # Errors
///
/// [`CheckpointError::Truncated`] when the checkpoint is larger.
pub fn check_size(checkpoint: &Checkpoint, head: u64) -> Result<(), CheckpointError> {
    if checkpoint.size > head {
        return Err(CheckpointError::Truncated { size: checkpoint.size, head });
    }
    Ok(())
}

/// Checks that the log (of `head` records, as read into `at`) extends the checkpoint.
///
/// # Errors
///
/// [`CheckpointError::Truncated`], [`CheckpointError::RootMismatch`],
/// [`CheckpointError::Inconsistent`] or [`CheckpointError::ChainMismatch`], in that order.
pub fn check_log(checkpoint: &Checkpoint, head: u64, at: &LogAt) -> Result<(), CheckpointError> {
    check_size(checkpoint, head)?;
    let size = checkpoint.size;
    if at.root != checkpoint.root {
        return Err(CheckpointError::RootMismatch { size, expected: checkpoint.root, actual: at.root });
    }
    if let Err(proof) = &at.consistency {
        return Err(CheckpointError::Inconsistent { size, head, proof: proof.clone() });
    }
    if let Some(expected) = checkpoint.chain_head {
        if at.chain != expected {
            return Err(CheckpointError::ChainMismatch { size, expected, actual: at.chain });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(name: &str, n: u8) -> SecretKey {
        SecretKey::from_seed(name, [n; 32]).unwrap()
    }

    fn sample() -> Checkpoint {
        Checkpoint { origin: "lode/test".into(), size: 18, root: Hash([7; 32]), chain_head: Some(Hash([9; 32])) }
    }

    #[test]
    fn a_signed_note_round_trips_and_has_the_exact_format() {
        let k = key("op", 1);
        let note = k.sign(&sample());
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], "lode/test");
        assert_eq!(lines[1], "18");
        assert_eq!(lines[2], encode_base64(&[7; 32]));
        assert_eq!(lines[3], format!("lode-chain-head 18 {}", "09".repeat(32)));
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with("\u{2014} op "));
        assert_eq!(lines.len(), 6);
        assert!(note.ends_with('\n'));
        assert_eq!(open(&note, &k.verifier()).unwrap(), sample());
        // Without the extension line too.
        let bare = Checkpoint { chain_head: None, ..sample() };
        assert_eq!(open(&k.sign(&bare), &k.verifier()).unwrap(), bare);
    }

    #[test]
    fn key_files_round_trip_and_the_key_id_is_c2sp_s() {
        let k = key("lode-operator", 3);
        let v = k.verifier();
        assert_eq!(SecretKey::parse(&k.to_text()).unwrap().verifier(), v);
        assert_eq!(Verifier::parse(&v.to_text()).unwrap(), v);
        // The key id by hand: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[0..4].
        let mut input = b"lode-operator\n\x01".to_vec();
        input.extend_from_slice(v.key.as_bytes());
        let digest = Sha256::digest(&input);
        assert_eq!(v.id().to_be_bytes(), digest[..4]);
        let text = v.to_text();
        let fields: Vec<&str> = text.trim_end().splitn(3, '+').collect();
        assert_eq!(fields[..2], ["lode-operator", &format!("{:08x}", v.id())]);
        assert_eq!(decode_base64(fields[2]).unwrap()[1..], v.key.as_bytes()[..]);
        // Base64 may hold '+', the field separator: every key still round-trips.
        for n in 0..64 {
            let k = key("n", n);
            assert_eq!(Verifier::parse(&k.verifier().to_text()).unwrap(), k.verifier());
            assert_eq!(SecretKey::parse(&k.to_text()).unwrap().verifier(), k.verifier());
        }
        // A key with a wrong id or another name is refused.
        let text = v.to_text().replacen("lode-operator", "other", 1);
        assert!(matches!(Verifier::parse(&text), Err(CheckpointError::BadKey(_))));
        assert!(Verifier::parse("a+b").is_err());
        assert!(SecretKey::parse(&v.to_text()).is_err());
    }

    #[test]
    fn a_tampered_body_fails_the_signature() {
        let k = key("op", 1);
        let note = k.sign(&sample());
        let (root, other_root) = (encode_base64(&[7; 32]), encode_base64(&[6; 32]));
        let size = note.replacen("\n18\n", "\n17\n", 1).replacen("head 18 ", "head 17 ", 1);
        for bad in [size, note.replacen("lode/test", "lode/tesT", 1), note.replacen(&root, &other_root, 1)] {
            assert_ne!(bad, note);
            assert_eq!(open(&bad, &k.verifier()), Err(CheckpointError::BadSignature { name: "op".into() }), "{bad}");
        }
        let bad = note.replacen(&"09".repeat(32), &"08".repeat(32), 1);
        assert!(matches!(open(&bad, &k.verifier()), Err(CheckpointError::BadSignature { .. })));
    }

    #[test]
    fn a_forged_signature_fails() {
        let k = key("op", 1);
        let note = k.sign(&sample());
        let sig_line = note.lines().last().unwrap();
        let b64 = sig_line.rsplit(' ').next().unwrap();
        let mut raw = decode_base64(b64).unwrap();
        raw[10] ^= 1;
        let forged = note.replacen(b64, &encode_base64(&raw), 1);
        assert!(matches!(open(&forged, &k.verifier()), Err(CheckpointError::BadSignature { .. })));
    }

    #[test]
    fn another_key_fails() {
        let note = key("op", 1).sign(&sample());
        // Same name, other key: its id differs.
        assert!(matches!(open(&note, &key("op", 2).verifier()), Err(CheckpointError::WrongKey { .. })));
        // Other name: not signed by it.
        assert!(matches!(open(&note, &key("auditor", 1).verifier()), Err(CheckpointError::NotSigned { .. })));
        // A signature by someone else alongside ours is ignored.
        let cosigned = format!("{}{}", note, key("witness", 5).sign(&sample()).lines().last().unwrap()) + "\n";
        assert_eq!(open(&cosigned, &key("op", 1).verifier()).unwrap(), sample());
    }

    #[test]
    fn extra_spaces_and_other_deviations_are_malformed() {
        let k = key("op", 1);
        let note = k.sign(&sample());
        let cases = [
            note.replacen("18\n", "18 \n", 1),
            note.replacen("18\n", " 18\n", 1),
            note.replacen("18\n", "018\n", 1),
            note.replacen("lode-chain-head 18", "lode-chain-head  18", 1),
            note.replacen("lode-chain-head 18", "lode-chain-head 17", 1),
            note.replacen(&"09".repeat(32), &"0A".repeat(32), 1),
            note.replacen("\u{2014} op ", "\u{2014}  op ", 1),
            note.replacen("\u{2014} op ", "- op ", 1),
            note.replacen("\n\n", "\n\n\n", 1),
            note.replacen("\n\n", "\n", 1),
            note.replacen('\n', "\r\n", 1),
            note.trim_end().to_string(),
            format!("{note} "),
            format!("{note}\n"),
            note.replacen("lode/test", " lode/test", 1),
        ];
        for bad in cases {
            assert!(matches!(open(&bad, &k.verifier()), Err(CheckpointError::Malformed(_))), "{bad:?}");
        }
        // A second lode-chain-head line is malformed; an unknown extension line is not.
        let body_end = note.find("\n\n").unwrap() + 1;
        let two = format!("{}lode-chain-head 18 {}\n", &note[..body_end], "09".repeat(32));
        assert!(matches!(parse_body(&two), Err(CheckpointError::Malformed(_))));
        let other = format!("{}other-extension 1 2\n", &note[..body_end]);
        assert_eq!(parse_body(&other).unwrap(), sample());
    }

    fn good_at() -> LogAt {
        LogAt { root: Hash([7; 32]), chain: Hash([9; 32]), consistency: Ok(()) }
    }

    #[test]
    fn a_log_extends_its_checkpoint_and_a_size_going_backwards_is_truncation() {
        let c = sample();
        assert_eq!(check_log(&c, 18, &good_at()), Ok(()));
        assert_eq!(check_log(&c, 30, &good_at()), Ok(()));
        // The log now holds fewer records than the checkpoint stated.
        assert_eq!(check_size(&c, 17), Err(CheckpointError::Truncated { size: 18, head: 17 }));
        assert!(matches!(check_log(&c, 0, &good_at()), Err(CheckpointError::Truncated { .. })));
        let at = LogAt { root: Hash([1; 32]), ..good_at() };
        assert!(matches!(check_log(&c, 30, &at), Err(CheckpointError::RootMismatch { .. })));
        let at = LogAt { chain: Hash([1; 32]), ..good_at() };
        assert!(matches!(check_log(&c, 30, &at), Err(CheckpointError::ChainMismatch { .. })));
        let at = LogAt { consistency: Err(ProofError::OldEmpty), ..good_at() };
        assert!(matches!(check_log(&c, 30, &at), Err(CheckpointError::Inconsistent { .. })));
    }
}
