//! The game API: the reference stack's Flask `game_api.py` as an axum
//! component, with its routes and replies kept and its security holes fixed.
//! It runs on sluice's one HTTP port inside `sluice serve`, or alone as
//! `sluice api`.
//!
//! In: HTTP requests (game routes, `POST /events`, `GET /events/tail`).
//! Out: one event per game action, appended to the Kafka topic before the
//! reply (a 503 when Kafka does not acknowledge it); game state (users,
//! sessions, inventories, guilds) in [`state`]; the topic streamed back as
//! Server-Sent Events.
//!
//! - [`routes`]: the reference routes and their replies;
//! - [`events`]: how every event is shaped (headers merged, secrets kept out);
//! - [`catalog`]: items, qualities and which names are valid;
//! - [`auth`]: password hashes, session ids and the session cookie;
//! - [`producer`]: the Kafka event log;
//! - [`ingest`]: `POST /events`; [`tail`]: `GET /events/tail`;
//! - [`limits`]: header and body caps, the access log.

pub mod auth;
pub mod catalog;
pub mod error;
pub mod events;
pub mod ingest;
pub mod limits;
pub mod producer;
pub mod routes;
pub mod state;
pub mod tail;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};

use crate::http::AdminToken;
pub use error::ApiError;
use events::GameEvent;
pub use producer::{EventLog, EventLogConfig, LogError};
pub use state::{GameStore, StateLocation};

/// The reference's session lifetime: two hours after the last action.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(2 * 3600);
/// The embedded game state's file, under the data directory.
pub const STATE_FILE: &str = "game-state.redb";

/// The game API's state, shared by its handlers. Cheap to clone.
#[derive(Clone)]
pub struct GameApi {
    inner: Arc<Inner>,
}

struct Inner {
    store: GameStore,
    log: EventLog,
    admin: AdminToken,
    session_ttl: Duration,
}

impl GameApi {
    pub fn new(
        store: GameStore,
        log: EventLog,
        admin: AdminToken,
        session_ttl: Duration,
    ) -> GameApi {
        GameApi {
            inner: Arc::new(Inner {
                store,
                log,
                admin,
                session_ttl,
            }),
        }
    }

    pub fn store(&self) -> &GameStore {
        &self.inner.store
    }

    pub fn event_log(&self) -> &EventLog {
        &self.inner.log
    }

    pub fn admin(&self) -> &AdminToken {
        &self.inner.admin
    }

    pub fn session_ttl(&self) -> Duration {
        self.inner.session_ttl
    }

    /// Shapes `event` with the request's headers and waits for Kafka to
    /// acknowledge it; returns its `event_id`.
    pub async fn log(&self, event: GameEvent, headers: &HeaderMap) -> Result<String, ApiError> {
        let sealed = event.seal(headers, SystemTime::now());
        self.inner.log.append(&sealed).await?;
        Ok(sealed.event_id)
    }
}

/// Every route of the game API.
pub fn router(api: GameApi) -> Router {
    let form_limit = DefaultBodyLimit::max(limits::MAX_FORM_BODY);
    let mut router = Router::new();
    for route in routes::STATELESS {
        router = router.route(
            route.path,
            get(
                move |axum::extract::State(api): axum::extract::State<GameApi>,
                      headers: HeaderMap| { route.handle(api, headers) },
            ),
        );
    }
    router
        .route("/buy/{item}", get(routes::buy))
        .route("/join_guild/{guild_name}", get(routes::join_guild))
        .route(
            "/signup",
            get(routes::signup).post(routes::signup).layer(form_limit),
        )
        .route(
            "/login",
            get(routes::login).post(routes::login).layer(form_limit),
        )
        .route("/logout", get(routes::logout).post(routes::logout))
        .route("/status", get(routes::status))
        .route(
            "/events",
            post(ingest::post_events).layer(DefaultBodyLimit::max(limits::MAX_EVENTS_BODY)),
        )
        .route("/events/tail", get(tail::tail))
        .layer(axum::middleware::from_fn(limits::guard))
        .with_state(api)
}
