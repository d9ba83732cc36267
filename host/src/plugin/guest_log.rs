//! The host side of the `log` import: a plugin's log lines become `tracing`
//! events tagged with the plugin's name, capped per batch so a chatty plugin
//! cannot flood the host's log.

use super::bindings::{Level, sluice};
use super::sandbox::{MAX_LOG_LINES_PER_BATCH, Sandbox};

const MAX_LINE_BYTES: usize = 4096;

impl sluice::plugin::log::Host for Sandbox {
    fn log(&mut self, level: Level, message: String) {
        self.log_lines = self.log_lines.saturating_add(1);
        if self.log_lines > MAX_LOG_LINES_PER_BATCH {
            return;
        }
        let message = truncate(&message, MAX_LINE_BYTES);
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl sluice::plugin::types::Host for Sandbox {}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
