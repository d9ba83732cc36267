//! `sluice sql`: the presto CLI for the lake. With a statement it prints
//! the answer as an aligned table and exits; without one it is a prompt
//! with history (statements end with `;`). It asks a running server
//! (`--url`, the admin token read for you), or opens the lake itself with
//! `--lake`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use clap::{Args, ValueEnum};

use super::args::{ConfigArgs, ServerArgs};
use super::query::QueryArgs;
use crate::query::{Format, QueryEngine, render_table};

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
enum Output {
    /// An aligned table, as the presto CLI prints.
    #[default]
    Table,
    Json,
    Csv,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct SqlCommand {
    /// The statement; without it, an interactive prompt.
    sql: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Open the lake directly (`./lake`, `hdfs://…`) instead of asking a
    /// server; `--config` then supplies views and limits.
    #[arg(long)]
    lake: Option<String>,
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(flatten)]
    limits: QueryArgs,
    /// How results are printed.
    #[arg(long, short, value_enum, default_value = "table")]
    format: Output,
}

/// Where statements go.
enum Target {
    Server {
        server: ServerArgs,
        token: crate::http::AdminToken,
        client: reqwest::Client,
    },
    Lake(QueryEngine),
}

/// One answer, whichever way it came.
enum Answer {
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        truncated: bool,
    },
    /// Bytes already in the asked format (json, csv, ndjson).
    Text(Vec<u8>),
}

impl SqlCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = super::runtime()?;
        let target = match &self.lake {
            Some(lake) => {
                let config = ConfigArgs {
                    config: self.config.clone(),
                    brokers: None,
                    lake: Some(lake.clone()),
                    plugin_dir: None,
                }
                .load()?;
                Target::Lake(runtime.block_on(self.limits.open(&config))?)
            }
            None => Target::Server {
                token: self.server.token()?,
                server: self.server.clone(),
                client: reqwest::Client::new(),
            },
        };
        match &self.sql {
            Some(sql) => {
                let answer = runtime.block_on(target.ask(sql, self.format))?;
                print_answer(answer, None)
            }
            None => self.prompt(&runtime, &target),
        }
    }

    fn prompt(&self, runtime: &tokio::runtime::Runtime, target: &Target) -> anyhow::Result<()> {
        use rustyline::error::ReadlineError;
        let mut editor = rustyline::DefaultEditor::new()?;
        let history = self.server.data.join("sql-history");
        let _ = editor.load_history(&history);
        println!("sluice sql: statements end with `;`; `quit` or Ctrl-D leaves.");
        let mut statement = String::new();
        loop {
            let prompt = if statement.is_empty() {
                "sluice> "
            } else {
                "     -> "
            };
            let line = match editor.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    statement.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            let trimmed = line.trim();
            if statement.is_empty() && matches!(trimmed, "quit" | "exit" | "\\q") {
                break;
            }
            if trimmed.is_empty() {
                continue;
            }
            statement.push_str(&line);
            statement.push('\n');
            if !trimmed.ends_with(';') {
                continue;
            }
            let sql = std::mem::take(&mut statement);
            let _ = editor.add_history_entry(sql.trim());
            let started = Instant::now();
            match runtime.block_on(target.ask(&sql, self.format)) {
                Ok(answer) => print_answer(answer, Some(started))?,
                Err(e) => eprintln!("error: {}", super::report(&e)),
            }
        }
        if std::fs::create_dir_all(&self.server.data).is_ok() {
            let _ = editor.save_history(&history);
        }
        Ok(())
    }
}

impl Target {
    async fn ask(&self, sql: &str, output: Output) -> anyhow::Result<Answer> {
        let format = match output {
            Output::Table => Format::Arrow,
            Output::Json => Format::Json,
            Output::Csv => Format::Csv,
            Output::Ndjson => Format::Ndjson,
        };
        match self {
            Target::Lake(engine) => {
                let result = engine.run(sql).await?;
                Ok(match output {
                    Output::Table => Answer::Rows {
                        schema: result.schema,
                        batches: result.batches,
                        truncated: result.truncated,
                    },
                    _ => Answer::Text(format.encode(&result)?),
                })
            }
            Target::Server {
                server,
                token,
                client,
            } => {
                let url = server.endpoint("/query");
                let format_name = match format {
                    Format::Json => "json",
                    Format::Csv => "csv",
                    Format::Ndjson => "ndjson",
                    Format::Arrow => "arrow",
                };
                let response = client
                    .post(&url)
                    .query(&[("format", format_name)])
                    .bearer_auth(token.as_str())
                    .header("content-type", "text/plain")
                    .body(sql.to_string())
                    .send()
                    .await
                    .with_context(|| {
                        format!("cannot reach {url}; is `sluice serve` or `sluice query` running? (--url, or --lake to read the lake directly)")
                    })?;
                let status = response.status();
                let truncated = response
                    .headers()
                    .get("x-sluice-truncated")
                    .is_some_and(|v| v == "true");
                let body = response.bytes().await.context("the answer broke off")?;
                if !status.is_success() {
                    let message = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_string))
                        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
                    anyhow::bail!("{message}");
                }
                match output {
                    Output::Table => {
                        let reader = arrow::ipc::reader::StreamReader::try_new(
                            std::io::Cursor::new(body),
                            None,
                        )
                        .context("the server's answer is not an Arrow stream")?;
                        let schema = reader.schema();
                        let batches = reader
                            .collect::<Result<Vec<_>, _>>()
                            .context("the server's Arrow stream is broken")?;
                        Ok(Answer::Rows {
                            schema,
                            batches,
                            truncated,
                        })
                    }
                    _ => Ok(Answer::Text(body.to_vec())),
                }
            }
        }
    }
}

fn print_answer(answer: Answer, started: Option<Instant>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match answer {
        Answer::Rows {
            schema,
            batches,
            truncated,
        } => {
            out.write_all(render_table(&schema, &batches).as_bytes())?;
            if truncated {
                writeln!(
                    out,
                    "(truncated: more rows matched; add LIMIT, or raise --query-max-rows on the server)"
                )?;
            }
        }
        Answer::Text(bytes) => {
            out.write_all(&bytes)?;
            if !bytes.ends_with(b"\n") {
                writeln!(out)?;
            }
        }
    }
    if let Some(started) = started {
        writeln!(out, "[{:.0} ms]", started.elapsed().as_secs_f64() * 1000.0)?;
    }
    Ok(())
}
