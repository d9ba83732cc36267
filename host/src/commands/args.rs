//! Flags several commands share, each also readable from an environment
//! variable so containers can be configured without a file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::http::{ADMIN_TOKEN_FILE, AdminToken};

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The configuration file (TOML); without it every default applies.
    #[arg(long, short, env = "SLUICE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers, overriding the config file.
    #[arg(long, env = "SLUICE_BROKERS")]
    pub brokers: Option<String>,
    /// The lake (`./lake`, `file:///abs/path` or `hdfs://namenode:8020/lake`), overriding the config file.
    #[arg(long, env = "SLUICE_LAKE")]
    pub lake: Option<String>,
    /// Where plugins named in the config are found, overriding the config file.
    #[arg(long, env = "SLUICE_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(brokers) = &self.brokers {
            config.source.brokers = brokers.clone();
        }
        if let Some(lake) = &self.lake {
            config.lake.url = lake.clone();
        }
        if let Some(dir) = &self.plugin_dir {
            config.plugin_dir = dir.clone();
        }
        config.check()?;
        Ok(config)
    }

    /// Whether a Kafka is named: by `--brokers` (or `SLUICE_BROKERS`), or by
    /// `[source] brokers` in the config file. `sluice serve` runs its own
    /// broker only when none is.
    pub fn names_brokers(&self) -> anyhow::Result<bool> {
        if self.brokers.is_some() {
            return Ok(true);
        }
        let Some(path) = &self.config else {
            return Ok(false);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let file: toml::Table = text
            .parse()
            .with_context(|| format!("`{}` is not TOML", path.display()))?;
        Ok(file
            .get("source")
            .and_then(|source| source.get("brokers"))
            .is_some())
    }
}

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Where the embedded broker listens.
    #[arg(long, env = "SLUICE_BROKER_LISTEN", default_value = "127.0.0.1:9092")]
    pub broker_listen: SocketAddr,
    /// The data directory: the broker's log (`log/`) and metadata live in it.
    #[arg(long, env = "SLUICE_DATA", default_value = "./data")]
    pub data: PathBuf,
}

/// How a client command (`sluice tail`, `sluice sql`) reaches a running
/// sluice: its URL and the admin token.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// sluice's HTTP port (`sluice serve`, `sluice api`, `sluice query`, or
    /// `sluice pipeline`'s --metrics-listen).
    #[arg(
        long,
        alias = "server",
        env = "SLUICE_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub url: String,
    /// The admin token; else SLUICE_ADMIN_TOKEN, else `<data>/admin-token`.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The data directory holding `admin-token`.
    #[arg(long, env = "SLUICE_DATA", default_value = "./data")]
    pub data: PathBuf,
}

impl ServerArgs {
    pub fn token(&self) -> anyhow::Result<AdminToken> {
        if let Some(token) = &self.token {
            return Ok(AdminToken::new(token));
        }
        let path = self.data.join(ADMIN_TOKEN_FILE);
        AdminToken::read(&path)?.with_context(|| {
            format!(
                "no admin token: pass --token, set SLUICE_ADMIN_TOKEN, or run where `{}` exists",
                path.display()
            )
        })
    }

    /// `path` on the server, e.g. `/query`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
/// Completes on Ctrl-C or SIGTERM, or when `exited` does: the pipelines
/// ended by themselves, which only a failure does. The process then stops,
/// and `RunningPipelines::stop` says what failed, so a supervisor (systemd,
/// Docker's restart policy) sees it exit and restarts it.
pub async fn shutdown_or_exit(exited: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = shutdown_signal() => {}
        () = exited => {
            tracing::error!("A pipeline stopped by itself; stopping sluice to say why.");
        }
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("Stopping: flushing files and committing offsets.");
}
