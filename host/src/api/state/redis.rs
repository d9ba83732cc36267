//! The shared store: Redis, as the reference used, so several API processes
//! serve one game. Keys:
//! - `sluice:user:<name>`: a hash with `password_hash`, `session_datetime`,
//!   `guild` and `inventory`, the counts as JSON (`[["sword",3]]`), changed
//!   in place by a Lua script;
//! - `sluice:session:<id>`: the session as JSON, expiring a day after its
//!   time-to-live so an expired session can still be told from a wrong one.
//!
//! Checks and writes that must not interleave run as one Lua script (EVAL).
//! Before counts, `sluice:inventory:<name>` listed every item bought; every
//! script that reads or writes a user folds that list into the counts first
//! and deletes it, so old users migrate as they play.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Session, StateError, User};

const USER: &str = "sluice:user:";
const SESSION: &str = "sluice:session:";
/// How long Redis keeps a session after it expired, to answer "Expired".
const EXPIRED_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The list of items stored before counts (KEYS[2]).
const OLD_INVENTORY: &str = "sluice:inventory:";

/// Lua: `add(inventory, item, n)` counts items in an inventory decoded from
/// JSON; `migrate()` folds the old list (KEYS[2]) into the user's (KEYS[1])
/// counts and deletes it. An empty Lua table encodes as `{}`, so an empty
/// inventory is written as `[]` by hand.
const INVENTORY_LUA: &str = r"
local function add(inventory, item, n)
  for _, entry in ipairs(inventory) do
    if entry[1] == item then entry[2] = entry[2] + n; return end
  end
  table.insert(inventory, {item, n})
end
local function load()
  local json = redis.call('HGET', KEYS[1], 'inventory')
  if not json or json == '' or json == '{}' then return {} end
  return cjson.decode(json)
end
local function save(inventory)
  if #inventory == 0 then redis.call('HSET', KEYS[1], 'inventory', '[]')
  else redis.call('HSET', KEYS[1], 'inventory', cjson.encode(inventory)) end
end
local function migrate()
  if redis.call('EXISTS', KEYS[2]) == 0 then return end
  local inventory = load()
  for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do add(inventory, item, 1) end
  save(inventory)
  redis.call('DEL', KEYS[2])
end
";

const CREATE_USER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1], 'session_datetime', ARGV[2], 'inventory', ARGV[3])
return 1";

/// ARGV: session_datetime, field to set (or ''), its value, item to add (or '').
const UPDATE_USER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
migrate()
redis.call('HSET', KEYS[1], 'session_datetime', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
if ARGV[4] ~= '' then
  local inventory = load()
  add(inventory, ARGV[4], 1)
  save(inventory)
end
return 1";

/// The user's hash as a flat list, after migrating it.
const READ_USER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
migrate()
return redis.call('HGETALL', KEYS[1])";

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

    /// An EVAL of `script` (with the inventory functions) on a user's keys.
    fn script(script: &str, username: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(format!("{INVENTORY_LUA}{script}"))
            .arg(2)
            .arg(format!("{USER}{username}"))
            .arg(format!("{OLD_INVENTORY}{username}"));
        cmd
    }

    pub async fn create_user(&self, username: &str, user: User) -> Result<bool, StateError> {
        let created: i64 = self
            .query(
                Self::script(CREATE_USER, username)
                    .arg(&user.password_hash)
                    .arg(&user.session_datetime)
                    .arg(serde_json::to_string(&user.inventory)?),
            )
            .await?;
        Ok(created == 1)
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>, StateError> {
        let mut fields: HashMap<String, String> =
            self.query(&Self::script(READ_USER, username)).await?;
        let Some(password_hash) = fields.remove("password_hash") else {
            return Ok(None);
        };
        let inventory = match fields.remove("inventory").as_deref() {
            None | Some("") | Some("{}") => Default::default(),
            Some(json) => serde_json::from_str(json)?,
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
                Self::script(UPDATE_USER, username)
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
        crate::api::state::tests::exercise(GameStore::Redis(store.clone())).await;

        // A user stored before counts: the hash without `inventory` and
        // the list of every item. Read as counts; the next purchase
        // rewrites it and the list is gone.
        store
            .query::<()>(
                redis::cmd("HSET")
                    .arg(format!("{USER}old"))
                    .arg("password_hash")
                    .arg("$argon2id$x")
                    .arg("session_datetime")
                    .arg("2026-11-29 10:00:00"),
            )
            .await
            .unwrap();
        store
            .query::<()>(
                redis::cmd("RPUSH")
                    .arg(format!("{OLD_INVENTORY}old"))
                    .arg(vec!["sword"; 5_000])
                    .arg("knife"),
            )
            .await
            .unwrap();
        let old = store.user("old").await.unwrap().unwrap();
        assert_eq!(
            old.inventory.iter().collect::<Vec<_>>(),
            [("sword", 5_000), ("knife", 1)]
        );
        let after = store.add_item("old", "sword", "x").await.unwrap().unwrap();
        assert_eq!(after.inventory.count("sword"), 5_001);
        let list: i64 = store
            .query(redis::cmd("EXISTS").arg(format!("{OLD_INVENTORY}old")))
            .await
            .unwrap();
        assert_eq!(list, 0);
        let stored: String = store
            .query(
                redis::cmd("HGET")
                    .arg(format!("{USER}old"))
                    .arg("inventory"),
            )
            .await
            .unwrap();
        assert_eq!(stored, r#"[["sword",5001],["knife",1]]"#);
    }
}
