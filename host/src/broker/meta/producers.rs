//! Producer ids, and per partition what the log keeps beside its segments:
//! the idempotent producers as of a segment boundary, and a log start moved
//! by DeleteRecords. The log owns the meaning; this stores its JSON.

use redb::ReadableTable as _;

use super::{COUNTERS, LOG_STARTS, MetaError, Metadata, PRODUCER_SNAPSHOTS};

const NEXT_PRODUCER_ID: &str = "next_producer_id";

impl Metadata {
    /// A producer id never handed out before, in this data directory.
    pub fn next_producer_id(&self) -> Result<i64, MetaError> {
        self.write(|txn| {
            let mut table = txn.open_table(COUNTERS).map_err(|e| self.store_error(e))?;
            let id = table
                .get(NEXT_PRODUCER_ID)
                .map_err(|e| self.store_error(e))?
                .map_or(0, |v| v.value());
            table
                .insert(NEXT_PRODUCER_ID, id + 1)
                .map_err(|e| self.store_error(e))?;
            Ok(id)
        })
    }

    pub fn producer_snapshot(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<String>, MetaError> {
        let txn = self.read()?;
        let table = txn
            .open_table(PRODUCER_SNAPSHOTS)
            .map_err(|e| self.store_error(e))?;
        Ok(table
            .get((topic, partition))
            .map_err(|e| self.store_error(e))?
            .map(|v| v.value().to_owned()))
    }

    /// Keeps several partitions' snapshots in one transaction.
    pub fn save_producer_snapshots(
        &self,
        snapshots: &[(&str, i32, String)],
    ) -> Result<(), MetaError> {
        self.write(|txn| {
            let mut table = txn
                .open_table(PRODUCER_SNAPSHOTS)
                .map_err(|e| self.store_error(e))?;
            for (topic, partition, json) in snapshots {
                table
                    .insert((*topic, *partition), json.as_str())
                    .map_err(|e| self.store_error(e))?;
            }
            Ok(())
        })
    }

    /// The log start DeleteRecords set, or 0.
    pub fn log_start(&self, topic: &str, partition: i32) -> Result<i64, MetaError> {
        let txn = self.read()?;
        let table = txn
            .open_table(LOG_STARTS)
            .map_err(|e| self.store_error(e))?;
        Ok(table
            .get((topic, partition))
            .map_err(|e| self.store_error(e))?
            .map_or(0, |v| v.value()))
    }

    pub fn set_log_start(&self, topic: &str, partition: i32, offset: i64) -> Result<(), MetaError> {
        self.write(|txn| {
            txn.open_table(LOG_STARTS)
                .map_err(|e| self.store_error(e))?
                .insert((topic, partition), offset)
                .map_err(|e| self.store_error(e))?;
            Ok(())
        })
    }
}
