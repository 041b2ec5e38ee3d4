//! The `slo` command line: the top-level [`Cli`], the arguments several
//! commands share ([`PromArgs`]), the one error type of every command
//! ([`CliError`], which knows its exit code) and the dispatch to one module
//! per command. Each command module holds its clap arguments and its
//! presentation only; the rules it applies live in the library.

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub mod alerts;
pub mod check;
pub mod completions;
pub mod dashboard;
pub mod exit_codes;
pub mod gate;
pub mod hpa;
pub mod import;
pub mod output;
pub mod report;
pub mod schema;

pub use common::exit::Exit;
use common::exit::ExitStatus;

/// SLO specs, SLIs, error budgets and burn rates.
#[derive(Debug, Parser)]
#[command(name = "slo", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// slo's command line as `--help`, the man pages and the completions show
/// it: the derived one with the exit codes of [`exit_codes`] appended.
pub fn command() -> clap::Command {
    exit_codes::with_exit_codes(Cli::command())
}

/// Parses the process's arguments with [`command`]; on a usage error or
/// `--help` prints and exits as clap does (2 for invalid usage).
pub fn parse() -> Cli {
    let mut cmd = command();
    let matches = cmd.get_matches_mut();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// One subcommand and its arguments.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A Grafana dashboard for a spec's service: traffic, latency with
    /// exemplars, and per SLO its SLI, budget, burn rates and firing alerts;
    /// with --loadtest, a load test run's client metrics beside the traffic.
    #[command(
        after_help = "Examples:\n  slo dashboard alerts/target-app.slo.yaml > dashboards/target-app.json\n  slo dashboard alerts/target-app.slo.yaml --format configmap --out k8s/base/target-app/grafana-dashboard.yaml\n  slo dashboard alerts/target-app.slo.yaml --loadtest > dashboards/loadtest.json\n  slo dashboard examples/slo/flask-app.slo.yaml --route-label endpoint\n\nThe traffic row reads METRIC_count and METRIC_bucket{SELECTOR} (OpenTelemetry\nHTTP server metrics) when the spec uses them, else the SLIs' own selectors, with\nroute and status panels for the labels known (`slo check SPEC --prometheus URL`\nlists the labels); the SLO rows read the recording rules of `slo alerts`.\nThe load test dashboard reads loadgen's client metrics (--remote-write or\n--metrics-listen) of the run picked by its loadgen_run variable."
    )]
    Dashboard(dashboard::DashboardArgs),
    /// Autoscaling on requests per second per pod: an HPA with a Pods metric,
    /// the prometheus-adapter rule serving it, or a KEDA ScaledObject.
    #[command(
        after_help = "Examples:\n  slo hpa --deployment target-app --target-rps 150 --format hpa\n  slo hpa --deployment target-app --capacity stress.json --headroom 0.7 --format keda --namespace shop\n\nWith --capacity, the per-pod target is the highest throughput per replica that\nthe stress run sustained for --window seconds before its first threshold broke,\ntimes --headroom. Run the stress against --replicas-in-run replicas."
    )]
    Hpa(hpa::HpaArgs),
    /// Prometheus rules (SLI recordings, multi-window burn-rate alerts), promtool
    /// tests and Alertmanager routes for a spec's SLOs.
    #[command(
        after_help = "Examples:\n  slo alerts spec.yaml > rules.yml\n  slo alerts spec.yaml --format operator | kubectl apply -f -\n  slo alerts spec.yaml --out alerts\n  slo alerts spec.yaml --out alerts --pager-url https://pager.example.com/hook --ticket-url https://tickets.example.com/hook\n\nWith --out, DIR gets SERVICE.rules.yml, SERVICE.prometheusrule.yaml and one\nSERVICE-SLO.test.yml per SLO (run: promtool test rules DIR/*.test.yml); with\ncalendar periods also SERVICE.period.rules.yml (their period groups, which\nthe tests do not read); with --pager-url and --ticket-url (both or neither)\nalso alertmanager.yml."
    )]
    Alerts(alerts::AlertsArgs),
    /// Print the JSON Schema of the native spec (for editors).
    #[command(after_help = "Example:\n  slo schema > slo.schema.json")]
    Schema(schema::SchemaArgs),
    /// Print a Sloth or OpenSLO spec (or a native one) in the native format.
    #[command(after_help = "Example:\n  slo import sloth.yaml > spec.yaml")]
    Import(import::ImportArgs),
    /// Where each SLO stands now: SLI, budget, burn rates, alerts that would fire.
    #[command(
        after_help = "Example:\n  slo report alerts/target-app.slo.yaml --prometheus http://127.0.0.1:9090"
    )]
    Report(report::ReportArgs),
    /// Did a load test meet the SLOs? Exit 99 if not, 3 when it cannot tell.
    #[command(
        after_help = "Examples:\n  slo gate spec.yaml --prometheus http://127.0.0.1:9090 --run report.json\n  slo gate spec.yaml --prometheus http://127.0.0.1:9090 --from 2026-11-21T10:00:00Z --to 2026-11-21T10:05:00Z\n  slo gate spec.yaml --prometheus http://127.0.0.1:9090 --run report.json --compare-client\n\nWith --compare-client, each SLO's SLI over the service's metrics is shown beside\nits client-side SLI over the metrics the run exported (loadgen run --remote-write\nor --metrics-listen), and the gate fails when either misses, naming which."
    )]
    Gate(gate::GateArgs),
    /// Validate a spec: structure, objectives, periods, and every PromQL query it implies.
    #[command(after_help = "Example:\n  slo check alerts/target-app.slo.yaml")]
    Check(check::CheckArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  slo completions bash > ~/.local/share/bash-completion/completions/slo\n  slo completions zsh > ~/.zfunc/_slo\n  slo completions fish > ~/.config/fish/completions/slo.fish"
    )]
    Completions(completions::CompletionsArgs),
}

/// How to reach Prometheus.
#[derive(Debug, clap::Args)]
pub struct PromArgs {
    /// Prometheus base URL, e.g. http://127.0.0.1:9090.
    #[arg(long)]
    pub prometheus: String,
    /// Bearer token (or PROMETHEUS_TOKEN).
    #[arg(long, env = "PROMETHEUS_TOKEN", hide_env_values = true)]
    pub bearer_token: Option<String>,
    /// Basic auth as USER:PASSWORD (or PROMETHEUS_BASIC_AUTH).
    #[arg(long, env = "PROMETHEUS_BASIC_AUTH", hide_env_values = true)]
    pub basic_auth: Option<String>,
    /// Timeout of each query.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Retries after a failed query (with backoff).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

impl PromArgs {
    /// The client these arguments describe.
    pub fn client(&self) -> Result<crate::prom::Prom, CliError> {
        let mut c = crate::prom::PromConfig::new(&self.prometheus);
        c.bearer_token = self.bearer_token.clone();
        c.basic_auth = self
            .basic_auth
            .as_deref()
            .and_then(|b| b.split_once(':'))
            .map(|(u, p)| (u.to_owned(), p.to_owned()));
        c.timeout = self.timeout;
        c.retries = self.retries;
        crate::prom::Prom::new(c).map_err(|e| CliError::Invalid(e.to_string()))
    }
}

/// Why a command stopped; each kind maps to one exit code ([`CliError::exit`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The spec does not parse or validate.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// Invalid input: a flag, a report, or a spec the generators refuse (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// A runtime failure: Prometheus or the file system misbehaved (exit 1).
    #[error("{0}")]
    Failure(String),
    /// The command could not tell (exit 3).
    #[error("inconclusive: {0}")]
    Inconclusive(String),
    /// An output could not be written.
    #[error(transparent)]
    Write(#[from] common::fs::WriteError),
    /// Standard output was closed by its reader (`slo alerts spec | head -1`):
    /// not an error, the program ends quietly with exit 0.
    #[error("standard output closed")]
    ClosedPipe,
}

impl CliError {
    /// The exit code this error ends the program with.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Spec(_) | CliError::Invalid(_) => Exit::Invalid,
            CliError::Failure(_) => Exit::Failure,
            CliError::Inconclusive(_) => Exit::Inconclusive,
            CliError::Write(e) => e.exit(),
            CliError::ClosedPipe => Exit::Ok,
        }
    }
}

/// Runs one command.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        Command::Dashboard(args) => dashboard::run(args),
        Command::Hpa(args) => hpa::run(args),
        Command::Alerts(args) => alerts::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Import(args) => import::run(args),
        Command::Report(args) => report::run(args).await,
        Command::Gate(args) => gate::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Completions(args) => completions::run(args),
    }
}

/// The exit code of a finished command, printing the error (with its
/// causes) if there is one; the one place `slo` decides how it ends.
pub fn finish(result: Result<Exit, CliError>) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(CliError::ClosedPipe) => Exit::Ok,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            eprintln!("slo: error: {message}");
            e.exit()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn each_error_has_its_exit_code() {
        assert_eq!(CliError::Invalid("x".into()).exit().code(), 2);
        assert_eq!(CliError::Failure("x".into()).exit().code(), 1);
        assert_eq!(CliError::Inconclusive("x".into()).exit().code(), 3);
        assert_eq!(CliError::ClosedPipe.exit().code(), 0);
        assert_eq!(finish(Err(CliError::ClosedPipe)).code(), 0);
        assert_eq!(finish(Ok(Exit::Failed)).code(), 99);
        let refused = CliError::from(common::fs::WriteError::NotRegular {
            path: "/dev/stdout".into(),
        });
        assert_eq!(refused.exit(), Exit::Invalid);
    }
}
