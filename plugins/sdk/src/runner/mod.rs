//! The batch loop behind `#[filter]`, `#[transform]` and `#[router]`: it cuts
//! a WIT `batch` into [`Event`]s, calls the plugin function on each, and
//! gathers one `outcome` per event, plus the JSON of any new events, into
//! the WIT `output`.
//!
//! This is the hot path. Keep, drop and route cost one outcome and no
//! allocation; only new events are written, straight into the output buffer.

mod batch;
mod new_events;

pub use new_events::NewEvents;

use crate::bindings::sluice::plugin::types::{Outcome, Table};
use crate::bindings::{Batch, Info, Output};
use crate::{Event, Route};

/// A plugin's `describe` answer. `tables` are `(name, schema)` pairs, in the
/// order `route` outcomes number them.
#[must_use]
pub fn describe(name: &str, version: &str, tables: &[(&str, &str)]) -> Info {
    Info {
        name: name.to_owned(),
        version: version.to_owned(),
        tables: tables
            .iter()
            .map(|&(name, schema)| Table {
                name: name.to_owned(),
                schema: schema.to_owned(),
            })
            .collect(),
    }
}

/// Runs a filter (or anything that decides without writing) over a batch.
pub fn run_filter(batch: Batch, mut filter: impl FnMut(&Event<'_>) -> Outcome) -> Output {
    let mut outcomes = Vec::with_capacity(batch.ends.len());
    batch::for_each(&batch, |event| {
        outcomes.push(match event {
            Ok(event) => filter(&event),
            Err(reason) => Outcome::Fail(reason),
        });
    });
    Output {
        outcomes,
        data: Vec::new(),
        ends: Vec::new(),
        tables: Vec::new(),
    }
}

/// Runs a router over a batch; `tables` are the ones it declared, as given
/// to [`describe`].
pub fn run_router(
    batch: Batch,
    tables: &[(&str, &str)],
    mut router: impl FnMut(&Event<'_>) -> Result<Route, String>,
) -> Output {
    run_filter(batch, |event| match router(event) {
        Ok(Route::Keep) => Outcome::Keep,
        Ok(Route::Drop) => Outcome::Drop,
        Ok(Route::Table(name)) => route_to(tables, &name),
        Err(reason) => Outcome::Fail(reason),
    })
}

/// Runs a transform over a batch: it owns each event and may hand back new
/// ones through `NewEvents`.
pub fn run_transform(
    batch: Batch,
    mut transform: impl FnMut(Event<'_>, &mut NewEvents) -> Outcome,
) -> Output {
    let mut outcomes = Vec::with_capacity(batch.ends.len());
    let mut new_events = NewEvents::default();
    batch::for_each(&batch, |event| {
        outcomes.push(match event {
            Ok(event) => transform(event, &mut new_events),
            Err(reason) => Outcome::Fail(reason),
        });
    });
    new_events.into_output(outcomes)
}

fn route_to(tables: &[(&str, &str)], name: &str) -> Outcome {
    match tables.iter().position(|&(table, _)| table == name) {
        Some(index) => Outcome::Route(u32::try_from(index).unwrap_or(u32::MAX)),
        None => {
            let declared: Vec<&str> = tables.iter().map(|&(table, _)| table).collect();
            Outcome::Fail(format!(
                "route to undeclared table `{name}`; declared: {}",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            ))
        }
    }
}

#[cfg(test)]
mod tests;
