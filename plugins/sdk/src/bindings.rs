//! The Rust side of `wit/plugin.wit`, the one place `generate!` runs.
//!
//! Plugin authors use the macros instead; these raw bindings are public for
//! plugins that need the whole contract (the `hostile` test plugin), which
//! implement [`Guest`] and call [`export!`](crate::bindings::export). The
//! runtime path points into this crate so such a plugin still depends on the
//! SDK alone.

#![expect(
    clippy::too_many_arguments,
    reason = "the canonical ABI passes a flattened `batch` to `process` as 16 scalars"
)]
#![expect(
    missing_docs,
    reason = "generated from the WIT, whose undocumented items (the `log` levels, the world's               `Guest` trait) are documented by the WIT names"
)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
    pub_export_macro: true,
    default_bindings_module: "sluice_sdk::bindings",
    runtime_path: "sluice_sdk::__private::wit_bindgen::rt",
});
