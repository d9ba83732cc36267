//! `game_events` with one column changed: `events_buy.event_id` becomes a
//! `bigint`. Hot loading must refuse it over a running `game_events`,
//! naming the column, since old files hold strings there.

use sluice_sdk::{Event, Route, router};

#[router(tables(
    events_buy = "accept string, host string, user_agent string, event_type string, event_id bigint, \
                  username string, item_type string, item_quality string, description string, \
                  inventory array<string>, \
                  user_info struct<session_datetime:string, inventory:array<string>>",
))]
pub fn retyped(e: &Event) -> Route {
    match e.event_type() {
        Some(_) => Route::to("events_buy"),
        None => Route::Drop,
    }
}
