//! Which offsets a pipeline may let the source commit: per partition, the
//! next offset after everything it has consumed, unless some table still
//! holds unpublished rows of that partition, in which case the first of
//! those. Committed offsets only serve lag monitoring and a faster restart;
//! the lake decides what is written.

use std::collections::HashMap;

use crate::source::PartitionKey;

#[derive(Debug, Default)]
pub(super) struct Consumed {
    /// Per partition, the next offset after the last one consumed.
    next: HashMap<PartitionKey, i64>,
}

impl Consumed {
    pub(super) fn saw(&mut self, key: PartitionKey, offset: i64) {
        let next = self.next.entry(key).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    pub(super) fn forget(&mut self, key: &PartitionKey) {
        self.next.remove(key);
    }

    /// Per partition: what may be committed, given the first unpublished
    /// offset the writer holds for it.
    pub(super) fn committable(
        &self,
        pending: impl Fn(&PartitionKey) -> Option<i64>,
    ) -> Vec<(PartitionKey, i64)> {
        self.next
            .iter()
            .map(|(key, &next)| (key.clone(), pending(key).map_or(next, |p| p.min(next))))
            .collect()
    }
}
