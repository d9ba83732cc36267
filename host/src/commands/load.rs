//! `sluice load`: a load generator that plays the game, beyond what Apache
//! Bench can: N players each sign up and log in, then buy items, join
//! guilds and browse, at a target total rate for a duration. A live
//! progress bar while it runs; then requests/s, latency percentiles per
//! route and errors by route.

use std::collections::BTreeMap;
use std::io::{LineWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::api::catalog::{ITEMS, QUALITIES};

#[derive(Debug, Args)]
pub struct LoadCommand {
    /// The game API.
    #[arg(long, env = "SLUICE_URL", default_value = "http://127.0.0.1:5000")]
    url: String,
    /// Simulated players.
    #[arg(long, default_value_t = 20)]
    players: usize,
    /// Target requests per second, all players together.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long to play after everyone has logged in (`30s`, `2m`).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Seeds the players' choices, so a run can be repeated.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Appends `<route> <event id>` for every acknowledged event (a success
    /// with an `x-event-id`), so a soak can check each reached the lake.
    #[arg(long)]
    acked: Option<PathBuf>,
}

/// Where acknowledged events' ids go, shared by the players.
type AckedLog = Option<Arc<Mutex<LineWriter<std::fs::File>>>>;

const GUILDS: [&str; 4] = ["knights", "rangers", "Sons of Zion", "night-watch"];

/// Latencies and errors of one route.
struct RouteStats {
    latency_us: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl RouteStats {
    fn new() -> RouteStats {
        RouteStats {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: BTreeMap::new(),
        }
    }
}

#[derive(Default)]
struct Stats {
    routes: BTreeMap<&'static str, RouteStats>,
}

impl Stats {
    fn record(&mut self, route: &'static str, elapsed: Duration, error: Option<String>) {
        let r = self.routes.entry(route).or_insert_with(RouteStats::new);
        let _ = r.latency_us.record((elapsed.as_micros() as u64).max(1));
        if let Some(e) = error {
            *r.errors.entry(e).or_default() += 1;
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.routes.values().fold((0, 0), |(n, e), r| {
            (n + r.latency_us.len(), e + r.errors.values().sum::<u64>())
        })
    }
}

/// One player's HTTP session.
struct Player {
    client: reqwest::Client,
    base: String,
    name: String,
    password: String,
    session: Option<String>,
    stats: Arc<Mutex<Stats>>,
    acked: AckedLog,
}

impl Player {
    /// Sends one request and records it under `route`; a reply that is the
    /// reference's game error (200 with "Failed!" or "Please login") counts
    /// as an error too.
    async fn call(&mut self, route: &'static str, request: reqwest::RequestBuilder) -> bool {
        let mut request = request;
        if let Some(s) = &self.session {
            request = request.header("Cookie", format!("session_id={s}"));
        }
        let started = Instant::now();
        let outcome = request.send().await;
        let error = match outcome {
            Err(e) => Some(if e.is_timeout() {
                "timeout".to_string()
            } else {
                "connection error".to_string()
            }),
            Ok(r) => {
                let status = r.status();
                if let Some(cookie) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok())
                    && let Some(id) = cookie
                        .strip_prefix("session_id=")
                        .and_then(|c| c.split(';').next())
                    && !id.is_empty()
                {
                    self.session = Some(id.to_string());
                }
                let event_id = r
                    .headers()
                    .get(crate::api::routes::EVENT_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = r.text().await.unwrap_or_default();
                if !status.is_success() {
                    Some(format!("HTTP {}", status.as_u16()))
                } else if body.contains("Failed!") || body.contains("Please login") {
                    Some(body.trim().to_string())
                } else {
                    if let (Some(log), Some(id)) = (&self.acked, event_id) {
                        let mut log = log.lock().expect("acked log lock");
                        if let Err(e) = writeln!(log, "{route} {id}") {
                            eprintln!("cannot record an acknowledged event: {e}");
                        }
                    }
                    None
                }
            }
        };
        let ok = error.is_none();
        self.stats
            .lock()
            .expect("stats lock")
            .record(route, started.elapsed(), error);
        ok
    }

    async fn sign_in(&mut self) -> bool {
        let form = [
            ("username", self.name.clone()),
            ("password", self.password.clone()),
        ];
        let signup = self
            .client
            .post(format!("{}/signup", self.base))
            .form(&form);
        self.call("/signup", signup).await;
        let login = self.client.post(format!("{}/login", self.base)).form(&form);
        self.call("/login", login).await
    }

    async fn act(&mut self, rng: &mut StdRng) {
        let roll = rng.random_range(0..100);
        let base = self.base.clone();
        if roll < 50 {
            let item = ITEMS[rng.random_range(0..ITEMS.len())].name;
            let quality = QUALITIES[rng.random_range(0..QUALITIES.len())];
            let req = self
                .client
                .get(format!("{base}/buy/{item}"))
                .query(&[("quality", quality)]);
            self.call("/buy/{item}", req).await;
        } else if roll < 65 {
            let guild = GUILDS[rng.random_range(0..GUILDS.len())];
            let req = self
                .client
                .get(format!("{base}/join_guild/{}", guild.replace(' ', "%20")));
            self.call("/join_guild/{guild}", req).await;
        } else if roll < 80 {
            let req = self.client.get(format!("{base}/purchase_a_sword"));
            self.call("/purchase_a_sword", req).await;
        } else {
            let req = self.client.get(format!("{base}/"));
            self.call("/", req).await;
        }
    }
}

impl LoadCommand {
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::ensure!(self.players > 0, "--players must be at least 1");
        anyhow::ensure!(self.rate > 0.0, "--rate must be above 0");
        let base = self.url.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .user_agent(concat!("sluice-load/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(self.players)
            .build()
            .context("cannot build the HTTP client")?;
        let stats = Arc::new(Mutex::new(Stats::default()));
        let acked: AckedLog = match &self.acked {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("cannot open `{}` (--acked)", path.display()))?;
                Some(Arc::new(Mutex::new(LineWriter::new(file))))
            }
            None => None,
        };
        let run_id = crate::api::auth::hex(&crate::api::auth::random_bytes::<3>());
        let runtime = super::runtime()?;
        runtime.block_on(async {
            let run_started = Instant::now();
            // Everyone signs up and logs in first.
            let mut players = Vec::new();
            for i in 0..self.players {
                players.push(Player {
                    client: client.clone(),
                    base: base.clone(),
                    name: format!("load-{run_id}-{i}"),
                    password: crate::api::auth::hex(&crate::api::auth::random_bytes::<8>()),
                    session: None,
                    stats: stats.clone(),
                    acked: acked.clone(),
                });
            }
            let signed_in =
                futures::future::join_all(players.iter_mut().map(Player::sign_in)).await;
            let ready = signed_in.iter().filter(|ok| **ok).count();
            if ready == 0 {
                anyhow::bail!(
                    "no player could sign up and log in at {base}; is the game API running? (--url)"
                );
            }
            eprintln!(
                "{ready} of {} players logged in; playing for {:?} at {} requests/s",
                self.players, self.duration, self.rate
            );

            let bar = ProgressBar::new(self.duration.as_millis() as u64).with_style(
                ProgressStyle::default_bar()
                    .template("{elapsed:>4} [{bar:30}] {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            let started = Instant::now();
            let deadline = started + self.duration;
            let per_player = Duration::from_secs_f64(self.players as f64 / self.rate);
            let tasks: Vec<_> = players
                .into_iter()
                .enumerate()
                .map(|(i, mut player)| {
                    let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(i as u64));
                    tokio::spawn(async move {
                        // Spread the players' first requests over one period.
                        tokio::time::sleep(per_player.mul_f64(rng.random_range(0.0..1.0))).await;
                        let mut tick = tokio::time::interval(per_player);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                        while Instant::now() < deadline {
                            tick.tick().await;
                            player.act(&mut rng).await;
                        }
                    })
                })
                .collect();
            let stats_view = stats.clone();
            let progress = tokio::spawn({
                let bar = bar.clone();
                async move {
                    loop {
                        let elapsed = started.elapsed();
                        let (n, errors) = stats_view.lock().expect("stats lock").totals();
                        bar.set_position(elapsed.as_millis() as u64);
                        bar.set_message(format!(
                            "{n} requests, {:.0}/s, {errors} errors",
                            n as f64 / elapsed.as_secs_f64().max(0.001)
                        ));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            });
            for t in tasks {
                t.await?;
            }
            progress.abort();
            bar.finish_and_clear();
            print_summary(&stats.lock().expect("stats lock"), run_started.elapsed());
            Ok(())
        })
    }
}

fn print_summary(stats: &Stats, elapsed: Duration) {
    let (n, errors) = stats.totals();
    println!(
        "{n} requests in {:.1}s: {:.1} requests/s, {errors} errors",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{:<22} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "route", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    let ms = |us: u64| us as f64 / 1000.0;
    for (route, r) in &stats.routes {
        let h = &r.latency_us;
        println!(
            "{route:<22} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            r.errors.values().sum::<u64>()
        );
    }
    let with_errors: Vec<_> = stats
        .routes
        .iter()
        .filter(|(_, r)| !r.errors.is_empty())
        .collect();
    if !with_errors.is_empty() {
        println!("errors by route:");
        for (route, r) in with_errors {
            for (error, count) in &r.errors {
                println!("  {route:<20} {count:>7}  {error}");
            }
        }
    }
}
