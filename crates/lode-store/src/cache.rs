//! A small cache of decoded blocks, bounded in bytes, for reads by position (a lot's history,
//! one event by id, subscribers near the head). Blocks never change once written, so a cached
//! block is never stale; whole-log scans (verification, rebuilds) do not go through it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::block::Block;

#[derive(Debug)]
pub(crate) struct BlockCache {
    capacity_bytes: usize,
    held_bytes: usize,
    tick: u64,
    /// First position of the block → (the block, the tick of its last use).
    blocks: HashMap<u64, (Arc<Block>, u64)>,
    /// Tick of last use → first position: the eviction order.
    order: BTreeMap<u64, u64>,
}

impl BlockCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        BlockCache { capacity_bytes, held_bytes: 0, tick: 0, blocks: HashMap::new(), order: BTreeMap::new() }
    }

    pub(crate) fn get(&mut self, first: u64) -> Option<Arc<Block>> {
        self.tick += 1;
        let tick = self.tick;
        let (b, used) = self.blocks.get_mut(&first)?;
        self.order.remove(used);
        self.order.insert(tick, first);
        *used = tick;
        Some(b.clone())
    }

    /// Keeps `block`, dropping the least recently used blocks to stay within the capacity.
    pub(crate) fn insert(&mut self, first: u64, block: Arc<Block>) {
        let size = block.mem_bytes();
        if size > self.capacity_bytes {
            return;
        }
        self.tick += 1;
        if let Some((old, used)) = self.blocks.insert(first, (block, self.tick)) {
            self.held_bytes -= old.mem_bytes();
            self.order.remove(&used);
        }
        self.order.insert(self.tick, first);
        self.held_bytes += size;
        while self.held_bytes > self.capacity_bytes {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            let (old, _) = self.blocks.remove(&oldest).expect("the order lists only held blocks");
            self.held_bytes -= old.mem_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockBuilder;

    fn block(records: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new();
        for _ in 0..records {
            b.push(&[b'x'; 1000]);
        }
        Arc::new(b.finish().1)
    }

    #[test]
    fn the_least_recently_used_block_goes_first_and_the_bound_holds() {
        let size = block(10).mem_bytes();
        let mut c = BlockCache::new(size * 3);
        for first in [1, 11, 21] {
            c.insert(first, block(10));
        }
        assert!(c.get(1).is_some());
        c.insert(31, block(10));
        assert!(c.get(11).is_none(), "block 11 was the least recently used");
        assert!(c.get(1).is_some() && c.get(21).is_some() && c.get(31).is_some());
        assert!(c.held_bytes <= size * 3);
        assert_eq!(c.order.len(), c.blocks.len());
    }

    #[test]
    fn a_block_larger_than_the_cache_is_not_kept() {
        let mut c = BlockCache::new(10);
        c.insert(1, block(1));
        assert!(c.get(1).is_none());
        assert_eq!(c.held_bytes, 0);
    }
}
