//! The watched plugin folder: a `.wasm` file that appears or changes there
//! (or a plugin file a config names elsewhere) is offered to the registry as
//! the next version of the plugin named by its file. Events are gathered
//! until the folder is quiet for [`QUIET`], so a file being copied in is
//! read once it is whole; hidden files (`.name.wasm.tmp`, `.history/`) are
//! ignored, so writing a temporary file and renaming it lands atomically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{RecvTimeoutError, unbounded};
use notify::{RecursiveMode, Watcher};

use super::registry::{PluginRegistry, valid_name};

/// How long the folder must be quiet before changed files are read.
const QUIET: Duration = Duration::from_millis(50);

impl PluginRegistry {
    /// Watches the plugin folder (created if missing) and the folders of
    /// plugins named by path, on a thread of its own, until the registry is
    /// dropped. Plugins already in the folder are listed first.
    pub fn watch(&self) -> anyhow::Result<()> {
        let dir = self.dir().to_path_buf();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the plugin folder `{}`", dir.display()))?;
        let (tx, rx) = unbounded::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !event.kind.is_access()
                    && !event.kind.is_remove()
                {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
            })
            .context("cannot watch the plugin folder")?;
        let mut folders: BTreeSet<PathBuf> = BTreeSet::from([dir.clone()]);
        for (_, path) in self.files() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                folders.insert(parent.to_path_buf());
            }
        }
        for folder in &folders {
            watcher
                .watch(folder, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch `{}`", folder.display()))?;
        }
        *self
            .shared()
            .watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(watcher);

        let weak = Arc::downgrade(self.shared());
        std::thread::Builder::new()
            .name("plugin-watch".into())
            .spawn(move || {
                // What was in the folder before the watch began.
                if let Some(registry) = PluginRegistry::from_weak(&weak) {
                    let mut present: Vec<PathBuf> = std::fs::read_dir(&dir)
                        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                        .unwrap_or_default();
                    present.sort();
                    let known: Vec<PathBuf> =
                        registry.files().into_iter().map(|(_, p)| p).collect();
                    for path in present {
                        if known.iter().any(|k| same_file(k, &path)) {
                            // Loaded by its pipeline; offered in case it
                            // changed since (unchanged costs a hash).
                            registry.offer_file(&path);
                        } else if let Some(name) = registry.name_of(&path) {
                            registry.note_present(&name, &path);
                        }
                    }
                }
                loop {
                    let Ok(first) = rx.recv() else { return };
                    let mut changed = BTreeSet::from([first]);
                    loop {
                        match rx.recv_timeout(QUIET) {
                            Ok(path) => {
                                changed.insert(path);
                            }
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    let Some(registry) = PluginRegistry::from_weak(&weak) else {
                        return;
                    };
                    for path in changed {
                        registry.offer_file(&path);
                    }
                }
            })
            .context("spawning the plugin watcher thread")?;
        Ok(())
    }

    /// Offers the file at `path` if it is a plugin the registry follows.
    fn offer_file(&self, path: &Path) {
        let Some(name) = self.name_of(path) else {
            return;
        };
        // A refusal is logged and recorded by the registry.
        let _ = self.file_changed(&name, path);
    }

    /// The registry name of the plugin file at `path`: a followed file's, or
    /// the stem of a visible `.wasm` file in the plugin folder.
    fn name_of(&self, path: &Path) -> Option<String> {
        if let Some((name, _)) = self.files().into_iter().find(|(_, p)| same_file(p, path)) {
            return Some(name);
        }
        let file = path.file_name()?.to_str()?;
        let stem = file.strip_suffix(".wasm")?;
        let in_dir = path.parent().is_some_and(|p| same_file(p, self.dir()));
        (in_dir && valid_name(stem)).then(|| stem.to_string())
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}
