//! Runs one statement against the lake, within the limits: its own threads
//! (so queries never take the pipeline's I/O runtime), a bound on queries
//! at once, a time limit, a row limit and a memory pool.
//!
//! Every query gets a fresh DataFusion session over the catalog as it is at
//! that moment, so a file that landed a moment ago is in the answer. The
//! sessions share one runtime environment: one memory pool, one object
//! store registry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use tokio::sync::Semaphore;

use super::QueryError;
use super::caps::{OutputTooLarge, guard_functions};
use super::catalog::{Catalog, LakeTable, TableInfo, columns_of, file_info};
use super::message::{clean_message, first_line};
use super::statement::{Request, parse};
use crate::lake::Lake;

/// How much one query, and all of them together, may take.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// From arrival to the last row, waiting for a turn included.
    pub timeout: Duration,
    /// Rows returned; a larger result is cut and flagged `truncated`.
    pub max_rows: usize,
    /// The memory pool all running queries share (sorts, joins and
    /// aggregations spill or fail beyond it).
    pub memory_bytes: usize,
    /// Queries running at once; the rest wait their turn.
    pub concurrent: usize,
    /// Threads the queries run on, apart from the pipeline's.
    pub threads: usize,
    /// Bytes one answer may hold, and one batch of a growing function's
    /// output (`repeat`, `lpad`, `range`…) may take: past it the query
    /// fails (see `caps`).
    pub max_output_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(30),
            max_rows: 10_000,
            memory_bytes: 1 << 30,
            concurrent: 4,
            threads: 2,
            max_output_bytes: 64 << 20,
        }
    }
}

/// One statement's answer.
#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// More rows matched than [`QueryLimits::max_rows`].
    pub truncated: bool,
    pub elapsed: Duration,
}

/// The SQL engine over one lake. Cheap to clone.
#[derive(Clone)]
pub struct QueryEngine {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Catalog,
    /// Name → SQL, registered over the tables in every session.
    views: BTreeMap<String, String>,
    limits: QueryLimits,
    runtime_env: Arc<RuntimeEnv>,
    threads: QueryThreads,
    turns: Semaphore,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("lake", self.inner.catalog.lake())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// An engine over `lake`. Each view must be a query (checked here, so a
    /// typo in the config fails at start); its tables may appear later.
    pub fn new(
        lake: Lake,
        views: BTreeMap<String, String>,
        limits: QueryLimits,
    ) -> anyhow::Result<QueryEngine> {
        for (name, sql) in &views {
            match parse(sql) {
                Ok(Request::Plan(_)) => {}
                Ok(_) => anyhow::bail!("view `{name}` must be a query (SELECT or WITH)"),
                Err(e) => anyhow::bail!("view `{name}`: {e}"),
            }
        }
        let runtime_env = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            // Files land all the time: list a table afresh for every query.
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()
            .map_err(|e| anyhow::anyhow!("cannot set up the query engine: {e}"))?;
        let store_url = url::Url::parse(lake.object_store_url())?;
        runtime_env.register_object_store(&store_url, lake.object_store());
        Ok(QueryEngine {
            inner: Arc::new(Inner {
                catalog: Catalog::new(lake),
                views,
                threads: QueryThreads::start(limits.threads)?,
                turns: Semaphore::new(limits.concurrent.max(1)),
                limits,
                runtime_env,
            }),
        })
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.inner.limits
    }

    pub fn lake(&self) -> &Lake {
        self.inner.catalog.lake()
    }

    /// Runs one statement within the limits.
    pub async fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let inner = self.inner.clone();
        let sql = sql.to_string();
        self.on_query_threads(async move { inner.run(&sql).await })
            .await
    }

    /// Every table and view, without row counts.
    pub async fn tables(&self) -> Result<Vec<TableInfo>, QueryError> {
        let inner = self.inner.clone();
        self.on_query_threads(async move {
            let session = inner.session().await?;
            session.infos()
        })
        .await
    }

    /// One table or view, with its row count and files.
    pub async fn table(&self, name: &str) -> Result<TableInfo, QueryError> {
        let inner = self.inner.clone();
        let name = name.to_ascii_lowercase();
        self.on_query_threads(async move {
            let session = inner.session().await?;
            let mut info = session
                .infos()?
                .into_iter()
                .find(|t| t.name == name)
                .ok_or_else(|| session.unknown(&name))?;
            let count = format!("SELECT count(*) FROM \"{name}\"");
            let result = inner.execute(&session, &count).await?;
            info.row_count = result
                .batches
                .first()
                .and_then(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                })
                .map(|a| a.value(0) as u64);
            if let Some((table, _)) = session.tables.iter().find(|(t, _)| t.name == name) {
                let lake = inner.catalog.lake();
                let mut files: Vec<_> = table.files()?.iter().map(|f| file_info(lake, f)).collect();
                files.sort_by(|a, b| a.path.cmp(&b.path));
                info.files = Some(files);
            }
            Ok(info)
        })
        .await
    }

    /// A table's last `limit` commits, newest first: what wrote each, when,
    /// and how many rows and files it added.
    pub async fn history(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<crate::lake::Commit>, QueryError> {
        let inner = self.inner.clone();
        let name = name.to_ascii_lowercase();
        self.on_query_threads(async move {
            let lake = inner.catalog.lake();
            let dir = if name == super::DEAD_LETTERS_TABLE {
                Some(crate::lake::TableDir::AllDeadLetters)
            } else {
                crate::lake::TableDir::table(&name).ok()
            };
            let history = match dir {
                Some(dir) => crate::lake::TableLog::history(lake, &dir, limit).await?,
                None => None,
            };
            match history {
                Some(history) => Ok(history),
                None => {
                    let session = inner.session().await?;
                    Err(session.unknown(&name))
                }
            }
        })
        .await
    }

    /// Runs `work` on the query threads, one turn at a time, within the
    /// time limit; dropping the future (a client gone) cancels the query.
    async fn on_query_threads<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, QueryError>> + Send + 'static,
    ) -> Result<T, QueryError> {
        let inner = self.inner.clone();
        let limit = inner.limits.timeout;
        let task = self.inner.threads.spawn(async move {
            let _turn = inner.turns.acquire().await.expect("never closed");
            work.await
        });
        match tokio::time::timeout(limit, task.wait()).await {
            Ok(result) => result,
            Err(_) => Err(QueryError::Timeout(limit)),
        }
    }
}

/// The tables and views of one query's session.
struct Session {
    ctx: SessionContext,
    /// Each table with its whole schema (partition columns included).
    tables: Vec<(LakeTable, SchemaRef)>,
    /// Views whose tables exist, with their SQL and schema.
    views: Vec<(String, String, SchemaRef)>,
}

impl Inner {
    async fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let request = parse(sql)?;
        let session = self.session().await?;
        let mut result = match request {
            Request::ShowTables => one_batch(vec![("Table", session.names())]),
            Request::Describe(name) => {
                let info = session
                    .infos()?
                    .into_iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| session.unknown(&name))?;
                let mut columns = (Vec::new(), Vec::new(), Vec::new());
                for c in info.columns {
                    columns.0.push(c.name);
                    columns.1.push(c.ty);
                    columns.2.push(c.comment.to_string());
                }
                one_batch(vec![
                    ("Column", columns.0),
                    ("Type", columns.1),
                    ("Comment", columns.2),
                ])
            }
            Request::Plan(statement) => {
                for table in session
                    .ctx
                    .state()
                    .resolve_table_references(&statement)
                    .map_err(plan_error)?
                {
                    let system = table.schema() == Some("information_schema");
                    if system || session.has(table.table()) {
                        continue;
                    }
                    match self.travel(&session, table.table()).await? {
                        Some(provider) => {
                            session
                                .ctx
                                .register_table(table.table(), provider)
                                .map_err(plan_error)?;
                        }
                        None => return Err(session.unknown(&table.to_string())),
                    }
                }
                let plan = session
                    .ctx
                    .state()
                    .statement_to_plan(*statement)
                    .await
                    .map_err(plan_error)?;
                read_only().verify_plan(&plan).map_err(plan_error)?;
                let frame = session
                    .ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(plan_error)?;
                self.collect(frame).await?
            }
        };
        result.elapsed = started.elapsed();
        Ok(result)
    }

    /// Plans and runs internal SQL (a row count) in `session`.
    async fn execute(&self, session: &Session, sql: &str) -> Result<QueryResult, QueryError> {
        let frame = session
            .ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(plan_error)?;
        self.collect(frame).await
    }

    /// Streams the result up to the row limit; stopping early cancels the
    /// rest of the work.
    async fn collect(
        &self,
        frame: datafusion::dataframe::DataFrame,
    ) -> Result<QueryResult, QueryError> {
        let max_rows = self.limits.max_rows;
        let mut stream = frame.execute_stream().await.map_err(|e| self.failed(e))?;
        let schema = stream.schema();
        let (mut batches, mut rows, mut truncated) = (Vec::new(), 0usize, false);
        let mut bytes = 0u128;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.failed(e))?;
            // What the answer keeps of the batch: its rows' share of the
            // buffers, which a slice may share with a larger batch.
            bytes += batch
                .columns()
                .iter()
                .map(|c| answer_bytes(c.as_ref()))
                .sum::<u128>();
            OutputTooLarge::check(|| "the answer".into(), bytes, self.limits.max_output_bytes)
                .map_err(|e| self.failed(e))?;
            let room = max_rows - rows;
            if batch.num_rows() > room {
                truncated = true;
                if room > 0 {
                    batches.push(batch.slice(0, room));
                    rows += room;
                }
                break;
            }
            rows += batch.num_rows();
            batches.push(batch);
        }
        Ok(QueryResult {
            schema,
            batches,
            rows,
            truncated,
            elapsed: Duration::ZERO,
        })
    }

    fn failed(&self, e: DataFusionError) -> QueryError {
        if let Some(too_large) = OutputTooLarge::within(&e) {
            return QueryError::TooLarge(too_large.clone());
        }
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => QueryError::OutOfMemory {
                limit_bytes: self.limits.memory_bytes,
                detail: first_line(detail),
            },
            DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => {
                QueryError::Execution(clean_message(&e))
            }
            _ => plan_error(e),
        }
    }

    /// A session over the lake as it is now: its tables, then the views
    /// that can be made over them.
    async fn session(&self) -> Result<Session, QueryError> {
        let mut config = SessionConfig::new()
            .with_target_partitions(self.limits.threads.max(1))
            .with_information_schema(true)
            .with_default_catalog_and_schema("sluice", "default");
        // A recursive CTE can double a value each round (`s || s`), which
        // no function guard sees.
        config.options_mut().execution.enable_recursive_ctes = false;
        let ctx = SessionContext::new_with_config_rt(config, self.runtime_env.clone());
        guard_functions(&ctx, self.limits.max_output_bytes);
        let mut tables = Vec::new();
        for table in self.catalog.tables().await? {
            let provider = self.delta_table(&table).await?;
            let schema = provider.schema();
            ctx.register_table(table.name.as_str(), provider)
                .map_err(plan_error)?;
            tables.push((table, schema));
        }
        let mut views = Vec::new();
        for (name, sql) in &self.views {
            // A view over a table with no files yet waits for the table.
            let plan = match ctx.state().create_logical_plan(sql).await {
                Ok(plan) => plan,
                Err(e) => {
                    tracing::debug!(view = %name, error = %clean_message(&e), "View not available yet.");
                    continue;
                }
            };
            let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
            let view = ViewTable::new(plan, Some(sql.clone()));
            ctx.register_table(name.as_str(), Arc::new(view))
                .map_err(plan_error)?;
            views.push((name.clone(), sql.clone(), schema));
        }
        Ok(Session { ctx, tables, views })
    }

    /// A table as of a version or a time, named as Delta's own shorthand
    /// does: `"events_buy@v5"`, `"events_buy@2026-12-07T05:00:00Z"` (or
    /// `@20261207050000000`). `None` when `name` is no such name.
    async fn travel(
        &self,
        session: &Session,
        name: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>, QueryError> {
        let Some((base, spec)) = name.split_once('@') else {
            return Ok(None);
        };
        let Some((table, _)) = session.tables.iter().find(|(t, _)| t.name == base) else {
            return Ok(None);
        };
        let latest = table.table().version().unwrap_or(0);
        let mut at = table.table().clone();
        let loaded = if let Some(version) =
            spec.strip_prefix('v').and_then(|v| v.parse::<u64>().ok())
        {
            if version > latest {
                return Err(QueryError::Plan(format!(
                    "table `{base}` has versions 0 to {latest}; `{name}` asks for {version}"
                )));
            }
            at.load_version(version).await
        } else {
            let moment = chrono::DateTime::parse_from_rfc3339(spec)
                .map(|t| t.with_timezone(&chrono::Utc))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(spec, "%Y%m%d%H%M%S%3f").map(|t| t.and_utc())
                })
                .map_err(|_| {
                    QueryError::Plan(format!(
                        "`{name}`: after `@` comes a version (`v5`) or a time (`2026-12-07T05:00:00Z`, or `20261207050000000`)"
                    ))
                })?;
            at.load_with_datetime(moment).await
        };
        loaded.map_err(|e| QueryError::Plan(format!("`{name}`: {e}")))?;
        let provider = at.table_provider().await.map_err(|e| self.failed(e))?;
        Ok(Some(provider))
    }

    /// The table's Delta provider: its schema and files from the log, files
    /// pruned by the partition values and statistics there.
    async fn delta_table(&self, table: &LakeTable) -> Result<Arc<dyn TableProvider>, QueryError> {
        table
            .table()
            .table_provider()
            .await
            .map_err(|e| self.failed(e))
    }
}

impl Session {
    fn has(&self, name: &str) -> bool {
        self.tables.iter().any(|(t, _)| t.name == name)
            || self.views.iter().any(|(v, ..)| v == name)
    }

    fn unknown(&self, name: &str) -> QueryError {
        QueryError::UnknownTable {
            name: name.to_string(),
            known: self.names(),
        }
    }

    /// Tables (with their partition columns) and views, in name order.
    fn infos(&self) -> Result<Vec<TableInfo>, QueryError> {
        let mut infos = Vec::with_capacity(self.tables.len() + self.views.len());
        for (table, schema) in &self.tables {
            let files = table.files()?;
            infos.push(TableInfo {
                name: table.name.clone(),
                kind: table.kind(),
                location: Some(table.location.clone()),
                columns: columns_of(schema, |c| table.is_partition(c)),
                file_count: files.len(),
                bytes: files.iter().map(|f| f.size).sum(),
                row_count: None,
                files: None,
                sql: None,
            });
        }
        let views = self.views.iter().map(|(name, sql, schema)| TableInfo {
            name: name.clone(),
            kind: "view",
            location: None,
            columns: columns_of(schema, |_| false),
            file_count: 0,
            bytes: 0,
            row_count: None,
            files: None,
            sql: Some(sql.clone()),
        });
        infos.extend(views);
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// The names of the tables and views, in order.
    fn names(&self) -> Vec<String> {
        let tables = self.tables.iter().map(|(table, _)| table.name.clone());
        let views = self.views.iter().map(|(name, _, _)| name.clone());
        let mut names: Vec<String> = tables.chain(views).collect();
        names.sort();
        names
    }
}

/// What the endpoint lets through, checked on the plan as well as on the
/// statement.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

fn plan_error(e: DataFusionError) -> QueryError {
    if let Some(too_large) = OutputTooLarge::within(&e) {
        return QueryError::TooLarge(too_large.clone());
    }
    match e.find_root() {
        DataFusionError::SQL(..) => QueryError::Syntax(clean_message(&e)),
        _ => QueryError::Plan(clean_message(&e)),
    }
}

/// A result made here rather than by DataFusion: string columns.
fn one_batch(columns: Vec<(&str, Vec<String>)>) -> QueryResult {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, _)| Field::new(*name, DataType::Utf8, false))
        .collect();
    let schema = Arc::new(ArrowSchema::new(fields));
    let rows = columns.first().map_or(0, |(_, v)| v.len());
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, values)| Arc::new(StringArray::from(values)) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("equal string columns");
    QueryResult {
        schema,
        batches: vec![batch],
        rows,
        truncated: false,
        elapsed: Duration::ZERO,
    }
}

/// The threads queries run on: a runtime of their own, so a burst of
/// queries delays other queries and never the pipeline's lake writes.
struct QueryThreads(Option<tokio::runtime::Runtime>);

impl QueryThreads {
    fn start(threads: usize) -> std::io::Result<QueryThreads> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("sluice-query")
            .enable_all()
            .build()?;
        Ok(QueryThreads(Some(runtime)))
    }

    fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> AbortOnDrop<T> {
        AbortOnDrop(self.0.as_ref().expect("running").spawn(work))
    }
}

impl Drop for QueryThreads {
    fn drop(&mut self) {
        // Dropped from async code (the server's), so don't block on it.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A query task that is cancelled when nobody waits for it any more.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn wait(mut self) -> T {
        match (&mut self.0).await {
            Ok(value) => value,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => unreachable!("only aborted when dropped"),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a column of an answer holds: its rows' share of the buffers. A
/// string or binary view counts every row's value whole, as printing the
/// answer will: the rows of a join may all point into one shared buffer
/// (the Delta provider reads strings as views).
fn answer_bytes(column: &dyn arrow::array::Array) -> u128 {
    use arrow::array::AsArray;
    use arrow::datatypes::DataType;
    let values: u128 = match column.data_type() {
        DataType::Utf8View => column.as_string_view().lengths().map(u128::from).sum(),
        DataType::BinaryView => column.as_binary_view().lengths().map(u128::from).sum(),
        _ => {
            return column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or(usize::MAX) as u128;
        }
    };
    16 * column.len() as u128 + values
}
