//! Caps on what a query may build. DataFusion's memory pool covers sorts,
//! joins and aggregations, not the values a scalar function returns, so
//! `repeat(raw_event, 100000)` or `range(1, 2000000000)` would allocate
//! whatever they are asked for and take the process down with them.
//!
//! Two guards, both worded as [`OutputTooLarge`]:
//! - the functions that grow their output (`repeat`, `lpad`, `rpad`,
//!   `replace`, `regexp_replace`, `range`, `generate_series`,
//!   `array_repeat`, `array_resize`) are replaced in each session by a
//!   wrapper that bounds the bytes a batch would need from its arguments,
//!   before the function allocates anything, and refuses past the cap;
//! - the engine adds up the answer's bytes while it collects batches, and
//!   refuses an answer (or a batch) past the same cap.
//!
//! Table functions (`FROM range(…)`) produce rows lazily: the row limit
//! and the time limit cover them.

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::cast;
use arrow::compute::kernels::length::length;
use arrow::datatypes::{DataType, IntervalMonthDayNanoType, TimeUnit};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;

/// A query would have built more than the cap: the function that would
/// have (or `the answer`), what it asked for and the cap.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{what} would take {} bytes, over the query output cap of {} MiB; \
     ask for less (fewer rows, shorter values) or raise --query-max-output",
    .bytes, .limit_bytes >> 20
)]
pub struct OutputTooLarge {
    pub what: String,
    pub bytes: u128,
    pub limit_bytes: usize,
}

impl OutputTooLarge {
    pub(super) fn check(
        what: impl FnOnce() -> String,
        bytes: u128,
        limit_bytes: usize,
    ) -> Result<()> {
        if bytes > limit_bytes as u128 {
            return Err(DataFusionError::External(Box::new(OutputTooLarge {
                what: what(),
                bytes,
                limit_bytes,
            })));
        }
        Ok(())
    }

    /// The cap error inside a DataFusion error, if that is what it is.
    pub(super) fn within(e: &DataFusionError) -> Option<&OutputTooLarge> {
        match e.find_root() {
            DataFusionError::External(inner) => inner.downcast_ref::<OutputTooLarge>(),
            _ => None,
        }
    }
}

/// How one function's output grows: an upper bound on the bytes a batch of
/// `rows` rows needs, from the arguments alone.
type Bound = fn(&[ColumnarValue], usize) -> Result<u128>;

/// The functions that grow their output, each with its bound.
const GUARDED: [(&str, Bound); 9] = [
    ("repeat", repeat_bytes),
    ("lpad", pad_bytes),
    ("rpad", pad_bytes),
    ("replace", replace_bytes),
    ("regexp_replace", replace_bytes),
    ("range", range_bytes),
    ("generate_series", range_bytes),
    ("array_repeat", array_repeat_bytes),
    ("array_resize", array_resize_bytes),
];

/// Replaces the growing functions of `ctx` (and their aliases) with their
/// guarded wrappers, capped at `limit_bytes` per batch.
pub(super) fn guard_functions(ctx: &SessionContext, limit_bytes: usize) {
    let functions = ctx.state().scalar_functions().clone();
    for (name, bound) in GUARDED {
        if let Some(inner) = functions.get(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(Guarded {
                inner: inner.as_ref().clone(),
                bound: BoundFn(bound),
                limit_bytes,
            }));
        }
    }
}

/// A function pointer with the equality and hash DataFusion asks of a
/// function (by address, which is all a bound is).
#[derive(Debug, Clone, Copy)]
struct BoundFn(Bound);

impl PartialEq for BoundFn {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

impl Eq for BoundFn {}

impl std::hash::Hash for BoundFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.0 as usize).hash(state);
    }
}

/// A built-in function with a bound checked before it runs; everything
/// else is the built-in's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Guarded {
    inner: ScalarUDF,
    bound: BoundFn,
    limit_bytes: usize,
}

impl ScalarUDFImpl for Guarded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = (self.bound.0)(&args.args, args.number_rows)?;
        OutputTooLarge::check(|| format!("`{}`", self.name()), bytes, self.limit_bytes)?;
        self.inner.invoke_with_args(args)
    }
}

/// One argument's values as integers, row by row, without expanding a
/// constant to the batch's length.
enum Values {
    One(Option<i64>),
    Rows(Int64Array),
}

impl Values {
    /// An integer argument (a count, a bound) as `i64`.
    fn of(arg: &ColumnarValue, as_type: &DataType) -> Result<Values> {
        match arg {
            ColumnarValue::Scalar(scalar) => {
                let one = Values::from_array(&scalar.to_array_of_size(1)?, as_type)?;
                Ok(Values::One(one.get(0)))
            }
            ColumnarValue::Array(array) => Values::from_array(array, as_type),
        }
    }

    fn from_array(array: &ArrayRef, as_type: &DataType) -> Result<Values> {
        let typed = cast(array, as_type)?;
        let ints = cast(&typed, &DataType::Int64)?;
        Ok(Values::Rows(ints.as_primitive().clone()))
    }

    /// A string, binary or list argument's lengths (bytes for strings).
    fn lengths(arg: &ColumnarValue) -> Result<Values> {
        let lengths = |array: &ArrayRef| -> Result<Values> {
            let lengths = length(array.as_ref())?;
            Values::from_array(&lengths, &DataType::Int64)
        };
        match arg {
            ColumnarValue::Scalar(scalar) => {
                Ok(Values::One(lengths(&scalar.to_array_of_size(1)?)?.get(0)))
            }
            ColumnarValue::Array(array) => lengths(array),
        }
    }

    /// Any value's size in bytes: a string's length, else its share of
    /// the array's memory.
    fn sizes(arg: &ColumnarValue) -> Result<Values> {
        let data_type = arg.data_type();
        if matches!(
            data_type,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        ) {
            return Values::lengths(arg);
        }
        let size = match arg {
            ColumnarValue::Scalar(scalar) => scalar.size(),
            ColumnarValue::Array(array) => array.get_array_memory_size() / array.len().max(1),
        };
        Ok(Values::One(Some(size as i64)))
    }

    fn get(&self, row: usize) -> Option<i64> {
        match self {
            Values::One(value) => *value,
            Values::Rows(array) => {
                (row < array.len() && array.is_valid(row)).then(|| array.value(row))
            }
        }
    }

    /// A non-negative value as u128, nulls and negatives as 0.
    fn at(&self, row: usize) -> u128 {
        self.get(row).map_or(0, |v| v.max(0) as u128)
    }
}

/// The sum over the batch's rows, saturating.
fn sum_rows(rows: usize, per_row: impl Fn(usize) -> u128) -> u128 {
    (0..rows).fold(0u128, |sum, row| sum.saturating_add(per_row(row)))
}

/// `repeat(text, n)`: the text's bytes, n times.
fn repeat_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let (text, n) = (
        Values::lengths(&args[0])?,
        Values::of(&args[1], &DataType::Int64)?,
    );
    Ok(sum_rows(rows, |row| text.at(row).saturating_mul(n.at(row))))
}

/// `lpad(text, n [, fill])`: n characters of up to 4 bytes each.
fn pad_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let n = Values::of(&args[1], &DataType::Int64)?;
    Ok(sum_rows(rows, |row| n.at(row).saturating_mul(4)))
}

/// `replace(text, from, to)` and `regexp_replace(text, pattern, to …)`:
/// at most one replacement at every character boundary (an empty match).
fn replace_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let (text, to) = (Values::lengths(&args[0])?, Values::lengths(&args[2])?);
    Ok(sum_rows(rows, |row| {
        let text = text.at(row);
        text.saturating_add((text + 1).saturating_mul(to.at(row)))
    }))
}

/// `array_repeat(value, n)`: n copies of the value.
fn array_repeat_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let (value, n) = (
        Values::sizes(&args[0])?,
        Values::of(&args[1], &DataType::Int64)?,
    );
    Ok(sum_rows(rows, |row| {
        (value.at(row) + 8).saturating_mul(n.at(row))
    }))
}

/// `array_resize(array, n [, value])`: n elements, the new ones the value.
fn array_resize_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let n = Values::of(&args[1], &DataType::Int64)?;
    let value = match args.get(2) {
        Some(value) => Values::sizes(value)?,
        None => Values::One(Some(16)),
    };
    Ok(sum_rows(rows, |row| {
        (value.at(row).max(16) + 8).saturating_mul(n.at(row))
    }))
}

/// `range` and `generate_series` of integers, dates or timestamps: the
/// number of steps times 8 bytes (one more step than `range` makes, for
/// `generate_series`'s upper bound).
fn range_bytes(args: &[ColumnarValue], rows: usize) -> Result<u128> {
    let steps = match args[0].data_type() {
        DataType::Date32 | DataType::Date64 if args.len() == 3 => {
            let day = 86_400_000_000_000;
            let start = Values::of(&args[0], &DataType::Date32)?;
            let stop = Values::of(&args[1], &DataType::Date32)?;
            let step = Steps::of(&args[2])?;
            return Ok(sum_rows(rows, |row| {
                let span = span(start.get(row), stop.get(row)).saturating_mul(day);
                step.count(row, span).saturating_mul(8)
            }));
        }
        DataType::Timestamp(_, tz) if args.len() == 3 => {
            let nanos = DataType::Timestamp(TimeUnit::Nanosecond, tz.clone());
            let start = Values::of(&args[0], &nanos)?;
            let stop = Values::of(&args[1], &nanos)?;
            let step = Steps::of(&args[2])?;
            return Ok(sum_rows(rows, |row| {
                let span = span(start.get(row), stop.get(row));
                step.count(row, span).saturating_mul(8)
            }));
        }
        _ => {
            let ints = |arg: &ColumnarValue| Values::of(arg, &DataType::Int64);
            let (start, stop, step) = match args {
                [stop] => (Values::One(Some(0)), ints(stop)?, Values::One(Some(1))),
                [start, stop] => (ints(start)?, ints(stop)?, Values::One(Some(1))),
                [start, stop, step, ..] => (ints(start)?, ints(stop)?, ints(step)?),
                [] => return Ok(0),
            };
            move |row: usize| {
                let step = step.get(row).map_or(1, |s| s.unsigned_abs() as u128).max(1);
                span(start.get(row), stop.get(row)) / step + 1
            }
        }
    };
    Ok(sum_rows(rows, |row| steps(row).saturating_mul(8)))
}

/// The distance between two bounds, 0 when either is null.
fn span(start: Option<i64>, stop: Option<i64>) -> u128 {
    match (start, stop) {
        (Some(start), Some(stop)) => (i128::from(stop) - i128::from(start)).unsigned_abs(),
        _ => 0,
    }
}

/// A date or timestamp range's step, an interval of months, days and
/// nanoseconds: counted with its shortest length (a month of 28 days, a
/// day of 23 hours), so the number of steps is never underestimated.
enum Steps {
    One(Option<u128>),
    Rows(Vec<Option<u128>>),
}

impl Steps {
    fn of(arg: &ColumnarValue) -> Result<Steps> {
        let shortest = |array: &ArrayRef| -> Result<Vec<Option<u128>>> {
            let intervals = cast(
                array,
                &DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
            )?;
            Ok(intervals
                .as_primitive::<IntervalMonthDayNanoType>()
                .iter()
                .map(|step| {
                    step.map(|step| {
                        let hour = 3_600_000_000_000i128;
                        let corners = [28 * 24, 31 * 24].into_iter().flat_map(|month| {
                            [23, 25].into_iter().map(move |day| {
                                i128::from(step.months) * month * hour
                                    + i128::from(step.days) * day * hour
                                    + i128::from(step.nanoseconds)
                            })
                        });
                        let (low, high) = corners
                            .fold((i128::MAX, i128::MIN), |(lo, hi), c| (lo.min(c), hi.max(c)));
                        // A step whose sign depends on the month's length
                        // may be as short as nothing.
                        if low <= 0 && high >= 0 {
                            0
                        } else {
                            low.unsigned_abs().min(high.unsigned_abs())
                        }
                    })
                })
                .collect())
        };
        Ok(match arg {
            ColumnarValue::Scalar(scalar) => Steps::One(shortest(&scalar.to_array_of_size(1)?)?[0]),
            ColumnarValue::Array(array) => Steps::Rows(shortest(array)?),
        })
    }

    /// The steps across `span` nanoseconds; an empty step is left for the
    /// function to refuse, except where only some month lengths make it
    /// empty, which counts as unbounded.
    fn count(&self, row: usize, span: u128) -> u128 {
        let step = match self {
            Steps::One(step) => *step,
            Steps::Rows(steps) => steps.get(row).copied().flatten(),
        };
        match step {
            None => 0,
            Some(0) if span == 0 => 1,
            Some(0) => u128::MAX,
            Some(step) => span / step + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::common::ScalarValue;

    use super::*;

    fn text(value: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.to_string())))
    }

    fn int(value: i64) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(value)))
    }

    #[test]
    fn bounds_count_what_the_functions_would_build() {
        let column: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["ab", "cde"]));
        let column = ColumnarValue::Array(column);
        assert_eq!(repeat_bytes(&[column.clone(), int(10)], 2).unwrap(), 50);
        assert_eq!(repeat_bytes(&[text("xyz"), int(-1)], 5).unwrap(), 0);
        assert_eq!(pad_bytes(&[column.clone(), int(100)], 2).unwrap(), 800);
        // "ab" with an empty pattern: at most 3 insertions of 2 bytes.
        assert_eq!(
            replace_bytes(&[column, text(""), text("xx")], 2).unwrap(),
            (2 + 3 * 2) + (3 + 4 * 2)
        );
        assert_eq!(range_bytes(&[int(10)], 1).unwrap(), 11 * 8);
        assert_eq!(
            range_bytes(&[int(1), int(2_000_000_000)], 1).unwrap(),
            1_999_999_999 * 8 + 8
        );
        assert_eq!(
            range_bytes(&[int(0), int(100), int(-10)], 3).unwrap(),
            3 * 11 * 8
        );
        assert_eq!(
            array_repeat_bytes(&[text("abcd"), int(1000)], 1).unwrap(),
            12_000
        );
    }

    #[test]
    fn date_and_timestamp_ranges_count_the_shortest_steps() {
        let date = |days: i32| ColumnarValue::Scalar(ScalarValue::Date32(Some(days)));
        let interval = |months, days, nanos| {
            ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(
                arrow::datatypes::IntervalMonthDayNano::new(months, days, nanos),
            )))
        };
        // 280 days by months of at least 28 days: at most 11 steps.
        assert_eq!(
            range_bytes(&[date(0), date(280), interval(1, 0, 0)], 1).unwrap(),
            11 * 8
        );
        // A million years by the day.
        let bytes = range_bytes(&[date(0), date(365_000_000), interval(0, 1, 0)], 1).unwrap();
        assert!(bytes > 365_000_000 * 8, "{bytes}");
        // One month less 30 days may be no step at all.
        let bytes = range_bytes(&[date(0), date(10), interval(1, -30, 0)], 1).unwrap();
        assert_eq!(bytes, u128::MAX);
        let ts =
            |nanos: i64| ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(Some(nanos), None));
        let second = 1_000_000_000;
        assert_eq!(
            range_bytes(&[ts(0), ts(3600 * second), interval(0, 0, second)], 1).unwrap(),
            3601 * 8
        );
    }

    #[test]
    fn over_the_cap_is_an_error_naming_the_function() {
        let error = OutputTooLarge::check(|| "`repeat`".into(), 65 << 20, 64 << 20).unwrap_err();
        let cap = OutputTooLarge::within(&error).expect("the cap error");
        assert_eq!(cap.what, "`repeat`");
        assert!(
            error
                .to_string()
                .contains("over the query output cap of 64 MiB"),
            "{error}"
        );
        OutputTooLarge::check(|| unreachable!(), 64 << 20, 64 << 20).unwrap();
    }
}
