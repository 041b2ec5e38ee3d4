//! `loadgen merge`: merge the reports of a run split across machines or
//! pods, print the summary, and write the merged outputs. The exit code is
//! the merged thresholds' verdict. Reports of different runs (another
//! scenario or target) are refused unless `--force`.

use std::path::PathBuf;

use clap::Args;

use super::error::{CliError, Exit};
use super::shared::{OutputArgs, check_outputs, summary};
use crate::output::{self, Outputs};
use crate::report;

#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    /// Report files (JSON) written by `loadgen run --report`.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Merge reports of different runs too (another scenario or target):
    /// without it they are refused, since their sum describes neither.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    outputs: OutputArgs,
}

pub(super) fn run(args: MergeArgs) -> Result<Exit, CliError> {
    let outputs = Outputs::from(args.outputs);
    check_outputs(&outputs)?;
    let mut reports = Vec::new();
    for p in &args.reports {
        reports.push((p.display().to_string(), report::read(p)?));
    }
    if !args.force {
        report::same_run(&reports).map_err(|e| {
            CliError::invalid(
                anyhow::Error::new(e).context(
                    "these reports are of different runs (merge them anyway with --force)",
                ),
            )
        })?;
    }
    let merged = report::merge(&reports)?;
    summary(&outputs, &report::table::render(&merged))?;
    output::write(&outputs, &merged, None)?;
    Ok(if merged.passed() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}
