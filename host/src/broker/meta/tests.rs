//! The metadata store against a real redb file, reopened where it matters.

use std::collections::BTreeMap;

use tansu_storage::{GroupDetail, UpdateError};
use uuid::Uuid;

use super::*;

fn open(dir: &tempfile::TempDir) -> Metadata {
    Metadata::open(&dir.path().join(META_FILE)).unwrap()
}

#[test]
fn topics_are_created_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let topic = TopicRecord {
        name: "events".into(),
        id: Uuid::new_v4(),
        partitions: 4,
        configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
    };
    {
        let meta = open(&dir);
        assert!(meta.insert_topic(&topic).unwrap());
        assert!(
            !meta.insert_topic(&topic).unwrap(),
            "a second create is refused"
        );
    }
    let meta = open(&dir);
    assert_eq!(meta.topics().unwrap(), vec![topic.clone()]);
    meta.remove_topic("events", 4).unwrap();
    assert!(meta.topics().unwrap().is_empty());
}

#[test]
fn offsets_are_kept_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(&dir);
    let at = |offset| CommittedOffset {
        offset,
        leader_epoch: None,
        metadata: Some("m".into()),
        commit_ms: 1,
    };
    meta.commit_offsets(
        "a",
        &[("events".into(), 0, at(10)), ("events".into(), 1, at(11))],
    )
    .unwrap();
    meta.commit_offsets("b", &[("events".into(), 0, at(20))])
        .unwrap();
    meta.commit_offsets("a", &[("events".into(), 0, at(12))])
        .unwrap();
    let a = meta.committed_offsets("a").unwrap();
    assert_eq!(a[&("events".to_owned(), 0)].offset, 12);
    assert_eq!(a[&("events".to_owned(), 1)].offset, 11);
    assert_eq!(a.len(), 2);
    assert_eq!(meta.committed_offsets("b").unwrap().len(), 1);
    assert!(meta.committed_offsets("ab").unwrap().is_empty());
    assert_eq!(
        meta.groups_with_offsets()
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    meta.delete_offsets("a").unwrap();
    assert!(meta.committed_offsets("a").unwrap().is_empty());
}

#[test]
fn a_group_update_needs_the_version_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let meta = open(&dir);
    let detail = GroupDetail {
        generation_id: 1,
        ..GroupDetail::default()
    };
    let v1 = meta.update_group("g", &detail, None).unwrap();
    assert!(matches!(
        meta.update_group("g", &detail, None),
        Err(UpdateError::Outdated { .. })
    ));
    let next = GroupDetail {
        generation_id: 2,
        ..detail.clone()
    };
    let v2 = meta.update_group("g", &next, Some(&v1)).unwrap();
    assert_ne!(v1, v2);
    match meta.update_group("g", &detail, Some(&v1)) {
        Err(UpdateError::Outdated { current, version }) => {
            assert_eq!(current.generation_id, 2);
            assert_eq!(version, v2);
        }
        other => panic!("a stale version was accepted: {other:?}"),
    }
    let (version, stored) = meta.group("g").unwrap().unwrap();
    assert_eq!((version, stored.generation_id), (v2, 2));
    assert!(meta.delete_group("g").unwrap());
    assert!(meta.group("g").unwrap().is_none());
}

#[test]
fn producer_ids_are_never_handed_out_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let meta = open(&dir);
        [
            meta.next_producer_id().unwrap(),
            meta.next_producer_id().unwrap(),
        ]
    };
    assert_eq!(first, [0, 1]);
    assert_eq!(open(&dir).next_producer_id().unwrap(), 2);
}
