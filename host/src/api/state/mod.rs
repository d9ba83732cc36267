//! Game state: users (password hash, last session time, inventory, guild)
//! and sessions. The reference kept both in Redis; sluice keeps them in an
//! embedded redb file under the data directory by default, so one process
//! needs nothing else and survives restarts, or in Redis (`--state
//! redis://host:port`) so several API processes share one game.
//!
//! In: domain operations from the routes (sign up, buy, join, log in).
//! Out: the records the events are built from. Each operation is atomic in
//! both stores: concurrent buys by one player never lose an item.
//!
//! An inventory is a count per item type (the catalog bounds its size), not
//! the list of every purchase the reference kept, which grew with each buy
//! and went into every buy and login event: about 9·n²/2 bytes over n buys.
//! Users stored in the list shape are read as counts and written back in
//! the new one (both stores migrate them as they meet them).

mod embedded;
mod redis;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use embedded::EmbeddedStore;
pub use redis::RedisStore;

/// A registered player. The password is only ever stored as an argon2 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub password_hash: String,
    /// The last activity, `%Y-%m-%d %H:%M:%S` in UTC, as the reference's
    /// `user_info.session_datetime`.
    pub session_datetime: String,
    pub inventory: Inventory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild: Option<String>,
}

impl User {
    /// The reference's `user_info`, without the password it used to leak:
    /// the inventory as the reference listed it (capped, see
    /// [`Inventory::listed`]) and its exact counts.
    pub fn info(&self) -> Value {
        let mut info = serde_json::json!({
            "session_datetime": self.session_datetime,
            "inventory": self.inventory.listed(),
            "inventory_counts": self.inventory.counts(),
        });
        if let Some(guild) = &self.guild {
            info["guild"] = guild.as_str().into();
        }
        info
    }
}

/// A player's items: how many of each item type, in the order the player
/// first got them. Stored as `[["sword", 3], ["knife", 1]]`; the shape
/// stored before counts, `["sword", "sword", "sword", "knife"]`, reads as
/// the same inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<StoredItem>", into = "Vec<(String, u64)>")]
pub struct Inventory(Vec<(String, u64)>);

/// One element of a stored inventory: a count (now) or one item (before).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredItem {
    Counted(String, u64),
    One(String),
}

impl From<Vec<StoredItem>> for Inventory {
    fn from(stored: Vec<StoredItem>) -> Inventory {
        let mut inventory = Inventory::default();
        for item in stored {
            match item {
                StoredItem::Counted(item, n) => inventory.add_n(&item, n),
                StoredItem::One(item) => inventory.add_n(&item, 1),
            }
        }
        inventory
    }
}

impl From<Inventory> for Vec<(String, u64)> {
    fn from(inventory: Inventory) -> Self {
        inventory.0
    }
}

/// Items an event lists at most (`inventory`, `user_info.inventory`); the
/// exact counts go beside them (`inventory_counts`).
pub const LISTED_ITEMS: usize = 100;

impl Inventory {
    /// One more `item`.
    pub fn add(&mut self, item: &str) {
        self.add_n(item, 1);
    }

    fn add_n(&mut self, item: &str, n: u64) {
        match self.0.iter_mut().find(|(name, _)| name == item) {
            Some((_, count)) => *count = count.saturating_add(n),
            None => self.0.push((item.to_string(), n)),
        }
    }

    pub fn count(&self, item: &str) -> u64 {
        self.0
            .iter()
            .find(|(name, _)| name == item)
            .map_or(0, |(_, n)| *n)
    }

    /// Every item counted, in the order first got.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(name, n)| (name.as_str(), *n))
    }

    /// The reference's list, each item repeated by its count, in the order
    /// first got; at most [`LISTED_ITEMS`] long. Past that every item type
    /// keeps an equal share (as many as it has, when fewer), so none drops
    /// out of sight.
    pub fn listed(&self) -> Vec<String> {
        let total: u64 = self.0.iter().map(|(_, n)| *n).sum();
        let share = if total <= LISTED_ITEMS as u64 {
            u64::MAX
        } else {
            // The largest share whose list fits.
            let fits = |share: u64| -> bool {
                self.0.iter().map(|(_, n)| (*n).min(share)).sum::<u64>() <= LISTED_ITEMS as u64
            };
            (0..=LISTED_ITEMS as u64)
                .take_while(|share| fits(*share))
                .last()
                .unwrap_or(0)
        };
        self.0
            .iter()
            .flat_map(|(name, n)| std::iter::repeat_n(name.clone(), (*n).min(share) as usize))
            .collect()
    }

    /// `{"sword": 3, "knife": 1}`.
    pub fn counts(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(name, n)| (name.clone(), Value::from(*n)))
                .collect(),
        )
    }
}

impl<S: AsRef<str>> FromIterator<S> for Inventory {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Inventory {
        let mut inventory = Inventory::default();
        for item in items {
            inventory.add(item.as_ref());
        }
        inventory
    }
}

/// A logged-in session: whose it is and when it was last used, in
/// milliseconds since the Unix epoch (expiry slides with activity, as the
/// reference's `session_datetime` did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub username: String,
    pub last_seen_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the game state `{path}`: {source}")]
    Open { path: PathBuf, source: redb::Error },
    #[error("cannot create the game state folder `{path}`: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("game state (redb): {0}")]
    Embedded(#[from] redb::Error),
    #[error("game state (Redis at {url}): {source}")]
    Redis {
        url: String,
        source: ::redis::RedisError,
    },
    #[error("game state holds a record that is not valid: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("game state task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Where the game state lives, from `--state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    File(PathBuf),
    Redis(String),
}

impl StateLocation {
    /// `redis://…` (or `rediss://…`) is Redis; anything else is a redb file.
    pub fn parse(spec: &str) -> StateLocation {
        if spec.starts_with("redis://") || spec.starts_with("rediss://") {
            StateLocation::Redis(spec.to_string())
        } else {
            StateLocation::File(PathBuf::from(spec))
        }
    }
}

impl std::fmt::Display for StateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateLocation::File(path) => write!(f, "{}", path.display()),
            StateLocation::Redis(url) => f.write_str(url),
        }
    }
}

/// The game state, in whichever store `--state` chose.
#[derive(Clone)]
pub enum GameStore {
    Embedded(EmbeddedStore),
    Redis(RedisStore),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            GameStore::Embedded(s) => s.$method($($arg),*).await,
            GameStore::Redis(s) => s.$method($($arg),*).await,
        }
    };
}

impl GameStore {
    pub async fn open(location: &StateLocation) -> Result<GameStore, StateError> {
        Ok(match location {
            StateLocation::File(path) => GameStore::Embedded(EmbeddedStore::open(path).await?),
            StateLocation::Redis(url) => GameStore::Redis(RedisStore::connect(url).await?),
        })
    }

    /// Registers `username` unless it exists; false if it did.
    pub async fn create_user(&self, username: &str, user: User) -> Result<bool, StateError> {
        dispatch!(self.create_user(username, user))
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>, StateError> {
        dispatch!(self.user(username))
    }

    /// Marks `username` active now (a login).
    pub async fn touch_user(
        &self,
        username: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        dispatch!(self.touch_user(username, session_datetime))
    }

    /// Adds `item` to the inventory; returns the user as it is after.
    pub async fn add_item(
        &self,
        username: &str,
        item: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        dispatch!(self.add_item(username, item, session_datetime))
    }

    pub async fn join_guild(
        &self,
        username: &str,
        guild: &str,
        session_datetime: &str,
    ) -> Result<Option<User>, StateError> {
        dispatch!(self.join_guild(username, guild, session_datetime))
    }

    /// Stores a session, kept at least `ttl` after its last use.
    pub async fn put_session(
        &self,
        id: &str,
        session: Session,
        ttl: Duration,
    ) -> Result<(), StateError> {
        dispatch!(self.put_session(id, session, ttl))
    }

    pub async fn session(&self, id: &str) -> Result<Option<Session>, StateError> {
        dispatch!(self.session(id))
    }

    pub async fn remove_session(&self, id: &str) -> Result<(), StateError> {
        dispatch!(self.remove_session(id))
    }

    /// Removes sessions last used before `cutoff_ms`; returns how many.
    pub async fn purge_sessions(&self, cutoff_ms: u64) -> Result<usize, StateError> {
        dispatch!(self.purge_sessions(cutoff_ms))
    }

    /// Every user, by name (for `/status`).
    pub async fn users(&self) -> Result<Vec<(String, User)>, StateError> {
        dispatch!(self.users())
    }

    /// Every stored session, by id (for `/status`).
    pub async fn sessions(&self) -> Result<Vec<(String, Session)>, StateError> {
        dispatch!(self.sessions())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn user(inventory: &[&str]) -> User {
        User {
            password_hash: "$argon2id$test".into(),
            session_datetime: "2026-11-29 10:00:00".into(),
            inventory: inventory.iter().collect(),
            guild: None,
        }
    }

    #[test]
    fn an_inventory_is_counts_and_an_event_lists_a_bounded_part() {
        let mut inventory = Inventory::from_iter(["shield", "potion", "sword"]);
        assert_eq!(inventory.listed(), ["shield", "potion", "sword"]);
        for _ in 0..1_000_000 {
            inventory.add("sword");
        }
        inventory.add("knife");
        assert_eq!(inventory.count("sword"), 1_000_001);
        // Every type stays in sight; the list is capped.
        let listed = inventory.listed();
        assert_eq!(listed.len(), LISTED_ITEMS);
        assert_eq!(
            listed.iter().filter(|i| *i == "sword").count(),
            LISTED_ITEMS - 3
        );
        assert!(listed.contains(&"knife".to_string()) && listed.contains(&"shield".to_string()));
        assert_eq!(inventory.counts()["sword"], 1_000_001);
        // n² is gone: the stored record and the event's `user_info` stay
        // the same size whatever the number of purchases.
        let mut player = user(&["sword"]);
        let sizes: Vec<(usize, usize)> = [1_000u64, 1_000_000]
            .into_iter()
            .map(|buys| {
                player.inventory = Inventory(vec![("sword".into(), buys), ("bow".into(), 1)]);
                (
                    serde_json::to_string(&player).unwrap().len(),
                    player.info().to_string().len(),
                )
            })
            .collect();
        assert!(sizes[1].0 - sizes[0].0 <= 3, "{sizes:?}");
        assert_eq!(sizes[1].1 - sizes[0].1, 3, "{sizes:?}");
        assert!(sizes[1].1 < 1024, "{sizes:?}");
    }

    #[test]
    fn users_stored_with_a_list_read_as_counts() {
        let before = r#"{"password_hash": "$argon2id$x", "session_datetime": "2026-11-29 10:00:00",
            "inventory": ["sword", "potion", "sword"], "guild": "knights"}"#;
        let user: User = serde_json::from_str(before).unwrap();
        assert_eq!(
            user.inventory.iter().collect::<Vec<_>>(),
            [("sword", 2), ("potion", 1)]
        );
        let after = serde_json::to_value(&user).unwrap();
        assert_eq!(
            after["inventory"],
            serde_json::json!([["sword", 2], ["potion", 1]])
        );
        assert_eq!(serde_json::from_value::<User>(after).unwrap(), user);
    }

    /// The behaviour both stores share; each store's tests run it.
    pub async fn exercise(store: GameStore) {
        assert!(store.create_user("user1", user(&[])).await.unwrap());
        assert!(!store.create_user("user1", user(&["x"])).await.unwrap());
        assert_eq!(store.user("user1").await.unwrap(), Some(user(&[])));
        assert_eq!(store.user("nobody").await.unwrap(), None);

        let after = store
            .add_item("user1", "sword", "2026-11-29 11:00:00")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.inventory, Inventory::from_iter(["sword"]));
        assert_eq!(after.session_datetime, "2026-11-29 11:00:00");
        // Concurrent buys never lose an item.
        let buys: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .add_item("user1", "potion", "2026-11-29 11:00:01")
                        .await
                        .unwrap()
                })
            })
            .collect();
        for b in buys {
            b.await.unwrap();
        }
        let inventory = store.user("user1").await.unwrap().unwrap().inventory;
        assert_eq!(
            inventory.iter().collect::<Vec<_>>(),
            [("sword", 1), ("potion", 20)]
        );
        assert_eq!(store.add_item("nobody", "sword", "x").await.unwrap(), None);

        let joined = store
            .join_guild("user1", "knights", "2026-11-29 12:00:00")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(joined.guild.as_deref(), Some("knights"));
        assert_eq!(joined.info()["guild"], "knights");
        assert!(joined.info().get("password_hash").is_none());

        let s = Session {
            username: "user1".into(),
            last_seen_ms: 42,
        };
        store
            .put_session("abc", s.clone(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.session("abc").await.unwrap(), Some(s.clone()));
        assert_eq!(store.session("abd").await.unwrap(), None);
        assert_eq!(store.sessions().await.unwrap(), vec![("abc".into(), s)]);
        store.remove_session("abc").await.unwrap();
        assert_eq!(store.session("abc").await.unwrap(), None);

        let users = store.users().await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].0, "user1");
    }
}
