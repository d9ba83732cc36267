//! Part 4, hot loading under load: the pipelines fed from memory without a
//! pause while a new build of `game_events` lands in the watched plugin
//! folder half-way through a measured window. Figures: the time from the
//! file's rename into the folder until the new version has processed its
//! first batch, and the throughput of the window around the swap against
//! the window before it. The lake is then checked event by event count, so
//! no event was lost or written twice across the swap.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::plugin::content_hash;
use crate::service::start_fed_pipelines;

use super::super::events::{Batches, EventMix};
use super::measure::LakeCount;
use super::memory::base_timestamp_ms;
use super::{Expected, Setup, WorkDir};

/// Load before the first window, so both windows run warm.
const WARM_UP: Duration = Duration::from_secs(5);

/// One run of part 4.
#[derive(Debug)]
pub(super) struct HotRun {
    /// From the new file's rename into the folder until the registry took it.
    pub(super) accepted: Duration,
    /// From the rename until the new version had processed events.
    pub(super) live: Duration,
    /// Events per second in the window before the swap and in the window
    /// with the swap in its middle.
    pub(super) before: f64,
    pub(super) around: f64,
    pub(super) events: u64,
}

pub(super) fn run(setup: &Setup, seed: u64, window: Duration) -> anyhow::Result<HotRun> {
    let work = WorkDir::new("hot")?;
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for name in ["is_purchase", "game_events"] {
        let file = format!("{name}.wasm");
        std::fs::copy(setup.config.plugin_dir.join(&file), plugins.join(&file))
            .with_context(|| format!("copying {file}"))?;
    }
    let mut config: Config = setup.config.clone();
    config.lake.url = work.path().join("lake").display().to_string();
    config.plugin_dir = plugins.clone();
    let runtime = crate::commands::runtime()?;
    let fed = runtime.block_on(start_fed_pipelines(&config, runtime.handle().clone()))?;
    let registry = fed.plugins().clone();

    // The new build: the same code with a custom section, so a new hash.
    let old = std::fs::read(plugins.join("game_events.wasm"))?;
    let new = with_custom_section(&old, "sluice-bench", format!("{seed}").as_bytes());
    let new_hash = content_hash(&new);
    let swap_at = WARM_UP + window + window / 2;
    let swapper = std::thread::spawn(move || -> anyhow::Result<(Duration, Duration)> {
        std::thread::sleep(swap_at);
        let tmp = plugins.join(".game_events.wasm.tmp");
        std::fs::write(&tmp, &new)?;
        std::fs::rename(&tmp, plugins.join("game_events.wasm"))?;
        let landed = Instant::now();
        let mut accepted = None;
        loop {
            let info = registry.list();
            let ge = info.iter().find(|p| p.name == "game_events");
            if let Some(p) = ge.filter(|p| p.hash.as_deref() == Some(new_hash.as_str())) {
                let accepted = *accepted.get_or_insert_with(|| landed.elapsed());
                if p.events_in > 0 {
                    return Ok((accepted, landed.elapsed()));
                }
            }
            if let Some(e) = ge.and_then(|p| p.last_error.as_ref()) {
                anyhow::bail!("the new build was refused: {}", e.reason);
            }
            if landed.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("the new build was not live 30 s after it landed");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });

    let batch_size = config.limits.batch_size;
    let mut mix = EventMix::new(seed);
    let mut batches = Batches::new();
    let base_ms = base_timestamp_ms();
    let started = Instant::now();
    let mut made = 0u64;
    let (mut at_first, mut at_second) = (None, None);
    loop {
        let t = started.elapsed();
        if t >= WARM_UP && at_first.is_none() {
            at_first = Some(made);
        }
        if t >= WARM_UP + window && at_second.is_none() {
            at_second = Some(made);
        }
        if t >= WARM_UP + 2 * window {
            break;
        }
        let range = made..made + batch_size as u64;
        fed.deliver(&batches.next(&mut mix, range, |i| base_ms + (i / 10) as i64))?;
        made += batch_size as u64;
    }
    let second_end = made;
    let (accepted, live) = swapper
        .join()
        .map_err(|_| anyhow::anyhow!("the swapping thread panicked"))??;
    fed.finish()?;
    drop(runtime);
    let lake = LakeCount::read(&work.path().join("lake"))?;
    Expected::of(&mix).check(&lake)?;
    let secs = window.as_secs_f64();
    let (first, second) = (at_first.unwrap_or(0), at_second.unwrap_or(0));
    Ok(HotRun {
        accepted,
        live,
        before: (second - first) as f64 / secs,
        around: (second_end - second) as f64 / secs,
        events: made,
    })
}

/// `wasm` with a custom section appended: another file, the same plugin.
pub(super) fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = leb128(name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    out.extend(leb128(body.len()));
    out.extend(body);
    out
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
