//! Where files go and what their names say: the lake's layout, in one place.
//!
//! ```text
//! <table>/date=YYYY-MM-DD/part-<topic>-<partition>-<first offset>-<last offset>.parquet
//! _dead_letters/pipeline=<name>/date=YYYY-MM-DD/part-….parquet
//! ```
//!
//! The Hive-style `date=` directory lets Trino, Spark and DuckDB prune by
//! day. A file's name is the record of what it holds: one Kafka
//! topic-partition and an offset range, which is all [`super::Lake::progress`]
//! needs to say how far a table got. Names starting with `_` or `.` are
//! skipped by Hive, Trino and Spark, so a file is written under such a
//! temporary name and renamed into place.

use std::fmt;

use super::LakeError;

/// The directory of one table, or of one pipeline's dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableDir {
    Table(String),
    DeadLetters {
        pipeline: String,
    },
    /// Every pipeline's dead letters: one table for queries.
    AllDeadLetters,
}

/// The folder of dead letters, one `pipeline=<name>` folder per pipeline.
pub const DEAD_LETTERS_DIR: &str = "_dead_letters";

impl TableDir {
    /// A table's directory. Table names are lower snake case and may not
    /// start with `_` or `.`, or every engine would skip the table.
    pub fn table(name: &str) -> Result<TableDir, LakeError> {
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if !valid_chars {
            Some("use lower-case letters, digits and `_`")
        } else if name.starts_with('_') {
            Some("a name starting with `_` is hidden from Hive, Trino and Spark")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(LakeError::InvalidName {
                what: "table name",
                name: name.to_string(),
                reason,
            }),
            None => Ok(TableDir::Table(name.to_string())),
        }
    }

    /// The directory of a pipeline's dead letters.
    pub fn dead_letters(pipeline: &str) -> Result<TableDir, LakeError> {
        let valid = !pipeline.is_empty()
            && pipeline
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(LakeError::InvalidName {
                what: "pipeline name",
                name: pipeline.to_string(),
                reason: "use letters, digits, `_` and `-`",
            });
        }
        Ok(TableDir::DeadLetters {
            pipeline: pipeline.to_string(),
        })
    }

    /// The directory below the lake root, `/`-separated.
    pub fn relative_path(&self) -> String {
        match self {
            TableDir::Table(name) => name.clone(),
            TableDir::DeadLetters { pipeline } => format!("{DEAD_LETTERS_DIR}/pipeline={pipeline}"),
            TableDir::AllDeadLetters => DEAD_LETTERS_DIR.to_string(),
        }
    }
}

impl fmt::Display for TableDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.relative_path())
    }
}

/// Kafka's rule for topic names, checked because a topic becomes part of a
/// file name.
pub(super) fn check_topic(topic: &str) -> Result<(), LakeError> {
    let valid = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(LakeError::InvalidName {
            what: "Kafka topic",
            name: topic.to_string(),
            reason: "a topic has 1 to 249 letters, digits, `.`, `_` and `-`",
        })
    }
}

/// What a data file holds, as its name says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartName {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

const PREFIX: &str = "part-";
const SUFFIX: &str = ".parquet";
/// The marker of a file being written: hidden from readers, and from
/// [`super::Lake::progress`].
const TEMPORARY: &str = "_tmp-";
/// ...and its ending, so a reader globbing `*.parquet` (DuckDB, DataFusion's
/// listing tables) never picks up a half-published file either.
const TEMPORARY_SUFFIX: &str = ".tmp";

impl PartName {
    /// `part-<topic>-<partition>-<first>-<last>.parquet`
    pub fn file_name(&self) -> String {
        format!(
            "{PREFIX}{}-{}-{}-{}{SUFFIX}",
            self.topic, self.partition, self.first_offset, self.last_offset
        )
    }

    /// The same name, hidden and without the `.parquet` ending: where the
    /// file is written before the rename.
    pub(super) fn temporary_name(&self) -> String {
        format!("{TEMPORARY}{}{TEMPORARY_SUFFIX}", self.file_name())
    }

    /// Reads a data file's name. Topics may contain `-`, so the numbers are
    /// taken from the right.
    pub fn parse(name: &str) -> Option<PartName> {
        let body = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
        let mut parts = body.rsplitn(4, '-');
        let last_offset: i64 = parts.next()?.parse().ok()?;
        let first_offset: i64 = parts.next()?.parse().ok()?;
        let partition: i32 = parts.next()?.parse().ok()?;
        let topic = parts.next()?;
        let sane = check_topic(topic).is_ok()
            && partition >= 0
            && 0 <= first_offset
            && first_offset <= last_offset;
        sane.then(|| PartName {
            topic: topic.to_string(),
            partition,
            first_offset,
            last_offset,
        })
    }

    /// Reads the name of a temporary file, including the staging names the
    /// stores add while writing it (`_tmp-part-….parquet.tmp#1` on local
    /// disk, `._tmp-part-….parquet.tmp.tmp.1` on HDFS), and the names
    /// older versions used (`_tmp-part-….parquet`).
    pub(super) fn parse_temporary(name: &str) -> Option<PartName> {
        let name = name.strip_prefix('.').unwrap_or(name);
        let rest = name.strip_prefix(TEMPORARY)?;
        let end = rest.find(SUFFIX)? + SUFFIX.len();
        PartName::parse(&rest[..end])
    }
}

/// Whether engines skip a file or directory of this name.
pub(super) fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The UTC day of a timestamp in microseconds, as days since 1970-01-01.
pub(super) fn day_of(timestamp_us: i64) -> i64 {
    timestamp_us.div_euclid(MICROS_PER_DAY)
}

/// `date=YYYY-MM-DD` for a day counted from 1970-01-01.
pub(super) fn date_dir(day: i64) -> String {
    format!("date={}", date_of(day))
}

/// `YYYY-MM-DD` for a day counted from 1970-01-01 (chrono's calendar).
pub(super) fn date_of(day: i64) -> String {
    i32::try_from(day)
        .ok()
        .and_then(|d| chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day {day}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_dashes_in_topics() {
        let name = PartName {
            topic: "game-events.v2".into(),
            partition: 3,
            first_offset: 100,
            last_offset: 250,
        };
        assert_eq!(name.file_name(), "part-game-events.v2-3-100-250.parquet");
        assert_eq!(PartName::parse(&name.file_name()), Some(name.clone()));
        assert_eq!(PartName::parse(&name.temporary_name()), None);
        assert_eq!(
            PartName::parse_temporary(&name.temporary_name()),
            Some(name.clone())
        );
        let staged = format!(".{}.tmp.1", name.temporary_name());
        assert_eq!(PartName::parse_temporary(&staged), Some(name.clone()));
        let staged = format!("{}#7", name.temporary_name());
        assert_eq!(PartName::parse_temporary(&staged), Some(name));
    }

    #[test]
    fn malformed_names_do_not_parse() {
        for bad in [
            "part-events-0-5.parquet",
            "part--0-1-2.parquet",
            "part-events-x-1-2.parquet",
            "part-events-0-9-2.parquet",
            "part-events-0-1-2-.parquet",
            "part-a b-0-1-2.parquet",
            "part-events-0-1-2.parquet.crc",
            "events-0-1-2.parquet",
            "README",
        ] {
            assert_eq!(PartName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date_dir(0), "date=1970-01-01");
        // 2018-08-13T02:16:20Z, the reference's session time.
        assert_eq!(date_dir(day_of(1_534_126_580_000_000)), "date=2018-08-13");
        assert_eq!(date_dir(day_of(-1)), "date=1969-12-31");
        assert_eq!(date_dir(day_of(951_782_400_000_000)), "date=2000-02-29");
        assert_eq!(date_dir(day_of(4_107_542_399_999_999)), "date=2100-02-28");
    }

    #[test]
    fn names_are_checked() {
        assert!(TableDir::table("events_buy").is_ok());
        for bad in ["", "Events", "_hidden", "a/b", "a.b", "../x"] {
            assert!(TableDir::table(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TableDir::dead_letters("game_events")
                .unwrap()
                .relative_path(),
            "_dead_letters/pipeline=game_events"
        );
        assert!(TableDir::dead_letters("a/b").is_err());
        assert!(check_topic("events").is_ok());
        for bad in ["", "..", "a/b", "a b"] {
            assert!(check_topic(bad).is_err(), "{bad}");
        }
    }
}
