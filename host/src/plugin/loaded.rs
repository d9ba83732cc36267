//! A loaded plugin: compiled once, checked against the contract, described,
//! and ready to instantiate many times from its cached `InstancePre`.

use std::path::Path;
use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::Component;

use super::bindings::{Plugin as PluginBindings, PluginPre};
use super::engine::PluginEngine;
use super::error::LoadError;
use super::sandbox::{Sandbox, SandboxHandles};
use super::trap;
use crate::schema::Schema;

/// A table a plugin routes into, with its parsed schema.
#[derive(Debug, Clone)]
pub struct PluginTable {
    pub name: Arc<str>,
    pub schema: Schema,
}

/// A plugin ready to run. Cheap to clone; instances are made per runner.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    version: Arc<str>,
    origin: String,
    tables: Vec<PluginTable>,
    engine: PluginEngine,
    pre: PluginPre<Sandbox>,
    content_hash: String,
    _live: LiveVersion,
}

/// Counts the compiled plugin versions alive in the process, in the gauge
/// `sluice_plugin_versions_live`: hot loading must let go of the versions
/// it replaced (and the history keeps files, not compiled code).
struct LiveVersion;

impl LiveVersion {
    fn new() -> LiveVersion {
        metrics::gauge!(crate::telemetry::PLUGIN_VERSIONS_LIVE).increment(1.0);
        LiveVersion
    }
}

impl Drop for LiveVersion {
    fn drop(&mut self) {
        metrics::gauge!(crate::telemetry::PLUGIN_VERSIONS_LIVE).decrement(1.0);
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("origin", &self.inner.origin)
            .finish()
    }
}

/// A live instance with the handles that steer its sandbox.
pub(crate) struct Instance {
    pub(crate) store: Store<Sandbox>,
    pub(crate) bindings: PluginBindings,
    pub(crate) handles: SandboxHandles,
}

impl Plugin {
    pub fn load_file(engine: &PluginEngine, path: &Path) -> Result<Plugin, LoadError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            origin: origin.clone(),
            source,
        })?;
        Plugin::load(engine, &bytes, &origin)
    }

    /// Compiles, links and describes a plugin. `origin` names it in errors
    /// (a file path, or an upload's name).
    pub fn load(engine: &PluginEngine, bytes: &[u8], origin: &str) -> Result<Plugin, LoadError> {
        let origin_s = origin.to_string();
        if bytes.get(..4) != Some(b"\0asm") {
            return Err(LoadError::NotAComponent {
                origin: origin_s,
                cause: "the file does not start with the wasm magic bytes".into(),
            });
        }
        let component =
            Component::new(&engine.engine, bytes).map_err(|e| LoadError::NotAComponent {
                origin: origin_s.clone(),
                cause: one_line(&e),
            })?;
        let instance_pre =
            engine
                .linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::WrongWorld {
                    origin: origin_s.clone(),
                    cause: one_line(&e),
                })?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::WrongWorld {
            origin: origin_s.clone(),
            cause: one_line(&e),
        })?;

        let content_hash = content_hash(bytes);
        let mut plugin = Plugin {
            inner: Arc::new(Inner {
                name: Arc::from(origin),
                version: Arc::from("?"),
                origin: origin_s.clone(),
                tables: Vec::new(),
                engine: engine.clone(),
                pre,
                content_hash,
                _live: LiveVersion::new(),
            }),
        };
        let mut instance = plugin.instantiate().map_err(|reason| LoadError::Describe {
            origin: origin_s.clone(),
            reason,
        })?;
        instance
            .store
            .set_epoch_deadline(engine.limits.deadline_ticks());
        let info = instance
            .bindings
            .call_describe(&mut instance.store)
            .map_err(|e| LoadError::Describe {
                origin: origin_s.clone(),
                reason: trap::reason(&e, &instance.handles.stderr.take(), &engine.limits),
            })?;

        let name = info.name.trim();
        if name.is_empty() {
            return Err(LoadError::Invalid {
                origin: origin_s,
                reason: "describe() returned an empty name".into(),
            });
        }
        if info.version.trim().is_empty() {
            return Err(LoadError::Invalid {
                origin: origin_s,
                reason: format!("plugin `{name}` returned an empty version"),
            });
        }
        let mut tables: Vec<PluginTable> = Vec::with_capacity(info.tables.len());
        for t in &info.tables {
            let valid_name = !t.name.is_empty()
                && t.name.starts_with(|c: char| c.is_ascii_lowercase())
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_name {
                return Err(LoadError::Invalid {
                    origin: origin_s,
                    reason: format!(
                        "table name `{}` must be lower snake case, like `events_buy`",
                        t.name
                    ),
                });
            }
            if tables.iter().any(|x| *x.name == *t.name) {
                return Err(LoadError::Invalid {
                    origin: origin_s,
                    reason: format!("table `{}` is described twice", t.name),
                });
            }
            let schema = Schema::parse(&t.schema).map_err(|problem| LoadError::Schema {
                origin: origin_s.clone(),
                name: name.to_string(),
                table: t.name.clone(),
                problem: Box::new(problem),
            })?;
            tables.push(PluginTable {
                name: Arc::from(t.name.as_str()),
                schema,
            });
        }
        let inner = Arc::get_mut(&mut plugin.inner).expect("the plugin is not shared yet");
        inner.name = Arc::from(name);
        inner.version = Arc::from(info.version.trim());
        inner.tables = tables;
        Ok(plugin)
    }

    pub fn name(&self) -> &Arc<str> {
        &self.inner.name
    }

    pub fn version(&self) -> &Arc<str> {
        &self.inner.version
    }

    /// Where the plugin was loaded from.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    pub fn tables(&self) -> &[PluginTable] {
        &self.inner.tables
    }

    /// A short hash of the component bytes, to tell two builds apart.
    pub fn content_hash(&self) -> &str {
        &self.inner.content_hash
    }

    pub(crate) fn engine(&self) -> &PluginEngine {
        &self.inner.engine
    }

    /// A fresh instance in a fresh store. The epoch deadline is set before
    /// instantiating, so a plugin whose start-up loops is stopped too.
    pub(crate) fn instantiate(&self) -> Result<Instance, String> {
        let engine = &self.inner.engine;
        let handles = SandboxHandles::default();
        let sandbox = Sandbox::new(
            self.inner.name.clone(),
            engine.limits.memory_bytes,
            &handles,
        );
        let mut store = Store::new(&engine.engine, sandbox);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(engine.limits.deadline_ticks());
        match self.inner.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(Instance {
                store,
                bindings,
                handles,
            }),
            Err(e) => Err(trap::reason(&e, &handles.stderr.take(), &engine.limits)),
        }
    }
}

/// A short, stable fingerprint of a plugin file, to tell builds apart: the
/// first 16 hex digits of its SHA-256.
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// An error chain on one line, without wasmtime's multi-line context noise.
fn one_line(e: &wasmtime::Error) -> String {
    let s = format!("{e:#}");
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
