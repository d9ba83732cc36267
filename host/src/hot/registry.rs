//! The plugin registry: every plugin of the plugin folder and the pipelines'
//! chains, its running version, where it came from, the last version
//! refused and why, and the pipelines using it. One version is validated at
//! a time; reading the registry never waits for a validation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::runtime::Handle;

use super::history;
use super::validate::{User, validate};
use crate::lake::Lake;
use crate::pipeline::{Pipeline, PipelineHooks};
use crate::plugin::{Plugin, PluginDiff, PluginEngine, content_hash};
use crate::schema::Schema;

/// Why a version was not taken, or a request cannot be done. Each maps to
/// one HTTP status in `crate::http`.
#[derive(Debug, thiserror::Error)]
pub enum HotError {
    /// The version failed validation; the running one stays (422).
    #[error("{0}")]
    Refused(String),
    /// 404.
    #[error("no plugin `{name}`; plugins: {known}")]
    Unknown { name: String, known: String },
    /// 409.
    #[error(
        "plugin `{name}` is used by pipeline(s) {pipelines}; take it out of their config and restart them first"
    )]
    InUse { name: String, pipelines: String },
    /// 409.
    #[error("plugin `{0}` has no earlier version to roll back to")]
    NoEarlierVersion(String),
    /// 400.
    #[error(
        "`{0}` is not a plugin name: use lower-case letters, digits, `_` and `-` (at most 64), like `is_purchase`"
    )]
    BadName(String),
    /// 500.
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// A version taken (or already running).
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub name: String,
    pub plugin: String,
    pub version: String,
    pub hash: String,
    /// True if this exact version was already running: nothing changed.
    pub unchanged: bool,
    /// The pipelines that swap it in between their next two batches.
    pub pipelines: Vec<String>,
    pub dry_run: Option<PluginDiff>,
}

/// A plugin as `GET /plugins` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The name it has in configs and URLs: its file's name without `.wasm`.
    pub name: String,
    pub path: String,
    /// What the running version's `describe()` says; `None` if no version
    /// of it loaded (yet: a file present at start that no pipeline uses is
    /// compiled only when it changes or is pushed).
    pub plugin: Option<String>,
    pub version: Option<String>,
    pub hash: Option<String>,
    /// When the running version was loaded (RFC 3339, UTC).
    pub loaded_at: Option<String>,
    /// How it came: `start`, `file`, `upload` or `rollback`.
    pub loaded_from: Option<&'static str>,
    pub pipelines: Vec<String>,
    /// The running version's counters, over every pipeline using it, since
    /// it was swapped in.
    pub events_in: u64,
    pub events_out: u64,
    pub dropped: u64,
    pub failed: u64,
    pub micros_per_event: Option<f64>,
    pub last_error: Option<LoadFailure>,
    /// The dry run of the last version taken.
    pub last_dry_run: Option<PluginDiff>,
    /// Kept versions (content hashes), oldest first; rollback goes to the
    /// one before the running version.
    pub history: Vec<String>,
}

impl PluginInfo {
    /// What anyone may see: no event contents (dry-run examples and refusal
    /// reasons quote recent events) and no server paths.
    pub fn redacted(mut self) -> PluginInfo {
        self.path = std::path::Path::new(&self.path)
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        if let Some(error) = &mut self.last_error {
            error.reason = REDACTED.to_string();
        }
        self.last_dry_run = None;
        self
    }
}

/// What a redacted field says.
pub const REDACTED: &str = "(shown with the admin token)";

/// The last version refused, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    pub at: String,
    pub hash: String,
    pub reason: String,
}

/// How a version arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arrival {
    Start,
    File,
    Upload,
    Rollback,
}

impl Arrival {
    fn as_str(self) -> &'static str {
        match self {
            Arrival::Start => "start",
            Arrival::File => "file",
            Arrival::Upload => "upload",
            Arrival::Rollback => "rollback",
        }
    }
}

/// The registry of a process's plugins. Cheap to clone.
#[derive(Clone)]
pub struct PluginRegistry {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

pub(super) struct Shared {
    engine: PluginEngine,
    pub(super) dir: PathBuf,
    lake: Lake,
    runtime: Handle,
    /// Held while a version is validated and taken: one at a time.
    loading: Mutex<()>,
    state: Mutex<State>,
    /// The folder watcher, kept alive with the registry.
    pub(super) watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

struct State {
    plugins: BTreeMap<String, Entry>,
    pipelines: Vec<Slot>,
}

struct Entry {
    path: PathBuf,
    current: Option<Current>,
    last_error: Option<LoadFailure>,
    last_dry_run: Option<PluginDiff>,
}

struct Current {
    plugin: Plugin,
    bytes: Arc<[u8]>,
    loaded_at: SystemTime,
    arrival: Arrival,
}

/// A pipeline as the registry knows it.
struct Slot {
    hooks: Arc<PipelineHooks>,
    /// The registry name of each plugin in its chain.
    plugins: Vec<String>,
    tables: HashMap<Arc<str>, Schema>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A name from a URL or a file: what `<plugin_dir>/<name>.wasm` may be.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl PluginRegistry {
    /// A registry over `pipelines` (already built, their plugins loaded from
    /// `paths`: per pipeline, each plugin's file) and the plugin folder.
    pub fn new(
        engine: PluginEngine,
        dir: PathBuf,
        lake: Lake,
        runtime: Handle,
        pipelines: &[Pipeline],
        paths: &[Vec<PathBuf>],
    ) -> PluginRegistry {
        let mut plugins = BTreeMap::new();
        let mut slots = Vec::new();
        for (pipeline, paths) in pipelines.iter().zip(paths) {
            let mut names = Vec::new();
            for (plugin, path) in pipeline.plugins().zip(paths) {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| plugin.name().to_string());
                names.push(name.clone());
                plugins.entry(name).or_insert_with(|| Entry {
                    path: path.clone(),
                    current: Some(Current {
                        plugin: plugin.clone(),
                        bytes: std::fs::read(path).unwrap_or_default().into(),
                        loaded_at: SystemTime::now(),
                        arrival: Arrival::Start,
                    }),
                    last_error: None,
                    last_dry_run: None,
                });
            }
            slots.push(Slot {
                hooks: pipeline.hooks().clone(),
                plugins: names,
                tables: pipeline.table_schemas(),
            });
        }
        PluginRegistry {
            shared: Arc::new(Shared {
                engine,
                dir,
                lake,
                runtime,
                loading: Mutex::new(()),
                state: Mutex::new(State {
                    plugins,
                    pipelines: slots,
                }),
                watcher: Mutex::new(None),
            }),
        }
    }

    /// The watched plugin folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(super) fn from_weak(weak: &Weak<Shared>) -> Option<PluginRegistry> {
        weak.upgrade().map(|shared| PluginRegistry { shared })
    }

    /// The files the registry follows outside the plugin folder (plugins a
    /// config names by path), with their registry names.
    pub(super) fn files(&self) -> Vec<(String, PathBuf)> {
        lock(&self.shared.state)
            .plugins
            .iter()
            .map(|(name, e)| (name.clone(), e.path.clone()))
            .collect()
    }

    /// An upload: validates `bytes` as the next version of `name` and, if
    /// it passes, stores it as `<plugin_dir>/<name>.wasm` and swaps it in.
    pub fn upload(&self, name: &str, bytes: Vec<u8>) -> Result<Accepted, HotError> {
        if !valid_name(name) {
            return Err(HotError::BadName(name.to_string()));
        }
        let _one = lock(&self.shared.loading);
        self.offer(name, bytes.into(), Arrival::Upload)
    }

    /// A file in the watched folder changed: its content is offered as the
    /// next version of the plugin it holds. Read under the loading lock, so
    /// what is offered is what the file holds after any upload or rollback
    /// that wrote it meanwhile. `None` if the file is gone.
    pub(super) fn file_changed(
        &self,
        name: &str,
        path: &Path,
    ) -> Option<Result<Accepted, HotError>> {
        let _one = lock(&self.shared.loading);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "Plugin file vanished before it was read.");
                return None;
            }
        };
        Some(self.offer(name, bytes.into(), Arrival::File))
    }

    /// A plugin file found in the folder at start that no pipeline uses:
    /// listed, but compiled only when it changes or is pushed, so a start
    /// does not compile a folder of plugins nobody runs.
    pub(super) fn note_present(&self, name: &str, path: &Path) {
        let mut state = lock(&self.shared.state);
        state
            .plugins
            .entry(name.to_string())
            .or_insert_with(|| Entry {
                path: path.to_path_buf(),
                current: None,
                last_error: None,
                last_dry_run: None,
            });
    }

    /// Goes back to the version before the running one.
    pub fn rollback(&self, name: &str) -> Result<Accepted, HotError> {
        let _one = lock(&self.shared.loading);
        let current = {
            let state = lock(&self.shared.state);
            state.plugins.get(name).map(|entry| {
                entry
                    .current
                    .as_ref()
                    .map(|c| c.plugin.content_hash().to_string())
            })
        };
        let Some(current) = current else {
            return Err(self.unknown(name));
        };
        let mut versions = history::list(&self.shared.dir, name);
        while versions
            .last()
            .is_some_and(|v| Some(&v.hash) == current.as_ref())
        {
            versions.pop();
        }
        let target = versions
            .pop()
            .ok_or_else(|| HotError::NoEarlierVersion(name.to_string()))?;
        let bytes = std::fs::read(&target.path).map_err(|source| HotError::Io {
            what: format!("read `{}`", target.path.display()),
            source,
        })?;
        let accepted = self.offer(name, bytes.into(), Arrival::Rollback)?;
        history::forget_after(&self.shared.dir, name, &target).map_err(|source| HotError::Io {
            what: "trim the plugin history".into(),
            source,
        })?;
        Ok(accepted)
    }

    /// Forgets a plugin no pipeline uses and deletes its file.
    pub fn remove(&self, name: &str) -> Result<(), HotError> {
        let _one = lock(&self.shared.loading);
        let mut state = lock(&self.shared.state);
        let users: Vec<String> = state
            .pipelines
            .iter()
            .filter(|s| s.plugins.iter().any(|p| p == name))
            .map(|s| s.hooks.pipeline().to_string())
            .collect();
        if !users.is_empty() {
            return Err(HotError::InUse {
                name: name.to_string(),
                pipelines: users.join(", "),
            });
        }
        let Some(entry) = state.plugins.get(name) else {
            drop(state);
            return Err(self.unknown(name));
        };
        match std::fs::remove_file(&entry.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(HotError::Io {
                    what: format!("delete `{}`", entry.path.display()),
                    source,
                });
            }
        }
        state.plugins.remove(name);
        tracing::info!(plugin = name, "Plugin removed.");
        Ok(())
    }

    /// Every plugin, by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        let state = lock(&self.shared.state);
        state
            .plugins
            .iter()
            .map(|(name, entry)| self.info(&state, name, entry))
            .collect()
    }

    fn info(&self, state: &State, name: &str, entry: &Entry) -> PluginInfo {
        let current = entry.current.as_ref();
        let hash = current.map(|c| c.plugin.content_hash().to_string());
        let mut info = PluginInfo {
            name: name.to_string(),
            path: entry.path.display().to_string(),
            plugin: current.map(|c| c.plugin.name().to_string()),
            version: current.map(|c| c.plugin.version().to_string()),
            hash: hash.clone(),
            loaded_at: current.map(|c| rfc3339(c.loaded_at)),
            loaded_from: current.map(|c| c.arrival.as_str()),
            pipelines: Vec::new(),
            events_in: 0,
            events_out: 0,
            dropped: 0,
            failed: 0,
            micros_per_event: None,
            last_error: entry.last_error.clone(),
            last_dry_run: entry.last_dry_run.clone(),
            history: history::list(&self.shared.dir, name)
                .into_iter()
                .map(|v| v.hash)
                .collect(),
        };
        let mut busy = Duration::ZERO;
        for slot in &state.pipelines {
            let stats = slot.hooks.stats();
            for (i, p) in slot.plugins.iter().enumerate() {
                if p != name {
                    continue;
                }
                info.pipelines.push(slot.hooks.pipeline().to_string());
                let Some((h, s)) = stats.get(i) else { continue };
                if Some(h) != hash.as_ref() {
                    continue;
                }
                info.events_in += s.events_in;
                info.events_out += s.kept + s.routed + s.events_out;
                info.dropped += s.dropped;
                info.failed += s.failed;
                busy += s.busy;
            }
        }
        if info.events_in > 0 {
            info.micros_per_event = Some(busy.as_secs_f64() * 1e6 / info.events_in as f64);
        }
        info
    }

    fn unknown(&self, name: &str) -> HotError {
        let state = lock(&self.shared.state);
        let known: Vec<&str> = state.plugins.keys().map(String::as_str).collect();
        HotError::Unknown {
            name: name.to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        }
    }

    /// Validates and takes a version; the caller holds `loading`.
    fn offer(&self, name: &str, bytes: Arc<[u8]>, arrival: Arrival) -> Result<Accepted, HotError> {
        let hash = content_hash(&bytes);
        let (users, previous) = {
            let state = lock(&self.shared.state);
            let current = state.plugins.get(name).and_then(|e| e.current.as_ref());
            if let Some(c) = current.filter(|c| c.plugin.content_hash() == hash) {
                return Ok(accepted(
                    name,
                    &c.plugin,
                    true,
                    users_of(&state, name),
                    None,
                ));
            }
            let users: Vec<User> = state
                .pipelines
                .iter()
                .flat_map(|slot| {
                    slot.plugins
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| *p == name)
                        .map(|(index, _)| User {
                            hooks: slot.hooks.clone(),
                            index,
                            tables: slot.tables.clone(),
                        })
                })
                .collect();
            (users, current.map(|c| c.bytes.clone()))
        };
        let shared = &self.shared;
        let validated = match validate(
            &shared.engine,
            &shared.lake,
            &shared.runtime,
            name,
            &bytes,
            &users,
        ) {
            Ok(v) => v,
            Err(reason) => {
                tracing::error!(plugin = name, hash = %hash, from = arrival.as_str(), %reason, "Plugin version refused; the running version stays.");
                let mut state = lock(&shared.state);
                // A refused upload under a name nothing holds leaves no
                // entry: its 422 says why, and a listing of such names
                // would grow with every bad upload (found by schemathesis).
                if matches!(arrival, Arrival::Upload) && !state.plugins.contains_key(name) {
                    return Err(HotError::Refused(reason));
                }
                let entry = state
                    .plugins
                    .entry(name.to_string())
                    .or_insert_with(|| self.new_entry(name));
                entry.last_error = Some(LoadFailure {
                    at: rfc3339(SystemTime::now()),
                    hash,
                    reason: reason.clone(),
                });
                return Err(HotError::Refused(reason));
            }
        };
        let plugin = validated.plugin;
        let io = |what: &str| {
            let what = what.to_string();
            move |source| HotError::Io { what, source }
        };
        let path = {
            let state = lock(&shared.state);
            state.plugins.get(name).map_or_else(
                || shared.dir.join(format!("{name}.wasm")),
                |e| e.path.clone(),
            )
        };
        if arrival != Arrival::File {
            std::fs::create_dir_all(&shared.dir).map_err(io("create the plugin folder"))?;
            history::write_atomically(&path, &bytes)
                .map_err(io(&format!("write `{}`", path.display())))?;
        }
        if arrival != Arrival::Rollback {
            if let Some(previous) = &previous {
                history::keep(&shared.dir, name, previous, &content_hash(previous))
                    .map_err(io("keep the previous version"))?;
            }
            history::keep(&shared.dir, name, &bytes, &hash).map_err(io("keep the new version"))?;
        }

        let mut state = lock(&shared.state);
        for slot in &mut state.pipelines {
            for (index, p) in slot.plugins.iter().enumerate() {
                if p != name {
                    continue;
                }
                for t in plugin.tables() {
                    if let Some(schema) = slot.tables.get_mut(&t.name) {
                        *schema = t.schema.clone();
                    }
                }
                slot.hooks.swap(index, plugin.clone());
            }
        }
        let pipelines = users_of(&state, name);
        let entry = state
            .plugins
            .entry(name.to_string())
            .or_insert_with(|| self.new_entry(name));
        entry.current = Some(Current {
            plugin: plugin.clone(),
            bytes,
            loaded_at: SystemTime::now(),
            arrival,
        });
        entry.last_error = None;
        entry.last_dry_run = validated.dry_run.clone();
        tracing::info!(plugin = name, version = %plugin.version(), hash = %hash, from = arrival.as_str(), pipelines = ?pipelines, dry_run = %validated.dry_run.as_ref().map(|d| d.summary()).unwrap_or_else(|| "no recent events".into()), "Plugin version accepted.");
        Ok(accepted(name, &plugin, false, pipelines, validated.dry_run))
    }

    fn new_entry(&self, name: &str) -> Entry {
        Entry {
            path: self.shared.dir.join(format!("{name}.wasm")),
            current: None,
            last_error: None,
            last_dry_run: None,
        }
    }
}

fn users_of(state: &State, name: &str) -> Vec<String> {
    state
        .pipelines
        .iter()
        .filter(|s| s.plugins.iter().any(|p| p == name))
        .map(|s| s.hooks.pipeline().to_string())
        .collect()
}

fn accepted(
    name: &str,
    plugin: &Plugin,
    unchanged: bool,
    pipelines: Vec<String>,
    dry_run: Option<PluginDiff>,
) -> Accepted {
    Accepted {
        name: name.to_string(),
        plugin: plugin.name().to_string(),
        version: plugin.version().to_string(),
        hash: plugin.content_hash().to_string(),
        unchanged,
        pipelines,
        dry_run,
    }
}
