//! The lake's storage: one `object_store` picked by URL scheme, and the few
//! operations the writer and the pipeline need from it.
//!
//! A URL enters through [`Lake::open`]: a directory (`./lake`,
//! `file:///abs/path`) becomes a `LocalFileSystem`, `hdfs://namenode:8020/path`
//! an `HdfsObjectStore`. Nothing above this file knows which; the Delta
//! logs share the same store. Finished Parquet bytes enter through
//! `Lake::put_table_file`; what a table holds leaves through [`Lake::files`],
//! read from its Delta log.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::LakeError;
use super::layout::{PartName, TableDir, is_hidden};
use super::retry::Retry;
use super::table_log::TableLog;

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

/// A data file of a table's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// Path inside the store, e.g. `lake/events_buy/date=2018-08-13/part-events-0-0-99-1a2b3c4d.parquet`.
    pub path: Path,
    /// What its name says it holds; compacted files of several partitions name none.
    pub name: Option<PartName>,
    pub size: u64,
    pub modified: std::time::SystemTime,
    /// From the Delta log's statistics, when recorded.
    pub rows: Option<u64>,
}

/// The Parquet footer key holding a file's table schema (a Hive column
/// list); the writer records it in every file as well as in the log.
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

    /// Whether anything is stored under the table's `_delta_log/`.
    pub(super) async fn table_exists(&self, dir: &TableDir) -> Result<bool, LakeError> {
        use futures::StreamExt;
        let log = self.dir_path(&TableDir::table_root(dir)).join("_delta_log");
        match self.store.list(Some(&log)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(object_store::Error::NotFound { .. })) => Ok(false),
            Some(Err(source)) => Err(LakeError::Storage {
                op: "list",
                path: log.to_string(),
                source,
            }),
        }
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

    /// Every data file of a table's current version, from its Delta log,
    /// in no particular order; none for a table without a log.
    pub async fn files(&self, dir: &TableDir) -> Result<Vec<LakeFile>, LakeError> {
        match TableLog::open(self, dir).await? {
            Some(log) => self.files_of(&log, dir),
            None => Ok(Vec::new()),
        }
    }

    /// The data files `log`'s snapshot names, of `dir` (one pipeline's dead
    /// letters, say) within its table.
    pub fn files_of(&self, log: &TableLog, dir: &TableDir) -> Result<Vec<LakeFile>, LakeError> {
        let root = self.dir_path(&TableDir::table_root(dir));
        let mut files = Vec::new();
        for file in log.files()? {
            if let TableDir::DeadLetters { pipeline } = dir
                && !file.path.starts_with(&format!("pipeline={pipeline}/"))
            {
                continue;
            }
            let name = file.path.rsplit('/').next().and_then(PartName::parse);
            let mut path = root.clone();
            for part in file.path.split('/') {
                path = path.join(part);
            }
            files.push(LakeFile {
                path,
                name,
                size: file.size,
                modified: std::time::UNIX_EPOCH
                    + std::time::Duration::from_millis(file.modified_ms.max(0) as u64),
                rows: file.rows,
            });
        }
        Ok(files)
    }

    /// The URL of a table's Delta root (`…/events_buy/`, `…/_dead_letters/`).
    pub fn table_log_url(&self, dir: &TableDir) -> Result<url::Url, LakeError> {
        let text = format!(
            "{}/",
            self.url_of(&self.dir_path(&TableDir::table_root(dir)))
        );
        url::Url::parse(&text).map_err(|e| LakeError::InvalidUrl {
            url: text.clone(),
            reason: e.to_string(),
        })
    }

    /// A file's URL, from its path inside its table's folder.
    pub fn table_file_url(&self, dir: &TableDir, relative: &str) -> String {
        format!(
            "{}{relative}",
            self.table_log_url(dir)
                .map(|u| u.to_string())
                .unwrap_or_default()
        )
    }

    fn table_file_path(&self, dir: &TableDir, relative: &str) -> Path {
        let mut path = self.dir_path(&TableDir::table_root(dir));
        for part in relative.split('/') {
            path = path.join(part);
        }
        path
    }

    /// Writes a data file into a table's folder, under a name no other file
    /// has; it is in the table once a commit names it.
    pub(super) async fn put_table_file(
        &self,
        dir: &TableDir,
        relative: &str,
        bytes: Bytes,
    ) -> Result<(), LakeError> {
        let path = self.table_file_path(dir, relative);
        self.retry
            .run("write a file", || async {
                self.store
                    .put(&path, PutPayload::from_bytes(bytes.clone()))
                    .await
                    .map(|_| ())
                    .map_err(|source| LakeError::Storage {
                        op: "write",
                        path: self.url_of(&path),
                        source,
                    })
            })
            .await
    }

    /// Reads a data file of a table, from its path inside the table's folder.
    pub(super) async fn read_table_file(
        &self,
        dir: &TableDir,
        relative: &str,
    ) -> Result<Bytes, LakeError> {
        self.read(&self.table_file_path(dir, relative)).await
    }

    /// Deletes a file no commit names (a fenced writer's).
    pub(super) async fn delete_table_file(
        &self,
        dir: &TableDir,
        relative: &str,
    ) -> Result<(), LakeError> {
        let path = self.table_file_path(dir, relative);
        self.retry
            .run("delete a file", || async {
                match self.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(source) => Err(LakeError::Storage {
                        op: "delete",
                        path: self.url_of(&path),
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

    /// The schema (Hive column list) a table was last written with, from
    /// its Delta log, or `None` for a table not written yet.
    pub async fn recorded_schema(&self, dir: &TableDir) -> Result<Option<String>, LakeError> {
        TableLog::read_recorded_schema(self, dir).await
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
