//! Hostile plugins are contained: an infinite loop, memory growth past the
//! cap, a panic, output that is not JSON or not an object, a huge output and
//! a broken contract each cost only the events concerned, with a clear
//! dead-letter reason, and the host goes on. The sandbox gives no files, no
//! environment, and a clock and random source fixed by the batch.

use sluice::plugin::{ChainError, PluginChain};

use crate::support::*;

const OK: &str = r#"{"event_type": "purchase_sword", "Host": "user1.comcast.com"}"#;

fn hostile_event(kind: &str) -> String {
    format!(r#"{{"event_type": "{kind}", "Host": "evil.example.com"}}"#)
}

/// Runs [ok, kind, ok] through `hostile` and returns the dead letter's reason.
fn contained(kind: &str) -> String {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    let batch = batch_of(&[OK.to_string(), hostile_event(kind), OK.to_string()]);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 2, "{kind}: the good events go on");
    assert!(out.survivors.iter().all(|s| out.json(s) == OK.as_bytes()));
    assert_eq!(out.failures.len(), 1, "{kind}");
    let dl = &out.failures[0];
    assert_eq!(dl.meta.offset, 101);
    assert_eq!(out.raw_event(dl), hostile_event(kind).as_bytes());
    assert_eq!(&*dl.plugin, "hostile");
    assert_eq!(&*dl.plugin_version, "0.1.0");
    // The host goes on: the same chain handles the next batch.
    let batch = batch_of(&[OK]);
    let next = chain.process(&batch).unwrap();
    assert_eq!(next.survivors.len(), 1);
    dl.reason.clone()
}

#[test]
fn an_infinite_loop_times_out() {
    let reason = contained("loop");
    assert!(reason.starts_with("timed out"), "{reason}");
    assert!(reason.contains("1000 ms"), "{reason}");
}

#[test]
fn growing_memory_past_the_cap_is_out_of_memory() {
    let reason = contained("grow");
    assert!(reason.starts_with("out of memory"), "{reason}");
    assert!(reason.contains("64 MiB"), "{reason}");
}

#[test]
fn a_panic_reports_its_message() {
    let reason = contained("panic");
    assert!(
        reason.starts_with("panicked: poison event at offset 101"),
        "{reason}"
    );
}

#[test]
fn output_that_is_not_json_is_rejected() {
    let reason = contained("garbage");
    assert!(
        reason.contains("not a JSON object: `not json {`"),
        "{reason}"
    );
    let reason = contained("array");
    assert!(reason.contains("not a JSON object: `[1,2,3]`"), "{reason}");
}

#[test]
fn a_huge_output_is_rejected() {
    let reason = contained("huge");
    assert!(reason.contains("over the 1048576-byte limit"), "{reason}");
}

#[test]
fn a_broken_contract_fails_the_batch_it_broke() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    let batch = batch_of(&[OK.to_string(), hostile_event("wrong_count")]);
    let out = chain.process(&batch).unwrap();
    assert!(out.survivors.is_empty());
    assert_eq!(out.failures.len(), 2);
    for dl in &out.failures {
        assert!(
            dl.reason
                .contains("broke the contract: returned 0 outcomes for 2 events"),
            "{}",
            dl.reason
        );
    }
}

#[test]
fn one_poison_event_in_1024_costs_one_dead_letter() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    let mut events = vec![OK.to_string(); 1024];
    events[700] = hostile_event("panic");
    let batch = batch_of(&events);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 1023);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].meta.offset, 800);
    assert!(
        out.failures[0]
            .reason
            .contains("poison event at offset 800")
    );
    // Survivors keep their order and sources.
    assert!(out.survivors.windows(2).all(|w| w[0].source < w[1].source));
    assert!(!out.survivors.iter().any(|s| s.source == 700));
    let (_, stats) = chain.stats().next().unwrap();
    // Halving isolates it in about 2·log2(1024) calls, not 1024.
    assert!(stats.traps <= 11, "{} traps", stats.traps);
}

#[test]
fn a_loop_in_a_batch_is_isolated_with_the_rest_kept() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    let mut events = vec![OK.to_string(); 64];
    events[5] = hostile_event("loop");
    events[40] = hostile_event("panic");
    let batch = batch_of(&events);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 62);
    let reasons: Vec<&str> = out.failures.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0].starts_with("timed out"), "{reasons:?}");
    assert!(reasons[1].starts_with("panicked"), "{reasons:?}");
}

#[test]
fn the_sandbox_has_no_files_no_env_and_a_batch_clock_and_seeded_random() {
    let engine = engine();
    let events = [hostile_event("clock"), hostile_event("clock")];
    let run = || {
        let mut chain = PluginChain::new([load(&engine, "hostile")]);
        let batch = batch_of(&events);
        let out = chain.process(&batch).unwrap();
        assert!(out.failures.is_empty(), "{:?}", out.failures);
        survivors(&out)
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>()
    };
    let first = run();
    let second = run();
    assert_eq!(first.len(), 2);
    // The clock reads the batch's event time: the newest timestamp in it.
    assert_eq!(first[0]["now_ms"], 1_764_410_001_000i64);
    assert_eq!(first[0]["env_count"], 0);
    let file_error = first[0]["file_error"].as_str().unwrap();
    assert_ne!(file_error, "read ok");
    // A replay of the batch sees the same random numbers...
    assert_eq!(first, second);
    // ...and they are random draws, not a constant.
    assert_ne!(first[0]["random"], first[1]["random"]);
}

#[test]
fn a_plugin_failing_most_events_stops_the_chain() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    let broken = vec![hostile_event("garbage"); 20];
    // Two bad batches are dead letters; the third in a row stops the chain.
    for _ in 0..2 {
        let batch = batch_of(&broken);
        let out = chain.process(&batch).unwrap();
        assert_eq!(out.failures.len(), 20);
    }
    let batch = batch_of(&broken);
    let err = chain.process(&batch).unwrap_err();
    let ChainError::PluginFailing {
        plugin,
        failed,
        events,
        ..
    } = &err;
    assert_eq!((plugin.as_str(), *failed, *events), ("hostile", 20, 20));
    assert!(
        err.to_string()
            .contains("paused until a new version or a rollback"),
        "{err}"
    );

    // A healthy batch resets the count; a new version starts afresh.
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    chain.process(&batch_of(&broken)).unwrap();
    chain.process(&batch_of(&broken)).unwrap();
    chain.process(&batch_of(&vec![OK; 20])).unwrap();
    chain.process(&batch_of(&broken)).unwrap();
    chain.process(&batch_of(&broken)).unwrap();
    chain.replace(0, load(&engine, "hostile"));
    chain.process(&batch_of(&broken)).unwrap();
}

#[test]
fn sleeping_takes_no_time_and_a_frozen_clock_cannot_be_waited_out() {
    // `std::thread::sleep(1 hour)` returns at once: time is the batch's.
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    let batch = batch_of(&[hostile_event("sleep")]);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 1);
    assert!(out.failures.is_empty());
    // Busy-waiting for the clock to move never ends: the deadline stops it.
    let reason = contained("spin_clock");
    assert!(reason.starts_with("timed out"), "{reason}");
}

#[test]
fn new_events_are_capped_per_input_event_and_per_call() {
    let flood = |count: u32| format!(r#"{{"event_type": "flood", "count": {count}}}"#);
    let engine = sluice::plugin::PluginEngine::new(sluice::plugin::SandboxLimits {
        max_events_per_event: 1_000,
        max_events_per_call: 2_500,
        ..Default::default()
    })
    .unwrap();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    // 1,000 for one event is the limit; 1,001 is a dead letter.
    let batch = batch_of(&[flood(1_000), flood(1_001), OK.to_string()]);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 1_001);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].meta.offset, 101);
    assert!(
        out.failures[0]
            .reason
            .contains("returned 1001 events for one event, over the limit of 1000"),
        "{}",
        out.failures[0].reason
    );
    // Three events of 1,000 in one call: the third passes the call's 2,500.
    let batch = batch_of(&[flood(1_000), flood(1_000), flood(1_000), OK.to_string()]);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.survivors.len(), 2_001);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].meta.offset, 102);
    assert!(
        out.failures[0]
            .reason
            .contains("more than 2500 new events in one call of 4 events"),
        "{}",
        out.failures[0].reason
    );
}

#[test]
fn log_lines_are_capped_per_batch_however_often_a_poison_event_splits_it() {
    let engine = engine();
    let mut chain = PluginChain::new([load(&engine, "hostile")]);
    // Every event logs a line; the poison one makes the batch split about
    // twenty times, and each part logs its lines again.
    let mut events = vec![hostile_event("chatty"); 1024];
    events[700] = hostile_event("panic");
    let batch = batch_of(&events);
    let out = chain.process(&batch).unwrap();
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.survivors.len(), 1023);
    drop(out);
    let (_, stats) = chain.stats().next().unwrap();
    assert_eq!(stats.log_lines, 100, "{stats:?}");
    // More than one call's worth of lines were written, all but 100 dropped.
    assert!(stats.log_lines_dropped > 1024, "{stats:?}");
    // The next batch has a budget of its own.
    chain
        .process(&batch_of(&[hostile_event("chatty")]))
        .unwrap();
    let (_, stats) = chain.stats().next().unwrap();
    assert_eq!(stats.log_lines, 101, "{stats:?}");
}
