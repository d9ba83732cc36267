//! The engine on a lake written by the lake writer in a temporary
//! directory: answers checked against counts made by hand.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;

use super::*;
use crate::lake::{Lake, LakeWriter, RollPolicy, Rows, SCHEMA_KEY, TableDir};
use crate::schema::Schema;
use crate::table::{DeadLetter, DecodeLimits, Event, TableDecoder, dead_letter_batch};

const BUY: &str = "accept string, host string, event_type string, username string, \
     item_type string, item_quality string, inventory array<string>, \
     user_info struct<session_datetime:string, inventory:array<string>>";
const GUILD: &str = "host string, event_type string, guild_name string";

/// 2018-08-13T02:16:20Z and the day after, in ms.
const DAY1: i64 = 1_534_126_580_000;
const DAY2: i64 = DAY1 + 86_400_000;

struct Fixture {
    _dir: tempfile::TempDir,
    lake: Lake,
    writer: LakeWriter,
    next_offset: i64,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).await.unwrap();
        let writer = LakeWriter::new(lake.clone(), RollPolicy::default(), "test");
        Fixture {
            _dir: dir,
            lake,
            writer,
            next_offset: 0,
        }
    }

    /// Writes `events` (JSON, Kafka time in ms) to `table` as one file per day.
    async fn write(&mut self, table: &str, schema: &str, events: &[(String, i64)]) {
        let parsed = Schema::parse(schema).unwrap();
        let mut decoder = TableDecoder::new(table, &parsed, DecodeLimits::default()).unwrap();
        let first = self.next_offset;
        let events: Vec<Event<'_>> = events
            .iter()
            .enumerate()
            .map(|(i, (json, ms))| Event {
                json: json.as_bytes(),
                timestamp_ms: *ms,
                partition: 0,
                offset: first + i as i64,
            })
            .collect();
        self.next_offset += events.len() as i64;
        let decoded = decoder.decode(&events).unwrap();
        assert!(decoded.rejected.is_empty());
        let rows = Rows {
            topic: "events",
            batch: &decoded.batch,
            partitions: &decoded.partitions,
            offsets: &decoded.offsets,
        };
        let metadata = vec![(SCHEMA_KEY.to_string(), schema.to_string())];
        let dir = TableDir::table(table).unwrap();
        self.writer.append(&dir, rows, &metadata).await.unwrap();
        self.writer.flush_all().await.unwrap();
    }

    async fn dead_letter(&mut self, pipeline: &str, reason: &str) {
        let letter = DeadLetter {
            raw_event: "not json".into(),
            table: None,
            plugin: None,
            plugin_version: None,
            reason: reason.into(),
            topic: "events".into(),
            partition: 0,
            offset: self.next_offset,
            timestamp_ms: DAY1,
        };
        self.next_offset += 1;
        let batch = dead_letter_batch(std::slice::from_ref(&letter)).unwrap();
        let rows = Rows {
            topic: "events",
            batch: &batch,
            partitions: &[0],
            offsets: &[letter.offset],
        };
        let dir = TableDir::dead_letters(pipeline).unwrap();
        self.writer.append(&dir, rows, &[]).await.unwrap();
        self.writer.flush_all().await.unwrap();
    }

    fn engine(&self, limits: QueryLimits) -> QueryEngine {
        let views = BTreeMap::from([(
            "join_guilds".to_string(),
            "SELECT * FROM events_guild WHERE event_type = 'join_guild'".to_string(),
        )]);
        QueryEngine::new(self.lake.clone(), views, limits).unwrap()
    }
}

fn buy(host: &str, item: &str, quality: &str) -> String {
    format!(
        r#"{{"event_type": "buy_item", "Host": "{host}", "Accept": "*/*", "username": "u", "item_type": "{item}", "item_quality": "{quality}", "inventory": ["{item}"], "user_info": {{"session_datetime": "2018-08-13 02:16:20", "inventory": []}}}}"#
    )
}

fn guild(host: &str, event_type: &str) -> String {
    format!(r#"{{"event_type": "{event_type}", "Host": "{host}", "guild_name": "knights"}}"#)
}

/// The reference's lake: on day 1, 5 swords and 2 shields from user1 and
/// 3 swords from user2; on day 2, 4 swords from user2. Guild events: 6
/// joins from user1, 2 from user2, and 3 leaves.
async fn reference_lake() -> Fixture {
    let mut f = Fixture::new().await;
    let mut day1 = Vec::new();
    day1.extend((0..5).map(|_| (buy("user1.comcast.com", "sword", "rare"), DAY1)));
    day1.extend((0..2).map(|_| (buy("user1.comcast.com", "shield", "common"), DAY1)));
    day1.extend((0..3).map(|_| (buy("user2.att.com", "sword", "common"), DAY1)));
    f.write("events_buy", BUY, &day1).await;
    let day2: Vec<_> = (0..4)
        .map(|_| (buy("user2.att.com", "sword", "epic"), DAY2))
        .collect();
    f.write("events_buy", BUY, &day2).await;
    let mut guilds = Vec::new();
    guilds.extend((0..6).map(|_| (guild("user1.comcast.com", "join_guild"), DAY1)));
    guilds.extend((0..2).map(|_| (guild("user2.att.com", "join_guild"), DAY1)));
    guilds.extend((0..3).map(|_| (guild("user2.att.com", "leave_guild"), DAY1)));
    f.write("events_guild", GUILD, &guilds).await;
    f.dead_letter("game_events", "not JSON").await;
    f
}

fn strings(result: &QueryResult, column: usize) -> Vec<String> {
    let mut out = Vec::new();
    for batch in &result.batches {
        let array =
            arrow::compute::cast(batch.column(column), &arrow::datatypes::DataType::Utf8).unwrap();
        let array = array.as_string::<i32>();
        out.extend((0..array.len()).map(|i| array.value(i).to_string()));
    }
    out
}

fn ints(result: &QueryResult, column: usize) -> Vec<i64> {
    result
        .batches
        .iter()
        .flat_map(|b: &RecordBatch| {
            b.column(column)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_queries_give_the_hand_counted_answers() {
    let f = reference_lake().await;
    let engine = f.engine(QueryLimits::default());

    let tables = engine.run("show tables").await.unwrap();
    assert_eq!(tables.schema.field(0).name(), "Table");
    assert_eq!(
        strings(&tables, 0),
        ["_dead_letters", "events_buy", "events_guild", "join_guilds"]
    );

    let describe = engine.run("describe events_buy").await.unwrap();
    let columns: Vec<String> = strings(&describe, 0);
    let types: Vec<String> = strings(&describe, 1);
    let comments: Vec<String> = strings(&describe, 2);
    assert_eq!(columns[..3], ["raw_event", "timestamp", "accept"]);
    assert_eq!(columns.last().unwrap(), "date");
    assert_eq!(comments.last().unwrap(), "partition key");
    let user_info = columns.iter().position(|c| c == "user_info").unwrap();
    assert_eq!(
        types[user_info],
        "struct<session_datetime:string, inventory:array<string>>"
    );

    let swords = engine
        .run("select count(*) from events_buy where item_type = 'sword'")
        .await
        .unwrap();
    assert_eq!(ints(&swords, 0), [12]);

    // Presto's query verbatim: `Host` in any case, `count` as an alias.
    let by_host = engine
        .run("select Host, count(*) as count from join_guilds group by Host order by Host")
        .await
        .unwrap();
    assert_eq!(strings(&by_host, 0), ["user1.comcast.com", "user2.att.com"]);
    assert_eq!(ints(&by_host, 1), [6, 2]);

    let per_day = engine
        .run(
            "SELECT date, item_type, count(*) AS n FROM EVENTS_BUY \
             GROUP BY date, item_type ORDER BY date, item_type",
        )
        .await
        .unwrap();
    assert_eq!(
        strings(&per_day, 0),
        ["2018-08-13", "2018-08-13", "2018-08-14"]
    );
    assert_eq!(strings(&per_day, 1), ["shield", "sword", "sword"]);
    assert_eq!(ints(&per_day, 2), [2, 8, 4]);

    let nested = engine
        .run("select user_info['session_datetime'] from events_buy limit 1")
        .await
        .unwrap();
    assert_eq!(strings(&nested, 0), ["2018-08-13 02:16:20"]);

    let dead = engine
        .run("select pipeline, reason from _dead_letters")
        .await
        .unwrap();
    assert_eq!(strings(&dead, 0), ["game_events"]);
    assert_eq!(strings(&dead, 1), ["not JSON"]);

    let with = engine
        .run(
            "with s as (select * from events_buy where item_type = 'sword') select count(*) from s",
        )
        .await
        .unwrap();
    assert_eq!(ints(&with, 0), [12]);
    assert!(
        engine
            .run("explain select count(*) from events_buy")
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_filter_reads_only_that_day() {
    let f = reference_lake().await;
    let engine = f.engine(QueryLimits::default());
    let plan = engine
        .run("explain select host from events_buy where date = '2018-08-14'")
        .await
        .unwrap();
    let text = strings(&plan, 1).join("\n");
    assert!(text.contains("date=2018-08-14"), "{text}");
    assert!(!text.contains("date=2018-08-13"), "{text}");
    let count = engine
        .run("select count(*) from events_buy where date = '2018-08-14'")
        .await
        .unwrap();
    assert_eq!(ints(&count, 0), [4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_landing_later_are_in_the_next_answer_and_temporaries_never_are() {
    let mut f = reference_lake().await;
    let engine = f.engine(QueryLimits::default());
    let count = "select count(*) from events_guild";
    assert_eq!(ints(&engine.run(count).await.unwrap(), 0), [11]);

    // A half-published file, as the writer names it before the rename.
    let temporary = f
        .lake
        .files(&TableDir::table("events_guild").unwrap())
        .await
        .unwrap()[0]
        .clone();
    let bytes = f.lake.read(&temporary.path).await.unwrap();
    let dir = std::path::Path::new(&format!("/{}", temporary.path))
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(dir.join("_tmp-part-events-0-900-910.parquet.tmp"), &bytes).unwrap();
    assert_eq!(ints(&engine.run(count).await.unwrap(), 0), [11]);

    let more: Vec<_> = (0..4)
        .map(|_| (guild("user3.example.com", "join_guild"), DAY2))
        .collect();
    f.write("events_guild", GUILD, &more).await;
    assert_eq!(ints(&engine.run(count).await.unwrap(), 0), [15]);

    // A new table, with a new column in the newest file of an old one.
    f.write(
        "events_user",
        "host string, event_type string",
        &[(guild("h", "signup"), DAY1)],
    )
    .await;
    f.write(
        "events_guild",
        "host string, event_type string, guild_name string, rank int",
        &[(
            r#"{"event_type": "join_guild", "Host": "h", "rank": 3}"#.to_string(),
            DAY2,
        )],
    )
    .await;
    let ranks = engine
        .run("select count(*), count(rank), sum(rank) from events_guild")
        .await
        .unwrap();
    assert_eq!(ints(&ranks, 0), [16]);
    assert_eq!(ints(&ranks, 1), [1]);
    assert!(engine.run("select count(*) from events_user").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_get_errors_that_say_what_exists() {
    let f = reference_lake().await;
    let engine = f.engine(QueryLimits::default());
    let message = |sql: &'static str| {
        let engine = engine.clone();
        async move { engine.run(sql).await.unwrap_err() }
    };
    match message("select * from purchases").await {
        e @ QueryError::UnknownTable { .. } => {
            let text = e.to_string();
            assert!(text.contains("`purchases`"), "{text}");
            assert!(
                text.contains("events_buy, events_guild, join_guilds"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    match message("select itemtype from events_buy").await {
        QueryError::Plan(text) => {
            assert!(text.contains("itemtype"), "{text}");
            assert!(text.contains("item_type"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        message("describe nope").await,
        QueryError::UnknownTable { .. }
    ));
    assert!(matches!(message("selec 1").await, QueryError::Syntax(_)));
    for sql in [
        "drop table events_buy",
        "insert into events_buy (host) values ('x')",
        "create table t as select 1",
        "copy events_buy to '/tmp/stolen.parquet'",
        "set datafusion.execution.batch_size = 1",
    ] {
        let engine = engine.clone();
        assert!(
            matches!(engine.run(sql).await, Err(QueryError::ReadOnly { .. })),
            "{sql}"
        );
    }
    // Nothing was touched.
    let swords = engine.run("select count(*) from events_buy").await.unwrap();
    assert_eq!(ints(&swords, 0), [14]);
    assert!(!std::path::Path::new("/tmp/stolen.parquet").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_cut_rows_and_time() {
    let f = reference_lake().await;
    let limits = QueryLimits {
        max_rows: 5,
        ..QueryLimits::default()
    };
    let engine = f.engine(limits);
    let all = engine.run("select * from events_buy").await.unwrap();
    assert_eq!((all.rows, all.truncated), (5, true));
    let few = engine
        .run("select * from events_buy limit 5")
        .await
        .unwrap();
    assert_eq!((few.rows, few.truncated), (5, false));

    let slow = f.engine(QueryLimits {
        timeout: Duration::from_nanos(1),
        ..QueryLimits::default()
    });
    let e = slow
        .run("select count(*) from events_buy a cross join events_buy b cross join events_buy c")
        .await
        .unwrap_err();
    assert!(matches!(e, QueryError::Timeout(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_that_grow_their_output_stop_at_the_cap() {
    let f = reference_lake().await;
    let engine = f.engine(QueryLimits {
        max_output_bytes: 1 << 20,
        ..QueryLimits::default()
    });
    for (sql, function) in [
        (
            "select repeat(raw_event, 100000) from events_buy",
            "`repeat`",
        ),
        ("select range(1, 2000000000)", "`range`"),
        ("select generate_series(1, 2000000000)", "`generate_series`"),
        ("select lpad(host, 2000000000) from events_buy", "`lpad`"),
        ("select rpad('x', 2000000000, 'yz')", "`rpad`"),
        (
            "select replace(raw_event, '', repeat('x', 10000)) from events_buy",
            "`replace`",
        ),
        (
            "select regexp_replace(raw_event, '', repeat('x', 10000), 'g') from events_buy",
            "`regexp_replace`",
        ),
        (
            "select array_repeat(raw_event, 1000000) from events_buy",
            "`array_repeat`",
        ),
        ("select list_repeat(1, 1000000000)", "`array_repeat`"),
        ("select array_resize([1], 1000000000, 2)", "`array_resize`"),
        (
            "select range(date '1970-01-01', date '9999-12-31', interval '1 day')",
            "`range`",
        ),
        ("select repeat(repeat('x', 1000), 1000000)", "`repeat`"),
    ] {
        let e = engine.run(sql).await.unwrap_err();
        let QueryError::TooLarge(cap) = &e else {
            panic!("{sql}: {e:?}");
        };
        assert_eq!(cap.what, function, "{sql}");
        assert!(e.is_client_error());
        assert!(e.to_string().contains("query output cap of 1 MiB"), "{e}");
    }
    // Within the cap, the same functions answer as before.
    let small = engine
        .run("select repeat(host, 3) as r, range(3) as l from events_buy limit 1")
        .await
        .unwrap();
    assert_eq!(small.rows, 1);
    // An answer past the cap fails too, with no function that grows:
    // 2,744 rows of three events.
    let wide = engine
        .run("select a.raw_event, b.raw_event, c.raw_event from events_buy a, events_buy b, events_buy c")
        .await
        .unwrap_err();
    assert!(
        matches!(&wide, QueryError::TooLarge(cap) if cap.what == "the answer"),
        "{wide:?}"
    );
    // A recursive CTE could double a value each round: not served.
    let doubling = engine
        .run("with recursive r(s, n) as (select 'x', 1 union all select s || s, n + 1 from r where n < 40) select max(length(s)) from r")
        .await
        .unwrap_err();
    assert!(doubling.to_string().contains("ecursive"), "{doubling}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_encode_in_every_format() {
    let f = reference_lake().await;
    let engine = f.engine(QueryLimits::default());
    let result = engine
        .run(
            "select item_type, count(*) as n from events_buy group by item_type order by item_type",
        )
        .await
        .unwrap();

    let json: serde_json::Value =
        serde_json::from_slice(&Format::Json.encode(&result).unwrap()).unwrap();
    assert_eq!(json["columns"][0]["name"], "item_type");
    assert_eq!(json["columns"][1]["type"], "bigint");
    assert_eq!(json["rows"][1]["item_type"], "sword");
    assert_eq!(json["rows"][1]["n"], 12);
    assert_eq!(json["row_count"], 2);
    assert_eq!(json["truncated"], false);

    let csv = String::from_utf8(Format::Csv.encode(&result).unwrap()).unwrap();
    assert_eq!(csv, "item_type,n\nshield,2\nsword,12\n");

    let ndjson = String::from_utf8(Format::Ndjson.encode(&result).unwrap()).unwrap();
    assert_eq!(
        ndjson,
        "{\"item_type\":\"shield\",\"n\":2}\n{\"item_type\":\"sword\",\"n\":12}\n"
    );

    let arrow = Format::Arrow.encode(&result).unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow), None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 2);

    let nested = engine
        .run("select user_info from events_buy")
        .await
        .unwrap();
    let e = Format::Csv.encode(&nested).unwrap_err();
    assert!(e.to_string().contains("user_info"), "{e}");

    let table = render_table(&result.schema, &result.batches);
    assert_eq!(
        table,
        " item_type | n\n-----------+----\n shield    |  2\n sword     | 12\n(2 rows)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ddl_registers_the_delta_tables_in_trino_and_spark() {
    let f = reference_lake().await;
    let engine = f.engine(QueryLimits::default());
    let ddl = delta_ddl(
        &engine,
        Some("hdfs://namenode:8020/lake"),
        &TrinoTarget::default(),
    )
    .await
    .unwrap();
    assert!(
        ddl.contains(
            "CALL delta.system.register_table(schema_name => 'default', table_name => 'events_buy', \
             table_location => 'hdfs://namenode:8020/lake/events_buy');"
        ),
        "{ddl}"
    );
    assert!(
        !ddl.contains("join_guilds"),
        "views are DataFusion's: {ddl}"
    );
    let spark: Vec<&str> = ddl
        .lines()
        .filter(|l| l.starts_with("CREATE TABLE"))
        .collect();
    assert!(
        spark.contains(
            &"CREATE TABLE IF NOT EXISTS `events_buy` USING DELTA LOCATION 'hdfs://namenode:8020/lake/events_buy';"
        ),
        "{ddl}"
    );
    let calls = ddl.lines().filter(|l| l.starts_with("CALL ")).count();
    assert_eq!(calls, spark.len(), "{ddl}");
    assert!(calls >= 2, "{ddl}");
}

/// `table@vN` and `table@<time>` read a table as it was; a version that is
/// not there, or a time that is no time, is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_reads_a_table_as_of_a_version_or_a_time() {
    let mut f = Fixture::new().await;
    let day1: Vec<_> = (0..10).map(|_| (guild("h1", "join_guild"), DAY1)).collect();
    f.write("events_guild", GUILD, &day1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let day2: Vec<_> = (0..4).map(|_| (guild("h2", "join_guild"), DAY2)).collect();
    f.write("events_guild", GUILD, &day2).await;
    let engine = f.engine(QueryLimits::default());
    let count = |table: String| {
        let engine = &engine;
        async move {
            let sql = format!("select count(*) from \"{table}\"");
            engine.run(&sql).await.map(|r| ints(&r, 0)[0])
        }
    };
    // Version 0 creates the table; each flush is one version after it.
    assert_eq!(count("events_guild@v0".into()).await.unwrap(), 0);
    assert_eq!(count("events_guild@v1".into()).await.unwrap(), 10);
    assert_eq!(count("events_guild@v2".into()).await.unwrap(), 14);
    assert_eq!(count("events_guild".into()).await.unwrap(), 14);
    let at = between.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(count(format!("events_guild@{at}")).await.unwrap(), 10);

    let err = count("events_guild@v9".into())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has versions 0 to 2"), "{err}");
    let err = count("events_guild@yesterday".into())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("after `@` comes a version"), "{err}");
}

/// Compaction swaps thirty small files for one in a single commit: a reader
/// counting in a loop meanwhile always gets the exact count. Vacuum then
/// deletes the replaced files, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_under_a_reader_keeps_every_count_exact_and_vacuum_frees_the_rest() {
    let mut f = Fixture::new().await;
    for _ in 0..30 {
        let rows: Vec<_> = (0..10).map(|_| (guild("h", "join_guild"), DAY1)).collect();
        f.write("events_guild", GUILD, &rows).await;
    }
    let dir = TableDir::table("events_guild").unwrap();
    assert_eq!(f.lake.files(&dir).await.unwrap().len(), 30);
    let engine = std::sync::Arc::new(f.engine(QueryLimits::default()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (engine, stop) = (engine.clone(), stop.clone());
        tokio::spawn(async move {
            let mut counts = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let result = engine.run("select count(*) from events_guild").await;
                counts.push(ints(&result.unwrap(), 0)[0]);
            }
            counts
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let compacted = crate::lake::compact_table(
        &f.lake,
        &dir,
        &crate::lake::CompactPolicy::default(),
        std::time::SystemTime::now(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let counts = reader.await.unwrap();
    assert_eq!((compacted.replaced, compacted.written), (30, 1));
    assert!(counts.len() >= 2, "{counts:?}");
    assert!(counts.iter().all(|&c| c == 300), "{counts:?}");
    assert_eq!(f.lake.files(&dir).await.unwrap().len(), 1);

    // The replaced files stay on disk (older versions name them) until
    // vacuum; a dry run only lists them.
    let root = f._dir.path().join("events_guild");
    let parquet_on_disk = |_: &Lake| {
        walkdir(&root)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .filter(|p| !p.to_string_lossy().contains("_delta_log"))
            .count()
    };
    assert_eq!(parquet_on_disk(&f.lake), 31);
    let listed = crate::lake::vacuum_table(&f.lake, &dir, Duration::ZERO, true)
        .await
        .unwrap();
    assert_eq!(listed.len(), 30);
    assert_eq!(parquet_on_disk(&f.lake), 31);
    let deleted = crate::lake::vacuum_table(&f.lake, &dir, Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(deleted.len(), 30);
    assert_eq!(parquet_on_disk(&f.lake), 1);
    let result = engine
        .run("select count(*) from events_guild")
        .await
        .unwrap();
    assert_eq!(ints(&result, 0), [300]);
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}
