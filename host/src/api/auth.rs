//! Players' secrets: argon2 password hashes and session ids from the OS's
//! CSPRNG, carried in an `HttpOnly; SameSite=Lax` cookie (`Secure` too when
//! sluice is served over TLS). The reference stored passwords in clear and
//! drew session ids from `randint(10000, 99999)`, which anyone could guess
//! in seconds.
//!
//! Hashes run on [`Hashers`], a few threads of their own (one per core) with
//! a short queue: an argon2 hash holds 19 MiB for tens of milliseconds, so
//! unbounded concurrent `/login`s would take gigabytes and stall the blocking
//! pool that the game state uses. Past the queue a request gets a 503.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, HeaderValue, header};

pub const SESSION_COOKIE: &str = "session_id";

/// `count` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random number generator works");
    bytes
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new session id: 256 random bits, hex.
pub fn new_session_id() -> String {
    hex(&random_bytes::<32>())
}

/// An argon2id hash (PHC string) of `password` with a random salt. Slow on
/// purpose: call it off the async threads.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password of a valid length")
        .to_string()
}

/// Whether `password` matches the stored `hash`. Slow on purpose.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The password hashing threads and their queue.
#[derive(Clone)]
pub struct Hashers {
    jobs: crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Hashers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashers")
            .field("queued", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

/// Every hashing thread is busy and the queue is full.
#[derive(Debug, thiserror::Error)]
#[error("the server is busy checking passwords; retry in a second")]
pub struct HashersBusy;

impl Hashers {
    /// `threads` hashing threads (at least one), with up to `queue` hashes
    /// waiting for one. The threads end when the last handle is dropped.
    pub fn new(threads: usize, queue: usize) -> Hashers {
        let (jobs, work) = crossbeam_channel::bounded::<Box<dyn FnOnce() + Send>>(queue);
        for i in 0..threads.max(1) {
            let work = work.clone();
            std::thread::Builder::new()
                .name(format!("sluice-argon2-{i}"))
                .spawn(move || {
                    for job in work {
                        job();
                    }
                })
                .expect("a thread can be spawned");
        }
        Hashers { jobs }
    }

    /// Queues `work` for a hashing thread now, and waits for its result;
    /// refuses at once when the queue is full.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, HashersBusy>> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = self.jobs.try_send(Box::new(move || {
            let _ = tx.send(work());
        }));
        async move {
            queued.map_err(|_| HashersBusy)?;
            rx.await.map_err(|_| HashersBusy)
        }
    }
}

/// The `session_id` cookie of a request, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that gives the client `id` for `ttl`; `secure`
/// when the request came over TLS.
pub fn session_cookie(id: &str, ttl: Duration, secure: bool) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        ttl.as_secs().max(1),
        if secure { "; Secure" } else { "" }
    ))
    .expect("a hex id makes a valid header")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("session_id=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure")
    } else {
        HeaderValue::from_static("session_id=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }
}

/// Whether the request reached sluice over TLS: sluice itself speaks plain
/// HTTP, so TLS is a proxy in front of it, which says so in
/// `X-Forwarded-Proto: https` (or `Forwarded: proto=https`).
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([';', ',']))
        .any(|pair| pair.trim().eq_ignore_ascii_case("proto=https"));
    forwarded_proto || forwarded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_verified() {
        let hash = hash_password("pw1");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("pw1"));
        assert!(verify_password("pw1", &hash));
        assert!(!verify_password("pw2", &hash));
        assert!(!verify_password("pw1", "not a hash"));
        assert_ne!(hash, hash_password("pw1"), "salted");
    }

    #[test]
    fn session_ids_are_long_and_random() {
        let a = new_session_id();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_session_id());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; session_id=abc; b=2"),
        );
        assert_eq!(session_id(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("x=1"));
        h.append(header::COOKIE, HeaderValue::from_static("session_id=68231"));
        assert_eq!(session_id(&h), Some("68231"));
        assert_eq!(session_id(&HeaderMap::new()), None);
        let cookie = session_cookie("abc", Duration::from_secs(7200), false);
        assert_eq!(
            cookie.to_str().unwrap(),
            "session_id=abc; Path=/; Max-Age=7200; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn the_cookie_is_secure_over_tls() {
        let mut h = HeaderMap::new();
        assert!(!over_tls(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_tls(&h));
        let mut h = HeaderMap::new();
        h.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=1.2.3.4;proto=https"),
        );
        assert!(over_tls(&h));
        let cookie = session_cookie("abc", Duration::from_secs(60), true);
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
        assert!(
            cleared_session_cookie(true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }

    #[tokio::test]
    async fn hashes_beyond_the_threads_and_queue_are_refused_at_once() {
        let hashers = Hashers::new(1, 1);
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        // One job holds the thread, one waits in the queue, the third is refused.
        let busy = tokio::spawn(hashers.run(move || {
            started_tx.send(()).unwrap();
            wait.recv().unwrap()
        }));
        started.await.unwrap();
        let queued = tokio::spawn(hashers.run(|| 2));
        assert!(hashers.run(|| 3).await.is_err());
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 2);
    }
}
