//! sluice's integration tests: one test binary, as wasmtime's are. The guest
//! plugins are built by `build.rs`; the CLI tests run the real `sluice` binary.

mod api;
mod bad_input;
mod bench;
mod broker;
mod cli;
mod console;
mod hot;
mod kafka;
mod lake;
mod pipeline;
mod plugins;
mod query;
mod report;
mod sandbox;
mod support;
mod tour;
