//! `loadgen merge`: merge the reports of a run split across machines or
//! pods, print the summary, and write the merged outputs. The exit code is
//! the merged thresholds' verdict.

use std::path::PathBuf;

use clap::Args;

use super::error::{CliError, Exit};
use super::shared::{OutputArgs, stdout};
use crate::output::{self, Outputs};
use crate::report;

#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    /// Report files (JSON) written by `loadgen run --report`.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    #[command(flatten)]
    outputs: OutputArgs,
}

pub(super) fn run(args: MergeArgs) -> Result<Exit, CliError> {
    let outputs = Outputs::from(args.outputs);
    let mut reports = Vec::new();
    for p in &args.reports {
        reports.push((p.display().to_string(), report::read(p)?));
    }
    let merged = report::merge(&reports)?;
    stdout(&report::table::render(&merged))?;
    output::write(&outputs, &merged, None)?;
    Ok(if merged.passed() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}
