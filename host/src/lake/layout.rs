//! Where files go and what their names say: the lake's layout, in one place.
//!
//! ```text
//! <table>/_delta_log/…                      the Delta log: what the table holds
//! <table>/date=YYYY-MM-DD/part-<topic>-<partition>-<first>-<last>-<tag>.parquet
//! _dead_letters/pipeline=<name>/date=YYYY-MM-DD/part-….parquet
//! ```
//!
//! Every table, `_dead_letters` included, is a Delta table partitioned by
//! `date` (and `pipeline` for dead letters), so its files stay in Hive-style
//! folders. A file is in the table once a commit names it; its name still
//! says what it holds (one Kafka topic-partition and an offset range), and
//! a random tag keeps two writers of one range (a zombie and its
//! successor) from ever writing over each other's file. Progress is the
//! `txn` actions of the log, one app id per pipeline, topic and partition
//! ([`app_id`]).

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

    /// The Delta table this directory is (part of): the table's own name,
    /// or `_dead_letters` for every pipeline's dead letters.
    pub fn table_name(&self) -> &str {
        match self {
            TableDir::Table(name) => name,
            TableDir::DeadLetters { .. } | TableDir::AllDeadLetters => DEAD_LETTERS_DIR,
        }
    }

    /// The directory of the whole Delta table this directory is part of.
    pub fn table_root(dir: &TableDir) -> TableDir {
        match dir {
            TableDir::Table(_) => dir.clone(),
            TableDir::DeadLetters { .. } | TableDir::AllDeadLetters => TableDir::AllDeadLetters,
        }
    }

    /// The Delta table's partition columns, in folder order.
    pub fn partition_columns(&self) -> &'static [&'static str] {
        match self {
            TableDir::Table(_) => &["date"],
            TableDir::DeadLetters { .. } | TableDir::AllDeadLetters => &["pipeline", "date"],
        }
    }

    /// The partition values of rows of `day`, in folder order.
    pub fn partition_values(&self, day: i64) -> Vec<(String, String)> {
        let date = ("date".to_string(), date_of(day));
        match self {
            TableDir::DeadLetters { pipeline } => {
                vec![("pipeline".to_string(), pipeline.clone()), date]
            }
            _ => vec![date],
        }
    }

    /// The folder of rows of `day`, relative to the Delta table's root.
    pub fn partition_path(&self, day: i64) -> String {
        self.partition_values(day)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("/")
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

/// The Delta `txn` app id under which a pipeline records its progress
/// through one Kafka partition: the version is the last offset written.
/// The incarnation starts again from nothing after a topic was reset.
pub fn app_id(pipeline: &str, topic: &str, partition: i32, incarnation: u32) -> String {
    format!("sluice:{pipeline}:{topic}:{partition}:{incarnation}")
}

/// What a data file holds, as its name says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartName {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// Eight random hex digits with at least one letter among them, so that
/// [`PartName::parse`] never takes a tag for an offset: a data file's tag.
pub(super) fn file_tag() -> String {
    loop {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        if tag.bytes().any(|b| !b.is_ascii_digit()) {
            return tag;
        }
    }
}

const PREFIX: &str = "part-";
const SUFFIX: &str = ".parquet";
impl PartName {
    /// `part-<topic>-<partition>-<first>-<last>.parquet`, as files were
    /// named before the lake was Delta.
    pub fn file_name(&self) -> String {
        format!(
            "{PREFIX}{}-{}-{}-{}{SUFFIX}",
            self.topic, self.partition, self.first_offset, self.last_offset
        )
    }

    /// `part-<topic>-<partition>-<first>-<last>-<tag>.parquet`: a data file.
    pub fn tagged_file_name(&self, tag: &str) -> String {
        format!(
            "{PREFIX}{}-{}-{}-{}-{tag}{SUFFIX}",
            self.topic, self.partition, self.first_offset, self.last_offset
        )
    }

    /// Reads a data file's name, tagged or not. Topics may contain `-`, so
    /// the numbers are taken from the right.
    pub fn parse(name: &str) -> Option<PartName> {
        let body = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
        let body = match body.rsplit_once('-') {
            Some((rest, tag))
                if tag.len() == 8
                    && tag.bytes().all(|b| b.is_ascii_hexdigit())
                    && tag.bytes().any(|b| !b.is_ascii_digit()) =>
            {
                rest
            }
            _ => body,
        };
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
        let tagged = name.tagged_file_name("1a2b3c4d");
        assert_eq!(tagged, "part-game-events.v2-3-100-250-1a2b3c4d.parquet");
        assert_eq!(PartName::parse(&tagged), Some(name));
        assert_eq!(PartName::parse("_tmp-part-events-0-1-2.parquet.tmp"), None);
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
        let folder = |t| TableDir::table("t").unwrap().partition_path(day_of(t));
        assert_eq!(folder(0), "date=1970-01-01");
        // 2018-08-13T02:16:20Z, the reference's session time.
        assert_eq!(folder(1_534_126_580_000_000), "date=2018-08-13");
        assert_eq!(folder(-1), "date=1969-12-31");
        assert_eq!(folder(951_782_400_000_000), "date=2000-02-29");
        assert_eq!(folder(4_107_542_399_999_999), "date=2100-02-28");
        let dead = TableDir::dead_letters("game_events").unwrap();
        assert_eq!(
            dead.partition_path(0),
            "pipeline=game_events/date=1970-01-01"
        );
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
