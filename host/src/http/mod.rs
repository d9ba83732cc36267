//! HTTP: the one axum router behind sluice's port (5000 by default), and the
//! server that runs it. Each part of sluice adds its routes here: `/metrics`,
//! the game API's routes and the SQL endpoint's when the process runs them,
//! and the web console (`/console`) beside the SQL endpoint.
//!
//! In: requests on a listener. Out: responses; the server stops when its
//! shutdown future completes, so tests bind port 0 and stop cleanly.

mod admin;
pub mod console;
mod metrics;
mod plugins;

use std::future::Future;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use admin::{
    ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, AdminToken, INGEST_KEY_ENV, INGEST_KEY_FILE, TokenGuard,
    TokenSource, require_token,
};
pub use metrics::prometheus;
pub use plugins::PluginAdmin;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The game API, when this process serves it.
    pub api: Option<crate::api::GameApi>,
    /// The SQL endpoint and the token guarding it, when this process serves it.
    pub query: Option<(crate::query::QueryEngine, AdminToken)>,
    /// Hot loading (`/plugins`), when this process runs pipelines.
    pub plugins: Option<PluginAdmin>,
}

impl AppState {
    pub fn new() -> AppState {
        AppState {
            metrics: prometheus(),
            api: None,
            query: None,
            plugins: None,
        }
    }

    pub fn with_query(mut self, engine: crate::query::QueryEngine, admin: AdminToken) -> AppState {
        self.query = Some((engine, admin));
        self
    }

    pub fn with_api(mut self, api: crate::api::GameApi) -> AppState {
        self.api = Some(api);
        self
    }

    pub fn with_plugins(mut self, plugins: PluginAdmin) -> AppState {
        self.plugins = Some(plugins);
        self
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}

pub fn router(state: AppState) -> Router {
    let api = state.api.clone();
    let query = state.query.clone();
    let plugins = state.plugins.clone();
    let mut router = Router::new()
        .route("/metrics", get(metrics::render))
        .route("/health", get(health))
        .with_state(state);
    if let Some(plugins) = plugins {
        router = router.merge(plugins::router(plugins));
    }
    if let Some(api) = api {
        router = router.merge(crate::api::router(api));
    }
    if let Some((engine, admin)) = query {
        router = router
            .merge(crate::query::router(engine, admin))
            .merge(console::router());
    }
    router
}

/// `GET /health`: the public liveness check (what `GET /plugins` was used
/// for before it was redacted): 200 while the process serves.
async fn health() -> &'static str {
    "ok\n"
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address is the key of the per-client rates.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
