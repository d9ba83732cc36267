//! What a plugin function may return, and how each return becomes an
//! `outcome`: the traits the macros call on a function's return value, so a
//! filter returns `bool`, a transform the events it made, a router a
//! [`Route`], each optionally in a `Result`.
//!
//! An `Err` fails the event with the error's alternate `Display` (`{:#}`,
//! which for `anyhow` includes the causes); it goes to the dead-letter table.

use std::fmt::Display;

use crate::bindings::sluice::plugin::types::Outcome;
use crate::runner::NewEvents;
use crate::{Event, Route};

/// What a `#[filter]` function may return: `bool` (`true` keeps the event)
/// or `Result<bool, E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a #[filter] function returns `bool` or `Result<bool, E>` with `E: Display`, not `{Self}`",
    label = "not a filter's return type"
)]
pub trait FilterOutput {
    #[doc(hidden)]
    fn into_outcome(self) -> Outcome;
}

impl FilterOutput for bool {
    fn into_outcome(self) -> Outcome {
        if self { Outcome::Keep } else { Outcome::Drop }
    }
}

impl<E: Display> FilterOutput for Result<bool, E> {
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(keep) => keep.into_outcome(),
            Err(error) => fail(&error),
        }
    }
}

/// What a `#[transform]` function may return: an [`Event`] (a rewrite),
/// `Option<Event>` (`None` drops), `Vec<Event>` (a split; empty drops), or a
/// `Result` of one of them with `E: Display`.
///
/// Returning the input event unchanged (alone) is a `keep`: the host already
/// has its bytes, so nothing is copied back.
#[diagnostic::on_unimplemented(
    message = "a #[transform] function returns `Event`, `Option<Event>`, `Vec<Event>` or a `Result` of one of them, not `{Self}`",
    label = "not a transform's return type"
)]
pub trait TransformOutput {
    #[doc(hidden)]
    fn into_outcome(self, new_events: &mut NewEvents) -> Outcome;
}

impl TransformOutput for Event<'_> {
    fn into_outcome(self, new_events: &mut NewEvents) -> Outcome {
        new_events.rewrite(&self)
    }
}

impl TransformOutput for Option<Event<'_>> {
    fn into_outcome(self, new_events: &mut NewEvents) -> Outcome {
        match self {
            Some(event) => event.into_outcome(new_events),
            None => Outcome::Drop,
        }
    }
}

impl TransformOutput for Vec<Event<'_>> {
    fn into_outcome(self, new_events: &mut NewEvents) -> Outcome {
        match self.as_slice() {
            [] => Outcome::Drop,
            [event] => new_events.rewrite(event),
            events => new_events.replace(events),
        }
    }
}

impl<T: TransformOutput, E: Display> TransformOutput for Result<T, E> {
    fn into_outcome(self, new_events: &mut NewEvents) -> Outcome {
        match self {
            Ok(output) => output.into_outcome(new_events),
            Err(error) => fail(&error),
        }
    }
}

/// What a `#[router]` function may return: a [`Route`] or
/// `Result<Route, E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a #[router] function returns `Route` or `Result<Route, E>` with `E: Display`, not `{Self}`",
    label = "not a router's return type"
)]
pub trait RouterOutput {
    #[doc(hidden)]
    fn into_route(self) -> Result<Route, String>;
}

impl RouterOutput for Route {
    fn into_route(self) -> Result<Route, String> {
        Ok(self)
    }
}

impl<E: Display> RouterOutput for Result<Route, E> {
    fn into_route(self) -> Result<Route, String> {
        self.map_err(|error| format!("{error:#}"))
    }
}

fn fail(error: &dyn Display) -> Outcome {
    Outcome::Fail(format!("{error:#}"))
}
