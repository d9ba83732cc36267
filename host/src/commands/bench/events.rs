//! Reference-shaped events for benchmarks: the reference game API's event
//! types with its request headers merged in, about 250 bytes each.

use std::fmt::Write;

const HOSTS: [&str; 4] = [
    "user1.comcast.com",
    "user2.att.com",
    "moe.example.com",
    "gamer.verizon.net",
];
const ITEMS: [&str; 4] = ["sword", "shield", "potion", "knife"];
const GUILDS: [&str; 3] = ["knights", "wizards", "rangers"];

/// The `i`th event of a deterministic mix: a quarter `purchase_sword`, the
/// rest split between other purchases, `buy_item`, `join_guild`, `signup`
/// and `login`.
pub(crate) fn reference_event(i: u64, out: &mut String) {
    out.clear();
    let host = HOSTS[(i % 4) as usize];
    let user = i % 1000;
    let headers = format!(
        r#""Host": "{host}", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "event_id": "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}""#,
        (i * 2_654_435_761) as u32,
        i % 65536,
        i % 4096,
        (i / 7) % 4096,
        i
    );
    match i % 8 {
        0 | 1 => write!(out, r#"{{"event_type": "purchase_sword", "description": "a sharp sword", {headers}}}"#),
        2 => write!(
            out,
            r#"{{"event_type": "purchase_knife", "description": "very sharp knife", {headers}}}"#
        ),
        3 | 4 => write!(
            out,
            r#"{{"event_type": "buy_item", "username": "user{user}", "item_type": "{}", "item_quality": "common", "inventory": ["sword", "potion"], {headers}}}"#,
            ITEMS[(i / 8 % 4) as usize]
        ),
        5 => write!(
            out,
            r#"{{"event_type": "join_guild", "username": "user{user}", "guild_name": "{}", {headers}}}"#,
            GUILDS[(i / 8 % 3) as usize]
        ),
        6 => write!(
            out,
            r#"{{"event_type": "signup", "username": "user{user}", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": []}}, {headers}}}"#
        ),
        _ => write!(
            out,
            r#"{{"event_type": "login", "username": "user{user}", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": ["sword"]}}, {headers}}}"#
        ),
    }
    .expect("writing to a String");
}
