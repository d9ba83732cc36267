use sluice_sdk::{Event, filter, transform};

#[filter]
fn counts(e: &Event) -> usize {
    e.as_object().len()
}

#[transform]
fn stringly(e: Event) -> String {
    e.event_type().unwrap_or_default().to_owned()
}

fn main() {}
