//! The shared store: Redis, as the reference used, so several API processes
//! serve one game. Keys:
//! - `sluice:user:<name>`: a hash with `password_hash`, `session_datetime`
//!   and `guild`;
//! - `sluice:inventory:<name>`: a list of item types, appended atomically;
//! - `sluice:session:<id>`: the session as JSON, expiring a day after its
//!   time-to-live so an expired session can still be told from a wrong one.
//!
//! Checks and writes that must not interleave run as one Lua script (EVAL).

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Session, StateError, User};

const USER: &str = "sluice:user:";
const INVENTORY: &str = "sluice:inventory:";
const SESSION: &str = "sluice:session:";
/// How long Redis keeps a session after it expired, to answer "Expired".
const EXPIRED_GRACE: Duration = Duration::from_secs(24 * 3600);

const CREATE_USER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1], 'session_datetime', ARGV[2])
return 1";

/// ARGV: session_datetime, field to set (or ''), its value, item to push (or '').
const UPDATE_USER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'session_datetime', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[4]) end
return 1";

#[derive(Clone)]
pub struct RedisStore {
    url: String,
    conn: ConnectionManager,
}

impl RedisStore {
    pub async fn connect(url: &str) -> Result<RedisStore, StateError> {
        let err = |source| StateError::Redis {
            url: url.to_string(),
            source,
        };
        let client = redis::Client::open(url).map_err(err)?;
        let conn = client.get_connection_manager().await.map_err(err)?;
        Ok(RedisStore {
            url: url.to_string(),
            conn,
        })
    }

    fn err(&self, source: redis::RedisError) -> StateError {
        StateError::Redis {
            url: self.url.clone(),
            source,
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StateError> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(|e| self.err(e))
    }

    pub async fn create_user(&self, username: &str, user: User) -> Result<bool, StateError> {
        let created: i64 = self
            .query(
                redis::cmd("EVAL")
                    .arg(CREATE_USER)
                    .arg(2)
                    .arg(format!("{USER}{username}"))
                    .arg(format!("{INVENTORY}{username}"))
                    .arg(&user.password_hash)
                    .arg(&user.session_datetime),
            )
            .await?;
        if created == 1 && !user.inventory.is_empty() {
            self.query::<()>(
                redis::cmd("RPUSH")
                    .arg(format!("{INVENTORY}{username}"))
                    .arg(&user.inventory),
            )
            .await?;
        }
        Ok(created == 1)
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>, StateError> {
        let mut conn = self.conn.clone();
        let (mut fields, inventory): (HashMap<String, String>, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("HGETALL")
            .arg(format!("{USER}{username}"))
            .cmd("LRANGE")
            .arg(format!("{INVENTORY}{username}"))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let Some(password_hash) = fields.remove("password_hash") else {
            return Ok(None);
        };
        Ok(Some(User {
            password_hash,
            session_datetime: fields.remove("session_datetime").unwrap_or_default(),
            inventory,
            guild: fields.remove("guild"),
        }))
    }

    async fn update_user(
        &self,
        username: &str,
        session_datetime: &str,
        set: Option<(&str, &str)>,
        push: Option<&str>,
    ) -> Result<Option<User>, StateError> {
        let (field, value) = set.unwrap_or(("", ""));
        let found: i64 = self
            .query(
                redis::cmd("EVAL")
                    .arg(UPDATE_USER)
                    .arg(2)
                    .arg(format!("{USER}{username}"))
                    .arg(format!("{INVENTORY}{username}"))
                    .arg(session_datetime)
                    .arg(field)
                    .arg(value)
                    .arg(push.unwrap_or("")),
            )
            .await?;
        if found == 0 {
            return Ok(None);
        }
        self.user(username).await
    }

    pub async fn touch_user(
        &self,
        username: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        self.update_user(username, session_datetime, None, None)
            .await
    }

    pub async fn add_item(
        &self,
        username: &str,
        item: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        self.update_user(username, session_datetime, None, Some(item))
            .await
    }

    pub async fn join_guild(
        &self,
        username: &str,
        guild: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        self.update_user(username, session_datetime, Some(("guild", guild)), None)
            .await
    }

    pub async fn put_session(
        &self,
        id: &str,
        session: Session,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let json = serde_json::to_string(&session)?;
        self.query::<()>(
            redis::cmd("SET")
                .arg(format!("{SESSION}{id}"))
                .arg(json)
                .arg("EX")
                .arg((ttl + EXPIRED_GRACE).as_secs().max(1)),
        )
        .await
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, StateError> {
        let json: Option<String> = self
            .query(redis::cmd("GET").arg(format!("{SESSION}{id}")))
            .await?;
        Ok(match json {
            Some(json) => Some(serde_json::from_str(&json)?),
            None => None,
        })
    }

    pub async fn remove_session(&self, id: &str) -> Result<(), StateError> {
        self.query::<()>(redis::cmd("DEL").arg(format!("{SESSION}{id}")))
            .await
    }

    /// Every key under `prefix`, without the prefix (SCAN, so Redis is
    /// never blocked by a large KEYS).
    async fn scan(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{prefix}*"))
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            keys.extend(batch.into_iter().map(|k| k[prefix.len()..].to_string()));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        Ok(keys)
    }

    /// Redis expires sessions by itself (a day after their time-to-live).
    pub async fn purge_sessions(&self, _cutoff_ms: u64) -> Result<usize, StateError> {
        Ok(0)
    }

    pub async fn users(&self) -> Result<Vec<(String, User)>, StateError> {
        let mut all = Vec::new();
        for name in self.scan(USER).await? {
            if let Some(user) = self.user(&name).await? {
                all.push((name, user));
            }
        }
        Ok(all)
    }

    pub async fn sessions(&self) -> Result<Vec<(String, Session)>, StateError> {
        let mut all = Vec::new();
        for id in self.scan(SESSION).await? {
            if let Some(session) = self.session(&id).await? {
                all.push((id, session));
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::state::GameStore;

    /// A real `redis-server` on a free port, stopped when dropped; `None`
    /// (with the reason printed) when it is not installed here.
    pub struct RedisServer {
        child: std::process::Child,
        pub url: String,
        _dir: tempfile::TempDir,
    }

    impl RedisServer {
        pub fn start() -> Option<RedisServer> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let dir = tempfile::tempdir().unwrap();
            let child = match std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .current_dir(dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(e) => {
                    eprintln!(
                        "skipped: cannot run redis-server ({e}); apt-get install redis-server"
                    );
                    return None;
                }
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(RedisServer {
                child,
                url: format!("redis://127.0.0.1:{port}"),
                _dir: dir,
            })
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn the_redis_store_keeps_the_game() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let store = RedisStore::connect(&server.url).await.unwrap();
        crate::api::state::tests::exercise(GameStore::Redis(store)).await;
    }
}
