//! The lake's upkeep while pipelines run: every `[lake] compact_every` the
//! tables this process writes get their small files merged; once a day,
//! files no version within `[lake] vacuum_retention` names are deleted and
//! old log entries cleaned up. Each step is one atomic commit (or none), so
//! a crash in the middle leaves a valid table, and another process doing
//! the same at once costs a refused commit, not data.

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::lake::{CompactPolicy, Lake, TableDir, clean_log, compact_table, vacuum_table};

/// How often vacuum and log cleanup run.
const DAILY: Duration = Duration::from_secs(24 * 3600);

/// What the upkeep works on, and how often.
#[derive(Debug, Clone)]
pub struct Upkeep {
    pub lake: Lake,
    pub tables: Vec<TableDir>,
    pub compact_every: Option<Duration>,
    pub vacuum_retention: Option<Duration>,
    pub policy: CompactPolicy,
}

impl Upkeep {
    /// Runs until `stop`. Failures are logged and retried next time.
    pub async fn run(self, stop: CancellationToken) {
        let Some(every) = self.compact_every else {
            return;
        };
        // Vacuum and log cleanup on the first pass too: a process restarted
        // more often than daily would never reach them otherwise.
        let mut last_vacuum: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            for dir in &self.tables {
                if let Err(error) =
                    compact_table(&self.lake, dir, &self.policy, SystemTime::now()).await
                {
                    tracing::warn!(table = %dir.table_name(), %error, "Compaction failed; trying again later.");
                }
            }
            if last_vacuum.is_some_and(|t| t.elapsed() < DAILY) {
                continue;
            }
            last_vacuum = Some(tokio::time::Instant::now());
            for dir in &self.tables {
                if let Some(retention) = self.vacuum_retention
                    && let Err(error) = vacuum_table(&self.lake, dir, retention, false).await
                {
                    tracing::warn!(table = %dir.table_name(), %error, "Vacuum failed; trying again tomorrow.");
                }
                if let Err(error) = clean_log(&self.lake, dir).await {
                    tracing::warn!(table = %dir.table_name(), %error, "Log cleanup failed; trying again tomorrow.");
                }
            }
        }
    }
}
