//! The parser for Hive-style column lists. Hand-written: the grammar is a
//! dozen rules, and sqlparser's Hive dialect parses whole statements, not
//! bare column lists, and reports positions less precisely.

use super::{Column, HiveType, RESERVED_COLUMNS, Schema};

/// A schema that does not parse, with the byte position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {position} of `{text}`")]
pub struct SchemaError {
    pub message: String,
    /// 1-based character position in the schema text.
    pub position: usize,
    pub text: String,
}

pub(super) fn parse_columns(text: &str) -> Result<Schema, SchemaError> {
    let mut p = Parser { text, pos: 0 };
    let columns = p.fields(None)?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error(format!("unexpected `{}`", p.rest_token())));
    }
    if columns.is_empty() {
        return Err(p.error("the schema has no columns".into()));
    }
    for c in &columns {
        if RESERVED_COLUMNS.contains(&c.name.as_str()) {
            return Err(SchemaError {
                message: format!(
                    "column `{}` is reserved: the host adds it to every table",
                    c.name
                ),
                position: 1,
                text: text.to_string(),
            });
        }
    }
    Ok(Schema { columns })
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: String) -> SchemaError {
        SchemaError {
            message,
            position: self.text[..self.pos].chars().count() + 1,
            text: self.text.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), SchemaError> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = self.rest_token();
            Err(self.error(if found.is_empty() {
                format!("expected `{c}` {what}, found the end")
            } else {
                format!("expected `{c}` {what}, found `{found}`")
            }))
        }
    }

    fn rest_token(&self) -> String {
        self.text[self.pos..]
            .trim_start()
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(20)
            .collect()
    }

    fn ident(&mut self, what: &str) -> Result<String, SchemaError> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let (quoted, body) = match rest.strip_prefix('`') {
            Some(inner) => match inner.find('`') {
                Some(end) => (true, &inner[..end]),
                None => return Err(self.error("unterminated `quoted` name".into())),
            },
            None => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (false, &rest[..len])
            }
        };
        if body.is_empty() {
            return Err(self.error(format!("expected {what}, found `{}`", self.rest_token())));
        }
        let name = body.to_ascii_lowercase();
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(self.error(format!(
                "`{body}` is not a valid column name: use letters, digits and `_`, starting with a letter"
            )));
        }
        self.pos += body.len() + if quoted { 2 } else { 0 };
        Ok(name)
    }

    fn number(&mut self) -> Result<u8, SchemaError> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n = rest[..len].parse().map_err(|_| {
            self.error(format!(
                "expected a number up to 38, found `{}`",
                self.rest_token()
            ))
        })?;
        self.pos += len;
        Ok(n)
    }

    /// Columns `name type, ...` (top level, `close` = None) or struct fields
    /// `name:type, ...` up to `close`.
    fn fields(&mut self, close: Option<char>) -> Result<Vec<Column>, SchemaError> {
        let mut columns: Vec<Column> = Vec::new();
        loop {
            if close.is_some() && self.peek() == close {
                break;
            }
            if close.is_none() && self.peek().is_none() {
                break;
            }
            let start = self.pos;
            let name = self.ident("a column name")?;
            if close.is_some() {
                self.expect(':', &format!("after field name `{name}`"))?;
            } else {
                // Hive allows `name: type` only in structs; tolerate it here too.
                self.eat(':');
            }
            let ty = self.ty(&name)?;
            if self.peek_keyword("comment") {
                self.pos +=
                    self.text[self.pos..].len() - self.text[self.pos..].trim_start().len() + 7;
                self.string_literal()?;
            }
            if columns.iter().any(|c| c.name == name) {
                self.pos = start;
                return Err(self.error(format!("column `{name}` is declared twice")));
            }
            columns.push(Column { name, ty });
            if !self.eat(',') {
                break;
            }
        }
        Ok(columns)
    }

    fn peek_keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        // `get`, not an index: the text may have a multi-byte character
        // where the keyword would end (found by the `schema_parse` fuzz target).
        rest.get(..kw.len())
            .is_some_and(|word| word.eq_ignore_ascii_case(kw))
            && !rest[kw.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    }

    fn string_literal(&mut self) -> Result<(), SchemaError> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return Err(self.error("expected a quoted comment".into()));
        };
        match rest[1..].find(quote) {
            Some(end) => {
                self.pos += end + 2;
                Ok(())
            }
            None => Err(self.error("unterminated comment".into())),
        }
    }

    fn ty(&mut self, column: &str) -> Result<HiveType, SchemaError> {
        self.skip_ws();
        let at = self.pos;
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let word = rest[..len].to_ascii_lowercase();
        if word.is_empty() {
            return Err(self.error(format!(
                "expected a type for `{column}`, found `{}`",
                self.rest_token()
            )));
        }
        self.pos += len;
        let ty = match word.as_str() {
            "boolean" | "bool" => HiveType::Boolean,
            "tinyint" => HiveType::TinyInt,
            "smallint" => HiveType::SmallInt,
            "int" | "integer" => HiveType::Int,
            "bigint" => HiveType::BigInt,
            "float" => HiveType::Float,
            "double" => HiveType::Double,
            "string" => HiveType::String,
            "varchar" | "char" => {
                if self.eat('(') {
                    self.number()?;
                    self.expect(')', "closing the length")?;
                }
                HiveType::String
            }
            "binary" => HiveType::Binary,
            "date" => HiveType::Date,
            "timestamp" => HiveType::Timestamp,
            "decimal" => {
                let (mut precision, mut scale) = (10, 0);
                if self.eat('(') {
                    precision = self.number()?;
                    if self.eat(',') {
                        scale = self.number()?;
                    }
                    self.expect(')', "closing decimal(precision, scale)")?;
                }
                if precision == 0 || precision > 38 || scale > precision {
                    self.pos = at;
                    return Err(self.error(format!("decimal({precision},{scale}) is out of range")));
                }
                HiveType::Decimal { precision, scale }
            }
            "array" => {
                self.expect('<', "after `array`")?;
                let item = self.ty(column)?;
                self.expect('>', "closing `array<`")?;
                HiveType::Array(Box::new(item))
            }
            "map" => {
                self.expect('<', "after `map`")?;
                let key = self.ty(column)?;
                self.expect(',', "between the key and value types of `map<`")?;
                let value = self.ty(column)?;
                self.expect('>', "closing `map<`")?;
                HiveType::Map(Box::new(key), Box::new(value))
            }
            "struct" => {
                self.expect('<', "after `struct`")?;
                let fields = self.fields(Some('>'))?;
                if fields.is_empty() {
                    return Err(self.error(format!("struct `{column}` has no fields")));
                }
                self.expect('>', "closing `struct<`")?;
                HiveType::Struct(fields)
            }
            other => {
                self.pos = at;
                return Err(self.error(format!(
                    "unknown type `{other}` for `{column}`; types are string, boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), binary, date, timestamp, array<T>, map<K,V>, struct<name:T, ...>"
                )));
            }
        };
        Ok(ty)
    }
}
