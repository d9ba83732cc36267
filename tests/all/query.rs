//! SQL over the lake as a user meets it: `sluice serve`, game events sent
//! through the game API (as the reference's `ab` and curl did), the
//! pipeline writing them, then the reference's Presto queries over HTTP,
//! `sluice sql` and `sluice ddl`, answers checked against counts made by
//! hand.

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, Response};

use crate::kafka::{default_pipelines, write_config};
use crate::support::*;

pub(crate) struct Serve {
    _process: Sluice,
    pub(crate) port: u16,
    pub(crate) token: String,
    pub(crate) client: Client,
}

impl Serve {
    pub(crate) fn start(dir: &Path) -> Serve {
        let config = write_config(dir, "sluice.toml", 1000, &default_pipelines());
        let (port, broker_port) = (free_port(), free_port());
        let process = Sluice::start(
            "serve",
            &[
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--broker-listen",
                &format!("127.0.0.1:{broker_port}"),
                "--data",
                dir.join("data").to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--query-max-rows",
                "50",
            ],
            dir,
        );
        wait_for_port(port, "sluice serve");
        let token = std::fs::read_to_string(dir.join("data/admin-token"))
            .unwrap()
            .trim()
            .to_string();
        Serve {
            _process: process,
            port,
            token,
            client: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn game(&self, path: &str, host: &str, session: Option<&str>) {
        let mut request = self.client.get(self.url(path)).header("Host", host);
        if let Some(session) = session {
            request = request.header("Cookie", format!("session_id={session}"));
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }

    fn signup(&self, user: &str) -> String {
        let response = self
            .client
            .post(self.url("/signup"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("username={user}&password=correct-horse"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        cookie
            .strip_prefix("session_id=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    fn post_query(&self, sql: &str, format: &str) -> Response {
        self.client
            .post(self.url(&format!("/query?format={format}")))
            .bearer_auth(&self.token)
            .body(sql.to_string())
            .send()
            .unwrap()
    }

    /// A JSON answer's rows, with status 200 asserted.
    fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        let response = self.post_query(sql, "json");
        let status = response.status();
        let body: serde_json::Value = response.json().unwrap();
        assert_eq!(status, 200, "{sql}: {body}");
        body["rows"].as_array().unwrap().clone()
    }

    /// The one number a `count(*)` answers, or 0 before its table exists.
    pub(crate) fn count(&self, sql: &str) -> i64 {
        let response = self.post_query(sql, "json");
        if response.status() != 200 {
            return 0;
        }
        let body: serde_json::Value = response.json().unwrap();
        body["rows"][0]
            .as_object()
            .and_then(|row| row.values().next())
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
    }

    /// An error answer: (status, kind, message).
    fn error(&self, sql: &str) -> (u16, String, String) {
        let response = self.post_query(sql, "json");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().unwrap();
        (
            status,
            body["kind"].as_str().unwrap_or_default().to_string(),
            body["error"].as_str().unwrap_or_default().to_string(),
        )
    }
}

/// By hand: user1 buys 6 swords and 2 shields, user2 buys 3 swords; user1
/// joins a guild 5 times and user2 twice (the reference's `join_guild`).
pub(crate) fn play(serve: &Serve) {
    let user1 = serve.signup("user1");
    let user2 = serve.signup("user2");
    for _ in 0..6 {
        serve.game("/buy/sword", "user1.comcast.com", Some(&user1));
    }
    for _ in 0..2 {
        serve.game("/buy/shield", "user1.comcast.com", Some(&user1));
    }
    for _ in 0..3 {
        serve.game("/buy/sword", "user2.att.com", Some(&user2));
    }
    for _ in 0..5 {
        serve.game("/join_guild", "user1.comcast.com", None);
    }
    for _ in 0..2 {
        serve.game("/join_guild", "user2.att.com", None);
    }
}

#[test]
fn the_reference_presto_queries_answer_over_http_on_events_from_the_game_api() {
    let dir = scratch_dir();
    let serve = Serve::start(dir.path());
    play(&serve);
    let swords = "select count(*) from events_buy where item_type = 'sword'";
    eventually(120, "the swords in the lake", || serve.count(swords) == 9);
    eventually(60, "the guild joins in the lake", || {
        serve.count("select count(*) from join_guilds") == 7
    });

    // The reference's session, verbatim.
    let tables: Vec<String> = serve
        .rows("show tables;")
        .iter()
        .map(|r| r["Table"].as_str().unwrap().to_string())
        .collect();
    for t in ["events_buy", "events_guild", "events_user", "join_guilds"] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    let describe = serve.rows("describe events_buy;");
    let column = |name: &str| {
        describe
            .iter()
            .find(|r| r["Column"] == name)
            .unwrap_or_else(|| panic!("{name} in {describe:?}"))
            .clone()
    };
    assert_eq!(column("host")["Type"], "string");
    assert_eq!(column("timestamp")["Type"], "timestamp");
    assert_eq!(column("date")["Comment"], "partition key");
    assert!(describe.iter().all(|r| r["Column"] != "password"));
    assert_eq!(serve.count(&format!("{swords};")), 9);
    let by_host =
        serve.rows("select Host, count(*) as count from join_guilds group by Host order by Host");
    assert_eq!(by_host.len(), 2, "{by_host:?}");
    assert_eq!(by_host[0]["host"], "user1.comcast.com");
    assert_eq!(by_host[0]["count"], 5);
    assert_eq!(by_host[1]["host"], "user2.att.com");
    assert_eq!(by_host[1]["count"], 2);
    let mix = serve.rows(
        "SELECT Host, item_type, count(*) AS n FROM Events_Buy WHERE event_type = 'buy_item' \
         GROUP BY 1, 2 ORDER BY 1, 2",
    );
    let mix: Vec<(String, String, i64)> = mix
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["item_type"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mix,
        [
            ("user1.comcast.com".into(), "shield".into(), 2),
            ("user1.comcast.com".into(), "sword".into(), 6),
            ("user2.att.com".into(), "sword".into(), 3),
        ]
    );

    // A file landing while the server runs is in the next answer.
    let user3 = serve.signup("user3");
    for _ in 0..4 {
        serve.game("/buy/sword", "user3.example.com", Some(&user3));
    }
    eventually(60, "the new swords", || serve.count(swords) == 13);

    // Formats.
    let csv = serve.post_query(
        "select item_type, count(*) as n from events_buy where item_type is not null group by 1 order by 1",
        "csv",
    );
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv.headers()["x-sluice-rows"], "2");
    assert_eq!(csv.text().unwrap(), "item_type,n\nshield,2\nsword,13\n");
    let ndjson = serve
        .post_query("select 1 as one", "ndjson")
        .text()
        .unwrap();
    assert_eq!(ndjson, "{\"one\":1}\n");
    let arrow = serve.post_query("select host from events_buy", "arrow");
    assert_eq!(
        arrow.headers()["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let bytes = arrow.bytes().unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None)
            .unwrap();
    assert_eq!(reader.schema().field(0).name(), "host");
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert!(rows >= 13, "{rows}");
    // JSON bodies, and the row limit (`--query-max-rows 50`).
    let body: serde_json::Value = serve
        .client
        .post(serve.url("/query"))
        .bearer_auth(&serve.token)
        .json(&serde_json::json!({"sql": "select * from events_buy cross join events_guild"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["row_count"], 50, "{body}");
    assert_eq!(body["truncated"], true);
    assert!(
        body["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "raw_event")
    );

    // The table listing.
    let tables: serde_json::Value = serve
        .client
        .get(serve.url("/tables"))
        .bearer_auth(&serve.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"events_buy") && names.contains(&"join_guilds"),
        "{names:?}"
    );
    let table: serde_json::Value = serve
        .client
        .get(serve.url("/tables/events_buy"))
        .bearer_auth(&serve.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(table["row_count"].as_i64().unwrap() >= 15, "{table}");
    let files = table["files"].as_array().unwrap();
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|f| f["path"].as_str().unwrap().ends_with(".parquet"))
    );
    let missing = serve
        .client
        .get(serve.url("/tables/nope"))
        .bearer_auth(&serve.token)
        .send()
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn the_query_endpoint_refuses_what_could_write_and_explains_mistakes() {
    let dir = scratch_dir();
    let serve = Serve::start(dir.path());
    serve.game("/join_guild", "user1.comcast.com", None);
    eventually(120, "a guild join in the lake", || {
        serve.count("select count(*) from events_guild") == 1
    });
    let lake = dir.path().join("lake");
    let files_before = lake_files(&lake);

    // No token, a wrong token.
    let bare = serve
        .client
        .post(serve.url("/query"))
        .body("select 1")
        .send()
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert!(bare.text().unwrap().contains("admin token"));
    let wrong = serve
        .client
        .get(serve.url("/tables"))
        .bearer_auth("guess")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);

    for (sql, named) in [
        ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
        (
            "create external table t stored as parquet location '/tmp/t'",
            "CREATE EXTERNAL TABLE",
        ),
        ("create view v as select 1", "CREATE VIEW"),
        ("INSERT INTO events_guild (host) VALUES ('x')", "INSERT"),
        ("copy events_guild to '/tmp/sluice-stolen.parquet'", "COPY"),
        ("drop table events_guild", "DROP TABLE"),
        ("SET datafusion.execution.target_partitions = 64", "SET"),
        ("delete from events_guild", "DELETE"),
        ("update events_guild set host = 'x'", "UPDATE"),
        (
            "explain insert into events_guild (host) values ('x')",
            "INSERT",
        ),
    ] {
        let (status, kind, message) = serve.error(sql);
        assert_eq!(
            (status, kind.as_str()),
            (403, "read_only"),
            "{sql}: {message}"
        );
        assert!(message.contains(&format!("`{named}`")), "{sql}: {message}");
    }
    assert_eq!(
        lake_files(&lake),
        files_before,
        "a refused statement touched the lake"
    );
    assert!(!Path::new("/tmp/sluice-stolen.parquet").exists());

    let (status, kind, message) = serve.error("selec * from events_guild");
    assert_eq!((status, kind.as_str()), (400, "syntax"), "{message}");
    let (status, kind, message) = serve.error("select * from purchases");
    assert_eq!((status, kind.as_str()), (400, "unknown_table"), "{message}");
    assert!(message.contains("events_guild"), "{message}");
    let (status, _, message) = serve.error("select guildname from events_guild");
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("guild_name"), "{message}");
    let (status, _, message) = serve.error("select 1; select 2");
    assert_eq!(status, 400, "{message}");
    let bad_format = serve.post_query("select 1", "xml");
    assert_eq!(bad_format.status(), 400);
    // A query string axum cannot read is a JSON error too (schemathesis).
    let twice = serve.post_query("select 1", "csv&format=json");
    assert_eq!(twice.status(), 400);
    let body: serde_json::Value = twice.json().unwrap();
    assert_eq!(body["kind"], "format", "{body}");
    // Queries that would build more than the output cap (64 MiB) fail,
    // and the server lives on.
    for (sql, function) in [
        (
            "select repeat(raw_event, 10000000) from events_guild",
            "`repeat`",
        ),
        ("select range(1, 2000000000)", "`range`"),
        ("select lpad(host, 2000000000) from events_guild", "`lpad`"),
    ] {
        let (status, kind, message) = serve.error(sql);
        assert_eq!(
            (status, kind.as_str()),
            (400, "too_large"),
            "{sql}: {message}"
        );
        assert!(message.starts_with(function), "{sql}: {message}");
        assert!(message.contains("--query-max-output"), "{message}");
    }
    // The count is unchanged after all of that.
    assert_eq!(serve.count("select count(*) from events_guild"), 1);
}

#[test]
fn many_queries_at_once_do_not_starve_the_pipeline() {
    let dir = scratch_dir();
    let serve = Serve::start(dir.path());
    serve.game("/join_guild", "user1.comcast.com", None);
    eventually(120, "the first event in the lake", || {
        serve.count("select count(*) from events_guild") == 1
    });
    let stop = std::sync::atomic::AtomicBool::new(false);
    let answered = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = serve.post_query(
                        "select a.host, count(*) from events_guild a cross join events_guild b group by a.host",
                        "json",
                    );
                    assert_eq!(r.status(), 200);
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        // Meanwhile players keep playing, and their events keep landing.
        for _ in 0..200 {
            serve.game("/join_guild", "user2.att.com", None);
        }
        eventually(120, "200 joins in the lake while 8 clients query", || {
            serve.count("select count(*) from events_guild") == 201
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(answered.load(std::sync::atomic::Ordering::Relaxed) > 8);
}

#[test]
fn sluice_sql_prints_presto_tables_from_a_server_or_the_lake_and_ddl_registers_delta() {
    let dir = scratch_dir();
    let serve = Serve::start(dir.path());
    play(&serve);
    eventually(120, "the guild joins", || {
        serve.count("select count(*) from join_guilds") == 7
    });
    let url = serve.url("");
    let data = dir.path().join("data");
    let sql = "select Host, count(*) as count from join_guilds group by Host order by Host";
    let want = "       host        | count\n\
                -------------------+-------\n \
                user1.comcast.com |     5\n \
                user2.att.com     |     2\n\
                (2 rows)\n";
    let (ok, out, err) = sluice(
        &["sql", sql, "--url", &url, "--data", data.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert_eq!(out, want);
    let lake = dir.path().join("lake");
    let config = dir.path().join("sluice.toml");
    let (ok, out, err) = sluice(
        &[
            "sql",
            sql,
            "--lake",
            lake.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert_eq!(out, want);
    let (ok, out, _) = sluice(
        &[
            "sql",
            "select 1",
            "--url",
            &url,
            "--data",
            data.to_str().unwrap(),
            "--format",
            "csv",
        ],
        dir.path(),
    );
    assert!(ok);
    assert_eq!(out, "Int64(1)\n1\n");
    let (ok, _, err) = sluice(
        &[
            "sql",
            "drop table events_buy",
            "--url",
            &url,
            "--data",
            data.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("read-only"), "{err}");
    let (ok, _, err) = sluice(
        &["sql", "select 1", "--url", &url, "--token", "nope"],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("admin token"), "{err}");

    let (ok, ddl, err) = sluice(
        &[
            "ddl",
            "--lake",
            lake.to_str().unwrap(),
            "--location",
            "hdfs://namenode:8020/lake",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(
        ddl.contains(
            "CALL delta.system.register_table(schema_name => 'default', table_name => 'events_buy', \
             table_location => 'hdfs://namenode:8020/lake/events_buy');"
        ),
        "{ddl}"
    );
    assert!(
        ddl.contains("Hive reads Delta tables only through"),
        "{ddl}"
    );
    // Spark SQL's statements parse as Spark SQL, one per Trino registration.
    let spark: String = ddl
        .lines()
        .filter(|l| l.starts_with("CREATE TABLE"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        spark.contains(
            "CREATE TABLE IF NOT EXISTS `events_guild` USING DELTA \
             LOCATION 'hdfs://namenode:8020/lake/events_guild';"
        ),
        "{ddl}"
    );
    // sqlparser reads no `USING DELTA` without columns: checked by shape.
    let creates = spark
        .lines()
        .filter(|l| {
            l.starts_with("CREATE TABLE IF NOT EXISTS `")
                && l.contains("` USING DELTA LOCATION 'hdfs://namenode:8020/lake/")
                && l.ends_with("';")
        })
        .count();
    assert_eq!(creates, spark.lines().count(), "{spark}");
    assert!(creates >= 3, "{ddl}");
    assert_eq!(
        creates,
        ddl.matches("system.register_table(").count(),
        "{ddl}"
    );
}

fn lake_files(lake: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(lake, &mut out);
    out.sort();
    out
}
