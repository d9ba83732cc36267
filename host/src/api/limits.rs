//! What every API request passes first: a cap on header size (431 past it;
//! the body caps are `DefaultBodyLimit` layers on the router) and the access
//! log. The access log records the path only, never the query string, so a
//! `password=` in a reference-style `/signup?…` URL never reaches a log.
//!
//! Also the per-client rates ([`ClientRate`], governor's keyed GCRA limiter
//! keyed by the peer's IP address, [`ClientAddr`]): `POST /events` in events
//! per second, and failed logins per player and per client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

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

/// The peer's IP address: the key of per-client rates. Requests that came
/// through no socket (a router called in a test) share one key.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

/// A rate per key: `per_second` on average, `burst` at once.
pub struct ClientRate<K: std::hash::Hash + Eq + Clone = IpAddr> {
    limiter: DefaultKeyedRateLimiter<K>,
    burst: u32,
    /// What is counted, for the answers: "events", "failed logins".
    what: &'static str,
}

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for ClientRate<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRate")
            .field("what", &self.what)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// What a rate says about a request.
#[derive(Debug)]
pub enum RateVerdict {
    Allowed,
    /// Over the rate: a 429 with `Retry-After`.
    Later(Response),
    /// More at once than the burst allows: a 413, since waiting cannot help.
    Never(Response),
}

/// Keys kept before stale ones are dropped: bounds the limiter's memory
/// whatever the number of clients.
const KEYS_BEFORE_SWEEP: usize = 10_000;

impl<K: std::hash::Hash + Eq + Clone> ClientRate<K> {
    /// `per_second` cells a second per key, `burst` at once (at least one
    /// of each).
    pub fn new(per_second: u32, burst: u32, what: &'static str) -> ClientRate<K> {
        let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        ClientRate {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            burst: burst.get(),
            what,
        }
    }

    /// `per_minute` cells a minute per key, `burst` at once.
    pub fn per_minute(per_minute: u32, burst: u32, what: &'static str) -> ClientRate<K> {
        let rate = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        ClientRate {
            limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            burst: burst.get(),
            what,
        }
    }

    /// Takes `cells` for `key` if the rate allows.
    pub fn check(&self, key: K, cells: usize) -> RateVerdict {
        if self.limiter.len() > KEYS_BEFORE_SWEEP {
            self.limiter.retain_recent();
        }
        let Some(n) = u32::try_from(cells).ok().and_then(NonZeroU32::new) else {
            return RateVerdict::Allowed;
        };
        match self.limiter.check_key_n(&key, n) {
            Ok(Ok(())) => RateVerdict::Allowed,
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                RateVerdict::Later(too_many(self.what, wait))
            }
            Err(_) => RateVerdict::Never(
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "{cells} {} at once is more than this client may send at once ({}); \
                         send fewer per request\n",
                        self.what, self.burst
                    ),
                )
                    .into_response(),
            ),
        }
    }
}

/// Failures per key (failed logins per player, per client): each failure
/// takes a cell of a [`ClientRate`]; a key whose failure was refused a cell
/// is turned away without the work (an argon2 hash) until the rate allows
/// it again. Successes cost nothing.
#[derive(Debug)]
pub struct FailureGate<K: std::hash::Hash + Eq + Clone = IpAddr> {
    rate: ClientRate<K>,
    blocked: std::sync::Mutex<std::collections::HashMap<K, Instant>>,
}

impl<K: std::hash::Hash + Eq + Clone> FailureGate<K> {
    pub fn per_minute(per_minute: u32, burst: u32, what: &'static str) -> FailureGate<K> {
        FailureGate {
            rate: ClientRate::per_minute(per_minute, burst, what),
            blocked: Default::default(),
        }
    }

    /// Refused (a 429) while `key` is over its rate of failures.
    pub fn admit(&self, key: &K) -> Result<(), OverRate> {
        let now = Instant::now();
        let blocked = self.blocked.lock().expect("not poisoned");
        match blocked.get(key) {
            Some(until) if *until > now => Err(OverRate {
                what: self.rate.what,
                wait: *until - now,
            }),
            _ => Ok(()),
        }
    }

    /// Counts a failure for `key`.
    pub fn failed(&self, key: K) {
        if let RateVerdict::Later(_) | RateVerdict::Never(_) = self.rate.check(key.clone(), 1) {
            let wait = match self.rate.limiter.check_key(&key) {
                Ok(()) => Duration::ZERO,
                Err(not_until) => not_until.wait_time_from(DefaultClock::default().now()),
            };
            let now = Instant::now();
            let mut blocked = self.blocked.lock().expect("not poisoned");
            if blocked.len() > KEYS_BEFORE_SWEEP {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(key, now + wait.max(Duration::from_secs(1)));
        }
    }
}

/// A key over its rate: a 429 that says how long to wait.
#[derive(Debug)]
pub struct OverRate {
    what: &'static str,
    wait: Duration,
}

impl IntoResponse for OverRate {
    fn into_response(self) -> Response {
        too_many(self.what, self.wait)
    }
}

/// A 429 that says how long to wait.
pub fn too_many(what: &str, wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        format!("too many {what} from this client; retry in {secs} s\n"),
    )
        .into_response()
}
