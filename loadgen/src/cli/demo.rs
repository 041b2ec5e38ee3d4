//! `loadgen demo`: start the target app in-process and run the bundled
//! steady scenario against it; on a terminal, with the live view and an SLO
//! panel from the target app's own SLOs (server-side when a Prometheus can
//! be started, else client-side). The app exports its spans to a trace
//! sink of the run's own, so the report's `bottlenecks` and the live view's
//! "where the time goes" work with no set-up.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::error::{CliError, Exit};
use super::session::{self, View};
use super::shared::{OutputArgs, check_duration};
use super::traces::{Receiving, Tracing};
use crate::output::Outputs;
use crate::prometheus::{DemoPrometheus, on_path};

/// The target app's SLOs (alerts/target-app.slo.yaml), for the demo's SLO panel.
const TARGET_APP_SLOS: &str = include_str!("../../../alerts/target-app.slo.yaml");

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// How long to run (default 30s).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[command(flatten)]
    outputs: OutputArgs,
}

pub(super) async fn run(args: DemoArgs) -> Result<Exit, CliError> {
    let outputs = Outputs::from(args.outputs);
    let duration = check_duration(args.duration)?;
    // The app's spans go to a trace sink of the run's own, so the report and
    // the live view say where the slow requests spend their time.
    let receiving = Receiving::sink(
        "127.0.0.1:0".parse().context("loopback address")?,
        None,
        Duration::from_secs(3),
    )
    .await?;
    let tracer = match receiving.sink_addr() {
        Some(at) => target_app::telemetry::embedded_tracer(
            &format!("http://{at}"),
            Duration::from_millis(500),
        )
        .context("the target app's span exporter")?,
        None => None,
    };
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        tracing: tracer.is_some(),
        ..target_app::Config::default()
    })
    .await
    .context("failed to start the in-process target app")?;
    let host = format!("http://{}", app.addr);
    let tui = super::session::has_terminal();
    let mut view = View {
        tui,
        ..View::default()
    };
    let mut prometheus = None;
    if tui {
        view.slo = Some(
            slo::spec::parse(TARGET_APP_SLOS, Path::new("alerts/target-app.slo.yaml"))
                .context("the bundled SLO spec")?,
        );
        if on_path("prometheus") {
            match DemoPrometheus::start(app.addr).await {
                Ok(p) => {
                    view.prometheus = Some(p.url().to_owned());
                    prometheus = Some(p);
                }
                Err(e) => {
                    view.hint = Some(format!(
                        "Prometheus did not start ({:#}); client-side SLIs shown",
                        anyhow::Error::new(e)
                    ))
                }
            }
        } else {
            view.hint = Some(
                "no prometheus on PATH (Debian: apt-get install prometheus): client-side SLIs shown".into(),
            );
        }
    }
    if !outputs.quiet {
        eprintln!(
            "loadgen demo: target app on {host}, its spans to the trace sink on {}; running the bundled steady scenario for {}",
            receiving
                .sink_addr()
                .map_or("-".to_owned(), |a| a.to_string()),
            humantime::format_duration(duration)
        );
    }
    let mut plan =
        crate::scenario::parse(crate::bundled::STEADY, Path::new("scenarios/steady.yaml"))?;
    plan.load = plan.load.with_duration(duration);
    let code = session::execute(
        plan,
        Some(host),
        &outputs,
        None,
        view,
        (Default::default(), Tracing::Started(receiving)),
    )
    .await;
    drop(prometheus);
    app.shutdown().await;
    // Not shut down: the sink has stopped, and a flush would only wait on
    // it; the analysis has what the run's wait gathered. The app's tracer
    // (a process-wide static) keeps the provider, whose exporter thread
    // ends with the process.
    drop(tracer);
    code
}
