//! The example plugins, end to end through the host runtime, on the
//! reference stack's events: what each keeps, rewrites, routes, splits and
//! rejects, and what a chain of them does.

use sluice::plugin::PluginChain;

use crate::support::*;

#[test]
fn is_purchase_keeps_only_sword_purchases() {
    let engine = engine();
    let plugin = load(&engine, "is_purchase");
    assert_eq!(&**plugin.name(), "is_purchase");
    assert!(plugin.tables().is_empty());
    let lines = reference_lines();
    let mut chain = PluginChain::new([plugin]);
    let batch = batch_of(&lines);
    let out = chain.process(&batch).unwrap();
    let kept = survivors(&out);
    assert_eq!(kept.len(), 2);
    for (table, e) in &kept {
        assert_eq!(table, &None);
        assert_eq!(e["event_type"], "purchase_sword");
    }
    assert_eq!(out.dropped, lines.len() - 2);
    assert!(out.failures.is_empty());
    // Kept events are the input's own bytes, with the input's metadata.
    assert_eq!(out.json(&out.survivors[0]), lines[1].as_bytes());
    assert_eq!(out.survivors[0].meta.offset, 101);
    assert_eq!(out.survivors[1].source, 2);
}

#[test]
fn munge_event_rewrites_host_and_cache_control() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "munge_event")]);
    let lines = reference_lines();
    let batch = batch_of(&lines);
    let out = chain.process(&batch).unwrap();
    let events = survivors(&out);
    assert_eq!(events.len(), lines.len());
    for ((_, e), line) in events.iter().zip(&lines) {
        let original = event_json(line);
        assert_eq!(e["Host"], "moe");
        assert_eq!(e["Cache-Control"], "no-cache");
        // Everything else is untouched.
        for (k, v) in original.as_object().unwrap() {
            if k != "Host" {
                assert_eq!(&e[k], v, "{k}");
            }
        }
    }
}

#[test]
fn game_events_routes_into_the_three_reference_tables() {
    let engine = engine();
    let plugin = load(&engine, "game_events");
    let names: Vec<&str> = plugin.tables().iter().map(|t| &*t.name).collect();
    assert_eq!(names, ["events_buy", "events_guild", "events_user"]);
    // Nested columns are real nested types, and no password column exists.
    let user = &plugin.tables()[2].schema;
    assert_eq!(
        user.column("user_info").unwrap().ty.to_string(),
        "struct<session_datetime:string, inventory:array<string>>"
    );
    let buy = &plugin.tables()[0].schema;
    assert_eq!(
        buy.column("inventory").unwrap().ty.to_string(),
        "array<string>"
    );
    for t in plugin.tables() {
        assert!(!t.schema.to_string().contains("password"), "{}", t.schema);
        assert!(t.schema.column("cookie").is_none());
    }

    let mut chain = PluginChain::new([plugin]);
    let batch = batch_of(&reference_lines());
    let out = chain.process(&batch).unwrap();
    let routed = survivors(&out);
    let count = |t: &str| {
        routed
            .iter()
            .filter(|(table, _)| table.as_deref() == Some(t))
            .count()
    };
    assert_eq!(count("events_buy"), 6, "{routed:?}");
    assert_eq!(count("events_guild"), 2);
    assert_eq!(count("events_user"), 2);
    assert_eq!(out.dropped, 2, "`default` and the event without event_type");
    for (table, e) in &routed {
        let ty = e["event_type"].as_str().unwrap();
        let want = match ty {
            "buy_item" => "events_buy",
            t if t.starts_with("purchase_") => "events_buy",
            "join_guild" => "events_guild",
            "signup" | "login" => "events_user",
            other => panic!("{other} should have been dropped"),
        };
        assert_eq!(table.as_deref(), Some(want), "{e}");
    }
}

#[test]
fn event_ops_splits_guild_joins_and_rejects_events_without_a_type() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "event_ops")]);
    let lines = reference_lines();
    let batch = batch_of(&lines);
    let out = chain.process(&batch).unwrap();
    let events = survivors(&out);
    // 12 events: 1 rejected, 2 joins split in two, 9 kept.
    assert_eq!(events.len(), 13);
    assert_eq!(out.failures.len(), 1);
    let dl = &out.failures[0];
    assert_eq!(&*dl.plugin, "event_ops");
    assert_eq!(&*dl.plugin_version, "0.1.0");
    assert!(dl.reason.contains("event_type"), "{}", dl.reason);
    assert_eq!(
        out.raw_event(dl),
        lines[10].as_bytes(),
        "the dead letter keeps the original event"
    );
    assert_eq!(dl.meta.offset, 110);

    let added: Vec<_> = events
        .iter()
        .filter(|(_, e)| e["event_type"] == "guild_member_added")
        .collect();
    assert_eq!(added.len(), 2);
    assert_eq!(added[1].1["guild_name"], "knights");
    assert_eq!(added[1].1["username"], "user1");
    // Split events carry the metadata of the event they came from.
    let split_meta: Vec<i64> = out
        .survivors
        .iter()
        .filter(|s| s.source == 7)
        .map(|s| s.meta.offset)
        .collect();
    assert_eq!(split_meta, [107, 107]);
}

#[test]
fn a_chain_runs_plugins_in_order() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "is_purchase"), load(&engine, "munge_event")]);
    let batch = batch_of(&reference_lines());
    let out = chain.process(&batch).unwrap();
    let events = survivors(&out);
    assert_eq!(events.len(), 2);
    for (_, e) in &events {
        assert_eq!(e["event_type"], "purchase_sword");
        assert_eq!(e["Host"], "moe");
    }
    assert_eq!(out.dropped, 10);

    // A router after a splitter: the split-off events have no table and are dropped.
    let mut chain = PluginChain::new([load(&engine, "event_ops"), load(&engine, "game_events")]);
    let batch = batch_of(&reference_lines());
    let out = chain.process(&batch).unwrap();
    let events = survivors(&out);
    assert_eq!(events.len(), 10);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(
        out.raw_event(&out.failures[0]),
        reference_lines()[10].as_bytes()
    );
    let stats: Vec<_> = chain
        .stats()
        .map(|(p, s)| (p.name().to_string(), s.events_in))
        .collect();
    assert_eq!(
        stats,
        [
            ("event_ops".to_string(), 12),
            ("game_events".to_string(), 13)
        ]
    );
}

#[test]
fn an_empty_batch_and_an_empty_chain_are_fine() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "is_purchase")]);
    let batch = batch_of::<&str>(&[]);
    let out = chain.process(&batch).unwrap();
    assert!(out.survivors.is_empty());

    let mut none = PluginChain::new([]);
    let batch = batch_of(&reference_lines());
    let out = none.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 12);
}
