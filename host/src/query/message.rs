//! DataFusion's errors worded for the person who typed the query: the root
//! cause's message, without its category prefix ("Error during planning: ")
//! or backtrace. Its own module, with the statement classifier, so the fuzz
//! target compiles both without the engine.

use datafusion_common::DataFusionError;

/// DataFusion's message for the root cause, on one line.
pub(super) fn clean_message(e: &DataFusionError) -> String {
    let message = match e.find_root() {
        DataFusionError::SQL(parser, _) => parser.to_string(),
        root => root.message().to_string(),
    };
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(&message);
    first_line(message)
}

pub(super) fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}
