//! The web console as an operator meets it: `sluice serve` prints its
//! address with the admin token in the fragment; headless Chromium
//! (`tests/python/console.py`, selenium and Debian's chromium, installed by
//! `tests/run.sh`) opens it, runs the reference's queries from the SQL box,
//! watches a new event arrive in the live tail and takes a screenshot. The
//! answers it read off the page are checked against counts made by hand.

use std::process::Command;

use crate::query::{Serve, play};
use crate::support::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/console.py");

#[test]
fn the_console_shows_tables_plugins_query_results_and_the_live_tail_in_chromium() {
    let dir = scratch_dir();
    let serve = Serve::start(dir.path());

    // The address `sluice serve` prints.
    let log = dir.path().join("serve.log");
    wait_for_log(&log, "console   http://");
    let printed = std::fs::read_to_string(&log).unwrap();
    let address = printed
        .lines()
        .find_map(|l| l.strip_prefix("console   "))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        address,
        format!(
            "http://127.0.0.1:{}/console#token={}",
            serve.port, serve.token
        )
    );

    // The page itself needs no token and names no other host.
    let page = serve.client.get(serve.url("/console")).send().unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!page.text().unwrap().contains("https://"));

    // By hand (query.rs): 11 purchases (user1 6 swords and 2 shields,
    // user2 3 swords) and 7 guild joins (user1 5, user2 2).
    play(&serve);
    eventually(120, "the purchases in the lake", || {
        serve.count("select count(*) from events_buy") == 11
    });
    eventually(60, "the guild joins in the lake", || {
        serve.count("select count(*) from join_guilds") == 7
    });

    let screenshot = dir.path().join("console.png");
    let out = Command::new("python3")
        .arg(SCRIPT)
        .arg(&address)
        .arg(&screenshot)
        .output()
        .expect("running python3 (tests/run.sh installs selenium, chromium and chromedriver)");
    assert!(
        out.status.success(),
        "console.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let texts = |v: &serde_json::Value| -> Vec<Vec<String>> {
        v.as_array()
            .unwrap_or_else(|| panic!("not rows: {seen}"))
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    };
    let pair = |a: &str, b: &str| vec![a.to_string(), b.to_string()];

    // The token left the address bar; the table list counted the rows.
    let after = seen["address_after_load"].as_str().unwrap();
    assert!(
        !after.contains("token") && after.ends_with("/console"),
        "{after}"
    );
    assert_eq!(seen["events_buy_rows"], 11, "{seen}");
    let listed = seen["listed_tables"].to_string();
    for table in ["events_buy", "events_guild", "events_user", "join_guilds"] {
        assert!(listed.contains(table), "{table} in {listed}");
    }

    // The reference's query, run with Ctrl+Enter; its rows come in no order.
    let guilds = &seen["guilds"];
    assert_eq!(guilds["header"], serde_json::json!(["host", "count(*)"]));
    let mut rows = texts(&guilds["rows"]);
    rows.sort();
    assert_eq!(
        rows,
        [pair("user1.comcast.com", "5"), pair("user2.att.com", "2")]
    );
    assert_eq!(guilds["bars"], 2, "{guilds}");
    let meta = guilds["meta"].as_str().unwrap();
    assert!(
        meta.starts_with("2 rows · ") && meta.ends_with(" ms"),
        "{meta}"
    );
    assert_eq!(seen["guilds_again"]["bars"], 2);

    // The Run button; the chart has one bar per row, labelled by item.
    let items = &seen["items"];
    assert_eq!(items["header"], serde_json::json!(["item_type", "n"]));
    assert_eq!(
        texts(&items["rows"]),
        [pair("shield", "2"), pair("sword", "9")]
    );
    assert_eq!(items["bars"], 2);
    assert_eq!(items["bar_labels"], serde_json::json!(["shield", "sword"]));

    // The per-minute chip charts marks that add up to the purchases.
    let per_minute: f64 = seen["per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_str().unwrap();
            p.rsplit(": ").next().unwrap().parse::<f64>().unwrap()
        })
        .sum();
    assert_eq!(per_minute, 11.0, "{seen}");
    let series = &seen["series"];
    assert_eq!(series["lines"], 1, "{series}");
    assert_eq!(series["bars"], 0, "{series}");
    assert_eq!(
        series["points"],
        serde_json::json!(["2024-01-01: 3", "2024-01-02: 5", "2024-01-03: 4"])
    );

    // The server's words for a mistake, and no chart without a number.
    let unknown = seen["unknown_table"]["error"].as_str().unwrap();
    assert!(
        unknown.contains("unknown_table") && unknown.contains("events_buy"),
        "{unknown}"
    );
    assert_eq!(seen["no_number"]["rows"], serde_json::json!([["a"]]));
    assert_eq!(seen["no_number"]["bars"], 0);
    assert!(
        seen["no_number"]["chart_note"]
            .as_str()
            .unwrap()
            .contains("No numeric column"),
        "{seen}"
    );

    // The live tail showed an event sent while the page was open.
    assert_eq!(seen["tail_saw_event"], true, "{seen}");
    let first = seen["tail_first"].as_str().unwrap();
    assert!(
        first.contains("default") && first.contains("tail-check.example.com"),
        "{first}"
    );
    assert_eq!(seen["pause_button"], "Resume");
    // The rate differences the API's counter, which counted every event:
    // 2 sign-ups, 11 purchases, 7 joins (and the tail's, if sampled yet).
    assert!(seen["events_logged"].as_f64().unwrap() >= 20.0, "{seen}");
    assert!(
        seen["rate_text"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .is_ok_and(|r| r >= 0.0),
        "{seen}"
    );

    // Plugins with their versions and counters.
    let plugins = seen["plugins"].as_array().unwrap();
    let game = plugins
        .iter()
        .find(|p| p["name"] == "game_events")
        .unwrap_or_else(|| panic!("game_events in {plugins:?}"));
    let text = game["text"].as_str().unwrap();
    assert!(text.contains("running") && text.contains("µs/ev"), "{text}");

    // A wrong token says so; the token field recovers.
    let wrong = seen["wrong_token_message"].as_str().unwrap();
    assert!(
        wrong.contains("refused") && wrong.contains("admin-token"),
        "{wrong}"
    );
    assert_eq!(seen["rows_after_token_field"], 11);

    // No script error and nothing the policy refused.
    for message in seen["browser_errors"].as_array().unwrap() {
        let message = message.as_str().unwrap();
        assert!(
            message.contains("Failed to load resource"),
            "the browser logged: {message}"
        );
    }

    // The screenshot is a real picture of the page.
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 1000 && height >= 600, "{width}x{height}");
    assert!(png.len() > 30_000, "{} bytes", png.len());
}
