//! The embedded Kafka-compatible broker: tansu's Kafka protocol layer over a
//! log, a metadata store and a group coordinator of sluice's own.
//!
//! In: a [`BrokerConfig`] (data directory, listen address, topics, log
//! settings) and a shutdown future. Out: Kafka clients (librdkafka, the Java
//! client, kafka-python, kafkajs) produce to and consume from its topics at
//! the bound address, in consumer groups.
//!
//! The rooms:
//! - `log/`: append-only segment files per partition, holding produced
//!   batches as received, with their indexes, recovery, retention and the
//!   fsync policy;
//! - `meta/`: one redb file of topics, committed offsets, group state and
//!   producer ids;
//! - `coordinator/`: Kafka's classic consumer group protocol;
//! - `engine.rs`: tansu's `Storage` trait over the three; `fetch.rs`: the
//!   Fetch request; `routes.rs`: which handler answers which Kafka API;
//! - `server.rs`: start, the accept loop, background work, a clean stop.
//!
//! Under `<data>`: `log/<topic>-<partition>/<offset>.{log,index,timeindex}`,
//! `broker-meta.redb` and `broker.lock`. A produce is acknowledged once its
//! batch is in the segment file, so `kill -9` loses nothing acknowledged.
//!
//! [`start`] returns a [`RunningBroker`] that knows its bound address;
//! [`run`] is `start` plus waiting for a shutdown future.

#[cfg(feature = "bench-ceiling")]
mod ceiling;
mod config;
mod coordinator;
mod engine;
mod error;
mod fetch;
mod log;
mod meta;
mod routes;
mod server;

#[cfg(test)]
mod tests;

pub use config::{
    BrokerConfig, DEFAULT_LISTEN, DEFAULT_TOPIC, DEFAULT_TOPIC_PARTITIONS, StorageEngine,
    TANSU_LOG_DIRECTIVES, TopicSpec,
};
pub use error::BrokerError;
pub use log::{FlushPolicy, LogSettings, TopicConfig};
pub use server::{RunningBroker, run, start};
