//! `#[filter]`, `#[transform]` and `#[router]`: each turns one plain function
//! into a sluice plugin, re-exported by `sluice-sdk`.
//!
//! The function is left as written, so native unit tests call it directly.
//! Next to it the macro emits, for `wasm32` only, a hidden type implementing
//! the bindings' `Guest` (describe, and process through the SDK's batch
//! runner) and the `export!` of it. On other targets it emits a type check of
//! the function against the runner instead, so `cargo test-native` reports
//! the same errors. Mistakes in the signature or the arguments are compile
//! errors that point at the user's code.

mod args;
mod expand;
mod schema;
mod signature;

use proc_macro::TokenStream;

use crate::signature::Kind;

/// See `sluice_sdk::filter`.
#[proc_macro_attribute]
pub fn filter(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::Filter, args.into(), item.into()).into()
}

/// See `sluice_sdk::transform`.
#[proc_macro_attribute]
pub fn transform(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::Transform, args.into(), item.into()).into()
}

/// See `sluice_sdk::router`.
#[proc_macro_attribute]
pub fn router(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(Kind::Router, args.into(), item.into()).into()
}
