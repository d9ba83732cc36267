//! The store data of one plugin instance: a WASI context with no
//! capabilities, memory limits, and the per-batch clock and random source
//! that make a replayed batch produce the same output.

use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::stdio::CapturedOutput;

/// Log lines a plugin may emit per batch, over all the calls the batch
/// takes (halving retries included); the rest are counted and dropped.
pub(crate) const MAX_LOG_LINES_PER_BATCH: u32 = 100;

pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) plugin: Arc<str>,
    /// The batch's log lines so far (the runner carries it from call to call).
    pub(crate) log_lines: u32,
}

/// Handles the host keeps to steer an instance's sandbox between batches.
#[derive(Clone, Default)]
pub(crate) struct SandboxHandles {
    event_time_ms: Arc<AtomicI64>,
    rng: Arc<Mutex<Option<StdRng>>>,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
}

impl SandboxHandles {
    /// Points the clocks at the batch's event time and reseeds random, so
    /// the plugin sees the same world whenever this batch is replayed.
    pub(crate) fn prepare(&self, event_time_ms: i64, seed: u64) {
        self.event_time_ms.store(event_time_ms, Ordering::Relaxed);
        *self.rng.lock().expect("rng lock") = Some(StdRng::seed_from_u64(seed));
    }
}

impl Sandbox {
    pub(crate) fn new(plugin: Arc<str>, memory_bytes: usize, handles: &SandboxHandles) -> Sandbox {
        let wasi = WasiCtx::builder()
            .stdout(handles.stdout.clone())
            .stderr(handles.stderr.clone())
            .wall_clock(BatchClock(handles.event_time_ms.clone()))
            .monotonic_clock(BatchClock(handles.event_time_ms.clone()))
            .secure_random(BatchRandom(handles.rng.clone()))
            .insecure_random(BatchRandom(handles.rng.clone()))
            .insecure_random_seed(0)
            .max_random_size(1 << 20)
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            plugin,
            log_lines: 0,
        }
    }
}

impl Sandbox {
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Both WASI clocks read the batch's event time: the wall clock as that
/// instant, the monotonic clock as nanoseconds since the epoch.
struct BatchClock(Arc<AtomicI64>);

impl HostWallClock for BatchClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed).max(0) as u64)
    }
}

impl HostMonotonicClock for BatchClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        (self.0.load(Ordering::Relaxed).max(0) as u64).saturating_mul(1_000_000)
    }
}

/// `wasi:random`, seeded per batch by the host.
struct BatchRandom(Arc<Mutex<Option<StdRng>>>);

impl BatchRandom {
    fn with<R>(&self, f: impl FnOnce(&mut StdRng) -> R) -> R {
        let mut guard = self.0.lock().expect("rng lock");
        f(guard.get_or_insert_with(|| StdRng::seed_from_u64(0)))
    }
}

impl rand::TryRng for BatchRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.with(rand::Rng::next_u32))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.with(rand::Rng::next_u64))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.with(|r| rand::Rng::fill_bytes(r, dst));
        Ok(())
    }
}
