//! Keeps every event without reading it: a benchmark plugin that measures
//! the host's own cost per event (the boundary, the batch runner).

use sluice_sdk::{Event, filter};

#[filter]
pub fn keep_all(_e: &Event) -> bool {
    true
}
