//! `slo`: SLO specs in; checks, reports and gates out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slo::model::Sli;
use slo::spec::{self, SpecError};
use slo::windows::{burn_alerts, promql_duration};

const EXIT_INVALID: u8 = 2;

/// SLO specs, SLIs, error budgets and burn rates.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 invalid input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a spec: structure, objectives, periods, and every PromQL query it implies.
    #[command(after_help = "Example:\n  slo check slo/examples/target-app.yaml")]
    Check {
        /// SLO spec (YAML), or - for standard input.
        spec: PathBuf,
    },
}

fn kind(sli: &Sli) -> String {
    match sli {
        Sli::Events { .. } => "events".into(),
        Sli::Ratio { .. } => "ratio".into(),
        Sli::Latency { threshold, .. } => format!("latency < {threshold}s"),
        Sli::Availability { .. } => "availability (5xx are errors)".into(),
    }
}

fn check(path: &Path) -> Result<(), SpecError> {
    let service = spec::load(path)?;
    println!("{}: ok, service {}", path.display(), service.name);
    for s in &service.slos {
        let mut queries = 0;
        for w in slo::windows::alert_windows(s.period)
            .into_iter()
            .chain([s.period])
        {
            let q = slo::promql::events(s, w);
            for text in [&q.errors, &q.total] {
                // Built from validated parts; a failure here is a bug worth reporting.
                if let Err(e) = slo::promql::check(text) {
                    eprintln!("slo: warning: generated query does not parse: {text}: {e}");
                } else {
                    queries += 1;
                }
            }
        }
        println!(
            "  {}: {}% over {}, {} ({} queries parsed)",
            s.name,
            s.objective * 100.0,
            humantime::format_duration(s.period),
            kind(&s.sli),
            queries
        );
        for a in burn_alerts(s.period) {
            println!(
                "    {:<6} burn > {:>4} over {} and {} ({:.0}% of the budget)",
                a.severity.as_str(),
                a.factor,
                promql_duration(a.long),
                promql_duration(a.short),
                a.budget_share * 100.0
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check { spec } => check(spec),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slo: error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
