//! The trace flags of `loadgen run` (`--trace-sink`, `--trace-forward`,
//! `--trace-wait`): the embedded OTLP receiver started before the run,
//! the run told to keep its requests with their trace ids (all with one
//! prefix the receiver keeps), and after the run the join of both into the
//! report's `bottlenecks` ([`crate::bottleneck`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Args;
use common::report::{Bottlenecks, RequestBottleneck, SpanAttribute, SpanTime};

use super::error::CliError;
use crate::bottleneck::{self, Options};
use crate::recorder::RunResult;
use crate::scenario::Plan;
use crate::trace_sink::{Keep, SinkConfig, TraceSink};

fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!(
            "{s:?} is not an IP address and port (e.g. 127.0.0.1:4318; port 0 picks a free one)"
        )
    })
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
}

/// The checked flags.
#[derive(Debug, Clone, Default)]
pub(super) struct Traces {
    pub sink: Option<SocketAddr>,
    pub forward: Option<String>,
    pub wait: Duration,
}

impl TraceArgs {
    pub(super) fn into_traces(self) -> Result<Traces, CliError> {
        if self.trace_wait > Duration::from_secs(600) {
            return Err(CliError::invalid(anyhow::anyhow!(
                "--trace-wait {}: at most 10m (e.g. 6s)",
                humantime::format_duration(self.trace_wait)
            )));
        }
        Ok(Traces {
            sink: self.trace_sink,
            forward: self.trace_forward,
            wait: self.trace_wait,
        })
    }
}

/// A running receiver and the prefix of the run's trace ids.
pub(super) struct Receiving {
    sink: TraceSink,
    prefix: u32,
    wait: Duration,
}

impl Traces {
    /// Starts the receiver, if asked for; says where it listens unless
    /// `quiet` (a port loadgen chose is always said).
    pub(super) async fn start(&self, quiet: bool) -> Result<Option<Receiving>, CliError> {
        let Some(addr) = self.sink else {
            return Ok(None);
        };
        // Never 0: a trace id is not all zeros in its top bits either way.
        let prefix = rand::random::<u32>() | 1;
        let mut cfg = SinkConfig::new(addr);
        cfg.keep = Keep::Prefix(prefix);
        cfg.forward = self.forward.clone();
        let sink = TraceSink::bind(cfg).await.map_err(|e| match e {
            crate::trace_sink::SinkError::Bind { .. } => {
                CliError::failure(anyhow::Error::new(e).context(format!("--trace-sink {addr}")))
            }
            other => CliError::invalid(anyhow::anyhow!("invalid --trace-forward: {other}")),
        })?;
        if !quiet || addr.port() == 0 {
            eprintln!(
                "loadgen: receiving spans at {} (OTLP/HTTP: http://{}/v1/traces, and OTLP/gRPC)",
                sink.local_addr(),
                sink.local_addr()
            );
        }
        Ok(Some(Receiving {
            sink,
            prefix,
            wait: self.wait,
        }))
    }
}

impl Receiving {
    /// The top 32 bits of every trace id the run sends.
    pub(super) fn prefix(&self) -> u32 {
        self.prefix
    }

    /// After the run: waits for the last spans (at most the wait; a quiet
    /// second ends it, and so does `interrupted`), stops the receiver and
    /// analyses the run.
    pub(super) async fn finish(
        self,
        plan: &Plan,
        run: &RunResult,
        interrupted: bool,
    ) -> Bottlenecks {
        if !interrupted {
            let until = Instant::now() + self.wait;
            let mut last = self.sink.stats().received_spans;
            let mut quiet_since = Instant::now();
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = self.sink.stats().received_spans;
                if now != last {
                    last = now;
                    quiet_since = Instant::now();
                } else if quiet_since.elapsed() >= Duration::from_secs(1) && last > 0 {
                    break;
                }
            }
        }
        self.sink.shutdown().await;
        let spans = self.sink.take_all();
        let kept = self.sink.stats().kept_spans;
        analyse(plan, run, &spans, kept)
    }
}

/// The analysis of every request name of `run` against `spans`.
pub(super) fn analyse(
    plan: &Plan,
    run: &RunResult,
    spans: &std::collections::HashMap<u128, Vec<bottleneck::Span>>,
    kept: u64,
) -> Bottlenecks {
    let requests = plan
        .names
        .iter()
        .zip(&run.recorded.per_name)
        .zip(&run.recorded.traced)
        .filter(|((_, stats), _)| stats.count > 0)
        .map(|((name, stats), traced)| {
            let at = |q: f64| Duration::from_secs_f64(stats.percentile_ms(q, false).max(0.0) / 1e3);
            let (slow, typical) = traced.split(at(99.0), at(40.0), at(60.0));
            let b = bottleneck::analyse(
                name,
                &slow,
                &typical,
                &traced.sample(),
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
        source: "trace-sink".into(),
        spans: kept,
        requests,
    }
}
