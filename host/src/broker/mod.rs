//! The embedded Kafka-compatible broker: tansu serving the Kafka protocol on
//! a loopback port, with its log and consumer-group offsets in one SQLite file
//! under the data directory.
//!
//! In: a [`BrokerConfig`] (data directory, listen address, topics) and a
//! shutdown future. Out: Kafka clients (librdkafka, the Java client) produce
//! to and consume from the configured topics at the bound address.
//!
//! This module owns the accept loop, topic creation and the SQLite file
//! (`<data_dir>/broker.db`, with SQLite's `-wal` and `-shm` beside it).
//! tansu owns the protocol and the storage schema. A record is acknowledged
//! only once SQLite has committed it (WAL mode), so the topic and committed
//! offsets survive `kill -9`.
//!
//! [`start`] returns a [`RunningBroker`] that knows its bound address;
//! [`run`] is `start` plus waiting for a shutdown future.

mod config;
mod error;
mod limit;
mod server;
mod storage;

#[cfg(test)]
mod tests;

pub use config::{
    BrokerConfig, DEFAULT_LISTEN, DEFAULT_TOPIC, DEFAULT_TOPIC_PARTITIONS, TANSU_LOG_DIRECTIVES,
    TopicSpec,
};
pub use error::BrokerError;
pub use limit::MAX_RECORD_BYTES;
pub use server::{RunningBroker, run, start};
