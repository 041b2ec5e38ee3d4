//! `slo dashboard`: a Grafana dashboard for a spec's service (its SLOs, or
//! with `--loadtest` a load test run against it), as dashboard JSON or as a
//! ConfigMap for Grafana's dashboard sidecar.

use std::path::PathBuf;

use super::output::{command_line, emit};
use super::{CliError, Exit};

/// What `slo dashboard` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DashboardFormat {
    /// Grafana dashboard JSON (import it, or provision it from a file).
    Grafana,
    /// A ConfigMap for Grafana's dashboard sidecar (label grafana_dashboard: "1").
    Configmap,
}

/// Arguments of `slo dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// SLO spec (YAML), or - for standard input.
    pub spec: PathBuf,
    /// Label matchers of the traffic row's series: of the HTTP histogram
    /// [default: {job="SERVICE"}], or, when the row reads the SLIs' own
    /// selectors, added to each of them [default: none].
    #[arg(long)]
    pub selector: Option<String>,
    /// The request-duration histogram of the traffic row (without
    /// _bucket), read whatever the SLIs read [default: the spec decides:
    /// http_server_request_duration_seconds when an SLI reads it, else the
    /// SLIs' own selectors].
    #[arg(long, value_name = "METRIC")]
    pub metric: Option<String>,
    /// The label of a request's route (e.g. endpoint): adds the route
    /// variable and the panels by route [default: http_route for the HTTP
    /// histogram, else a route label the SLIs' selectors name; `slo check
    /// SPEC --prometheus URL` lists the labels the series have].
    #[arg(long, value_name = "LABEL")]
    pub route_label: Option<String>,
    /// The label of a response's status (e.g. status): adds the breakdown
    /// by status [default: http_response_status_code for the HTTP
    /// histogram, else a status label the SLIs' selectors name].
    #[arg(long, value_name = "LABEL")]
    pub status_label: Option<String>,
    #[arg(long, value_enum, default_value = "grafana")]
    pub format: DashboardFormat,
    /// The load test dashboard instead: loadgen's client metrics of one run
    /// (variables loadgen_run, loadgen_shard) beside the service's traffic.
    #[arg(long)]
    pub loadtest: bool,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `slo dashboard`.
pub fn run(args: DashboardArgs) -> Result<Exit, CliError> {
    let service = crate::spec::load(&args.spec)?;
    let opts = crate::dashboard::Options {
        selector: args.selector,
        metric: args.metric,
        route_label: args.route_label,
        status_label: args.status_label,
    };
    let traffic = crate::dashboard::traffic::Traffic::resolve(&service, &opts)
        .map_err(|e| CliError::Invalid(flagged(e)))?;
    if traffic.source == crate::dashboard::traffic::Source::Slis {
        let missing: Vec<&str> = [
            ("--route-label", traffic.route.is_none()),
            ("--status-label", traffic.status.is_none()),
        ]
        .into_iter()
        .filter_map(|(flag, missing)| missing.then_some(flag))
        .collect();
        if !missing.is_empty() {
            eprintln!(
                "slo: note: the traffic row reads the SLIs' own selectors (the spec does not use {}) and has no {} breakdown: pass {} if the series have such a label (`slo check {} --prometheus URL` lists their labels)",
                crate::dashboard::HTTP_METRIC,
                if missing.len() == 2 {
                    "route or status"
                } else if traffic.route.is_none() {
                    "route"
                } else {
                    "status"
                },
                missing.join(" / "),
                args.spec.display()
            );
        }
    }
    let d = if args.loadtest {
        crate::loadtest_dashboard::dashboard(&service, &opts)
    } else {
        crate::dashboard::dashboard(&service, &opts)
    }
    .map_err(|e| CliError::Invalid(flagged(e)))?;
    let text = match args.format {
        DashboardFormat::Grafana => serde_json::to_string_pretty(&d).unwrap_or_default() + "\n",
        DashboardFormat::Configmap => {
            let (what, cm) = if args.loadtest {
                (
                    "Grafana load test dashboard",
                    crate::loadtest_dashboard::configmap(&service, &d),
                )
            } else {
                (
                    "Grafana dashboard",
                    crate::dashboard::configmap(&service, &d),
                )
            };
            crate::yaml::document(
                &crate::yaml::header(
                    &format!("{what} of {} for the dashboard sidecar", service.name),
                    "dashboard",
                    &[],
                    &command_line(),
                ),
                &cm,
            )
        }
    };
    emit(&text, args.out.as_deref())?;
    Ok(Exit::Ok)
}

/// A dashboard error, naming the flag of the setting it is about.
fn flagged(e: crate::dashboard::DashboardError) -> String {
    use crate::dashboard::DashboardError as E;
    let flag = match &e {
        E::Selector { .. } => Some("--selector"),
        E::Metric { .. } => Some("--metric"),
        E::Label { what, .. } if what.starts_with("route") => Some("--route-label"),
        E::Label { .. } => Some("--status-label"),
        _ => None,
    };
    match flag {
        Some(f) => format!("{f}: {e}"),
        None => e.to_string(),
    }
}
