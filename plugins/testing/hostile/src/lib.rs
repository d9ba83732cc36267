//! A plugin that misbehaves on request, for the host's isolation tests:
//! each event's `event_type` picks the misdeed (`loop`, `grow`, `panic`,
//! `garbage`, `array`, `huge`, `clock`, `wrong_count`); any other event is
//! kept.
//!
//! It implements the raw bindings' `Guest` itself, without the SDK's macros
//! or runner, which also proves plugins can use the raw contract.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_sdk::bindings::sluice::plugin::types::Outcome;
use sluice_sdk::bindings::{Batch, Guest, Info, Output};
use sluice_sdk::serde_json::{self, Map, Value, json};

/// The plugin; the host sees it as `hostile` 0.1.0, routing nowhere.
pub struct Hostile;

impl Guest for Hostile {
    fn describe() -> Info {
        Info {
            name: "hostile".to_owned(),
            version: "0.1.0".to_owned(),
            tables: Vec::new(),
        }
    }

    fn process(batch: Batch) -> Output {
        let mut output = Output {
            outcomes: Vec::with_capacity(batch.ends.len()),
            data: Vec::new(),
            ends: Vec::new(),
            tables: Vec::new(),
        };
        let mut start = 0;
        for (index, &end) in batch.ends.iter().enumerate() {
            let json = batch.data.get(start..end as usize).unwrap_or_default();
            start = end as usize;
            let offset = batch.offsets.get(index).copied().unwrap_or_default();
            let event: Map<String, Value> = serde_json::from_slice(json).unwrap_or_default();
            let outcome = match event.get("event_type").and_then(Value::as_str) {
                Some("loop") => spin(),
                Some("grow") => hoard(),
                Some("panic") => panic!("poison event at offset {offset}"),
                Some("garbage") => replace(&mut output, b"not json {"),
                Some("array") => replace(&mut output, b"[1,2,3]"),
                Some("huge") => replace(&mut output, &huge_object()),
                Some("clock") => replace(&mut output, &sandbox_report(event)),
                Some("wrong_count") => {
                    return Output {
                        outcomes: Vec::new(),
                        data: Vec::new(),
                        ends: Vec::new(),
                        tables: Vec::new(),
                    };
                }
                _ => Outcome::Keep,
            };
            output.outcomes.push(outcome);
        }
        output
    }
}

#[cfg(target_arch = "wasm32")]
sluice_sdk::bindings::export!(Hostile);

/// Never returns; only the host's CPU deadline (epoch interruption) ends it.
fn spin() -> Outcome {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

/// Allocates and touches 1 MiB chunks, keeping them all, until the memory cap
/// makes an allocation fail (which aborts the instance).
fn hoard() -> Outcome {
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0_u8; CHUNK];
        for page in chunk.iter_mut().step_by(4096) {
            *page = 1;
        }
        chunks.push(black_box(chunk));
    }
}

/// A valid JSON object of about 8 MiB, to test the host's output limits.
fn huge_object() -> Vec<u8> {
    let padding = "x".repeat(8 << 20);
    serde_json::to_vec(&json!({"event_type": "huge", "padding": padding})).unwrap_or_default()
}

/// The event plus what the sandbox lets a plugin see of the world: the clock
/// (the batch's event time under sluice), randomness (seeded per batch), the
/// environment (empty) and the file system (none).
fn sandbox_report(mut event: Map<String, Value>) -> Vec<u8> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    // std seeds `RandomState` from the WASI random source, so this hashes
    // nothing with random keys: a u64 drawn from `wasi:random`.
    let random = RandomState::new().build_hasher().finish();
    let env_count = std::env::vars().count();
    let file_error = match std::fs::read("/etc/passwd") {
        Ok(_) => "read ok".to_owned(),
        Err(error) => error.to_string(),
    };
    event.insert("now_ms".into(), json!(now_ms));
    event.insert("random".into(), json!(random));
    event.insert("env_count".into(), json!(env_count));
    event.insert("file_error".into(), json!(file_error));
    serde_json::to_vec(&event).unwrap_or_default()
}

/// Replaces the event with one new event of exactly `bytes`.
fn replace(output: &mut Output, bytes: &[u8]) -> Outcome {
    output.data.extend_from_slice(bytes);
    output
        .ends
        .push(u32::try_from(output.data.len()).unwrap_or(u32::MAX));
    output.tables.push(None);
    Outcome::Replace(1)
}
