//! `sluice report` over a lake the pipeline wrote: reference-shaped events
//! (and a few broken ones) produced to the embedded broker, `sluice
//! pipeline` writing them, then the report read back: every chart has
//! data, its sentence matches counts made by hand, and every query it shows
//! runs as it is in `sluice sql`.

use std::path::Path;

use crate::kafka::{Broker, default_pipelines, produce, start_pipeline, write_config};
use crate::lake::row_counts;
use crate::support::*;

/// 12 sign-ups; 19 purchases (`sword` 12: 5 epic, 4 common, 3 through the
/// reference's `/purchase_sword` with no quality; `potion` 5; `shield` 2)
/// from three hosts (10, 6, 3); 10 guild joins (`knights`: 6 players, one of
/// them twice; `rangers`: 3); and 3 events that are not JSON objects.
fn events() -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    let mut push = |json: String| events.push(json.into_bytes());
    for u in 0..12 {
        push(format!(
            r#"{{"event_type": "signup", "username": "user{u}", "Host": "a.example.com", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": []}}}}"#
        ));
    }
    let buys = [
        ("sword", "epic", 5),
        ("sword", "common", 4),
        ("potion", "common", 5),
        ("shield", "rare", 2),
    ];
    let hosts = std::iter::repeat_n("a.example.com", 10)
        .chain(std::iter::repeat_n("b.example.com", 6))
        .chain(std::iter::repeat_n("c.example.com", 3));
    let mut hosts = hosts.into_iter();
    for (item, quality, n) in buys {
        for i in 0..n {
            push(format!(
                r#"{{"event_type": "buy_item", "username": "user{i}", "item_type": "{item}", "item_quality": "{quality}", "Host": "{}"}}"#,
                hosts.next().unwrap()
            ));
        }
    }
    for _ in 0..3 {
        push(format!(
            r#"{{"event_type": "purchase_sword", "description": "a sharp sword", "Host": "{}"}}"#,
            hosts.next().unwrap()
        ));
    }
    assert!(hosts.next().is_none());
    for (guild, users) in [
        ("knights", vec![0, 1, 2, 3, 4, 5, 0]),
        ("rangers", vec![6, 7, 8]),
    ] {
        for u in users {
            push(format!(
                r#"{{"event_type": "join_guild", "username": "user{u}", "guild_name": "{guild}", "Host": "b.example.com"}}"#
            ));
        }
    }
    for bad in ["not json", "[1, 2]", "42"] {
        push(bad.to_string());
    }
    events
}

/// The HTML entities the report escapes, back to text.
fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Each `<section class="chart">`'s text.
fn sections(html: &str) -> Vec<&str> {
    html.split("<section class=\"chart\"")
        .skip(1)
        .map(|s| s.split("</section>").next().unwrap())
        .collect()
}

/// The sentences under the charts, tags removed.
fn meaning(section: &str) -> String {
    let start = section.find("What this means:").expect("a meaning");
    let text = &section[start..section[start..].find("</p>").unwrap() + start];
    unescape(&text.replace("<code>", "`").replace("</code>", "`"))
        .replace("<strong>", "")
        .replace("</strong>", "")
}

fn report(dir: &Path, lake: &Path) -> (String, String) {
    let out = dir.join("report.html");
    let (ok, stdout, stderr) = sluice(
        &[
            "report",
            "--lake",
            lake.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir,
    );
    assert!(ok, "sluice report failed: {stderr}");
    (stdout, std::fs::read_to_string(out).unwrap())
}

#[test]
fn the_report_charts_a_lake_the_pipeline_wrote() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    produce(
        &broker.brokers,
        events()
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("key-{i}"), e)),
    );
    let config = write_config(dir.path(), "sluice.toml", 1000, &default_pipelines());
    let _pipeline = start_pipeline(dir.path(), &config, &broker.brokers, "pipeline");
    let lake = dir.path().join("lake");
    let tables = ["events_buy", "events_guild", "events_user", "_dead_letters"];
    eventually(120, "every event in the lake", || {
        let counts = row_counts(&lake, &tables);
        [19, 10, 12, 6] == tables.map(|t| counts[t])
    });

    let (stdout, html) = report(dir.path(), &lake);
    assert!(stdout.contains("(6 of 6 charts; "), "{stdout}");
    // Self-contained: nothing is fetched, nothing runs.
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));

    let charts = sections(&html);
    assert_eq!(charts.len(), 6, "six charts");
    for chart in &charts {
        let points: usize = chart
            .split("data-points=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|n| n.parse().ok())
            .expect("data-points");
        assert!(points > 0, "a chart without data: {chart:.300}");
        assert!(
            chart.contains("<svg") && chart.contains("<rect"),
            "{chart:.300}"
        );
        assert!(chart.contains("<pre><code>"), "its queries are shown");
    }

    // The sentences, against the counts above.
    let said: Vec<String> = charts.iter().map(|c| meaning(c)).collect();
    for (i, expected) in [
        "41 events from ",
        "`sword` sells most: 12 of 19 purchases (63%).",
        "Most `sword` sales are epic (42%).",
        "9 players made 10 joins into 2 guilds. `knights` is the largest, with 6 members.",
        "3 hosts made 19 purchases. `a.example.com` made the most, 53%; the top three made 100%.",
        "12 players signed up over 1 hour.",
        "6 dead letters, for 3 reasons;",
    ]
    .iter()
    .enumerate()
    {
        let chart = [0, 1, 1, 2, 3, 4, 5][i];
        assert!(
            said[chart].contains(expected),
            "chart {}: expected `{expected}` in: {}",
            chart + 1,
            said[chart]
        );
    }
    // Colours, labels and legend: the qualities and the event types.
    for label in [
        "epic",
        "common",
        "rare",
        "unrated",
        "buy_item",
        "join_guild",
        "knights",
    ] {
        assert!(
            html.contains(&format!("\n{label}\n</text>")),
            "`{label}` is drawn"
        );
    }

    // Every query shown runs as it is, and gives the rows the report used.
    let queries: Vec<String> = html
        .split("<pre><code>")
        .skip(1)
        .map(|q| unescape(q.split("</code></pre>").next().unwrap()))
        .collect();
    assert!(queries.len() >= 6, "{queries:?}");
    for sql in &queries {
        let (ok, out, err) = sluice(&["sql", "--lake", lake.to_str().unwrap(), sql], dir.path());
        assert!(ok, "the report's query fails in sluice sql: {sql}\n{err}");
        assert!(out.contains("row"), "{out}");
    }
}

#[test]
fn an_empty_lake_gets_a_report_that_says_why_each_chart_is_missing() {
    let dir = scratch_dir();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let (stdout, html) = report(dir.path(), &lake);
    assert!(stdout.contains("(0 of 6 charts; 0 tables)"), "{stdout}");
    assert!(stdout.contains("no `events_buy` table"), "{stdout}");
    assert!(stdout.contains("No dead letters"), "{stdout}");
    assert!(html.contains("The lake has no tables yet"));
    assert_eq!(sections(&html).len(), 6);

    // A lake that is not there is an error that names it, and reading
    // never creates it.
    let missing = dir.path().join("no-lake");
    let (ok, _, stderr) = sluice(&["report", "--lake", missing.to_str().unwrap()], dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("no-lake") && stderr.contains("cannot be read"),
        "{stderr}"
    );
    assert!(!missing.exists(), "a report created the lake directory");

    // A lake that cannot be opened is an error that names it.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a lake").unwrap();
    let (ok, _, stderr) = sluice(&["report", "--lake", file.to_str().unwrap()], dir.path());
    assert!(!ok);
    assert!(stderr.contains("a-file"), "{stderr}");
}
