//! A run as `loadgen run` and `loadgen demo` do it: the signal handler, the
//! live view (and its SLO panel) or the progress line, the engine, the
//! client spans' flush, then the summary (on stdout, on stderr when the
//! report goes to stdout, not at all with `--quiet`), the output files and
//! the exit code. It takes plain values; the commands have checked them.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::error::{CliError, Exit};
use super::metrics::Export;
use super::shared::{check_outputs, summary};
use super::signal;
use super::traces::Tracing;
use crate::client_spans::ClientSpans;
use crate::engine::{self, Control};
use crate::live::Live;
use crate::output::{self, Outputs};
use crate::report::{self, Report};
use crate::scenario::{Load, Plan};
use crate::tui::traces::TracesState;
use crate::tui::{SloState, Tui};

/// What the live view shows.
#[derive(Default)]
pub(super) struct View {
    /// Show the live terminal view.
    pub tui: bool,
    /// The SLOs for its SLO panel.
    pub slo: Option<slo::model::Service>,
    /// The Prometheus to compute them from.
    pub prometheus: Option<String>,
    /// Shown in the SLO panel when there is no Prometheus.
    pub hint: Option<String>,
}

/// Whether the live view can run: a terminal to draw on (stdout) and to read
/// keys from (stdin).
pub(super) fn has_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// Runs `plan` against `host` (or its base URL), shows `view`, writes
/// `outputs`, and returns the run's exit code.
pub(super) async fn execute(
    plan: Plan,
    host: Option<String>,
    outputs: &Outputs,
    spans: Option<ClientSpans>,
    view: View,
    (export, traces): (Export, Tracing),
) -> Result<Exit, CliError> {
    check_outputs(outputs)?;
    let exporting = export.start(outputs.quiet).await?;
    let receiving = traces.start(outputs.quiet).await?;
    let control = Arc::new(Control::default());
    signal::install(&control);
    let target = host.clone().unwrap_or_else(|| plan.target_shown.clone());
    let stop_refresh = Arc::new(AtomicBool::new(false));
    // Without a terminal the run goes on headless rather than failing.
    let terminal = has_terminal();
    if view.tui && !terminal {
        eprintln!("loadgen: warning: --tui needs a terminal; running without the live view");
    }
    let (live, tui) = if view.tui && terminal {
        let marks = view
            .slo
            .as_ref()
            .map(crate::tui::latency_marks)
            .unwrap_or_default();
        let live = Arc::new(Live::with_marks(marks));
        let state = match (view.slo, view.prometheus) {
            (Some(service), Some(url)) => {
                let prom = slo::prom::Prom::new(slo::prom::PromConfig::new(&url))
                    .map_err(|e| CliError::invalid(anyhow::anyhow!("--prometheus {url}: {e}")))?;
                let state = Arc::new(SloState::default());
                tokio::spawn(crate::tui::refresh_slos(
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
        let open = matches!(plan.load, Load::Open { .. });
        let spans = match &receiving {
            Some(r) => r.live_panel(live.clone(), Duration::from_secs(2), stop_refresh.clone()),
            None => Arc::new(TracesState::hint(
                "none",
                "add --trace-sink ADDR and point the service's OTLP traces exporter there \
                 (or --traces-from) to see which server spans the slow requests spend their time in",
            )),
        };
        match Tui::start(live.clone(), control.clone(), state, spans, open) {
            Ok(tui) => (Some(live), Some(tui)),
            Err(e) => {
                eprintln!(
                    "loadgen: warning: could not take over the terminal ({e}); running without the live view"
                );
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let progress = crate::progress::wanted(
        std::io::stderr().is_terminal(),
        tui.is_some(),
        outputs.quiet,
    )
    .then(|| {
        tokio::spawn(crate::progress::show(
            control.clone(),
            crate::progress::Extent {
                duration: plan.load.duration(),
                budget: plan.requests,
            },
        ))
    });
    if let (Some(s), Some(prefix)) = (&spans, receiving.as_ref().and_then(|r| r.prefix())) {
        // Traces that start at a client span are the run's too.
        s.set_trace_prefix(prefix);
    }
    let spans = spans.map(Arc::new);
    let run = engine::run(
        plan.clone(),
        host,
        outputs.hdr_log.is_some(),
        control.clone(),
        spans.clone(),
        live,
        engine::Outlets {
            metrics: exporting.as_ref().map(|e| e.sink()),
            traced: receiving.is_some(),
            trace_prefix: receiving.as_ref().and_then(|r| r.prefix()),
        },
    )
    .await;
    let hurry = control.hurry.load(Ordering::SeqCst);
    stop_refresh.store(true, Ordering::Relaxed);
    if let Some(t) = tui {
        t.finish();
    }
    if let Some(spans) = spans
        && !hurry
    {
        let interrupted = control.interrupted.load(Ordering::SeqCst);
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
        crate::progress::clear();
    }
    let exported = match exporting {
        Some(e) => Some(e.finish(&control).await),
        None => None,
    };
    let run = run.context("the run failed")?;
    let bottlenecks = match receiving {
        Some(r) => Some(
            r.finish(&plan, &run, control.interrupted.load(Ordering::SeqCst))
                .await,
        ),
        None => None,
    };
    let mut report = report::build(&plan, &target, &run);
    report.bottlenecks = bottlenecks;
    report.run_id = export.run_id.clone().or(report.run_id);
    report.metrics = exported;
    // A closed stdout (`| head`) does not stop the reports from being written.
    summary(outputs, &report::table::render(&report))?;
    output::write(
        outputs,
        &report,
        Some((run.started_at, &run.recorded.interval_histograms)),
    )?;
    Ok(exit_of_run(&report))
}

/// The exit code of a finished run: 99 when a threshold failed, 1 when it was
/// interrupted or no request succeeded (the reason goes to stderr), else 0.
fn exit_of_run(report: &Report) -> Exit {
    let none = report.no_success();
    if let Some(why) = &none {
        eprintln!("loadgen: error: {why}");
    }
    if !report.passed() {
        Exit::Failed
    } else if report.interrupted || none.is_some() {
        Exit::Failure
    } else {
        Exit::Ok
    }
}
