//! Sends each reference event type to its table, like the reference stack's
//! `stream_*_events.py` jobs: purchases to `events_buy`, guild joins to
//! `events_guild`, sign-ups and logins to `events_user`; the rest is dropped.
//!
//! A pure router: it never rewrites. Passwords, cookies and other secrets
//! stay out of the tables because no schema has a column for them.

use sluice_sdk::{Event, Route, router};

#[router(tables(
    events_buy = "accept string, host string, user_agent string, event_type string, event_id string, \
                  username string, item_type string, item_quality string, description string, \
                  inventory array<string>, \
                  user_info struct<session_datetime:string, inventory:array<string>>",
    events_guild = "accept string, host string, user_agent string, event_type string, event_id string, \
                    username string, guild_name string",
    events_user = "accept string, host string, user_agent string, event_type string, event_id string, \
                   username string, user_info struct<session_datetime:string, inventory:array<string>>",
))]
pub fn game_events(e: &Event) -> Route {
    match e.event_type() {
        Some("buy_item") => Route::to("events_buy"),
        Some(purchase) if purchase.starts_with("purchase_") => Route::to("events_buy"),
        Some("join_guild") => Route::to("events_guild"),
        Some("signup" | "login") => Route::to("events_user"),
        _ => Route::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::game_events;
    use sluice_sdk::{Event, Route};

    fn route(json: &str) -> Route {
        game_events(&Event::from_json(json).expect("a JSON object"))
    }

    #[test]
    fn purchases_go_to_events_buy() {
        for json in [
            r#"{"event_type": "purchase_sword", "Host": "user1.comcast.com", "Accept": "*/*", "User-Agent": "ApacheBench/2.3"}"#,
            r#"{"event_type": "purchase_knife", "description": "very sharp knife", "Host": "user1.comcast.com"}"#,
            r#"{"username": "user1", "event_type": "buy_item", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "item_type": "shield", "Host": "user1.comcast.com", "inventory": ["sword", "potion", "shield"], "item_quality": "common"}"#,
        ] {
            assert_eq!(route(json), Route::to("events_buy"), "{json}");
        }
    }

    #[test]
    fn guild_joins_go_to_events_guild() {
        assert_eq!(
            route(
                r#"{"event_type": "join_guild", "guild_name": "knights", "username": "user1", "Host": "user1.comcast.com"}"#
            ),
            Route::to("events_guild")
        );
    }

    #[test]
    fn signups_and_logins_go_to_events_user() {
        for event_type in ["signup", "login"] {
            let json = format!(
                r#"{{"event_type": "{event_type}", "username": "user1", "user_info": {{"session_datetime": "2018-08-13 02:16:20", "inventory": []}}}}"#
            );
            assert_eq!(route(&json), Route::to("events_user"), "{event_type}");
        }
    }

    #[test]
    fn everything_else_is_dropped() {
        for json in [
            r#"{"event_type": "default"}"#,
            r#"{"event_type": "purchase"}"#,
            r#"{"event_type": 7}"#,
            r#"{"username": "user1"}"#,
        ] {
            assert_eq!(route(json), Route::Drop, "{json}");
        }
    }
}
