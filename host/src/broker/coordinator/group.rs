//! One consumer group under Kafka's classic protocol, as a state machine:
//!
//! ```text
//!            join              all rejoined, or            leader's
//!  Empty ──────────▶ Preparing ──────────────▶ Completing ─────────▶ Stable
//!    ▲               Rebalance  rebalance       Rebalance    sync      │
//!    │                  ▲       timeout                                │
//!    └── last member ───┴──── a join, a leave, a session expiry ───────┘
//! ```
//!
//! A JoinGroup waits until every member has rejoined (or the rebalance
//! timeout drops those that did not); then the generation moves on and the
//! leader gets every member's subscription. A SyncGroup waits for the
//! leader's assignments. A member that neither heartbeats nor waits in a
//! join or sync for its session timeout is removed, and the others
//! rebalance to take its partitions.
//!
//! Everything here is synchronous and takes `now`; waiting requests get
//! their answer through the oneshot channel they left in their member.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tansu_sans_io::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use tansu_sans_io::sync_group_response::SyncGroupResponse;
use tansu_sans_io::{Body, ErrorCode};
use tansu_storage::{GroupDetail, GroupMember, GroupState, Version};
use tokio::sync::oneshot;
use tracing::info;
use uuid::Uuid;

/// Kafka's `group.min.session.timeout.ms` is 6 s; the embedded broker
/// allows 1 s, so tests and impatient users can fail over faster.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_secs(1);
/// Kafka's `group.max.session.timeout.ms`.
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub type Reply = oneshot::Sender<Body>;

/// A request's answer: now (an error), or later through the channel.
pub type Answer = Result<oneshot::Receiver<Body>, Box<Body>>;

#[derive(Debug)]
pub struct Member {
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// Protocol names and metadata, in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// Removed if no heartbeat, join or sync arrives before this.
    pub deadline: Instant,
    pub join: Option<Reply>,
    pub sync: Option<Reply>,
    /// Earlier joiners lead when the leader leaves.
    order: u64,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl Phase {
    /// Kafka's name for the state, as `kafka-consumer-groups --describe` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Empty => "Empty",
            Phase::PreparingRebalance => "PreparingRebalance",
            Phase::CompletingRebalance => "CompletingRebalance",
            Phase::Stable => "Stable",
        }
    }
}

/// What a JoinGroup asks.
#[derive(Debug)]
pub struct JoinRequest<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub client_id: &'a str,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: &'a str,
    pub protocols: Vec<(String, Bytes)>,
}

#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub phase: Phase,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    rebalance_deadline: Option<Instant>,
    /// The stored version, for the next compare-and-swap.
    pub version: Option<Version>,
    /// Changed since last stored.
    pub dirty: bool,
    next_order: u64,
    inception: SystemTime,
}

impl Group {
    pub fn new(id: &str) -> Group {
        Group {
            id: id.to_owned(),
            phase: Phase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline: None,
            version: None,
            dirty: false,
            next_order: 0,
            inception: SystemTime::now(),
        }
    }

    /// A group as stored before a restart. Its members get a fresh session
    /// to heartbeat in: live ones carry on without a rebalance, dead ones
    /// expire and the others rebalance.
    pub fn restore(id: &str, detail: GroupDetail, version: Version, now: Instant) -> Group {
        let mut group = Group::new(id);
        group.version = Some(version);
        group.generation = detail.generation_id.max(0);
        group.inception = detail.inception;
        let session = Duration::from_millis(detail.session_timeout_ms.max(0) as u64)
            .clamp(MIN_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT);
        let rebalance = detail
            .rebalance_timeout_ms
            .map_or(session, |ms| Duration::from_millis(ms.max(0) as u64));
        let (protocol_type, protocol, leader, assignments) = match detail.state {
            GroupState::Formed {
                protocol_type,
                protocol_name,
                leader,
                assignments,
            } => (
                Some(protocol_type),
                Some(protocol_name),
                Some(leader),
                assignments,
            ),
            GroupState::Forming { .. } => return group,
        };
        for (member_id, member) in detail.members {
            let order = group.next_order;
            group.next_order += 1;
            group.members.insert(
                member_id.clone(),
                Member {
                    instance_id: member.join_response.group_instance_id.clone(),
                    session_timeout: session,
                    rebalance_timeout: rebalance,
                    protocols: vec![(
                        protocol.clone().unwrap_or_default(),
                        member.join_response.metadata.clone(),
                    )],
                    assignment: assignments.get(&member_id).cloned().unwrap_or_default(),
                    deadline: now + session,
                    join: None,
                    sync: None,
                    order,
                },
            );
        }
        if !group.members.is_empty() {
            group.phase = Phase::Stable;
            group.protocol_type = protocol_type;
            group.protocol = protocol;
            group.leader = leader;
        }
        group
    }

    /// The group as tansu's storage types describe it, to store and to describe.
    pub fn detail(&self) -> GroupDetail {
        let members = self
            .members
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    GroupMember {
                        join_response: JoinGroupResponseMember::default()
                            .member_id(id.clone())
                            .group_instance_id(m.instance_id.clone())
                            .metadata(m.metadata_for(self.protocol.as_deref().unwrap_or_default())),
                        last_contact: None,
                    },
                )
            })
            .collect();
        let state = match (
            self.phase,
            &self.protocol_type,
            &self.protocol,
            &self.leader,
        ) {
            (Phase::Stable, Some(protocol_type), Some(protocol_name), Some(leader)) => {
                GroupState::Formed {
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    leader: leader.clone(),
                    assignments: self
                        .members
                        .iter()
                        .map(|(id, m)| (id.clone(), m.assignment.clone()))
                        .collect(),
                }
            }
            _ => GroupState::Forming {
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol.clone(),
                leader: self.leader.clone(),
            },
        };
        let session = self.members.values().map(|m| m.session_timeout).max();
        let rebalance = self.members.values().map(|m| m.rebalance_timeout).max();
        GroupDetail {
            session_timeout_ms: session.map_or(45_000, |d| d.as_millis() as i32),
            rebalance_timeout_ms: rebalance.map(|d| d.as_millis() as i32),
            members,
            generation_id: self.generation,
            skip_assignment: Some(false),
            inception: self.inception,
            state,
        }
    }

    /// Handles a JoinGroup: the answer now (an error, or the current
    /// generation for a member that changed nothing), or a channel the
    /// answer comes through once the rebalance completes.
    pub fn join(&mut self, request: JoinRequest<'_>, now: Instant) -> Answer {
        let refuse = |code: ErrorCode, member_id: &str| {
            Box::new(join_response(
                code,
                -1,
                None,
                None,
                "",
                member_id,
                Vec::new(),
            ))
        };
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return Err(refuse(
                ErrorCode::InconsistentGroupProtocol,
                request.member_id,
            ));
        }
        if !(MIN_SESSION_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&request.session_timeout) {
            return Err(refuse(ErrorCode::InvalidSessionTimeout, request.member_id));
        }
        let known = self.members.contains_key(request.member_id);
        if !request.member_id.is_empty() && !known {
            return Err(refuse(ErrorCode::UnknownMemberId, request.member_id));
        }
        let others: Vec<&Member> = self
            .members
            .iter()
            .filter(|(id, _)| id.as_str() != request.member_id)
            .map(|(_, m)| m)
            .collect();
        if !others.is_empty() {
            let same_type = self.protocol_type.as_deref() == Some(request.protocol_type);
            let common = request.protocols.iter().any(|(name, _)| {
                others
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            });
            if !same_type || !common {
                return Err(refuse(
                    ErrorCode::InconsistentGroupProtocol,
                    request.member_id,
                ));
            }
        }
        let member_id = if known {
            request.member_id.to_owned()
        } else {
            // A new member gets its id in the answer. Kafka (KIP-394) would
            // first answer MEMBER_ID_REQUIRED; clients older than that do not
            // understand it, and the embedded broker has no use for it.
            let prefix = if request.client_id.is_empty() {
                "member"
            } else {
                request.client_id
            };
            format!("{prefix}-{}", Uuid::new_v4())
        };
        if let Some(instance_id) = request.instance_id {
            // A static member rejoining under a new id replaces the old one.
            let stale: Vec<String> = self
                .members
                .iter()
                .filter(|(id, m)| {
                    m.instance_id.as_deref() == Some(instance_id) && **id != member_id
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in stale {
                self.remove_member(&id, ErrorCode::FencedInstanceId);
            }
        }
        let (reply, answer) = oneshot::channel();
        let unchanged = known
            && self.members[&member_id].protocols == request.protocols
            && matches!(self.phase, Phase::CompletingRebalance | Phase::Stable)
            && (self.phase == Phase::CompletingRebalance
                || self.leader.as_deref() != Some(&member_id));
        if unchanged {
            let member = self.members.get_mut(&member_id).expect("known member");
            member.deadline = now + member.session_timeout;
            let _ = reply.send(self.join_answer(&member_id));
            return Ok(answer);
        }
        let order = self.next_order;
        self.next_order += 1;
        let member = self
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                instance_id: request.instance_id.map(str::to_owned),
                session_timeout: request.session_timeout,
                rebalance_timeout: request.rebalance_timeout,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                deadline: now,
                join: None,
                sync: None,
                order,
            });
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.protocols = request.protocols;
        member.deadline = now + member.session_timeout;
        if let Some(previous) = member.join.replace(reply) {
            let _ = previous.send(join_response(
                ErrorCode::RebalanceInProgress,
                self.generation,
                None,
                None,
                "",
                &member_id,
                Vec::new(),
            ));
        }
        if self.protocol_type.is_none() || self.members.len() == 1 {
            self.protocol_type = Some(request.protocol_type.to_owned());
        }
        if self.phase != Phase::PreparingRebalance {
            self.prepare_rebalance(now, &format!("member {member_id} joined"));
        }
        self.complete_join_if_ready(now);
        Ok(answer)
    }

    /// Handles a SyncGroup: the member's assignment now (stable group), an
    /// error, or a channel for it once the leader has sent assignments.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        protocol_type: Option<&str>,
        protocol: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Answer {
        let refuse = |code| Box::new(sync_response(code, None, None, Bytes::new()));
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(refuse(ErrorCode::UnknownMemberId));
        };
        if generation != self.generation {
            return Err(refuse(ErrorCode::IllegalGeneration));
        }
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol.is_some_and(|p| Some(p) != self.protocol.as_deref())
        {
            return Err(refuse(ErrorCode::InconsistentGroupProtocol));
        }
        member.deadline = now + member.session_timeout;
        let (reply, answer) = oneshot::channel();
        match self.phase {
            Phase::Empty => return Err(refuse(ErrorCode::UnknownMemberId)),
            Phase::PreparingRebalance => return Err(refuse(ErrorCode::RebalanceInProgress)),
            Phase::Stable => {
                let _ = reply.send(sync_response(
                    ErrorCode::None,
                    self.protocol_type.clone(),
                    self.protocol.clone(),
                    member.assignment.clone(),
                ));
                return Ok(answer);
            }
            Phase::CompletingRebalance => {
                member.sync = Some(reply);
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            let mut assignments: BTreeMap<String, Bytes> = assignments.into_iter().collect();
            for (id, member) in &mut self.members {
                member.assignment = assignments.remove(id).unwrap_or_default();
            }
            self.phase = Phase::Stable;
            self.dirty = true;
            info!(
                group = %self.id,
                generation = self.generation,
                members = self.members.len(),
                "Group stable."
            );
            for member in self.members.values_mut() {
                if let Some(reply) = member.sync.take() {
                    let _ = reply.send(sync_response(
                        ErrorCode::None,
                        self.protocol_type.clone(),
                        self.protocol.clone(),
                        member.assignment.clone(),
                    ));
                }
            }
        }
        Ok(answer)
    }

    pub fn heartbeat(&mut self, member_id: &str, generation: i32, now: Instant) -> ErrorCode {
        let Some(member) = self.members.get_mut(member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if generation != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        member.deadline = now + member.session_timeout;
        match self.phase {
            Phase::PreparingRebalance => ErrorCode::RebalanceInProgress,
            _ => ErrorCode::None,
        }
    }

    /// Removes members that leave; the rest rebalance.
    pub fn leave(&mut self, member_ids: &[String], now: Instant) -> Vec<ErrorCode> {
        let codes: Vec<ErrorCode> = member_ids
            .iter()
            .map(|id| {
                if self.remove_member(id, ErrorCode::UnknownMemberId) {
                    ErrorCode::None
                } else {
                    ErrorCode::UnknownMemberId
                }
            })
            .collect();
        if codes.contains(&ErrorCode::None) {
            self.after_removal(now, "a member left");
        }
        codes
    }

    /// Whether an offset commit from this member and generation may go in:
    /// Kafka's rules, so a member of an older generation cannot overwrite
    /// the offsets of the partitions' new owner.
    pub fn may_commit(&self, member_id: &str, generation: i32) -> Result<(), ErrorCode> {
        if generation < 0 && member_id.is_empty() && self.members.is_empty() {
            return Ok(());
        }
        if self.phase == Phase::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
        Ok(())
    }

    /// Expires members whose session ran out and ends a rebalance whose
    /// timeout passed.
    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.join.is_none() && m.sync.is_none() && m.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            info!(group = %self.id, member = %id, "Member's session expired; removing it.");
            self.remove_member(id, ErrorCode::UnknownMemberId);
        }
        if !expired.is_empty() {
            self.after_removal(now, "a member's session expired");
        }
        if self.phase == Phase::PreparingRebalance
            && self
                .rebalance_deadline
                .is_some_and(|deadline| deadline <= now)
        {
            let late: Vec<String> = self
                .members
                .iter()
                .filter(|(_, m)| m.join.is_none())
                .map(|(id, _)| id.clone())
                .collect();
            for id in &late {
                info!(group = %self.id, member = %id, "Member did not rejoin within the rebalance timeout; removing it.");
                self.remove_member(id, ErrorCode::UnknownMemberId);
            }
            self.complete_join(now);
        }
    }

    fn remove_member(&mut self, id: &str, code: ErrorCode) -> bool {
        let Some(member) = self.members.remove(id) else {
            return false;
        };
        if let Some(reply) = member.join {
            let _ = reply.send(join_response(code, -1, None, None, "", id, Vec::new()));
        }
        if let Some(reply) = member.sync {
            let _ = reply.send(sync_response(code, None, None, Bytes::new()));
        }
        self.dirty = true;
        true
    }

    fn after_removal(&mut self, now: Instant, why: &str) {
        match self.phase {
            Phase::Empty => {}
            Phase::PreparingRebalance => self.complete_join_if_ready(now),
            Phase::CompletingRebalance | Phase::Stable => {
                self.prepare_rebalance(now, why);
                self.complete_join_if_ready(now);
            }
        }
    }

    fn prepare_rebalance(&mut self, now: Instant, why: &str) {
        // Members waiting for assignments of the old generation hear that
        // it is over, and rejoin.
        for member in self.members.values_mut() {
            if let Some(reply) = member.sync.take() {
                let _ = reply.send(sync_response(
                    ErrorCode::RebalanceInProgress,
                    None,
                    None,
                    Bytes::new(),
                ));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.phase = Phase::PreparingRebalance;
        self.rebalance_deadline = Some(now + timeout);
        self.dirty = true;
        info!(group = %self.id, reason = why, "Rebalancing group.");
    }

    fn complete_join_if_ready(&mut self, now: Instant) {
        if self.phase == Phase::PreparingRebalance
            && self.members.values().all(|m| m.join.is_some())
        {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        self.generation += 1;
        self.rebalance_deadline = None;
        self.dirty = true;
        if self.members.is_empty() {
            self.phase = Phase::Empty;
            self.protocol = None;
            self.protocol_type = None;
            self.leader = None;
            info!(group = %self.id, generation = self.generation, "Group empty.");
            return;
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self
                .members
                .iter()
                .min_by_key(|(_, m)| m.order)
                .map(|(id, _)| id.clone());
        }
        self.phase = Phase::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let answer = self.join_answer(&id);
            let member = self.members.get_mut(&id).expect("member listed");
            member.deadline = now + member.session_timeout;
            if let Some(reply) = member.join.take() {
                let _ = reply.send(answer);
            }
        }
        info!(
            group = %self.id,
            generation = self.generation,
            members = self.members.len(),
            protocol = self.protocol.as_deref().unwrap_or_default(),
            "Group rebalanced; waiting for the leader's assignments."
        );
    }

    /// Kafka's choice: among the protocols every member supports, the one
    /// most members prefer.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().min_by_key(|m| m.order)?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .collect();
        let votes = |candidate: &String| {
            self.members
                .values()
                .filter(|m| {
                    m.protocols
                        .iter()
                        .map(|(n, _)| n)
                        .find(|n| candidates.contains(n))
                        == Some(candidate)
                })
                .count()
        };
        let mut best: Option<(&String, usize)> = None;
        for candidate in &candidates {
            let count = votes(candidate);
            if best.is_none_or(|(_, b)| count > b) {
                best = Some((candidate, count));
            }
        }
        best.map(|(name, _)| name.clone())
    }

    /// The JoinGroup answer of the current generation for `member_id`: the
    /// leader's carries every member's subscription.
    fn join_answer(&self, member_id: &str) -> Body {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if self.leader.as_deref() == Some(member_id) {
            self.members
                .iter()
                .map(|(id, m)| {
                    JoinGroupResponseMember::default()
                        .member_id(id.clone())
                        .group_instance_id(m.instance_id.clone())
                        .metadata(m.metadata_for(&protocol))
                })
                .collect()
        } else {
            Vec::new()
        };
        join_response(
            ErrorCode::None,
            self.generation,
            self.protocol_type.clone(),
            Some(protocol),
            self.leader.as_deref().unwrap_or_default(),
            member_id,
            members,
        )
    }
}

fn join_response(
    code: ErrorCode,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: &str,
    member_id: &str,
    members: Vec<JoinGroupResponseMember>,
) -> Body {
    JoinGroupResponse::default()
        .throttle_time_ms(Some(0))
        .error_code(code.into())
        .generation_id(generation)
        .protocol_type(protocol_type)
        .protocol_name(protocol.or(Some(String::new())))
        .leader(leader.to_owned())
        .skip_assignment(Some(false))
        .member_id(member_id.to_owned())
        .members(Some(members))
        .into()
}

fn sync_response(
    code: ErrorCode,
    protocol_type: Option<String>,
    protocol: Option<String>,
    assignment: Bytes,
) -> Body {
    SyncGroupResponse::default()
        .throttle_time_ms(Some(0))
        .error_code(code.into())
        .protocol_type(protocol_type)
        .protocol_name(protocol)
        .assignment(assignment)
        .into()
}
