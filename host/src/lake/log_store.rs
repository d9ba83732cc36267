//! The log store every table is opened with: delta-rs's own, with a kernel
//! engine sized for sluice's logs.
//!
//! delta-rs's engine reads a table's commits with up to 1,000 files open at
//! once, each with an Arrow JSON decoder sized for 1,000 actions: about
//! 3 MiB per commit file, for commits that hold a handful of actions. A
//! fresh snapshot of a table written every second therefore peaked at
//! hundreds of MiB, which the allocator kept: the pipeline's RSS grew with
//! every hot swap (its schema check reads the log) and every maintenance
//! pass. Here the engine reads a few files at a time, in small batches.
//! Everything else is delegated as is.

use std::num::NonZero;
use std::sync::Arc;

use bytes::Bytes;
use delta_kernel_default_engine::DefaultEngineBuilder;
use delta_kernel_default_engine::executor::tokio::{
    TokioBackgroundExecutor, TokioMultiThreadExecutor,
};
use deltalake::DeltaResult;
use deltalake::kernel::Version;
use deltalake::kernel::transaction::TransactionError;
use deltalake::logstore::object_store::{ObjectStore, path::Path};
use deltalake::logstore::{CommitOrBytes, LogStore, LogStoreConfig, LogStoreRef};
use tokio::runtime::{Handle, RuntimeFlavor};
use url::Url;
use uuid::Uuid;

/// Commit files read at once.
const FILES_AT_ONCE: NonZero<usize> = NonZero::new(8).unwrap();
/// Actions per batch read (a checkpoint of many files takes several).
const ACTIONS_PER_BATCH: NonZero<usize> = NonZero::new(128).unwrap();

/// A table's log store with a lean engine; see the module docs.
#[derive(Debug)]
pub struct LeanLogStore {
    inner: LogStoreRef,
}

impl LeanLogStore {
    pub fn wrap(inner: LogStoreRef) -> LogStoreRef {
        Arc::new(LeanLogStore { inner })
    }
}

#[async_trait::async_trait]
impl LogStore for LeanLogStore {
    fn name(&self) -> String {
        self.inner.name()
    }

    async fn refresh(&self) -> DeltaResult<()> {
        self.inner.refresh().await
    }

    async fn read_commit_entry(&self, version: Version) -> DeltaResult<Option<Bytes>> {
        self.inner.read_commit_entry(version).await
    }

    async fn write_commit_entry(
        &self,
        version: Version,
        commit_or_bytes: CommitOrBytes,
        operation_id: Uuid,
    ) -> Result<(), TransactionError> {
        self.inner
            .write_commit_entry(version, commit_or_bytes, operation_id)
            .await
    }

    async fn abort_commit_entry(
        &self,
        version: Version,
        commit_or_bytes: CommitOrBytes,
        operation_id: Uuid,
    ) -> Result<(), TransactionError> {
        self.inner
            .abort_commit_entry(version, commit_or_bytes, operation_id)
            .await
    }

    async fn get_latest_version(&self, start_version: Version) -> DeltaResult<Version> {
        self.inner.get_latest_version(start_version).await
    }

    fn object_store(&self, operation_id: Option<Uuid>) -> Arc<dyn ObjectStore> {
        self.inner.object_store(operation_id)
    }

    fn root_object_store(&self, operation_id: Option<Uuid>) -> Arc<dyn ObjectStore> {
        self.inner.root_object_store(operation_id)
    }

    fn engine(&self, operation_id: Option<Uuid>) -> Arc<dyn delta_kernel::Engine> {
        let builder = DefaultEngineBuilder::new(self.root_object_store(operation_id))
            .with_buffer_size(FILES_AT_ONCE)
            .with_batch_size(ACTIONS_PER_BATCH);
        let handle = Handle::current();
        match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => Arc::new(
                builder
                    .with_task_executor(Arc::new(TokioBackgroundExecutor::new()))
                    .build(),
            ),
            _ => Arc::new(
                builder
                    .with_task_executor(Arc::new(TokioMultiThreadExecutor::new(handle)))
                    .build(),
            ),
        }
    }

    fn to_uri(&self, location: &Path) -> String {
        self.inner.to_uri(location)
    }

    fn root_url(&self) -> &Url {
        self.inner.root_url()
    }

    fn log_path(&self) -> &Path {
        self.inner.log_path()
    }

    fn transaction_url(&self, operation_id: Option<Uuid>) -> DeltaResult<Url> {
        self.inner.transaction_url(operation_id)
    }

    async fn is_delta_table_location(&self) -> DeltaResult<bool> {
        self.inner.is_delta_table_location().await
    }

    fn config(&self) -> &LogStoreConfig {
        self.inner.config()
    }

    fn object_store_url(&self) -> datafusion::execution::object_store::ObjectStoreUrl {
        self.inner.object_store_url()
    }
}
