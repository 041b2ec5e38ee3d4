//! `loadgen validate`: check a scenario file without running it, and say
//! what is in it.

use std::path::PathBuf;

use clap::Args;

use super::error::{CliError, Exit};
use super::shared::{load_plan, stdout};

#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    /// Scenario file (YAML), or - for standard input.
    scenario: PathBuf,
}

pub(super) fn run(args: ValidateArgs) -> Result<Exit, CliError> {
    let ValidateArgs { scenario } = args;
    let plan = load_plan(&scenario, None)?;
    stdout(&format!(
        "{}: ok ({} scenarios, {} request names, {} thresholds, {})\n",
        scenario.display(),
        plan.scenarios.len(),
        plan.names.len(),
        plan.thresholds.len(),
        humantime::format_duration(plan.load.duration())
    ))?;
    Ok(Exit::Ok)
}
