//! Flags several commands share, each also readable from an environment
//! variable so containers can be configured without a file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::broker::{BrokerConfig, FlushPolicy, LogSettings, TopicConfig, TopicSpec};
use crate::config::{BrokerSection, Config};
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
    /// When the broker syncs its log to disk: `request` (before each produce
    /// is acknowledged), an interval such as `1s`, or `never` [config: broker.flush; default 1s].
    #[arg(long, env = "SLUICE_LOG_FLUSH")]
    pub log_flush: Option<String>,
    /// Delete closed log segments whose records are all older than this
    /// (`7d`, `12h`, `forever`) [config: broker.retention; default 7d].
    #[arg(long, env = "SLUICE_LOG_RETENTION")]
    pub log_retention: Option<String>,
    /// Delete a partition's oldest segments while it is larger than this;
    /// -1 for no limit [config: broker.retention_bytes; default -1].
    #[arg(long, allow_negative_numbers = true)]
    pub log_retention_bytes: Option<i64>,
    /// Close a log segment past this size [config: broker.segment_bytes; default 1 GiB].
    #[arg(long)]
    pub log_segment_bytes: Option<u64>,
    /// The largest record batch a producer may send [config: broker.max_message_bytes; default 8 MiB].
    #[arg(long)]
    pub message_max_bytes: Option<u64>,
    /// How often retention runs [config: broker.retention_check; default 5m].
    #[arg(long)]
    pub log_retention_check: Option<String>,
}

impl BrokerArgs {
    /// The embedded broker's config: the config file's `[broker]` table,
    /// then these flags over it, with the `events` topic of `partitions`.
    pub fn broker_config(
        &self,
        file: &BrokerSection,
        partitions: i32,
    ) -> anyhow::Result<BrokerConfig> {
        let flush = self.log_flush.as_deref().unwrap_or(&file.flush);
        let flush: FlushPolicy = flush
            .parse()
            .map_err(|e: String| anyhow::anyhow!("broker flush: {e}"))?;
        let retention = self.log_retention.as_deref().unwrap_or(&file.retention);
        let retention_ms = match retention.trim() {
            "forever" | "-1" => -1,
            text => humantime::parse_duration(text)
                .map(|d| d.as_millis() as i64)
                .with_context(|| {
                    format!("broker retention `{text}`: a duration such as `7d`, or `forever`")
                })?,
        };
        let check = self
            .log_retention_check
            .as_deref()
            .unwrap_or(&file.retention_check);
        let maintenance_interval = humantime::parse_duration(check)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!("broker retention check `{check}`: a duration such as `5m`")
            })?;
        let retention_bytes = self.log_retention_bytes.unwrap_or(file.retention_bytes);
        if retention_bytes < -1 {
            anyhow::bail!("broker retention bytes {retention_bytes}: -1 (no limit) or more");
        }
        let defaults = TopicConfig {
            retention_ms,
            retention_bytes,
            segment_bytes: self.log_segment_bytes.unwrap_or(file.segment_bytes),
            max_message_bytes: self.message_max_bytes.unwrap_or(file.max_message_bytes),
            ..TopicConfig::default()
        };
        // The settings go through the same checks as a topic's own configs.
        let checked = TopicConfig::default()
            .with_overrides(&defaults.as_overrides())
            .map_err(|fault| anyhow::anyhow!("broker settings: {fault}"))?;
        let config = BrokerConfig::new(&self.data)
            .with_listen(self.broker_listen)
            .with_topics(vec![TopicSpec::new(
                crate::broker::DEFAULT_TOPIC,
                partitions,
            )])
            .with_log(LogSettings {
                flush,
                defaults: checked,
            });
        Ok(BrokerConfig {
            maintenance_interval,
            ..config
        })
    }
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
