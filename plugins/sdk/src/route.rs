//! [`Route`]: where a `#[router]` function sends an event.

use std::borrow::Cow;

/// Where a router sends one event.
///
/// A table is named, not numbered, so a router reads like the tables it
/// declares in `#[router(tables(...))]`; the runner turns the name into the
/// table's index, and a name the router did not declare fails the event (it
/// goes to the dead-letter table with the list of declared names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Route {
    /// Pass the event on unchanged, to the table chosen so far (the
    /// pipeline's default table unless an earlier router chose).
    #[default]
    Keep,
    /// Discard the event; it is counted, not written.
    Drop,
    /// Pass the event on unchanged, into this declared table.
    Table(Cow<'static, str>),
}

impl Route {
    /// Into the declared table `name`. A `&'static str` costs no allocation.
    #[must_use]
    pub fn to(name: impl Into<Cow<'static, str>>) -> Route {
        Route::Table(name.into())
    }
}
