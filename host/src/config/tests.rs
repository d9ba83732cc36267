use super::*;

#[test]
fn no_file_means_the_reference_pipelines() {
    let c = Config::default();
    c.check().unwrap();
    assert_eq!(c.source.brokers, "127.0.0.1:9092");
    assert_eq!(c.source.topics, ["events"]);
    let names: Vec<&str> = c.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["game_events", "is_purchase"]);
    assert_eq!(
        c.pipelines[1].table.as_ref().unwrap().name,
        "sword_purchases"
    );
    assert_eq!(c.flush_interval(), Duration::from_secs(10));
    assert_eq!(
        c.plugin_path("is_purchase"),
        PathBuf::from("./data/plugins/is_purchase.wasm")
    );
    assert_eq!(c.plugin_path("/x/y.wasm"), PathBuf::from("/x/y.wasm"));
}

#[test]
fn the_example_file_is_the_defaults_spelled_out() {
    let example: Config = toml::from_str(EXAMPLE_CONFIG).unwrap();
    example.check().unwrap();
    let default = Config::default();
    assert_eq!(format!("{example:?}"), format!("{default:?}"));
}

fn load(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path)
}

#[test]
fn mistakes_are_named() {
    let cases = [
        ("[source]\nbroker = \"x\"", "unknown field `broker`"),
        ("plugin_dri = \"x\"", "unknown field `plugin_dri`"),
        ("[flush]\nrows = \"many\"", "invalid type"),
        (
            "[[pipeline]]\nname = \"Bad\"\nplugins = [\"x\"]",
            "must be lower snake case",
        ),
        (
            "[[pipeline]]\nname = \"a\"\nplugins = []\ntable = { name = \"t\", schema = \"x strin\" }",
            "unknown type `strin`",
        ),
        (
            "[[pipeline]]\nname = \"a\"\nplugins = [\"p\"]\ntable = { name = \"t\", schema = \"x string\" }\n\
             [[pipeline]]\nname = \"b\"\nplugins = [\"p\"]\ntable = { name = \"t\", schema = \"x string\" }",
            "a table belongs to one pipeline",
        ),
        (
            "[[pipeline]]\nname = \"a\"\nplugins = []",
            "has no plugins and no table",
        ),
        ("[flush]\nseconds = 0", "must be positive"),
    ];
    for (text, want) in cases {
        let err = load(text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let err = Config::load(Path::new("/no/such/sluice.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read config `/no/such/sluice.toml`"),
        "{err}"
    );
}
