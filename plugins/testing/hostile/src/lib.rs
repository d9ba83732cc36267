//! A plugin that misbehaves on request, for the host's isolation tests:
//! each event's `event_type` picks the misdeed (`loop`, `grow`, `panic`,
//! `garbage`, `array`, `huge`, `clock`, `sleep`, `spin_clock`,
//! `wrong_count`, `flood` into `count` events, `chatty`, which logs a line
//! and is kept); any other event is kept.
//!
//! It implements the raw bindings' `Guest` itself, without the SDK's macros
//! or runner, which also proves plugins can use the raw contract.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
                Some("garbage") => replace(&mut output, |data| data.extend(b"not json {")),
                Some("array") => replace(&mut output, |data| data.extend(b"[1,2,3]")),
                Some("huge") => replace(&mut output, write_huge_object),
                Some("clock") => replace(&mut output, |data| write_sandbox_report(event, data)),
                Some("sleep") => oversleep(),
                Some("spin_clock") => wait_for_the_clock(),
                Some("flood") => {
                    let count = event.get("count").and_then(Value::as_u64).unwrap_or(1);
                    flood(&mut output, u32::try_from(count).unwrap_or(u32::MAX))
                }
                Some("chatty") => {
                    sluice_sdk::log::info(&format!("chatty event at offset {offset}"));
                    Outcome::Keep
                }
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

/// Sleeps an hour, then keeps the event. Under sluice waiting takes no
/// time (time does not pass inside a batch), so this returns at once: a
/// plugin cannot stall a pipeline by sleeping.
fn oversleep() -> Outcome {
    std::thread::sleep(Duration::from_secs(3600));
    Outcome::Keep
}

/// Spins until the monotonic clock has moved on by a second, then keeps the
/// event. Under sluice the clocks stand still at the batch's event time, so
/// this never returns: only the CPU deadline ends it, as with `loop`.
fn wait_for_the_clock() -> Outcome {
    let start = Instant::now();
    while black_box(start.elapsed()) < Duration::from_secs(1) {}
    Outcome::Keep
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
/// Written in place: a plugin near its memory cap should fail on size, not
/// on copies.
fn write_huge_object(data: &mut Vec<u8>) {
    const PADDING: usize = 8 << 20;
    data.reserve(PADDING + 64);
    data.extend(br#"{"event_type":"huge","padding":""#);
    data.resize(data.len() + PADDING, b'x');
    data.extend(br#""}"#);
}

/// The event plus what the sandbox lets a plugin see of the world: the clock
/// (the batch's event time under sluice), both WASI random sources (seeded
/// per batch), the environment (empty) and the file system (none).
fn write_sandbox_report(mut event: Map<String, Value>, data: &mut Vec<u8>) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    // From `wasi:random/random`, what `getrandom` (and so `rand`) reads.
    let random = getrandom::u64().unwrap_or_default();
    // Hashing nothing with std's random keys: a u64 derived from
    // `wasi:random/insecure-seed`, which std seeds `HashMap`s from.
    let random_seed = RandomState::new().build_hasher().finish();
    let env_count = std::env::vars().count();
    let file_error = match std::fs::read("/etc/passwd") {
        Ok(_) => "read ok".to_owned(),
        Err(error) => error.to_string(),
    };
    event.insert("now_ms".into(), json!(now_ms));
    event.insert("random".into(), json!(random));
    event.insert("random_seed".into(), json!(random_seed));
    event.insert("env_count".into(), json!(env_count));
    event.insert("file_error".into(), json!(file_error));
    // Writing a map of JSON values into memory cannot fail.
    let _ = serde_json::to_writer(data, &event);
}

/// Replaces the event with `count` small new events.
fn flood(output: &mut Output, count: u32) -> Outcome {
    for i in 0..count {
        output.data.extend(format!(r#"{{"flood":{i}}}"#).bytes());
        output
            .ends
            .push(u32::try_from(output.data.len()).unwrap_or(u32::MAX));
        output.tables.push(None);
    }
    Outcome::Replace(count)
}

/// Replaces the event with one new event, the bytes `write` appends.
fn replace(output: &mut Output, write: impl FnOnce(&mut Vec<u8>)) -> Outcome {
    write(&mut output.data);
    output
        .ends
        .push(u32::try_from(output.data.len()).unwrap_or(u32::MAX));
    output.tables.push(None);
    Outcome::Replace(1)
}

#[cfg(test)]
mod tests {
    use super::{Batch, Guest, Hostile, Outcome, Output};
    use sluice_sdk::serde_json::{self, Map, Value};

    fn process(event_types: &[&str]) -> Output {
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for event_type in event_types {
            data.extend(format!(r#"{{"event_type": "{event_type}", "Host": "h"}}"#).bytes());
            ends.push(u32::try_from(data.len()).expect("small"));
        }
        let count = event_types.len();
        Hostile::process(Batch {
            data,
            ends,
            partitions: vec![0; count],
            offsets: (0..).take(count).collect(),
            timestamps: vec![0; count],
            header_ends: vec![0; count],
            header_keys: Vec::new(),
            header_values: Vec::new(),
        })
    }

    fn new_events(output: &Output) -> Vec<&[u8]> {
        let mut start = 0;
        output
            .ends
            .iter()
            .map(|&end| {
                let event = &output.data[start..end as usize];
                start = end as usize;
                event
            })
            .collect()
    }

    #[test]
    fn bad_outputs_are_exactly_as_ordered() {
        let output = process(&["purchase_sword", "garbage", "array", "huge"]);
        assert!(matches!(
            output.outcomes[..],
            [
                Outcome::Keep,
                Outcome::Replace(1),
                Outcome::Replace(1),
                Outcome::Replace(1)
            ]
        ));
        let events = new_events(&output);
        assert_eq!(events[0], b"not json {");
        assert_eq!(events[1], b"[1,2,3]");
        let huge: Map<String, Value> = serde_json::from_slice(events[2]).expect("an object");
        assert_eq!(huge["padding"].as_str().map(str::len), Some(8 << 20));
        assert_eq!(output.tables, [None, None, None]);
    }

    #[test]
    fn clock_reports_what_the_sandbox_shows() {
        let output = process(&["clock"]);
        let report: Map<String, Value> =
            serde_json::from_slice(new_events(&output)[0]).expect("an object");
        assert_eq!(report["event_type"], "clock");
        assert_eq!(report["Host"], "h");
        for key in ["now_ms", "random", "random_seed", "env_count"] {
            assert!(report[key].is_u64(), "{key}: {report:?}");
        }
        assert!(report["file_error"].is_string());
    }

    #[test]
    fn other_event_types_are_kept() {
        // `sleep` and `spin_clock` are not run here: natively they really
        // wait (an hour, a second); only the host's frozen clocks change that.
        let output = process(&["purchase_sword", "Sleep", "spin", "clock_spin"]);
        assert!(output.outcomes.iter().all(|o| matches!(o, Outcome::Keep)));
    }

    #[test]
    fn flood_replaces_an_event_with_count_events() {
        let output = process(&["flood"]);
        assert!(matches!(output.outcomes[..], [Outcome::Replace(1)]));
        let mut data = Vec::new();
        data.extend(br#"{"event_type": "flood", "count": 3}"#);
        let flooded = Hostile::process(Batch {
            ends: vec![u32::try_from(data.len()).expect("small")],
            data,
            partitions: vec![0],
            offsets: vec![0],
            timestamps: vec![0],
            header_ends: vec![0],
            header_keys: Vec::new(),
            header_values: Vec::new(),
        });
        assert!(matches!(flooded.outcomes[..], [Outcome::Replace(3)]));
        assert_eq!(
            new_events(&flooded),
            [&br#"{"flood":0}"#[..], br#"{"flood":1}"#, br#"{"flood":2}"#]
        );
    }

    #[test]
    fn wrong_count_answers_no_outcomes_at_all() {
        let output = process(&["purchase_sword", "wrong_count", "login"]);
        assert!(output.outcomes.is_empty());
    }

    #[test]
    fn describes_itself_without_tables() {
        let info = Hostile::describe();
        assert_eq!(
            (info.name.as_str(), info.version.as_str()),
            ("hostile", "0.1.0")
        );
        assert!(info.tables.is_empty());
    }
}
