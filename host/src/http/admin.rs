//! The admin token that guards the port's operator routes (`/status`,
//! `/events/tail`, `/query`, `/plugins` changes, …): `SLUICE_ADMIN_TOKEN`,
//! or else one generated once into `<data>/admin-token` (mode 0600) and
//! reused on every start. The ingest key that `POST /events` needs is a
//! secret of the same kind (`SLUICE_INGEST_KEY`, `<data>/ingest-key`), and
//! [`require_token`] is the one route layer that checks either, before a
//! request's body is read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const ADMIN_TOKEN_ENV: &str = "SLUICE_ADMIN_TOKEN";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
pub const INGEST_KEY_ENV: &str = "SLUICE_INGEST_KEY";
pub const INGEST_KEY_FILE: &str = "ingest-key";

#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// Where the token came from, to tell the operator.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Env(&'static str),
    File(PathBuf),
    Generated(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env(var) => write!(f, "from {var}"),
            TokenSource::File(p) => write!(f, "in {}", p.display()),
            TokenSource::Generated(p) => write!(f, "generated into {}", p.display()),
        }
    }
}

impl AdminToken {
    pub fn new(token: &str) -> AdminToken {
        AdminToken(token.into())
    }

    /// The token from the environment, else from (or generated into)
    /// `<data_dir>/admin-token`.
    pub fn resolve(data_dir: &Path) -> anyhow::Result<(AdminToken, TokenSource)> {
        Self::resolve_secret(ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, data_dir)
    }

    /// The ingest key, from `SLUICE_INGEST_KEY`, else from (or generated
    /// into) `<data_dir>/ingest-key`.
    pub fn resolve_ingest_key(data_dir: &Path) -> anyhow::Result<(AdminToken, TokenSource)> {
        Self::resolve_secret(INGEST_KEY_ENV, INGEST_KEY_FILE, data_dir)
    }

    fn resolve_secret(
        env: &'static str,
        file: &str,
        data_dir: &Path,
    ) -> anyhow::Result<(AdminToken, TokenSource)> {
        if let Ok(token) = std::env::var(env)
            && !token.trim().is_empty()
        {
            return Ok((AdminToken::new(token.trim()), TokenSource::Env(env)));
        }
        let path = data_dir.join(file);
        if let Some(token) = Self::read(&path)? {
            return Ok((token, TokenSource::File(path)));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create `{}`", data_dir.display()))?;
        let token = crate::api::auth::hex(&crate::api::auth::random_bytes::<32>());
        write_private(&path, &format!("{token}\n"))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        Ok((AdminToken::new(&token), TokenSource::Generated(path)))
    }

    /// The token stored at `path`, if the file exists.
    pub fn read(path: &Path) -> anyhow::Result<Option<AdminToken>> {
        match std::fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(AdminToken::new(s.trim()))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the request carries `Authorization: Bearer <token>`; compared
    /// in constant time.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let (a, b) = (given.trim().as_bytes(), self.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Who may pass a [`require_token`] layer, and what a refusal says.
#[derive(Debug, Clone)]
pub struct TokenGuard {
    tokens: Arc<[AdminToken]>,
    needs: &'static str,
    /// Whether a refusal is JSON (`{"error": …}`, the JSON routes) or text.
    json: bool,
}

/// What a 401 from the admin routes says.
pub const NEEDS_ADMIN: &str = "this needs the admin token: send `Authorization: Bearer <token>` (SLUICE_ADMIN_TOKEN, or ./data/admin-token)";
/// What a 401 from `POST /events` says.
pub const NEEDS_INGEST: &str = "this needs the ingest key: send `Authorization: Bearer <key>` (SLUICE_INGEST_KEY, or ./data/ingest-key)";

impl TokenGuard {
    /// The admin routes: the admin token only.
    pub fn admin(token: &AdminToken) -> TokenGuard {
        TokenGuard {
            tokens: Arc::new([token.clone()]),
            needs: NEEDS_ADMIN,
            json: false,
        }
    }

    /// The JSON admin routes (`/plugins`): the admin token only, and a
    /// refusal in JSON.
    pub fn admin_json(token: &AdminToken) -> TokenGuard {
        TokenGuard {
            json: true,
            ..TokenGuard::admin(token)
        }
    }

    /// `POST /events`: any of `tokens` (the ingest key, and the admin
    /// token, which may do anything); none at all leaves it open.
    pub fn ingest(tokens: Vec<AdminToken>) -> TokenGuard {
        TokenGuard {
            tokens: tokens.into(),
            needs: NEEDS_INGEST,
            json: false,
        }
    }

    pub fn allows(&self, headers: &HeaderMap) -> bool {
        self.tokens.is_empty() || self.tokens.iter().any(|t| t.allows(headers))
    }

    /// The 401 a refused request gets.
    pub fn refusal(&self) -> Response {
        let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
        if self.json {
            let body = axum::Json(serde_json::json!({ "error": self.needs }));
            (StatusCode::UNAUTHORIZED, challenge, body).into_response()
        } else {
            let body = format!("{}\n", self.needs);
            (StatusCode::UNAUTHORIZED, challenge, body).into_response()
        }
    }
}

/// The route layer in front of every guarded route: a request without a
/// token the guard allows gets a 401 before its body is read (so a 64 MiB
/// upload without the token costs nothing). Use with
/// `route_layer(axum::middleware::from_fn_with_state(guard, require_token))`.
pub async fn require_token(
    State(guard): State<TokenGuard>,
    request: Request,
    next: Next,
) -> Response {
    if guard.allows(request.headers()) {
        next.run(request).await
    } else {
        guard.refusal()
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_token_is_generated_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        let (token, _) = AdminToken::resolve(dir.path()).unwrap();
        assert_eq!(token.as_str().len(), 64);
        assert_eq!(
            AdminToken::read(&path).unwrap().unwrap().as_str(),
            token.as_str()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut h = HeaderMap::new();
        assert!(!token.allows(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", token.as_str())).unwrap(),
        );
        assert!(token.allows(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert!(!token.allows(&h));
    }
}
