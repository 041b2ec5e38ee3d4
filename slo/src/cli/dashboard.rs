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
    /// Label matchers of the service's HTTP series [default: {job="SERVICE"}].
    #[arg(long)]
    pub selector: Option<String>,
    /// The request-duration histogram.
    #[arg(long, default_value = crate::dashboard::HTTP_METRIC)]
    pub metric: String,
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
    let mut opts = crate::dashboard::Options::for_service(&service);
    if let Some(s) = args.selector {
        opts.selector = s;
    }
    opts.metric = args.metric;
    let d = if args.loadtest {
        crate::loadtest_dashboard::dashboard(&service, &opts)
    } else {
        crate::dashboard::dashboard(&service, &opts)
    }
    .map_err(|e| CliError::Invalid(e.to_string()))?;
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
