//! A plugin whose one table has a schema that does not parse, for the
//! host's load-time checks: loading it must fail with an error that names
//! the table and what is wrong with its schema.
//!
//! It implements the raw bindings' `Guest` itself: the SDK's `#[router]`
//! checks schemas at compile time, so it could not build this plugin at all.

use sluice_sdk::bindings::sluice::plugin::types::{Outcome, Table};
use sluice_sdk::bindings::{Batch, Guest, Info, Output};

/// The table's schema: a misspelt type (`strin`) and an unclosed `array<`.
pub const BROKEN_SCHEMA: &str = "host strin, item array<string";

/// The plugin; the host sees it as `bad_schema` 0.1.0 with the table
/// `broken`.
pub struct BadSchema;

impl Guest for BadSchema {
    fn describe() -> Info {
        Info {
            name: "bad_schema".to_owned(),
            version: "0.1.0".to_owned(),
            tables: vec![Table {
                name: "broken".to_owned(),
                schema: BROKEN_SCHEMA.to_owned(),
            }],
        }
    }

    /// Keeps everything: should the host ever run it, the schema is the
    /// only thing wrong with it.
    fn process(batch: Batch) -> Output {
        Output {
            outcomes: vec![Outcome::Keep; batch.ends.len()],
            data: Vec::new(),
            ends: Vec::new(),
            tables: Vec::new(),
        }
    }
}

#[cfg(target_arch = "wasm32")]
sluice_sdk::bindings::export!(BadSchema);

#[cfg(test)]
mod tests {
    use super::{BROKEN_SCHEMA, BadSchema, Batch, Guest, Outcome};

    #[test]
    fn describes_one_table_with_the_broken_schema() {
        let info = BadSchema::describe();
        assert_eq!(
            (info.name.as_str(), info.version.as_str()),
            ("bad_schema", "0.1.0")
        );
        assert_eq!(info.tables.len(), 1);
        assert_eq!(info.tables[0].name, "broken");
        assert_eq!(info.tables[0].schema, BROKEN_SCHEMA);
    }

    #[test]
    fn keeps_every_event() {
        let data = br#"{"host": "h"}{"host": "i"}"#.to_vec();
        let output = BadSchema::process(Batch {
            data,
            ends: vec![13, 26],
            partitions: vec![0; 2],
            offsets: vec![0, 1],
            timestamps: vec![0; 2],
            header_ends: vec![0; 2],
            header_keys: Vec::new(),
            header_values: Vec::new(),
        });
        assert!(matches!(
            output.outcomes[..],
            [Outcome::Keep, Outcome::Keep]
        ));
        assert!(output.data.is_empty() && output.ends.is_empty() && output.tables.is_empty());
    }
}
