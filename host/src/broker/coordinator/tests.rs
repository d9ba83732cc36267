//! The group state machine driven by hand, with time passed in: joins that
//! wait for each other, sessions that expire, generations that fence.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tansu_sans_io::join_group_response::JoinGroupResponse;
use tansu_sans_io::sync_group_response::SyncGroupResponse;
use tansu_sans_io::{Body, ErrorCode};
use tokio::sync::oneshot;

use super::group::{Group, JoinRequest, Phase};

const SESSION: Duration = Duration::from_secs(6);
const REBALANCE: Duration = Duration::from_secs(30);

fn join_request<'a>(member_id: &'a str, protocols: &[&str]) -> JoinRequest<'a> {
    JoinRequest {
        member_id,
        instance_id: None,
        client_id: "client",
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer",
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("{p}-metadata"))))
            .collect(),
    }
}

fn answered(receiver: &mut oneshot::Receiver<Body>) -> Option<Body> {
    receiver.try_recv().ok()
}

fn as_join(body: Body) -> JoinGroupResponse {
    JoinGroupResponse::try_from(body).expect("a join answer")
}

fn as_sync(body: Body) -> SyncGroupResponse {
    SyncGroupResponse::try_from(body).expect("a sync answer")
}

fn code(raw: i16) -> ErrorCode {
    ErrorCode::try_from(raw).unwrap()
}

/// One member joined and synced: (member id, generation).
fn stable_with_one(group: &mut Group, now: Instant) -> String {
    let mut join = group.join(join_request("", &["range"]), now).unwrap();
    let answer = as_join(answered(&mut join).expect("a lone member joins at once"));
    assert_eq!(code(answer.error_code), ErrorCode::None);
    assert_eq!(answer.leader, answer.member_id);
    let id = answer.member_id;
    let mut sync = group
        .sync(
            &id,
            answer.generation_id,
            None,
            None,
            vec![(id.clone(), Bytes::from("all"))],
            now,
        )
        .unwrap();
    assert_eq!(
        as_sync(answered(&mut sync).unwrap()).assignment,
        Bytes::from("all")
    );
    assert_eq!(group.phase, Phase::Stable);
    id
}

#[test]
fn a_second_member_waits_for_the_first_to_rejoin() {
    let now = Instant::now();
    let mut group = Group::new("g");
    let a = stable_with_one(&mut group, now);
    assert_eq!(group.generation, 1);

    let mut join_b = group.join(join_request("", &["range"]), now).unwrap();
    assert!(answered(&mut join_b).is_none(), "b waits for a");
    assert_eq!(group.heartbeat(&a, 1, now), ErrorCode::RebalanceInProgress);

    let mut join_a = group.join(join_request(&a, &["range"]), now).unwrap();
    let answer_a = as_join(answered(&mut join_a).expect("a's rejoin completes the round"));
    let answer_b = as_join(answered(&mut join_b).unwrap());
    assert_eq!(answer_a.generation_id, 2);
    assert_eq!(answer_b.generation_id, 2);
    assert_eq!(answer_a.leader, a, "the leader stays");
    assert_eq!(
        answer_a.members.as_ref().unwrap().len(),
        2,
        "the leader sees everyone"
    );
    assert!(answer_b.members.as_ref().unwrap().is_empty());
    let b = answer_b.member_id;

    let mut sync_b = group.sync(&b, 2, None, None, Vec::new(), now).unwrap();
    assert!(
        answered(&mut sync_b).is_none(),
        "a follower waits for the leader"
    );
    let assignments = vec![
        (a.clone(), Bytes::from("p0,p1")),
        (b.clone(), Bytes::from("p2,p3")),
    ];
    let mut sync_a = group.sync(&a, 2, None, None, assignments, now).unwrap();
    assert_eq!(
        as_sync(answered(&mut sync_a).unwrap()).assignment,
        Bytes::from("p0,p1")
    );
    assert_eq!(
        as_sync(answered(&mut sync_b).unwrap()).assignment,
        Bytes::from("p2,p3")
    );
    assert_eq!(group.phase, Phase::Stable);
}

#[test]
fn a_silent_member_expires_and_the_survivor_takes_everything() {
    let start = Instant::now();
    let mut group = Group::new("g");
    let a = stable_with_one(&mut group, start);
    let mut join_b = group.join(join_request("", &["range"]), start).unwrap();
    let mut join_a = group.join(join_request(&a, &["range"]), start).unwrap();
    let b = as_join(answered(&mut join_b).unwrap()).member_id;
    answered(&mut join_a).unwrap();
    let both = vec![
        (a.clone(), Bytes::from("half")),
        (b.clone(), Bytes::from("half")),
    ];
    group.sync(&b, 2, None, None, Vec::new(), start).unwrap();
    group.sync(&a, 2, None, None, both, start).unwrap();

    // b is killed: only a heartbeats.
    let later = start + SESSION / 2;
    assert_eq!(group.heartbeat(&a, 2, later), ErrorCode::None);
    group.tick(later);
    assert!(
        group.members.contains_key(&b),
        "b's session is not over yet"
    );
    let expired = start + SESSION + Duration::from_millis(1);
    group.tick(expired);
    assert!(!group.members.contains_key(&b), "b expired");
    assert_eq!(
        group.heartbeat(&a, 2, expired),
        ErrorCode::RebalanceInProgress
    );

    let mut rejoin = group.join(join_request(&a, &["range"]), expired).unwrap();
    let answer = as_join(answered(&mut rejoin).unwrap());
    assert_eq!(answer.generation_id, 3);
    assert_eq!(answer.members.unwrap().len(), 1);
    let mut sync = group
        .sync(
            &a,
            3,
            None,
            None,
            vec![(a.clone(), Bytes::from("all"))],
            expired,
        )
        .unwrap();
    assert_eq!(
        as_sync(answered(&mut sync).unwrap()).assignment,
        Bytes::from("all")
    );
}

#[test]
fn a_member_that_does_not_rejoin_in_time_is_dropped() {
    let start = Instant::now();
    let mut group = Group::new("g");
    let a = stable_with_one(&mut group, start);
    let mut join_b = group.join(join_request("", &["range"]), start).unwrap();
    // a keeps heartbeating but never rejoins.
    let mut t = start;
    while t < start + REBALANCE {
        t += Duration::from_secs(1);
        group.heartbeat(&a, 1, t);
        group.tick(t);
    }
    let answer = as_join(answered(&mut join_b).expect("the round ends at the rebalance timeout"));
    assert_eq!(answer.generation_id, 2);
    assert_eq!(answer.leader, answer.member_id, "b leads alone");
    assert!(!group.members.contains_key(&a));
    assert_eq!(group.heartbeat(&a, 1, t), ErrorCode::UnknownMemberId);
}

#[test]
fn commits_are_fenced_by_generation_and_membership() {
    let now = Instant::now();
    let mut group = Group::new("g");
    let a = stable_with_one(&mut group, now);
    assert_eq!(group.may_commit(&a, 1), Ok(()));
    assert_eq!(group.may_commit(&a, 0), Err(ErrorCode::IllegalGeneration));
    assert_eq!(
        group.may_commit("zombie", 1),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        group.may_commit("", -1),
        Err(ErrorCode::UnknownMemberId),
        "not while members own partitions"
    );
    let mut join_b = group.join(join_request("", &["range"]), now).unwrap();
    // During the rebalance a member may still commit its own generation.
    assert_eq!(group.may_commit(&a, 1), Ok(()));
    group.join(join_request(&a, &["range"]), now).unwrap();
    answered(&mut join_b).unwrap();
    assert_eq!(group.may_commit(&a, 2), Err(ErrorCode::RebalanceInProgress));
    assert_eq!(group.may_commit(&a, 1), Err(ErrorCode::RebalanceInProgress));
}

#[test]
fn leaving_rebalances_and_the_last_one_out_empties_the_group() {
    let now = Instant::now();
    let mut group = Group::new("g");
    let a = stable_with_one(&mut group, now);
    assert_eq!(
        group.leave(&[a.clone(), "nobody".to_owned()], now),
        vec![ErrorCode::None, ErrorCode::UnknownMemberId]
    );
    assert_eq!(group.phase, Phase::Empty);
    assert_eq!(group.generation, 2);
    assert_eq!(
        group.may_commit("", -1),
        Ok(()),
        "a standalone commit into an empty group"
    );
}

#[test]
fn protocols_must_overlap_and_the_favourite_wins() {
    let now = Instant::now();
    let mut group = Group::new("g");
    let mut a = group
        .join(join_request("", &["cooperative-sticky", "range"]), now)
        .unwrap();
    let a_id = as_join(answered(&mut a).unwrap()).member_id;
    let refused = group
        .join(join_request("", &["roundrobin"]), now)
        .unwrap_err();
    assert_eq!(
        code(as_join(*refused).error_code),
        ErrorCode::InconsistentGroupProtocol
    );
    let mut b = group
        .join(join_request("", &["range", "cooperative-sticky"]), now)
        .unwrap();
    let mut c = group.join(join_request("", &["range"]), now).unwrap();
    group
        .join(join_request(&a_id, &["cooperative-sticky", "range"]), now)
        .unwrap();
    answered(&mut b).unwrap();
    answered(&mut c).unwrap();
    assert_eq!(
        group.protocol.as_deref(),
        Some("range"),
        "the only protocol c knows"
    );
    let short = group
        .join(
            JoinRequest {
                session_timeout: Duration::from_millis(10),
                ..join_request("", &["range"])
            },
            now,
        )
        .unwrap_err();
    assert_eq!(
        code(as_join(*short).error_code),
        ErrorCode::InvalidSessionTimeout
    );
}

#[test]
fn a_stored_group_carries_on_after_a_restart() {
    let now = Instant::now();
    let mut group = Group::new("g");
    let a = stable_with_one(&mut group, now);
    let detail = group.detail();
    let version = tansu_storage::Version::default();
    let mut restored = Group::restore("g", detail, version, now);
    assert_eq!(restored.phase, Phase::Stable);
    assert_eq!(restored.generation, 1);
    assert_eq!(
        restored.heartbeat(&a, 1, now),
        ErrorCode::None,
        "no rebalance for a live member"
    );
    let mut sync = restored.sync(&a, 1, None, None, Vec::new(), now).unwrap();
    assert_eq!(
        as_sync(answered(&mut sync).unwrap()).assignment,
        Bytes::from("all")
    );
    restored.tick(now + SESSION * 2);
    assert!(
        restored.members.is_empty(),
        "a member that never came back expires"
    );
}
