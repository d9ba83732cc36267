//! HTTP: the one axum router behind sluice's port (5000 by default), and the
//! server that runs it. Each part of sluice adds its routes here: `/metrics`,
//! and the game API's routes when the process runs it.
//!
//! In: requests on a listener. Out: responses; the server stops when its
//! shutdown future completes, so tests bind port 0 and stop cleanly.

mod admin;
mod metrics;
mod plugins;

use std::future::Future;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use admin::{ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, AdminToken, TokenSource};
pub use metrics::prometheus;
pub use plugins::PluginAdmin;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The game API, when this process serves it.
    pub api: Option<crate::api::GameApi>,
    /// Hot loading (`/plugins`), when this process runs pipelines.
    pub plugins: Option<PluginAdmin>,
}

impl AppState {
    pub fn new() -> AppState {
        AppState {
            metrics: prometheus(),
            api: None,
            plugins: None,
        }
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
    let plugins = state.plugins.clone();
    let router = Router::new()
        .route("/metrics", get(metrics::render))
        .with_state(state);
    let router = match plugins {
        Some(plugins) => router.merge(plugins::router(plugins)),
        None => router,
    };
    match api {
        Some(api) => router.merge(crate::api::router(api)),
        None => router,
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
