//! Virtual time for plugins. The WASI clocks already read the batch's event
//! time (see `sandbox`); this makes waiting virtual too. wasmtime-wasi's
//! `subscribe-duration` and `subscribe-instant` sleep for real on the host,
//! where the epoch deadline cannot interrupt them, so a plugin calling
//! `std::thread::sleep` could stall its pipeline for as long as it liked.
//! Here every wait is over at once: time does not pass inside a batch.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::sandbox::Sandbox;

/// The interface as wasmtime-wasi 48 links it; guests importing any 0.2.x
/// version are matched to it by semver.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

fn elapsed(sandbox: &mut Sandbox) -> wasmtime::Result<Resource<DynPollable>> {
    let table = sandbox.table();
    let resource = table.push(Elapsed)?;
    subscribe(table, resource)
}

/// Replaces the two waiting functions of `wasi:clocks/monotonic-clock` in a
/// linker that already has WASI.
pub(crate) fn add_virtual_waits(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (_nanos,): (u64,)| {
        Ok((elapsed(store.data_mut())?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store, (_when,): (u64,)| {
        Ok((elapsed(store.data_mut())?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
