//! Reference-shaped events for benchmarks: the reference game API's event
//! types with its request headers merged in, about 250 bytes each.

use std::fmt::Write;
use std::io::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HOSTS: [&str; 4] = [
    "user1.comcast.com",
    "user2.att.com",
    "moe.example.com",
    "gamer.verizon.net",
];
const ITEMS: [&str; 4] = ["sword", "shield", "potion", "knife"];
const GUILDS: [&str; 3] = ["knights", "wizards", "rangers"];

/// The `i`th event of a deterministic mix: a quarter `purchase_sword`, the
/// rest split between other purchases, `buy_item`, `join_guild`, `signup`
/// and `login`.
pub(crate) fn reference_event(i: u64, out: &mut String) {
    out.clear();
    let host = HOSTS[(i % 4) as usize];
    let user = i % 1000;
    let headers = format!(
        r#""Host": "{host}", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "event_id": "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}""#,
        (i * 2_654_435_761) as u32,
        i % 65536,
        i % 4096,
        (i / 7) % 4096,
        i
    );
    match i % 8 {
        0 | 1 => write!(out, r#"{{"event_type": "purchase_sword", "description": "a sharp sword", {headers}}}"#),
        2 => write!(
            out,
            r#"{{"event_type": "purchase_knife", "description": "very sharp knife", {headers}}}"#
        ),
        3 | 4 => write!(
            out,
            r#"{{"event_type": "buy_item", "username": "user{user}", "item_type": "{}", "item_quality": "common", "inventory": ["sword", "potion"], {headers}}}"#,
            ITEMS[(i / 8 % 4) as usize]
        ),
        5 => write!(
            out,
            r#"{{"event_type": "join_guild", "username": "user{user}", "guild_name": "{}", {headers}}}"#,
            GUILDS[(i / 8 % 3) as usize]
        ),
        6 => write!(
            out,
            r#"{{"event_type": "signup", "username": "user{user}", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": []}}, {headers}}}"#
        ),
        _ => write!(
            out,
            r#"{{"event_type": "login", "username": "user{user}", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": ["sword"]}}, {headers}}}"#
        ),
    }
    .expect("writing to a String");
}

/// The kinds of event [`EventMix`] makes, in the order of [`MIX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    PurchaseSword,
    PurchaseKnife,
    PurchaseShield,
    BuyItem,
    JoinGuild,
    Signup,
    Login,
    /// The reference's `/` route: an event no default table wants.
    Default,
}

/// Per hundred events: every table of the default pipelines gets rows, and
/// a sixth of the events go nowhere.
const MIX: [(EventKind, u64); 8] = [
    (EventKind::PurchaseSword, 20),
    (EventKind::PurchaseKnife, 10),
    (EventKind::PurchaseShield, 5),
    (EventKind::BuyItem, 20),
    (EventKind::JoinGuild, 12),
    (EventKind::Signup, 6),
    (EventKind::Login, 10),
    (EventKind::Default, 17),
];

const AGENTS: [&str; 3] = [
    "ApacheBench/2.3",
    "curl/7.47.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
];
const QUALITIES: [&str; 3] = ["common", "rare", "legendary"];

/// An endless, seeded stream of reference-shaped events (about 250 bytes)
/// in the [`MIX`] of kinds: the same seed gives the same events. Counts what
/// it made, so a benchmark can check every table got its rows.
#[derive(Debug)]
pub(crate) struct EventMix {
    rng: StdRng,
    made: [u64; MIX.len()],
}

impl EventMix {
    pub(crate) fn new(seed: u64) -> EventMix {
        EventMix {
            rng: StdRng::seed_from_u64(seed),
            made: [0; MIX.len()],
        }
    }

    /// Replaces `out` with the next event.
    pub(crate) fn next_event(&mut self, out: &mut Vec<u8>) -> EventKind {
        out.clear();
        let r = self.rng.next_u64();
        let mut pick = r % 100;
        let mut index = 0;
        while pick >= MIX[index].1 {
            pick -= MIX[index].1;
            index += 1;
        }
        self.made[index] += 1;
        let kind = MIX[index].0;
        let r2 = self.rng.next_u64();
        let host = HOSTS[(r >> 8) as usize % HOSTS.len()];
        let agent = AGENTS[(r >> 12) as usize % AGENTS.len()];
        let user = (r >> 16) % 100_000;
        let item = ITEMS[(r >> 40) as usize % ITEMS.len()];
        let written = match kind {
            EventKind::PurchaseSword => write!(
                out,
                r#"{{"event_type": "purchase_sword", "description": "a sharp sword", "Host": "{host}", "Accept": "*/*", "User-Agent": "{agent}""#
            ),
            EventKind::PurchaseKnife => write!(
                out,
                r#"{{"event_type": "purchase_knife", "description": "very sharp knife", "Host": "{host}", "Accept": "*/*", "User-Agent": "{agent}""#
            ),
            EventKind::PurchaseShield => write!(
                out,
                r#"{{"event_type": "purchase_shield", "description": "a sturdy shield", "Host": "{host}", "Accept": "*/*", "User-Agent": "{agent}""#
            ),
            EventKind::BuyItem => write!(
                out,
                r#"{{"username": "user{user}", "event_type": "buy_item", "Accept": "*/*", "User-Agent": "{agent}", "item_type": "{item}", "Host": "{host}", "inventory": ["sword", "potion", "{item}"], "item_quality": "{}""#,
                QUALITIES[(r >> 44) as usize % QUALITIES.len()]
            ),
            EventKind::JoinGuild => write!(
                out,
                r#"{{"username": "user{user}", "event_type": "join_guild", "guild_name": "{}", "Accept": "*/*", "User-Agent": "{agent}", "Host": "{host}""#,
                GUILDS[(r >> 44) as usize % GUILDS.len()]
            ),
            EventKind::Signup | EventKind::Login => write!(
                out,
                r#"{{"username": "user{user}", "event_type": "{}", "user_info": {{"session_datetime": "2026-11-29 {:02}:{:02}:{:02}", "inventory": [{}]}}, "Accept": "*/*", "User-Agent": "{agent}", "Host": "{host}""#,
                if kind == EventKind::Signup {
                    "signup"
                } else {
                    "login"
                },
                (r2 >> 48) % 24,
                (r2 >> 40) % 60,
                (r2 >> 32) % 60,
                if kind == EventKind::Signup {
                    ""
                } else {
                    r#""sword", "potion""#
                },
            ),
            EventKind::Default => write!(
                out,
                r#"{{"event_type": "default", "Host": "{host}", "Accept": "*/*", "User-Agent": "{agent}""#
            ),
        };
        // Every event carries a unique id, as the game API's do.
        let written = written.and_then(|()| {
            write!(
                out,
                r#", "event_id": "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}"}}"#,
                r2 as u32,
                (r2 >> 32) as u16,
                (r2 >> 48) & 0xfff,
                0x8000 | ((r >> 48) & 0x3fff),
                self.rng.next_u64() & 0xffff_ffff_ffff
            )
        });
        written.expect("writing to a Vec");
        kind
    }

    /// How many events of `kind` were made so far.
    pub(crate) fn made(&self, kind: EventKind) -> u64 {
        MIX.iter()
            .zip(self.made)
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The partitions of the benchmark topic, as on the embedded broker.
pub(crate) const PARTITIONS: usize = crate::broker::DEFAULT_TOPIC_PARTITIONS as usize;

/// Makes the batches the Kafka source would deliver: round robin over the
/// partitions, offsets counting up per partition, and Kafka time
/// `timestamp_ms(i)` for the `i`th event.
pub(crate) struct Batches {
    topic: std::sync::Arc<str>,
    json: Vec<u8>,
    offsets: [i64; PARTITIONS],
}

impl Batches {
    pub(crate) fn new() -> Batches {
        Batches {
            topic: std::sync::Arc::from(crate::config::DEFAULT_TOPIC),
            json: Vec::with_capacity(512),
            offsets: [0; PARTITIONS],
        }
    }

    /// Events `events` (their numbers from the first) of `mix`, as one batch.
    pub(crate) fn next(
        &mut self,
        mix: &mut EventMix,
        events: std::ops::Range<u64>,
        timestamp_ms: impl Fn(u64) -> i64,
    ) -> std::sync::Arc<crate::source::SourceBatch> {
        use crate::plugin::{EventBatch, EventMeta};

        let n = (events.end - events.start) as usize;
        let mut batch = EventBatch::with_capacity(n, n * 300);
        for i in events {
            mix.next_event(&mut self.json);
            let partition = (i % PARTITIONS as u64) as usize;
            batch.push(
                &self.json,
                EventMeta {
                    partition: partition as i32,
                    offset: self.offsets[partition],
                    timestamp_ms: timestamp_ms(i),
                },
            );
            self.offsets[partition] += 1;
        }
        std::sync::Arc::new(crate::source::SourceBatch::new(self.topic.clone(), batch))
    }
}

/// Hands `events` events of `mix` to `fed` in batches of `batch_size`, as
/// the Kafka source would ([`Batches`]). Returns the time spent making the
/// events.
pub(crate) fn feed(
    fed: &crate::service::FedPipelines,
    mix: &mut EventMix,
    events: u64,
    batch_size: usize,
    timestamp_ms: impl Fn(u64) -> i64,
) -> anyhow::Result<std::time::Duration> {
    feed_paced(fed, mix, events, batch_size, timestamp_ms, None)
}

/// [`feed`], pausing `pace.1` after every `pace.0` events (so that files
/// due after a short age are flushed between them: one flush each).
pub(crate) fn feed_paced(
    fed: &crate::service::FedPipelines,
    mix: &mut EventMix,
    events: u64,
    batch_size: usize,
    timestamp_ms: impl Fn(u64) -> i64,
    pace: Option<(u64, std::time::Duration)>,
) -> anyhow::Result<std::time::Duration> {
    let mut batches = Batches::new();
    let mut generating = std::time::Duration::ZERO;
    let mut made = 0u64;
    let chunk = pace.map_or(u64::MAX, |(every, _)| every.max(1));
    while made < events {
        let n = (events - made)
            .min(batch_size as u64)
            .min(chunk - made % chunk);
        let generated = std::time::Instant::now();
        let batch = batches.next(mix, made..made + n, &timestamp_ms);
        generating += generated.elapsed();
        made += n;
        fed.deliver(&batch)?;
        if let Some((_, pause)) = pace
            && made.is_multiple_of(chunk)
        {
            std::thread::sleep(pause);
        }
    }
    Ok(generating)
}
