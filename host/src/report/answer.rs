//! A query's answer as plain columns: the labels, counts and instants the
//! report's charts and sentences are made of.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};

use crate::query::{QueryEngine, QueryResult};

/// One answer, its batches made one.
pub struct Answer {
    batch: RecordBatch,
}

impl Answer {
    /// Runs `sql` on `engine`.
    pub async fn of(engine: &QueryEngine, sql: &str) -> anyhow::Result<Answer> {
        let result: QueryResult = engine
            .run(sql)
            .await
            .map_err(|e| anyhow::anyhow!("the report's query failed: {e}\n{sql}"))?;
        let batch = concat_batches(&result.schema, &result.batches)?;
        Ok(Answer { batch })
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn column(&self, name: &str, to: &DataType) -> anyhow::Result<std::sync::Arc<dyn Array>> {
        let column = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| anyhow::anyhow!("the report's query has no column `{name}`"))?;
        Ok(cast(column, to)?)
    }

    /// A column as text; a null reads `(none)`.
    pub fn strings(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let column = self.column(name, &DataType::Utf8)?;
        let column = column.as_string::<i32>();
        Ok((0..column.len())
            .map(|i| {
                if column.is_null(i) {
                    "(none)".to_string()
                } else {
                    column.value(i).to_string()
                }
            })
            .collect())
    }

    /// A column of counts; a null reads 0.
    pub fn counts(&self, name: &str) -> anyhow::Result<Vec<u64>> {
        let column = self.column(name, &DataType::Int64)?;
        let column = column.as_primitive::<Int64Type>();
        Ok((0..column.len())
            .map(|i| {
                if column.is_null(i) {
                    0
                } else {
                    column.value(i).max(0) as u64
                }
            })
            .collect())
    }

    /// A timestamp column as milliseconds since the Unix epoch (UTC); `None`
    /// for a null.
    pub fn millis(&self, name: &str) -> anyhow::Result<Vec<Option<i64>>> {
        let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let column = self.column(name, &ms)?;
        let column = cast(&column, &DataType::Int64)?;
        let column = column.as_primitive::<Int64Type>();
        Ok((0..column.len())
            .map(|i| (!column.is_null(i)).then(|| column.value(i)))
            .collect())
    }
}
