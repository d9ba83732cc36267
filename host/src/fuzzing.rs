//! The fuzz targets' checks, in one place: each takes arbitrary bytes, runs
//! one parser the way sluice runs it, and panics if the result breaks a rule
//! that parser promises. `fuzz/` (cargo-fuzz, not built by CI) compiles this
//! file and the modules it reaches by path, so a fuzz build stays small;
//! the tests below replay every seed and every crash saved under
//! `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` as ordinary tests.
//!
//! The targets: `table_projection` (an event into a table's columns),
//! `schema_parse` (Hive column lists), `ndjson` (the `POST /events` body),
//! `statement_classify` (what the query endpoint agrees to run). The SDK's
//! scanner and splicer have theirs in the SDK (`sluice_sdk::fuzzing`).

use serde::de::IgnoredAny;

use crate::api::ndjson;
use crate::query::statement::{self, Request, StatementError};
use crate::schema::Schema;
use crate::table::project::Projection;
use crate::table::table_schema;

/// The table schemas the projection target picks from (by the input's
/// first byte): the reference tables and one of every type.
pub const PROJECTION_SCHEMAS: [&str; 4] = [
    "host string, item_type string, user_info struct<session_datetime:string, inventory:array<string>>",
    "username string, guild_name string, event_type string, user_agent string",
    "b boolean, t tinyint, s smallint, i int, g bigint, f float, d double, \
     m decimal(10,2), x string, y binary, dt date, ts timestamp",
    "a array<map<string,struct<n:int, l:array<double>>>>, s struct<inner:struct<deep:array<bigint>>>",
];

/// The nesting limit the projection target runs with (the decoder's default).
const MAX_DEPTH: usize = 64;

/// An event (the input after its first byte) onto one of
/// [`PROJECTION_SCHEMAS`]: a row or a reason, never a panic. What it
/// promises: input that is not JSON is never a row, a refused event takes
/// back every value it wrote (and only those), and the columns make arrays
/// of exactly the table's Arrow types.
pub fn table_projection(data: &[u8]) {
    let Some((&pick, event)) = data.split_first() else {
        return;
    };
    // The decoder checks UTF-8 before it projects.
    let Ok(event) = std::str::from_utf8(event) else {
        return;
    };
    let schema = Schema::parse(PROJECTION_SCHEMAS[usize::from(pick) % PROJECTION_SCHEMAS.len()])
        .expect("the target's schemas parse");
    let mut projection = Projection::new(&schema.columns, MAX_DEPTH);
    projection
        .project("{}")
        .expect("an empty object is a row of every table");
    let rows = match projection.project(event) {
        Err(_) => 1,
        Ok(()) => {
            assert!(
                serde_json::from_str::<IgnoredAny>(event).is_ok(),
                "not JSON, yet a row"
            );
            2
        }
    };
    assert_eq!(projection.rows(), rows, "rows after the event");
    // The array constructors check every offset and child length.
    let columns = projection.finish();
    let table = table_schema(&schema);
    let declared = &table.fields()[2..];
    assert_eq!(columns.len(), declared.len());
    for (column, field) in columns.iter().zip(declared) {
        assert_eq!(column.data_type(), field.data_type(), "`{}`", field.name());
        assert_eq!(column.len(), rows, "rows of `{}`", field.name());
    }
}

/// A Hive column list: a schema or an error, never a panic; a schema
/// printed (as `sluice ddl` prints it) parses back to itself.
pub fn schema_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(schema) = Schema::parse(text) {
        let printed = schema.to_string();
        let again = Schema::parse(&printed)
            .unwrap_or_else(|e| panic!("`{printed}` (printed from `{text}`) does not parse: {e}"));
        assert_eq!(again, schema, "`{printed}` parses to another schema");
    }
}

/// A `POST /events` body, with a cap of 16 events: numbered events or
/// reasons, never a panic and never more than the cap.
pub fn ndjson(data: &[u8]) {
    const CAP: usize = 16;
    match ndjson::parse(data, CAP) {
        Err(ndjson::BodyError::Empty) => {}
        Err(ndjson::BodyError::TooManyEvents { limit }) => assert_eq!(limit, CAP),
        Ok(lines) => {
            assert!(
                !lines.is_empty() && lines.len() <= CAP,
                "{} lines",
                lines.len()
            );
            for pair in lines.windows(2) {
                assert!(pair[0].number < pair[1].number, "line numbers out of order");
            }
            for line in &lines {
                if let Ok(event) = &line.event {
                    let text = serde_json::to_vec(event).expect("a map serializes");
                    let again = ndjson::event(&text).expect("an accepted event stays valid");
                    let (a, b) = (serde_json::Value::from(again), event.clone().into());
                    assert!(same_but_float_ulps(&a, &b), "not stable: {a} then {b}");
                }
            }
        }
    }
}

/// SQL text through the query endpoint's classifier: a request or a
/// refusal, never a panic. What it promises: a query (`Plan`) is one the
/// allowlist names, and printed back it is still a query or, where the
/// SQL printer writes something its parser does not take, a syntax error,
/// never a statement that writes; a refusal names upper-case keywords.
pub fn statement_classify(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    match statement::parse(sql) {
        Ok(Request::Plan(plan)) => {
            let printed = plan.to_string();
            match statement::parse(&printed) {
                Ok(Request::Plan(_)) | Err(StatementError::Syntax(_)) => {}
                Ok(other) => panic!("`{sql}` is a query; printed, `{printed}` is {other:?}"),
                Err(e) => panic!("`{sql}` is a query; printed, `{printed}` is refused: {e}"),
            }
        }
        Ok(Request::ShowTables | Request::Describe(_)) | Err(StatementError::Syntax(_)) => {}
        Err(StatementError::ReadOnly { statement }) => {
            assert!(
                !statement.is_empty() && statement.chars().all(|c| c == ' ' || !c.is_lowercase()),
                "`{sql}` refused as `{statement}`"
            );
        }
    }
}

/// Equal, except that floats may differ in their last bits: serde_json
/// (without its `float_roundtrip` feature, which the host's build does not
/// turn on) may parse a long decimal one ulp off, so an event sluice
/// re-serializes can move a float that far (found by the `ndjson` target).
fn same_but_float_ulps(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || ((x - y) / x.abs().max(y.abs())).abs() < 1e-15
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_but_float_ulps(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_but_float_ulps(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every file under `fuzz/<kind>/<target>/`, for kind `corpus` (the
    /// seeds) and `artifacts` (crashes found, kept once fixed).
    pub(crate) fn saved_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut inputs = Vec::new();
        for kind in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_file() {
                    inputs.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        inputs.sort();
        inputs
    }

    fn replay(target: &str, check: fn(&[u8])) {
        let inputs = saved_inputs(target);
        assert!(
            !inputs.is_empty(),
            "no seeds for `{target}` under fuzz/corpus"
        );
        for (path, data) in inputs {
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                panic!("`{}` fails the `{target}` check", path.display());
            }
        }
    }

    #[test]
    fn table_projection_seeds_and_crashes_replay() {
        replay("table_projection", super::table_projection);
    }

    #[test]
    fn schema_parse_seeds_and_crashes_replay() {
        replay("schema_parse", super::schema_parse);
    }

    #[test]
    fn ndjson_seeds_and_crashes_replay() {
        replay("ndjson", super::ndjson);
    }

    #[test]
    fn statement_classify_seeds_and_crashes_replay() {
        replay("statement_classify", super::statement_classify);
    }
}
