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
//! Every table in the lake is a table here, with the schema its newest file
//! records; `date=` directories are a `date` column that prunes files;
//! `_dead_letters` is a table with a `pipeline` and a `date` column. Files
//! landing while the server runs are seen by the next query; temporaries
//! never are (see `lake::layout`). `ddl` writes the same catalog as Hive
//! DDL for Trino, Spark or Hive.

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
pub use ddl::hive_ddl;
pub use engine::{QueryEngine, QueryLimits, QueryResult};
pub use error::QueryError;
pub use format::{Format, render_table};
pub use routes::router;
