//! `sluice api`: the game API alone, in front of a Kafka it connects to
//! (`sluice broker`, or a real cluster). Several can share one game with
//! `--state redis://…`. `sluice serve` runs the same API with [`ApiArgs`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::args::shutdown_signal;
use crate::api::{EventLog, EventLogConfig, GameApi, GameStore, STATE_FILE, StateLocation};
use crate::http::{AdminToken, AppState, router, serve};

/// The game API's knobs, shared by `sluice api` and `sluice serve`.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Where the game state lives: a redb file (default `<data>/game-state.redb`)
    /// or `redis://host:port` to share it between API processes.
    #[arg(long, env = "SLUICE_STATE")]
    pub state: Option<String>,
    /// How long a session lives after its last action (`2h`, `90s`).
    #[arg(long, env = "SLUICE_SESSION_TTL", default_value = "2h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// How long a request waits for Kafka's acknowledgement before it gets a 503.
    #[arg(long, env = "SLUICE_DELIVERY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub delivery_timeout: Duration,
    /// How long an event waits for others to share its produce request (librdkafka `linger.ms`).
    #[arg(long, env = "SLUICE_LINGER", default_value = "1ms", value_parser = humantime::parse_duration)]
    pub linger: Duration,
    /// Let anyone who reaches the port `POST /events`, without the ingest
    /// key (SLUICE_INGEST_KEY, or <data>/ingest-key). Only for a port no
    /// untrusted client can reach.
    #[arg(long, env = "SLUICE_INGEST_OPEN")]
    pub ingest_open: bool,
    /// Events a second each client (IP address) may send to `POST /events`;
    /// more get a 429 with Retry-After.
    #[arg(long, env = "SLUICE_INGEST_RATE", default_value_t = crate::api::DEFAULT_INGEST_PER_SECOND)]
    pub ingest_rate: u32,
}

impl ApiArgs {
    /// Opens the game state and the event log; resolves the admin token
    /// (printing where it is).
    pub async fn start(
        &self,
        brokers: &str,
        topic: &str,
        data_dir: &Path,
    ) -> anyhow::Result<GameApi> {
        let (admin, source) = AdminToken::resolve(data_dir)?;
        println!("admin     token {source}");
        let ingest_key = if self.ingest_open {
            println!("ingest    POST /events is open to anyone (--ingest-open)");
            None
        } else {
            let (key, source) = AdminToken::resolve_ingest_key(data_dir)?;
            println!("ingest    key {source}");
            Some(key)
        };
        let location = match &self.state {
            Some(spec) => StateLocation::parse(spec),
            None => StateLocation::File(data_dir.join(STATE_FILE)),
        };
        let store = GameStore::open(&location)
            .await
            .with_context(|| format!("cannot open the game state at {location}"))?;
        println!("state     {location}");
        let log = EventLog::new(EventLogConfig {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            linger: self.linger,
            delivery_timeout: self.delivery_timeout,
        })?;
        let guards = crate::api::Guards {
            ingest_key,
            ingest_per_second: self.ingest_rate,
            ..crate::api::Guards::default()
        };
        let api = GameApi::with_guards(
            store,
            log,
            admin,
            self.session_ttl,
            guards,
            !self.ingest_open,
        );
        api.spawn_session_purge(Duration::from_secs(60));
        Ok(api)
    }
}

#[derive(Debug, Args)]
pub struct ApiCommand {
    /// The HTTP address of the game API (and /metrics).
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Kafka bootstrap servers.
    #[arg(long, env = "SLUICE_BROKERS", default_value = crate::config::DEFAULT_BROKERS)]
    brokers: String,
    /// The topic events go to.
    #[arg(long, env = "SLUICE_TOPIC", default_value = crate::broker::DEFAULT_TOPIC)]
    topic: String,
    /// The data directory: the game state and the admin token live in it.
    #[arg(long, env = "SLUICE_DATA", default_value = "./data")]
    data: PathBuf,
    #[command(flatten)]
    api: ApiArgs,
}

impl ApiCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = super::runtime()?;
        runtime.block_on(async {
            let api = self
                .api
                .start(&self.brokers, &self.topic, &self.data)
                .await?;
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("cannot listen on {}; pass --listen", self.listen))?;
            println!("broker    {} (topic {})", self.brokers, self.topic);
            println!("http      http://{}/", listener.local_addr()?);
            serve_until_stopped(listener, api, None, None, shutdown_signal()).await
        })
    }
}

/// Serves the HTTP port (the game API, `/metrics`, and `/plugins` when
/// `plugins` is given) until SIGTERM or Ctrl-C, then waits for the events
/// still in flight to be acknowledged.
pub(super) async fn serve_until_stopped(
    listener: tokio::net::TcpListener,
    api: GameApi,
    query: Option<(crate::query::QueryEngine, crate::http::AdminToken)>,
    plugins: Option<crate::hot::PluginRegistry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut state = AppState::new().with_api(api.clone());
    state.query = query;
    if let Some(registry) = plugins {
        state = state.with_plugins(crate::http::PluginAdmin {
            registry,
            token: api.admin().clone(),
        });
    }
    serve(listener, router(state), shutdown).await?;
    let log = api.event_log().clone();
    tokio::task::spawn_blocking(move || log.flush(Duration::from_secs(10))).await?;
    Ok(())
}
