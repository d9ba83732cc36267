use sluice_sdk::{Event, filter, transform};

#[filter]
fn two(e: &Event, extra: u32) -> bool {
    extra > 0 && e.event_type().is_some()
}

#[filter]
fn none() -> bool {
    true
}

#[filter]
fn by_value(e: Event) -> bool {
    e.event_type().is_some()
}

#[transform]
fn by_reference(e: &Event) -> Option<Event<'static>> {
    e.event_type().map(|_| Event::new(sluice_sdk::json!({})))
}

fn main() {}
