//! `slo check`: the spec parses and validates, and everything `slo alerts`
//! and `slo dashboard` would build from it builds (so what check accepts
//! they generate); with `--prometheus`, the metrics exist there too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CliError, Exit};
use crate::model::{Service, Sli};
use crate::windows::promql_duration;

/// Arguments of `slo check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// SLO spec (YAML), or - for standard input.
    pub spec: PathBuf,
    /// Also check against this Prometheus: the metrics exist, latency
    /// thresholds are buckets, and how many series each SLI reads.
    #[arg(long)]
    pub prometheus: Option<String>,
    /// How far back --prometheus looks for series, 1s to 366d (exporters
    /// may drop idle histogram series, so the latest sample is not enough).
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration, requires = "prometheus")]
    pub lookback: Duration,
}

fn kind(sli: &Sli) -> String {
    match sli {
        Sli::Events { .. } => "events".into(),
        Sli::Ratio { .. } => "ratio".into(),
        Sli::Latency { threshold, .. } => format!("latency < {threshold}s"),
        Sli::Availability { .. } => "availability (5xx are errors)".into(),
    }
}

/// Checks the spec offline and prints what it found.
fn check(path: &Path) -> Result<Service, CliError> {
    let service = crate::spec::load(path)?;
    let found = crate::lint::offline(&service)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    println!("{}: ok, service {}", path.display(), service.name);
    for ((s, queries), rules) in service.slos.iter().zip(&found.queries).zip(&found.rules) {
        println!(
            "  {}: {}% over {}, {} ({} queries parsed)",
            s.name,
            s.objective * 100.0,
            crate::duration::format(s.period),
            kind(&s.sli),
            queries
        );
        println!(
            "    client side ({}): {}",
            match s.client {
                crate::model::ClientSli::Explicit(_) => "client:",
                _ => "derived",
            },
            crate::client::describe(&s.client)
        );
        // The alerts `slo alerts` writes: a spec may disable page or ticket.
        for a in rules.burns.iter().map(|b| &b.condition) {
            println!(
                "    {:<6} burn > {:>4} over {} and {} ({:.0}% of the budget)",
                a.severity.as_str(),
                a.factor,
                promql_duration(a.long),
                promql_duration(a.short),
                a.budget_share * 100.0
            );
        }
        if rules.burns.is_empty() {
            println!("    no burn-rate alerts (page and ticket are disabled)");
        }
        if let Some(a) = &rules.absent {
            println!(
                "    {:<6} no SLI data for {}",
                "absent",
                promql_duration(a.for_)
            );
        }
    }
    for w in &found.warnings {
        eprintln!("slo: warning: {w}");
    }
    Ok(service)
}

/// Runs `slo check`.
pub async fn run(args: CheckArgs) -> Result<Exit, CliError> {
    let service = check(&args.spec)?;
    let Some(url) = args.prometheus else {
        return Ok(Exit::Ok);
    };
    let lookback = args.lookback;
    if !(Duration::from_secs(1)..=crate::spec::ranges::PERIOD.1).contains(&lookback) {
        return Err(CliError::Invalid(format!(
            "--lookback {}: between 1s and 366d (e.g. --lookback 1d)",
            crate::duration::format(lookback)
        )));
    }
    let client = crate::prom::Prom::new(crate::prom::PromConfig::new(&url))
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let mut problems = 0;
    for s in &service.slos {
        let live = crate::livecheck::check(&client, s, lookback)
            .await
            .map_err(|e| CliError::Failure(e.to_string()))?;
        println!("  {}: {} series in Prometheus", s.name, live.series);
        for p in &live.problems {
            eprintln!("slo: error: {}: slo {:?}: {p}", args.spec.display(), s.name);
        }
        problems += live.problems.len();
    }
    if problems > 0 {
        return Err(CliError::Invalid(format!(
            "{problems} problem(s) against {url}"
        )));
    }
    Ok(Exit::Ok)
}
