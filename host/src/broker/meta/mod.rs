//! The broker's metadata: one redb file (`<data>/broker-meta.redb`) beside
//! the log, holding what is not a record:
//!
//! - topics, their ids and their config overrides (`topics.rs`);
//! - consumer groups' committed offsets (`offsets.rs`);
//! - consumer groups' state, versioned for compare-and-swap (`groups.rs`);
//! - producer ids handed out, and each partition's idempotent producers as
//!   of a segment boundary, with its log start offset (`producers.rs`).
//!
//! Every write is one redb transaction, durable when it returns. Writes are
//! rare (a topic created, offsets committed, a group rebalanced, a segment
//! closed), so they cost nothing on the produce and fetch paths. Values are
//! JSON, so a curious operator can read them.

mod groups;
mod offsets;
mod producers;
mod topics;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase as _, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use offsets::CommittedOffset;
pub use topics::TopicRecord;

/// The file's name in the data directory.
pub const META_FILE: &str = "broker-meta.redb";

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("the broker's metadata {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    #[error("the broker's metadata {} holds a value it cannot read under `{key}`: {source}", path.display())]
    Value {
        path: PathBuf,
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The metadata store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metadata {
    db: Database,
    path: PathBuf,
}

/// Every table, so opening creates them all and readers never meet a missing one.
const TOPICS: TableDefinition<&str, &str> = TableDefinition::new("topics");
const OFFSETS: TableDefinition<(&str, &str, i32), &str> = TableDefinition::new("offsets");
const GROUPS: TableDefinition<&str, &str> = TableDefinition::new("groups");
const PRODUCER_SNAPSHOTS: TableDefinition<(&str, i32), &str> =
    TableDefinition::new("producer_snapshots");
const LOG_STARTS: TableDefinition<(&str, i32), i64> = TableDefinition::new("log_starts");
const COUNTERS: TableDefinition<&str, i64> = TableDefinition::new("counters");

impl Metadata {
    pub fn open(path: &Path) -> Result<Metadata, MetaError> {
        let store_error = |source: redb::Error| MetaError::Store {
            path: path.to_owned(),
            source,
        };
        let db = Database::create(path).map_err(|e| store_error(e.into()))?;
        let txn = db.begin_write().map_err(|e| store_error(e.into()))?;
        {
            txn.open_table(TOPICS).map_err(|e| store_error(e.into()))?;
            txn.open_table(OFFSETS).map_err(|e| store_error(e.into()))?;
            txn.open_table(GROUPS).map_err(|e| store_error(e.into()))?;
            txn.open_table(PRODUCER_SNAPSHOTS)
                .map_err(|e| store_error(e.into()))?;
            txn.open_table(LOG_STARTS)
                .map_err(|e| store_error(e.into()))?;
            txn.open_table(COUNTERS)
                .map_err(|e| store_error(e.into()))?;
        }
        txn.commit().map_err(|e| store_error(e.into()))?;
        Ok(Metadata {
            db,
            path: path.to_owned(),
        })
    }

    fn store_error(&self, source: impl Into<redb::Error>) -> MetaError {
        MetaError::Store {
            path: self.path.clone(),
            source: source.into(),
        }
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, json: &str) -> Result<T, MetaError> {
        serde_json::from_str(json).map_err(|source| MetaError::Value {
            path: self.path.clone(),
            key: key.to_owned(),
            source,
        })
    }

    fn encode<T: Serialize>(&self, key: &str, value: &T) -> Result<String, MetaError> {
        serde_json::to_string(value).map_err(|source| MetaError::Value {
            path: self.path.clone(),
            key: key.to_owned(),
            source,
        })
    }

    /// Runs `f` in one write transaction and commits it.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, MetaError>,
    ) -> Result<T, MetaError> {
        let txn = self.db.begin_write().map_err(|e| self.store_error(e))?;
        let out = f(&txn)?;
        txn.commit().map_err(|e| self.store_error(e))?;
        Ok(out)
    }

    fn read(&self) -> Result<redb::ReadTransaction, MetaError> {
        self.db.begin_read().map_err(|e| self.store_error(e))
    }
}

#[cfg(test)]
mod tests;
