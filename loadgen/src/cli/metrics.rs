//! The client-metrics flags (`--remote-write`, `--metrics-listen`,
//! `--run-id`, `--metrics-label`) of `loadgen run` and `loadgen URL`:
//! checked into an [`Export`], started before the run and finished after
//! it (the final reading flushed, the last scrape awaited), which gives the
//! report's `metrics` section.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use common::report::{MetricsExport, RemoteWriteReport};

use std::sync::atomic::Ordering;

use super::error::CliError;
use crate::engine::Control;
use crate::metrics::listen::Listener;
use crate::metrics::remote_write::{self, Writer};
use crate::metrics::{RUN_LABEL, Sink, check_label_name, fresh_run_id};

/// The label a shard of a split run adds with its index.
pub const SHARD_LABEL: &str = "loadgen_shard";

/// The environment variable of the basic-auth password (never a flag: a
/// command line is visible to every user of the machine).
pub const PASSWORD_ENV: &str = "LOADGEN_REMOTE_WRITE_PASSWORD";

/// `--metrics-listen`'s address, with an example when it is not one.
fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    super::shared::socket_addr(s, "127.0.0.1:9464, 0.0.0.0:9464, or [::]:9464")
}

// The flags (no doc comment: clap would take it for help text).
#[derive(Args, Default)]
pub(super) struct MetricsArgs {
    /// Send the client metrics to this Prometheus remote-write receiver while the run
    /// runs (remote write 1.0, protobuf + snappy), e.g. http://127.0.0.1:9090/api/v1/write;
    /// credentials in the URL are basic auth.
    #[arg(long, value_name = "URL")]
    remote_write: Option<String>,
    /// How often to send a reading with --remote-write (the final one is sent at the end).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    remote_write_interval: Duration,
    /// How long one write request may take, and how long the final flush may wait at
    /// the end of the run.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    remote_write_timeout: Duration,
    /// Basic-auth user for --remote-write; the password comes from
    /// LOADGEN_REMOTE_WRITE_PASSWORD.
    #[arg(long, value_name = "USER", requires = "remote_write")]
    remote_write_user: Option<String>,
    /// Bearer token for --remote-write (better from the environment); a
    /// --remote-write-user given too wins.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LOADGEN_REMOTE_WRITE_TOKEN",
        hide_env_values = true
    )]
    remote_write_token: Option<String>,
    /// Serve the client metrics as OpenMetrics text at http://ADDR/metrics while the
    /// run runs, for a Prometheus that scrapes (e.g. 127.0.0.1:9464; port 0 picks one
    /// and prints it).
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    metrics_listen: Option<SocketAddr>,
    /// After the run, keep serving --metrics-listen until a scrape has read the final
    /// totals, at most this long (set it to the scrape interval to lose nothing).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration, requires = "metrics_listen")]
    metrics_linger: Duration,
    /// The run's id: the loadgen_run label on every series (default: a fresh id); in the
    /// report as run_id, which `slo gate --compare-client` selects by. Letters, digits
    /// and . _ : - only.
    #[arg(long, value_name = "ID", env = "LOADGEN_RUN_ID")]
    run_id: Option<String>,
    /// A label on every series of the client metrics (repeatable), e.g. --metrics-label team=shop.
    #[arg(long = "metrics-label", value_name = "NAME=VALUE")]
    metrics_labels: Vec<String>,
}

impl std::fmt::Debug for MetricsArgs {
    // Never prints the URL (it may hold credentials) or the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsArgs")
            .field("remote_write", &self.remote_write.as_deref().map(|_| "***"))
            .field("remote_write_interval", &self.remote_write_interval)
            .field("remote_write_timeout", &self.remote_write_timeout)
            .field("remote_write_user", &self.remote_write_user)
            .field(
                "remote_write_token",
                &self.remote_write_token.as_deref().map(|_| "***"),
            )
            .field("metrics_listen", &self.metrics_listen)
            .field("metrics_linger", &self.metrics_linger)
            .field("run_id", &self.run_id)
            .field("metrics_labels", &self.metrics_labels)
            .finish()
    }
}

/// Remote write as the flags ask for it (no `Debug`: the URL may hold
/// credentials).
#[derive(Clone)]
pub(super) struct RemoteSpec {
    pub url: String,
    pub auth: remote_write::Auth,
    pub interval: Duration,
    pub timeout: Duration,
}

/// The checked flags.
#[derive(Clone, Default)]
pub(super) struct Export {
    /// Given by --run-id, or made when the metrics are on.
    pub run_id: Option<String>,
    pub labels: Vec<(String, String)>,
    pub listen: Option<SocketAddr>,
    pub linger: Duration,
    pub remote: Option<RemoteSpec>,
}

const MAX_RUN_ID: usize = 128;
const MAX_LABELS: usize = 32;
const MAX_LABEL_VALUE: usize = 1024;

fn invalid(msg: String) -> CliError {
    CliError::invalid(anyhow::anyhow!(msg))
}

impl MetricsArgs {
    /// Checks the flags; `shard` is (index, count) of a split run, whose
    /// series get `loadgen_shard`.
    pub(super) fn into_export(self, shard: (u32, u32)) -> Result<Export, CliError> {
        // An id that PromQL, a dashboard variable and a file name all take as is.
        if let Some(id) = &self.run_id
            && (id.is_empty()
                || id.len() > MAX_RUN_ID
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(invalid(format!(
                "invalid --run-id {:?}: 1 to {MAX_RUN_ID} letters, digits, '.', '_', ':' or '-' (e.g. --run-id checkout-2026-12-02)",
                common::input::cut(id, 80)
            )));
        }
        if self.metrics_labels.len() > MAX_LABELS {
            return Err(invalid(format!(
                "{} --metrics-label flags: at most {MAX_LABELS}",
                self.metrics_labels.len()
            )));
        }
        let mut labels: Vec<(String, String)> = Vec::new();
        for l in &self.metrics_labels {
            let Some((name, value)) = l.split_once('=') else {
                return Err(invalid(format!(
                    "invalid --metrics-label {l:?}: write NAME=VALUE (e.g. --metrics-label team=shop)"
                )));
            };
            check_label_name(name)
                .map_err(|e| invalid(format!("invalid --metrics-label {l:?}: {e}")))?;
            if name == SHARD_LABEL && shard.1 > 1 {
                return Err(invalid(format!(
                    "invalid --metrics-label {l:?}: a split run sets {SHARD_LABEL} itself (the --shard-index)"
                )));
            }
            if value.len() > MAX_LABEL_VALUE {
                return Err(invalid(format!(
                    "invalid --metrics-label {name}=...: the value is over {MAX_LABEL_VALUE} bytes"
                )));
            }
            if labels.iter().any(|(n, _)| n == name) {
                return Err(invalid(format!("--metrics-label {name} is given twice")));
            }
            labels.push((name.to_owned(), value.to_owned()));
        }
        if shard.1 > 1 {
            labels.push((SHARD_LABEL.to_owned(), shard.0.to_string()));
        }
        let remote = match self.remote_write {
            None => None,
            Some(url) => {
                let interval = self.remote_write_interval;
                if interval < Duration::from_millis(100) || interval > Duration::from_secs(3600) {
                    return Err(invalid(format!(
                        "--remote-write-interval {}: from 100ms to 1h (e.g. 5s)",
                        humantime::format_duration(interval)
                    )));
                }
                let timeout = self.remote_write_timeout;
                if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(600) {
                    return Err(invalid(format!(
                        "--remote-write-timeout {}: from 100ms to 10m (e.g. 5s)",
                        humantime::format_duration(timeout)
                    )));
                }
                let auth = match (self.remote_write_user, self.remote_write_token) {
                    (Some(user), _) => remote_write::Auth::Basic {
                        user,
                        password: std::env::var(PASSWORD_ENV).unwrap_or_default(),
                    },
                    (None, Some(token)) => remote_write::Auth::Bearer(token),
                    (None, None) => remote_write::Auth::None,
                };
                Some(RemoteSpec {
                    url,
                    auth,
                    interval,
                    timeout,
                })
            }
        };
        let on = remote.is_some() || self.metrics_listen.is_some();
        Ok(Export {
            run_id: self.run_id.or_else(|| on.then(fresh_run_id)),
            labels,
            listen: self.metrics_listen,
            linger: self.metrics_linger,
            remote,
        })
    }
}

/// The exports of a running run.
pub(super) struct Running {
    sink: Sink,
    labels: Vec<(String, String)>,
    listener: Option<Listener>,
    linger: Duration,
    writer: Option<Writer>,
    timeout: Duration,
}

impl Export {
    /// Starts the endpoint and the sender (nothing when neither is asked
    /// for); says where the endpoint listens unless `quiet`.
    pub(super) async fn start(&self, quiet: bool) -> Result<Option<Running>, CliError> {
        if self.listen.is_none() && self.remote.is_none() {
            return Ok(None);
        }
        let run_id = self.run_id.clone().unwrap_or_else(fresh_run_id);
        let sink = Sink::new(run_id, self.labels.clone());
        let listener = match self.listen {
            Some(addr) => {
                let l = Listener::bind(addr, sink.readings.subscribe(), sink.finished.subscribe())
                    .await
                    .map_err(|e| {
                        CliError::failure(anyhow::Error::new(e).context(format!(
                            "--metrics-listen {addr}: is another process on that port? (port 0 picks a free one)"
                        )))
                    })?;
                // A port loadgen chose is said even with --quiet: it is how to reach it.
                if !quiet || addr.port() == 0 {
                    eprintln!(
                        "loadgen: serving the client metrics at http://{}/metrics ({RUN_LABEL}=\"{}\")",
                        l.local_addr(),
                        sink.run_id
                    );
                }
                Some(l)
            }
            None => None,
        };
        let (writer, timeout) = match &self.remote {
            Some(r) => {
                let w = Writer::start(
                    remote_write::Config {
                        url: r.url.clone(),
                        auth: r.auth.clone(),
                        interval: r.interval,
                        timeout: r.timeout,
                        max_queue: 32,
                    },
                    sink.readings.subscribe(),
                    sink.finished.subscribe(),
                )
                .map_err(|e| CliError::invalid(anyhow::anyhow!("invalid --remote-write: {e}")))?;
                (Some(w), r.timeout)
            }
            None => (None, Duration::ZERO),
        };
        Ok(Some(Running {
            sink,
            labels: self.labels.clone(),
            listener,
            linger: self.linger,
            writer,
            timeout,
        }))
    }
}

impl Running {
    /// Where the engine publishes its readings.
    pub(super) fn sink(&self) -> Sink {
        self.sink.clone()
    }

    /// After the run (its final reading published): flushes remote write
    /// (at most its timeout; half a second when `interrupted`), waits for
    /// the final scrape (at most the linger; not at all when interrupted),
    /// and says how it went, warning on stderr about remote-write failures.
    /// A Ctrl-C while it waits cuts the waits short the same way.
    pub(super) async fn finish(self, control: &Control) -> MetricsExport {
        let interrupted = control.interrupted.load(Ordering::SeqCst);
        let hurry = Duration::from_millis(500);
        let flush = if interrupted {
            hurry.min(self.timeout)
        } else {
            self.timeout
        };
        let linger = if interrupted {
            Duration::ZERO
        } else {
            self.linger
        };
        let remote = async {
            match self.writer {
                Some(w) => Some(w.finish_or(flush, control.until_interrupted()).await),
                None => None,
            }
        };
        let listen = async {
            match self.listener {
                Some(l) => Some(l.finish_or(linger, control.until_interrupted()).await),
                None => None,
            }
        };
        let (remote_write, listen) = tokio::join!(remote, listen);
        if let Some(r) = &remote_write {
            warn_remote(r);
        }
        MetricsExport {
            labels: self.labels.into_iter().collect(),
            remote_write,
            listen,
        }
    }
}

fn warn_remote(r: &RemoteWriteReport) {
    if r.failed == 0 && r.dropped == 0 && r.final_sent {
        return;
    }
    let last = r
        .last_error
        .as_deref()
        .map(|e| format!("; last error: {e}"))
        .unwrap_or_default();
    eprintln!(
        "loadgen: warning: remote write to {}: {} write requests accepted, {} failed, {} readings dropped{}{last}",
        r.url,
        r.sent,
        r.failed,
        r.dropped,
        if r.final_sent {
            ""
        } else {
            "; the final totals were NOT delivered"
        },
    );
}
