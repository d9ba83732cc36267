//! `sluice report`: the analytics report the reference project asked for as
//! a notebook, made reproducible. It asks the lake six questions through
//! the SQL engine ([`crate::query`]), draws each answer as SVG, and writes
//! one self-contained HTML page: no scripts, no external files.
//!
//! - [`sections`]: the six analyses, each with its queries, a chart, the
//!   top rows and what they mean;
//! - [`chart`]: bars and columns, drawn by plotters;
//! - [`answer`]: a query's answer as plain columns;
//! - [`html`]: the page.

mod answer;
mod chart;
mod html;
mod sections;

use std::collections::BTreeSet;

pub use chart::Chart;

use crate::query::QueryEngine;

/// One analysis: the question, the queries that answer it, and the answer.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: &'static str,
    pub question: &'static str,
    /// The SQL behind the chart, runnable as is with `sluice sql`.
    pub queries: Vec<String>,
    /// `None` when the lake has no data for it yet.
    pub chart: Option<Chart>,
    /// What the numbers mean, in a sentence or two.
    pub meaning: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Section {
    fn missing(title: &'static str, question: &'static str, why: String) -> Section {
        Section {
            title,
            question,
            queries: Vec::new(),
            chart: None,
            meaning: why,
            header: Vec::new(),
            rows: Vec::new(),
        }
    }
}

/// A table of the lake, with its size.
#[derive(Debug, Clone)]
pub struct TableSummary {
    pub name: String,
    pub kind: &'static str,
    pub rows: u64,
    pub files: usize,
    pub bytes: u64,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub lake: String,
    /// When it was made (RFC 3339, UTC).
    pub generated: String,
    pub tables: Vec<TableSummary>,
    pub sections: Vec<Section>,
}

impl Report {
    /// Asks the lake behind `engine` every question.
    pub async fn build(engine: &QueryEngine) -> anyhow::Result<Report> {
        let mut tables = Vec::new();
        for info in engine.tables().await? {
            if info.kind == "view" {
                continue;
            }
            let counted = engine.table(&info.name).await?;
            tables.push(TableSummary {
                name: info.name,
                kind: info.kind,
                rows: counted.row_count.unwrap_or(0),
                files: info.file_count,
                bytes: info.bytes,
            });
        }
        let lake = sections::Lake {
            tables: tables
                .iter()
                .map(|t| t.name.clone())
                .collect::<BTreeSet<_>>(),
        };
        let sections = vec![
            sections::events_over_time(engine, &lake).await?,
            sections::top_items(engine, &lake).await?,
            sections::guild_sizes(engine, &lake).await?,
            sections::purchases_by_host(engine, &lake).await?,
            sections::new_users(engine, &lake).await?,
            sections::dead_letters(engine, &lake).await?,
        ];
        Ok(Report {
            lake: engine.lake().url().to_string(),
            generated: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            tables,
            sections,
        })
    }

    /// The page: one HTML file with the charts inline.
    pub fn to_html(&self) -> String {
        html::page(self)
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `part` of `whole` as a whole percentage (`12%`), or `<1%`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 1.0 {
        "<1%".into()
    } else {
        format!("{p:.0}%")
    }
}

/// Milliseconds since the epoch as `2026-11-29 19:04:05`.
pub fn instant(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(1, 1000), "<1%");
        assert_eq!(percent(0, 0), "0%");
        assert_eq!(instant(1_764_410_000_123), "2025-11-29 09:53:20");
    }
}
