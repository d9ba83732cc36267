//! SQL over the lake: the reference stack's Hive catalog and Presto, in one
//! module, with DataFusion.
//!
//! ```text
//! SQL text ─► statement (the read-only rule) ─► catalog (the lake's tables,
//!   refreshed per query) ─► engine (limits, its own threads) ─► format
//!   (JSON, CSV, NDJSON, Arrow, an aligned table) ─► routes (POST /query,
//!   GET /tables) / `sluice sql`
//! ```
//!
//! In: SQL text. Out: Arrow record batches with their schema, or a
//! [`QueryError`] that says what is wrong and, for a name, what exists.
//! Every Delta table in the lake is a table here, with the schema of its
//! log; `date` is a partition column that prunes files; `_dead_letters` is a
//! table with a `pipeline` and a `date` column. A commit landing while the
//! server runs is seen by the next query, whole; files no commit names
//! never are. `"table@v5"` and `"table@2026-12-07T05:00:00Z"` read a table
//! as of a version or a time. `ddl` writes the statements that register the
//! same tables in Trino and Spark.

mod caps;
mod catalog;
mod ddl;
mod engine;
mod error;
mod format;
mod message;
mod routes;
pub(crate) mod statement;
#[cfg(test)]
mod tests;

pub use caps::OutputTooLarge;
pub use catalog::{DEAD_LETTERS_TABLE, TableInfo};
pub use ddl::{TrinoTarget, delta_ddl};
pub use engine::{QueryEngine, QueryLimits, QueryResult};
pub use error::QueryError;
pub use format::{Format, render_table};
pub use routes::router;
