use arrow::array::{
    Array, AsArray, Int8Array, Int32Array, Int64Array, ListArray, MapArray, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};

use super::*;
use crate::schema::Schema;

const REFERENCE_SCHEMA: &str = "accept string, host string, user_agent string, event_type string, \
     username string, item_type string, item_quality string, inventory array<string>, \
     user_info struct<session_datetime:string, inventory:array<string>>";

const REFERENCE_EVENT: &str = r#"{"username": "user1", "event_type": "buy_item", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "item_type": "shield", "Host": "user1.comcast.com", "inventory": ["sword", "potion"], "item_quality": "common", "user_info": {"session_datetime": "2018-08-13 02:16:20", "inventory": []}}"#;

fn decoder(schema: &str) -> TableDecoder {
    TableDecoder::new(
        "t",
        &Schema::parse(schema).unwrap(),
        DecodeLimits::default(),
    )
    .unwrap()
}

fn event(json: &str, offset: i64) -> Event<'_> {
    Event {
        json: json.as_bytes(),
        timestamp_ms: 1_534_126_580_000 + offset,
        partition: 3,
        offset,
    }
}

fn decode(d: &mut TableDecoder, jsons: &[&str]) -> Decoded {
    let events: Vec<Event<'_>> = jsons
        .iter()
        .enumerate()
        .map(|(i, j)| event(j, i as i64))
        .collect();
    d.decode(&events).unwrap()
}

fn strings<'a>(batch: &'a arrow::record_batch::RecordBatch, column: &str) -> &'a StringArray {
    batch.column_by_name(column).unwrap().as_string::<i32>()
}

/// The reason for the only rejected event, as text.
fn only_reason(decoded: &Decoded) -> String {
    assert_eq!(decoded.rejected.len(), 1, "{:?}", decoded.rejected);
    decoded.rejected[0].reason.to_string()
}

#[test]
fn arrow_schema_has_reserved_columns_first_and_nested_types() {
    let schema = table_schema(&Schema::parse(REFERENCE_SCHEMA).unwrap());
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&names[..3], ["raw_event", "timestamp", "accept"]);
    assert_eq!(
        schema.field_with_name("timestamp").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert!(matches!(
        schema.field_with_name("inventory").unwrap().data_type(),
        DataType::List(item) if item.data_type() == &DataType::Utf8
    ));
    let DataType::Struct(fields) = schema.field_with_name("user_info").unwrap().data_type() else {
        panic!("user_info is not a struct");
    };
    assert_eq!(fields[0].name(), "session_datetime");
    assert!(matches!(fields[1].data_type(), DataType::List(_)));
}

#[test]
fn every_hive_type_maps_and_decodes() {
    let mut d = decoder(
        "a boolean, b tinyint, c smallint, d int, e bigint, f float, g double, \
         h decimal(12,2), i string, k binary, l date, m timestamp, \
         n array<int>, o map<string,bigint>, p struct<x:int,y:array<struct<z:string>>>",
    );
    let decoded = decode(
        &mut d,
        &[
            r#"{"a": true, "b": -128, "c": 300, "d": 70000, "e": 9007199254740993, "f": 1.5, "g": -2e3,
                "h": 12.34, "i": "text", "k": "cafe", "l": "2018-08-13", "m": "2018-08-13 02:16:20",
                "n": [1, null, 3], "o": {"x": 1}, "p": {"x": 1, "y": [{"z": "deep"}]}}"#,
        ],
    );
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let b = &decoded.batch;
    assert_eq!(b.num_rows(), 1);
    assert_eq!(
        b.column_by_name("e")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        9_007_199_254_740_993
    );
    assert_eq!(
        b.column_by_name("b")
            .unwrap()
            .as_any()
            .downcast_ref::<Int8Array>()
            .unwrap()
            .value(0),
        -128
    );
    let p = b
        .column_by_name("p")
        .unwrap()
        .as_any()
        .downcast_ref::<StructArray>()
        .unwrap();
    let y = p
        .column_by_name("y")
        .unwrap()
        .as_any()
        .downcast_ref::<ListArray>()
        .unwrap();
    let z = y.value(0);
    let z = z
        .as_struct()
        .column(0)
        .as_string::<i32>()
        .value(0)
        .to_string();
    assert_eq!(z, "deep");
}

#[test]
fn reference_event_decodes_with_header_keys_matched() {
    let mut d = decoder(REFERENCE_SCHEMA);
    let decoded = decode(&mut d, &[REFERENCE_EVENT]);
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let b = &decoded.batch;
    assert_eq!(strings(b, "user_agent").value(0), "ApacheBench/2.3");
    assert_eq!(strings(b, "host").value(0), "user1.comcast.com");
    assert_eq!(strings(b, "accept").value(0), "*/*");
    assert_eq!(strings(b, "raw_event").value(0), REFERENCE_EVENT);
    let inventory = b.column_by_name("inventory").unwrap().as_list::<i32>();
    assert_eq!(inventory.value(0).as_string::<i32>().value(1), "potion");
    let user_info = b.column_by_name("user_info").unwrap().as_struct();
    assert_eq!(
        user_info.column(0).as_string::<i32>().value(0),
        "2018-08-13 02:16:20"
    );
    assert_eq!(user_info.column(1).as_list::<i32>().value(0).len(), 0);
    let ts = b
        .column_by_name("timestamp")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(ts.value(0), 1_534_126_580_000_000);
    assert_eq!(ts.timezone(), Some("UTC"));
    assert_eq!((decoded.partitions[0], decoded.offsets[0]), (3, 0));
}

#[test]
fn keys_match_ignoring_case_and_dashes_at_every_level() {
    let mut d = decoder(REFERENCE_SCHEMA);
    let decoded = decode(
        &mut d,
        &[
            r#"{"HOST": "h", "user-agent": "ua", "User_Info": {"Session-DateTime": "s", "INVENTORY": ["x"]}, "Cookie": "ignored", "extra": {"deep": [1, 2, {"a": null}]}}"#,
        ],
    );
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let b = &decoded.batch;
    assert_eq!(strings(b, "host").value(0), "h");
    assert_eq!(strings(b, "user_agent").value(0), "ua");
    let user_info = b.column_by_name("user_info").unwrap().as_struct();
    assert_eq!(user_info.column(0).as_string::<i32>().value(0), "s");
    assert_eq!(
        user_info
            .column(1)
            .as_list::<i32>()
            .value(0)
            .as_string::<i32>()
            .value(0),
        "x"
    );
    // Columns the event lacks are null; unknown keys left no trace.
    assert!(strings(b, "username").is_null(0));
    assert_eq!(b.num_columns(), 11);
}

#[test]
fn escaped_keys_are_decoded_before_matching() {
    let mut d = decoder("host string");
    let decoded = decode(&mut d, &[r#"{"\u0048ost": "h"}"#]);
    assert!(decoded.rejected.is_empty());
    assert_eq!(strings(&decoded.batch, "host").value(0), "h");
}

#[test]
fn map_keys_are_data_and_keep_their_spelling() {
    let mut d = decoder("attrs map<string,int>, counts map<int,string>");
    let decoded = decode(
        &mut d,
        &[r#"{"Attrs": {"Foo-Bar": 1, "foo_bar": 2}, "counts": {"7": "seven"}}"#],
    );
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let attrs = decoded
        .batch
        .column_by_name("attrs")
        .unwrap()
        .as_any()
        .downcast_ref::<MapArray>()
        .unwrap();
    let keys = attrs.keys().as_string::<i32>();
    assert_eq!(keys.value(0), "Foo-Bar");
    assert_eq!(keys.value(1), "foo_bar");
    let values = attrs
        .values()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert_eq!(values.value(1), 2);

    let bad = decode(&mut d, &[r#"{"counts": {"seven": "7"}}"#]);
    let reason = only_reason(&bad);
    assert!(reason.contains(r#"counts["seven"]"#), "{reason}");
}

#[test]
fn misfits_are_rejected_naming_column_and_value_and_the_rest_go_on() {
    let mut d =
        decoder("n int, s string, t tinyint, tags array<string>, u struct<inner:struct<v:bigint>>");
    let cases: &[(&str, &str)] = &[
        (
            r#"{"n": "abc"}"#,
            "column `n` is int, but the event has `\"abc\"`",
        ),
        (
            r#"{"n": 1.5}"#,
            "column `n` is int, but the event has `1.5`",
        ),
        (
            r#"{"n": 1e3}"#,
            "column `n` is int, but the event has `1e3`",
        ),
        (
            r#"{"n": true}"#,
            "column `n` is int, but the event has `true`",
        ),
        (
            r#"{"n": 3000000000}"#,
            "column `n` is int, and `3000000000` is out of its range",
        ),
        (
            r#"{"t": 300}"#,
            "column `t` is tinyint, and `300` is out of its range",
        ),
        (r#"{"t": "300"}"#, "`\"300\"` is out of its range"),
        (
            r#"{"s": {"a": 1}}"#,
            "column `s` is string, but the event has `{\"a\": 1}`",
        ),
        (
            r#"{"s": [1]}"#,
            "column `s` is string, but the event has `[1]`",
        ),
        (r#"{"tags": "x"}"#, "column `tags` is array<string>"),
        (r#"{"tags": ["a", {"b": 1}]}"#, "column `tags[1]` is string"),
        (
            r#"{"u": {"inner": {"V": "x"}}}"#,
            "column `u.inner.v` is bigint, but the event has `\"x\"`",
        ),
        (
            r#"{"u": 5}"#,
            "column `u` is struct<inner:struct<v:bigint>>, but the event has `5`",
        ),
    ];
    for (bad, want) in cases {
        let decoded = decode(&mut d, &[r#"{"n": 1}"#, bad, r#"{"n": 2}"#]);
        let reason = only_reason(&decoded);
        assert!(reason.contains(want), "{bad}: {reason}");
        assert_eq!(decoded.rejected[0].index, 1);
        assert_eq!(decoded.batch.num_rows(), 2, "{bad}");
        assert_eq!(decoded.offsets, [0, 2]);
        let n = decoded
            .batch
            .column_by_name("n")
            .unwrap()
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        assert_eq!((n.value(0), n.value(1)), (1, 2));
    }
}

#[test]
fn lossless_coercions_are_accepted() {
    let mut d = decoder("content_length int, s string, f double, flag string");
    let decoded = decode(
        &mut d,
        &[r#"{"Content-Length": "27", "s": 42, "f": "1.25", "flag": true}"#],
    );
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let b = &decoded.batch;
    let n = b
        .column_by_name("content_length")
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert_eq!(n.value(0), 27);
    assert_eq!(strings(b, "s").value(0), "42");
    assert_eq!(strings(b, "flag").value(0), "true");
}

#[test]
fn values_only_arrow_json_can_check_are_isolated() {
    let mut d = decoder("d date, x decimal(4,2), n int");
    let decoded = decode(
        &mut d,
        &[
            r#"{"d": "2018-08-13", "n": 1}"#,
            r#"{"d": "yesterday", "n": 2}"#,
            r#"{"x": 12.5, "n": 3}"#,
            r#"{"x": 123456.5, "n": 4}"#,
            r#"{"n": 5}"#,
        ],
    );
    let indices: Vec<usize> = decoded.rejected.iter().map(|r| r.index).collect();
    assert_eq!(indices, [1, 3]);
    let first = decoded.rejected[0].reason.to_string();
    assert!(
        first.starts_with("column `d` cannot hold the event's value")
            && first.contains("\"yesterday\""),
        "{first}"
    );
    let second = decoded.rejected[1].reason.to_string();
    assert!(
        second.starts_with("column `x` cannot hold") && second.contains("123456.5"),
        "{second}"
    );
    assert_eq!(decoded.offsets, [0, 2, 4]);
    assert_eq!(decoded.batch.num_rows(), 3);
    assert_eq!(
        strings(&decoded.batch, "raw_event").value(1),
        r#"{"x": 12.5, "n": 3}"#
    );
}

#[test]
fn events_that_are_not_json_objects_are_rejected() {
    let mut d = decoder("a string");
    let cases: &[(&[u8], &str)] = &[
        (b"", "not JSON: the event is empty"),
        (b"   ", "not JSON: the event is empty"),
        (b"not json", "not JSON"),
        (b"{\"a\": \"x\"", "not JSON"),
        (b"{\"a\": \"x\",}", "not JSON"),
        (b"{\"a\" \"x\"}", "not JSON: expected `:`"),
        (b"{\"a\": \"x\"} {\"a\": \"y\"}", "more data after the end"),
        (b"{\"b\": tru}", "invalid literal"),
        (b"{\"b\": 01}", "not JSON"),
        (b"{\"b\": \"tab\there\"}", "control character"),
        (b"{\"b\": \"\\x\"}", "invalid escape"),
        (b"[1, 2]", "a JSON array, not an object"),
        (b"\"text\"", "a JSON string, not an object"),
        (b"42", "a JSON number, not an object"),
        (b"null", "a JSON null, not an object"),
        (b"{\"a\": \"\xff\"}", "not valid UTF-8 (bad byte at 7)"),
    ];
    for (json, want) in cases {
        let events = [
            event(r#"{"a": "ok"}"#, 0),
            Event {
                json,
                timestamp_ms: 0,
                partition: 0,
                offset: 1,
            },
        ];
        let decoded = d.decode(&events).unwrap();
        let reason = only_reason(&decoded);
        assert!(
            reason.contains(want),
            "{:?}: {reason}",
            String::from_utf8_lossy(json)
        );
        assert_eq!(decoded.batch.num_rows(), 1);
    }
}

#[test]
fn duplicate_keys_for_one_column_are_rejected() {
    let mut d = decoder("host string");
    let decoded = decode(&mut d, &[r#"{"Host": "a", "host": "b"}"#]);
    let reason = only_reason(&decoded);
    assert!(
        reason.contains("key `host` names column `host` a second time"),
        "{reason}"
    );
}

#[test]
fn deep_nesting_is_refused_without_recursing() {
    // Run on a small stack: a recursive descent 10,000 levels deep would
    // overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let mut d = decoder("a string, tags array<string>");
            let deep_unknown = format!("{{\"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
            let deep_known = format!("{{\"tags\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
            let deep_object = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
            let decoded = decode(
                &mut d,
                &[&deep_unknown, &deep_known, &deep_object, r#"{"a": "ok"}"#],
            );
            let reasons: Vec<String> = decoded
                .rejected
                .iter()
                .map(|r| r.reason.to_string())
                .collect();
            (reasons, decoded.batch.num_rows())
        })
        .unwrap();
    let (reasons, rows) = handle.join().unwrap();
    assert_eq!(rows, 1);
    assert_eq!(reasons.len(), 3);
    for reason in reasons {
        assert_eq!(reason, "the event nests deeper than 64 levels");
    }
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    let limits = DecodeLimits {
        max_depth: 3,
        ..DecodeLimits::default()
    };
    let schema = Schema::parse("a array<array<string>>").unwrap();
    let mut d = TableDecoder::new("t", &schema, limits).unwrap();
    let decoded = decode(&mut d, &[r#"{"a": [["x"]]}"#, r#"{"a": [[["x"]]]}"#]);
    assert_eq!(decoded.batch.num_rows(), 1);
    assert_eq!(
        only_reason(&decoded),
        "the event nests deeper than 3 levels"
    );
}

#[test]
fn oversized_events_are_rejected_unread() {
    let limits = DecodeLimits {
        max_event_bytes: 64,
        ..DecodeLimits::default()
    };
    let mut d = TableDecoder::new("t", &Schema::parse("a string").unwrap(), limits).unwrap();
    let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(100));
    let decoded = decode(&mut d, &[&big, r#"{"a": "small"}"#]);
    assert_eq!(
        only_reason(&decoded),
        "the event is 109 bytes, over the limit of 64 bytes"
    );
    assert_eq!(decoded.batch.num_rows(), 1);
}

#[test]
fn large_batches_come_back_as_one_batch_in_order() {
    let mut d = decoder(REFERENCE_SCHEMA);
    let events: Vec<Event<'_>> = (0..20_000).map(|i| event(REFERENCE_EVENT, i)).collect();
    let decoded = d.decode(&events).unwrap();
    assert_eq!(decoded.batch.num_rows(), 20_000);
    assert_eq!(decoded.offsets.len(), 20_000);
    assert_eq!(decoded.offsets[19_999], 19_999);
    // The decoder is reusable and keeps nothing from the previous call.
    let again = decode(&mut d, &[REFERENCE_EVENT]);
    assert_eq!(again.batch.num_rows(), 1);
}

#[test]
fn an_all_rejected_batch_is_empty_but_well_formed() {
    let mut d = decoder(REFERENCE_SCHEMA);
    let decoded = decode(&mut d, &["nope", "[]"]);
    assert_eq!(decoded.batch.num_rows(), 0);
    assert_eq!(decoded.batch.schema(), *d.schema());
    assert_eq!(decoded.rejected.len(), 2);
}

#[test]
fn dead_letters_keep_64_kib_of_the_event_and_the_reason() {
    let huge = format!(
        "{{\"a\": \"{}é\"}}",
        "x".repeat(DEAD_LETTER_RAW_EVENT_BYTES - 8)
    );
    let e = event(&huge, 7);
    let reason = RejectReason::TooLarge {
        bytes: huge.len(),
        limit: 10,
    };
    let letter = DeadLetter::rejected(&e, &reason, "events_buy", "events");
    // `é` straddles the cut and is dropped whole.
    assert_eq!(letter.raw_event.len(), DEAD_LETTER_RAW_EVENT_BYTES - 1);
    assert!(huge.starts_with(&letter.raw_event));

    let invalid = DeadLetter::keep_raw_event(b"{\"a\": \"\xff\"}");
    assert_eq!(invalid, "{\"a\": \"\u{fffd}\"}");

    let mut plugin_failure = letter.clone();
    plugin_failure.plugin = Some("is_purchase".into());
    plugin_failure.plugin_version = Some("1.0.0".into());
    plugin_failure.reason = "trap: unreachable".into();
    plugin_failure.raw_event = "y".repeat(DEAD_LETTER_RAW_EVENT_BYTES + 10);

    let batch = dead_letter_batch(&[letter, plugin_failure]).unwrap();
    assert_eq!(batch.schema(), dead_letter_schema());
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "raw_event",
            "table",
            "plugin",
            "plugin_version",
            "reason",
            "topic",
            "partition",
            "offset",
            "timestamp"
        ]
    );
    assert_eq!(
        strings(&batch, "raw_event").value(1).len(),
        DEAD_LETTER_RAW_EVENT_BYTES
    );
    assert!(strings(&batch, "plugin").is_null(0));
    assert_eq!(strings(&batch, "plugin").value(1), "is_purchase");
    assert!(
        strings(&batch, "reason")
            .value(0)
            .contains("over the limit")
    );
    let ts = batch
        .column_by_name("timestamp")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert_eq!(ts.value(0), (1_534_126_580_000 + 7) * 1000);
}

#[test]
fn events_can_be_checked_before_any_table() {
    let limits = DecodeLimits::default();
    assert_eq!(check_event(REFERENCE_EVENT.as_bytes(), &limits), Ok(()));
    let deep = format!("{{\"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: [(&[u8], &str); 4] = [
        (b"[1]", "the event is a JSON array, not an object"),
        (
            b"{\"a\": }",
            "the event is not JSON: expected a JSON value at byte 6",
        ),
        (b"\xff", "the event is not valid UTF-8 (bad byte at 0)"),
        (deep.as_bytes(), "the event nests deeper than 64 levels"),
    ];
    for (json, want) in cases {
        assert_eq!(check_event(json, &limits).unwrap_err().to_string(), want);
    }
}

#[test]
fn hive_type_names_invert_the_arrow_mapping() {
    use crate::table::arrow_schema::{hive_type_name, table_schema};
    let text = "b boolean, t tinyint, s smallint, i int, g bigint, f float, d double, \
                m decimal(10,2), st string, bi binary, dt date, ts timestamp, a array<string>, \
                mp map<string,bigint>, u struct<name:string, tags:array<int>>";
    let schema = crate::schema::Schema::parse(text).unwrap();
    let arrow = table_schema(&schema);
    for column in &schema.columns {
        let field = arrow.field_with_name(&column.name).unwrap();
        assert_eq!(
            hive_type_name(field.data_type()),
            column.ty.to_string(),
            "{}",
            column.name
        );
    }
    assert_eq!(
        hive_type_name(arrow.field_with_name("timestamp").unwrap().data_type()),
        "timestamp"
    );
}

#[test]
fn unparsable_values_are_named_by_their_whole_path() {
    let mut d = decoder(
        "u struct<inner:struct<d:date>>, tags array<decimal(4,2)>, m map<date,int>, b binary",
    );
    let cases: &[(&str, &str)] = &[
        (
            r#"{"u": {"inner": {"d": "yesterday"}}}"#,
            r#"column `u.inner.d` cannot hold the event's value: `"yesterday"` is not a valid date"#,
        ),
        (
            r#"{"tags": [1.5, 123456.5]}"#,
            "column `tags[1]` cannot hold the event's value: `123456.5` is not a valid decimal(4,2)",
        ),
        (
            r#"{"m": {"2018-08-13": 1, "nope": 2}}"#,
            r#"column `m["nope"]` cannot hold the event's value: `"nope"` is not a valid date"#,
        ),
        (
            r#"{"b": "cafg"}"#,
            r#"column `b` cannot hold the event's value: `"cafg"` is not a valid binary: `g` at 3 is not a hex digit"#,
        ),
    ];
    for (bad, want) in cases {
        let decoded = decode(&mut d, &[r#"{"b": "00"}"#, bad]);
        let reason = only_reason(&decoded);
        assert!(reason.starts_with(want), "{bad}: {reason}");
        assert_eq!(decoded.batch.num_rows(), 1, "{bad}");
    }
}

#[test]
fn a_misfit_after_an_unparsable_value_is_the_reason() {
    // The unparsable date is read first, but a misfit or a syntax error
    // later in the event says more.
    let mut d = decoder("d date, n int");
    let decoded = decode(&mut d, &[r#"{"d": "yesterday", "n": "abc"}"#]);
    assert_eq!(
        only_reason(&decoded),
        "column `n` is int, but the event has `\"abc\"`"
    );
    let decoded = decode(&mut d, &[r#"{"d": "yesterday", "n": 1"#]);
    assert!(only_reason(&decoded).contains("not JSON"));
}

#[test]
fn a_row_refused_late_leaves_nothing_behind() {
    // Four columns written, nested ones half way, before the fifth refuses.
    let mut d = decoder(
        "a string, b array<struct<x:int>>, c map<string,array<int>>, e struct<f:string>, n int",
    );
    let good = r#"{"a": "1", "b": [{"x": 1}], "c": {"k": [1]}, "e": {"f": "g"}, "n": 1}"#;
    let bad =
        r#"{"a": "2", "b": [{"x": 2}, {"x": 3}], "c": {"k": [2, 3]}, "e": {"f": "h"}, "n": "no"}"#;
    let decoded = decode(&mut d, &[good, bad, good]);
    assert_eq!(decoded.rejected.len(), 1);
    let again = decode(&mut d, &[good, good]);
    // The declared columns; `timestamp` follows the Kafka offsets.
    assert_eq!(decoded.batch.columns()[2..], again.batch.columns()[2..]);
}

#[test]
fn parsed_values_are_what_arrow_json_makes_of_them() {
    let mut d = decoder("k binary, l date, m timestamp, h decimal(12,2), f float");
    let decoded = decode(
        &mut d,
        &[
            r#"{"k": "cafe0", "l": "1970-01-02", "m": "1970-01-01T00:00:01.5+01:00", "h": "12.34", "f": 1e39}"#,
            r#"{"m": 1.9}"#,
        ],
    );
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let b = &decoded.batch;
    let k = b.column_by_name("k").unwrap().as_binary::<i32>();
    assert_eq!(k.value(0), [0xca, 0xfe, 0x00]);
    let l = b.column_by_name("l").unwrap();
    assert_eq!(l.as_primitive::<arrow::datatypes::Date32Type>().value(0), 1);
    let m = b.column_by_name("m").unwrap();
    let m = m.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    assert_eq!((m.value(0), m.value(1)), (-3_598_500_000, 1));
    let h = b.column_by_name("h").unwrap();
    assert_eq!(
        h.as_primitive::<arrow::datatypes::Decimal128Type>()
            .value(0),
        1234
    );
    let f = b.column_by_name("f").unwrap();
    assert_eq!(
        f.as_primitive::<arrow::datatypes::Float32Type>().value(0),
        f32::INFINITY
    );
}
