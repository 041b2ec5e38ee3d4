//! `loadgen run`: check the arguments (host, duration, shard, tracing, SLO
//! spec), turn them into a plan and a view, and run it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::error::{CliError, Exit};
use super::metrics::MetricsArgs;
use super::session::{self, View};
use super::shared::{ClientArgs, OutputArgs, ThresholdArgs, check_host, load_plan};
use super::traces::TraceArgs;
use crate::client_spans::ClientSpans;
use crate::output::Outputs;

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Scenario file (YAML), or - for standard input.
    scenario: PathBuf,
    /// Base URL to use instead of the file's base_url (which may then be left out).
    #[arg(long)]
    host: Option<String>,
    /// Run for this long instead of the file's duration (e.g. 30s, 2m).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Export client spans over OTLP to this endpoint (e.g. http://127.0.0.1:4318);
    /// the standard OTEL_EXPORTER_OTLP_* variables work too.
    #[arg(long)]
    otlp_endpoint: Option<String>,
    /// Share of requests (0..=1) that get an exported client span.
    #[arg(long, default_value_t = 0.01)]
    trace_share: f64,
    /// Run 1/N of the load: one part of a run split across N processes or
    /// pods (merge their reports with `loadgen merge`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    shard_count: u32,
    /// Which part this is, 0..N (a Kubernetes Indexed Job sets JOB_COMPLETION_INDEX).
    #[arg(long, env = "JOB_COMPLETION_INDEX", default_value_t = 0)]
    shard_index: u32,
    /// Show the live terminal view (keys: q quit, p pause, +/- rate, Tab, ?).
    #[arg(long)]
    tui: bool,
    /// SLO spec for the live view's SLO panel.
    #[arg(long, requires = "tui")]
    slo: Option<PathBuf>,
    /// Prometheus to compute the SLO panel from (with --slo).
    #[arg(long, requires = "slo")]
    prometheus: Option<String>,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    outputs: OutputArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
    #[command(flatten)]
    traces: TraceArgs,
}

pub(super) async fn run(args: RunArgs) -> Result<Exit, CliError> {
    check_host(args.host.as_deref())?;
    let mut plan = load_plan(&args.scenario, args.host.as_deref(), args.duration)?;
    if args.shard_index >= args.shard_count {
        return Err(CliError::invalid(anyhow::anyhow!(
            "--shard-index {} is not below --shard-count {} (shards are 0..{})",
            args.shard_index,
            args.shard_count,
            args.shard_count
        )));
    }
    args.client.apply(&mut plan.client)?;
    args.thresholds.apply(&mut plan)?;
    let budget = plan.requests;
    plan = plan.shard(args.shard_index, args.shard_count);
    if let (Some(n), Some(0)) = (budget, plan.requests) {
        return Err(CliError::invalid(anyhow::anyhow!(
            "a request budget of {n} cannot be split across --shard-count {}: part {} would send nothing (use at most {n} shards)",
            args.shard_count,
            args.shard_index
        )));
    }
    let spans = ClientSpans::init(args.otlp_endpoint.as_deref(), args.trace_share)
        .map_err(CliError::invalid)?;
    let slo = match &args.slo {
        Some(p) => Some(slo::spec::load(p).map_err(|e| CliError::invalid(anyhow::anyhow!("{e}")))?),
        None => None,
    };
    let view = View {
        tui: args.tui,
        slo,
        prometheus: args.prometheus,
        hint: None,
    };
    let export = args
        .metrics
        .into_export((args.shard_index, args.shard_count))?;
    let traces = args.traces.into_traces()?;
    session::execute(
        plan,
        args.host,
        &Outputs::from(args.outputs),
        spans,
        view,
        (export, traces.into()),
    )
    .await
}
