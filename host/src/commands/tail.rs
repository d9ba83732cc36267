//! `sluice tail`: the topic's events in the terminal as they arrive, one
//! JSON line each, like `kafkacat -C -b kafka:29092 -t events -o beginning`.
//! It reads the port's `GET /events/tail` (Server-Sent Events), so it needs
//! the admin token and no Kafka client.

use std::io::Write;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures::StreamExt;

use super::args::TokenArgs;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum From {
    Beginning,
    Latest,
}

#[derive(Debug, Args)]
pub struct TailCommand {
    /// sluice's HTTP port.
    #[arg(long, env = "SLUICE_URL", default_value = "http://127.0.0.1:5000")]
    url: String,
    /// Start from the topic's beginning or only show new events.
    #[arg(long, value_enum, default_value = "latest")]
    from: From,
    /// Only events of this `event_type`.
    #[arg(long)]
    event_type: Option<String>,
    /// Stop after this many events.
    #[arg(long, short = 'n')]
    count: Option<usize>,
    #[command(flatten)]
    token: TokenArgs,
}

impl TailCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let token = self.token.resolve()?;
        let from = match self.from {
            From::Beginning => "beginning",
            From::Latest => "latest",
        };
        let mut query = vec![("from", from.to_string())];
        if let Some(t) = &self.event_type {
            query.push(("event_type", t.clone()));
        }
        let url = format!("{}/events/tail", self.url.trim_end_matches('/'));
        super::runtime()?.block_on(async {
            let response = reqwest::Client::new()
                .get(&url)
                .query(&query)
                .bearer_auth(token.as_str())
                .send()
                .await
                .with_context(|| {
                    format!(
                        "cannot reach {url}; is `sluice serve` or `sluice api` running? (--url)"
                    )
                })?;
            if !response.status().is_success() {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                anyhow::bail!("{url}: {status}: {}", body.trim());
            }
            let mut body = response.bytes_stream();
            let mut pending = Vec::new();
            let mut printed = 0;
            let stdout = std::io::stdout();
            while let Some(chunk) = body.next().await {
                pending.extend_from_slice(&chunk.context("the stream broke")?);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line);
                    // SSE: `data:` lines carry the event; ids, comments
                    // (keep-alives) and blank separators are skipped.
                    if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                        let mut out = stdout.lock();
                        writeln!(out, "{}", data.strip_prefix(' ').unwrap_or(data))?;
                        out.flush()?;
                        printed += 1;
                        if self.count.is_some_and(|n| printed >= n) {
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        })
    }
}
