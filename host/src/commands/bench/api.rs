//! `sluice bench api`: the game API under outside load generators, with
//! Kafka acknowledgements on. It starts `sluice broker` + `sluice api` (and
//! then `sluice serve`, pipelines included) from this binary on free ports in
//! a scratch folder, drives `/purchase_a_sword` with `wrk` (keep-alive
//! connections) and the reference's `ab` (a new connection per request),
//! then reads the topic back with a Kafka consumer: every acknowledged
//! request must be there.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// `sluice api` + `sluice broker`, no pipeline.
    Api,
    /// `sluice serve`: broker, pipelines and API in one process.
    Serve,
    Both,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "both")]
    target: Target,
    /// How long wrk runs.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// wrk's keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests per ab run (at concurrency 1 and 64).
    #[arg(long, default_value_t = 5000)]
    ab_requests: usize,
    /// Passed to the API: librdkafka's linger.
    #[arg(long, default_value = "1ms")]
    linger: String,
}

/// A folder under the system's temporary folder, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(name: &str) -> anyhow::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!(
            "sluice-bench-{name}-{}-{}",
            std::process::id(),
            crate::api::auth::hex(&crate::api::auth::random_bytes::<4>())
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        Ok(ScratchDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn spawn(dir: &Path, log: &str, args: &[&str]) -> anyhow::Result<Process> {
    let exe = std::env::current_exe()?;
    let log = std::fs::File::create(dir.join(format!("{log}.log")))?;
    let child = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("SLUICE_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start sluice")?;
    Ok(Process(child))
}

fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// One load generator's run.
#[derive(Debug, Default)]
struct Run {
    tool: String,
    requests: u64,
    /// Non-2xx replies and socket errors.
    failed: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn run_tool(tool: &str, args: &[String]) -> anyhow::Result<String> {
    let out = Command::new(tool)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{tool}`; apt-get install wrk apache2-utils"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("{tool} failed:\n{text}");
    }
    Ok(text)
}

/// `2.10ms`, `850.00us`, `1.20s` in milliseconds.
fn wrk_ms(s: &str) -> f64 {
    let num = |suffix: &str| {
        s.trim_end_matches(suffix)
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    };
    if s.ends_with("us") {
        num("us") / 1000.0
    } else if s.ends_with("ms") {
        num("ms")
    } else if s.ends_with('s') {
        num("s") * 1000.0
    } else {
        f64::NAN
    }
}

fn field<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
}

fn parse_wrk(text: &str) -> Run {
    let mut run = Run {
        tool: String::new(),
        ..Run::default()
    };
    run.requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    run.per_second = field(text, "Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    run.p50_ms = field(text, "50%").map_or(f64::NAN, wrk_ms);
    run.p99_ms = field(text, "99%").map_or(f64::NAN, wrk_ms);
    run.failed = field(text, "Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if let Some(errors) = field(text, "Socket errors:") {
        run.failed += errors
            .split(',')
            .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    run
}

fn parse_ab(text: &str) -> Run {
    let num = |prefix: &str| {
        field(text, prefix)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Run {
        tool: String::new(),
        requests: num("Complete requests:").unwrap_or(0.0) as u64,
        failed: (num("Failed requests:").unwrap_or(0.0) + num("Non-2xx responses:").unwrap_or(0.0))
            as u64,
        per_second: num("Requests per second:").unwrap_or(0.0),
        p50_ms: num("50%").unwrap_or(f64::NAN),
        p99_ms: num("99%").unwrap_or(f64::NAN),
    }
}

/// `purchase_sword` events in the topic, read from the beginning until the
/// topic has been quiet for a few seconds.
fn count_in_kafka(brokers: &str) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "sluice-bench-count")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some("events"), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset("events", p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let mut count = 0;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(5) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                quiet_since = Instant::now();
                // Events are compact JSON with sorted keys.
                if String::from_utf8_lossy(m.payload().unwrap_or_default())
                    .contains(r#""event_type":"purchase_sword""#)
                {
                    count += 1;
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "Consumer error while counting."),
            None => {}
        }
    }
    Ok(count)
}

impl ApiArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let targets: &[Target] = match self.target {
            Target::Both => &[Target::Api, Target::Serve],
            t => {
                if t == Target::Api {
                    &[Target::Api]
                } else {
                    &[Target::Serve]
                }
            }
        };
        for target in targets {
            self.measure(*target)?;
        }
        Ok(())
    }

    fn measure(&self, target: Target) -> anyhow::Result<()> {
        let dir = ScratchDir::new(match target {
            Target::Api => "api",
            _ => "serve",
        })?;
        let (broker_port, http_port) = (free_port()?, free_port()?);
        let brokers = format!("127.0.0.1:{broker_port}");
        let listen = format!("127.0.0.1:{http_port}");
        let mut processes = Vec::new();
        let name = match target {
            Target::Api => {
                processes.push(spawn(
                    dir.path(),
                    "broker",
                    &["broker", "--broker-listen", &brokers],
                )?);
                wait_for_port(broker_port, "sluice broker")?;
                processes.push(spawn(
                    dir.path(),
                    "api",
                    &[
                        "api",
                        "--listen",
                        &listen,
                        "--brokers",
                        &brokers,
                        "--linger",
                        &self.linger,
                    ],
                )?);
                "sluice api + sluice broker"
            }
            _ => {
                processes.push(spawn(
                    dir.path(),
                    "serve",
                    &[
                        "serve",
                        "--broker-listen",
                        &brokers,
                        "--listen",
                        &listen,
                        "--linger",
                        &self.linger,
                    ],
                )?);
                "sluice serve"
            }
        };
        wait_for_port(http_port, name)?;
        let url = format!("http://{listen}/purchase_a_sword");
        let host = "Host: user1.comcast.com".to_string();
        // Warm up: connections, the producer's metadata.
        let warmup = parse_ab(&run_tool(
            "ab",
            &[
                "-q".into(),
                "-n".into(),
                "200".into(),
                "-c".into(),
                "8".into(),
                "-H".into(),
                host.clone(),
                url.clone(),
            ],
        )?);

        let mut runs = Vec::new();
        let wrk = run_tool(
            "wrk",
            &[
                "-t2".into(),
                format!("-c{}", self.connections),
                format!("-d{}s", self.duration.as_secs().max(1)),
                "--latency".into(),
                "-H".into(),
                host.clone(),
                url.clone(),
            ],
        )?;
        let mut run = parse_wrk(&wrk);
        run.tool = format!("wrk -t2 -c{} (keep-alive)", self.connections);
        runs.push(run);
        for concurrency in [1, 64] {
            let ab = run_tool(
                "ab",
                &[
                    "-q".into(),
                    "-n".into(),
                    self.ab_requests.to_string(),
                    "-c".into(),
                    concurrency.to_string(),
                    "-H".into(),
                    host.clone(),
                    url.clone(),
                ],
            )?;
            let mut run = parse_ab(&ab);
            run.tool = format!("ab -c {concurrency} (a connection per request)");
            runs.push(run);
        }
        let acknowledged: u64 = warmup.requests - warmup.failed
            + runs
                .iter()
                .map(|r| r.requests - r.failed.min(r.requests))
                .sum::<u64>();
        let in_kafka = count_in_kafka(&brokers)?;
        // The API first, so it flushes to a live broker.
        while let Some(p) = processes.pop() {
            drop(p);
        }

        println!(
            "\n{name}, /purchase_a_sword, acks=all, linger {}",
            self.linger
        );
        println!("| load generator | requests | failed | requests/s | p50 ms | p99 ms |");
        println!("|---|---:|---:|---:|---:|---:|");
        for r in &runs {
            println!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} |",
                r.tool, r.requests, r.failed, r.per_second, r.p50_ms, r.p99_ms
            );
        }
        println!(
            "acknowledged {acknowledged} (with {} warm-up requests), in Kafka {in_kafka}: {}",
            warmup.requests,
            if in_kafka >= acknowledged {
                "every acknowledged request is there"
            } else {
                "SOME ACKNOWLEDGED REQUESTS ARE MISSING"
            }
        );
        if in_kafka < acknowledged {
            bail!(
                "{} acknowledged requests are not in Kafka",
                acknowledged - in_kafka
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_and_ab_output_parse() {
        let wrk = "Running 10s test @ http://127.0.0.1:5000/purchase_a_sword
  2 threads and 64 connections
  Latency Distribution
     50%    1.95ms
     75%    2.40ms
     99%  850.00us
  308000 requests in 10.00s, 45.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:  30800.00
";
        let r = parse_wrk(wrk);
        assert_eq!(r.requests, 308_000);
        assert_eq!(r.failed, 15);
        assert_eq!(r.per_second, 30800.0);
        assert_eq!(r.p50_ms, 1.95);
        assert_eq!(r.p99_ms, 0.85);
        let ab = "Complete requests:      2000
Failed requests:        3
Non-2xx responses:      2
Requests per second:    1234.56 [#/sec] (mean)
  50%      1
  99%      3
";
        let r = parse_ab(ab);
        assert_eq!((r.requests, r.failed), (2000, 5));
        assert_eq!((r.per_second, r.p50_ms, r.p99_ms), (1234.56, 1.0, 3.0));
    }
}
