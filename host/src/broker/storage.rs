//! The broker's SQLite file: opening it through tansu's storage engine and
//! making sure the configured topics exist in it.
//!
//! tansu's SQLite engine runs WAL mode with `synchronous = normal`: a commit
//! survives the process dying (`kill -9`), though not the machine losing
//! power before the next checkpoint. Every storage request goes through one
//! task in tansu, one at a time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tansu_sans_io::{ErrorCode, create_topics_request::CreatableTopic};
use tansu_storage::{BrokerRegistrationRequest, Storage, StorageContainer, TopicId};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};
use url::Url;
use uuid::Uuid;

use super::config::TopicSpec;
use super::error::BrokerError;

/// How long [`open`] waits for another connection to let go of the database.
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

/// Opens (creating if needed) the SQLite database at `db_path` and registers
/// this broker in it. `cancellation` stops tansu's storage task once the
/// request it is serving, if any, is committed.
pub(super) async fn open(
    db_path: &Path,
    cluster_id: &str,
    node_id: i32,
    advertised: &Url,
    cancellation: CancellationToken,
) -> Result<StorageContainer, BrokerError> {
    let url = sqlite_url(db_path)?;
    wait_until_unlocked(db_path).await?;
    debug!(storage = %url, "Opening broker storage.");
    let storage = StorageContainer::builder()
        .cluster_id(cluster_id)
        .node_id(node_id)
        .advertised_listener(advertised.clone())
        .storage(url)
        .cancellation(cancellation)
        .silent(true)
        .build()
        .await
        .map_err(|source| BrokerError::OpenStorage {
            path: db_path.to_owned(),
            source,
        })?;
    storage
        .register_broker(BrokerRegistrationRequest {
            broker_id: node_id,
            cluster_id: cluster_id.to_owned(),
            incarnation_id: Uuid::new_v4(),
            rack: None,
        })
        .await
        .map_err(|source| BrokerError::Register {
            path: db_path.to_owned(),
            source,
        })?;
    Ok(storage)
}

/// Waits until no other connection holds a lock on the database.
///
/// tansu opens its connections without a busy timeout, logs an ERROR for
/// each of its 20 schema statements that meets a lock, and then fails. A
/// broker stopped in this process a moment earlier can still be closing its
/// connection (which checkpoints the WAL under an exclusive lock), so a
/// restart would meet one. A write transaction taken and rolled back here,
/// with SQLite's own busy timeout, proves the database free.
async fn wait_until_unlocked(db_path: &Path) -> Result<(), BrokerError> {
    let sqlite_error = |source| BrokerError::Sqlite {
        path: db_path.to_owned(),
        source,
    };
    let db = libsql::Builder::new_local(db_path)
        .build()
        .await
        .map_err(sqlite_error)?;
    let connection = db.connect().map_err(sqlite_error)?;
    connection
        .busy_timeout(BUSY_PATIENCE)
        .map_err(sqlite_error)?;
    match connection.execute("BEGIN IMMEDIATE", ()).await {
        Ok(_) => {}
        Err(libsql::Error::SqliteFailure(SQLITE_BUSY, _)) => {
            return Err(BrokerError::DatabaseLocked {
                path: db_path.to_owned(),
                waited: BUSY_PATIENCE,
            });
        }
        Err(source) => return Err(sqlite_error(source)),
    }
    connection
        .execute("ROLLBACK", ())
        .await
        .map_err(sqlite_error)?;
    Ok(())
}

/// SQLite's result code for a database locked by another connection.
const SQLITE_BUSY: std::ffi::c_int = 5;

/// The `sqlite:` URL under which tansu opens exactly `db_path`.
///
/// tansu opens `current_dir()/<url host>/<url path less one leading '/'>` and
/// reads the path without percent-decoding it. A URL with an empty host and
/// a path starting with `//` leaves an absolute path, which replaces the
/// current directory. Paths that percent-encoding would change are refused
/// rather than silently opening a different file.
pub(super) fn sqlite_url(db_path: &Path) -> Result<Url, BrokerError> {
    let unsupported = |reason: &str| BrokerError::UnsupportedDataDir {
        path: db_path.to_owned(),
        reason: reason.to_owned(),
    };
    if !db_path.is_absolute() {
        return Err(unsupported("the path is not absolute"));
    }
    let text = db_path
        .to_str()
        .ok_or_else(|| unsupported("the path is not UTF-8"))?;
    let url = Url::parse(&format!("sqlite:///{text}"))
        .map_err(|error| unsupported(&format!("not a valid URL path ({error})")))?;
    if tansu_path_of(&url) != db_path {
        return Err(unsupported(&format!(
            "tansu would open {} instead",
            tansu_path_of(&url).display()
        )));
    }
    Ok(url)
}

/// What tansu 0.6's `lite::Engine` builder does with a `sqlite:` URL, on an
/// absolute path it cannot reach through the current directory.
fn tansu_path_of(url: &Url) -> PathBuf {
    let mut path = PathBuf::from("/nonexistent-current-dir");
    if let Some(domain) = url.domain() {
        path.push(domain);
    }
    path.push(url.path().strip_prefix('/').unwrap_or(url.path()));
    path
}

/// Whether [`ensure_topic`] made the topic or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TopicState {
    Created,
    Existing,
}

/// Creates the topic if it is missing. An existing topic must have the
/// configured partition count: tansu cannot change it, and silently running
/// with another count would surprise the consumers that split partitions.
///
/// Existence is checked first because tansu logs an ERROR for every create
/// of a topic that exists, which would be each restart.
pub(super) async fn ensure_topic(
    storage: &StorageContainer,
    spec: &TopicSpec,
    db_path: &Path,
) -> Result<TopicState, BrokerError> {
    spec.validate()?;
    let state = match partition_count(storage, &spec.name).await? {
        Some(existing) => (existing, TopicState::Existing),
        None => {
            let topic = CreatableTopic::default()
                .name(spec.name.clone())
                .num_partitions(spec.partitions)
                .replication_factor(1);
            match storage.create_topic(topic, false).await {
                Ok(id) => {
                    info!(topic = %spec.name, partitions = spec.partitions, %id, "Topic created.");
                    (spec.partitions, TopicState::Created)
                }
                // Created by a client between the check and here.
                Err(tansu_storage::Error::Api(ErrorCode::TopicAlreadyExists)) => {
                    let existing =
                        partition_count(storage, &spec.name).await?.ok_or_else(|| {
                            BrokerError::DescribeTopic {
                                topic: spec.name.clone(),
                                reason: "it exists and then does not".to_owned(),
                            }
                        })?;
                    (existing, TopicState::Existing)
                }
                Err(source) => {
                    return Err(BrokerError::CreateTopic {
                        topic: spec.name.clone(),
                        partitions: spec.partitions,
                        source,
                    });
                }
            }
        }
    };
    match state {
        (existing, TopicState::Existing) if existing != spec.partitions => {
            Err(BrokerError::PartitionsMismatch {
                topic: spec.name.clone(),
                existing,
                configured: spec.partitions,
                path: db_path.to_owned(),
            })
        }
        (_, state) => Ok(state),
    }
}

/// The topic's partition count as the broker reports it to clients, or
/// `None` if there is no such topic.
pub(super) async fn partition_count(
    storage: &StorageContainer,
    topic: &str,
) -> Result<Option<i32>, BrokerError> {
    let describe_error = |reason: String| BrokerError::DescribeTopic {
        topic: topic.to_owned(),
        reason,
    };
    let metadata = storage
        .metadata(Some(&[TopicId::Name(topic.to_owned())]))
        .await
        .map_err(|error| describe_error(error.to_string()))?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
        .ok_or_else(|| describe_error("not in the metadata response".to_owned()))?;
    match ErrorCode::try_from(found.error_code) {
        Ok(ErrorCode::None) => {}
        Ok(ErrorCode::UnknownTopicOrPartition) => return Ok(None),
        _ => return Err(describe_error(format!("error code {}", found.error_code))),
    }
    let partitions = found.partitions.as_ref().map_or(0, Vec::len);
    i32::try_from(partitions)
        .map(Some)
        .map_err(|_| describe_error(format!("{partitions} partitions")))
}
