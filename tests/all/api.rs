//! The game API end to end with real processes: `sluice broker`, `sluice
//! api` on a real socket, requests from reqwest and the reference's `ab`,
//! and every event read back from Kafka with a real consumer.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use reqwest::blocking::{Client, Response};
use serde_json::Value;

use crate::support::*;

const PASSWORD: &str = "pw-very-secret-1";

/// `sluice broker` and `sluice api` on free ports, in one scratch directory.
struct Stack {
    dir: tempfile::TempDir,
    broker_port: u16,
    api_port: u16,
    broker: Option<Sluice>,
    api: Option<Sluice>,
    api_args: Vec<String>,
}

impl Stack {
    fn start(api_args: &[&str]) -> Stack {
        let mut stack = Stack {
            dir: scratch_dir(),
            broker_port: free_port(),
            api_port: free_port(),
            broker: None,
            api: None,
            api_args: api_args.iter().map(|s| s.to_string()).collect(),
        };
        stack.start_broker("broker");
        stack.start_api("api");
        stack
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start_broker(&mut self, log: &'static str) {
        let brokers = self.brokers();
        let data = self.data();
        self.broker = Some(Sluice::start(
            log,
            &[
                "broker",
                "--broker-listen",
                &brokers,
                "--data",
                data.to_str().unwrap(),
            ],
            self.dir.path(),
        ));
        wait_for_port(self.broker_port, "the broker");
        wait_for_log(
            &self.dir.path().join(format!("{log}.log")),
            "sluice broker listening",
        );
    }

    fn start_api(&mut self, log: &'static str) {
        let listen = format!("127.0.0.1:{}", self.api_port);
        let brokers = self.brokers();
        let data = self.data();
        let mut args = vec![
            "api",
            "--listen",
            &listen,
            "--brokers",
            &brokers,
            "--data",
            data.to_str().unwrap(),
        ];
        args.extend(self.api_args.iter().map(String::as_str));
        // With the access log on, to check what reaches it.
        let file = std::fs::File::create(self.dir.path().join(format!("{log}.log"))).unwrap();
        let child = Command::new(sluice_bin())
            .args(&args)
            .current_dir(self.dir.path())
            .env("SLUICE_LOG", "info,sluice::access=debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        self.api = Some(Sluice { child });
        wait_for_port(self.api_port, "the API");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    fn ingest_key(&self) -> String {
        std::fs::read_to_string(self.data().join("ingest-key"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data().join("admin-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }
}

fn client() -> Client {
    Client::builder()
        .user_agent("sluice-tests")
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn get(url: &str) -> Response {
    client().get(url).send().unwrap()
}

fn with_session(url: &str, session: &str) -> Response {
    client()
        .get(url)
        .header("Cookie", format!("session_id={session}"))
        .send()
        .unwrap()
}

fn event_id(r: &Response) -> Option<String> {
    r.headers()
        .get("x-event-id")
        .map(|v| v.to_str().unwrap().to_string())
}

/// (status, event id, body)
fn call(r: Response) -> (u16, Option<String>, String) {
    let status = r.status().as_u16();
    let id = event_id(&r);
    (status, id, r.text().unwrap())
}

/// The session id a signup or login set, with the cookie's attributes checked.
fn session_from(r: &Response) -> String {
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let id = cookie
        .strip_prefix("session_id=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(id.len(), 64, "256 random bits, hex: {id}");
    id.to_string()
}

/// Reads the whole topic with a real consumer until `done` holds for the
/// events read so far (by event id), or panics after a minute.
fn read_events(
    brokers: &str,
    done: impl Fn(&HashMap<String, Value>) -> bool,
) -> HashMap<String, Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("api-test-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..sluice::broker::DEFAULT_TOPIC_PARTITIONS {
        tpl.add_partition_offset("events", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut events = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&events) {
        assert!(
            Instant::now() < deadline,
            "timed out reading the topic; {} events read",
            events.len()
        );
        // Errors (a broker that just came back) are transient: poll on.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let raw = std::str::from_utf8(m.payload().unwrap()).unwrap();
            let event: Value = serde_json::from_str(raw).unwrap();
            let id = event["event_id"].as_str().unwrap().to_string();
            events.insert(id, event);
        }
    }
    events
}

fn ab(args: &[&str]) -> Option<String> {
    match Command::new("ab").args(args).output() {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "ab {args:?} failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(stdout)
        }
        Err(e) => {
            eprintln!("skipped the ab part: cannot run ab ({e}); apt-get install apache2-utils");
            None
        }
    }
}

#[test]
fn every_reference_route_replies_and_logs_its_event_in_kafka() {
    let stack = Stack::start(&[]);
    let mut logged: HashMap<String, &str> = HashMap::new();

    for (path, reply, event_type) in [
        ("/", "This is the default response!\n", "default"),
        ("/purchase_a_sword", "Sword Purchased!\n", "purchase_sword"),
        (
            "/purchase_a_shield",
            "Shield Purchased!\n",
            "purchase_shield",
        ),
        ("/purchase_a_knife", "Knife Purchased!\n", "purchase_knife"),
        (
            "/purchase_a_potion",
            "Potion Purchased!\n",
            "purchase_potion",
        ),
        ("/join_a_guild", "You Have Joined A Guild!\n", "join_guild"),
        ("/join_guild", "Guild Joined!\n", "join_guild"),
    ] {
        let r = client()
            .get(stack.url(path))
            .header("Host", "user1.comcast.com")
            .header("Authorization", "Bearer not-for-events")
            .send()
            .unwrap();
        let (status, id, body) = call(r);
        assert_eq!((status, body.as_str()), (200, reply), "{path}");
        logged.insert(id.expect("an event id"), event_type);
    }

    // The seed flow: sign up, then buy with the cookie, as the reference's
    // ab loop did.
    let r = get(&stack.url(&format!("/signup?username=user1&password={PASSWORD}")));
    let session = session_from(&r);
    let (status, id, body) = call(r);
    assert_eq!(
        (status, body.as_str()),
        (200, "Signup successful! Welcome user1.\n")
    );
    logged.insert(id.unwrap(), "signup");
    let (_, id, body) = call(get(
        &stack.url(&format!("/signup?username=user1&password={PASSWORD}"))
    ));
    assert_eq!(body, "Signup Failed! This username already exists.\n");
    assert_eq!(id, None);

    let mut ab_buys = 0;
    if let Some(out) = ab(&[
        "-n",
        "5",
        "-C",
        &format!("session_id={session}"),
        "-H",
        "Host: user1.comcast.com",
        &stack.url("/buy/sword"),
    ]) {
        assert!(out.contains("Complete requests:      5"), "{out}");
        assert!(out.contains("Failed requests:        0"), "{out}");
        assert!(!out.contains("Non-2xx"), "{out}");
        ab_buys = 5;
    }
    let (_, id, body) = call(with_session(
        &stack.url("/buy/knife?quality=rare"),
        &session,
    ));
    assert_eq!(body, "Bought a knife!\n");
    let knife = id.unwrap();
    logged.insert(knife.clone(), "buy_item");
    let (status, id, body) = call(with_session(&stack.url("/buy/banana"), &session));
    assert_eq!(
        (status, id, body.as_str()),
        (200, None, "The store does not have that item in stock.")
    );
    let (_, id, body) = call(with_session(
        &stack.url("/join_guild/Knights%20of%20Zion"),
        &session,
    ));
    assert_eq!(body, "Joined a Guild!\n");
    let guild = id.unwrap();
    logged.insert(guild.clone(), "join_guild");

    // The reference's game errors keep their 200 replies.
    for (path, session, reply) in [
        (
            "/buy/sword",
            None,
            "No active session found! Please login.\n",
        ),
        (
            "/buy/sword",
            Some("68231"),
            "Invalid session! Please login.\n",
        ),
        (
            "/join_guild/x",
            None,
            "No active session found! Please login.\n",
        ),
        ("/logout", None, "No active session found! Please login.\n"),
        (
            "/login?username=user1",
            None,
            "Login Failed! Please provide a password.\n",
        ),
        (
            "/login?password=x",
            None,
            "Login Failed! Please provide a username.\n",
        ),
        (
            "/signup?password=x",
            None,
            "Signup Failed! Please provide a username.\n",
        ),
        (
            "/signup?username=x",
            None,
            "Signup Failed! Please provide a password.\n",
        ),
        (
            "/login?username=user1&password=wrong",
            None,
            "Login Failed! This password is incorrect.\n",
        ),
        (
            "/login?username=user9&password=x",
            None,
            "Login Failed! This username does not exist. Please signup.\n",
        ),
    ] {
        let r = match session {
            Some(s) => with_session(&stack.url(path), s),
            None => get(&stack.url(path)),
        };
        let (status, id, body) = call(r);
        assert_eq!((status, id, body.as_str()), (200, None, reply), "{path}");
    }

    // A POSTed form keeps the password out of the URL.
    let r = client()
        .post(stack.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username=user1&password={PASSWORD}"))
        .send()
        .unwrap();
    let second = session_from(&r);
    let (_, id, body) = call(r);
    assert_eq!(body, "Login successful! Welcome user1.\n");
    let login = id.unwrap();
    logged.insert(login.clone(), "login");
    let r = with_session(&stack.url("/logout"), &second);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "logout clears the cookie"
    );
    let (_, id, body) = call(r);
    assert_eq!(body, "Logout successful! Goodbye user1.\n");
    logged.insert(id.unwrap(), "logout");
    let (_, _, body) = call(with_session(&stack.url("/buy/sword"), &second));
    assert_eq!(body, "Invalid session! Please login.\n");

    // /status is the admin's.
    assert_eq!(get(&stack.url("/status")).status().as_u16(), 401);
    let status = client()
        .get(stack.url("/status"))
        .bearer_auth(stack.admin_token())
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        status.starts_with("Registered Users: 1\n\tuser1 : {"),
        "{status}"
    );
    assert!(
        status.contains(&format!("\t{}… : user1 (active)", &session[..8])),
        "{status}"
    );
    assert!(
        !status.contains(PASSWORD) && !status.contains("argon2"),
        "{status}"
    );

    let events = read_events(&stack.brokers(), |events| {
        logged.keys().all(|id| events.contains_key(id))
            && events
                .values()
                .filter(|e| e["item_type"] == "sword")
                .count()
                >= ab_buys
    });
    for (id, event_type) in &logged {
        assert_eq!(events[id]["event_type"], *event_type, "{id}");
        assert!(events[id]["server_time"].as_str().unwrap().ends_with('Z'));
    }
    for event in events.values() {
        let raw = event.to_string();
        assert!(!raw.contains(PASSWORD), "a password in an event: {raw}");
        assert!(!raw.contains(&session), "a session id in an event: {raw}");
        assert!(
            !raw.contains("not-for-events"),
            "Authorization in an event: {raw}"
        );
        assert!(event.get("Cookie").is_none(), "{raw}");
    }
    let sword = events
        .values()
        .find(|e| e["event_type"] == "purchase_sword")
        .unwrap();
    assert_eq!(sword["Host"], "user1.comcast.com");
    assert!(sword["User-Agent"].is_string());
    assert_eq!(events[&knife]["item_quality"], "rare");
    assert_eq!(events[&knife]["description"], "very sharp knife");
    assert_eq!(events[&knife]["username"], "user1");
    let inventory = events[&knife]["inventory"].as_array().unwrap();
    assert_eq!(inventory.len(), ab_buys + 1, "{inventory:?}");
    assert_eq!(inventory.last().unwrap(), "knife");
    // The counts beside the list (which an event caps at 100 items).
    assert_eq!(
        events[&knife]["inventory_counts"],
        if ab_buys > 0 {
            serde_json::json!({"sword": ab_buys, "knife": 1})
        } else {
            serde_json::json!({"knife": 1})
        }
    );
    if ab_buys > 0 {
        let ab_event = events
            .values()
            .find(|e| e["item_type"] == "sword" && e["User-Agent"] == "ApacheBench/2.3")
            .expect("ab's buys in Kafka");
        assert_eq!(ab_event["Host"], "user1.comcast.com");
        assert_eq!(ab_event["item_quality"], "common");
    }
    assert_eq!(events[&guild]["guild_name"], "Knights of Zion");
    assert_eq!(
        events[&login]["user_info"]["inventory"]
            .as_array()
            .unwrap()
            .len(),
        ab_buys + 1
    );
    assert!(events[&login]["user_info"].get("password").is_none());

    let log = stack.log("api");
    assert!(
        log.contains("sluice::access")
            && log.contains(r#""/signup""#)
            && log.contains(r#""/login""#),
        "the access log is on:\n{log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the password reached the log:\n{log}"
    );
    assert!(
        !log.contains(&session),
        "a session id reached the log:\n{log}"
    );
}

#[test]
fn bad_input_gets_400_with_what_to_fix() {
    let stack = Stack::start(&[]);
    let r = get(&stack.url("/signup?username=user1&password=pw"));
    let session = session_from(&r);
    for (path, needle) in [
        (
            "/signup?username=a%20b&password=pw",
            "a username may only contain",
        ),
        (
            &format!("/signup?username={}&password=pw", "u".repeat(33)),
            "1 to 32 characters",
        ),
        (
            "/signup?username=user2&password=",
            "a password must be 1 to 128 bytes",
        ),
        (
            &format!("/login?username=user1&password={}", "p".repeat(129)),
            "1 to 128 bytes",
        ),
        (
            "/login?username=%3Cscript%3E&password=x",
            "a username may only contain",
        ),
        // Malformed is a 400 even when the other field is missing (found
        // by schemathesis: the reference's "Please provide" came first).
        (
            "/login?username=%3Cscript%3E",
            "a username may only contain",
        ),
        ("/signup?password=", "a password must be 1 to 128 bytes"),
        ("/buy/sw%3Bord", "an item name may only contain"),
        (
            "/buy/sword?quality=shiny",
            "no item quality `shiny`; qualities: common",
        ),
        ("/join_guild/a%2Fb", "a guild name may only contain"),
    ] {
        let (status, id, body) = call(with_session(&stack.url(path), &session));
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(id, None, "{path}");
        assert!(body.contains(needle), "{path}: {body}");
    }
    let token = stack.admin_token();
    let r = client()
        .get(stack.url("/events/tail?from=yesterday"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("from=beginning"));

    // Header and body caps.
    let r = client()
        .get(stack.url("/purchase_a_sword"))
        .header("X-Big", "x".repeat(20_000))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 431);
    let r = client()
        .post(stack.url("/events"))
        .bearer_auth(stack.ingest_key())
        .body(format!(
            "{{\"event_type\":\"x\",\"pad\":\"{}\"}}",
            "x".repeat(2 << 20)
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let r = client()
        .post(stack.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username=user1&password={}", "p".repeat(8000)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

#[test]
fn post_events_takes_json_and_ndjson_and_reports_each_line() {
    let stack = Stack::start(&[]);
    let key = stack.ingest_key();
    let r = client()
        .post(stack.url("/events"))
        .bearer_auth(&key)
        .header("Host", "user2.att.com")
        .header("Cookie", "session_id=never-logged")
        .body("{\n  \"event_type\": \"level_up\",\n  \"level\": 7\n}\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let one: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(one["accepted"], 1);
    let single = one["results"][0]["event_id"].as_str().unwrap().to_string();

    let body = [
        r#"{"event_type": "a", "n": 1}"#,
        "not json",
        r#"{"n": 2}"#,
        r#"["event_type"]"#,
        "",
        r#"{"event_type": "b", "event_id": "client-chosen-id"}"#,
    ]
    .join("\n");
    let r = client()
        .post(stack.url("/events"))
        .bearer_auth(&key)
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let reply: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(reply["accepted"], 2, "{reply}");
    assert_eq!(reply["rejected"], 3, "{reply}");
    let results = reply["results"].as_array().unwrap();
    let lines: Vec<u64> = results
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 2, 3, 4, 6]);
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("not JSON")
    );
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("no `event_type`")
    );
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap()
            .contains("not a JSON object")
    );
    // A client's own event_id is kept aside, never used as the event's id.
    let chosen = results[4]["event_id"].as_str().unwrap().to_string();
    assert_ne!(chosen, "client-chosen-id");
    let first = results[0]["event_id"].as_str().unwrap().to_string();

    let r = client()
        .post(stack.url("/events"))
        .bearer_auth(&key)
        .body("{\"nope\": 1}\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let events = read_events(&stack.brokers(), |e| {
        [&single, &first, &chosen]
            .iter()
            .all(|id| e.contains_key(*id))
    });
    assert_eq!(events[&single]["level"], 7);
    assert_eq!(events[&single]["Host"], "user2.att.com");
    assert_eq!(events[&single]["source"], "ingest");
    assert!(events[&single].get("Cookie").is_none());
    assert!(events[&single].get("Authorization").is_none());
    assert_eq!(events[&first]["n"], 1);
    assert_eq!(events[&chosen]["event_type"], "b");
    assert_eq!(events[&chosen]["client_event_id"], "client-chosen-id");
}

#[test]
fn post_events_needs_the_ingest_key_and_caps_what_a_client_sends() {
    let stack = Stack::start(&["--ingest-rate", "1"]);
    let post = |key: Option<&str>, body: String| {
        let mut request = client().post(stack.url("/events")).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        call(request.send().unwrap())
    };
    let event = "{\"event_type\":\"buy_item\",\"username\":\"user1\"}\n";

    // Without the key, or with a wrong one: 401 before the body is read.
    for key in [None, Some("wrong")] {
        let (status, _, body) = post(key, event.into());
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("ingest key"), "{body}");
    }
    // More events than a request may carry: 413, nothing logged.
    let key = stack.ingest_key();
    let (status, _, body) = post(Some(&key), "x\n".repeat(1_001));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("at most 1000"), "{body}");
    // A body of bad lines gets a reply of the same order, not 20 times it.
    let (status, _, body) = post(Some(&key), "x\n".repeat(1_000));
    assert_eq!(status, 400);
    assert!(body.len() < 100_000, "{} bytes", body.len());
    // Headers merged into every event past the bytes cap: 413.
    let r = client()
        .post(stack.url("/events"))
        .bearer_auth(&key)
        .header("X-Pad", "p".repeat(12_000))
        .body(event.repeat(1_000))
        .send()
        .unwrap();
    let (status, _, body) = call(r);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("nothing was logged"), "{body}");
    // The admin token passes too; then the client is over its rate (1 a
    // second, a burst of one full request): 429 with Retry-After.
    let (status, _, body) = post(Some(&stack.admin_token()), event.repeat(1_000));
    assert_eq!(status, 200, "{body}");
    let r = client()
        .post(stack.url("/events"))
        .bearer_auth(&key)
        .body(event.repeat(10))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
}

#[test]
fn cross_site_requests_are_refused_and_status_counts_sessions() {
    let stack = Stack::start(&[]);
    let r = get(&stack.url("/signup?username=user1&password=pw"));
    let session = session_from(&r);
    // A cross-site page cannot make the player's browser buy.
    for (name, value) in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "https://evil.example"),
    ] {
        let r = client()
            .get(stack.url("/buy/sword"))
            .header("Cookie", format!("session_id={session}"))
            .header(name, value)
            .send()
            .unwrap();
        let (status, id, body) = call(r);
        assert_eq!((status, id), (403, None), "{name}: {body}");
    }
    // The site's own pages, and curl, still can.
    let r = client()
        .get(stack.url("/buy/sword"))
        .header("Cookie", format!("session_id={session}"))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        call(with_session(&stack.url("/buy/sword"), &session)).0,
        200
    );
    // Over TLS (a proxy says so) the cookie is Secure.
    let r = client()
        .get(stack.url("/login?username=user1&password=pw"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.ends_with("; Secure"), "{cookie}");

    // /status counts sessions and shows no whole session id.
    assert_eq!(get(&stack.url("/status")).status().as_u16(), 401);
    let r = client()
        .get(stack.url("/status"))
        .bearer_auth(stack.admin_token())
        .send()
        .unwrap();
    let text = r.text().unwrap();
    assert!(text.contains("Registered Users: 1"), "{text}");
    assert!(
        text.contains("Game Sessions: 2 active, 0 inactive"),
        "{text}"
    );
    assert!(!text.contains(&session), "{text}");
    assert!(text.contains(&format!("{}…", &session[..8])), "{text}");
}

#[test]
fn failed_logins_are_rated_per_player() {
    let stack = Stack::start(&[]);
    assert_eq!(
        get(&stack.url("/signup?username=user1&password=pw"))
            .status()
            .as_u16(),
        200
    );
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _, body) = call(get(&stack.url("/login?username=user1&password=nope")));
        statuses.push(status);
        if status == 429 {
            assert!(body.contains("failed logins"), "{body}");
        }
    }
    assert_eq!(&statuses[..10], [200; 10], "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
}

#[test]
fn sessions_expire_and_the_game_survives_a_restart() {
    let mut stack = Stack::start(&["--session-ttl", "2s"]);
    let r = get(&stack.url("/signup?username=user1&password=pw"));
    let session = session_from(&r);
    let (_, _, body) = call(with_session(&stack.url("/buy/shield"), &session));
    assert_eq!(body, "Bought a shield!\n");

    // Restart the API: the state is in ./data.
    stack.api.take().unwrap().terminate();
    stack.start_api("api-2");
    let (_, _, body) = call(with_session(&stack.url("/buy/potion"), &session));
    assert_eq!(body, "Bought a potion!\n");

    std::thread::sleep(Duration::from_millis(3500));
    let (status, id, body) = call(with_session(&stack.url("/buy/sword"), &session));
    assert_eq!(
        (status, id, body.as_str()),
        (200, None, "Expired user session! Please login.\n")
    );

    let r = get(&stack.url("/login?username=user1&password=pw"));
    let fresh = session_from(&r);
    let (_, id, _) = call(with_session(&stack.url("/buy/sword"), &fresh));
    let id = id.unwrap();
    let events = read_events(&stack.brokers(), |e| e.contains_key(&id));
    assert_eq!(
        events[&id]["inventory"],
        serde_json::json!(["shield", "potion", "sword"])
    );
}

#[test]
fn tail_streams_the_topic_as_server_sent_events() {
    use std::io::{BufRead, BufReader};
    let stack = Stack::start(&[]);
    let (_, first, _) = call(get(&stack.url("/purchase_a_sword")));
    let first = first.unwrap();
    let (_, _, _) = call(get(&stack.url("/")));
    assert_eq!(get(&stack.url("/events/tail")).status().as_u16(), 401);

    let r = client()
        .get(stack.url("/events/tail?from=beginning&event_type=purchase_sword"))
        .bearer_auth(stack.admin_token())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut lines = BufReader::new(r).lines();
    let mut seen = Vec::new();
    // The earlier event from the beginning, then one produced while tailing.
    let (_, second, _) = call(get(&stack.url("/purchase_a_sword")));
    let second = second.unwrap();
    while seen.len() < 2 {
        let line = lines.next().expect("the stream goes on").unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let event: Value = serde_json::from_str(data).unwrap();
            assert_eq!(event["event_type"], "purchase_sword", "filtered: {event}");
            seen.push(event["event_id"].as_str().unwrap().to_string());
        }
    }
    // Partitions have no order between them.
    seen.sort();
    let mut want = [first, second];
    want.sort();
    assert_eq!(seen, want);

    // `sluice tail` prints the same events, one JSON line each.
    let (ok, stdout, stderr) = sluice(
        &[
            "tail",
            "--url",
            &stack.url(""),
            "--from",
            "beginning",
            "--event-type",
            "purchase_sword",
            "-n",
            "2",
            "--data",
            stack.data().to_str().unwrap(),
        ],
        stack.dir.path(),
    );
    assert!(ok, "{stderr}");
    let mut printed: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    printed.sort();
    assert_eq!(printed, want);
    let (ok, _, stderr) = sluice(
        &["tail", "--url", &stack.url(""), "--token", "wrong"],
        stack.dir.path(),
    );
    assert!(!ok && stderr.contains("401"), "{stderr}");
}

/// Kills `sluice broker` (-9) under load: requests get a 503 that says
/// Kafka did not acknowledge them, and every event the API acknowledged is
/// in the topic once the broker is back.
///
/// The API is stopped before the broker restarts. Its producer had messages
/// time out, so librdkafka bumps the idempotent producer's epoch when it
/// reconnects, and tansu 0.6 panics on that produce
/// (`idempotent_message_check`: "more or less than one row") and stops
/// serving metadata. An API that rides through a broker restart is tested
/// against librdkafka's mock cluster instead (`api::tests` in the host).
#[test]
fn kafka_down_is_a_503_and_no_acknowledged_event_is_lost() {
    let mut stack = Stack::start(&["--delivery-timeout", "2s"]);
    let url = stack.url("/purchase_a_sword");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = client();
                let (mut acked, mut unavailable) = (Vec::new(), Vec::new());
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    match client.get(&url).header("X-Seq", format!("{t}-{n}")).send() {
                        Ok(r) if r.status().as_u16() == 200 => acked.push(event_id(&r).unwrap()),
                        Ok(r) if r.status().as_u16() == 503 => unavailable.push(r.text().unwrap()),
                        Ok(r) => panic!("unexpected {}: {}", r.status(), r.text().unwrap()),
                        Err(e) => panic!("the API itself failed: {e}"),
                    }
                }
                (acked, unavailable)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    stack.broker.take().unwrap().kill();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut unavailable) = (Vec::new(), Vec::new());
    for s in senders {
        let (a, u) = s.join().unwrap();
        acked.extend(a);
        unavailable.extend(u);
    }
    stack.api.take().unwrap().terminate();
    eprintln!(
        "{} acknowledged, {} refused with 503",
        acked.len(),
        unavailable.len()
    );
    assert!(!unavailable.is_empty(), "no 503 while Kafka was down");
    assert!(
        unavailable[0].contains("did not acknowledge the event")
            && unavailable[0].contains("retry later"),
        "{}",
        unavailable[0]
    );
    assert!(
        acked.len() > 10,
        "too few requests acknowledged: {}",
        acked.len()
    );

    stack.start_broker("broker-2");
    let acked: HashSet<String> = acked.into_iter().collect();
    let events = read_events(&stack.brokers(), |e| {
        acked.iter().all(|id| e.contains_key(id))
    });
    eprintln!("{} events in the topic", events.len());
    stack.start_api("api-2");
    let (status, _, body) = call(get(&url));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn sluice_load_plays_the_game_and_reports_latencies_by_route() {
    let stack = Stack::start(&[]);
    let (ok, stdout, stderr) = sluice(
        &[
            "load",
            "--url",
            &stack.url(""),
            "--players",
            "3",
            "--rate",
            "40",
            "--duration",
            "2s",
        ],
        stack.dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("3 of 3 players logged in"), "{stderr}");
    assert!(stdout.contains(" 0 errors"), "{stdout}");
    for route in ["/signup", "/login", "/buy/{item}"] {
        assert!(stdout.contains(route), "{route} in {stdout}");
    }
    assert!(stdout.contains("p99 ms"), "{stdout}");
}

/// `sluice serve` in `dir` with a config holding `source` (TOML for the
/// `[source]` table, or nothing), the test plugins and a lake in `dir`,
/// its broker (if it starts one) and HTTP on free ports: (process, broker
/// port, HTTP port), once the HTTP port answers.
fn serve_with_source(dir: &std::path::Path, source: &str) -> (Sluice, u16, u16) {
    let (broker_port, http_port) = (free_port(), free_port());
    let config = dir.join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = \"{PLUGINS}\"\n{source}[lake]\nurl = \"{}\"\n",
            dir.join("lake").display()
        ),
    )
    .unwrap();
    let serve = Sluice::start(
        "serve",
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--broker-listen",
            &format!("127.0.0.1:{broker_port}"),
            "--data",
            dir.join("data").to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{http_port}"),
        ],
        dir,
    );
    wait_for_port(http_port, "sluice serve");
    (serve, broker_port, http_port)
}

#[test]
fn sluice_serve_serves_the_game_api_on_its_one_port() {
    let dir = scratch_dir();
    let (mut serve, broker_port, http_port) = serve_with_source(dir.path(), "");
    let url = |path: &str| format!("http://127.0.0.1:{http_port}{path}");
    let (status, id, body) = call(get(&url("/purchase_a_sword")));
    assert_eq!((status, body.as_str()), (200, "Sword Purchased!\n"));
    let id = id.unwrap();
    assert_eq!(get(&url("/metrics")).status().as_u16(), 200);
    // Hot loading shares the port: the plugins, each with its pipeline.
    let plugins: serde_json::Value =
        serde_json::from_str(&get(&url("/plugins")).text().unwrap()).unwrap();
    for name in ["game_events", "is_purchase"] {
        let p = plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {plugins}"));
        assert_eq!(p["pipelines"], serde_json::json!([name]), "{p}");
        assert_eq!(p["version"], "0.1.0", "{p}");
    }
    let unauthorized = client()
        .put(url("/plugins/game_events"))
        .body("not wasm")
        .send()
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("admin     token generated into"), "{log}");
    let events = read_events(&format!("127.0.0.1:{broker_port}"), |e| e.contains_key(&id));
    assert_eq!(events[&id]["event_type"], "purchase_sword");

    // A clean stop is clean in the log too: no client left connected to
    // the embedded broker as it goes (it logged `AllBrokersDown` errors).
    assert!(serve.terminate().success());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(log.contains("Broker stopped."), "{log}");
}

/// A config file that names a Kafka is obeyed: `sluice serve` runs no
/// broker of its own and logs to that one.
#[test]
fn sluice_serve_uses_the_kafka_its_config_names() {
    let dir = scratch_dir();
    let kafka = crate::kafka::Broker::start(dir.path());
    let source = format!("[source]\nbrokers = \"{}\"\n", kafka.brokers);
    let (_serve, unused_broker_port, http_port) = serve_with_source(dir.path(), &source);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains(&format!("broker    {} (external)", kafka.brokers)),
        "{log}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", unused_broker_port)).is_err(),
        "serve started a broker of its own"
    );
    let (status, id, _) = call(get(&format!(
        "http://127.0.0.1:{http_port}/purchase_a_sword"
    )));
    assert_eq!(status, 200);
    let id = id.unwrap();
    let events = read_events(&kafka.brokers, |e| e.contains_key(&id));
    assert_eq!(events[&id]["event_type"], "purchase_sword");
}

/// A real `redis-server` on a free port, killed when dropped.
struct RedisServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => {
                wait_for_port(port, "redis-server");
                Some(RedisServer {
                    child,
                    port,
                    _dir: dir,
                })
            }
            Err(e) => {
                eprintln!("skipped: cannot run redis-server ({e}); apt-get install redis-server");
                None
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_api_processes_share_one_game_through_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut stack = Stack::start(&["--state", &url]);
    let first_port = stack.api_port;
    let first = stack.api.take();
    stack.api_port = free_port();
    stack.start_api("api-2");
    let second = |path: &str| format!("http://127.0.0.1:{}{path}", stack.api_port);
    let first_url = |path: &str| format!("http://127.0.0.1:{first_port}{path}");

    let r = get(&first_url("/signup?username=user1&password=pw"));
    let session = session_from(&r);
    let (_, _, body) = call(with_session(&second("/buy/sword"), &session));
    assert_eq!(body, "Bought a sword!\n");
    let (_, id, body) = call(with_session(&first_url("/buy/bow?quality=epic"), &session));
    assert_eq!(body, "Bought a bow!\n");
    let (_, _, body) = call(get(&second("/signup?username=user1&password=pw")));
    assert_eq!(body, "Signup Failed! This username already exists.\n");
    let (_, _, body) = call(get(&second("/login?username=user1&password=pw")));
    assert_eq!(body, "Login successful! Welcome user1.\n");
    let id = id.unwrap();
    let events = read_events(&stack.brokers(), |e| e.contains_key(&id));
    assert_eq!(
        events[&id]["inventory"],
        serde_json::json!(["sword", "bow"])
    );
    drop(first);
}
