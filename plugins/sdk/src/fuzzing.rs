//! The fuzz target `sdk_event`'s check: the lazy [`Event`] (the scanner that
//! reads top-level keys without parsing, and the splicer that writes edits
//! into the original bytes) must agree with a full `serde_json` parse. The
//! fuzz crate (`fuzz/` at the repository root, not built by CI) calls this
//! with arbitrary bytes; the SDK's tests replay the saved seeds and crashes.
//! Built only for tests and with the `fuzzing` feature.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::Event;

/// The input is `key\nJSON`: the key is read, then set to a new value, and
/// `event_type` is removed; each step is checked against `serde_json`.
///
/// # Panics
///
/// When the lazy event and the full parse disagree.
pub fn event_scan_and_splice(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (key, json) = text.split_once('\n').unwrap_or(("event_type", text));
    let Ok(mut event) = Event::from_json(json) else {
        return;
    };
    // Numbers out of f64's range pass the syntax check but not a full parse.
    let Ok(mut expected) = serde_json::from_str::<Map<String, Value>>(json) else {
        return;
    };
    let keys = serde_json::from_str::<Keys>(json).expect("an object").0;
    let once = |k: &str| keys.iter().filter(|x| x.as_str() == k).count() <= 1;

    if once(key) {
        assert_eq!(
            event.str(key),
            expected.get(key).and_then(Value::as_str),
            "str({key:?}) of {json}"
        );
    }
    let value = Value::from(format!("set \"{key}\" \\ é"));
    event.set(key, &value);
    expected.insert(key.to_string(), value);
    if once("event_type") {
        let removed = event.remove("event_type");
        assert_eq!(
            removed,
            expected.shift_remove("event_type"),
            "remove of {json}"
        );
    } else {
        return;
    }
    let written = event.to_json_bytes();
    let parsed: Map<String, Value> = serde_json::from_slice(&written).unwrap_or_else(|e| {
        panic!(
            "the written event is not JSON ({e}): {}",
            String::from_utf8_lossy(&written)
        )
    });
    assert_eq!(
        parsed,
        expected,
        "edits of {json} wrote {}",
        String::from_utf8_lossy(&written)
    );
}

/// An object's keys in order, duplicates kept.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(KeysVisitor)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sdk_event_seeds_and_crashes_replay() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut replayed = 0;
        for kind in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join("sdk_event")) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                let data = std::fs::read(&path).expect("a readable input");
                if std::panic::catch_unwind(|| super::event_scan_and_splice(&data)).is_err() {
                    panic!("`{}` fails the sdk_event check", path.display());
                }
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no seeds under fuzz/corpus/sdk_event");
    }
}
