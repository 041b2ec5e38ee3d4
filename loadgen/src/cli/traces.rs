//! The trace flags of `loadgen run` (`--trace-sink`, `--trace-forward`,
//! `--trace-wait`; `--traces-from`, `--traces-delay`): the embedded OTLP
//! receiver started before the run, or a trace store asked after it; the
//! run told to keep its requests with their trace ids (for the receiver,
//! all with one prefix it keeps), and after the run the join of both into
//! the report's `bottlenecks` ([`crate::bottleneck`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use common::report::{Bottlenecks, RequestBottleneck, SpanAttribute, SpanTime};

use super::error::CliError;
use crate::bottleneck::{self, Options};
use crate::live::Live;
use crate::recorder::RunResult;
use crate::scenario::Plan;
use crate::trace_fetch::{self, FetchConfig, Kind};
use crate::trace_sink::{Keep, SinkConfig, TraceSink};
use crate::traced::Chosen;
use crate::tui::traces::{TracesState, build_panel};

/// Most traces fetched from a store after a run.
pub(super) const MAX_FETCHES: usize = 1000;

fn store(s: &str) -> Result<(Kind, String), String> {
    let hint = || {
        format!(
            "{s:?}: expected KIND=URL, KIND one of {}, e.g. tempo=http://tempo:3200",
            Kind::NAMES
        )
    };
    let (kind, url) = s.split_once('=').ok_or_else(hint)?;
    let kind = Kind::parse(kind).ok_or_else(hint)?;
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?}: {e} ({})", hint()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("{url:?}: not an http(s) URL ({})", hint()));
    }
    Ok((kind, url.trim_end_matches('/').to_owned()))
}

fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    super::shared::socket_addr(s, "127.0.0.1:4318")
}

// The flags (no doc comment: clap would take it for help text).
#[derive(Debug, Args, Default)]
pub(super) struct TraceArgs {
    /// Receive the target's spans over OTLP (HTTP protobuf or JSON at /v1/traces, and
    /// gRPC, on this one address, e.g. 127.0.0.1:4318) and report where the slow
    /// requests' time goes; point the service's OTLP traces exporter here.
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    trace_sink: Option<SocketAddr>,
    /// Also forward every export the sink receives to this collector (its base URL,
    /// e.g. http://collector:4318; sent as OTLP/HTTP protobuf).
    #[arg(long, value_name = "URL", requires = "trace_sink")]
    trace_forward: Option<String>,
    /// After the run, wait at most this long for the last spans (exporters send in
    /// batches, every 5 s by default); stops early once a second passes with none.
    #[arg(long, value_name = "DURATION", default_value = "6s", value_parser = humantime::parse_duration, requires = "trace_sink")]
    trace_wait: Duration,
    /// After the run, fetch the slow and typical requests' traces from a trace store
    /// instead: tempo=URL (Grafana Tempo), jaeger=URL (Jaeger's query service) or
    /// jaeger-v3=URL (its OTLP API); a bearer token is read from LOADGEN_TRACES_TOKEN.
    #[arg(long, value_name = "KIND=URL", value_parser = store, conflicts_with = "trace_sink")]
    traces_from: Option<(Kind, String)>,
    /// Wait this long after the run before fetching (stores ingest with a delay).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, requires = "traces_from")]
    traces_delay: Duration,
}

/// The checked flags.
#[derive(Debug, Clone, Default)]
pub(super) struct Traces {
    pub sink: Option<SocketAddr>,
    pub forward: Option<String>,
    pub wait: Duration,
    /// The trace store to fetch from after the run, and its base URL.
    pub from: Option<(Kind, String)>,
    pub delay: Duration,
}

impl TraceArgs {
    pub(super) fn into_traces(self) -> Result<Traces, CliError> {
        if self.trace_wait > Duration::from_secs(600) {
            return Err(CliError::invalid(anyhow::anyhow!(
                "--trace-wait {}: at most 10m (e.g. 6s)",
                humantime::format_duration(self.trace_wait)
            )));
        }
        if self.traces_delay > Duration::from_secs(3600) {
            return Err(CliError::invalid(anyhow::anyhow!(
                "--traces-delay {}: at most 1h (e.g. 10s)",
                humantime::format_duration(self.traces_delay)
            )));
        }
        Ok(Traces {
            sink: self.trace_sink,
            forward: self.trace_forward,
            wait: self.trace_wait,
            from: self.traces_from,
            delay: self.traces_delay,
        })
    }
}

/// Where the run's spans come from: a running receiver and the prefix of
/// the run's trace ids, or a trace store asked after the run.
pub(super) enum Receiving {
    Sink {
        sink: Arc<TraceSink>,
        prefix: u32,
        wait: Duration,
    },
    Store {
        kind: Kind,
        url: String,
        delay: Duration,
        quiet: bool,
    },
}

impl Traces {
    /// Starts the receiver, if asked for; says where it listens unless
    /// `quiet` (a port loadgen chose is always said).
    pub(super) async fn start(&self, quiet: bool) -> Result<Option<Receiving>, CliError> {
        if let Some((kind, url)) = &self.from {
            return Ok(Some(Receiving::Store {
                kind: *kind,
                url: url.clone(),
                delay: self.delay,
                quiet,
            }));
        }
        let Some(addr) = self.sink else {
            return Ok(None);
        };
        let r = Receiving::sink(addr, self.forward.clone(), self.wait).await?;
        if let Some(at) = r.sink_addr()
            && (!quiet || addr.port() == 0)
        {
            eprintln!(
                "loadgen: receiving spans at {at} (OTLP/HTTP: http://{at}/v1/traces, and OTLP/gRPC)"
            );
        }
        Ok(Some(r))
    }
}

/// How a run gets its spans: from its flags, or from a receiver the
/// command started itself (`loadgen demo`, which needs its address first).
pub(super) enum Tracing {
    Flags(Traces),
    Started(Receiving),
}

impl Default for Tracing {
    fn default() -> Self {
        Tracing::Flags(Traces::default())
    }
}

impl From<Traces> for Tracing {
    fn from(t: Traces) -> Self {
        Tracing::Flags(t)
    }
}

impl Tracing {
    pub(super) async fn start(self, quiet: bool) -> Result<Option<Receiving>, CliError> {
        match self {
            Tracing::Flags(t) => t.start(quiet).await,
            Tracing::Started(r) => Ok(Some(r)),
        }
    }
}

impl Receiving {
    /// Binds a receiver on `addr` that keeps the spans of this run's
    /// traces (a fresh prefix of their ids), forwarding everything to
    /// `forward` if given; `wait` is how long the end of the run waits for
    /// the last spans.
    pub(super) async fn sink(
        addr: SocketAddr,
        forward: Option<String>,
        wait: Duration,
    ) -> Result<Receiving, CliError> {
        // Never 0: a trace id is not all zeros in its top bits either way.
        let prefix = rand::random::<u32>() | 1;
        let mut cfg = SinkConfig::new(addr);
        cfg.keep = Keep::Prefix(prefix);
        cfg.forward = forward;
        let sink = TraceSink::bind(cfg).await.map_err(|e| match e {
            crate::trace_sink::SinkError::Bind { .. } => {
                CliError::failure(anyhow::Error::new(e).context(format!("--trace-sink {addr}")))
            }
            other => CliError::invalid(anyhow::anyhow!("invalid --trace-forward: {other}")),
        })?;
        Ok(Receiving::Sink {
            sink: Arc::new(sink),
            prefix,
            wait,
        })
    }

    /// Where the receiver listens, if this is one.
    pub(super) fn sink_addr(&self) -> Option<SocketAddr> {
        match self {
            Receiving::Sink { sink, .. } => Some(sink.local_addr()),
            Receiving::Store { .. } => None,
        }
    }

    /// The live view's panel for this way of getting spans: kept fresh
    /// from the receiver every `every` until `stop`, or a hint saying when
    /// a trace store is read.
    pub(super) fn live_panel(
        &self,
        live: Arc<Live>,
        every: Duration,
        stop: Arc<AtomicBool>,
    ) -> Arc<TracesState> {
        match self {
            Receiving::Sink { sink, .. } => {
                let source = format!("trace sink {}", sink.local_addr());
                let state = Arc::new(TracesState::hint(
                    &source,
                    "waiting for the first spans (point the service's OTLP traces exporter here)",
                ));
                tokio::spawn(refresh_live(
                    sink.clone(),
                    live,
                    state.clone(),
                    source,
                    every,
                    stop,
                ));
                state
            }
            Receiving::Store { kind, url, .. } => Arc::new(TracesState::hint(
                &format!("{} {url}", kind.source()),
                "the slow requests' traces are fetched from the store after the run (see the summary)",
            )),
        }
    }

    /// The top 32 bits of every trace id the run sends, for a receiver.
    pub(super) fn prefix(&self) -> Option<u32> {
        match self {
            Receiving::Sink { prefix, .. } => Some(*prefix),
            Receiving::Store { .. } => None,
        }
    }

    /// After the run: the spans of its traces, and the analysis.
    pub(super) async fn finish(
        self,
        plan: &Plan,
        run: &RunResult,
        interrupted: bool,
    ) -> Bottlenecks {
        match self {
            Receiving::Sink { sink, wait, .. } => {
                finish_sink(sink, wait, plan, run, interrupted).await
            }
            Receiving::Store {
                kind,
                url,
                delay,
                quiet,
            } => finish_store(kind, &url, delay, quiet, plan, run, interrupted).await,
        }
    }
}

/// Waits for the last spans (at most `wait`; a quiet second ends it, and
/// so does `interrupted`), stops the receiver and analyses the run.
async fn finish_sink(
    sink: Arc<TraceSink>,
    wait: Duration,
    plan: &Plan,
    run: &RunResult,
    interrupted: bool,
) -> Bottlenecks {
    if !interrupted {
        let until = Instant::now() + wait;
        let mut last = sink.stats().received_spans;
        let mut quiet_since = Instant::now();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = sink.stats().received_spans;
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_secs(1) && last > 0 {
                break;
            }
        }
    }
    sink.shutdown().await;
    let spans = sink.take_all();
    let kept = sink.stats().kept_spans;
    analysed(&chosen(plan, run, usize::MAX), &spans, kept, "trace-sink")
}

/// Rebuilds the live panel from the latest snapshot's kept requests and
/// the spans the sink holds, every `every` until `stop`.
async fn refresh_live(
    sink: Arc<TraceSink>,
    live: Arc<Live>,
    state: Arc<TracesState>,
    source: String,
    every: Duration,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let snap = live.snapshot();
        let stats = sink.stats();
        if stats.received_spans > 0 {
            // The copy out of the store and the analysis run off the
            // runtime that sends the load.
            let (sink, state, source) = (sink.clone(), state.clone(), source.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let chosen = &snap.traced;
                let spans = sink.spans_for(&crate::traced::trace_ids(chosen));
                state.set(build_panel(
                    &source,
                    chosen,
                    &spans,
                    (stats.received_spans, stats.kept_spans),
                ));
            })
            .await;
        }
        let until = Instant::now() + every;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits `delay` (not when `interrupted`), fetches the chosen requests'
/// traces from the store and analyses the run.
async fn finish_store(
    kind: Kind,
    url: &str,
    delay: Duration,
    quiet: bool,
    plan: &Plan,
    run: &RunResult,
    interrupted: bool,
) -> Bottlenecks {
    let chosen = chosen(plan, run, MAX_FETCHES);
    let ids = crate::traced::trace_ids(&chosen);
    if !quiet {
        eprintln!(
            "loadgen: fetching {} traces from {} at {url}{}",
            ids.len(),
            kind.source(),
            if interrupted || delay.is_zero() {
                String::new()
            } else {
                format!(" in {}", humantime::format_duration(delay))
            }
        );
    }
    if !interrupted {
        tokio::time::sleep(delay).await;
    }
    let cfg = FetchConfig {
        token: std::env::var(trace_fetch::TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty()),
        deadline: if interrupted {
            Duration::from_secs(10)
        } else {
            FetchConfig::default().deadline
        },
        ..FetchConfig::default()
    };
    let (spans, stats) = trace_fetch::fetch(kind, url, &ids, &cfg).await;
    if !quiet || stats.failed > 0 {
        eprintln!(
            "loadgen: {} traces fetched from {}, {} not found, {} failed{}",
            stats.fetched,
            kind.source(),
            stats.not_found,
            stats.failed,
            stats
                .last_error
                .as_deref()
                .map(|e| format!(" (last: {e})"))
                .unwrap_or_default()
        );
    }
    let kept = spans.values().map(|s| s.len() as u64).sum();
    analysed(&chosen, &spans, kept, kind.source())
}

/// The chosen requests of a finished run, at most `max`.
fn chosen(plan: &Plan, run: &RunResult, max: usize) -> Vec<Chosen> {
    crate::traced::choose(
        &plan.names,
        &run.recorded.per_name,
        &run.recorded.traced,
        max,
    )
}

/// The analysis of the chosen requests against `spans`.
fn analysed(
    chosen: &[Chosen],
    spans: &std::collections::HashMap<u128, Vec<bottleneck::Span>>,
    kept: u64,
    source: &str,
) -> Bottlenecks {
    let requests = chosen
        .iter()
        .map(|c| {
            let b = bottleneck::analyse(
                &c.name,
                &c.slow,
                &c.typical,
                &c.sample,
                spans,
                Options::default(),
            );
            RequestBottleneck {
                request: b.request,
                slow: b.slow as u64,
                slow_without_trace: b.slow_missing as u64,
                typical: b.typical as u64,
                typical_without_trace: b.typical_missing as u64,
                bottleneck: b.bottleneck,
                spans: b
                    .lines
                    .into_iter()
                    .map(|l| SpanTime {
                        span: l.span,
                        typical_ms: l.typical_ms,
                        slow_ms: l.slow_ms,
                        slow_p99_ms: l.slow_p99_ms,
                        share: l.share,
                    })
                    .collect(),
                separators: b
                    .separators
                    .into_iter()
                    .map(|s| SpanAttribute {
                        span: s.span,
                        key: s.key,
                        value: s.value,
                        slow: s.slow,
                        all: s.all,
                    })
                    .collect(),
            }
        })
        .collect();
    Bottlenecks {
        source: source.into(),
        spans: kept,
        requests,
    }
}
