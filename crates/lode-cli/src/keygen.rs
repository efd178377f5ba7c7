//! `lode keygen` and `lode checkpoint`: the operator's Ed25519 key and signed checkpoints of the
//! log, and the part of `lode verify --checkpoint` that reads the ledger. The note format itself
//! is in `checkpoint.rs`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use lode_store::{merkle, Hash, Reader};
use serde_json::json;

use crate::output::print_json;
use crate::{rejected, Failed};
use lode_query::checkpoint::{self, Checkpoint, LogAt, SecretKey, Verifier};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Write PREFIX.key (the secret, mode 0600) and PREFIX.pub (the verifier key).
    #[arg(long, value_name = "PREFIX", default_value = "lode-operator")]
    out: PathBuf,
    /// The key's name, which signatures carry.
    #[arg(long, value_name = "NAME", default_value = "lode-operator")]
    name: String,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The operator's secret key (from `lode keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The log's identity, the note's first line (default: lode/<data directory name>).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Reads a small text file, refusing one over `max` bytes.
pub(crate) fn read_small(path: &Path, max: u64) -> anyhow::Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    f.take(max + 1).read_to_string(&mut text).with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > max {
        anyhow::bail!("{} is over {max} bytes", path.display());
    }
    Ok(text)
}

/// Creates `path` with `text`, refusing to overwrite; `secret` files are readable by the owner only.
fn create_new(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

pub fn keygen(args: KeygenArgs) -> Result<(), Failed> {
    checkpoint::check_key_name(&args.name)?;
    let (key_path, pub_path) = (with_suffix(&args.out, ".key"), with_suffix(&args.out, ".pub"));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(anyhow::anyhow!("{} exists: not overwriting it", p.display()).into());
        }
    }
    let mut seed = [0u8; 32];
    lode_server::auth::os_random(&mut seed).context("reading 32 random bytes from /dev/urandom")?;
    let key = SecretKey::from_seed(&args.name, seed)?;
    let verifier = key.verifier();
    create_new(&key_path, &key.to_text(), true)?;
    create_new(&pub_path, &verifier.to_text(), false)?;
    print_json(&json!({
        "name": verifier.name,
        "key_id": format!("{:08x}", verifier.id()),
        "key": key_path,
        "pub": pub_path,
        "verifier": verifier.to_text().trim_end(),
    }))?;
    Ok(())
}

/// `lode/<name of the data directory>`.
pub(crate) fn default_origin(dir: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let name = abs
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .next_back()
        .and_then(|n| n.to_str())
        .context("the data directory has no UTF-8 name: give --origin")?;
    Ok(format!("lode/{name}"))
}

pub fn checkpoint(dir: &Path, args: CheckpointArgs) -> Result<(), Failed> {
    let key = SecretKey::parse(&read_small(&args.key, checkpoint::KEY_FILE_BYTES_MAX)?)
        .with_context(|| format!("reading the key in {}", args.key.display()))?;
    let origin = match args.origin {
        Some(o) => o,
        None => default_origin(dir)?,
    };
    checkpoint::check_origin(&origin)?;
    let store = crate::read::open_log(dir)?;
    let reader = store.reader();
    let head = reader.head();
    if head.seq == 0 {
        return Err(anyhow::anyhow!("the ledger in {} is empty: there is nothing to checkpoint", dir.display()).into());
    }
    let root = reader.merkle_root(head.seq).context("reading the tree's nodes")?;
    drop(reader);
    store.close().context("closing the ledger")?;
    let note = key.sign(&Checkpoint { origin, size: head.seq, root, chain_head: Some(head.hash) });
    let mut out = std::io::stdout().lock();
    out.write_all(note.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Reads the verifier key and the note and checks the signature: exit 1 when it fails.
pub fn open_note(note_path: &Path, key_path: &Path) -> Result<Checkpoint, Failed> {
    let verifier = Verifier::parse(&read_small(key_path, checkpoint::KEY_FILE_BYTES_MAX)?)
        .with_context(|| format!("reading the key in {}", key_path.display()))?;
    let note = read_small(note_path, checkpoint::NOTE_BYTES_MAX)?;
    checkpoint::open(&note, &verifier).map_err(|e| {
        let _ = print_json(&json!({ "ok": false, "checkpoint_error": e.to_string() }));
        rejected(anyhow::Error::new(e).context(format!("checkpoint {}", note_path.display())))
    })
}

/// Checks that the log read by `reader` extends `cp`, and adds what was checked to `out`.
pub fn check_log(reader: &Reader, cp: &Checkpoint, out: &mut serde_json::Value) -> Result<(), Failed> {
    let head = reader.head().seq;
    let fail = |out: &mut serde_json::Value, e: checkpoint::CheckpointError| {
        out["ok"] = json!(false);
        out["checkpoint_error"] = json!(e.to_string());
        let _ = print_json(out);
        rejected(anyhow::Error::new(e).context("the log does not extend the checkpoint"))
    };
    if let Err(e) = checkpoint::check_size(cp, head) {
        return Err(fail(out, e));
    }
    let root = reader.merkle_root(cp.size).context("reading the tree's nodes")?;
    let chain = match cp.size {
        0 => Hash::GENESIS,
        n => reader.get(n)?.context("reading the record at the checkpoint")?.hash(),
    };
    let consistency = if cp.size == 0 {
        Ok(())
    } else {
        let new_root = reader.merkle_root(head).context("reading the tree's nodes")?;
        let proof = reader.consistency_proof(cp.size, head).context("reading the tree's nodes")?;
        merkle::verify_consistency(cp.size, head, &cp.root, &new_root, &proof)
    };
    if let Err(e) = checkpoint::check_log(cp, head, &LogAt { root, chain, consistency }) {
        return Err(fail(out, e));
    }
    out["checkpoint_size"] = json!(cp.size);
    out["checkpoint_origin"] = json!(cp.origin);
    out["checkpoint_root"] = json!(cp.root.to_hex());
    out["checkpoint_chain_head_checked"] = json!(cp.chain_head.is_some());
    Ok(())
}
