//! The group coordinator: Kafka's classic consumer group protocol (join,
//! sync, heartbeat, leave, with session and rebalance timeouts and
//! generations), and offset commit and fetch fenced by generation.
//!
//! In: the six group requests, through tansu's `Coordinator` trait. Out:
//! their answers; committed offsets and each group's state in the metadata
//! store. Live membership is kept here in memory, as Kafka's coordinator
//! keeps it; a timer task expires sessions, ends rebalances that time out,
//! and stores groups that changed (so a restarted broker knows its groups'
//! generations and assignments, and live members carry on).
//!
//! `group.rs` is the state machine of one group.

mod group;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use tansu_broker::coordinator::group::{Coordinator, OffsetCommit};
use tansu_sans_io::heartbeat_response::HeartbeatResponse;
use tansu_sans_io::join_group_request::JoinGroupRequestProtocol;
use tansu_sans_io::leave_group_request::MemberIdentity;
use tansu_sans_io::leave_group_response::{LeaveGroupResponse, MemberResponse};
use tansu_sans_io::offset_commit_request::OffsetCommitRequestTopic;
use tansu_sans_io::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use tansu_sans_io::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic};
use tansu_sans_io::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use tansu_sans_io::sync_group_request::SyncGroupRequestAssignment;
use tansu_sans_io::sync_group_response::SyncGroupResponse;
use tansu_sans_io::{Body, ErrorCode};
use tansu_storage::{GroupDetail, NamedGroupDetail};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::meta::{CommittedOffset, MetaError, Metadata};
pub use group::Phase;
use group::{Group, JoinRequest};

/// How often sessions and rebalance timeouts are checked, and changed
/// groups stored.
const TICK: Duration = Duration::from_millis(100);

/// Kafka's `offset.metadata.max.bytes`.
const MAX_OFFSET_METADATA: usize = 4096;

/// The coordinator; clones share one set of groups.
#[derive(Clone, Debug)]
pub struct GroupCoordinator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    groups: Mutex<BTreeMap<String, Group>>,
    meta: Arc<Metadata>,
}

/// Committed offsets by topic, then partition; `None` where nothing is committed.
type TopicOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

/// A group as `DescribeGroups` and `ListGroups` show it.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub id: String,
    pub phase: Phase,
    pub protocol_type: String,
    pub detail: GroupDetail,
}

impl GroupCoordinator {
    /// The coordinator, with the groups stored before a restart.
    pub fn new(meta: Arc<Metadata>) -> Result<GroupCoordinator, MetaError> {
        let now = Instant::now();
        let mut groups = BTreeMap::new();
        for (id, _) in meta.groups()? {
            if let Some((version, detail)) = meta.group(&id)? {
                groups.insert(id.clone(), Group::restore(&id, detail, version, now));
            }
        }
        Ok(GroupCoordinator {
            inner: Arc::new(Inner {
                groups: Mutex::new(groups),
                meta,
            }),
        })
    }

    fn groups(&self) -> MutexGuard<'_, BTreeMap<String, Group>> {
        self.inner.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Expires sessions, ends timed-out rebalances and stores changed
    /// groups, until `stop`.
    pub async fn run_timers(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let now = Instant::now();
            let changed: Vec<(String, GroupDetail, Option<tansu_storage::Version>)> = {
                let mut groups = self.groups();
                groups
                    .values_mut()
                    .filter_map(|g| {
                        g.tick(now);
                        g.dirty.then(|| {
                            g.dirty = false;
                            (g.id.clone(), g.detail(), g.version.clone())
                        })
                    })
                    .collect()
            };
            for (id, detail, version) in changed {
                self.store(id, detail, version).await;
            }
        }
        // A last store of what changed, so a restart finds it.
        let changed: Vec<_> = self
            .groups()
            .values_mut()
            .filter(|g| g.dirty)
            .map(|g| {
                g.dirty = false;
                (g.id.clone(), g.detail(), g.version.clone())
            })
            .collect();
        for (id, detail, version) in changed {
            self.store(id, detail, version).await;
        }
    }

    async fn store(
        &self,
        id: String,
        detail: GroupDetail,
        version: Option<tansu_storage::Version>,
    ) {
        let meta = self.inner.meta.clone();
        let key = id.clone();
        let stored = tokio::task::spawn_blocking(move || {
            match meta.update_group(&key, &detail, version.as_ref()) {
                // Someone else wrote it (nothing in this broker does): this
                // coordinator holds the live state, so it wins.
                Err(tansu_storage::UpdateError::Outdated { version, .. }) => {
                    meta.update_group(&key, &detail, Some(&version))
                }
                other => other,
            }
        })
        .await;
        match stored {
            Ok(Ok(version)) => {
                if let Some(group) = self.groups().get_mut(&id) {
                    group.version = Some(version);
                }
            }
            Ok(Err(error)) => warn!(group = %id, ?error, "Cannot store a consumer group's state."),
            Err(error) => warn!(group = %id, %error, "Cannot store a consumer group's state."),
        }
    }

    /// Every group, live or known only by its committed offsets.
    pub fn summaries(&self) -> Vec<GroupSummary> {
        let mut out: BTreeMap<String, GroupSummary> = self
            .groups()
            .values()
            .map(|g| {
                (
                    g.id.clone(),
                    GroupSummary {
                        id: g.id.clone(),
                        phase: g.phase,
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        detail: g.detail(),
                    },
                )
            })
            .collect();
        match self.inner.meta.groups_with_offsets() {
            Ok(ids) => {
                for id in ids {
                    out.entry(id.clone()).or_insert_with(|| GroupSummary {
                        id,
                        phase: Phase::Empty,
                        protocol_type: String::new(),
                        detail: GroupDetail::default(),
                    });
                }
            }
            Err(error) => warn!(%error, "Cannot list the groups with committed offsets."),
        }
        out.into_values().collect()
    }

    pub fn describe(&self, ids: &[String]) -> Vec<NamedGroupDetail> {
        let all: BTreeMap<String, GroupSummary> = self
            .summaries()
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        ids.iter()
            .map(|id| match all.get(id) {
                Some(summary) => NamedGroupDetail::found(id.clone(), summary.detail.clone()),
                None => NamedGroupDetail::found(
                    id.clone(),
                    GroupDetail {
                        members: BTreeMap::new(),
                        ..GroupDetail::default()
                    },
                ),
            })
            .collect()
    }

    /// DeleteGroups: only a group without members can go, with its offsets.
    pub fn delete(&self, id: &str) -> ErrorCode {
        {
            let mut groups = self.groups();
            match groups.get(id) {
                Some(group) if !group.members.is_empty() => return ErrorCode::NonEmptyGroup,
                _ => {
                    groups.remove(id);
                }
            }
        }
        let deleted = self
            .inner
            .meta
            .delete_group(id)
            .and_then(|_| self.inner.meta.delete_offsets(id));
        match deleted {
            Ok(()) => ErrorCode::None,
            Err(error) => {
                warn!(group = %id, %error, "Cannot delete a group.");
                ErrorCode::KafkaStorageError
            }
        }
    }

    async fn commit(
        &self,
        group_id: &str,
        rows: Vec<(String, i32, CommittedOffset)>,
    ) -> Result<(), ErrorCode> {
        let meta = self.inner.meta.clone();
        let group_id = group_id.to_owned();
        match tokio::task::spawn_blocking(move || meta.commit_offsets(&group_id, &rows)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                warn!(%error, "Cannot store committed offsets.");
                Err(ErrorCode::KafkaStorageError)
            }
            Err(error) => {
                warn!(%error, "Cannot store committed offsets.");
                Err(ErrorCode::KafkaStorageError)
            }
        }
    }

    fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<TopicOffsets, ErrorCode> {
        let committed = self
            .inner
            .meta
            .committed_offsets(group_id)
            .map_err(|error| {
                warn!(%error, "Cannot read committed offsets.");
                ErrorCode::KafkaStorageError
            })?;
        Ok(match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let rows = partitions
                        .into_iter()
                        .map(|p| (p, committed.get(&(topic.clone(), p)).cloned()))
                        .collect();
                    (topic, rows)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> =
                    BTreeMap::new();
                for ((topic, partition), offset) in committed {
                    by_topic
                        .entry(topic)
                        .or_default()
                        .push((partition, Some(offset)));
                }
                by_topic.into_iter().collect()
            }
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Waits for a deferred answer; a group dropped meanwhile (broker stopping)
/// answers that the coordinator is gone.
async fn answer(outcome: group::Answer, gone: impl FnOnce() -> Body) -> Body {
    match outcome {
        Err(body) => *body,
        Ok(receiver) => receiver.await.unwrap_or_else(|_| gone()),
    }
}

#[async_trait]
impl Coordinator for GroupCoordinator {
    async fn join(
        &mut self,
        client_id: Option<&str>,
        group_id: &str,
        session_timeout_ms: i32,
        rebalance_timeout_ms: Option<i32>,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocol_type: &str,
        protocols: Option<&[JoinGroupRequestProtocol]>,
        _reason: Option<&str>,
    ) -> tansu_broker::Result<Body> {
        debug!(group = group_id, member = member_id, "JoinGroup.");
        let request = JoinRequest {
            member_id,
            instance_id: group_instance_id,
            client_id: client_id.unwrap_or_default(),
            session_timeout: millis(session_timeout_ms),
            rebalance_timeout: millis(rebalance_timeout_ms.unwrap_or(session_timeout_ms)),
            protocol_type,
            protocols: protocols
                .unwrap_or_default()
                .iter()
                .map(|p| (p.name.clone(), p.metadata.clone()))
                .collect(),
        };
        let outcome = {
            let mut groups = self.groups();
            groups
                .entry(group_id.to_owned())
                .or_insert_with(|| Group::new(group_id))
                .join(request, Instant::now())
        };
        Ok(answer(outcome, || {
            tansu_sans_io::join_group_response::JoinGroupResponse::default()
                .throttle_time_ms(Some(0))
                .error_code(ErrorCode::CoordinatorNotAvailable.into())
                .generation_id(-1)
                .protocol_name(Some(String::new()))
                .leader(String::new())
                .member_id(member_id.to_owned())
                .members(Some(Vec::new()))
                .into()
        })
        .await)
    }

    async fn sync(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        _group_instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Option<&[SyncGroupRequestAssignment]>,
    ) -> tansu_broker::Result<Body> {
        let assignments: Vec<(String, Bytes)> = assignments
            .unwrap_or_default()
            .iter()
            .map(|a| (a.member_id.clone(), a.assignment.clone()))
            .collect();
        let outcome = {
            let mut groups = self.groups();
            match groups.get_mut(group_id) {
                Some(group) => group.sync(
                    member_id,
                    generation_id,
                    protocol_type,
                    protocol_name,
                    assignments,
                    Instant::now(),
                ),
                None => Err(Box::new(
                    SyncGroupResponse::default()
                        .throttle_time_ms(Some(0))
                        .error_code(ErrorCode::UnknownMemberId.into())
                        .assignment(Bytes::new())
                        .into(),
                )),
            }
        };
        Ok(answer(outcome, || {
            SyncGroupResponse::default()
                .throttle_time_ms(Some(0))
                .error_code(ErrorCode::CoordinatorNotAvailable.into())
                .assignment(Bytes::new())
                .into()
        })
        .await)
    }

    async fn heartbeat(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        _group_instance_id: Option<&str>,
    ) -> tansu_broker::Result<Body> {
        let code = self
            .groups()
            .get_mut(group_id)
            .map_or(ErrorCode::UnknownMemberId, |g| {
                g.heartbeat(member_id, generation_id, Instant::now())
            });
        Ok(HeartbeatResponse::default()
            .throttle_time_ms(Some(0))
            .error_code(code.into())
            .into())
    }

    async fn leave(
        &mut self,
        group_id: &str,
        member_id: Option<&str>,
        members: Option<&[MemberIdentity]>,
    ) -> tansu_broker::Result<Body> {
        let leaving: Vec<(String, Option<String>)> = match (member_id, members) {
            (_, Some(members)) => members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect(),
            (Some(id), None) => vec![(id.to_owned(), None)],
            (None, None) => Vec::new(),
        };
        let ids: Vec<String> = leaving.iter().map(|(id, _)| id.clone()).collect();
        let codes = self.groups().get_mut(group_id).map_or_else(
            || vec![ErrorCode::UnknownMemberId; ids.len()],
            |g| g.leave(&ids, Instant::now()),
        );
        let top = if members.is_none() {
            codes.first().copied().unwrap_or(ErrorCode::None)
        } else {
            ErrorCode::None
        };
        Ok(LeaveGroupResponse::default()
            .throttle_time_ms(Some(0))
            .error_code(top.into())
            .members(members.map(|_| {
                leaving
                    .iter()
                    .zip(&codes)
                    .map(|((id, instance), code)| {
                        MemberResponse::default()
                            .member_id(id.clone())
                            .group_instance_id(instance.clone())
                            .error_code((*code).into())
                    })
                    .collect()
            }))
            .into())
    }

    async fn offset_commit(&mut self, detail: OffsetCommit<'_>) -> tansu_broker::Result<Body> {
        let topics: &[OffsetCommitRequestTopic] = detail.topics.unwrap_or_default();
        let allowed = {
            let groups = self.groups();
            match groups.get(detail.group_id) {
                Some(group) => group.may_commit(
                    detail.member_id.unwrap_or_default(),
                    detail.generation_id_or_member_epoch.unwrap_or(-1),
                ),
                // No live group: a standalone consumer's commit, or a
                // member of a group the broker no longer knows.
                None if detail.generation_id_or_member_epoch.unwrap_or(-1) < 0 => Ok(()),
                None => Err(ErrorCode::UnknownMemberId),
            }
        };
        let now = now_ms();
        let mut codes: Vec<Vec<ErrorCode>> = Vec::with_capacity(topics.len());
        let mut rows = Vec::new();
        for topic in topics {
            let mut topic_codes = Vec::new();
            for partition in topic.partitions.as_deref().unwrap_or_default() {
                let code = match allowed {
                    Err(code) => code,
                    Ok(())
                        if partition
                            .committed_metadata
                            .as_ref()
                            .is_some_and(|m| m.len() > MAX_OFFSET_METADATA) =>
                    {
                        ErrorCode::OffsetMetadataTooLarge
                    }
                    Ok(()) => {
                        rows.push((
                            topic.name.clone(),
                            partition.partition_index,
                            CommittedOffset {
                                offset: partition.committed_offset,
                                leader_epoch: partition.committed_leader_epoch.filter(|e| *e >= 0),
                                metadata: partition.committed_metadata.clone(),
                                commit_ms: now,
                            },
                        ));
                        ErrorCode::None
                    }
                };
                topic_codes.push(code);
            }
            codes.push(topic_codes);
        }
        if !rows.is_empty()
            && let Err(code) = self.commit(detail.group_id, rows).await
        {
            for topic_codes in &mut codes {
                for c in topic_codes.iter_mut().filter(|c| **c == ErrorCode::None) {
                    *c = code;
                }
            }
        }
        Ok(OffsetCommitResponse::default()
            .throttle_time_ms(Some(0))
            .topics(Some(
                topics
                    .iter()
                    .zip(codes)
                    .map(|(topic, topic_codes)| {
                        OffsetCommitResponseTopic::default()
                            .name(topic.name.clone())
                            .partitions(Some(
                                topic
                                    .partitions
                                    .as_deref()
                                    .unwrap_or_default()
                                    .iter()
                                    .zip(topic_codes)
                                    .map(|(p, code)| {
                                        OffsetCommitResponsePartition::default()
                                            .partition_index(p.partition_index)
                                            .error_code(code.into())
                                    })
                                    .collect(),
                            ))
                    })
                    .collect(),
            ))
            .into())
    }

    async fn offset_fetch(
        &mut self,
        group_id: Option<&str>,
        topics: Option<&[OffsetFetchRequestTopic]>,
        groups: Option<&[OffsetFetchRequestGroup]>,
        _require_stable: Option<bool>,
    ) -> tansu_broker::Result<Body> {
        // Up to version 7: one group, its topics at the top level.
        let single = match group_id {
            Some(group_id) => {
                let wanted = topics.map(|topics| {
                    topics
                        .iter()
                        .map(|t| {
                            (
                                t.name.clone(),
                                t.partition_indexes.clone().unwrap_or_default(),
                            )
                        })
                        .collect()
                });
                match self.fetch_offsets(group_id, wanted) {
                    Ok(found) => (
                        Some(
                            found
                                .into_iter()
                                .map(|(name, partitions)| {
                                    OffsetFetchResponseTopic::default()
                                        .name(name)
                                        .partitions(Some(
                                            partitions
                                                .into_iter()
                                                .map(|(index, offset)| {
                                                    OffsetFetchResponsePartition::default()
                                                        .partition_index(index)
                                                        .committed_offset(
                                                            offset
                                                                .as_ref()
                                                                .map_or(-1, |o| o.offset),
                                                        )
                                                        .committed_leader_epoch(Some(
                                                            offset
                                                                .as_ref()
                                                                .and_then(|o| o.leader_epoch)
                                                                .unwrap_or(-1),
                                                        ))
                                                        .metadata(Some(
                                                            offset
                                                                .and_then(|o| o.metadata)
                                                                .unwrap_or_default(),
                                                        ))
                                                        .error_code(ErrorCode::None.into())
                                                })
                                                .collect(),
                                        ))
                                })
                                .collect(),
                        ),
                        ErrorCode::None,
                    ),
                    Err(code) => (Some(Vec::new()), code),
                }
            }
            None => (None, ErrorCode::None),
        };
        // Version 8 on: several groups.
        let many = groups.map(|groups| {
            groups
                .iter()
                .map(|g| {
                    let wanted = g.topics.as_ref().map(|topics| {
                        topics
                            .iter()
                            .map(|t| {
                                (
                                    t.name.clone(),
                                    t.partition_indexes.clone().unwrap_or_default(),
                                )
                            })
                            .collect()
                    });
                    let (topics, code) = match self.fetch_offsets(&g.group_id, wanted) {
                        Ok(found) => (found, ErrorCode::None),
                        Err(code) => (Vec::new(), code),
                    };
                    OffsetFetchResponseGroup::default()
                        .group_id(g.group_id.clone())
                        .topics(Some(
                            topics
                                .into_iter()
                                .map(|(name, partitions)| {
                                    OffsetFetchResponseTopics::default().name(name).partitions(
                                        Some(
                                            partitions
                                                .into_iter()
                                                .map(|(index, offset)| {
                                                    OffsetFetchResponsePartitions::default()
                                                        .partition_index(index)
                                                        .committed_offset(
                                                            offset
                                                                .as_ref()
                                                                .map_or(-1, |o| o.offset),
                                                        )
                                                        .committed_leader_epoch(
                                                            offset
                                                                .as_ref()
                                                                .and_then(|o| o.leader_epoch)
                                                                .unwrap_or(-1),
                                                        )
                                                        .metadata(offset.and_then(|o| o.metadata))
                                                        .error_code(ErrorCode::None.into())
                                                })
                                                .collect(),
                                        ),
                                    )
                                })
                                .collect(),
                        ))
                        .error_code(code.into())
                })
                .collect()
        });
        Ok(OffsetFetchResponse::default()
            .throttle_time_ms(Some(0))
            .topics(single.0)
            .error_code(Some(single.1.into()))
            .groups(many)
            .into())
    }
}
