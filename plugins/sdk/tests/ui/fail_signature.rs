use sluice_sdk::{Event, filter, transform};

#[filter]
fn no_return(e: &Event) {
    let _ = e;
}

#[filter]
async fn later(e: &Event<'_>) -> bool {
    e.event_type().is_some()
}

#[transform]
fn generic<T: Default>(e: Event) -> Event {
    let _ = T::default();
    e
}

struct Plugin;

impl Plugin {
    #[filter]
    fn method(&self) -> bool {
        true
    }
}

fn main() {}
