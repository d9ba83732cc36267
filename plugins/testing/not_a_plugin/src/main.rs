//! A plain WASI command, not a plugin: it targets `wasi:cli/command`, not
//! `sluice:plugin/plugin`, so the host must refuse to load it, with a reason.

fn main() {
    println!("hello");
}
