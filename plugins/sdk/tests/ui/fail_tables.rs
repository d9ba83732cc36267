use sluice_sdk::{Event, Route, filter, router};

#[router]
fn no_tables(_e: &Event) -> Route {
    Route::Keep
}

#[router(tables(events_buy = "host string", events_buy = "username string"))]
fn duplicate(_e: &Event) -> Route {
    Route::Keep
}

#[router(tables(EventsBuy = "host string"))]
fn camel_case(_e: &Event) -> Route {
    Route::Keep
}

#[router(tables(events_buy = ""))]
fn empty_schema(_e: &Event) -> Route {
    Route::Keep
}

#[router(tables(events_buy = "host string, timestamp bigint"))]
fn reserved_column(_e: &Event) -> Route {
    Route::Keep
}

#[filter(tables(events_buy = "host string"))]
fn filter_with_tables(_e: &Event) -> bool {
    true
}

#[filter(nmae = "typo")]
fn unknown_argument(_e: &Event) -> bool {
    true
}

fn main() {}
