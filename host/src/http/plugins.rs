//! `/plugins`: hot loading over HTTP. `GET /plugins` lists every plugin
//! (version, hash, pipelines, counters, last refusal, last dry run);
//! `PUT /plugins/<name>` takes a `.wasm` body as the next version,
//! `POST /plugins/<name>/rollback` goes back one version and
//! `DELETE /plugins/<name>` removes an unused plugin. Changes need the admin
//! token (401), checked by a route layer before an upload's body is read. A
//! refused version is a 422 with the reason; the running version stays.
//!
//! Without the admin token `GET /plugins` is redacted: dry runs and refusal
//! reasons quote recent player events, and paths show the server's folders,
//! so those are left out ([`PluginInfo::redacted`]).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

use super::AdminToken;
use super::admin::{TokenGuard, require_token};
use crate::hot::{HotError, PluginInfo, PluginRegistry};

/// Largest plugin upload.
const MAX_PLUGIN_BYTES: usize = 64 << 20;

/// What the `/plugins` routes need.
#[derive(Debug, Clone)]
pub struct PluginAdmin {
    pub registry: PluginRegistry,
    pub token: AdminToken,
}

pub fn router(admin: PluginAdmin) -> Router {
    let guard =
        axum::middleware::from_fn_with_state(TokenGuard::admin_json(&admin.token), require_token);
    Router::new()
        .route("/plugins/{name}", put(upload).delete(remove))
        .route("/plugins/{name}/rollback", post(rollback))
        .route_layer(guard)
        .route("/plugins", get(list))
        .layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES))
        .with_state(admin)
}

async fn list(State(admin): State<PluginAdmin>, headers: HeaderMap) -> Response {
    let list = admin.registry.list();
    if admin.token.allows(&headers) {
        axum::Json(list).into_response()
    } else {
        axum::Json(
            list.into_iter()
                .map(PluginInfo::redacted)
                .collect::<Vec<_>>(),
        )
        .into_response()
    }
}

async fn upload(
    State(admin): State<PluginAdmin>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    change(&admin, move |registry| {
        registry
            .upload(&name, body.to_vec())
            .map(|accepted| axum::Json(accepted).into_response())
    })
    .await
}

async fn rollback(State(admin): State<PluginAdmin>, Path(name): Path<String>) -> Response {
    change(&admin, move |registry| {
        registry
            .rollback(&name)
            .map(|accepted| axum::Json(accepted).into_response())
    })
    .await
}

async fn remove(State(admin): State<PluginAdmin>, Path(name): Path<String>) -> Response {
    change(&admin, move |registry| {
        registry
            .remove(&name)
            .map(|()| StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// A change to the registry (the route layer checked the admin token), off
/// the async threads: it compiles and dry-runs plugins.
async fn change(
    admin: &PluginAdmin,
    work: impl FnOnce(PluginRegistry) -> Result<Response, HotError> + Send + 'static,
) -> Response {
    let registry = admin.registry.clone();
    match tokio::task::spawn_blocking(move || work(registry)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error(e),
        Err(e) => internal(&e.to_string()),
    }
}

fn error(e: HotError) -> Response {
    let status = match &e {
        HotError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        HotError::Unknown { .. } => StatusCode::NOT_FOUND,
        HotError::InUse { .. } | HotError::NoEarlierVersion(_) => StatusCode::CONFLICT,
        HotError::BadName(_) => StatusCode::BAD_REQUEST,
        HotError::Io { .. } => return internal(&e.to_string()),
    };
    (status, axum::Json(json!({ "error": e.to_string() }))).into_response()
}

fn internal(e: &str) -> Response {
    tracing::error!(error = e, "Plugin request failed.");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "error": "internal error; the server log says why" })),
    )
        .into_response()
}
