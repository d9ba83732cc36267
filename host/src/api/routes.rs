//! The reference game API's routes, with their paths, GET, and plain-text
//! replies kept: the stateless purchases of the first versions and the
//! advanced game (sign up, log in, buy, join a guild) with sessions. The
//! reference's own game errors (no session, unknown item, wrong password)
//! keep their 200 replies and texts so its clients still work; malformed
//! input is a 400 that says what to fix.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::GameApi;
use super::auth;
use super::catalog::{self, DEFAULT_QUALITY};
use super::error::ApiError;
use super::events::{GameEvent, session_datetime};
use super::limits::ClientAddr;
use super::state::{Inventory, Session, User};

/// The response header that names the logged event, so a client (or a test)
/// can find it in Kafka.
pub const EVENT_ID_HEADER: &str = "x-event-id";

const NO_SESSION: &str = "No active session found! Please login.\n";
const INVALID_SESSION: &str = "Invalid session! Please login.\n";
const INVALID_USERNAME: &str = "Invalid username! Please login.\n";
const EXPIRED_SESSION: &str = "Expired user session! Please login.\n";
const NOT_IN_STOCK: &str = "The store does not have that item in stock.";

/// A plain-text reply for a logged event.
fn logged(text: String, event_id: &str) -> Response {
    let mut response = text.into_response();
    if let Ok(v) = event_id.parse() {
        response.headers_mut().insert(EVENT_ID_HEADER, v);
    }
    response
}

fn now_ms(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A stateless route of the reference's first versions: it logs one event
/// and gives one reply.
pub struct Stateless {
    pub path: &'static str,
    event_type: &'static str,
    fields: &'static [(&'static str, &'static str)],
    reply: &'static str,
}

/// Every stateless route, with the reference's event types and replies.
pub const STATELESS: &[Stateless] = &[
    Stateless {
        path: "/",
        event_type: "default",
        fields: &[],
        reply: "This is the default response!\n",
    },
    Stateless {
        path: "/purchase_a_sword",
        event_type: "purchase_sword",
        fields: &[],
        reply: "Sword Purchased!\n",
    },
    Stateless {
        path: "/purchase_a_shield",
        event_type: "purchase_shield",
        fields: &[],
        reply: "Shield Purchased!\n",
    },
    Stateless {
        path: "/purchase_a_knife",
        event_type: "purchase_knife",
        fields: &[("description", "very sharp knife")],
        reply: "Knife Purchased!\n",
    },
    Stateless {
        path: "/purchase_a_potion",
        event_type: "purchase_potion",
        fields: &[],
        reply: "Potion Purchased!\n",
    },
    Stateless {
        path: "/join_a_guild",
        event_type: "join_guild",
        fields: &[],
        reply: "You Have Joined A Guild!\n",
    },
    Stateless {
        path: "/join_guild",
        event_type: "join_guild",
        fields: &[],
        reply: "Guild Joined!\n",
    },
];

impl Stateless {
    /// Logs this route's event and replies.
    pub async fn handle(&self, api: GameApi, headers: HeaderMap) -> Result<Response, ApiError> {
        let event = self
            .fields
            .iter()
            .fold(GameEvent::new(self.event_type), |e, (k, v)| e.with(k, *v));
        let id = api.log(event, &headers).await?;
        Ok(logged(self.reply.to_string(), &id))
    }
}

/// `username` and `password`, from the query (GET, as the reference) or a
/// POSTed form (so a password need not be in a URL).
#[derive(Deserialize)]
pub struct Credentials {
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    /// What was sent must be well-formed (a 400 otherwise), whether or not
    /// the other field is missing (the reference's 200 reply for that).
    fn check(&self) -> Result<(), ApiError> {
        if let Some(username) = &self.username {
            catalog::check_username(username)?;
        }
        if let Some(password) = &self.password {
            catalog::check_password(password)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub async fn signup(
    State(api): State<GameApi>,
    headers: HeaderMap,
    Form(creds): Form<Credentials>,
) -> Result<Response, ApiError> {
    creds.check()?;
    let Some(username) = creds.username else {
        return Ok("Signup Failed! Please provide a username.\n".into_response());
    };
    let Some(password) = creds.password else {
        return Ok("Signup Failed! Please provide a password.\n".into_response());
    };
    const EXISTS: &str = "Signup Failed! This username already exists.\n";
    if api.store().user(&username).await?.is_some() {
        return Ok(EXISTS.into_response());
    }
    let password_hash = api
        .hashers()
        .run(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let now = SystemTime::now();
    let user = User {
        password_hash,
        session_datetime: session_datetime(now),
        inventory: Inventory::default(),
        guild: None,
    };
    if !api.store().create_user(&username, user.clone()).await? {
        return Ok(EXISTS.into_response());
    }
    let session_id = api.new_session(&username, now).await?;
    let event = GameEvent::new("signup")
        .with("username", username.as_str())
        .with("user_info", user.info())
        .with("return_code", "0");
    let id = api.log(event, &headers).await?;
    let mut response = logged(format!("Signup successful! Welcome {username}.\n"), &id);
    response.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(&session_id, api.session_ttl(), auth::over_tls(&headers)),
    );
    Ok(response)
}

pub async fn login(
    State(api): State<GameApi>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(creds): Form<Credentials>,
) -> Result<Response, ApiError> {
    creds.check()?;
    let Some(username) = creds.username else {
        return Ok("Login Failed! Please provide a username.\n".into_response());
    };
    let Some(password) = creds.password else {
        return Ok("Login Failed! Please provide a password.\n".into_response());
    };
    // A player or a client over its rate of failed logins is turned away
    // before the hash is computed.
    let (by_player, by_client) = api.failed_logins();
    if let Err(refused) = by_client
        .admit(&client)
        .and_then(|()| by_player.admit(&username))
    {
        return Ok(refused.into_response());
    }
    let Some(user) = api.store().user(&username).await? else {
        by_client.failed(client);
        return Ok("Login Failed! This username does not exist. Please signup.\n".into_response());
    };
    let hash = user.password_hash;
    let matches = api
        .hashers()
        .run(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if !matches {
        by_player.failed(username);
        by_client.failed(client);
        return Ok("Login Failed! This password is incorrect.\n".into_response());
    }
    let now = SystemTime::now();
    let Some(user) = api
        .store()
        .touch_user(&username, &session_datetime(now))
        .await?
    else {
        return Ok("Login Failed! This username does not exist. Please signup.\n".into_response());
    };
    let session_id = api.new_session(&username, now).await?;
    let event = GameEvent::new("login")
        .with("username", username.as_str())
        .with("user_info", user.info());
    let id = api.log(event, &headers).await?;
    let mut response = logged(format!("Login successful! Welcome {username}.\n"), &id);
    response.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(&session_id, api.session_ttl(), auth::over_tls(&headers)),
    );
    Ok(response)
}

pub async fn logout(State(api): State<GameApi>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (session_id, username) = match api.active_session(&headers).await? {
        Ok(active) => active,
        Err(reply) => return Ok(reply.into_response()),
    };
    api.store().remove_session(&session_id).await?;
    let event = GameEvent::new("logout").with("username", username.as_str());
    let id = api.log(event, &headers).await?;
    let mut response = logged(format!("Logout successful! Goodbye {username}.\n"), &id);
    response.headers_mut().insert(
        header::SET_COOKIE,
        auth::cleared_session_cookie(auth::over_tls(&headers)),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct BuyParams {
    quality: Option<String>,
}

pub async fn buy(
    State(api): State<GameApi>,
    headers: HeaderMap,
    Path(item): Path<String>,
    Query(params): Query<BuyParams>,
) -> Result<Response, ApiError> {
    catalog::check_item_name(&item)?;
    let quality = params
        .quality
        .unwrap_or_else(|| DEFAULT_QUALITY.to_string());
    catalog::check_quality(&quality)?;
    let (_, username) = match api.active_session(&headers).await? {
        Ok(active) => active,
        Err(reply) => return Ok(reply.into_response()),
    };
    let Some(sold) = catalog::item(&item) else {
        return Ok(NOT_IN_STOCK.into_response());
    };
    // The event first: a 503 then means nothing happened, so a retry does
    // not buy twice. Its inventory is the stored one plus this item, listed
    // as the reference did (capped) and counted.
    let Some(user) = api.store().user(&username).await? else {
        return Ok(INVALID_USERNAME.into_response());
    };
    let mut inventory = user.inventory;
    inventory.add(sold.name);
    let mut event = GameEvent::new("buy_item")
        .with("username", username.as_str())
        .with("item_type", sold.name)
        .with("item_quality", quality.as_str())
        .with("inventory", inventory.listed())
        .with("inventory_counts", inventory.counts());
    if let Some(description) = sold.description {
        event = event.with("description", description);
    }
    let id = api.log(event, &headers).await?;
    let now = SystemTime::now();
    if api
        .store()
        .add_item(&username, sold.name, &session_datetime(now))
        .await?
        .is_none()
    {
        return Ok(INVALID_USERNAME.into_response());
    }
    Ok(logged(format!("Bought a {}!\n", sold.name), &id))
}

pub async fn join_guild(
    State(api): State<GameApi>,
    headers: HeaderMap,
    Path(guild_name): Path<String>,
) -> Result<Response, ApiError> {
    catalog::check_guild_name(&guild_name)?;
    let (_, username) = match api.active_session(&headers).await? {
        Ok(active) => active,
        Err(reply) => return Ok(reply.into_response()),
    };
    // The event first, as for a purchase: a 503 means nothing changed.
    let event = GameEvent::new("join_guild")
        .with("username", username.as_str())
        .with("guild_name", guild_name.as_str());
    let id = api.log(event, &headers).await?;
    let now = SystemTime::now();
    if api
        .store()
        .join_guild(&username, &guild_name, &session_datetime(now))
        .await?
        .is_none()
    {
        return Ok(INVALID_USERNAME.into_response());
    }
    Ok(logged("Joined a Guild!\n".to_string(), &id))
}

/// Sessions and users `/status` lists by name; the rest are counted.
const STATUS_LISTED: usize = 100;

/// The reference's `/status`, for the admin only (a route layer checks the
/// token), without passwords. It counts users and sessions and lists the
/// first hundred of each; a session shows the first 8 characters of its id,
/// enough to tell sessions apart in a log, too few to replay one.
pub async fn status(State(api): State<GameApi>) -> Result<Response, ApiError> {
    let now = now_ms(SystemTime::now());
    let users = api.store().users().await?;
    let mut text = format!("Registered Users: {}\n", users.len());
    for (name, user) in users.iter().take(STATUS_LISTED) {
        text.push_str(&format!("\t{name} : {}\n", user.info()));
    }
    if users.len() > STATUS_LISTED {
        text.push_str(&format!("\t… and {} more\n", users.len() - STATUS_LISTED));
    }
    let sessions = api.store().sessions().await?;
    let active = sessions
        .iter()
        .filter(|(_, s)| !api.expired(s, now))
        .count();
    text.push_str(&format!(
        "\nGame Sessions: {active} active, {} inactive\n",
        sessions.len() - active
    ));
    for (id, session) in sessions.iter().take(STATUS_LISTED) {
        let state = if api.expired(session, now) {
            "inactive"
        } else {
            "active"
        };
        let short: String = id.chars().take(8).collect();
        text.push_str(&format!("\t{short}… : {} ({state})\n", session.username));
    }
    if sessions.len() > STATUS_LISTED {
        text.push_str(&format!(
            "\t… and {} more\n",
            sessions.len() - STATUS_LISTED
        ));
    }
    Ok(text.into_response())
}

impl GameApi {
    /// The reference's `validate_session`: the session id and player of an
    /// active session, or the reference's reply saying why there is none.
    pub(super) async fn active_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Result<(String, String), &'static str>, ApiError> {
        let Some(id) = auth::session_id(headers) else {
            return Ok(Err(NO_SESSION));
        };
        if id.len() > 128 {
            return Ok(Err(INVALID_SESSION));
        }
        let Some(session) = self.store().session(id).await? else {
            return Ok(Err(INVALID_SESSION));
        };
        let now = now_ms(SystemTime::now());
        if self.expired(&session, now) {
            self.store().remove_session(id).await?;
            return Ok(Err(EXPIRED_SESSION));
        }
        // Activity slides the expiry; written at most every tenth of the
        // lifetime (a minute at most), not on every request.
        let refresh_every = (self.session_ttl() / 10).min(Duration::from_secs(60));
        if now.saturating_sub(session.last_seen_ms) >= refresh_every.as_millis() as u64 {
            let refreshed = Session {
                username: session.username.clone(),
                last_seen_ms: now,
            };
            self.store()
                .put_session(id, refreshed, self.session_ttl())
                .await?;
        }
        Ok(Ok((id.to_string(), session.username)))
    }

    /// Removes the sessions that expired more than a day ago (the
    /// expired ones younger than that still answer "Expired user session",
    /// as Redis's grace period does); returns how many went.
    pub async fn purge_expired_sessions(&self) -> Result<usize, ApiError> {
        const GRACE: Duration = Duration::from_secs(24 * 3600);
        let now = now_ms(SystemTime::now());
        let cutoff = now.saturating_sub((self.session_ttl() + GRACE).as_millis() as u64);
        Ok(self.store().purge_sessions(cutoff).await?)
    }

    /// Purges expired sessions every `every` while the API lives. The task
    /// holds the API weakly: holding it would keep its Kafka producer
    /// connected after the server stopped, until the embedded broker went
    /// away under it (an `AllBrokersDown` error on every clean stop).
    pub fn spawn_session_purge(&self, every: Duration) {
        let api = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(inner) = api.upgrade() else {
                    return;
                };
                let api = GameApi { inner };
                match api.purge_expired_sessions().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "Expired sessions purged."),
                    Err(e) => tracing::warn!(error = %e, "Cannot purge expired sessions."),
                }
            }
        });
    }

    pub(super) fn expired(&self, session: &Session, now_ms: u64) -> bool {
        now_ms.saturating_sub(session.last_seen_ms) > self.session_ttl().as_millis() as u64
    }

    /// Opens a session for `username`; returns its id.
    async fn new_session(&self, username: &str, now: SystemTime) -> Result<String, ApiError> {
        let id = auth::new_session_id();
        let session = Session {
            username: username.to_string(),
            last_seen_ms: now_ms(now),
        };
        self.store()
            .put_session(&id, session, self.session_ttl())
            .await?;
        Ok(id)
    }
}
