//! The query endpoint over HTTP, behind the admin token (the lake holds
//! player data, and the port may be the public game API's):
//!
//! - `POST /query` — body: SQL text, or `{"sql": "..."}`; `?format=json`
//!   (default), `csv`, `ndjson` or `arrow`. Non-JSON formats carry the row
//!   count and the truncated flag in `X-Sluice-Rows` / `X-Sluice-Truncated`.
//! - `GET /tables` — every table and view, with columns, files and bytes.
//! - `GET /tables/{name}` — one table, with its row count and files.
//!
//! Errors are JSON `{"error": "...", "kind": "..."}`: 400 for what the query
//! got wrong (syntax, an unknown name, a limit), 403 for a statement that
//! would write, 401 without the token, 500 when the lake fails.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Format, QueryEngine, QueryError};
use crate::http::AdminToken;

#[derive(Clone)]
struct Endpoint {
    engine: QueryEngine,
    admin: AdminToken,
}

/// The routes, to merge into a server's router.
pub fn router(engine: QueryEngine, admin: AdminToken) -> Router {
    Router::new()
        .route("/query", post(query))
        .route("/tables", get(tables))
        .route("/tables/{name}", get(table))
        .route("/tables/{name}/history", get(history))
        .with_state(Endpoint { engine, admin })
}

#[derive(Debug, Deserialize)]
struct FormatParam {
    format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlBody {
    sql: String,
}

async fn query(
    State(endpoint): State<Endpoint>,
    params: Result<Query<FormatParam>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = endpoint.denied(&headers) {
        return denied;
    }
    // A query string axum cannot read (`?format=a&format=b`) is a JSON
    // error like the others, not axum's plain-text rejection.
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => {
            return error(StatusCode::BAD_REQUEST, "format", &rejection.body_text());
        }
    };
    let format: Format = match params.format.as_deref().map(str::parse).transpose() {
        Ok(format) => format.unwrap_or_default(),
        Err(message) => return error(StatusCode::BAD_REQUEST, "format", &message),
    };
    let sql = match sql_of(&headers, &body) {
        Ok(sql) => sql,
        Err(message) => return error(StatusCode::BAD_REQUEST, "body", &message),
    };
    let result = match endpoint.engine.run(&sql).await {
        Ok(result) => result,
        Err(e) => return query_error(e),
    };
    let bytes = match format.encode(&result) {
        Ok(bytes) => bytes,
        Err(e) => return query_error(e),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        bytes,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-sluice-rows", HeaderValue::from(result.rows));
    headers.insert(
        "x-sluice-truncated",
        HeaderValue::from_static(if result.truncated { "true" } else { "false" }),
    );
    response
}

/// The SQL of a request: `{"sql": ...}` when the body is JSON, else the
/// body itself.
fn sql_of(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
        || text.trim_start().starts_with('{');
    if json {
        let body: SqlBody = serde_json::from_str(text)
            .map_err(|e| format!("a JSON body is {{\"sql\": \"...\"}}: {e}"))?;
        Ok(body.sql)
    } else {
        Ok(text.to_string())
    }
}

async fn tables(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    if let Some(denied) = endpoint.denied(&headers) {
        return denied;
    }
    match endpoint.engine.tables().await {
        Ok(tables) => axum::Json(serde_json::json!({ "tables": tables })).into_response(),
        Err(e) => query_error(e),
    }
}

async fn table(
    State(endpoint): State<Endpoint>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = endpoint.denied(&headers) {
        return denied;
    }
    match endpoint.engine.table(&name).await {
        Ok(table) => axum::Json(table).into_response(),
        Err(e @ QueryError::UnknownTable { .. }) => {
            error(StatusCode::NOT_FOUND, e.kind(), &e.to_string())
        }
        Err(e) => query_error(e),
    }
}

/// `GET /tables/<name>/history?limit=N`: the table's commits, newest first.
async fn history(
    State(endpoint): State<Endpoint>,
    Path(name): Path<String>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = endpoint.denied(&headers) {
        return denied;
    }
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n.min(10_000),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "syntax",
                "`limit` is a number of commits, 1 or more",
            );
        }
    };
    match endpoint.engine.history(&name, limit).await {
        Ok(commits) => {
            axum::Json(serde_json::json!({ "table": name, "commits": commits })).into_response()
        }
        Err(e @ QueryError::UnknownTable { .. }) => {
            error(StatusCode::NOT_FOUND, e.kind(), &e.to_string())
        }
        Err(e) => query_error(e),
    }
}

impl Endpoint {
    /// The 401 for a request without the admin token.
    fn denied(&self, headers: &HeaderMap) -> Option<Response> {
        if self.admin.allows(headers) {
            return None;
        }
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "querying the lake needs the admin token: send `Authorization: Bearer <token>` \
             (SLUICE_ADMIN_TOKEN, or ./data/admin-token); `sluice sql` sends it for you",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Some(response)
    }
}

fn query_error(e: QueryError) -> Response {
    let status = match &e {
        QueryError::ReadOnly { .. } => StatusCode::FORBIDDEN,
        e if e.is_client_error() => StatusCode::BAD_REQUEST,
        _ => {
            tracing::error!(error = %e, "Query failed.");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error(status, e.kind(), &e.to_string())
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message, "kind": kind })),
    )
        .into_response()
}
