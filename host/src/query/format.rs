//! A result as bytes: JSON (the default), CSV, NDJSON, an Arrow IPC
//! stream, or the aligned text table the presto CLI prints.

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;

use super::{QueryError, QueryResult};
use crate::table::hive_type_name;

/// What `?format=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"columns": [...], "rows": [{...}], "row_count", "truncated", "elapsed_ms"}`
    #[default]
    Json,
    Csv,
    /// One JSON object per row and line.
    Ndjson,
    /// An Arrow IPC stream.
    Arrow,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "arrow" => Ok(Format::Arrow),
            other => Err(format!(
                "unknown format `{other}`; use json, csv, ndjson or arrow"
            )),
        }
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    /// Encodes `result`.
    pub fn encode(self, result: &QueryResult) -> Result<Vec<u8>, QueryError> {
        let failed = |e: arrow::error::ArrowError| QueryError::Execution(e.to_string());
        let batches: Vec<&RecordBatch> = result.batches.iter().collect();
        let mut out = Vec::new();
        match self {
            Format::Json => {
                #[derive(Serialize)]
                struct Head<'a> {
                    columns: Vec<Column<'a>>,
                }
                let head = serde_json::to_string(&Head {
                    columns: columns(&result.schema),
                })
                .expect("plain data serializes");
                // `{"columns":[...]` + `,"rows":` + rows + the rest.
                out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
                out.extend_from_slice(b",\"rows\":");
                let mut writer = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::JsonArray>(&mut out);
                writer.write_batches(&batches).map_err(failed)?;
                writer.finish().map_err(failed)?;
                drop(writer);
                if result.batches.is_empty() {
                    out.extend_from_slice(b"[]");
                }
                let tail = serde_json::json!({
                    "row_count": result.rows,
                    "truncated": result.truncated,
                    "elapsed_ms": result.elapsed.as_secs_f64() * 1000.0,
                });
                out.push(b',');
                let tail = tail.to_string();
                out.extend_from_slice(&tail.as_bytes()[1..]);
            }
            Format::Ndjson => {
                let mut writer = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(&mut out);
                writer.write_batches(&batches).map_err(failed)?;
                writer.finish().map_err(failed)?;
            }
            Format::Csv => {
                if let Some(nested) = result
                    .schema
                    .fields()
                    .iter()
                    .find(|f| f.data_type().is_nested())
                {
                    return Err(QueryError::Plan(format!(
                        "CSV cannot hold column `{}` of type {}; select scalar columns, or ask for json or ndjson",
                        nested.name(),
                        hive_type_name(nested.data_type())
                    )));
                }
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                if batches.is_empty() {
                    writer
                        .write(&RecordBatch::new_empty(result.schema.clone()))
                        .map_err(failed)?;
                }
                for batch in batches {
                    writer.write(batch).map_err(failed)?;
                }
            }
            Format::Arrow => {
                let mut writer =
                    arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)
                        .map_err(failed)?;
                for batch in batches {
                    writer.write(batch).map_err(failed)?;
                }
                writer.finish().map_err(failed)?;
            }
        }
        Ok(out)
    }
}

/// A column's name and Hive type, as JSON results and `sluice sql` show them.
#[derive(Debug, Serialize)]
struct Column<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: String,
}

fn columns(schema: &Schema) -> Vec<Column<'_>> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name(),
            ty: hive_type_name(f.data_type()),
        })
        .collect()
}

/// The presto CLI's layout: a header, a rule, one line per row with
/// numbers right-aligned, and a row count.
///
/// ```text
///        host        | count
/// -------------------+-------
///  user1.comcast.com |   560
/// (1 row)
/// ```
pub fn render_table(schema: &Schema, batches: &[RecordBatch]) -> String {
    let options = FormatOptions::default().with_null("NULL");
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| is_numeric(f.data_type()))
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        if formatters.len() != batch.num_columns() {
            continue;
        }
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string().replace('\n', " "))
                    .collect(),
            );
        }
    }
    let widths: Vec<usize> = (0..names.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(names[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], header: bool, out: &mut String| {
        let cells: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let pad = widths[i] - cell.chars().count();
                if header {
                    let left = pad / 2;
                    format!(" {}{cell}{} ", " ".repeat(left), " ".repeat(pad - left))
                } else if numeric[i] {
                    format!(" {}{cell} ", " ".repeat(pad))
                } else {
                    format!(" {cell}{} ", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(cells.join("|").trim_end());
        out.push('\n');
    };
    line(&names, true, &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for row in &rows {
        line(row, false, &mut out);
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

fn is_numeric(ty: &DataType) -> bool {
    ty.is_numeric() || matches!(ty, DataType::Dictionary(_, v) if v.is_numeric())
}
