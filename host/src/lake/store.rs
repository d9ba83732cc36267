//! The lake's storage: one `object_store` picked by URL scheme, and the few
//! operations the writer and the pipeline need from it.
//!
//! A URL enters through [`Lake::open`]: a directory (`./lake`,
//! `file:///abs/path`) becomes a `LocalFileSystem`, `hdfs://namenode:8020/path`
//! an `HdfsObjectStore`. Nothing above this file knows which. Finished
//! Parquet bytes enter through `Lake::publish` and leave as a file in place;
//! what the lake holds leaves through [`Lake::files`] and
//! [`Lake::progress`], read from file names alone.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

use super::LakeError;
use super::layout::{PartName, TableDir, date_dir, is_hidden};
use super::retry::Retry;

/// A lake: a root directory on local disk or HDFS holding one directory per
/// table. Cheap to clone.
#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    /// `file://` or `hdfs://namenode:8020`: the store's own URL.
    store_url: String,
    /// The lake's root inside the store.
    root: Path,
    retry: Retry,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

/// A data file in place, and what its name says it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// Path inside the store, e.g. `lake/events_buy/date=2018-08-13/part-events-0-0-99.parquet`.
    pub path: Path,
    pub name: PartName,
    pub size: u64,
    pub modified: std::time::SystemTime,
}

/// Per Kafka topic-partition, the last offset a table holds.
pub type Progress = HashMap<(String, i32), i64>;

/// The Parquet footer key holding a file's table schema (a Hive column
/// list); the writer records it, schema checks read it back.
pub const SCHEMA_KEY: &str = "sluice.schema";

/// What a process will do with the lake.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Write files (pipelines): the lake is created if missing and proved
    /// writable.
    Write,
    /// Read them (queries, reports): nothing is created or written.
    Read,
}

/// Name of the file [`Lake::open`] writes and deletes to prove the lake
/// is writable; hidden, so no reader ever sees it.
const PROBE: &str = ".sluice-write-probe";

/// A probe name no other process uses at the same time: in containers every
/// replica may be PID 1.
fn probe_name() -> String {
    format!("{PROBE}-{}", uuid::Uuid::new_v4().simple())
}

impl Lake {
    /// Opens the lake at `url`, creating a local directory if needed and
    /// proving it writable, so a bad lake fails at start and not at the
    /// first flush. An unreachable HDFS gives a transient error: wrap the
    /// call in [`Retry::run`] to wait for it.
    pub async fn open(url: &str) -> Result<Lake, LakeError> {
        Lake::open_as(url, Access::Write).await
    }

    /// Opens the lake at `url` to read it only (queries, reports, DDL): it
    /// must exist and be readable, and nothing is created or written, so a
    /// read-only account or mount will do. An unreachable HDFS gives a
    /// transient error, as [`Lake::open`]'s does.
    pub async fn open_to_read(url: &str) -> Result<Lake, LakeError> {
        Lake::open_as(url, Access::Read).await
    }

    async fn open_as(url: &str, access: Access) -> Result<Lake, LakeError> {
        let invalid = |reason: &str| LakeError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let lake = if url.starts_with("hdfs://") || url.starts_with("viewfs://") {
            let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
            let host = parsed
                .host_str()
                .ok_or_else(|| invalid("no namenode host"))?;
            let store_url = match parsed.port() {
                Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
                None => format!("{}://{host}", parsed.scheme()),
            };
            let root = Path::parse(parsed.path()).map_err(|e| invalid(&e.to_string()))?;
            let store = hdfs_native_object_store::HdfsObjectStoreBuilder::new()
                .with_url(store_url.clone())
                .build()
                .map_err(|source| LakeError::Connect {
                    url: url.to_string(),
                    source,
                })?;
            Lake {
                store: Arc::new(store),
                store_url,
                root,
                retry: Retry::default(),
            }
        } else {
            let dir = match url.strip_prefix("file://") {
                Some(_) => url::Url::parse(url)
                    .map_err(|e| invalid(&e.to_string()))?
                    .to_file_path()
                    .map_err(|()| invalid("a file:// URL needs an absolute path"))?,
                None if url.contains("://") => {
                    return Err(invalid("unsupported scheme"));
                }
                None if url.is_empty() => return Err(invalid("it is empty")),
                None => std::path::PathBuf::from(url),
            };
            let dir = match access {
                Access::Write => {
                    let not_writable = |source| LakeError::NotWritable {
                        path: dir.display().to_string(),
                        source,
                    };
                    std::fs::create_dir_all(&dir).map_err(not_writable)?;
                    let dir = std::fs::canonicalize(&dir).map_err(not_writable)?;
                    let probe = dir.join(probe_name());
                    std::fs::write(&probe, b"").map_err(not_writable)?;
                    std::fs::remove_file(&probe).map_err(not_writable)?;
                    dir
                }
                Access::Read => {
                    let not_readable = |source| LakeError::NotReadable {
                        path: dir.display().to_string(),
                        source,
                    };
                    let dir = std::fs::canonicalize(&dir).map_err(not_readable)?;
                    // Listing proves it is a directory this process may read.
                    std::fs::read_dir(&dir).map_err(not_readable)?;
                    dir
                }
            };
            let root = Path::from_absolute_path(&dir).map_err(|e| invalid(&e.to_string()))?;
            return Ok(Lake {
                store: Arc::new(LocalFileSystem::new()),
                store_url: "file://".to_string(),
                root,
                retry: Retry::default(),
            });
        };
        match access {
            Access::Write => lake.prove_writable(url).await?,
            Access::Read => lake.prove_readable(url).await?,
        }
        Ok(lake)
    }

    /// Lists the root: reaches the namenode and checks permissions.
    async fn prove_readable(&self, url: &str) -> Result<(), LakeError> {
        self.store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|source| LakeError::Connect {
                url: url.to_string(),
                source,
            })?;
        Ok(())
    }

    /// Writes and deletes a hidden file at the root: reaches the namenode
    /// and a datanode, and checks permissions.
    async fn prove_writable(&self, url: &str) -> Result<(), LakeError> {
        let probe = self.root.clone().join(probe_name());
        let connect = |source| LakeError::Connect {
            url: url.to_string(),
            source,
        };
        self.store
            .put(&probe, PutPayload::from_static(b""))
            .await
            .map_err(connect)?;
        self.store.delete(&probe).await.map_err(connect)?;
        Ok(())
    }

    /// How storage operations retry transient failures (default:
    /// [`Retry::default`]).
    pub fn with_retry(mut self, retry: Retry) -> Lake {
        self.retry = retry;
        self
    }

    pub fn retry(&self) -> &Retry {
        &self.retry
    }

    /// The lake root's URL, e.g. `file:///srv/lake` or `hdfs://nn:8020/lake`.
    pub fn url(&self) -> String {
        self.url_of(&self.root)
    }

    /// The URL of a table's directory, for Hive DDL (`location '…'`) and for
    /// query engines.
    pub fn table_url(&self, dir: &TableDir) -> String {
        self.url_of(&self.dir_path(dir))
    }

    /// The store itself, to register with a query engine under
    /// [`Lake::object_store_url`]; paths in it are absolute.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// `file://` or `hdfs://namenode:8020`.
    pub fn object_store_url(&self) -> &str {
        &self.store_url
    }

    fn url_of(&self, path: &Path) -> String {
        format!("{}/{path}", self.store_url)
    }

    pub(super) fn dir_path(&self, dir: &TableDir) -> Path {
        let mut path = self.root.clone();
        for part in dir.relative_path().split('/') {
            path = path.join(part);
        }
        path
    }

    /// The names of the directories at the lake's root, sorted: the
    /// tables, and [`DEAD_LETTERS_DIR`](super::DEAD_LETTERS_DIR) once a dead
    /// letter was written. Other hidden names are left out.
    pub async fn directories(&self) -> Result<Vec<String>, LakeError> {
        let listing = self
            .retry
            .run("list the lake", || async {
                self.store
                    .list_with_delimiter(Some(&self.root))
                    .await
                    .map_err(|source| LakeError::Storage {
                        op: "list",
                        path: self.url(),
                        source,
                    })
            })
            .await?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|name| !is_hidden(name) || name == super::DEAD_LETTERS_DIR)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every data file of a table in place, in no particular order.
    /// Temporaries and other hidden files are left out; a file whose name
    /// does not parse is logged and left out.
    pub async fn files(&self, dir: &TableDir) -> Result<Vec<LakeFile>, LakeError> {
        let (files, _) = self.list(dir).await?;
        Ok(files)
    }

    /// How far a table got: per topic-partition, the last offset in its
    /// files. The pipeline skips events at or below it.
    pub async fn progress(&self, dir: &TableDir) -> Result<Progress, LakeError> {
        Ok(progress_of(&self.files(dir).await?))
    }

    /// Lists a table's directory: data files in place, and temporary files
    /// left by writes that never finished.
    pub(super) async fn list(
        &self,
        dir: &TableDir,
    ) -> Result<(Vec<LakeFile>, Vec<(Path, PartName)>), LakeError> {
        let prefix = self.dir_path(dir);
        let objects: Vec<ObjectMeta> = self
            .retry
            .run("list a table", || async {
                self.store
                    .list(Some(&prefix))
                    .try_collect()
                    .await
                    .or_else(|e| match e {
                        object_store::Error::NotFound { .. } => Ok(Vec::new()),
                        source => Err(LakeError::Storage {
                            op: "list",
                            path: self.url_of(&prefix),
                            source,
                        }),
                    })
            })
            .await?;

        let mut files = Vec::new();
        let mut temporaries = Vec::new();
        for object in objects {
            let Some(parts) = object.location.prefix_match(&prefix) else {
                continue;
            };
            let parts: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
            let Some(file_name) = parts.last() else {
                continue;
            };
            if parts.iter().any(|p| is_hidden(p)) {
                if let Some(name) = PartName::parse_temporary(file_name) {
                    temporaries.push((object.location, name));
                }
                continue;
            }
            match PartName::parse(file_name) {
                Some(name) => files.push(LakeFile {
                    path: object.location,
                    name,
                    size: object.size,
                    modified: object.last_modified.into(),
                }),
                None => tracing::warn!(
                    path = %self.url_of(&object.location),
                    "Skipping a file whose name is not part-<topic>-<partition>-<first offset>-<last offset>.parquet."
                ),
            }
        }
        Ok((files, temporaries))
    }

    /// Puts a finished file in place: written under its temporary name in
    /// the same directory, then renamed, so readers see all of it or none.
    /// Retried as a whole on transient errors; both steps are idempotent.
    pub(super) async fn publish(
        &self,
        dir: &TableDir,
        day: i64,
        name: &PartName,
        bytes: Bytes,
    ) -> Result<Path, LakeError> {
        let date = self.dir_path(dir).join(date_dir(day));
        let temporary = date.clone().join(name.temporary_name());
        let target = date.join(name.file_name());
        self.retry
            .run("publish a file", || async {
                self.store
                    .put(&temporary, PutPayload::from_bytes(bytes.clone()))
                    .await
                    .map_err(|source| LakeError::Storage {
                        op: "write",
                        path: self.url_of(&temporary),
                        source,
                    })?;
                self.store
                    .rename(&temporary, &target)
                    .await
                    .map_err(|source| LakeError::Storage {
                        op: "rename into place",
                        path: self.url_of(&temporary),
                        source,
                    })
            })
            .await?;
        Ok(target)
    }

    /// Deletes a temporary file a crashed writer left behind.
    pub(super) async fn remove(&self, path: &Path) -> Result<(), LakeError> {
        self.retry
            .run("delete a leftover file", || async {
                match self.store.delete(path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(source) => Err(LakeError::Storage {
                        op: "delete",
                        path: self.url_of(path),
                        source,
                    }),
                }
            })
            .await
    }

    /// The key-value metadata of a data file's Parquet footer, read with
    /// one ranged read of its tail (two if the footer is larger).
    pub async fn file_metadata(
        &self,
        file: &LakeFile,
    ) -> Result<HashMap<String, String>, LakeError> {
        use parquet::errors::ParquetError;
        use parquet::file::metadata::ParquetMetaDataReader;
        const TAIL: u64 = 64 * 1024;
        let read = |source| LakeError::Storage {
            op: "read the footer of",
            path: self.url_of(&file.path),
            source,
        };
        let bad = |source| LakeError::Footer {
            path: self.url_of(&file.path),
            source,
        };
        let size = file.size;
        let mut reader = ParquetMetaDataReader::new();
        let tail = self
            .store
            .get_range(&file.path, size.saturating_sub(TAIL)..size)
            .await
            .map_err(read)?;
        match reader.try_parse_sized(&tail, size) {
            Ok(()) => {}
            Err(ParquetError::NeedMoreData(needed)) => {
                let tail = self
                    .store
                    .get_range(&file.path, size.saturating_sub(needed as u64)..size)
                    .await
                    .map_err(read)?;
                reader.try_parse_sized(&tail, size).map_err(bad)?;
            }
            Err(e) => return Err(bad(e)),
        }
        let metadata = reader.finish().map_err(bad)?;
        Ok(metadata
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
            .collect())
    }

    /// The schema (Hive column list) recorded in a table's newest file, or
    /// `None` for a table with no files yet.
    pub async fn recorded_schema(&self, dir: &TableDir) -> Result<Option<String>, LakeError> {
        let files = self.files(dir).await?;
        let Some(newest) = files.iter().max_by_key(|f| f.modified) else {
            return Ok(None);
        };
        Ok(self.file_metadata(newest).await?.remove(SCHEMA_KEY))
    }

    /// Reads a whole file; for readers and tests, not the write path.
    pub async fn read(&self, path: &Path) -> Result<Bytes, LakeError> {
        let read = |source| LakeError::Storage {
            op: "read",
            path: self.url_of(path),
            source,
        };
        self.store
            .get(path)
            .await
            .map_err(read)?
            .bytes()
            .await
            .map_err(read)
    }
}

/// The one reading of progress from file names: the highest last offset.
pub(super) fn progress_of(files: &[LakeFile]) -> Progress {
    let mut progress = Progress::new();
    for file in files {
        let last = progress
            .entry((file.name.topic.clone(), file.name.partition))
            .or_insert(file.name.last_offset);
        *last = (*last).max(file.name.last_offset);
    }
    progress
}
