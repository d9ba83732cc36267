//! What every API request passes first: a cap on header size (431 past it;
//! the body caps are `DefaultBodyLimit` layers on the router) and the access
//! log. The access log records the path only, never the query string, so a
//! `password=` in a reference-style `/signup?…` URL never reaches a log.

use std::time::Instant;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The largest body `POST /events` takes.
pub const MAX_EVENTS_BODY: usize = 1 << 20;
/// The largest form `/signup` and `/login` take.
pub const MAX_FORM_BODY: usize = 4 * 1024;

pub async fn guard(request: Request, next: Next) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request headers are {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}\n"),
        )
            .into_response();
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    tracing::debug!(
        target: "sluice::access",
        %method,
        path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
    );
    response
}
