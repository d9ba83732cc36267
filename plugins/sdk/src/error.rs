//! The SDK's one error type: why JSON text could not become an [`Event`](crate::Event).

use std::fmt;

/// Why [`Event::from_json`](crate::Event::from_json) refused its input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON.
    Json(serde_json::Error),
    /// The text is JSON, but an event is always an object.
    NotAnObject {
        /// What it is instead, e.g. "an array".
        found: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json(error) => write!(f, "an event is not valid JSON: {error}"),
            Error::NotAnObject { found } => {
                write!(f, "an event must be a JSON object, not {found}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Json(error) => Some(error),
            Error::NotAnObject { .. } => None,
        }
    }
}
