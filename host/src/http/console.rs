//! `/console`: the web console, one page for an operator's browser — the
//! live event rate and tail, the lake's tables with their row counts, the
//! plugins with their counters, and a SQL box whose results show as a table
//! and a chart. Served only where the query endpoint is (`sluice serve`,
//! `sluice query`).
//!
//! In: GET `/console`, `/console/app.js`, `/console/app.css`, the files
//! under `console/` built into the binary: nothing comes from another host,
//! and the page needs no token. Out: the page, which then calls the routes
//! every client calls (`POST /query`, `GET /tables`, `GET /plugins`,
//! `/metrics`, `/events/tail`) with the admin token it reads from the URL's
//! fragment (`/console#token=…`, which browsers never send to a server) or
//! asks for. A strict Content-Security-Policy allows only this origin's
//! script and style, so data the page renders cannot run as code.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::AdminToken;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/app.js");
const STYLE: &str = include_str!("console/app.css");

/// Script and style only from these files; data and the tail only from
/// this origin; no frames, plugins, forms or `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's routes, to merge into a server's router.
pub fn router() -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::permanent("/console") }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, body).into_response()
}

/// The console's address on a server listening on `addr`, for a browser on
/// this machine, with the token in the fragment when given (as Jupyter
/// prints its URL).
pub fn url(addr: SocketAddr, token: Option<&AdminToken>) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    match token {
        Some(token) => format!(
            "http://{addr}/console#token={}",
            utf8_percent_encode(token.as_str(), NON_ALPHANUMERIC)
        ),
        None => format!("http://{addr}/console"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{AppState, router, serve};

    async fn start(state: AppState) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, router(state), std::future::pending()));
        base
    }

    #[tokio::test]
    async fn the_console_is_served_whole_from_the_binary_under_a_strict_policy() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::lake::Lake::open(dir.path().to_str().unwrap())
            .await
            .unwrap();
        let engine =
            crate::query::QueryEngine::new(lake, Default::default(), Default::default()).unwrap();
        let base = start(AppState::new().with_query(engine, AdminToken::new("t"))).await;
        let client = reqwest::Client::new();
        let mut texts = Vec::new();
        for (path, content_type) in [
            ("/console", "text/html; charset=utf-8"),
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/app.css", "text/css; charset=utf-8"),
        ] {
            // No token: the page is static; the data it shows needs one.
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let headers = response.headers();
            assert_eq!(headers["content-type"], content_type, "{path}");
            assert_eq!(
                headers["content-security-policy"], CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["cache-control"], "no-cache", "{path}");
            texts.push(response.text().await.unwrap());
        }
        let page = &texts[0];
        assert!(page.contains(r#"<script src="/console/app.js" defer></script>"#));
        assert!(page.contains(r#"<link rel="stylesheet" href="/console/app.css">"#));
        for (text, path) in texts.iter().zip(["page", "app.js", "app.css"]) {
            // Nothing from another host: no CDN, no web font, no beacon. The
            // SVG namespace is a name that is never fetched.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            for scheme in ["http://", "https://", "@import", "url("] {
                assert!(!text.contains(scheme), "{path} names `{scheme}`");
            }
            // Inline script and style would be refused by the policy.
            assert!(
                !text.contains("<script>") && !text.contains(" style="),
                "{path}"
            );
            // Data reaches the page as text, never as markup.
            assert!(!text.contains("innerHTML") && !text.contains("insertAdjacentHTML"));
        }
        let slash = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{base}/console/"))
            .send()
            .await
            .unwrap();
        assert_eq!(slash.status(), 308);
        assert_eq!(slash.headers()["location"], "/console");
    }

    #[tokio::test]
    async fn a_process_without_the_query_endpoint_has_no_console() {
        let base = start(AppState::new()).await;
        let response = reqwest::get(format!("{base}/console")).await.unwrap();
        assert_eq!(response.status(), 404);
    }

    #[test]
    fn the_printed_address_carries_the_token_in_its_fragment() {
        let token = AdminToken::new("a b#c");
        assert_eq!(
            url("0.0.0.0:5000".parse().unwrap(), Some(&token)),
            "http://127.0.0.1:5000/console#token=a%20b%23c"
        );
        assert_eq!(
            url("[::]:8080".parse().unwrap(), None),
            "http://[::1]:8080/console"
        );
        assert_eq!(
            url("10.0.0.5:5000".parse().unwrap(), None),
            "http://10.0.0.5:5000/console"
        );
    }
}
