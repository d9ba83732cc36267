//! The one place `bindgen!` runs: Rust types for the `sluice:plugin@0.1.0`
//! world in `wit/`. Everything else in the host uses these through the plugin
//! runtime's own types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "sluice:plugin/plugin",
});

pub use sluice::plugin::log::Level;
pub use sluice::plugin::types::Outcome;
