//! Write a sluice event plugin as one annotated function.
//!
//! ```
//! use sluice_sdk::{Event, filter};
//!
//! #[filter]
//! fn is_purchase(e: &Event) -> bool {
//!     e.event_type() == Some("purchase_sword")
//! }
//!
//! let e = Event::from_json(r#"{"event_type": "purchase_sword"}"#).unwrap();
//! assert!(is_purchase(&e));
//! ```
//!
//! [`filter`], [`transform`] and [`router`] turn the function into the
//! `sluice:plugin/plugin` world's exports when building for `wasm32-wasip2`;
//! on any other target it stays a plain function for unit tests. The SDK owns
//! everything between the WIT contract and that function: the bindings
//! ([`bindings`]), the lazy [`Event`], [`Route`], the conversion of return
//! values into outcomes ([`outcome`]), the batch loop, and [`log`]ging.

#![warn(missing_docs)]

// Lets the generated bindings name this crate by the path plugins use.
extern crate self as sluice_sdk;

pub mod bindings;
mod error;
mod event;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
pub mod outcome;
mod route;
mod runner;

pub use error::Error;
pub use event::Event;
pub use route::Route;
pub use serde;
pub use serde_json::{self, Map, Value, json};
/// Marks `fn(e: &Event) -> bool` (or `Result<bool, E>`) as the plugin: it
/// keeps the events it returns `true` for and drops the rest.
///
/// `#[filter(name = "...")]` names the plugin; the default is the function's
/// name. The version is the plugin crate's.
pub use sluice_sdk_macros::filter;
/// Marks `fn(e: &Event) -> ...` as a routing plugin that declares its tables:
/// `#[router(tables(events_buy = "host string, ...", ...))]`. It returns a
/// [`Route`] (or `Result<Route, E>`).
pub use sluice_sdk_macros::router;
/// Marks `fn(e: Event) -> ...` as the plugin: it returns the event
/// (changed or not), `Option<Event>`, `Vec<Event>`, or a `Result` of one.
pub use sluice_sdk_macros::transform;

/// What the macros' expansions use; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub use crate::bindings::sluice::plugin::types::Outcome;
    pub use crate::outcome::{FilterOutput, RouterOutput, TransformOutput};
    pub use crate::runner::{NewEvents, describe, run_filter, run_router, run_transform};
}
