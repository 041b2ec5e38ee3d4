//! `loadgen validate`: check a scenario file without running it, and say
//! what is in it.

use std::path::PathBuf;

use clap::Args;

use super::error::{CliError, Exit};
use super::shared::{check_host, load_plan, stdout};

#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    /// Scenario file (YAML), or - for standard input.
    scenario: PathBuf,
    /// The base URL the run will get with --host (a file may then leave base_url out).
    #[arg(long)]
    host: Option<String>,
}

pub(super) fn run(args: ValidateArgs) -> Result<Exit, CliError> {
    let ValidateArgs { scenario, host } = args;
    check_host(host.as_deref())?;
    let plan = load_plan(&scenario, host.as_deref(), None)?;
    let budget = plan
        .requests
        .map(|n| format!(", at most {n} requests"))
        .unwrap_or_default();
    let flows = if plan.checks.is_empty() && plan.vars.is_empty() {
        String::new()
    } else {
        format!(
            ", {} checks, {} variables",
            plan.checks.len(),
            plan.vars.len()
        )
    };
    stdout(&format!(
        "{}: ok ({} scenarios, {} request names{flows}, {} thresholds, {}{budget})\n",
        scenario.display(),
        plan.scenarios.len(),
        plan.names.len(),
        plan.thresholds.len(),
        humantime::format_duration(plan.load.duration())
    ))?;
    Ok(Exit::Ok)
}
