//! Consumer groups' committed offsets, keyed by group, topic and partition.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadableTable as _, ReadableTableMetadata as _};
use serde::{Deserialize, Serialize};

use super::{MetaError, Metadata, OFFSETS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
    /// When the commit arrived, milliseconds since the epoch.
    pub commit_ms: i64,
}

impl Metadata {
    pub fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, CommittedOffset)],
    ) -> Result<(), MetaError> {
        let mut rows = Vec::with_capacity(offsets.len());
        for (topic, partition, committed) in offsets {
            rows.push((topic, *partition, self.encode(group, committed)?));
        }
        self.write(|txn| {
            let mut table = txn.open_table(OFFSETS).map_err(|e| self.store_error(e))?;
            for (topic, partition, json) in &rows {
                table
                    .insert((group, topic.as_str(), *partition), json.as_str())
                    .map_err(|e| self.store_error(e))?;
            }
            Ok(())
        })
    }

    /// Every offset the group has committed, by topic and partition.
    pub fn committed_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, i32), CommittedOffset>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(OFFSETS).map_err(|e| self.store_error(e))?;
        let mut out = BTreeMap::new();
        let range = table
            .range((group, "", i32::MIN)..)
            .map_err(|e| self.store_error(e))?;
        for row in range {
            let (key, json) = row.map_err(|e| self.store_error(e))?;
            let (row_group, topic, partition) = key.value();
            if row_group != group {
                break;
            }
            out.insert(
                (topic.to_owned(), partition),
                self.decode(group, json.value())?,
            );
        }
        Ok(out)
    }

    /// The groups that have committed offsets.
    pub fn groups_with_offsets(&self) -> Result<BTreeSet<String>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(OFFSETS).map_err(|e| self.store_error(e))?;
        let mut groups = BTreeSet::new();
        if table.len().map_err(|e| self.store_error(e))? == 0 {
            return Ok(groups);
        }
        for row in table.iter().map_err(|e| self.store_error(e))? {
            let (key, _) = row.map_err(|e| self.store_error(e))?;
            groups.insert(key.value().0.to_owned());
        }
        Ok(groups)
    }

    /// Forgets a group's offsets (DeleteGroups).
    pub fn delete_offsets(&self, group: &str) -> Result<(), MetaError> {
        let keys: Vec<(String, i32)> = self.committed_offsets(group)?.into_keys().collect();
        self.write(|txn| {
            let mut table = txn.open_table(OFFSETS).map_err(|e| self.store_error(e))?;
            for (topic, partition) in &keys {
                table
                    .remove((group, topic.as_str(), *partition))
                    .map_err(|e| self.store_error(e))?;
            }
            Ok(())
        })
    }
}
