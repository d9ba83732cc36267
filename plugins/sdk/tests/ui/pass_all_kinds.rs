use sluice_sdk::{Event, Route, filter, router, transform};

#[filter(name = "swords")]
fn is_purchase(e: &Event) -> Result<bool, String> {
    Ok(e.event_type() == Some("purchase_sword"))
}

#[transform]
fn split(e: Event) -> Result<Option<Event>, std::fmt::Error> {
    Ok(Some(e))
}

#[router(tables(events_buy = "host string, inventory array<string>"))]
fn game_events(e: &Event) -> Route {
    match e.event_type() {
        Some("buy_item") => Route::to("events_buy"),
        _ => Route::Drop,
    }
}

fn main() {
    let e = Event::from_json(r#"{"event_type": "buy_item"}"#).unwrap();
    assert_eq!(is_purchase(&e), Ok(false));
    assert_eq!(game_events(&e), Route::to("events_buy"));
    assert!(!split(e).unwrap().unwrap().is_modified());
}
