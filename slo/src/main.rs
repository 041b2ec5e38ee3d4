//! `slo`: SLO specs in; checks, reports and gates out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slo::model::Sli;
use slo::spec::{self, SpecError};
use slo::windows::{burn_alerts, promql_duration};

const EXIT_FAILURE: u8 = 1;
const EXIT_INVALID: u8 = 2;
const EXIT_INCONCLUSIVE: u8 = 3;
const EXIT_FAILED: u8 = 99;

/// SLO specs, SLIs, error budgets and burn rates.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 invalid input, 3 inconclusive (gate and\nreport: no traffic, Prometheus unreachable, or an answer that is not a finite,\nnon-negative, single-series number), 99 the gate failed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How to reach Prometheus.
#[derive(Debug, clap::Args)]
struct PromArgs {
    /// Prometheus base URL, e.g. http://127.0.0.1:9090.
    #[arg(long)]
    prometheus: String,
    /// Bearer token (or PROMETHEUS_TOKEN).
    #[arg(long, env = "PROMETHEUS_TOKEN", hide_env_values = true)]
    bearer_token: Option<String>,
    /// Basic auth as USER:PASSWORD (or PROMETHEUS_BASIC_AUTH).
    #[arg(long, env = "PROMETHEUS_BASIC_AUTH", hide_env_values = true)]
    basic_auth: Option<String>,
    /// Timeout of each query.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Retries after a failed query (with backoff).
    #[arg(long, default_value_t = 3)]
    retries: u32,
}

impl PromArgs {
    fn client(&self) -> Result<slo::prom::Prom, slo::prom::PromError> {
        let mut c = slo::prom::PromConfig::new(&self.prometheus);
        c.bearer_token = self.bearer_token.clone();
        c.basic_auth = self
            .basic_auth
            .as_deref()
            .and_then(|b| b.split_once(':'))
            .map(|(u, p)| (u.to_owned(), p.to_owned()));
        c.timeout = self.timeout;
        c.retries = self.retries;
        slo::prom::Prom::new(c)
    }
}

/// Which rule file `slo alerts` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A plain Prometheus rule file.
    Rules,
    /// A prometheus-operator PrometheusRule.
    Operator,
}

/// What `slo dashboard` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DashboardFormat {
    /// Grafana dashboard JSON (import it, or provision it from a file).
    Grafana,
    /// A ConfigMap for Grafana's dashboard sidecar (label grafana_dashboard: "1").
    Configmap,
}

/// What `slo hpa` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum HpaFormat {
    /// An autoscaling/v2 HorizontalPodAutoscaler on a Pods metric.
    Hpa,
    /// prometheus-adapter Helm values serving that metric.
    Adapter,
    /// A KEDA ScaledObject with a prometheus trigger.
    Keda,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A Grafana dashboard for a spec's service: traffic, latency with
    /// exemplars, and per SLO its SLI, budget, burn rates and firing alerts.
    #[command(
        after_help = "Examples:\n  slo dashboard alerts/target-app.slo.yaml > dashboards/target-app.json\n  slo dashboard alerts/target-app.slo.yaml --format configmap --out k8s/base/target-app/grafana-dashboard.yaml\n\nThe traffic row reads METRIC_count and METRIC_bucket{SELECTOR} (OpenTelemetry\nHTTP server metrics); the SLO rows read the recording rules of `slo alerts`."
    )]
    Dashboard {
        /// SLO spec (YAML), or - for standard input.
        spec: PathBuf,
        /// Label matchers of the service's HTTP series [default: {job="SERVICE"}].
        #[arg(long)]
        selector: Option<String>,
        /// The request-duration histogram.
        #[arg(long, default_value = slo::dashboard::HTTP_METRIC)]
        metric: String,
        #[arg(long, value_enum, default_value = "grafana")]
        format: DashboardFormat,
        /// Write to this file (atomically) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Autoscaling on requests per second per pod: an HPA with a Pods metric,
    /// the prometheus-adapter rule serving it, or a KEDA ScaledObject.
    #[command(
        after_help = "Examples:\n  slo hpa --deployment target-app --target-rps 150 --format hpa\n  slo hpa --deployment target-app --capacity stress.json --headroom 0.7 --format keda --namespace shop\n\nWith --capacity, the per-pod target is the highest throughput per replica that\nthe stress run sustained for --window seconds before its first threshold broke,\ntimes --headroom. Run the stress against --replicas-in-run replicas."
    )]
    Hpa {
        /// The Deployment to scale (also the name of what is generated).
        #[arg(long)]
        deployment: String,
        /// Label matchers of the service's request counter [default: {job="DEPLOYMENT"}].
        #[arg(long)]
        selector: Option<String>,
        /// The request-duration histogram (its _count counts requests).
        #[arg(long, default_value = slo::dashboard::HTTP_METRIC)]
        metric: String,
        /// Requests per second per pod to hold.
        #[arg(
            long,
            conflicts_with = "capacity",
            required_unless_present = "capacity"
        )]
        target_rps: Option<f64>,
        /// A loadgen report of a stress run to derive the per-pod target from.
        #[arg(long)]
        capacity: Option<PathBuf>,
        /// Share of the measured capacity to target (0 < H <= 1).
        #[arg(long, default_value_t = 0.7, requires = "capacity")]
        headroom: f64,
        /// Replicas that served the stress run.
        #[arg(long, default_value_t = 1, requires = "capacity")]
        replicas_in_run: u32,
        /// Seconds a rate must be sustained to count.
        #[arg(long, default_value_t = 5, requires = "capacity")]
        window: usize,
        #[arg(long, default_value_t = 2)]
        min_replicas: u32,
        #[arg(long, default_value_t = 10)]
        max_replicas: u32,
        /// How long a lower recommendation must hold before pods go.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        scale_down_window: std::time::Duration,
        /// The rate's range in the adapter's and KEDA's queries.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        rate_window: std::time::Duration,
        /// Restrict KEDA's query to this namespace (it sees all of them).
        #[arg(long)]
        namespace: Option<String>,
        /// Prometheus as KEDA reaches it.
        #[arg(long, default_value = "http://prometheus-operated.monitoring.svc:9090")]
        prometheus_url: String,
        #[arg(long, value_enum, default_value = "hpa")]
        format: HpaFormat,
        /// Write to this file (atomically) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Prometheus rules (SLI recordings, multi-window burn-rate alerts), promtool
    /// tests and Alertmanager routes for a spec's SLOs.
    #[command(
        after_help = "Examples:\n  slo alerts spec.yaml > rules.yml\n  slo alerts spec.yaml --format operator | kubectl apply -f -\n  slo alerts spec.yaml --out alerts --pager-url https://pager.example.com/hook --ticket-url https://tickets.example.com/hook\n\nWith --out, DIR gets SERVICE.rules.yml, SERVICE.prometheusrule.yaml, one\nSERVICE-SLO.test.yml per SLO (run: promtool test rules DIR/*.test.yml) and\nalertmanager.yml."
    )]
    Alerts {
        /// SLO spec (YAML), or - for standard input.
        spec: PathBuf,
        /// What to print when there is no --out.
        #[arg(long, value_enum, default_value = "rules")]
        format: Format,
        /// Write every artifact into this directory instead of printing rules.
        #[arg(long, requires_all = ["pager_url", "ticket_url"])]
        out: Option<PathBuf>,
        /// Webhook URL of the pager receiver (page alerts).
        #[arg(long, requires = "out")]
        pager_url: Option<String>,
        /// Webhook URL of the ticket receiver (ticket alerts).
        #[arg(long, requires = "out")]
        ticket_url: Option<String>,
    },
    /// Print the JSON Schema of the native spec (for editors).
    #[command(after_help = "Example:\n  slo schema > slo.schema.json")]
    Schema,
    /// Print a Sloth or OpenSLO spec (or a native one) in the native format.
    #[command(after_help = "Example:\n  slo import sloth.yaml > spec.yaml")]
    Import {
        /// Spec file (YAML), or - for standard input.
        spec: PathBuf,
    },
    /// Where each SLO stands now: SLI, budget, burn rates, alerts that would fire.
    #[command(
        after_help = "Example:\n  slo report alerts/target-app.slo.yaml --prometheus http://127.0.0.1:9090"
    )]
    Report {
        spec: PathBuf,
        #[command(flatten)]
        prom: PromArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Did a load test meet the SLOs? Exit 99 if not, 3 when it cannot tell.
    #[command(
        after_help = "Examples:\n  slo gate spec.yaml --prometheus http://127.0.0.1:9090 --run report.json\n  slo gate spec.yaml --prometheus http://127.0.0.1:9090 --from 2026-11-21T10:00:00Z --to 2026-11-21T10:05:00Z"
    )]
    Gate {
        spec: PathBuf,
        #[command(flatten)]
        prom: PromArgs,
        /// A loadgen report: its started_at and ended_at are the window.
        #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
        run: Option<PathBuf>,
        /// Judge a --run report whose run was interrupted (its window is
        /// shorter than planned, and its load may not be the one planned).
        #[arg(long, requires = "run")]
        allow_interrupted: bool,
        /// Window start (RFC 3339 or Unix seconds).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// Window end (RFC 3339 or Unix seconds).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Also fail when the window's burn rate is above this.
        #[arg(long)]
        max_burn: Option<f64>,
        /// Write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the results as JUnit XML (a test case per SLO).
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Validate a spec: structure, objectives, periods, and every PromQL query it implies.
    #[command(after_help = "Example:\n  slo check alerts/target-app.slo.yaml")]
    Check {
        /// SLO spec (YAML), or - for standard input.
        spec: PathBuf,
        /// Also check against this Prometheus: the metrics exist, latency
        /// thresholds are buckets, and how many series each SLI reads.
        #[arg(long)]
        prometheus: Option<String>,
        /// How far back --prometheus looks for series, 1s to 366d (exporters
        /// may drop idle histogram series, so the latest sample is not enough).
        #[arg(long, default_value = "1d", value_parser = humantime::parse_duration, requires = "prometheus")]
        lookback: std::time::Duration,
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

/// `slo check`: the spec parses and validates, and everything `slo alerts`
/// and `slo dashboard` would build from it builds, so what check accepts
/// they generate.
fn check(path: &Path) -> Result<slo::model::Service, String> {
    let service = spec::load(path).map_err(|e: SpecError| e.to_string())?;
    let shown = path.display();
    slo::rules::service_rules(&service).map_err(|e| format!("{shown}: {e}"))?;
    slo::dashboard::dashboard(&service, &slo::dashboard::Options::for_service(&service))
        .map_err(|e| format!("{shown}: {e}"))?;
    println!("{}: ok, service {}", path.display(), service.name);
    for s in &service.slos {
        let mut queries = 0;
        for w in slo::windows::alert_windows(s.period)
            .into_iter()
            .chain([s.period])
        {
            let q = slo::promql::events(s, w);
            for text in [&q.errors, &q.total] {
                slo::promql::check(text).map_err(|e| {
                    format!(
                        "{shown}: slo {:?}: generated query does not parse: {text}: {e}",
                        s.name
                    )
                })?;
                queries += 1;
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
    Ok(service)
}

fn unix(t: &str) -> Result<i64, String> {
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    humantime::parse_rfc3339_weak(t)
        .map_err(|e| {
            format!("invalid time {t:?}: {e} (RFC 3339 like 2026-11-21T10:00:00Z, or Unix seconds)")
        })
        .and_then(|st| {
            st.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .map_err(|_| format!("time {t:?} is before 1970"))
        })
}

/// The window of a loadgen report (see [`slo::run_window`]).
fn run_window(path: &Path, allow_interrupted: bool) -> Result<(i64, i64), String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("failed to read {shown}: {e}"))?;
    slo::run_window::run_window(&text, &shown, allow_interrupted).map_err(|e| e.to_string())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no traffic".to_owned(), |v| format!("{:.4}%", v * 100.0))
}

/// The text of one SLO's report.
fn report_text(r: &slo::evaluate::SloReport) -> String {
    let mut lines = vec![
        format!(
            "{}: objective {}% over {}",
            r.name,
            r.objective * 100.0,
            r.period
        ),
        format!(
            "  SLI over the period: {}",
            if r.period_inconclusive {
                "inconclusive".to_owned()
            } else {
                pct(r.sli)
            }
        ),
    ];
    lines.push(
        match (
            r.budget_remaining_ratio,
            r.budget_remaining_errors,
            r.budget_consumed_ratio,
        ) {
            (Some(rem), Some(n), Some(used)) => format!(
                "  error budget: {:.1}% consumed, {:.1}% remaining ({:.0} more failed requests allowed)",
                used * 100.0,
                rem * 100.0,
                n
            ),
            _ if r.period_inconclusive => "  error budget: inconclusive".to_owned(),
            _ => "  error budget: no traffic".to_owned(),
        },
    );
    let burns: Vec<String> = r
        .windows
        .iter()
        .map(|w| {
            let b = match (w.burn_rate, &w.inconclusive) {
                (Some(b), _) => format!("{b:.2}"),
                (None, Some(_)) => "?".into(),
                (None, None) => "-".into(),
            };
            format!("{} {b}", w.window)
        })
        .collect();
    lines.push(format!("  burn rate: {}", burns.join("  ")));
    for a in &r.alerts {
        let state = if a.firing {
            "FIRING"
        } else if a.inconclusive {
            "INCONCLUSIVE"
        } else {
            "ok"
        };
        lines.push(format!(
            "  {:<6} burn > {} over {} and {}: {state}",
            a.severity, a.factor, a.long, a.short
        ));
    }
    let hour_inconclusive = r
        .windows
        .iter()
        .any(|w| w.window == "1h" && w.inconclusive.is_some());
    lines.push(match r.exhaustion_seconds {
        _ if r.budget_remaining_ratio.is_some_and(|rem| rem <= 0.0) => {
            "  budget exhausted for this period".to_owned()
        }
        None if r.period_inconclusive || hour_inconclusive => {
            "  time to exhaustion: inconclusive".to_owned()
        }
        Some(s) => format!(
            "  budget exhausted in {} at the 1h burn rate",
            humantime::format_duration(std::time::Duration::from_secs(s as u64))
        ),
        None => "  budget not being spent at the 1h burn rate".to_owned(),
    });
    for m in &r.inconclusive {
        lines.push(format!("  INCONCLUSIVE: {m}"));
    }
    lines.join("\n") + "\n"
}

/// Writes to standard output.
fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// A closed pipe (`slo alerts spec.yaml | head -1`) ends the program quietly
/// with exit 0, as `head` expects; this marks it.
const QUIET: (u8, String) = (0, String::new());

/// Writes to standard output; a closed pipe is [`QUIET`].
fn print_out(text: &str) -> Result<(), (u8, String)> {
    write_stdout(text).map_err(stdout_error)
}

fn stdout_error(e: std::io::Error) -> (u8, String) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        QUIET
    } else {
        (
            EXIT_FAILURE,
            format!("failed to write to standard output: {e}"),
        )
    }
}

/// Like [`print_out`], for a command whose exit code carries a verdict: a closed
/// pipe stops the printing, not the verdict.
fn out_verdict(text: &str) -> Result<(), (u8, String)> {
    match write_stdout(text).map_err(stdout_error) {
        Err(q) if q == QUIET => Ok(()),
        r => r,
    }
}

/// The command line as typed, for the "regenerate" line of generated files.
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    format!("slo {}", args.join(" "))
}

fn webhook(url: &str, flag: &str) -> Result<String, String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url.to_owned()),
        Ok(_) => Err(format!(
            "{flag} {url:?}: a webhook URL is http:// or https:// with a host"
        )),
        Err(e) => Err(format!(
            "{flag} {url:?}: {e} (e.g. {flag} https://pager.example.com/hook)"
        )),
    }
}

/// Writes a file through a temporary file in the same directory, so readers
/// never see half of it.
fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| format!("failed to write {}: {e}", path.display());
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

fn alerts(
    spec_path: &Path,
    format: Format,
    out: Option<&Path>,
    receivers: Option<slo::alertmanager::Receivers>,
) -> Result<(), (u8, String)> {
    let invalid = |e: String| (EXIT_INVALID, e);
    let service = spec::load(spec_path).map_err(|e| invalid(e.to_string()))?;
    let all = slo::rules::service_rules(&service).map_err(|e| invalid(e.to_string()))?;
    for r in &all {
        for b in &r.burns {
            let c = &b.condition;
            if c.factor * r.slo.budget() > 1.0 {
                eprintln!(
                    "slo: warning: slo {:?}: the {} alert over {} needs an error ratio above 100% ({}x a {:.4}% budget): it can never fire",
                    r.slo.name,
                    c.severity.as_str(),
                    slo::windows::promql_duration(c.long),
                    c.factor,
                    r.slo.budget() * 100.0
                );
            }
        }
        if let Some(b) = r.burns.iter().min_by_key(|b| b.condition.short)
            && b.condition.short < std::time::Duration::from_secs(60)
        {
            eprintln!(
                "slo: warning: slo {:?}: the shortest alert window is {}; Prometheus must scrape at least every {}s for it to hold two samples",
                r.slo.name,
                slo::windows::promql_duration(b.condition.short),
                (b.condition.short.as_secs() / 2).max(1)
            );
        }
    }
    let regenerate = command_line();
    let Some(dir) = out else {
        let text = match format {
            Format::Rules => slo::rules::rule_file(&service, &all, &regenerate),
            Format::Operator => slo::rules::prometheus_rule(&service, &all, &regenerate),
        };
        return print_out(&text);
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        (
            EXIT_FAILURE,
            format!("failed to create {}: {e}", dir.display()),
        )
    })?;
    let rules_name = format!("{}.rules.yml", service.name);
    let mut written = vec![
        (
            rules_name.clone(),
            slo::rules::rule_file(&service, &all, &regenerate),
        ),
        (
            format!("{}.prometheusrule.yaml", service.name),
            slo::rules::prometheus_rule(&service, &all, &regenerate),
        ),
    ];
    let header = format!(
        "# promtool unit tests for the SLO rules of {}, generated by `slo alerts`; do not edit.\n# Run: promtool test rules FILE\n# Regenerate: {regenerate}\n",
        service.name
    );
    for r in &all {
        match slo::ruletest::unit_tests(r, &rules_name, &header) {
            Ok(text) => written.push((format!("{}-{}.test.yml", service.name, r.slo.name), text)),
            Err(e) => eprintln!("slo: warning: no promtool tests: {e}"),
        }
    }
    if let Some(to) = receivers {
        let header = format!(
            "# Alertmanager routes for the SLO alerts of {}, generated by `slo alerts`; do not edit.\n# Regenerate: {regenerate}\n",
            service.name
        );
        written.push((
            "alertmanager.yml".into(),
            slo::alertmanager::config(&[&service], &all, &to, &header),
        ));
    }
    for (name, text) in &written {
        let path = dir.join(name);
        write_atomic(&path, text).map_err(|e| (EXIT_FAILURE, e))?;
        print_out(&format!("wrote {}\n", path.display()))?;
    }
    Ok(())
}

/// Prints `text`, or writes it atomically to `out`.
fn emit(text: &str, out: Option<&Path>) -> Result<(), (u8, String)> {
    match out {
        None => print_out(text),
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    (
                        EXIT_FAILURE,
                        format!("failed to create {}: {e}", dir.display()),
                    )
                })?;
            }
            write_atomic(p, text).map_err(|e| (EXIT_FAILURE, e))?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
    }
}

fn dashboard(
    spec_path: &Path,
    selector: Option<String>,
    metric: String,
    format: DashboardFormat,
    out: Option<&Path>,
) -> Result<(), (u8, String)> {
    let invalid = |e: String| (EXIT_INVALID, e);
    let service = spec::load(spec_path).map_err(|e| invalid(e.to_string()))?;
    let mut opts = slo::dashboard::Options::for_service(&service);
    if let Some(s) = selector {
        opts.selector = s;
    }
    opts.metric = metric;
    let d = slo::dashboard::dashboard(&service, &opts).map_err(|e| invalid(e.to_string()))?;
    let text = match format {
        DashboardFormat::Grafana => serde_json::to_string_pretty(&d).unwrap_or_default() + "\n",
        DashboardFormat::Configmap => slo::yaml::document(
            &format!(
                "# Grafana dashboard of {} for the dashboard sidecar, generated by `slo dashboard`; do not edit.\n# Regenerate: {}\n",
                service.name,
                command_line()
            ),
            &slo::dashboard::configmap(&service, &d),
        ),
    };
    emit(&text, out)
}

#[allow(clippy::too_many_arguments)]
fn hpa_settings(
    deployment: String,
    selector: Option<String>,
    metric: String,
    target_rps: Option<f64>,
    capacity: Option<(PathBuf, f64, u32, usize)>,
    replicas: (u32, u32),
    windows: (std::time::Duration, std::time::Duration),
    namespace: Option<String>,
    prometheus_url: String,
) -> Result<slo::hpa::Settings, (u8, String)> {
    let invalid = |e: String| (EXIT_INVALID, e);
    let (target_rps, derivation) = match (target_rps, capacity) {
        (Some(t), _) => (t, format!("{} (given)", slo::rules::fmt_num(t))),
        (None, Some((path, headroom, in_run, window))) => {
            if !(headroom > 0.0 && headroom <= 1.0) {
                return Err(invalid(format!(
                    "--headroom {headroom}: a share of the capacity, above 0 and at most 1 (e.g. 0.7)"
                )));
            }
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| invalid(format!("failed to read {shown}: {e}")))?;
            let report =
                slo::hpa::read_report(&text, &shown).map_err(|e| invalid(e.to_string()))?;
            let c = slo::hpa::capacity(&report, &shown, in_run, window)
                .map_err(|e| invalid(e.to_string()))?;
            for s in &c.skipped {
                eprintln!("slo: warning: {shown}: threshold not checked per second: {s}");
            }
            if report.interrupted {
                eprintln!("slo: warning: {shown}: the run was interrupted");
            }
            let knee = match &c.breach {
                Some((t, name)) => format!("{name} broke at {t}s"),
                None => {
                    eprintln!(
                        "slo: warning: {shown}: the thresholds held for the whole run, so {:.1} req/s per replica is a lower bound: stress harder to find the knee",
                        c.rps_per_replica
                    );
                    "thresholds held throughout (a lower bound)".to_owned()
                }
            };
            // Whole requests per second (rounded down) read better and err on the safe side.
            let raw = c.rps_per_replica * headroom;
            let target = if raw >= 10.0 {
                raw.floor()
            } else {
                (raw * 1000.0).floor() / 1000.0
            };
            eprintln!(
                "capacity: {:.1} req/s per replica over {}s-{}s ({knee}); target {headroom} x that = {target} req/s per pod",
                c.rps_per_replica, c.window.0, c.window.1
            );
            (
                target,
                format!(
                    "{} = {} x {} req/s per replica sustained in {}s-{}s of stress run {:?} ({}; checked {})",
                    slo::rules::fmt_num(target),
                    slo::rules::fmt_num(headroom),
                    slo::rules::fmt_num((c.rps_per_replica * 1000.0).round() / 1000.0),
                    c.window.0,
                    c.window.1,
                    report.scenario,
                    knee,
                    c.checked.join(", ")
                ),
            )
        }
        (None, None) => {
            return Err(invalid(
                "give --target-rps N or --capacity REPORT.json".into(),
            ));
        }
    };
    Ok(slo::hpa::Settings {
        selector: selector.unwrap_or_else(|| format!("{{job=\"{deployment}\"}}")),
        deployment,
        metric,
        namespace,
        target_rps,
        min_replicas: replicas.0,
        max_replicas: replicas.1,
        scale_down_window: windows.0,
        rate_window: windows.1,
        prometheus_url,
        derivation,
    })
}

async fn run(cli: Cli) -> Result<u8, (u8, String)> {
    let invalid = |e: String| (EXIT_INVALID, e);
    match cli.command {
        Command::Dashboard {
            spec,
            selector,
            metric,
            format,
            out,
        } => {
            dashboard(&spec, selector, metric, format, out.as_deref())?;
            Ok(0)
        }
        Command::Hpa {
            deployment,
            selector,
            metric,
            target_rps,
            capacity,
            headroom,
            replicas_in_run,
            window,
            min_replicas,
            max_replicas,
            scale_down_window,
            rate_window,
            namespace,
            prometheus_url,
            format,
            out,
        } => {
            let s = hpa_settings(
                deployment,
                selector,
                metric,
                target_rps,
                capacity.map(|c| (c, headroom, replicas_in_run, window)),
                (min_replicas, max_replicas),
                (scale_down_window, rate_window),
                namespace,
                prometheus_url,
            )?;
            let (what, value) = match format {
                HpaFormat::Hpa => ("HorizontalPodAutoscaler", slo::hpa::hpa(&s)),
                HpaFormat::Adapter => (
                    "prometheus-adapter Helm values",
                    slo::hpa::adapter_values(&s),
                ),
                HpaFormat::Keda => ("KEDA ScaledObject", slo::hpa::scaled_object(&s)),
            };
            let value = value.map_err(|e| invalid(e.to_string()))?;
            let header = format!(
                "# {what} for {}, generated by `slo hpa`; do not edit.\n# Regenerate: {}\n",
                s.deployment,
                command_line()
            );
            emit(&slo::yaml::document(&header, &value), out.as_deref())?;
            Ok(0)
        }
        Command::Alerts {
            spec,
            format,
            out,
            pager_url,
            ticket_url,
        } => {
            let receivers = match (pager_url, ticket_url) {
                (Some(p), Some(t)) => Some(slo::alertmanager::Receivers {
                    pager_url: webhook(&p, "--pager-url").map_err(invalid)?,
                    ticket_url: webhook(&t, "--ticket-url").map_err(invalid)?,
                }),
                _ => None,
            };
            alerts(&spec, format, out.as_deref(), receivers)?;
            Ok(0)
        }
        Command::Check {
            spec,
            prometheus,
            lookback,
        } => {
            let service = check(&spec).map_err(invalid)?;
            let Some(url) = prometheus else {
                return Ok(0);
            };
            if !(std::time::Duration::from_secs(1)..=spec::ranges::PERIOD.1).contains(&lookback) {
                return Err(invalid(format!(
                    "--lookback {}: between 1s and 366d (e.g. --lookback 1d)",
                    humantime::format_duration(lookback)
                )));
            }
            let client = slo::prom::Prom::new(slo::prom::PromConfig::new(&url))
                .map_err(|e| invalid(e.to_string()))?;
            let mut problems = 0;
            for s in &service.slos {
                let live = slo::livecheck::check(&client, s, lookback)
                    .await
                    .map_err(|e| (EXIT_FAILURE, e.to_string()))?;
                println!("  {}: {} series in Prometheus", s.name, live.series);
                for p in &live.problems {
                    eprintln!("slo: error: {}: slo {:?}: {p}", spec.display(), s.name);
                }
                problems += live.problems.len();
            }
            if problems > 0 {
                return Err(invalid(format!("{problems} problem(s) against {url}")));
            }
            Ok(0)
        }
        Command::Schema => {
            print_out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&spec::json_schema()).unwrap_or_default()
            ))?;
            Ok(0)
        }
        Command::Import { spec } => {
            let (text, shown) = spec::read_text(&spec).map_err(|e| invalid(e.to_string()))?;
            let native = spec::to_native(&text, &shown).map_err(|e| invalid(e.to_string()))?;
            let yaml = serde_saphyr::to_string(&native)
                .map_err(|e| (EXIT_FAILURE, format!("failed to write YAML: {e}")))?;
            print_out(&yaml)?;
            Ok(0)
        }
        Command::Report { spec, prom, json } => {
            let service = spec::load(&spec).map_err(|e| invalid(e.to_string()))?;
            let client = prom.client().map_err(|e| invalid(e.to_string()))?;
            let mut reports = Vec::new();
            for s in &service.slos {
                reports.push(
                    slo::evaluate::report(&client, s, None)
                        .await
                        .map_err(|e| (EXIT_FAILURE, e.to_string()))?,
                );
            }
            let text = if json {
                serde_json::to_string_pretty(&reports).unwrap_or_default() + "\n"
            } else {
                let mut text = format!("service {}\n", service.name);
                reports.iter().for_each(|r| text += &report_text(r));
                text
            };
            out_verdict(&text)?;
            let doubts: usize = reports.iter().map(|r| r.inconclusive.len()).sum();
            if doubts > 0 {
                eprintln!(
                    "slo: error: inconclusive: {doubts} answer(s) from Prometheus could not be trusted (see INCONCLUSIVE above)"
                );
                return Ok(EXIT_INCONCLUSIVE);
            }
            Ok(0)
        }
        Command::Gate {
            spec,
            prom,
            run,
            allow_interrupted,
            from,
            to,
            max_burn,
            json,
            junit,
        } => {
            let service = spec::load(&spec).map_err(|e| invalid(e.to_string()))?;
            let client = prom.client().map_err(|e| invalid(e.to_string()))?;
            let (from, to) = match (run, from, to) {
                (Some(r), _, _) => run_window(&r, allow_interrupted).map_err(invalid)?,
                (None, Some(f), Some(t)) => {
                    (unix(&f).map_err(invalid)?, unix(&t).map_err(invalid)?)
                }
                _ => return Err(invalid("give --run REPORT.json or --from and --to".into())),
            };
            if to <= from {
                return Err(invalid(format!(
                    "the window is empty: --to ({to}) must be after --from ({from})"
                )));
            }
            let results = match slo::evaluate::gate(&client, &service, from, to, max_burn).await {
                Ok(r) => r,
                Err(e) => return Err((EXIT_INCONCLUSIVE, format!("inconclusive: {e}"))),
            };
            let mut text = String::new();
            for r in &results {
                let verdict = match r.verdict {
                    slo::evaluate::GateVerdict::Pass => "PASS",
                    slo::evaluate::GateVerdict::Fail => "FAIL",
                    slo::evaluate::GateVerdict::Inconclusive => "INCONCLUSIVE",
                };
                text += &format!(
                    "{verdict} {}: SLI {} over {}s (objective {}%), burn rate {}; {}\n",
                    r.name,
                    match r.verdict {
                        slo::evaluate::GateVerdict::Inconclusive => "unknown".to_owned(),
                        _ => pct(r.sli),
                    },
                    r.window_seconds,
                    r.objective * 100.0,
                    r.burn_rate.map_or("-".into(), |b| format!("{b:.2}")),
                    r.reason
                );
                if let Some(share) = r.sustained_budget_share {
                    text += &format!(
                        "  sustained for the whole period, this load would spend {:.0}% of the error budget\n",
                        share * 100.0
                    );
                }
            }
            out_verdict(&text)?;
            if let Some(p) = json {
                let text = serde_json::to_string_pretty(&results).unwrap_or_default();
                write_atomic(&p, &text).map_err(|e| (EXIT_FAILURE, e))?;
            }
            if let Some(p) = junit {
                let xml = slo::junit::render(&service.name, &results);
                write_atomic(&p, &xml).map_err(|e| (EXIT_FAILURE, e))?;
            }
            use slo::evaluate::GateVerdict::*;
            Ok(if results.iter().any(|r| r.verdict == Fail) {
                EXIT_FAILED
            } else if results.iter().any(|r| r.verdict == Inconclusive) {
                EXIT_INCONCLUSIVE
            } else {
                0
            })
        }
    }
}

/// A closed pipe under a `println!` that does not go through [`print_out`] ends the
/// program quietly too, instead of panicking.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slo: error: failed to start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(quiet) if quiet == QUIET => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("slo: error: {message}");
            ExitCode::from(code)
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
