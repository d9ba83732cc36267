//! The broker's SQLite file: opening it through tansu's storage engine and
//! making sure the configured topics exist in it.
//!
//! tansu's SQLite engine runs WAL mode with `synchronous = normal`: a commit
//! survives the process dying (`kill -9`), though not the machine losing
//! power before the next checkpoint. Every storage request goes through one
//! task in tansu, one at a time.

use std::path::{Path, PathBuf};

use tansu_sans_io::{ErrorCode, create_topics_request::CreatableTopic};
use tansu_storage::{BrokerRegistrationRequest, Storage, StorageContainer, TopicId};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};
use url::Url;
use uuid::Uuid;

use super::config::TopicSpec;
use super::error::BrokerError;

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
pub(super) async fn ensure_topic(
    storage: &StorageContainer,
    spec: &TopicSpec,
    db_path: &Path,
) -> Result<TopicState, BrokerError> {
    spec.validate()?;
    let topic = CreatableTopic::default()
        .name(spec.name.clone())
        .num_partitions(spec.partitions)
        .replication_factor(1);
    match storage.create_topic(topic, false).await {
        Ok(id) => {
            info!(topic = %spec.name, partitions = spec.partitions, %id, "Topic created.");
            Ok(TopicState::Created)
        }
        Err(tansu_storage::Error::Api(ErrorCode::TopicAlreadyExists)) => {
            let existing = partition_count(storage, &spec.name).await?;
            if existing != spec.partitions {
                return Err(BrokerError::PartitionsMismatch {
                    topic: spec.name.clone(),
                    existing,
                    configured: spec.partitions,
                    path: db_path.to_owned(),
                });
            }
            debug!(topic = %spec.name, partitions = existing, "Topic exists.");
            Ok(TopicState::Existing)
        }
        Err(source) => Err(BrokerError::CreateTopic {
            topic: spec.name.clone(),
            partitions: spec.partitions,
            source,
        }),
    }
}

/// The topic's partition count as the broker reports it to clients.
pub(super) async fn partition_count(
    storage: &StorageContainer,
    topic: &str,
) -> Result<i32, BrokerError> {
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
    if found.error_code != i16::from(ErrorCode::None) {
        return Err(describe_error(format!(
            "error code {}",
            found.error_code
        )));
    }
    let partitions = found.partitions.as_ref().map_or(0, Vec::len);
    i32::try_from(partitions).map_err(|_| describe_error(format!("{partitions} partitions")))
}
