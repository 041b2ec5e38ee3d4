//! `loadgen`: run, validate and merge load tests; `loadgen demo` runs the
//! bundled steady scenario against an in-process target app.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use loadgen::client_spans::ClientSpans;
use loadgen::engine::{self, Control};
use loadgen::live::Live;
use loadgen::report::{self, Report};
use loadgen::scenario::{self, Plan, ScenarioError};
use loadgen::tui::{SloState, Tui};

// Each request allocates in reqwest and hyper; mimalloc is markedly cheaper
// than the system allocator for that (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes (PRODUCT.md).
const EXIT_FAILURE: u8 = 1;
const EXIT_INVALID: u8 = 2;
const EXIT_THRESHOLD: u8 = 99;

/// Load tests from YAML, with honest latency, thresholds and reports.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes: 0 passed, 1 runtime failure, interrupted, or no request succeeded (the reason is printed), 2 invalid input, 99 a threshold failed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file.
    #[command(after_help = "Examples:
  loadgen run loadgen/scenarios/steady.yaml --host http://127.0.0.1:8080
  loadgen run scenario.yaml --duration 2m --report report.json --junit junit.xml --summary-md summary.md
  cat scenario.yaml | loadgen run -")]
    Run(RunArgs),
    /// Check a scenario file without running it.
    #[command(after_help = "Example:\n  loadgen validate loadgen/scenarios/stress.yaml")]
    Validate {
        /// Scenario file (YAML), or - for standard input.
        scenario: PathBuf,
    },
    /// Start the target app in-process and run the bundled steady scenario against it.
    #[command(after_help = "Example:\n  loadgen demo --duration 10s --report demo.json")]
    Demo {
        /// How long to run (default 30s).
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[command(flatten)]
        outputs: Outputs,
    },
    /// Merge reports of a run split across machines; prints the summary.
    #[command(after_help = "Example:\n  loadgen merge pod-0.json pod-1.json --report merged.json")]
    Merge {
        /// Report files (JSON) written by `loadgen run --report`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        #[command(flatten)]
        outputs: Outputs,
    },
    /// Print the JSON Schema of scenario files (for editors).
    #[command(after_help = "Example:\n  loadgen schema > scenario.schema.json")]
    Schema,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario file (YAML), or - for standard input.
    scenario: PathBuf,
    /// Base URL to use instead of the file's base_url.
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
    outputs: Outputs,
}

/// What the live view shows.
#[derive(Default)]
struct ViewOpts {
    tui: bool,
    slo: Option<slo::model::Service>,
    prometheus: Option<String>,
    /// Shown in the SLO panel when there is no Prometheus.
    hint: Option<String>,
}

#[derive(Debug, Args, Default)]
struct Outputs {
    /// Write the JSON report here (versioned; merges with `loadgen merge`).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write a JUnit XML file with one test case per threshold.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the HdrHistogram interval log of corrected latency.
    #[arg(long)]
    hdr_log: Option<PathBuf>,
    /// Write a Markdown summary (for CI job summaries).
    #[arg(long)]
    summary_md: Option<PathBuf>,
}

/// An error with its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error = e.into();
        let invalid = error.chain().any(|c| {
            c.downcast_ref::<ScenarioError>().is_some()
                || c.downcast_ref::<report::ReportError>()
                    .is_some_and(|r| !matches!(r, report::ReportError::Write { .. }))
        });
        Failure {
            code: if invalid { EXIT_INVALID } else { EXIT_FAILURE },
            error,
        }
    }
}

fn write_outputs(
    outputs: &Outputs,
    report: &Report,
    hdr: Option<(std::time::SystemTime, &[(u64, String)])>,
) -> anyhow::Result<()> {
    if let Some(p) = &outputs.report {
        let json = serde_json::to_vec_pretty(report).context("failed to encode the report")?;
        report::write_atomic(p, &json)?;
    }
    if let Some(p) = &outputs.junit {
        report::write_atomic(p, report::junit::render(report).as_bytes())?;
    }
    if let Some(p) = &outputs.summary_md {
        report::write_atomic(p, report::markdown::render(report).as_bytes())?;
    }
    if let Some(p) = &outputs.hdr_log {
        let (start, intervals) =
            hdr.context("--hdr-log needs a run (merge has no per-second histograms)")?;
        let bytes = report::hdrlog::render(start, intervals).map_err(anyhow::Error::msg)?;
        report::write_atomic(p, &bytes)?;
    }
    Ok(())
}

/// How long a second Ctrl-C leaves the run to write what it has.
const HURRY: Duration = Duration::from_secs(2);

fn install_signal_handler(control: &Arc<Control>) {
    let control = control.clone();
    // Installed before goose starts, so goose's own handler stands aside.
    if let Err(e) = ctrlc::set_handler(move || {
        use std::sync::atomic::Ordering;
        if control.interrupted.load(Ordering::SeqCst) {
            if control.hurry.swap(true, Ordering::SeqCst) {
                return;
            }
            eprintln!("loadgen: interrupted twice, writing what there is and exiting");
            // The reports are written without waiting for anything else;
            // whatever still holds the exit after that is cut off.
            std::thread::spawn(|| {
                std::thread::sleep(HURRY);
                eprintln!("loadgen: exiting before the reports were written");
                std::process::exit(i32::from(EXIT_FAILURE));
            });
            return;
        }
        eprintln!("loadgen: interrupted, stopping and writing reports...");
        control.interrupt();
    }) {
        eprintln!("loadgen: warning: cannot handle Ctrl-C: {e}");
    }
}

/// A progress line on stderr, once a second, while stdout is a terminal.
async fn progress(control: Arc<Control>, duration: Duration) {
    use std::sync::atomic::Ordering;
    let start = std::time::Instant::now();
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let requests = control.requests.load(Ordering::Relaxed);
        let errors = control.errors.load(Ordering::Relaxed);
        let elapsed = start.elapsed().as_secs().min(duration.as_secs());
        let width = 30usize;
        let done = if duration.is_zero() {
            width
        } else {
            (elapsed as usize * width / duration.as_secs().max(1) as usize).min(width)
        };
        eprint!(
            "\r\x1b[2K[{}{}] {}s/{}s  {} requests  {} rps  {} errors",
            "#".repeat(done),
            " ".repeat(width - done),
            elapsed,
            duration.as_secs(),
            requests,
            requests - last,
            errors
        );
        last = requests;
    }
}

async fn execute(
    plan: Plan,
    host: Option<String>,
    outputs: &Outputs,
    spans: Option<ClientSpans>,
    view: ViewOpts,
) -> Result<u8, Failure> {
    let control = Arc::new(Control::default());
    install_signal_handler(&control);
    let target = host.clone().unwrap_or_else(|| plan.base_url.clone());
    let stop_refresh = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (live, tui) = if view.tui {
        let marks = view
            .slo
            .as_ref()
            .map(loadgen::tui::latency_marks)
            .unwrap_or_default();
        let live = Arc::new(Live::with_marks(marks));
        let state = match (view.slo, view.prometheus) {
            (Some(service), Some(url)) => {
                let prom = slo::prom::Prom::new(slo::prom::PromConfig::new(&url)).map_err(|e| {
                    Failure {
                        code: EXIT_INVALID,
                        error: anyhow::anyhow!("--prometheus {url}: {e}"),
                    }
                })?;
                let state = Arc::new(SloState::default());
                tokio::spawn(loadgen::tui::refresh_slos(
                    state.clone(),
                    service,
                    prom,
                    url,
                    Duration::from_secs(3),
                    stop_refresh.clone(),
                ));
                state
            }
            (Some(service), None) => Arc::new(SloState::client_side(
                service,
                view.hint
                    .as_deref()
                    .unwrap_or("add --prometheus URL for server-side SLIs and burn rates"),
            )),
            (None, _) => Arc::new(SloState::default()),
        };
        let open = matches!(plan.load, loadgen::scenario::Load::Open { .. });
        let tui = Tui::start(live.clone(), control.clone(), state, open)
            .context("failed to take over the terminal")?;
        (Some(live), Some(tui))
    } else {
        (None, None)
    };
    let progress = (tui.is_none() && std::io::stdout().is_terminal())
        .then(|| tokio::spawn(progress(control.clone(), plan.load.duration())));
    let spans = spans.map(Arc::new);
    let run = engine::run(
        plan.clone(),
        host,
        outputs.hdr_log.is_some(),
        control.clone(),
        spans.clone(),
        live,
    )
    .await;
    let hurry = control.hurry.load(std::sync::atomic::Ordering::SeqCst);
    stop_refresh.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = tui {
        t.finish();
    }
    if let Some(spans) = spans
        && !hurry
    {
        let interrupted = control
            .interrupted
            .load(std::sync::atomic::Ordering::SeqCst);
        let flush = tokio::task::spawn_blocking(move || spans.shutdown());
        if interrupted {
            // An interrupted run does not wait long on a collector.
            if tokio::time::timeout(Duration::from_millis(500), flush)
                .await
                .is_err()
            {
                eprintln!("loadgen: warning: client spans not flushed (interrupted)");
            }
        } else {
            let _ = flush.await;
        }
    }
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[2K");
    }
    let run = run.context("the run failed")?;
    let report = report::build(&plan, &target, &run);
    // A closed stdout (`| head`) does not stop the reports from being written.
    stdout(&report::table::render(&report))?;
    write_outputs(
        outputs,
        &report,
        Some((run.started_at, &run.recorded.interval_histograms)),
    )?;
    Ok(exit_code(&report))
}

/// The exit code of a finished run: 99 when a threshold failed, 1 when it was
/// interrupted or no request succeeded (the reason goes to stderr), else 0.
fn exit_code(report: &Report) -> u8 {
    let none = report.no_success();
    if let Some(why) = &none {
        eprintln!("loadgen: error: {why}");
    }
    if !report.passed() {
        EXIT_THRESHOLD
    } else if report.interrupted || none.is_some() {
        EXIT_FAILURE
    } else {
        0
    }
}

/// Writes `text` to stdout. A closed pipe (`loadgen ... | head -1`) is not
/// an error: the rest is dropped quietly, as ripgrep does.
fn stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure {
            code: EXIT_FAILURE,
            error: anyhow::Error::new(e).context("failed to write to stdout"),
        }),
        _ => Ok(()),
    }
}

/// Checks a `--duration` override against the range of a scenario's run.
fn check_duration(d: Duration) -> Result<Duration, Failure> {
    scenario::limits::run_duration(d).map_err(|e| Failure {
        code: EXIT_INVALID,
        error: anyhow::anyhow!("{e} (e.g. --duration 30s; see \"Ranges\" in loadgen/README.md)"),
    })
}

fn load_plan(path: &Path, duration: Option<Duration>) -> Result<Plan, Failure> {
    let duration = duration.map(check_duration).transpose()?;
    let mut plan = scenario::load(path)?;
    if let Some(d) = duration {
        plan.load = plan.load.with_duration(d);
    }
    Ok(plan)
}

/// The target app's SLOs (alerts/target-app.slo.yaml), for the demo's SLO panel.
const TARGET_APP_SLOS: &str = include_str!("../../alerts/target-app.slo.yaml");

/// A Prometheus started for the demo; stopped by its PID when dropped.
struct DemoPrometheus {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for DemoPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Starts Prometheus (temp dir, ephemeral loopback port, 1 s scrape of the
/// target app as job "target-app"), and waits until it is ready.
async fn demo_prometheus(target: std::net::SocketAddr) -> anyhow::Result<DemoPrometheus> {
    let dir = tempfile::tempdir().context("temp dir for Prometheus")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: target-app\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )?;
    let child = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("failed to start prometheus")?;
    let p = DemoPrometheus {
        child,
        _dir: dir,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{}/-/ready", p.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("prometheus did not become ready")
}

async fn demo(duration: Duration, outputs: &Outputs) -> Result<u8, Failure> {
    let duration = check_duration(duration)?;
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .context("failed to start the in-process target app")?;
    let host = format!("http://{}", app.addr);
    let tui = std::io::stdout().is_terminal();
    let mut view = ViewOpts {
        tui,
        ..ViewOpts::default()
    };
    let mut prometheus = None;
    if tui {
        view.slo = Some(
            slo::spec::parse(TARGET_APP_SLOS, Path::new("alerts/target-app.slo.yaml"))
                .context("the bundled SLO spec")?,
        );
        if on_path("prometheus") {
            match demo_prometheus(app.addr).await {
                Ok(p) => {
                    view.prometheus = Some(p.url.clone());
                    prometheus = Some(p);
                }
                Err(e) => {
                    view.hint = Some(format!(
                        "Prometheus did not start ({e:#}); client-side SLIs shown"
                    ))
                }
            }
        } else {
            view.hint = Some(
                "no prometheus on PATH (Debian: apt-get install prometheus): client-side SLIs shown".into(),
            );
        }
    }
    eprintln!(
        "loadgen demo: target app on {host}; running the bundled steady scenario for {}",
        humantime::format_duration(duration)
    );
    let mut plan = scenario::parse(loadgen::bundled::STEADY, Path::new("scenarios/steady.yaml"))?;
    plan.load = plan.load.with_duration(duration);
    let code = execute(plan, Some(host), outputs, None, view).await;
    drop(prometheus);
    app.shutdown().await;
    code
}

fn merge(paths: &[PathBuf], outputs: &Outputs) -> Result<u8, Failure> {
    let mut reports = Vec::new();
    for p in paths {
        reports.push((p.display().to_string(), report::read(p)?));
    }
    let merged = report::merge(&reports)?;
    stdout(&report::table::render(&merged))?;
    write_outputs(outputs, &merged, None)?;
    Ok(if merged.passed() { 0 } else { EXIT_THRESHOLD })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: error: failed to start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result: Result<u8, Failure> = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => {
                if let Some(host) = &args.host {
                    loadgen::client::Target::parse(host).map_err(|e| Failure {
                        code: EXIT_INVALID,
                        error: anyhow::anyhow!(
                            "invalid --host: {e} (e.g. --host http://127.0.0.1:8080)"
                        ),
                    })?;
                }
                let mut plan = load_plan(&args.scenario, args.duration)?;
                if args.shard_index >= args.shard_count {
                    return Err(Failure {
                        code: EXIT_INVALID,
                        error: anyhow::anyhow!(
                            "--shard-index {} is not below --shard-count {} (shards are 0..{})",
                            args.shard_index,
                            args.shard_count,
                            args.shard_count
                        ),
                    });
                }
                plan.load = plan.load.shard(args.shard_index, args.shard_count);
                let spans = ClientSpans::init(args.otlp_endpoint.as_deref(), args.trace_share)
                    .map_err(|e| Failure {
                        code: EXIT_INVALID,
                        error: e.into(),
                    })?;
                let slo = match &args.slo {
                    Some(p) => Some(slo::spec::load(p).map_err(|e| Failure {
                        code: EXIT_INVALID,
                        error: anyhow::anyhow!("{e}"),
                    })?),
                    None => None,
                };
                let view = ViewOpts {
                    tui: args.tui,
                    slo,
                    prometheus: args.prometheus.clone(),
                    hint: None,
                };
                execute(plan, args.host, &args.outputs, spans, view).await
            }
            Command::Validate { scenario } => {
                let plan = load_plan(&scenario, None)?;
                stdout(&format!(
                    "{}: ok ({} scenarios, {} request names, {} thresholds, {})\n",
                    scenario.display(),
                    plan.scenarios.len(),
                    plan.names.len(),
                    plan.thresholds.len(),
                    humantime::format_duration(plan.load.duration())
                ))?;
                Ok(0)
            }
            Command::Demo { duration, outputs } => demo(duration, &outputs).await,
            Command::Merge { reports, outputs } => merge(&reports, &outputs),
            Command::Schema => {
                stdout(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&scenario::json_schema()).unwrap_or_default()
                ))?;
                Ok(0)
            }
        }
    });
    // Work that outlived the run (a host lookup the resolver still holds)
    // does not hold the exit: everything the run writes is written by now.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            use std::io::Write;
            // Never a panic, even when stderr is closed.
            let _ = writeln!(std::io::stderr(), "loadgen: error: {:#}", f.error);
            ExitCode::from(f.code)
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
