//! The shared wasmtime engine: compilation settings, the pooling allocator,
//! the epoch ticker that enforces CPU deadlines, and the linker that gives a
//! plugin WASI with no capabilities plus the `log` import.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use super::bindings;
use super::sandbox::Sandbox;

/// One epoch tick. CPU deadlines are whole ticks, so this is their resolution.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core instances one plugin component may have.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Tables one plugin component may have.
const MAX_TABLES_PER_COMPONENT: u32 = 8;

/// The sandbox limits every plugin instance runs under.
#[derive(Debug, Clone, Copy)]
pub struct SandboxLimits {
    /// Linear memory cap per instance (default 64 MiB).
    pub memory_bytes: usize,
    /// CPU time a plugin may spend on one batch (default 1 s).
    pub batch_deadline: Duration,
    /// Largest event a plugin may return (default 1 MiB); larger ones are dead letters.
    pub max_event_bytes: usize,
    /// Events a plugin may return for one input event (default 1,000); an
    /// input event replaced by more is a dead letter.
    pub max_events_per_event: u32,
    /// New events a plugin may return from one call (default 100,000):
    /// the input events whose replacements pass it are dead letters.
    pub max_events_per_call: usize,
    /// Linear memory all plugin instances together may reserve (default
    /// 2 GiB): the pool has this over [`memory_bytes`](Self::memory_bytes)
    /// memory slots, so no set of plugins can commit more, however many
    /// instances they hold.
    pub total_memory_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 64 << 20,
            batch_deadline: Duration::from_secs(1),
            max_event_bytes: 1 << 20,
            max_events_per_event: 1_000,
            max_events_per_call: 100_000,
            total_memory_bytes: 2 << 30,
        }
    }
}

impl SandboxLimits {
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.batch_deadline.as_millis() as u64)
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            .max(1)
    }
}

/// Compiles plugins and owns what their instances share. Cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<Sandbox>>,
    pub(crate) limits: SandboxLimits,
}

impl PluginEngine {
    pub fn new(limits: SandboxLimits) -> anyhow::Result<PluginEngine> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(OptLevel::Speed);
        // Backtraces make every trap slower and a plugin's dead-letter reason
        // comes from its own panic message, not from frames.
        config.wasm_backtrace_max_frames(None);
        config.native_unwind_info(false);
        if std::env::var_os("SLUICE_PERFMAP").is_some() {
            // Names guest functions in `perf report` (/tmp/perf-PID.map).
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }

        // One memory per component, so its cap is the plugin's cap (a
        // component with K memories would get K times it), and a bound on
        // core instances and tables per component, so one plugin cannot
        // hold the slots the others need. A Rust wasm32-wasip2 plugin has
        // one memory, a handful of core instances and a few tables.
        let slots = (limits.total_memory_bytes / limits.memory_bytes.max(1)).clamp(4, 512) as u32;
        let mut pool = PoolingAllocationConfig::default();
        pool.max_memory_size(limits.memory_bytes);
        pool.max_memories_per_component(1);
        pool.max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT);
        pool.max_tables_per_component(MAX_TABLES_PER_COMPONENT);
        pool.total_memories(slots);
        pool.total_component_instances(slots);
        pool.total_core_instances(slots * MAX_CORE_INSTANCES_PER_COMPONENT);
        pool.total_tables(slots * MAX_TABLES_PER_COMPONENT);
        pool.total_stacks(slots);
        // wasmtime's default memory reservation (4 GiB of address space per
        // slot, with guard pages) lets compiled code skip bounds checks:
        // measured 15% faster guests than a 64 MiB reservation. It costs
        // address space only; the cap above bounds what is committed.
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        // A wasm32-wasip2 component imports WASI even when it uses none of
        // it: link it against an empty context (no files, network or env).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        super::clocks::add_virtual_waits(&mut linker)?;
        bindings::sluice::plugin::log::add_to_linker::<Sandbox, HasSelf<Sandbox>>(
            &mut linker,
            |s| s,
        )?;
        start_epoch_ticker(&engine);
        Ok(PluginEngine {
            engine,
            linker: Arc::new(linker),
            limits,
        })
    }

    pub fn limits(&self) -> SandboxLimits {
        self.limits
    }
}

/// Advances the engine's epoch every tick until the engine is dropped, so a
/// plugin stuck in a loop hits its deadline.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}
