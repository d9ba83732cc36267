//! The admin token that guards the port's operator routes (`/status`,
//! `/events/tail`, …): `SLUICE_ADMIN_TOKEN`, or else one generated once into
//! `<data>/admin-token` (mode 0600) and reused on every start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::http::{HeaderMap, header};

pub const ADMIN_TOKEN_ENV: &str = "SLUICE_ADMIN_TOKEN";
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

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
    Env,
    File(PathBuf),
    Generated(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env => write!(f, "from {ADMIN_TOKEN_ENV}"),
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
        if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV)
            && !token.trim().is_empty()
        {
            return Ok((AdminToken::new(token.trim()), TokenSource::Env));
        }
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        if let Some(token) = Self::read(&path)? {
            return Ok((token, TokenSource::File(path)));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create `{}`", data_dir.display()))?;
        let token = crate::api::auth::hex(&crate::api::auth::random_bytes::<32>());
        write_private(&path, &format!("{token}\n"))
            .with_context(|| format!("cannot write the admin token to `{}`", path.display()))?;
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
