//! Table schemas: Hive-style column lists, as plugins declare them in
//! `describe()` and as the reference stack's Hive DDL wrote them
//! (`host string, user_info struct<session_datetime:string, inventory:array<string>>`).
//!
//! Text enters through [`Schema::parse`]; what leaves is a checked column list
//! the rest of the host builds tables from, and [`Schema::check_evolution`],
//! the one rule for how a table's schema may change between plugin versions.

mod parse;

use std::fmt;

pub use parse::SchemaError;

/// Columns every table gets from the host, whatever the plugin declares.
pub const RESERVED_COLUMNS: [&str; 2] = ["raw_event", "timestamp"];

/// A column type, in Hive's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HiveType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal { precision: u8, scale: u8 },
    String,
    Binary,
    Date,
    Timestamp,
    Array(Box<HiveType>),
    Map(Box<HiveType>, Box<HiveType>),
    Struct(Vec<Column>),
}

/// One named, nullable column (Hive columns are always nullable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: HiveType,
}

/// A table's declared columns, in order, without the reserved ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    pub columns: Vec<Column>,
}

/// Why a schema may not replace a table's current one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvolutionError {
    #[error(
        "column `{column}` changes type from `{old}` to `{new}`; only new nullable columns may be added"
    )]
    TypeChanged {
        column: String,
        old: String,
        new: String,
    },
    #[error("column `{column}` is gone; columns may be added but not removed")]
    Removed { column: String },
}

impl Schema {
    /// Parses a Hive-style column list. Column names are folded to lower
    /// case, as Hive does, and must be unique and not reserved.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        parse::parse_columns(text)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The one rule for schema changes: a new schema may add columns (all
    /// columns are nullable, so old files read as nulls) but may neither
    /// drop a column nor change one's type, including inside structs.
    pub fn check_evolution(&self, new: &Schema) -> Result<(), EvolutionError> {
        check_columns(&self.columns, &new.columns, "")
    }
}

fn check_columns(old: &[Column], new: &[Column], prefix: &str) -> Result<(), EvolutionError> {
    for old_col in old {
        let path = format!("{prefix}{}", old_col.name);
        let Some(new_col) = new.iter().find(|c| c.name == old_col.name) else {
            return Err(EvolutionError::Removed { column: path });
        };
        match (&old_col.ty, &new_col.ty) {
            (HiveType::Struct(o), HiveType::Struct(n)) => check_columns(o, n, &format!("{path}."))?,
            (o, n) if o == n => {}
            (o, n) => {
                return Err(EvolutionError::TypeChanged {
                    column: path,
                    old: o.to_string(),
                    new: n.to_string(),
                });
            }
        }
    }
    Ok(())
}

impl fmt::Display for HiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HiveType::Boolean => f.write_str("boolean"),
            HiveType::TinyInt => f.write_str("tinyint"),
            HiveType::SmallInt => f.write_str("smallint"),
            HiveType::Int => f.write_str("int"),
            HiveType::BigInt => f.write_str("bigint"),
            HiveType::Float => f.write_str("float"),
            HiveType::Double => f.write_str("double"),
            HiveType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            HiveType::String => f.write_str("string"),
            HiveType::Binary => f.write_str("binary"),
            HiveType::Date => f.write_str("date"),
            HiveType::Timestamp => f.write_str("timestamp"),
            HiveType::Array(item) => write!(f, "array<{item}>"),
            HiveType::Map(k, v) => write!(f, "map<{k},{v}>"),
            HiveType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, c) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}:{}", c.name, c.ty)?;
                }
                f.write_str(">")
            }
        }
    }
}

impl fmt::Display for Schema {
    /// Renders the column list back in Hive syntax, ready for a DDL statement.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", c.name, c.ty)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
