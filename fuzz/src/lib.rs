//! The host's parsers, compiled from their own source files (by path) with
//! only the few crates they use, so an instrumented fuzz build takes minutes
//! instead of the hour DataFusion and wasmtime would cost. The module tree
//! mirrors the host's, so `crate::…` paths in those files resolve here too.
//! The checks themselves are the host's `fuzzing.rs`.

#![allow(dead_code, reason = "only what the fuzz targets reach is used")]

#[path = "../../host/src/schema/mod.rs"]
pub mod schema;

pub mod api;
pub mod query;
pub mod table;

#[path = "../../host/src/fuzzing.rs"]
pub mod fuzzing;
