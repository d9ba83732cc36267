//! tansu's in-memory storage engine behind the same protocol layer, fetch
//! service and group coordinator as the log: the no-disk ceiling that
//! `sluice bench pipeline` measures the log against. Nothing is written to
//! disk and everything is lost at exit; benchmarks only (the
//! `bench-ceiling` cargo feature).

use std::path::Path;
use std::sync::Arc;

use tansu_sans_io::create_topics_request::CreatableTopic;
use tansu_storage::{Storage as _, StorageContainer};
use url::Url;

use super::config::BrokerConfig;
use super::coordinator::GroupCoordinator;
use super::error::BrokerError;
use super::fetch::StorageSource;
use super::meta::Metadata;
use super::routes::{KafkaService, kafka_service};

pub(super) async fn open(
    config: &BrokerConfig,
    data_dir: &Path,
    advertised: &Url,
    node: i32,
) -> Result<(KafkaService, GroupCoordinator), BrokerError> {
    let failed = |e: tansu_storage::Error| BrokerError::Ceiling(e.to_string());
    let storage = StorageContainer::builder()
        .cluster_id(config.cluster_id.as_str())
        .node_id(node)
        .advertised_listener(advertised.clone())
        .storage(Url::parse("memory://sluice/").expect("a static URL"))
        .build()
        .await
        .map_err(failed)?;
    for topic in &config.topics {
        let creatable = CreatableTopic::default()
            .name(topic.name.clone())
            .num_partitions(topic.partitions)
            .replication_factor(1);
        storage
            .create_topic(creatable, false)
            .await
            .map_err(failed)?;
    }
    // Groups and their offsets live in the metadata store, as with the log.
    let meta = Arc::new(Metadata::open(&BrokerConfig::meta_path_in(data_dir))?);
    let groups = GroupCoordinator::new(meta)?;
    let service = kafka_service(
        &config.cluster_id,
        storage.clone(),
        StorageSource(storage),
        groups.clone(),
    )
    .map_err(|source| BrokerError::Services { source })?;
    Ok((service, groups))
}
