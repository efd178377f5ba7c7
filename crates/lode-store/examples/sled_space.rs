//! What sled 0.34 alone keeps on disk for what is live, written the way the store writes: values
//! under increasing keys, in atomic batches, each batch flushed (`docs/benchmarks.md`, the disk
//! row's limit).
//!
//! ```sh
//! cargo run --release -p lode-store --example sled_space
//! ```
//!
//! For each value size, writes 40 MB of incompressible values, 34 to a batch (about what a
//! group of 1,000 events makes of 4.3 KB blocks), into a fresh database in a temporary
//! directory, closes it, and prints the bytes of its files against the keys' and values' bytes.
//!
//! Then the first checkpoint of a ledger's derived state: 4,096 pages of 5.1 KB (what the
//! benchmark's 100,019 events make), written in one batch or in parts of 64 to 1,024 pages, each
//! part flushed before the next, as the store writes a large checkpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: stop at the first failure

use std::path::Path;

fn main() {
    values_under_increasing_keys();
    checkpoint_in_parts();
}

/// Incompressible bytes, like compressed blocks and pages.
fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            // xorshift
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}

fn checkpoint_in_parts() {
    const PAGES: usize = 4096;
    const PAGE_BYTES: usize = 5_100;
    println!("\ncheckpoint of {PAGES} pages of {PAGE_BYTES} bytes: pages per batch, live bytes, bytes on disk, ratio");
    for per_batch in [PAGES, 1024, 512, 256, 128, 64] {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).flush_every_ms(None).open().unwrap();
        let tree = db.open_tree("state").unwrap();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut live = 0;
        for part in (0..PAGES).collect::<Vec<_>>().chunks(per_batch) {
            let mut batch = sled::Batch::default();
            for &page in part {
                let key = [b'p', (page >> 8) as u8, page as u8];
                live += key.len() + PAGE_BYTES;
                batch.insert(&key[..], noise(&mut state, PAGE_BYTES));
            }
            tree.apply_batch(batch).unwrap();
            db.flush().unwrap();
        }
        report(per_batch, live, dir, db, tree);
    }
}

/// Closes the database and prints the bytes of its files against the live bytes.
fn report(label: usize, live: usize, dir: tempfile::TempDir, db: sled::Db, tree: sled::Tree) {
    drop(tree);
    drop(db);
    let disk = dir_bytes(dir.path());
    println!("{label}, {live}, {disk}, {:.2}", disk as f64 / live as f64);
}

fn values_under_increasing_keys() {
    const TOTAL: usize = 40_000_000;
    const PER_BATCH: usize = 34;
    println!("value bytes, live bytes, bytes on disk, ratio");
    for size in [200usize, 1_000, 4_300, 16_000, 70_000] {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).flush_every_ms(None).open().unwrap();
        let tree = db.open_tree("log").unwrap();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut live = 0;
        let mut key = 0u64;
        while live < TOTAL {
            let mut batch = sled::Batch::default();
            for _ in 0..PER_BATCH {
                let value = noise(&mut state, size);
                live += value.len() + 8;
                batch.insert(&key.to_be_bytes(), value);
                key += 1;
            }
            tree.apply_batch(batch).unwrap();
            db.flush().unwrap();
        }
        report(size, live, dir, db, tree);
    }
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                dir_bytes(&e.path())
            } else {
                md.len()
            }
        })
        .sum()
}
