//! Consumer groups' state (tansu's `GroupDetail`: generation, members,
//! protocol, leader, assignments), each under a version that changes with
//! every write. A write names the version it read and is refused if the
//! group moved on since: the compare-and-swap of tansu's `update_group`.

use redb::ReadableTable as _;
use serde::{Deserialize, Serialize};
use tansu_storage::{GroupDetail, UpdateError, Version};
use uuid::Uuid;

use super::{GROUPS, MetaError, Metadata};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredGroup {
    version: Version,
    detail: GroupDetail,
}

impl Metadata {
    pub fn group(&self, group: &str) -> Result<Option<(Version, GroupDetail)>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(GROUPS).map_err(|e| self.store_error(e))?;
        let Some(json) = table.get(group).map_err(|e| self.store_error(e))? else {
            return Ok(None);
        };
        let stored: StoredGroup = self.decode(group, json.value())?;
        Ok(Some((stored.version, stored.detail)))
    }

    pub fn groups(&self) -> Result<Vec<(String, GroupDetail)>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(GROUPS).map_err(|e| self.store_error(e))?;
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.store_error(e))? {
            let (name, json) = row.map_err(|e| self.store_error(e))?;
            let stored: StoredGroup = self.decode(name.value(), json.value())?;
            out.push((name.value().to_owned(), stored.detail));
        }
        Ok(out)
    }

    /// Writes `detail` if the group is still at `expected` (`None`: the
    /// group must not exist yet). Returns the new version, or the current
    /// state and version when another writer got there first.
    pub fn update_group(
        &self,
        group: &str,
        detail: &GroupDetail,
        expected: Option<&Version>,
    ) -> Result<Version, UpdateError<GroupDetail>> {
        let to_update =
            |e: MetaError| UpdateError::Error(tansu_storage::Error::Message(e.to_string()));
        let txn = self
            .db
            .begin_write()
            .map_err(|e| to_update(self.store_error(e)))?;
        let version = {
            let mut table = txn
                .open_table(GROUPS)
                .map_err(|e| to_update(self.store_error(e)))?;
            let current: Option<StoredGroup> = match table
                .get(group)
                .map_err(|e| to_update(self.store_error(e)))?
            {
                Some(json) => Some(self.decode(group, json.value()).map_err(to_update)?),
                None => None,
            };
            if current.as_ref().map(|c| &c.version) != expected {
                return Err(match current {
                    Some(c) => UpdateError::Outdated {
                        current: Box::new(c.detail),
                        version: c.version,
                    },
                    None => UpdateError::Outdated {
                        current: Box::new(GroupDetail::default()),
                        version: Version::default(),
                    },
                });
            }
            let version = Version::from(&Uuid::new_v4());
            let stored = StoredGroup {
                version: version.clone(),
                detail: detail.clone(),
            };
            let json = self.encode(group, &stored).map_err(to_update)?;
            table
                .insert(group, json.as_str())
                .map_err(|e| to_update(self.store_error(e)))?;
            version
        };
        txn.commit().map_err(|e| to_update(self.store_error(e)))?;
        Ok(version)
    }

    pub fn delete_group(&self, group: &str) -> Result<bool, MetaError> {
        self.write(|txn| {
            let mut table = txn.open_table(GROUPS).map_err(|e| self.store_error(e))?;
            let removed = table
                .remove(group)
                .map_err(|e| self.store_error(e))?
                .is_some();
            Ok(removed)
        })
    }
}
