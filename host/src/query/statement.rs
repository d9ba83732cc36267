//! The one rule for what the query endpoint runs: a single read-only
//! statement. Everything that could write, define or configure is refused
//! here, by its kind, before a plan exists; `SQLOptions` checks the plan
//! again in the engine. It needs DataFusion's parser only, so the
//! `statement_classify` fuzz target compiles it by path (see `fuzz/`).

use datafusion_sql::parser::{DFParser, Statement as DfStatement};
use datafusion_sql::planner::object_name_to_table_reference;
use datafusion_sql::sqlparser::ast::Statement;
use datafusion_sql::sqlparser::dialect::GenericDialect;

use super::message::clean_message;

/// Why a statement is not run; [`QueryError`](super::QueryError) words it
/// the same way.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("syntax error: {0}")]
    Syntax(String),
    #[error(
        "the query endpoint is read-only: `{statement}` is not allowed; \
         send SELECT, WITH, SHOW TABLES, SHOW COLUMNS, DESCRIBE or EXPLAIN"
    )]
    ReadOnly { statement: String },
}

/// What a request asks for.
#[derive(Debug)]
pub enum Request {
    /// SELECT, WITH, VALUES, EXPLAIN, SHOW COLUMNS: planned by DataFusion.
    Plan(Box<DfStatement>),
    /// `SHOW TABLES`: the lake's tables and views in one `Table` column,
    /// as Presto prints them.
    ShowTables,
    /// `DESCRIBE t`: `Column`, `Type` (Hive's names) and `Comment`.
    Describe(String),
}

/// Parses `sql` (one statement; a trailing `;` is fine) and sorts it.
pub fn parse(sql: &str) -> Result<Request, StatementError> {
    let mut statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| StatementError::Syntax(clean_message(&e)))?;
    let statement = match statements.len() {
        0 => return Err(StatementError::Syntax("the query is empty".into())),
        1 => statements.pop_front().expect("one statement"),
        n => {
            return Err(StatementError::Syntax(format!(
                "send one statement at a time; this has {n}"
            )));
        }
    };
    classify(statement)
}

fn classify(statement: DfStatement) -> Result<Request, StatementError> {
    let refused = |statement: &dyn std::fmt::Display| StatementError::ReadOnly {
        statement: keyword_of(&statement.to_string()),
    };
    match statement {
        DfStatement::Statement(inner) => match *inner {
            Statement::Query(_) | Statement::ShowColumns { .. } => {
                Ok(Request::Plan(Box::new(DfStatement::Statement(inner))))
            }
            Statement::ShowTables { .. } => Ok(Request::ShowTables),
            Statement::ExplainTable { table_name, .. } => {
                let table = object_name_to_table_reference(table_name, true)
                    .map_err(|e| StatementError::Syntax(clean_message(&e)))?;
                Ok(Request::Describe(table.table().to_string()))
            }
            Statement::Explain { ref statement, .. } => {
                explainable(classify(DfStatement::Statement(statement.clone())))?;
                Ok(Request::Plan(Box::new(DfStatement::Statement(inner))))
            }
            other => Err(refused(&other)),
        },
        DfStatement::Explain(explain) => {
            explainable(classify(*explain.statement.clone()))?;
            Ok(Request::Plan(Box::new(DfStatement::Explain(explain))))
        }
        other @ (DfStatement::CreateExternalTable(_)
        | DfStatement::CopyTo(_)
        | DfStatement::Reset(_)) => Err(refused(&other)),
    }
}

/// `EXPLAIN` takes what a plan can be made of, and is refused as what it
/// explains.
fn explainable(inner: Result<Request, StatementError>) -> Result<(), StatementError> {
    match inner? {
        Request::Plan(_) => Ok(()),
        Request::ShowTables | Request::Describe(_) => Err(StatementError::Syntax(
            "EXPLAIN takes a query (SELECT, WITH, VALUES)".into(),
        )),
    }
}

/// The statement's leading keywords, `CREATE TABLE` or `INSERT`, to name
/// what was refused.
fn keyword_of(sql: &str) -> String {
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next().unwrap_or_default();
    let takes_object = matches!(
        first.as_str(),
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "SHOW"
    );
    match words.next() {
        // The object is a keyword (`SHOW FUNCTIONS`, `DROP TABLE`), never a
        // name the client wrote (found by the `statement_classify` target:
        // `show vºnts_by` was refused as `SHOW VºNTS_BY`).
        Some(second)
            if takes_object && second.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
        {
            // `CREATE OR REPLACE VIEW`, `CREATE EXTERNAL TABLE`: up to the object.
            let mut keyword = format!("{first} {second}");
            if matches!(
                second.as_str(),
                "OR" | "EXTERNAL" | "TEMPORARY" | "UNLOGGED"
            ) {
                for word in words.by_ref() {
                    keyword.push(' ');
                    keyword.push_str(&word);
                    if !matches!(word.as_str(), "REPLACE" | "EXTERNAL" | "TEMPORARY") {
                        break;
                    }
                }
            }
            keyword
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> String {
        match parse(sql) {
            Err(StatementError::ReadOnly { statement }) => statement,
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_are_allowed() {
        for sql in [
            "select 1",
            "SELECT count(*) FROM events_buy WHERE item_type = 'sword';",
            "with t as (select 1 as x) select * from t",
            "explain select 1",
            "EXPLAIN ANALYZE select 1",
            "show columns from events_buy",
        ] {
            assert!(matches!(parse(sql), Ok(Request::Plan(_))), "{sql}");
        }
        assert!(matches!(parse("show tables"), Ok(Request::ShowTables)));
        assert!(
            matches!(parse("describe Events_Buy"), Ok(Request::Describe(t)) if t == "events_buy")
        );
        assert!(matches!(parse("DESCRIBE \"Odd\""), Ok(Request::Describe(t)) if t == "Odd"));
    }

    #[test]
    fn writes_and_settings_are_refused_by_name() {
        assert_eq!(refused("create table t (a int)"), "CREATE TABLE");
        assert_eq!(
            refused("CREATE OR REPLACE VIEW v AS SELECT 1"),
            "CREATE OR REPLACE VIEW"
        );
        assert_eq!(
            refused("create external table t stored as parquet location '/tmp'"),
            "CREATE EXTERNAL TABLE"
        );
        assert_eq!(refused("insert into t values (1)"), "INSERT");
        assert_eq!(refused("copy (select 1) to '/tmp/x.parquet'"), "COPY");
        assert_eq!(refused("drop table events_buy"), "DROP TABLE");
        assert_eq!(refused("set datafusion.execution.batch_size = 1"), "SET");
        assert_eq!(refused("delete from events_buy"), "DELETE");
        assert_eq!(refused("update events_buy set host = 'x'"), "UPDATE");
        assert_eq!(refused("explain insert into t values (1)"), "INSERT");
        assert_eq!(refused("explain copy (select 1) to '/tmp/x'"), "COPY");
    }

    #[test]
    fn one_statement_at_a_time() {
        assert!(matches!(parse(""), Err(StatementError::Syntax(m)) if m.contains("empty")));
        assert!(
            matches!(parse("select 1; drop table t"), Err(StatementError::Syntax(m)) if m.contains("one statement"))
        );
        assert!(
            matches!(parse("selec 1"), Err(StatementError::Syntax(m)) if m.starts_with("Expected: an SQL statement, found: selec")),
            "{:?}",
            parse("selec 1")
        );
    }
}
