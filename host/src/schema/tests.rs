use super::*;

#[test]
fn parses_the_reference_buy_schema() {
    let s = Schema::parse(
        "Accept string, Host string, user_agent string, event_type string, \
         user_info struct<session_datetime:string, inventory:array<string>>",
    )
    .unwrap();
    assert_eq!(s.columns.len(), 5);
    assert_eq!(s.columns[0].name, "accept");
    assert_eq!(
        s.column("user_info").unwrap().ty.to_string(),
        "struct<session_datetime:string, inventory:array<string>>"
    );
    // Display is parseable again and stable.
    assert_eq!(Schema::parse(&s.to_string()).unwrap(), s);
}

#[test]
fn parses_every_type() {
    let s = Schema::parse(
        "a boolean, b tinyint, c smallint, d int, e bigint, f float, g double, \
         h decimal(12,2), i string, j varchar(10), k binary, l date, m timestamp, \
         n array<int>, o map<string,bigint>, `p` struct<x:int,y:array<struct<z:string>>> comment 'nested'",
    )
    .unwrap();
    assert_eq!(s.columns.len(), 16);
    assert_eq!(
        s.column("h").unwrap().ty,
        HiveType::Decimal {
            precision: 12,
            scale: 2
        }
    );
    assert_eq!(s.column("j").unwrap().ty, HiveType::String);
}

#[test]
fn errors_say_what_and_where() {
    let cases = [
        ("", "no columns"),
        ("host", "expected a type for `host`"),
        ("host strin", "unknown type `strin`"),
        ("a array<string", "expected `>` closing `array<`"),
        ("a struct<x string>", "expected `:` after field name `x`"),
        ("a string, a int", "declared twice"),
        ("raw_event string", "reserved"),
        ("timestamp bigint", "reserved"),
        ("a string b int", "unexpected `b`"),
        ("1a string", "not a valid column name"),
        ("a decimal(40,2)", "out of range"),
        ("a struct<>", "struct `a` has no fields"),
    ];
    for (text, want) in cases {
        let err = Schema::parse(text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn evolution_allows_added_columns_only() {
    let old = Schema::parse("a string, s struct<x:int>").unwrap();
    let added = Schema::parse("a string, s struct<x:int, y:string>, b int").unwrap();
    assert_eq!(old.check_evolution(&added), Ok(()));

    let changed = Schema::parse("a int, s struct<x:int>").unwrap();
    let err = old.check_evolution(&changed).unwrap_err().to_string();
    assert!(
        err.contains("column `a` changes type from `string` to `int`"),
        "{err}"
    );

    let nested = Schema::parse("a string, s struct<x:bigint>").unwrap();
    let err = old.check_evolution(&nested).unwrap_err().to_string();
    assert!(err.contains("`s.x`"), "{err}");

    let removed = Schema::parse("s struct<x:int>").unwrap();
    assert!(matches!(
        old.check_evolution(&removed),
        Err(EvolutionError::Removed { .. })
    ));
}
