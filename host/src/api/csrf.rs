//! Cross-site request refusal for the game routes. The reference's routes
//! that change state (`/buy/<item>`, `/join_guild/<guild>`, `/login`, …)
//! are GETs, and they stay GETs so `ab` and curl keep working; the session
//! cookie is `SameSite=Lax`, which lets a cross-site link or top-level
//! navigation carry it. So every game route refuses a request a browser
//! marks as coming from another site:
//! - `Sec-Fetch-Site` (Fetch Metadata, sent by every current browser):
//!   `same-origin` and `none` (typed, bookmarked) pass, `same-site` and
//!   `cross-site` get a 403;
//! - without it (an older browser), an `Origin` whose host is not the
//!   request's `Host` gets a 403;
//! - neither header, as from curl, ab, `sluice load` or a game server: the
//!   request passes, since no browser sent it.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Why a request is refused as cross-site, if it is.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("?");
        return match site {
            "same-origin" | "none" => None,
            other => Some(format!("Sec-Fetch-Site is `{other}`")),
        };
    }
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("?");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
        Some(format!("Origin `{origin}` is not this host (`{host}`)"))
    } else {
        None
    }
}

/// The middleware in front of the game routes.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    match cross_site(request.headers()) {
        None => next.run(request).await,
        Some(why) => (
            StatusCode::FORBIDDEN,
            format!(
                "cross-site request refused ({why}): the game routes answer pages of this \
                 site and clients that are not browsers (curl, ab)\n"
            ),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn browsers_cross_site_requests_are_refused_and_curl_passes() {
        assert_eq!(cross_site(&headers(&[("host", "game:5000")])), None);
        for ok in ["same-origin", "none"] {
            assert_eq!(cross_site(&headers(&[("sec-fetch-site", ok)])), None);
        }
        for bad in ["cross-site", "same-site"] {
            assert!(cross_site(&headers(&[("sec-fetch-site", bad)])).is_some());
        }
        assert_eq!(
            cross_site(&headers(&[
                ("host", "game:5000"),
                ("origin", "http://game:5000")
            ])),
            None
        );
        assert!(
            cross_site(&headers(&[
                ("host", "game:5000"),
                ("origin", "https://evil.example")
            ]))
            .is_some()
        );
        assert!(cross_site(&headers(&[("host", "game:5000"), ("origin", "null")])).is_some());
    }
}
