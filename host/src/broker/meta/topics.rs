//! Topics: name, id, partition count and the configs set on the topic itself.

use std::collections::BTreeMap;

use redb::ReadableTable as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MetaError, Metadata, TOPICS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Kafka config names to values, only those set for this topic.
    pub configs: BTreeMap<String, String>,
}

impl Metadata {
    pub fn topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        let txn = self.read()?;
        let table = txn.open_table(TOPICS).map_err(|e| self.store_error(e))?;
        let mut topics = Vec::new();
        for row in table.iter().map_err(|e| self.store_error(e))? {
            let (name, json) = row.map_err(|e| self.store_error(e))?;
            topics.push(self.decode(name.value(), json.value())?);
        }
        Ok(topics)
    }

    /// Adds a topic unless one of that name exists; says which.
    pub fn insert_topic(&self, topic: &TopicRecord) -> Result<bool, MetaError> {
        let json = self.encode(&topic.name, topic)?;
        self.write(|txn| {
            let mut table = txn.open_table(TOPICS).map_err(|e| self.store_error(e))?;
            if table
                .get(topic.name.as_str())
                .map_err(|e| self.store_error(e))?
                .is_some()
            {
                return Ok(false);
            }
            table
                .insert(topic.name.as_str(), json.as_str())
                .map_err(|e| self.store_error(e))?;
            Ok(true)
        })
    }

    /// Replaces a topic's record (its configs changed).
    pub fn update_topic(&self, topic: &TopicRecord) -> Result<(), MetaError> {
        let json = self.encode(&topic.name, topic)?;
        self.write(|txn| {
            let mut table = txn.open_table(TOPICS).map_err(|e| self.store_error(e))?;
            table
                .insert(topic.name.as_str(), json.as_str())
                .map_err(|e| self.store_error(e))?;
            Ok(())
        })
    }

    /// Forgets a topic, with its partitions' producer snapshots and log starts.
    pub fn remove_topic(&self, name: &str, partitions: i32) -> Result<(), MetaError> {
        self.write(|txn| {
            txn.open_table(TOPICS)
                .map_err(|e| self.store_error(e))?
                .remove(name)
                .map_err(|e| self.store_error(e))?;
            let mut snapshots = txn
                .open_table(super::PRODUCER_SNAPSHOTS)
                .map_err(|e| self.store_error(e))?;
            let mut starts = txn
                .open_table(super::LOG_STARTS)
                .map_err(|e| self.store_error(e))?;
            for partition in 0..partitions {
                snapshots
                    .remove((name, partition))
                    .map_err(|e| self.store_error(e))?;
                starts
                    .remove((name, partition))
                    .map_err(|e| self.store_error(e))?;
            }
            Ok(())
        })
    }
}
