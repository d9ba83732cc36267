//! Reads one JSON event straight into a table's columns, checking it as it
//! goes.
//!
//! A JSON event enters as text already checked to be UTF-8. What leaves is
//! one more row in the table's column builders (`columns.rs`), or a
//! [`RejectReason`] naming the column and value that do not fit, with the
//! builders as they were. One pass does all of it:
//!
//! - matches keys to columns case-insensitively with `-` read as `_`
//!   (`User-Agent` → `user_agent`) in every struct, at every level, but never
//!   touches map keys, which are data;
//! - drops keys that name no column, after checking they are valid JSON;
//! - checks each value against its column's type and writes it into the
//!   column (the rules are in [`Cursor::value`]), parsing dates, timestamps,
//!   decimals and floats with arrow's own parsers, so a row holds what
//!   arrow-json would have made of the same event;
//! - refuses nesting deeper than the limit before anything recurses further,
//!   so a hostile depth-10,000 event costs a few dozen stack frames.
//!
//! The JSON itself is read by `scan.rs`'s lexer; this file decides what
//! each value means for its column. No `serde_json::Value` per event, and
//! no second parse.

use arrow::array::ArrayRef;
use arrow::compute::kernels::cast_utils::{Parser, parse_decimal, string_to_datetime};
use arrow::datatypes::{Date32Type, Decimal128Type, Float32Type, Float64Type, Int64Type};

use super::columns::{Column, Fields, Kind, offset};
use super::scan::{Reject, Scan, Step, Str, is_number, parse_i64, quote};
use crate::schema::{Column as HiveColumn, HiveType};

/// Why an event cannot become a row of its table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("the event is {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the event is not valid UTF-8 (bad byte at {position})")]
    InvalidUtf8 { position: usize },
    #[error("the event is not JSON: {message} at byte {position}")]
    NotJson {
        position: usize,
        message: &'static str,
    },
    #[error("the event is a JSON {found}, not an object")]
    NotAnObject { found: &'static str },
    #[error("the event nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("column `{column}` is {expected}, but the event has `{value}`")]
    Mismatch {
        column: String,
        expected: String,
        value: String,
    },
    #[error("column `{column}` is {expected}, and `{value}` is out of its range")]
    OutOfRange {
        column: String,
        expected: String,
        value: String,
    },
    #[error(
        "key `{key}` names column `{column}` a second time (keys match columns ignoring case, with `-` as `_`)"
    )]
    DuplicateKey { column: String, key: String },
    /// A value of a kind its column takes that still does not parse as the
    /// column's type (a malformed date, a decimal over its precision, a
    /// string with a lone UTF-16 surrogate); the message quotes the value.
    #[error("column `{column}` cannot hold the event's value: {message}")]
    Unparsable { column: String, message: String },
}

impl RejectReason {
    /// Puts the column path of a nested misfit under its parent, so the
    /// reason reads `user_info.inventory[1]`.
    pub(super) fn under(mut self: Box<Self>, parent: &str) -> Box<Self> {
        if let RejectReason::Mismatch { column, .. }
        | RejectReason::OutOfRange { column, .. }
        | RejectReason::DuplicateKey { column, .. }
        | RejectReason::Unparsable { column, .. } = &mut *self
        {
            *column = if column.is_empty() || column.starts_with('[') {
                format!("{parent}{column}")
            } else {
                format!("{parent}.{column}")
            };
        }
        self
    }
}

/// Deepest nesting a limit may allow: the scanner recurses once per level.
pub(super) const DEPTH_CEILING: usize = 512;

/// A table's columns, compiled for matching and filling row by row.
#[derive(Debug)]
pub(crate) struct Projection {
    root: Fields,
    rows: usize,
    max_depth: usize,
    /// The unescaped text of the string being read, reused.
    scratch: String,
}

impl Projection {
    pub(crate) fn new(columns: &[HiveColumn], max_depth: usize) -> Projection {
        Projection {
            root: Fields::new(columns),
            rows: 0,
            max_depth: max_depth.clamp(1, DEPTH_CEILING),
            scratch: String::new(),
        }
    }

    /// Appends `json` as one row, or leaves the columns as they were and
    /// says why the event does not fit.
    pub(crate) fn project(&mut self, json: &str) -> Result<(), RejectReason> {
        let mut cursor = Cursor {
            scan: Scan::new(json.as_bytes(), self.max_depth),
            text: json,
            scratch: &mut self.scratch,
            unparsable: None,
        };
        match cursor.root(&mut self.root, self.rows) {
            Ok(()) => {
                self.rows += 1;
                Ok(())
            }
            Err(reason) => {
                self.root.truncate(self.rows);
                Err(*reason)
            }
        }
    }

    /// Rows appended since the last [`Projection::finish`].
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The rows so far, one array per column; the columns start empty again.
    pub(crate) fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        self.root.finish()
    }
}

/// The scan of one event into the columns: the JSON lexer (`scan.rs`,
/// reached through `Deref`) plus what the columns need.
struct Cursor<'a> {
    scan: Scan<'a>,
    /// The event as text, for the values that are kept as text or parsed.
    text: &'a str,
    scratch: &'a mut String,
    /// The first value that is of a kind its column takes yet does not
    /// parse, and the depth whose parent has still to put its name on the
    /// reason. It is reported only if nothing else is wrong with the event,
    /// so a syntax error or misfit later in the event still wins.
    unparsable: Option<(Reject, usize)>,
}

/// How one value fits its column, once read.
enum Fit {
    /// Written into the column.
    Yes,
    Mismatch,
    OutOfRange,
    /// Of a kind the column takes, but it does not parse; the message
    /// quotes it. Nothing was written.
    Unparsable(String),
}

impl From<Result<(), String>> for Fit {
    fn from(parsed: Result<(), String>) -> Fit {
        parsed.map_or_else(Fit::Unparsable, |()| Fit::Yes)
    }
}

impl<'a> std::ops::Deref for Cursor<'a> {
    type Target = Scan<'a>;

    fn deref(&self) -> &Scan<'a> {
        &self.scan
    }
}

impl<'a> std::ops::DerefMut for Cursor<'a> {
    fn deref_mut(&mut self) -> &mut Scan<'a> {
        &mut self.scan
    }
}

impl Cursor<'_> {
    fn root(&mut self, fields: &mut Fields, row: usize) -> Step {
        self.expect_object()?;
        self.object(fields, row, 1)?;
        self.expect_end()?;
        match self.unparsable.take() {
            Some((reason, _)) => Err(reason),
            None => Ok(()),
        }
    }

    /// A struct, as element `row` of its fields: keys matched to fields,
    /// unknown keys dropped, fields the object lacks null.
    fn object(&mut self, fields: &mut Fields, row: usize, depth: usize) -> Step {
        self.enter(depth)?;
        self.skip_ws();
        if !self.eat(b'}') {
            loop {
                let (key, name) = self.key()?;
                match fields.find(&name) {
                    Some(index) => {
                        let field = &mut fields.fields[index];
                        // A second key for one column (`Host` and `host`):
                        // which one should win?
                        if field.column.len() > row {
                            return Err(RejectReason::DuplicateKey {
                                column: field.name.clone(),
                                key: String::from_utf8_lossy(&self.src[key.start..key.end])
                                    .into_owned(),
                            }
                            .into());
                        }
                        self.value(&mut field.column, depth + 1)
                            .map_err(|e| e.under(&field.name))?;
                        self.name_unparsable(depth + 1, || field.name.clone());
                    }
                    None => self.skip_value(depth + 1)?,
                }
                self.skip_ws();
                match self.bump() {
                    Some(b',') => {}
                    Some(b'}') => break,
                    _ => return Err(self.syntax_before("expected `,` or `}` in an object")),
                }
            }
        }
        fields.fill_missing(row);
        Ok(())
    }

    /// One value of a known column, written into it. The type rules, in one
    /// place:
    /// - `null` fits every column;
    /// - integers take JSON integers in range, or strings holding one
    ///   (`"27"`: HTTP headers arrive as strings), never `1.5` or `"abc"`;
    /// - floats and decimals take numbers, or strings holding a number; a
    ///   number beyond f64's range is out of a float column's range;
    /// - strings take strings, and numbers and booleans as their JSON text,
    ///   never objects or arrays;
    /// - booleans take `true` and `false`;
    /// - dates and binaries (hex) take strings, timestamps strings or
    ///   numbers (microseconds);
    /// - arrays, maps and structs take arrays, objects and objects.
    ///
    /// A value of the right kind that does not parse (`"yesterday"` for a
    /// date) is remembered as unparsable, and the scan goes on.
    fn value(&mut self, column: &mut Column, depth: usize) -> Step {
        let start = self.pos;
        let first = self.peek();
        if first == Some(b'n') {
            self.literal(b"null")?;
            column.push_null();
            return Ok(());
        }
        let row = column.len();
        let fit = match (&mut column.kind, first) {
            (Kind::Struct(fields), Some(b'{')) => {
                self.object(fields, row, depth)?;
                Fit::Yes
            }
            (Kind::Array { offsets, item, .. }, Some(b'[')) => {
                self.array(item, depth)?;
                offsets.push(offset(item.len()));
                Fit::Yes
            }
            (
                Kind::Map {
                    offsets,
                    key,
                    value,
                    ..
                },
                Some(b'{'),
            ) => {
                self.map(key, value, depth)?;
                offsets.push(offset(key.len()));
                Fit::Yes
            }
            (Kind::Boolean(values), Some(b't' | b'f')) => {
                let truth = first == Some(b't');
                self.literal(if truth { b"true" } else { b"false" })?;
                values.push(truth);
                Fit::Yes
            }
            (Kind::Int { min, max, values }, Some(b'-' | b'0'..=b'9')) => {
                let integer = self.number()?;
                match integer.then(|| parse_i64(&self.src[start..self.pos])) {
                    None => Fit::Mismatch,
                    Some(Some(v)) if (*min..=*max).contains(&v) => {
                        values.push(v);
                        Fit::Yes
                    }
                    Some(_) => Fit::OutOfRange,
                }
            }
            (Kind::Int { min, max, values }, Some(b'"')) => {
                let s = self.string()?;
                match (!s.escaped).then(|| parse_i64(&self.src[s.start..s.end])) {
                    Some(Some(v)) if (*min..=*max).contains(&v) => {
                        values.push(v);
                        Fit::Yes
                    }
                    Some(Some(_)) => Fit::OutOfRange,
                    _ => Fit::Mismatch,
                }
            }
            (Kind::Float32(_) | Kind::Float64(_), Some(b'-' | b'0'..=b'9')) => {
                self.number()?;
                // Found by the `table_projection` fuzz target: a float
                // beyond f64's range would be stored as an infinity.
                if self.text[start..self.pos]
                    .parse::<f64>()
                    .is_ok_and(f64::is_finite)
                {
                    self.parsed(start, start..self.pos, &mut column.kind, &column.ty)
                        .into()
                } else {
                    Fit::OutOfRange
                }
            }
            (Kind::Decimal { .. }, Some(b'-' | b'0'..=b'9')) => {
                self.number()?;
                self.parsed(start, start..self.pos, &mut column.kind, &column.ty)
                    .into()
            }
            (Kind::Timestamp(values), Some(b'-' | b'0'..=b'9')) => {
                self.number()?;
                values.push(micros(&self.text[start..self.pos]));
                Fit::Yes
            }
            (Kind::String(bytes), Some(b'-' | b'0'..=b'9')) => {
                self.number()?;
                bytes.data.extend_from_slice(&self.src[start..self.pos]);
                bytes.end_value();
                Fit::Yes
            }
            (Kind::String(bytes), Some(b't' | b'f')) => {
                let word: &[u8] = if first == Some(b't') {
                    b"true"
                } else {
                    b"false"
                };
                self.literal(word)?;
                bytes.data.extend_from_slice(word);
                bytes.end_value();
                Fit::Yes
            }
            (Kind::Float32(_) | Kind::Float64(_) | Kind::Decimal { .. }, Some(b'"')) => {
                let s = self.string()?;
                if !s.escaped && is_number(&self.src[s.start..s.end]) {
                    self.parsed(start, s.start..s.end, &mut column.kind, &column.ty)
                        .into()
                } else {
                    Fit::Mismatch
                }
            }
            (
                Kind::String(_) | Kind::Binary(_) | Kind::Date(_) | Kind::Timestamp(_),
                Some(b'"'),
            ) => {
                let s = self.string()?;
                self.string_into(s, &mut column.kind, &column.ty).into()
            }
            _ => Fit::Mismatch,
        };
        match fit {
            Fit::Yes => {
                column.valid.push(true);
                Ok(())
            }
            Fit::Mismatch => Err(self.misfit(&column.ty, start, depth, false)),
            Fit::OutOfRange => Err(self.misfit(&column.ty, start, depth, true)),
            Fit::Unparsable(message) => {
                self.defer(depth, message);
                column.push_null();
                Ok(())
            }
        }
    }

    /// A string token into a column that parses strings (a value, or a
    /// map's key), unescaped first as arrow-json unescapes it; or the
    /// message of an unparsable value.
    fn string_into(&mut self, s: Str, kind: &mut Kind, ty: &HiveType) -> Result<(), String> {
        if !s.escaped {
            return self.parsed(s.start - 1, s.start..s.end, kind, ty);
        }
        let quoted = &self.src[s.start - 1..s.end + 1];
        unescape(&self.text[s.start..s.end], self.scratch)
            .map_err(|why| format!("`{}` has {why}", quote(quoted)))?;
        parse_into(self.scratch, kind, ty).map_err(|why| unparsable(quoted, ty, &why))
    }

    /// `self.text[text]` parsed into the column, or the message of an
    /// unparsable value; the value's JSON runs from `start` to the cursor.
    fn parsed(
        &self,
        start: usize,
        text: std::ops::Range<usize>,
        kind: &mut Kind,
        ty: &HiveType,
    ) -> Result<(), String> {
        parse_into(&self.text[text], kind, ty)
            .map_err(|why| unparsable(&self.src[start..self.pos], ty, &why))
    }

    /// Remembers the first unparsable value, read at `depth`.
    fn defer(&mut self, depth: usize, message: String) {
        if self.unparsable.is_none() {
            let reason = RejectReason::Unparsable {
                column: String::new(),
                message,
            };
            self.unparsable = Some((Box::new(reason), depth));
        }
    }

    /// Puts the unparsable value read at `depth`, if that is where it was
    /// read, under the parent that read it; the parent's own parent names
    /// it next, at `depth - 1`, so the reason ends up with the whole path.
    fn name_unparsable(&mut self, depth: usize, parent: impl FnOnce() -> String) {
        if let Some((reason, at)) = self.unparsable.take() {
            self.unparsable = Some(if at == depth {
                (reason.under(&parent()), at - 1)
            } else {
                (reason, at)
            });
        }
    }

    fn array(&mut self, item: &mut Column, depth: usize) -> Step {
        self.enter(depth)?;
        self.skip_ws();
        if self.eat(b']') {
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            self.skip_ws();
            self.value(item, depth + 1)
                .map_err(|e| e.under(&format!("[{index}]")))?;
            self.name_unparsable(depth + 1, || format!("[{index}]"));
            index += 1;
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b']') => break,
                _ => return Err(self.syntax_before("expected `,` or `]` in an array")),
            }
        }
        Ok(())
    }

    /// A map: keys kept verbatim (they are data), checked against the key
    /// type, then parsed into it as a string value would be.
    fn map(&mut self, key: &mut Column, value: &mut Column, depth: usize) -> Step {
        self.enter(depth)?;
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(());
        }
        let text = self.text;
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key in quotes"));
            }
            let k = self.string()?;
            let quoted_key = &text[k.start - 1..k.end + 1];
            let label = || format!("[{quoted_key}]");
            let unquoted = &self.src[k.start..k.end];
            let key_fits = match key.kind {
                Kind::Int { min, max, .. } => {
                    !k.escaped && parse_i64(unquoted).is_some_and(|v| (min..=max).contains(&v))
                }
                Kind::Float32(_) | Kind::Float64(_) | Kind::Decimal { .. } => {
                    !k.escaped && is_number(unquoted)
                }
                _ => true,
            };
            if !key_fits {
                return Err(Box::new(RejectReason::Mismatch {
                    column: String::new(),
                    expected: format!("a map with {} keys", key.ty),
                    value: quote(quoted_key.as_bytes()),
                })
                .under(&label()));
            }
            match self.string_into(k, &mut key.kind, &key.ty) {
                Ok(()) => key.valid.push(true),
                Err(message) => {
                    self.defer(depth + 1, message);
                    self.name_unparsable(depth + 1, label);
                    key.push_null();
                }
            }
            self.skip_ws();
            if !self.eat(b':') {
                return Err(self.syntax("expected `:` after a key"));
            }
            self.skip_ws();
            self.value(value, depth + 1)
                .map_err(|e| e.under(&label()))?;
            self.name_unparsable(depth + 1, label);
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(self.syntax_before("expected `,` or `}` in an object")),
            }
        }
        Ok(())
    }

    /// Says why the value at `start` does not fit, quoting it. If the value
    /// is not even valid JSON (or too deep), that is the reason instead.
    fn misfit(&mut self, ty: &HiveType, start: usize, depth: usize, range: bool) -> Reject {
        self.pos = start;
        if let Err(e) = self.skip_value(depth.max(1)) {
            return e;
        }
        let value = quote(&self.src[start..self.pos]);
        let (column, expected) = (String::new(), ty.to_string());
        Box::new(if range {
            RejectReason::OutOfRange {
                column,
                expected,
                value,
            }
        } else {
            RejectReason::Mismatch {
                column,
                expected,
                value,
            }
        })
    }
}

/// The message of a value that does not parse, quoting its JSON.
fn unparsable(json: &[u8], ty: &HiveType, why: &str) -> String {
    let value = quote(json);
    if why.is_empty() {
        format!("`{value}` is not a valid {ty}")
    } else {
        format!("`{value}` is not a valid {ty}: {why}")
    }
}

/// Text (a number's, or a string's unescaped) parsed into a column that
/// takes it, as arrow-json parses it; or why not, in arrow's words (empty
/// when arrow gives none).
fn parse_into(text: &str, kind: &mut Kind, ty: &HiveType) -> Result<(), String> {
    match kind {
        Kind::String(bytes) => {
            bytes.data.extend_from_slice(text.as_bytes());
            bytes.end_value();
        }
        Kind::Binary(bytes) => match hex_into(text, &mut bytes.data) {
            Ok(()) => bytes.end_value(),
            Err(why) => {
                bytes.discard_partial();
                return Err(why);
            }
        },
        Kind::Int { values, .. } => values.push(parse_i64(text.as_bytes()).ok_or_default()?),
        Kind::Float32(values) => values.push(Float32Type::parse(text).ok_or_default()?),
        Kind::Float64(values) => values.push(Float64Type::parse(text).ok_or_default()?),
        Kind::Decimal {
            precision,
            scale,
            values,
        } => values.push(
            parse_decimal::<Decimal128Type>(text, *precision, *scale).map_err(|e| e.to_string())?,
        ),
        Kind::Date(values) => values.push(Date32Type::parse(text).ok_or_default()?),
        // A string: a date and time, UTC unless it names an offset.
        Kind::Timestamp(values) => values.push(
            string_to_datetime(&chrono::Utc, text)
                .map_err(|e| e.to_string())?
                .timestamp_micros(),
        ),
        Kind::Boolean(_) | Kind::Array { .. } | Kind::Map { .. } | Kind::Struct(_) => {
            return Err(format!("a JSON string is never a {ty}"));
        }
    }
    Ok(())
}

/// A timestamp column's number, as arrow-json reads it: microseconds, a
/// fraction cut off, beyond i64 saturated.
fn micros(number: &str) -> i64 {
    Int64Type::parse(number)
        .or_else(|| Float64Type::parse(number).map(|f| f as i64))
        .unwrap_or_default()
}

trait OrDefault<T> {
    /// `None` as an error without words.
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

/// A binary column's value: hex, two digits a byte, a last odd digit a byte
/// of its own (arrow-json's rule).
fn hex_into(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let digit = |i: usize, b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or_else(|| format!("`{}` at {i} is not a hex digit", char::from(b)))
    };
    let bytes = text.as_bytes();
    let mut pairs = bytes.chunks_exact(2);
    for (i, pair) in (&mut pairs).enumerate() {
        out.push(digit(2 * i, pair[0])? << 4 | digit(2 * i + 1, pair[1])?);
    }
    if let [last] = pairs.remainder() {
        out.push(digit(bytes.len() - 1, *last)?);
    }
    Ok(())
}

/// A string's content with its escapes undone, as arrow-json undoes them:
/// `\uD83D\uDE00` is one character, and a surrogate that is not half of
/// such a pair is an error (serde_json refuses it too). The escapes are
/// already known to be well formed.
fn unescape(raw: &str, out: &mut String) -> Result<(), &'static str> {
    out.clear();
    let bytes = raw.as_bytes();
    let hex = |at: usize| {
        raw.get(at..at + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("a broken `\\u` escape")
    };
    let mut i = 0;
    while let Some(found) = raw[i..].find('\\') {
        out.push_str(&raw[i..i + found]);
        i += found + 1;
        let c = match bytes.get(i) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let high = hex(i + 1)?;
                i += 4;
                match char::from_u32(high) {
                    Some(c) => c,
                    None => {
                        if raw.get(i + 1..i + 3) != Some("\\u") {
                            return Err("a lone UTF-16 surrogate");
                        }
                        let low = hex(i + 3)?;
                        i += 6;
                        if !(0xD800..=0xDBFF).contains(&high) || !(0xDC00..=0xDFFF).contains(&low) {
                            return Err("an invalid UTF-16 surrogate pair");
                        }
                        char::from_u32(0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                            .ok_or("an invalid UTF-16 surrogate pair")?
                    }
                }
            }
            _ => return Err("an invalid escape"),
        };
        out.push(c);
        i += 1;
    }
    out.push_str(&raw[i..]);
    Ok(())
}
