//! The old projection, kept as the reference decoder's first pass: one
//! JSON event onto a table's columns, the step before arrow-json turns many
//! of them into Arrow arrays.
//!
//! A JSON event enters as bytes; what leaves is a compact JSON object,
//! appended to the caller's buffer, holding only the table's columns, with
//! keys renamed to the column names, or a [`RejectReason`] naming the column
//! and value that do not fit. One pass does all of it, because arrow-json
//! alone cannot: it matches keys case-sensitively, fails a whole batch on one
//! bad row without saying which, and quietly bends some values (it truncates
//! `1.5` into an int column). So this pass:
//!
//! - matches keys to columns case-insensitively with `-` read as `_`
//!   (`User-Agent` → `user_agent`) in every struct, at every level, but never
//!   touches map keys, which are data;
//! - drops keys that name no column, after checking they are valid JSON;
//! - checks each value against its column's type (the rules are in
//!   [`Cursor::value`]), so almost every misfit is caught here, by name;
//! - refuses nesting deeper than the limit before anything recurses further,
//!   so a hostile depth-10,000 event costs a few dozen stack frames.
//!
//! It is a hand-written scanner over bytes already checked to be UTF-8: no
//! `serde_json::Value` per event on the hot path.

use crate::schema::{Column, HiveType};
use crate::table::columns::Names;
use crate::table::project::{DEPTH_CEILING, RejectReason};
use crate::table::scan::{Reject, Scan, Step, is_number, parse_i64, quote};

/// A table's columns compiled for matching.
#[derive(Debug)]
pub(crate) struct Projection {
    root: StructShape,
    max_depth: usize,
}

#[derive(Debug)]
struct StructShape {
    fields: Vec<FieldShape>,
    names: Names,
}

#[derive(Debug)]
struct FieldShape {
    name: String,
    /// `"name":`, as written to the projection.
    key: Box<[u8]>,
    shape: Shape,
}

#[derive(Debug)]
struct Shape {
    /// For reasons: what the column is, in Hive's words.
    ty: HiveType,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Boolean,
    Int { min: i64, max: i64 },
    Float,
    Decimal,
    String,
    Binary,
    Date,
    Timestamp,
    Array(Box<Shape>),
    Map(Box<Shape>, Box<Shape>),
    Struct(StructShape),
}

impl Projection {
    pub(crate) fn new(columns: &[Column], max_depth: usize) -> Projection {
        Projection {
            root: StructShape::new(columns),
            max_depth: max_depth.clamp(1, DEPTH_CEILING),
        }
    }

    /// Appends the projection of `json` to `out`, or leaves `out` as it was
    /// and says why the event does not fit.
    pub(crate) fn project(&self, json: &[u8], out: &mut Vec<u8>) -> Result<(), RejectReason> {
        let start = out.len();
        let mut cursor = Cursor {
            scan: Scan::new(json, self.max_depth),
        };
        let result = cursor.root(&self.root, out);
        if result.is_err() {
            out.truncate(start);
        }
        result.map_err(|reason| *reason)
    }
}

impl StructShape {
    fn new(columns: &[Column]) -> StructShape {
        let fields: Vec<FieldShape> = columns
            .iter()
            .map(|c| FieldShape {
                name: c.name.clone(),
                key: format!("\"{}\":", c.name).into_bytes().into(),
                shape: Shape::new(&c.ty),
            })
            .collect();
        StructShape {
            names: Names::new(columns.iter().map(|c| c.name.as_str())),
            fields,
        }
    }

    /// The field a key names: ASCII case folded, `-` read as `_`.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.names.find(key)
    }
}

impl Shape {
    fn new(ty: &HiveType) -> Shape {
        let kind = match ty {
            HiveType::Boolean => Kind::Boolean,
            HiveType::TinyInt => int_kind::<i8>(),
            HiveType::SmallInt => int_kind::<i16>(),
            HiveType::Int => int_kind::<i32>(),
            HiveType::BigInt => int_kind::<i64>(),
            HiveType::Float | HiveType::Double => Kind::Float,
            HiveType::Decimal { .. } => Kind::Decimal,
            HiveType::String => Kind::String,
            HiveType::Binary => Kind::Binary,
            HiveType::Date => Kind::Date,
            HiveType::Timestamp => Kind::Timestamp,
            HiveType::Array(item) => Kind::Array(Box::new(Shape::new(item))),
            HiveType::Map(k, v) => Kind::Map(Box::new(Shape::new(k)), Box::new(Shape::new(v))),
            HiveType::Struct(fields) => Kind::Struct(StructShape::new(fields)),
        };
        Shape {
            ty: ty.clone(),
            kind,
        }
    }
}

fn int_kind<T: Into<i64> + Bounded>() -> Kind {
    Kind::Int {
        min: T::MIN_VALUE.into(),
        max: T::MAX_VALUE.into(),
    }
}

trait Bounded: Sized {
    const MIN_VALUE: Self;
    const MAX_VALUE: Self;
}

macro_rules! bounded {
    ($($t:ty),*) => {$(impl Bounded for $t { const MIN_VALUE: Self = <$t>::MIN; const MAX_VALUE: Self = <$t>::MAX; })*};
}
bounded!(i8, i16, i32, i64);

/// The production lexer (`scan.rs`, reached through `Deref`): the two
/// decoders differ in what they do with a value, not in reading JSON.
struct Cursor<'a> {
    scan: Scan<'a>,
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
    fn root(&mut self, shape: &StructShape, out: &mut Vec<u8>) -> Step {
        self.expect_object()?;
        self.object(shape, 1, out)?;
        self.expect_end()
    }

    /// A struct: keys renamed to columns, unknown keys dropped.
    fn object(&mut self, shape: &StructShape, depth: usize, out: &mut Vec<u8>) -> Step {
        self.enter(depth)?;
        out.push(b'{');
        let mut seen = Seen::new(shape.fields.len());
        let mut first = true;
        self.skip_ws();
        if self.eat(b'}') {
            out.push(b'}');
            return Ok(());
        }
        loop {
            let (key, name) = self.key()?;
            match shape.find(&name) {
                Some(index) => {
                    let field = &shape.fields[index];
                    if !seen.insert(index) {
                        return Err(RejectReason::DuplicateKey {
                            column: field.name.clone(),
                            key: String::from_utf8_lossy(&self.src[key.start..key.end])
                                .into_owned(),
                        }
                        .into());
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(&field.key);
                    self.value(&field.shape, depth + 1, out)
                        .map_err(|e| e.under(&field.name))?;
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
        out.push(b'}');
        Ok(())
    }

    /// One value of a known column. The type rules, in one place:
    /// - `null` fits every column;
    /// - integers take JSON integers in range, or strings holding one
    ///   (`"27"`: HTTP headers arrive as strings), never `1.5` or `"abc"`;
    /// - floats and decimals take numbers, or strings holding a number;
    /// - strings take strings, and numbers and booleans as their JSON text,
    ///   never objects or arrays;
    /// - booleans take `true` and `false`;
    /// - dates and binaries take strings (arrow-json parses them), timestamps
    ///   strings or numbers;
    /// - arrays, maps and structs take arrays, objects and objects.
    fn value(&mut self, shape: &Shape, depth: usize, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        let first = self.peek();
        if first == Some(b'n') {
            self.literal(b"null")?;
            out.extend_from_slice(b"null");
            return Ok(());
        }
        let fits = match (&shape.kind, first) {
            (Kind::Struct(s), Some(b'{')) => return self.object(s, depth, out),
            (Kind::Array(item), Some(b'[')) => return self.array(item, depth, out),
            (Kind::Map(k, v), Some(b'{')) => return self.map(k, v, depth, out),
            (Kind::Boolean, Some(b't')) => self.literal(b"true").map(|()| true)?,
            (Kind::Boolean, Some(b'f')) => self.literal(b"false").map(|()| true)?,
            (Kind::Int { min, max }, Some(b'-' | b'0'..=b'9')) => {
                let integer = self.number()?;
                return self.check_int(integer, *min, *max, shape, start, out);
            }
            (Kind::Int { min, max }, Some(b'"')) => {
                let s = self.string()?;
                if s.escaped {
                    false
                } else {
                    let text = &self.src[s.start..s.end];
                    match parse_i64(text) {
                        Some(_) => return self.check_int(true, *min, *max, shape, start, out),
                        None => false,
                    }
                }
            }
            // A float beyond f64's range would be stored as an infinity
            // (found by the `table_projection` fuzz target): out of range.
            (Kind::Float, Some(b'-' | b'0'..=b'9')) => {
                self.number()?;
                let text = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("x");
                if !text.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(self.misfit(shape, start, depth, true));
                }
                true
            }
            (Kind::Decimal | Kind::Timestamp | Kind::String, Some(b'-' | b'0'..=b'9')) => {
                self.number().map(|_| true)?
            }
            (Kind::Float | Kind::Decimal, Some(b'"')) => {
                let s = self.string()?;
                !s.escaped && is_number(&self.src[s.start..s.end])
            }
            (Kind::String | Kind::Binary | Kind::Date | Kind::Timestamp, Some(b'"')) => {
                self.string().map(|_| true)?
            }
            (Kind::String, Some(b't')) => self.literal(b"true").map(|()| true)?,
            (Kind::String, Some(b'f')) => self.literal(b"false").map(|()| true)?,
            _ => false,
        };
        if !fits {
            return Err(self.misfit(shape, start, depth, false));
        }
        out.extend_from_slice(&self.src[start..self.pos]);
        Ok(())
    }

    /// Finishes an integer column's value, text at `start..self.pos`; for a
    /// quoted integer the quotes are part of that span.
    fn check_int(
        &mut self,
        integer: bool,
        min: i64,
        max: i64,
        shape: &Shape,
        start: usize,
        out: &mut Vec<u8>,
    ) -> Step {
        if !integer {
            return Err(self.misfit(shape, start, 0, false));
        }
        let text = trim_quotes(&self.src[start..self.pos]);
        match parse_i64(text) {
            Some(v) if (min..=max).contains(&v) => {
                out.extend_from_slice(&self.src[start..self.pos]);
                Ok(())
            }
            _ => Err(self.misfit(shape, start, 0, true)),
        }
    }

    fn array(&mut self, item: &Shape, depth: usize, out: &mut Vec<u8>) -> Step {
        self.enter(depth)?;
        out.push(b'[');
        self.skip_ws();
        if self.eat(b']') {
            out.push(b']');
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            self.skip_ws();
            if index > 0 {
                out.push(b',');
            }
            self.value(item, depth + 1, out)
                .map_err(|e| e.under(&format!("[{index}]")))?;
            index += 1;
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b']') => break,
                _ => return Err(self.syntax_before("expected `,` or `]` in an array")),
            }
        }
        out.push(b']');
        Ok(())
    }

    /// A map: keys kept verbatim (they are data), checked against the key type.
    fn map(&mut self, key: &Shape, value: &Shape, depth: usize, out: &mut Vec<u8>) -> Step {
        self.enter(depth)?;
        out.push(b'{');
        self.skip_ws();
        if self.eat(b'}') {
            out.push(b'}');
            return Ok(());
        }
        let mut first = true;
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key in quotes"));
            }
            let k = self.string()?;
            let quoted_key = &self.src[k.start - 1..k.end + 1];
            let label = format!("[{}]", String::from_utf8_lossy(quoted_key));
            let key_fits = match key.kind {
                Kind::Int { min, max } => {
                    !k.escaped
                        && parse_i64(&self.src[k.start..k.end])
                            .is_some_and(|v| (min..=max).contains(&v))
                }
                Kind::Float | Kind::Decimal => !k.escaped && is_number(&self.src[k.start..k.end]),
                _ => true,
            };
            if !key_fits {
                return Err(Box::new(RejectReason::Mismatch {
                    column: String::new(),
                    expected: format!("a map with {} keys", key.ty),
                    value: quote(quoted_key),
                })
                .under(&label));
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(quoted_key);
            out.push(b':');
            self.skip_ws();
            if !self.eat(b':') {
                return Err(self.syntax("expected `:` after a key"));
            }
            self.skip_ws();
            self.value(value, depth + 1, out)
                .map_err(|e| e.under(&label))?;
            self.skip_ws();
            match self.bump() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(self.syntax_before("expected `,` or `}` in an object")),
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// Says why the value at `start` does not fit, quoting it. If the value
    /// is not even valid JSON (or too deep), that is the reason instead.
    fn misfit(&mut self, shape: &Shape, start: usize, depth: usize, range: bool) -> Reject {
        self.pos = start;
        if let Err(e) = self.skip_value(depth.max(1)) {
            return e;
        }
        let value = quote(&self.src[start..self.pos]);
        let (column, expected) = (String::new(), shape.ty.to_string());
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

/// Which fields of one object have been seen, to refuse a second key that
/// names the same column (`Host` and `host`): which one should win?
enum Seen {
    Few(u128),
    Many(Vec<bool>),
}

impl Seen {
    fn new(fields: usize) -> Seen {
        if fields <= 128 {
            Seen::Few(0)
        } else {
            Seen::Many(vec![false; fields])
        }
    }

    /// Marks `index`; false if it was already marked.
    fn insert(&mut self, index: usize) -> bool {
        match self {
            Seen::Few(bits) => {
                let bit = 1u128 << index;
                let fresh = *bits & bit == 0;
                *bits |= bit;
                fresh
            }
            Seen::Many(seen) => !std::mem::replace(&mut seen[index], true),
        }
    }
}

fn trim_quotes(text: &[u8]) -> &[u8] {
    match text {
        [b'"', inner @ .., b'"'] => inner,
        _ => text,
    }
}
