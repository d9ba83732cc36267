//! `sluice report`: the lake's analytics report as one HTML file (see
//! [`crate::report`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::ConfigArgs;
use super::query::QueryArgs;
use crate::report::Report;

#[derive(Debug, Args)]
pub struct ReportCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where to write the page.
    #[arg(long, short, default_value = "sluice-report.html")]
    out: PathBuf,
    #[command(flatten)]
    limits: QueryArgs,
}

impl ReportCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        let report = super::runtime()?.block_on(async {
            let engine = self.limits.open(&config).await?;
            Report::build(&engine).await
        })?;
        std::fs::write(&self.out, report.to_html())
            .with_context(|| format!("cannot write `{}`", self.out.display()))?;
        let charts = report.sections.iter().filter(|s| s.chart.is_some()).count();
        println!(
            "wrote {} ({charts} of {} charts; {} tables)",
            self.out.display(),
            report.sections.len(),
            report.tables.len()
        );
        for section in report.sections.iter().filter(|s| s.chart.is_none()) {
            println!("  {}: {}", section.title, section.meaning);
        }
        Ok(())
    }
}
