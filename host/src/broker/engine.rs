//! The storage engine tansu's protocol layer calls (its `Storage` trait),
//! over sluice's own log, metadata store and group coordinator.
//!
//! tansu turns each Kafka request into calls here; this file turns those
//! into calls on [`Log`], [`Metadata`] and [`GroupCoordinator`], and their
//! failures into Kafka error codes. Nothing is stored here.
//!
//! Not supported, and said so to clients: transactions (no transactional
//! routes are served, a transactional id gets `UNSUPPORTED_VERSION`) and
//! SCRAM credentials.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tansu_sans_io::add_partitions_to_txn_response::AddPartitionsToTxnTopicResult;
use tansu_sans_io::create_topics_request::CreatableTopic;
use tansu_sans_io::delete_groups_response::DeletableGroupResult;
use tansu_sans_io::delete_records_request::DeleteRecordsTopic;
use tansu_sans_io::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use tansu_sans_io::describe_cluster_response::DescribeClusterBroker;
use tansu_sans_io::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use tansu_sans_io::describe_topic_partitions_response::{
    DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use tansu_sans_io::incremental_alter_configs_request::AlterConfigsResource;
use tansu_sans_io::incremental_alter_configs_response::AlterConfigsResourceResponse;
use tansu_sans_io::list_groups_response::ListedGroup;
use tansu_sans_io::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use tansu_sans_io::record::deflated;
use tansu_sans_io::txn_offset_commit_response::TxnOffsetCommitResponseTopic;
use tansu_sans_io::{ConfigResource, ErrorCode, IsolationLevel, ListOffset, ScramMechanism};
use tansu_storage::{
    BrokerRegistrationRequest, Error, GroupDetail, ListOffsetResponse, MetadataResponse,
    NamedGroupDetail, OffsetCommitRequest, OffsetStage, ProducerIdResponse, Result,
    ScramCredential, Storage, TopicId, Topition, TxnAddPartitionsRequest, TxnAddPartitionsResponse,
    TxnOffsetCommitRequest, UpdateError, Version,
};
use url::Url;
use uuid::Uuid;

use super::coordinator::GroupCoordinator;
use super::log::{Log, ReadError, Topic};
use super::meta::CommittedOffset;

/// `ConfigResource` type ids (Kafka's `ConfigResource.Type`).
const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;

/// The `IncrementalAlterConfigs` operations.
const SET: i8 = 0;
const DELETE: i8 = 1;

/// The engine; clones share the log, metadata and groups.
#[derive(Clone, Debug)]
pub struct Engine {
    log: Arc<Log>,
    groups: GroupCoordinator,
    cluster_id: String,
    node: i32,
    advertised: Url,
}

impl Engine {
    pub fn new(
        log: Arc<Log>,
        groups: GroupCoordinator,
        cluster_id: &str,
        node: i32,
        advertised: Url,
    ) -> Engine {
        Engine {
            log,
            groups,
            cluster_id: cluster_id.to_owned(),
            node,
            advertised,
        }
    }

    fn host_port(&self) -> (String, i32) {
        (
            self.advertised.host_str().unwrap_or("localhost").to_owned(),
            i32::from(self.advertised.port().unwrap_or(9092)),
        )
    }

    fn find_topic(&self, id: &TopicId) -> Option<Arc<Topic>> {
        match id {
            TopicId::Name(name) => self.log.topic(name),
            TopicId::Id(id) => self.log.topic_by_id(*id),
        }
    }

    fn metadata_topic(&self, topic: &Topic) -> MetadataResponseTopic {
        MetadataResponseTopic::default()
            .error_code(ErrorCode::None.into())
            .name(Some(topic.name.clone()))
            .topic_id(Some(topic.id.into_bytes()))
            .is_internal(Some(false))
            .partitions(Some(
                topic
                    .partitions()
                    .iter()
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .error_code(ErrorCode::None.into())
                            .partition_index(p.index())
                            .leader_id(self.node)
                            .leader_epoch(Some(-1))
                            .replica_nodes(Some(vec![self.node]))
                            .isr_nodes(Some(vec![self.node]))
                            .offline_replicas(Some(Vec::new()))
                    })
                    .collect(),
            ))
            .topic_authorized_operations(Some(i32::MIN))
    }
}

/// tansu keeps some of its answer types' fields private; they are built
/// through their serde form, which is public.
fn from_fields<T: serde::de::DeserializeOwned>(fields: serde_json::Value) -> Result<T> {
    serde_json::from_value(fields).map_err(|e| Error::Message(e.to_string()))
}

fn millis_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl Storage for Engine {
    async fn register_broker(&self, _registration: BrokerRegistrationRequest) -> Result<()> {
        Ok(())
    }

    async fn create_topic(&self, topic: CreatableTopic, validate_only: bool) -> Result<Uuid> {
        if topic.replication_factor > 1 {
            tracing::warn!(topic = %topic.name, replication = topic.replication_factor, "Refused a topic: one broker holds one copy.");
            return Err(Error::Api(ErrorCode::InvalidReplicationFactor));
        }
        let configs: BTreeMap<String, String> = topic
            .configs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.value.map(|v| (c.name, v)))
            .collect();
        let partitions = if topic.num_partitions < 0 {
            1
        } else {
            topic.num_partitions
        };
        let log = self.log.clone();
        let name = topic.name.clone();
        tokio::task::spawn_blocking(move || {
            log.create_topic(&name, partitions, configs, validate_only)
        })
        .await
        .map_err(|e| Error::Message(e.to_string()))?
        .map_err(|e| {
            tracing::warn!(topic = %topic.name, error = %e, "Topic not created.");
            Error::Api(e.code())
        })
    }

    async fn incremental_alter_resource(
        &self,
        resource: AlterConfigsResource,
    ) -> Result<AlterConfigsResourceResponse> {
        let answer = |code: ErrorCode, message: Option<String>| {
            AlterConfigsResourceResponse::default()
                .error_code(code.into())
                .error_message(message)
                .resource_type(resource.resource_type)
                .resource_name(resource.resource_name.clone())
        };
        if resource.resource_type != TOPIC_RESOURCE {
            let what = if resource.resource_type == BROKER_RESOURCE {
                "broker configs are set with `sluice broker` flags, not at run time"
            } else {
                "only topic configs can be changed"
            };
            return Ok(answer(ErrorCode::InvalidRequest, Some(what.to_owned())));
        }
        let mut changes = Vec::new();
        for config in resource.configs.as_deref().unwrap_or_default() {
            match config.config_operation {
                SET => changes.push((config.name.clone(), config.value.clone())),
                DELETE => changes.push((config.name.clone(), None)),
                _ => {
                    return Ok(answer(
                        ErrorCode::InvalidRequest,
                        Some(format!(
                            "`{}`: only SET and DELETE apply to these configs",
                            config.name
                        )),
                    ));
                }
            }
        }
        let log = self.log.clone();
        let name = resource.resource_name.clone();
        let done = tokio::task::spawn_blocking(move || log.alter_topic(&name, &changes))
            .await
            .map_err(|e| Error::Message(e.to_string()))?;
        Ok(match done {
            Ok(()) => answer(ErrorCode::None, None),
            Err(e) => answer(e.code(), Some(e.to_string())),
        })
    }

    async fn delete_records(
        &self,
        topics: &[DeleteRecordsTopic],
    ) -> Result<Vec<DeleteRecordsTopicResult>> {
        Ok(topics
            .iter()
            .map(|topic| {
                DeleteRecordsTopicResult::default()
                    .name(topic.name.clone())
                    .partitions(Some(
                        topic
                            .partitions
                            .as_deref()
                            .unwrap_or_default()
                            .iter()
                            .map(|p| {
                                let (low_watermark, code) = match self.log.delete_records(
                                    &topic.name,
                                    p.partition_index,
                                    p.offset,
                                ) {
                                    Ok(start) => (start, ErrorCode::None),
                                    Err(ReadError::OutOfRange { log_start: -1, .. }) => {
                                        (-1, ErrorCode::UnknownTopicOrPartition)
                                    }
                                    Err(ReadError::OutOfRange { .. }) => {
                                        (-1, ErrorCode::OffsetOutOfRange)
                                    }
                                    Err(ReadError::Storage(_)) => {
                                        (-1, ErrorCode::KafkaStorageError)
                                    }
                                };
                                DeleteRecordsPartitionResult::default()
                                    .partition_index(p.partition_index)
                                    .low_watermark(low_watermark)
                                    .error_code(code.into())
                            })
                            .collect(),
                    ))
            })
            .collect())
    }

    async fn delete_topic(&self, topic: &TopicId) -> Result<ErrorCode> {
        let Some(found) = self.find_topic(topic) else {
            return Ok(ErrorCode::UnknownTopicOrPartition);
        };
        let log = self.log.clone();
        let name = found.name.clone();
        drop(found);
        Ok(tokio::task::spawn_blocking(move || log.delete_topic(&name))
            .await
            .map_err(|e| Error::Message(e.to_string()))?
            .map_or_else(|e| e.code(), |()| ErrorCode::None))
    }

    async fn brokers(&self) -> Result<Vec<DescribeClusterBroker>> {
        let (host, port) = self.host_port();
        Ok(vec![
            DescribeClusterBroker::default()
                .broker_id(self.node)
                .host(host)
                .port(port)
                .rack(None),
        ])
    }

    async fn produce(
        &self,
        transaction_id: Option<&str>,
        topition: &Topition,
        batch: deflated::Batch,
    ) -> Result<i64> {
        if transaction_id.is_some() {
            return Err(Error::Api(ErrorCode::UnsupportedVersion));
        }
        self.log
            .append(topition.topic(), topition.partition(), &batch)
            .await
            .map_err(|e| Error::Api(e.code()))
    }

    async fn fetch(
        &self,
        topition: &Topition,
        offset: i64,
        _min_bytes: u32,
        max_bytes: u32,
        _isolation: IsolationLevel,
    ) -> Result<Vec<deflated::Batch>> {
        let partition = self
            .log
            .partition(topition.topic(), topition.partition())
            .ok_or(Error::Api(ErrorCode::UnknownTopicOrPartition))?;
        match partition.read(offset, max_bytes as usize) {
            Ok(fetched) => Ok(fetched.batches),
            Err(ReadError::OutOfRange { .. }) => Err(Error::Api(ErrorCode::OffsetOutOfRange)),
            Err(ReadError::Storage(_)) => Err(Error::Api(ErrorCode::KafkaStorageError)),
        }
    }

    async fn offset_stage(&self, topition: &Topition) -> Result<OffsetStage> {
        let partition = self
            .log
            .partition(topition.topic(), topition.partition())
            .ok_or(Error::Api(ErrorCode::UnknownTopicOrPartition))?;
        let (log_start, high_watermark) = partition.bounds();
        from_fields(serde_json::json!({
            "last_stable": high_watermark,
            "high_watermark": high_watermark,
            "log_start": log_start,
        }))
    }

    async fn list_offsets(
        &self,
        _isolation_level: IsolationLevel,
        offsets: &[(Topition, ListOffset)],
    ) -> Result<Vec<(Topition, ListOffsetResponse)>> {
        let mut out = Vec::with_capacity(offsets.len());
        for (topition, wanted) in offsets {
            let answer = match self.log.partition(topition.topic(), topition.partition()) {
                None => ListOffsetResponse {
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    ..ListOffsetResponse::default()
                },
                Some(partition) => {
                    let (log_start, high_watermark) = partition.bounds();
                    match wanted {
                        ListOffset::Earliest => ListOffsetResponse {
                            offset: Some(log_start),
                            ..ListOffsetResponse::default()
                        },
                        ListOffset::Latest => ListOffsetResponse {
                            offset: Some(high_watermark),
                            ..ListOffsetResponse::default()
                        },
                        ListOffset::Timestamp(at) => {
                            let partition = partition.clone();
                            let at = millis_since_epoch(*at);
                            let found =
                                tokio::task::spawn_blocking(move || partition.offset_for_time(at))
                                    .await
                                    .map_err(|e| Error::Message(e.to_string()))?;
                            match found {
                                Ok(Some((offset, timestamp))) => ListOffsetResponse {
                                    offset: Some(offset),
                                    timestamp: Some(
                                        SystemTime::UNIX_EPOCH
                                            + Duration::from_millis(timestamp.max(0) as u64),
                                    ),
                                    ..ListOffsetResponse::default()
                                },
                                // Every record is older: Kafka answers -1.
                                Ok(None) => ListOffsetResponse {
                                    offset: Some(-1),
                                    ..ListOffsetResponse::default()
                                },
                                Err(error) => {
                                    tracing::error!(%error, "Cannot look a timestamp up in the log.");
                                    ListOffsetResponse {
                                        error_code: ErrorCode::KafkaStorageError,
                                        ..ListOffsetResponse::default()
                                    }
                                }
                            }
                        }
                    }
                }
            };
            out.push((topition.clone(), answer));
        }
        Ok(out)
    }

    async fn offset_commit(
        &self,
        group_id: &str,
        _retention: Option<Duration>,
        offsets: &[(Topition, OffsetCommitRequest)],
    ) -> Result<Vec<(Topition, ErrorCode)>> {
        let now = millis_since_epoch(SystemTime::now());
        let mut rows = Vec::with_capacity(offsets.len());
        for (topition, request) in offsets {
            let fields =
                serde_json::to_value(request).map_err(|e| Error::Message(e.to_string()))?;
            rows.push((
                topition.topic().to_owned(),
                topition.partition(),
                CommittedOffset {
                    offset: fields["offset"].as_i64().unwrap_or(-1),
                    leader_epoch: fields["leader_epoch"].as_i64().map(|e| e as i32),
                    metadata: fields["metadata"].as_str().map(str::to_owned),
                    commit_ms: now,
                },
            ));
        }
        self.log
            .meta()
            .commit_offsets(group_id, &rows)
            .map_err(|e| Error::Message(e.to_string()))?;
        Ok(offsets
            .iter()
            .map(|(t, _)| (t.clone(), ErrorCode::None))
            .collect())
    }

    async fn offset_fetch(
        &self,
        group_id: Option<&str>,
        topics: &[Topition],
        _require_stable: Option<bool>,
    ) -> Result<BTreeMap<Topition, i64>> {
        let committed = match group_id {
            Some(group) => self
                .log
                .meta()
                .committed_offsets(group)
                .map_err(|e| Error::Message(e.to_string()))?,
            None => BTreeMap::new(),
        };
        Ok(topics
            .iter()
            .map(|t| {
                let offset = committed
                    .get(&(t.topic().to_owned(), t.partition()))
                    .map_or(-1, |c| c.offset);
                (t.clone(), offset)
            })
            .collect())
    }

    async fn committed_offset_topitions(&self, group_id: &str) -> Result<BTreeMap<Topition, i64>> {
        Ok(self
            .log
            .meta()
            .committed_offsets(group_id)
            .map_err(|e| Error::Message(e.to_string()))?
            .into_iter()
            .map(|((topic, partition), c)| (Topition::new(topic, partition), c.offset))
            .collect())
    }

    async fn metadata(&self, topics: Option<&[TopicId]>) -> Result<MetadataResponse> {
        let (host, port) = self.host_port();
        let broker = MetadataResponseBroker::default()
            .node_id(self.node)
            .host(host)
            .port(port)
            .rack(None);
        let topics: Vec<MetadataResponseTopic> = match topics {
            None => self
                .log
                .topics()
                .iter()
                .map(|t| self.metadata_topic(t))
                .collect(),
            Some(wanted) => wanted
                .iter()
                .map(|id| match self.find_topic(id) {
                    Some(topic) => self.metadata_topic(&topic),
                    None => {
                        let (name, topic_id) = match id {
                            TopicId::Name(name) => {
                                (Some(name.clone()), tansu_sans_io::NULL_TOPIC_ID)
                            }
                            TopicId::Id(id) => (None, id.into_bytes()),
                        };
                        MetadataResponseTopic::default()
                            .error_code(ErrorCode::UnknownTopicOrPartition.into())
                            .name(name)
                            .topic_id(Some(topic_id))
                            .is_internal(Some(false))
                            .partitions(Some(Vec::new()))
                            .topic_authorized_operations(Some(i32::MIN))
                    }
                })
                .collect(),
        };
        from_fields(serde_json::json!({
            "cluster": self.cluster_id,
            "controller": self.node,
            "brokers": [broker],
            "topics": topics,
        }))
    }

    async fn upsert_user_scram_credential(
        &self,
        _: &str,
        _: ScramMechanism,
        _: ScramCredential,
    ) -> Result<()> {
        Err(Error::Api(ErrorCode::UnsupportedSaslMechanism))
    }

    async fn delete_user_scram_credential(&self, _: &str, _: ScramMechanism) -> Result<()> {
        Err(Error::Api(ErrorCode::UnsupportedSaslMechanism))
    }

    async fn user_scram_credential(
        &self,
        _: &str,
        _: ScramMechanism,
    ) -> Result<Option<ScramCredential>> {
        Ok(None)
    }

    async fn describe_config(
        &self,
        name: &str,
        resource: ConfigResource,
        keys: Option<&[String]>,
    ) -> Result<DescribeConfigsResult> {
        let resource_type = i8::from(resource);
        let base = DescribeConfigsResult::default()
            .resource_name(name.to_owned())
            .resource_type(resource_type);
        if resource_type != TOPIC_RESOURCE {
            return Ok(base
                .error_code(ErrorCode::None.into())
                .error_message(None)
                .configs(Some(Vec::new())));
        }
        let Some(topic) = self.log.topic(name) else {
            return Ok(base
                .error_code(ErrorCode::UnknownTopicOrPartition.into())
                .error_message(Some(format!("no topic `{name}`")))
                .configs(Some(Vec::new())));
        };
        let configs = topic
            .config()
            .describe(&topic.overrides())
            .into_iter()
            .filter(|(key, _, _)| keys.is_none_or(|keys| keys.iter().any(|k| k == key)))
            .map(|(key, value, own)| {
                DescribeConfigsResourceResult::default()
                    .name(key.to_owned())
                    .value(Some(value))
                    .read_only(false)
                    .is_default(Some(!own))
                    // 1: set on the topic; 5: the broker's default.
                    .config_source(Some(if own { 1 } else { 5 }))
                    .is_sensitive(false)
                    .synonyms(Some(Vec::new()))
                    .config_type(Some(0))
                    .documentation(None)
            })
            .collect();
        Ok(base
            .error_code(ErrorCode::None.into())
            .error_message(None)
            .configs(Some(configs)))
    }

    async fn list_groups(&self, states_filter: Option<&[String]>) -> Result<Vec<ListedGroup>> {
        Ok(self
            .groups
            .summaries()
            .into_iter()
            .filter(|g| {
                states_filter
                    .filter(|f| !f.is_empty())
                    .is_none_or(|f| f.iter().any(|s| s.eq_ignore_ascii_case(g.phase.name())))
            })
            .map(|g| {
                ListedGroup::default()
                    .group_id(g.id)
                    .protocol_type(g.protocol_type)
                    .group_state(Some(g.phase.name().to_owned()))
                    .group_type(Some("classic".to_owned()))
            })
            .collect())
    }

    async fn delete_groups(
        &self,
        group_ids: Option<&[String]>,
    ) -> Result<Vec<DeletableGroupResult>> {
        Ok(group_ids
            .unwrap_or_default()
            .iter()
            .map(|id| {
                DeletableGroupResult::default()
                    .group_id(id.clone())
                    .error_code(self.groups.delete(id).into())
            })
            .collect())
    }

    async fn describe_groups(
        &self,
        group_ids: Option<&[String]>,
        _include_authorized_operations: bool,
    ) -> Result<Vec<NamedGroupDetail>> {
        Ok(self.groups.describe(group_ids.unwrap_or_default()))
    }

    async fn describe_topic_partitions(
        &self,
        topics: Option<&[TopicId]>,
        _partition_limit: i32,
        _cursor: Option<Topition>,
    ) -> Result<Vec<DescribeTopicPartitionsResponseTopic>> {
        let found: Vec<Arc<Topic>> = match topics {
            None => self.log.topics(),
            Some(ids) => ids.iter().filter_map(|id| self.find_topic(id)).collect(),
        };
        Ok(found
            .iter()
            .map(|topic| {
                DescribeTopicPartitionsResponseTopic::default()
                    .error_code(ErrorCode::None.into())
                    .name(Some(topic.name.clone()))
                    .topic_id(topic.id.into_bytes())
                    .is_internal(false)
                    .partitions(Some(
                        topic
                            .partitions()
                            .iter()
                            .map(|p| {
                                DescribeTopicPartitionsResponsePartition::default()
                                    .error_code(ErrorCode::None.into())
                                    .partition_index(p.index())
                                    .leader_id(self.node)
                                    .leader_epoch(-1)
                                    .replica_nodes(Some(vec![self.node]))
                                    .isr_nodes(Some(vec![self.node]))
                                    .eligible_leader_replicas(Some(Vec::new()))
                                    .last_known_elr(Some(Vec::new()))
                                    .offline_replicas(Some(Vec::new()))
                            })
                            .collect(),
                    ))
                    .topic_authorized_operations(i32::MIN)
            })
            .collect())
    }

    async fn update_group(
        &self,
        group_id: &str,
        detail: GroupDetail,
        version: Option<Version>,
    ) -> Result<Version, UpdateError<GroupDetail>> {
        let meta = self.log.meta().clone();
        let group_id = group_id.to_owned();
        tokio::task::spawn_blocking(move || meta.update_group(&group_id, &detail, version.as_ref()))
            .await
            .map_err(|e| UpdateError::Error(Error::Message(e.to_string())))?
    }

    async fn init_producer(
        &self,
        transaction_id: Option<&str>,
        _transaction_timeout_ms: i32,
        _producer_id: Option<i64>,
        _producer_epoch: Option<i16>,
    ) -> Result<ProducerIdResponse> {
        if transaction_id.is_some() {
            tracing::warn!(
                "Refused a transactional producer: the embedded broker does not support transactions."
            );
            return Ok(ProducerIdResponse {
                error: ErrorCode::UnsupportedVersion,
                id: -1,
                epoch: -1,
            });
        }
        // As Kafka does for a producer without a transactional id, even one
        // bumping its epoch (KIP-360): a fresh id, epoch 0.
        let meta = self.log.meta().clone();
        let id = tokio::task::spawn_blocking(move || meta.next_producer_id())
            .await
            .map_err(|e| Error::Message(e.to_string()))?
            .map_err(|e| Error::Message(e.to_string()))?;
        Ok(ProducerIdResponse {
            error: ErrorCode::None,
            id,
            epoch: 0,
        })
    }

    async fn txn_add_offsets(&self, _: &str, _: i64, _: i16, _: &str) -> Result<ErrorCode> {
        Ok(ErrorCode::UnsupportedVersion)
    }

    async fn txn_add_partitions(
        &self,
        partitions: TxnAddPartitionsRequest,
    ) -> Result<TxnAddPartitionsResponse> {
        Ok(match partitions {
            TxnAddPartitionsRequest::VersionZeroToThree { topics, .. } => {
                TxnAddPartitionsResponse::VersionZeroToThree(
                    topics
                        .iter()
                        .map(|t| {
                            AddPartitionsToTxnTopicResult::default()
                                .name(t.name.clone())
                                .results_by_partition(Some(Vec::new()))
                        })
                        .collect(),
                )
            }
            TxnAddPartitionsRequest::VersionFourPlus { .. } => {
                TxnAddPartitionsResponse::VersionFourPlus(Vec::new())
            }
        })
    }

    async fn txn_offset_commit(
        &self,
        offsets: TxnOffsetCommitRequest,
    ) -> Result<Vec<TxnOffsetCommitResponseTopic>> {
        Ok(offsets
            .topics
            .iter()
            .map(|t| TxnOffsetCommitResponseTopic::default().name(t.name.clone()))
            .collect())
    }

    async fn txn_end(&self, _: &str, _: i64, _: i16, _: bool) -> Result<ErrorCode> {
        Ok(ErrorCode::UnsupportedVersion)
    }

    async fn maintain(&self, _now: SystemTime) -> Result<()> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || log.maintain())
            .await
            .map_err(|e| Error::Message(e.to_string()))
    }

    async fn cluster_id(&self) -> Result<String> {
        Ok(self.cluster_id.clone())
    }

    async fn node(&self) -> Result<i32> {
        Ok(self.node)
    }

    async fn advertised_listener(&self) -> Result<Url> {
        Ok(self.advertised.clone())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
