//! Log lines from a plugin: into the host's `tracing` through the `log`
//! import inside the sandbox, to stderr in native tests, where there is no
//! host to import from.
//!
//! The [`trace!`](crate::trace) … [`error!`](crate::error) macros format like
//! `format!`; a message without arguments is not copied.

use std::borrow::Cow;
use std::fmt;

pub use crate::bindings::sluice::plugin::log::Level;

/// Logs `message` at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs `message` at `level`. The host caps lines in length and rate.
pub fn log(level: Level, message: &str) {
    emit(level, message);
}

/// What the logging macros expand to.
#[doc(hidden)]
pub fn log_args(level: Level, args: fmt::Arguments<'_>) {
    let message = args
        .as_str()
        .map_or_else(|| Cow::Owned(args.to_string()), Cow::Borrowed);
    emit(level, &message);
}

#[cfg(target_arch = "wasm32")]
fn emit(level: Level, message: &str) {
    crate::bindings::sluice::plugin::log::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn emit(level: Level, message: &str) {
    let level = match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    };
    eprintln!("{level} plugin: {message}");
}

/// Logs at trace level, `format!`-style.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log::log_args($crate::log::Level::Trace, ::core::format_args!($($arg)+))
    };
}

/// Logs at debug level, `format!`-style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log::log_args($crate::log::Level::Debug, ::core::format_args!($($arg)+))
    };
}

/// Logs at info level, `format!`-style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log::log_args($crate::log::Level::Info, ::core::format_args!($($arg)+))
    };
}

/// Logs at warn level, `format!`-style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log::log_args($crate::log::Level::Warn, ::core::format_args!($($arg)+))
    };
}

/// Logs at error level, `format!`-style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log::log_args($crate::log::Level::Error, ::core::format_args!($($arg)+))
    };
}
