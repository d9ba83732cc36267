//! Players' secrets: argon2 password hashes and session ids from the OS's
//! CSPRNG, carried in an `HttpOnly; SameSite=Lax` cookie. The reference
//! stored passwords in clear and drew session ids from `randint(10000,
//! 99999)`, which anyone could guess in seconds.

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

/// The `Set-Cookie` value that gives the client `id` for `ttl`.
pub fn session_cookie(id: &str, ttl: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        ttl.as_secs().max(1)
    ))
    .expect("a hex id makes a valid header")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie() -> HeaderValue {
    HeaderValue::from_static("session_id=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
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
        let cookie = session_cookie("abc", Duration::from_secs(7200));
        assert_eq!(
            cookie.to_str().unwrap(),
            "session_id=abc; Path=/; Max-Age=7200; HttpOnly; SameSite=Lax"
        );
    }
}
