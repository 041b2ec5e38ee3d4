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
use loadgen::report::{self, Report};
use loadgen::scenario::{self, Plan, ScenarioError};

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
    after_help = "Exit codes: 0 passed, 1 runtime failure or interrupted, 2 invalid input, 99 a threshold failed."
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
    #[command(flatten)]
    outputs: Outputs,
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

fn install_signal_handler(control: &Arc<Control>) {
    let control = control.clone();
    // Installed before goose starts, so goose's own handler stands aside.
    if let Err(e) = ctrlc::set_handler(move || {
        if control
            .interrupted
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            eprintln!("loadgen: interrupted twice, exiting without reports");
            std::process::exit(i32::from(EXIT_FAILURE));
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
) -> Result<u8, Failure> {
    let control = Arc::new(Control::default());
    install_signal_handler(&control);
    let target = host.clone().unwrap_or_else(|| plan.base_url.clone());
    let progress = std::io::stdout()
        .is_terminal()
        .then(|| tokio::spawn(progress(control.clone(), plan.load.duration())));
    let spans = spans.map(Arc::new);
    let run = engine::run(
        plan.clone(),
        host,
        outputs.hdr_log.is_some(),
        control,
        spans.clone(),
    )
    .await;
    if let Some(spans) = &spans {
        spans.shutdown();
    }
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[2K");
    }
    let run = run.context("the run failed")?;
    let report = Report::build(&plan, &target, &run);
    print!("{}", report::table::render(&report));
    write_outputs(
        outputs,
        &report,
        Some((run.started_at, &run.recorded.interval_histograms)),
    )?;
    Ok(if !report.passed() {
        EXIT_THRESHOLD
    } else if report.interrupted {
        EXIT_FAILURE
    } else {
        0
    })
}

fn load_plan(path: &Path, duration: Option<Duration>) -> Result<Plan, Failure> {
    let mut plan = scenario::load(path)?;
    if let Some(d) = duration {
        if d.is_zero() {
            return Err(Failure {
                code: EXIT_INVALID,
                error: anyhow::anyhow!("--duration must be more than 0"),
            });
        }
        plan.load = plan.load.with_duration(d);
    }
    Ok(plan)
}

async fn demo(duration: Duration, outputs: &Outputs) -> Result<u8, Failure> {
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .context("failed to start the in-process target app")?;
    let host = format!("http://{}", app.addr);
    eprintln!(
        "loadgen demo: target app on {host}; running the bundled steady scenario for {}",
        humantime::format_duration(duration)
    );
    let mut plan = scenario::parse(loadgen::bundled::STEADY, Path::new("scenarios/steady.yaml"))?;
    plan.load = plan.load.with_duration(duration);
    let code = execute(plan, Some(host), outputs, None).await;
    app.shutdown().await;
    code
}

fn merge(paths: &[PathBuf], outputs: &Outputs) -> Result<u8, Failure> {
    let mut reports = Vec::new();
    for p in paths {
        reports.push((p.display().to_string(), Report::read(p)?));
    }
    let merged = Report::merge(&reports)?;
    print!("{}", report::table::render(&merged));
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
                let plan = load_plan(&args.scenario, args.duration)?;
                let spans = ClientSpans::init(args.otlp_endpoint.as_deref(), args.trace_share)
                    .map_err(|e| Failure {
                        code: EXIT_INVALID,
                        error: e.into(),
                    })?;
                execute(plan, args.host, &args.outputs, spans).await
            }
            Command::Validate { scenario } => {
                let plan = load_plan(&scenario, None)?;
                println!(
                    "{}: ok ({} scenarios, {} request names, {} thresholds, {})",
                    scenario.display(),
                    plan.scenarios.len(),
                    plan.names.len(),
                    plan.thresholds.len(),
                    humantime::format_duration(plan.load.duration())
                );
                Ok(0)
            }
            Command::Demo { duration, outputs } => demo(duration, &outputs).await,
            Command::Merge { reports, outputs } => merge(&reports, &outputs),
            Command::Schema => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&scenario::json_schema()).unwrap_or_default()
                );
                Ok(0)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("loadgen: error: {:#}", f.error);
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
