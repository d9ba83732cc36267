//! The API's one error type: input errors are shown (400 with what to fix),
//! an unreachable Kafka is a 503 that says so, and internal failures are
//! logged and hidden behind a plain 500.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::producer::LogError;
use super::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadInput(String),
    #[error(
        "this needs the admin token: send `Authorization: Bearer <token>` (SLUICE_ADMIN_TOKEN, or ./data/admin-token)"
    )]
    Unauthorized,
    #[error(transparent)]
    EventLog(#[from] LogError),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadInput(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::EventLog(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::State(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = match &self {
            ApiError::State(_) | ApiError::Internal(_) => {
                tracing::error!(error = %self, "Request failed.");
                "Internal error; the server log says why.\n".to_string()
            }
            shown => format!("{shown}\n"),
        };
        let mut response = (status, body).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        }
        response
    }
}
