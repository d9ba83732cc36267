//! The embedded store: one redb file (`./data/game-state.redb` by default),
//! users and sessions as JSON values in two tables. redb allows one writer
//! at a time, so every read-modify-write is one atomic transaction, and a
//! commit is durable when it returns. Users stored before inventories
//! were counts are rewritten in the new shape when the file is opened.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Session, StateError, User};

const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
const SESSIONS: TableDefinition<&str, &str> = TableDefinition::new("sessions");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    pub async fn open(path: &Path) -> Result<EmbeddedStore, StateError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StateError::Folder {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let open = |path: &Path| -> Result<Database, redb::Error> {
                let db = Database::create(path)?;
                // Create both tables so readers never meet a missing one.
                let txn = db.begin_write()?;
                txn.open_table(USERS)?;
                txn.open_table(SESSIONS)?;
                txn.commit()?;
                Ok(db)
            };
            let db = open(&path).map_err(|source| StateError::Open {
                path: path.clone(),
                source,
            })?;
            let migrated = migrate_inventories(&db)?;
            if migrated > 0 {
                tracing::info!(path = %path.display(), users = migrated, "Inventories stored as lists rewritten as counts.");
            }
            Ok(EmbeddedStore { db: Arc::new(db) })
        })
        .await?
    }

    /// Runs `f` on a blocking thread: redb calls do disk I/O.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db)).await?
    }

    pub async fn create_user(&self, username: &str, user: User) -> Result<bool, StateError> {
        let username = username.to_string();
        let json = serde_json::to_string(&user)?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(redb::Error::from)?;
            let created = {
                let mut users = txn.open_table(USERS).map_err(redb::Error::from)?;
                if users
                    .get(username.as_str())
                    .map_err(redb::Error::from)?
                    .is_some()
                {
                    false
                } else {
                    users
                        .insert(username.as_str(), json.as_str())
                        .map_err(redb::Error::from)?;
                    true
                }
            };
            txn.commit().map_err(redb::Error::from)?;
            Ok(created)
        })
        .await
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>, StateError> {
        let username = username.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let users = txn.open_table(USERS).map_err(redb::Error::from)?;
            let found = users.get(username.as_str()).map_err(redb::Error::from)?;
            Ok(match found {
                Some(json) => Some(serde_json::from_str(json.value())?),
                None => None,
            })
        })
        .await
    }

    /// Reads, changes and writes one user in a single write transaction.
    async fn update_user(
        &self,
        username: &str,
        change: impl FnOnce(&mut User) + Send + 'static,
    ) -> Result<Option<User>, StateError> {
        let username = username.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(redb::Error::from)?;
            let updated = {
                let mut users = txn.open_table(USERS).map_err(redb::Error::from)?;
                let current: Option<User> =
                    match users.get(username.as_str()).map_err(redb::Error::from)? {
                        Some(json) => Some(serde_json::from_str(json.value())?),
                        None => None,
                    };
                match current {
                    Some(mut user) => {
                        change(&mut user);
                        let json = serde_json::to_string(&user)?;
                        users
                            .insert(username.as_str(), json.as_str())
                            .map_err(redb::Error::from)?;
                        Some(user)
                    }
                    None => None,
                }
            };
            txn.commit().map_err(redb::Error::from)?;
            Ok(updated)
        })
        .await
    }

    pub async fn touch_user(
        &self,
        username: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        let at = session_datetime.to_string();
        self.update_user(username, move |u| u.session_datetime = at)
            .await
    }

    pub async fn add_item(
        &self,
        username: &str,
        item: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        let (item, at) = (item.to_string(), session_datetime.to_string());
        self.update_user(username, move |u| {
            u.inventory.add(&item);
            u.session_datetime = at;
        })
        .await
    }

    pub async fn join_guild(
        &self,
        username: &str,
        guild: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        let (guild, at) = (guild.to_string(), session_datetime.to_string());
        self.update_user(username, move |u| {
            u.guild = Some(guild);
            u.session_datetime = at;
        })
        .await
    }

    /// Expiry is checked by the caller against `last_seen_ms`; `ttl` matters
    /// to Redis only.
    pub async fn put_session(
        &self,
        id: &str,
        session: Session,
        _ttl: Duration,
    ) -> Result<(), StateError> {
        let id = id.to_string();
        let json = serde_json::to_string(&session)?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(redb::Error::from)?;
            {
                let mut sessions = txn.open_table(SESSIONS).map_err(redb::Error::from)?;
                sessions
                    .insert(id.as_str(), json.as_str())
                    .map_err(redb::Error::from)?;
            }
            txn.commit().map_err(redb::Error::from)?;
            Ok(())
        })
        .await
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, StateError> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let sessions = txn.open_table(SESSIONS).map_err(redb::Error::from)?;
            let found = sessions.get(id.as_str()).map_err(redb::Error::from)?;
            Ok(match found {
                Some(json) => Some(serde_json::from_str(json.value())?),
                None => None,
            })
        })
        .await
    }

    pub async fn remove_session(&self, id: &str) -> Result<(), StateError> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(redb::Error::from)?;
            {
                let mut sessions = txn.open_table(SESSIONS).map_err(redb::Error::from)?;
                sessions.remove(id.as_str()).map_err(redb::Error::from)?;
            }
            txn.commit().map_err(redb::Error::from)?;
            Ok(())
        })
        .await
    }

    /// Removes every session last used before `cutoff_ms` (milliseconds
    /// since the epoch); returns how many went. Sessions would otherwise
    /// stay for ever: only Redis expires keys by itself.
    pub async fn purge_sessions(&self, cutoff_ms: u64) -> Result<usize, StateError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(redb::Error::from)?;
            let purged = {
                let mut sessions = txn.open_table(SESSIONS).map_err(redb::Error::from)?;
                let mut stale = Vec::new();
                for row in sessions.iter().map_err(redb::Error::from)? {
                    let (k, v) = row.map_err(redb::Error::from)?;
                    let session: Session = serde_json::from_str(v.value())?;
                    if session.last_seen_ms < cutoff_ms {
                        stale.push(k.value().to_string());
                    }
                }
                for id in &stale {
                    sessions.remove(id.as_str()).map_err(redb::Error::from)?;
                }
                stale.len()
            };
            txn.commit().map_err(redb::Error::from)?;
            Ok(purged)
        })
        .await
    }

    pub async fn users(&self) -> Result<Vec<(String, User)>, StateError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let users = txn.open_table(USERS).map_err(redb::Error::from)?;
            let mut all = Vec::new();
            for row in users.iter().map_err(redb::Error::from)? {
                let (k, v) = row.map_err(redb::Error::from)?;
                all.push((k.value().to_string(), serde_json::from_str(v.value())?));
            }
            Ok(all)
        })
        .await
    }

    pub async fn sessions(&self) -> Result<Vec<(String, Session)>, StateError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let sessions = txn.open_table(SESSIONS).map_err(redb::Error::from)?;
            let mut all = Vec::new();
            for row in sessions.iter().map_err(redb::Error::from)? {
                let (k, v) = row.map_err(redb::Error::from)?;
                all.push((k.value().to_string(), serde_json::from_str(v.value())?));
            }
            Ok(all)
        })
        .await
    }
}

/// Rewrites, in one transaction, the users whose inventory is still the
/// list of every item; returns how many. A user in the new shape is read
/// as text only.
fn migrate_inventories(db: &Database) -> Result<usize, StateError> {
    let txn = db.begin_write().map_err(redb::Error::from)?;
    let migrated = {
        let mut users = txn.open_table(USERS).map_err(redb::Error::from)?;
        let mut rewritten = Vec::new();
        for row in users.iter().map_err(redb::Error::from)? {
            let (name, json) = row.map_err(redb::Error::from)?;
            #[derive(serde::Deserialize)]
            struct Shape {
                inventory: Vec<serde_json::Value>,
            }
            let shape: Shape = serde_json::from_str(json.value())?;
            if shape.inventory.iter().any(serde_json::Value::is_string) {
                let user: User = serde_json::from_str(json.value())?;
                rewritten.push((name.value().to_string(), serde_json::to_string(&user)?));
            }
        }
        for (name, json) in &rewritten {
            users
                .insert(name.as_str(), json.as_str())
                .map_err(redb::Error::from)?;
        }
        rewritten.len()
    };
    txn.commit().map_err(redb::Error::from)?;
    Ok(migrated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::state::GameStore;

    #[tokio::test]
    async fn the_embedded_store_keeps_the_game() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/game.redb");
        let store = EmbeddedStore::open(&path).await.unwrap();
        crate::api::state::tests::exercise(GameStore::Embedded(store.clone())).await;
        // Sessions last used before the cutoff are purged, the others kept.
        for (id, last_seen_ms) in [("old", 1_000), ("new", 5_000)] {
            let s = Session {
                username: "user1".into(),
                last_seen_ms,
            };
            store
                .put_session(id, s, Duration::from_secs(1))
                .await
                .unwrap();
        }
        assert_eq!(store.purge_sessions(2_000).await.unwrap(), 1);
        assert_eq!(store.session("old").await.unwrap(), None);
        assert!(store.session("new").await.unwrap().is_some());
        drop(store);
        // It survives a restart.
        let reopened = EmbeddedStore::open(&path).await;
        // redb locks the file while it is open: the first handle is gone here.
        let reopened = reopened.unwrap();
        assert_eq!(
            reopened
                .user("user1")
                .await
                .unwrap()
                .unwrap()
                .inventory
                .count("potion"),
            20
        );
    }

    #[tokio::test]
    async fn users_stored_with_a_list_are_rewritten_as_counts_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("game.redb");
        // A file as the store wrote it before counts: 10,000 swords listed.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut users = txn.open_table(USERS).unwrap();
                let old = serde_json::json!({
                    "password_hash": "$argon2id$x",
                    "session_datetime": "2026-11-29 10:00:00",
                    "inventory": vec!["sword"; 10_000],
                })
                .to_string();
                users.insert("old", old.as_str()).unwrap();
                let new = serde_json::to_string(&crate::api::state::tests::user(&["bow"])).unwrap();
                users.insert("new", new.as_str()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = EmbeddedStore::open(&path).await.unwrap();
        let raw = {
            let txn = store.db.begin_read().unwrap();
            let users = txn.open_table(USERS).unwrap();
            users.get("old").unwrap().unwrap().value().to_string()
        };
        assert!(raw.contains(r#""inventory":[["sword",10000]]"#), "{raw}");
        let after = store.add_item("old", "sword", "x").await.unwrap().unwrap();
        assert_eq!(after.inventory.count("sword"), 10_001);
        assert_eq!(
            store
                .user("new")
                .await
                .unwrap()
                .unwrap()
                .inventory
                .count("bow"),
            1
        );
    }
}
