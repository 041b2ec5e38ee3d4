//! `slo check`: the spec parses and validates, and everything `slo alerts`
//! and `slo dashboard` would build from it builds (so what check accepts
//! they generate); with `--prometheus`, the metrics exist there too.

use std::collections::{BTreeMap, BTreeSet};
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
        Sli::Latency {
            threshold, metric, ..
        } => format!("latency < {}", crate::unit::threshold(*threshold, metric)),
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
    let mut labels: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &service.slos {
        let live = crate::livecheck::check(&client, s, lookback)
            .await
            .map_err(|e| CliError::Failure(e.to_string()))?;
        println!("  {}: {} series in Prometheus", s.name, live.series);
        for (selector, names) in live.labels {
            println!("    labels of {selector}: {}", listed(&names));
            labels.insert(selector, names);
        }
        for p in &live.problems {
            eprintln!("slo: error: {}: slo {:?}: {p}", args.spec.display(), s.name);
        }
        problems += live.problems.len();
    }
    traffic_labels(&args.spec, &service, &client, lookback, &mut labels).await?;
    if problems > 0 {
        return Err(CliError::Invalid(format!(
            "{problems} problem(s) against {url}"
        )));
    }
    Ok(Exit::Ok)
}

/// Label names, or a note that there are none.
fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none (no series over the lookback)".to_owned()
    } else {
        names.join(", ")
    }
}

/// Which series the dashboards' traffic row reads, whether its route and
/// status labels are on them, and the `slo dashboard` flags to pass.
async fn traffic_labels(
    spec: &Path,
    service: &Service,
    client: &crate::prom::Prom,
    lookback: Duration,
    labels: &mut BTreeMap<String, Vec<String>>,
) -> Result<(), CliError> {
    use crate::dashboard::traffic::{
        Advice, Known, ROUTE_LABELS, STATUS_LABELS, Source, Traffic, advise,
    };
    let Ok(traffic) = Traffic::resolve(service, &crate::dashboard::Options::default()) else {
        return Ok(());
    };
    let mut found = BTreeSet::new();
    for selector in &traffic.series {
        if !labels.contains_key(selector) {
            let names = crate::livecheck::label_names(client, selector, lookback)
                .await
                .map_err(|e| CliError::Failure(e.to_string()))?;
            labels.insert(selector.clone(), names);
        }
        found.extend(labels[selector].iter().cloned());
    }
    let series = traffic.series.join(", ");
    match traffic.source {
        Source::Http => println!("  dashboard traffic row: {series}"),
        Source::Slis => println!(
            "  dashboard traffic row: the SLIs' own series, {}",
            if series.is_empty() {
                "the events SLI's queries".to_owned()
            } else {
                series
            }
        ),
    }
    if traffic.source == Source::Http && !traffic.series.is_empty() && found.is_empty() {
        println!(
            "    no series over the last {}: pass slo dashboard --selector with the matchers of the service's series (default {{job=\"{}\"}})",
            promql_duration(lookback),
            service.name
        );
    }
    let mut flags = Vec::new();
    for (what, flag, label, candidates) in [
        ("route", "--route-label", &traffic.route, ROUTE_LABELS),
        ("status", "--status-label", &traffic.status, STATUS_LABELS),
    ] {
        let how = |known: Known| match known {
            Known::Given => "given",
            Known::Convention => "OpenTelemetry",
            Known::Spec => "named by the SLIs' selectors",
        };
        let line = match advise(label.as_ref(), &found, candidates) {
            Advice::Found(name) => format!(
                "{name} ({}), on the series",
                label.as_ref().map_or("", |l| how(l.known))
            ),
            Advice::Missing {
                label: name,
                instead,
            } => {
                let line = format!(
                    "{name} ({}), not on the series: the panels by {what} would be empty",
                    label.as_ref().map_or("", |l| how(l.known))
                );
                match instead {
                    Some(other) => {
                        flags.push(format!("{flag} {other}"));
                        format!("{line}; the series have {other}")
                    }
                    None => line,
                }
            }
            Advice::Pass(name) => {
                flags.push(format!("{flag} {name}"));
                format!("none known; the series have {name}")
            }
            Advice::None => format!("none (no {what} label on the series): no breakdown by {what}"),
        };
        println!("    {what} label: {line}");
    }
    if !flags.is_empty() {
        println!(
            "    to break the traffic row down: slo dashboard {} {}",
            spec.display(),
            flags.join(" ")
        );
    }
    Ok(())
}
