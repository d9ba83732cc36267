//! The versions of a plugin that were live, newest last, kept as
//! `<plugin_dir>/.history/<name>/<seq>-<hash>.wasm` (a hidden folder, so
//! the watcher and `sluice plugin build --out` leave it alone). Only the
//! last [`KEEP`] are kept.

use std::path::{Path, PathBuf};

/// Versions kept per plugin.
pub(super) const KEEP: usize = 6;

/// A kept version.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub(super) path: PathBuf,
    seq: u64,
    pub(super) hash: String,
}

fn folder(plugin_dir: &Path, name: &str) -> PathBuf {
    plugin_dir.join(".history").join(name)
}

/// The kept versions of `name`, oldest first.
pub(super) fn list(plugin_dir: &Path, name: &str) -> Vec<Version> {
    let Ok(entries) = std::fs::read_dir(folder(plugin_dir, name)) else {
        return Vec::new();
    };
    let mut versions: Vec<Version> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let stem = file.strip_suffix(".wasm")?;
            let (seq, hash) = stem.split_once('-')?;
            Some(Version {
                path: e.path(),
                seq: seq.parse().ok()?,
                hash: hash.to_string(),
            })
        })
        .collect();
    versions.sort_by_key(|v| v.seq);
    versions
}

/// Keeps `bytes` as the newest version of `name`, unless it already is;
/// forgets the oldest beyond [`KEEP`].
pub(super) fn keep(plugin_dir: &Path, name: &str, bytes: &[u8], hash: &str) -> std::io::Result<()> {
    let versions = list(plugin_dir, name);
    if versions.last().is_some_and(|v| v.hash == hash) {
        return Ok(());
    }
    let dir = folder(plugin_dir, name);
    std::fs::create_dir_all(&dir)?;
    let seq = versions.last().map_or(1, |v| v.seq + 1);
    write_atomically(&dir.join(format!("{seq:06}-{hash}.wasm")), bytes)?;
    let excess = (versions.len() + 1).saturating_sub(KEEP);
    for old in versions.iter().take(excess) {
        std::fs::remove_file(&old.path)?;
    }
    Ok(())
}

/// Forgets the versions kept after `version`: a rollback abandons them.
pub(super) fn forget_after(
    plugin_dir: &Path,
    name: &str,
    version: &Version,
) -> std::io::Result<()> {
    for v in list(plugin_dir, name) {
        if v.seq > version.seq {
            std::fs::remove_file(&v.path)?;
        }
    }
    Ok(())
}

/// Writes `path` through a hidden temporary file and a rename, so a reader
/// (the watcher, a restarting pipeline) never sees half a file.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_kept_newest_last_and_the_oldest_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..KEEP + 2 {
            keep(dir.path(), "p", &[i as u8], &format!("h{i}")).unwrap();
            keep(dir.path(), "p", &[i as u8], &format!("h{i}")).unwrap();
        }
        let versions = list(dir.path(), "p");
        assert_eq!(versions.len(), KEEP);
        assert_eq!(versions.last().unwrap().hash, format!("h{}", KEEP + 1));
        assert_eq!(versions[0].hash, "h2");
        forget_after(dir.path(), "p", &versions[1]).unwrap();
        let left: Vec<String> = list(dir.path(), "p").into_iter().map(|v| v.hash).collect();
        assert_eq!(left, ["h2", "h3"]);
    }
}
