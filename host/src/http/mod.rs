//! HTTP: the one axum router behind sluice's port (5000 by default), and the
//! server that runs it. Each part of sluice adds its routes here; for now
//! that is `/metrics`.
//!
//! In: requests on a listener. Out: responses; the server stops when its
//! shutdown future completes, so tests bind port 0 and stop cleanly.

mod metrics;

use std::future::Future;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use metrics::prometheus;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    pub fn new() -> AppState {
        AppState {
            metrics: prometheus(),
        }
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .with_state(state)
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
