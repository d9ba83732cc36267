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
//! - [`limits`]: header and body caps, per-client rates, the access log;
//! - [`ndjson`]: the `POST /events` body parser.
//!
//! Guards on the public port: `POST /events` needs the ingest key and has
//! per-request caps and a per-client rate; `/login` and `/signup` hash on
//! threads of their own ([`auth::Hashers`]) and failed logins are rated per
//! player and per client; cross-site requests (Fetch Metadata, `Origin`)
//! are refused ([`csrf`]); `/status` and the tail need the admin token,
//! checked before anything else.

pub mod auth;
pub mod catalog;
pub mod csrf;
pub mod error;
pub mod events;
pub mod ingest;
pub mod limits;
pub mod ndjson;
pub mod producer;
pub mod routes;
pub mod state;
pub mod tail;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::http::{AdminToken, TokenGuard, require_token};
pub use error::ApiError;
use events::GameEvent;
use limits::{ClientRate, FailureGate};
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
    ingest: TokenGuard,
    ingest_rate: ClientRate,
    hashers: auth::Hashers,
    failed_logins_by_player: FailureGate<String>,
    failed_logins_by_client: FailureGate<IpAddr>,
}

/// The public port's guards that an operator may tune.
#[derive(Debug, Clone)]
pub struct Guards {
    /// The ingest key `POST /events` needs (the admin token also passes);
    /// `None` leaves `POST /events` open to anyone who reaches the port.
    pub ingest_key: Option<AdminToken>,
    /// Events a second each client may send to `POST /events`.
    pub ingest_per_second: u32,
    /// Failed logins a minute allowed per player, and per client.
    pub failed_logins_per_player: u32,
    pub failed_logins_per_client: u32,
    /// Password hashing threads and the hashes that may wait for one.
    pub hash_threads: usize,
    pub hash_queue: usize,
}

impl Default for Guards {
    fn default() -> Guards {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Guards {
            ingest_key: None,
            ingest_per_second: DEFAULT_INGEST_PER_SECOND,
            failed_logins_per_player: 10,
            failed_logins_per_client: 30,
            hash_threads: cores,
            // A queued hash holds only its password; the threads bound the
            // memory. 64 a core lets a burst of players (sluice load's 20
            // concurrent signups) wait their turn instead of getting a 503.
            hash_queue: 64 * cores,
        }
    }
}

/// `POST /events`' default rate per client, in events a second.
pub const DEFAULT_INGEST_PER_SECOND: u32 = 5_000;

impl GameApi {
    /// A game API with the default [`Guards`]: `POST /events` then takes
    /// the admin token only.
    pub fn new(
        store: GameStore,
        log: EventLog,
        admin: AdminToken,
        session_ttl: Duration,
    ) -> GameApi {
        GameApi::with_guards(store, log, admin, session_ttl, Guards::default(), true)
    }

    /// `ingest_closed`: whether `POST /events` needs a key at all.
    pub fn with_guards(
        store: GameStore,
        log: EventLog,
        admin: AdminToken,
        session_ttl: Duration,
        guards: Guards,
        ingest_closed: bool,
    ) -> GameApi {
        let ingest = if ingest_closed {
            TokenGuard::ingest(
                std::iter::once(admin.clone())
                    .chain(guards.ingest_key.clone())
                    .collect(),
            )
        } else {
            TokenGuard::ingest(Vec::new())
        };
        // A burst of one full request (or a second's worth, if more).
        let burst = guards
            .ingest_per_second
            .max(ndjson::MAX_EVENTS_PER_REQUEST as u32);
        GameApi {
            inner: Arc::new(Inner {
                store,
                log,
                admin,
                session_ttl,
                ingest,
                ingest_rate: ClientRate::new(guards.ingest_per_second, burst, "events"),
                hashers: auth::Hashers::new(guards.hash_threads, guards.hash_queue),
                failed_logins_by_player: FailureGate::per_minute(
                    guards.failed_logins_per_player,
                    guards.failed_logins_per_player,
                    "failed logins for this player",
                ),
                failed_logins_by_client: FailureGate::per_minute(
                    guards.failed_logins_per_client,
                    guards.failed_logins_per_client,
                    "failed logins",
                ),
            }),
        }
    }

    pub fn ingest_rate(&self) -> &ClientRate {
        &self.inner.ingest_rate
    }

    pub fn hashers(&self) -> &auth::Hashers {
        &self.inner.hashers
    }

    pub(crate) fn failed_logins(&self) -> (&FailureGate<String>, &FailureGate<IpAddr>) {
        (
            &self.inner.failed_logins_by_player,
            &self.inner.failed_logins_by_client,
        )
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
    let admin = from_fn_with_state(TokenGuard::admin(api.admin()), require_token);
    let ingest = from_fn_with_state(api.inner.ingest.clone(), require_token);
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
        .route("/status", get(routes::status).route_layer(admin.clone()))
        .route(
            "/events",
            post(ingest::post_events)
                .layer(DefaultBodyLimit::max(limits::MAX_EVENTS_BODY))
                .route_layer(ingest),
        )
        .route("/events/tail", get(tail::tail).route_layer(admin))
        .layer(axum::middleware::from_fn(csrf::refuse_cross_site))
        .layer(axum::middleware::from_fn(limits::guard))
        .with_state(api)
}
