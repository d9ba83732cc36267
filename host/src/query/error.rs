//! Why a query gave no result, worded for the person who typed it.

use std::time::Duration;

use crate::lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error(
        "the query endpoint is read-only: `{statement}` is not allowed; \
         send SELECT, WITH, SHOW TABLES, SHOW COLUMNS, DESCRIBE or EXPLAIN"
    )]
    ReadOnly { statement: String },
    #[error("table `{name}` does not exist; tables: {}", list_or_none(.known))]
    UnknownTable { name: String, known: Vec<String> },
    /// Planning failed: an unknown column (DataFusion names the valid
    /// ones), a type mismatch, an unknown function.
    #[error("{0}")]
    Plan(String),
    #[error("the query took longer than {}; narrow it or raise --query-timeout", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("the query needs more than the {} MiB query memory; narrow it or raise --query-memory ({detail})", .limit_bytes >> 20)]
    OutOfMemory { limit_bytes: usize, detail: String },
    /// A function's output or the answer would pass the output cap.
    #[error(transparent)]
    TooLarge(#[from] super::caps::OutputTooLarge),
    #[error("reading the lake failed: {0}")]
    Lake(#[from] LakeError),
    #[error("the query failed: {0}")]
    Execution(String),
}

impl From<super::statement::StatementError> for QueryError {
    fn from(e: super::statement::StatementError) -> QueryError {
        use super::statement::StatementError;
        match e {
            StatementError::Syntax(message) => QueryError::Syntax(message),
            StatementError::ReadOnly { statement } => QueryError::ReadOnly { statement },
        }
    }
}

impl QueryError {
    /// Whether the query itself is at fault (an HTTP 4xx), rather than the
    /// lake or the server.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, QueryError::Lake(_) | QueryError::Execution(_))
    }

    /// A short machine-readable kind, for JSON errors.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Syntax(_) => "syntax",
            QueryError::ReadOnly { .. } => "read_only",
            QueryError::UnknownTable { .. } => "unknown_table",
            QueryError::Plan(_) => "plan",
            QueryError::Timeout(_) => "timeout",
            QueryError::OutOfMemory { .. } => "memory",
            QueryError::TooLarge(_) => "too_large",
            QueryError::Lake(_) => "lake",
            QueryError::Execution(_) => "execution",
        }
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none yet (a table appears with its first file)".to_string()
    } else {
        names.join(", ")
    }
}
