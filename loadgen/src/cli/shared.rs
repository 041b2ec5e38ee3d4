//! What several commands share: the output files they write, a scenario
//! with a `--duration` override, and stdout that a closed pipe does not fail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use crate::output::Outputs;
use crate::scenario::Plan;

// The files a command that produces a report can write (no doc comment:
// clap would take it for help text).
#[derive(Debug, Args, Default)]
pub(super) struct OutputArgs {
    /// Write the JSON report here (versioned; merges with `loadgen merge`); - for stdout.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write a JUnit XML file with one test case per threshold.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the HdrHistogram interval log of corrected latency (HdrHistogram's log
    /// format, one histogram per second, values in microseconds).
    #[arg(long)]
    hdr_log: Option<PathBuf>,
    /// Write a Markdown summary (for CI job summaries).
    #[arg(long)]
    summary_md: Option<PathBuf>,
    /// Write the JSON report to standard output (as --report - does), the summary then
    /// going to stderr; with --report FILE the file is written too.
    #[arg(long)]
    json: bool,
    /// Print no progress line and no summary: only errors, and the exit code (the files
    /// asked for are still written).
    #[arg(long)]
    quiet: bool,
}

impl From<OutputArgs> for Outputs {
    fn from(a: OutputArgs) -> Self {
        Outputs {
            report: a.report,
            junit: a.junit,
            hdr_log: a.hdr_log,
            summary_md: a.summary_md,
            json: a.json,
            quiet: a.quiet,
        }
    }
}

// How the client connects (no doc comment: clap would take it for help
// text). Each flag overrides the scenario file's `http2` / `tls`.
#[derive(Debug, Args, Default)]
pub(super) struct ClientArgs {
    /// Speak HTTP/2: h2 by ALPN over https, h2c (prior knowledge) over http; each user
    /// keeps one connection with one stream in flight (default: HTTP/1.1).
    #[arg(long)]
    http2: bool,
    /// Accept any server certificate (self-signed test targets); the handshake's
    /// signatures are still checked.
    #[arg(long)]
    insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the built-in web roots
    /// (default: the file named by SSL_CERT_FILE, if set).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

impl ClientArgs {
    /// The flags as a scenario file writes them (`http2`, `tls`), paths made
    /// absolute so the file means the same wherever it is saved.
    pub(super) fn into_spec(self) -> Result<(bool, crate::scenario::TlsSpec), CliError> {
        let absolute = |p: Option<PathBuf>| {
            p.map(|p| {
                std::path::absolute(&p)
                    .map_err(|e| CliError::invalid(anyhow::anyhow!("{}: {e}", p.display())))
            })
            .transpose()
        };
        Ok((
            self.http2,
            crate::scenario::TlsSpec {
                ca: absolute(self.cacert)?,
                insecure: self.insecure,
                cert: absolute(self.cert)?,
                key: absolute(self.key)?,
            },
        ))
    }

    /// Lays the flags over a plan's client options, then reads the PEM
    /// files the flags name, so a bad one is invalid input before the run
    /// (`SSL_CERT_FILE` is read when the run's target is built).
    pub(super) fn apply(self, client: &mut crate::scenario::ClientOptions) -> Result<(), CliError> {
        use crate::client::tls;
        let flagged = self.cacert.is_some() || self.cert.is_some();
        client.http2 |= self.http2;
        client.tls.insecure |= self.insecure;
        if let Some(ca) = self.cacert {
            client.tls.ca = Some(ca);
        }
        if let Some(pair) = self.cert.zip(self.key) {
            client.tls.identity = Some(pair);
        }
        if flagged {
            tls::client_config(client, None).map_err(|e| {
                let flag = match e.file() {
                    tls::TlsFile::Ca => "--cacert",
                    tls::TlsFile::Cert => "--cert",
                    tls::TlsFile::Key => "--key",
                };
                CliError::invalid(anyhow::anyhow!("{e}\n  = hint: {flag}: {}", e.hint()))
            })?;
        }
        Ok(())
    }
}

// Thresholds given on the command line (no doc comment: clap would take it
// for help text); they are added to the scenario's own.
#[derive(Debug, Args, Default)]
pub(super) struct ThresholdArgs {
    /// A pass/fail threshold, added to the scenario's (repeatable), e.g. 'p(95)<300ms',
    /// 'error_rate<1%', 'rps>=500', or in k6's form 'http_req_duration: p(95)<500',
    /// 'http_req_failed: rate<0.01' (see "k6 thresholds" in loadgen/README.md).
    #[arg(long = "threshold", value_name = "EXPR")]
    thresholds: Vec<String>,
}

impl ThresholdArgs {
    /// The thresholds as a scenario file writes them; an invalid one is
    /// invalid input, named as the flag.
    pub(super) fn into_specs(self) -> Result<Vec<crate::scenario::ThresholdSpec>, CliError> {
        self.thresholds
            .into_iter()
            .map(|expr| {
                let parsed = crate::threshold::Threshold::parse_any(&expr).map_err(|e| {
                    CliError::invalid(anyhow::anyhow!(
                        "invalid --threshold {expr:?}: {e} (e.g. --threshold 'p(95)<300ms' or --threshold 'http_req_duration: p(95)<500')"
                    ))
                })?;
                if parsed.metric == crate::threshold::Metric::Checks {
                    return Err(CliError::invalid(anyhow::anyhow!(
                        "--threshold {expr:?} judges checks, and a URL run has none: checks are written in a scenario file (see \"Flows\" in loadgen/README.md)"
                    )));
                }
                Ok(crate::scenario::ThresholdSpec::Expr(expr))
            })
            .collect()
    }

    /// Adds the thresholds to a plan; an invalid one is invalid input, and
    /// so is a k6 tag filter naming a request the plan does not have.
    pub(super) fn apply(self, plan: &mut Plan) -> Result<(), CliError> {
        for expr in self.thresholds {
            let parsed = crate::threshold::Threshold::parse_any(&expr).map_err(|e| {
                CliError::invalid(anyhow::anyhow!(
                    "invalid --threshold {expr:?}: {e} (e.g. --threshold 'p(95)<300ms' or --threshold 'http_req_duration: p(95)<500')"
                ))
            })?;
            if let Some(r) = &parsed.request
                && !plan.names.contains(r)
            {
                return Err(CliError::invalid(anyhow::anyhow!(
                    "--threshold {expr:?} names request {r:?}, which the scenario does not have (its requests: {})",
                    plan.names.join(", ")
                )));
            }
            if parsed.metric == crate::threshold::Metric::Checks {
                let (request, check) = (parsed.request.as_deref(), parsed.check.as_deref());
                let whose = request.map_or("the scenario".to_owned(), |r| format!("request {r:?}"));
                let mine: Vec<&str> = plan
                    .checks
                    .iter()
                    .filter(|c| request.is_none_or(|r| c.request == r))
                    .map(|c| c.name.as_str())
                    .collect();
                if mine.is_empty() {
                    return Err(CliError::invalid(anyhow::anyhow!(
                        "--threshold {expr:?} judges checks, but {whose} has none (add checks: to a request of the scenario)"
                    )));
                }
                if let Some(c) = check
                    && !mine.contains(&c)
                {
                    let mut listed: Vec<&str> = Vec::new();
                    for m in mine {
                        if !listed.contains(&m) {
                            listed.push(m);
                        }
                    }
                    return Err(CliError::invalid(anyhow::anyhow!(
                        "--threshold {expr:?} names check {c:?}, which {whose} does not have (its checks: {})",
                        common::input::cut(&listed.join(", "), crate::input::SNIPPET_CHARS)
                    )));
                }
            }
            plan.thresholds.push(parsed);
        }
        Ok(())
    }
}

/// Writes the human summary: to stdout, or to stderr when an output goes to
/// stdout (`--report -`, `--json`), so that stdout holds that output alone;
/// nowhere with `--quiet`.
pub(super) fn summary(outputs: &Outputs, text: &str) -> Result<(), CliError> {
    if outputs.quiet {
        Ok(())
    } else if outputs.to_stdout() > 0 {
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
        Ok(())
    } else {
        stdout(text)
    }
}

/// At most one output may go to stdout (`-`): two would interleave.
pub(super) fn check_outputs(outputs: &Outputs) -> Result<(), CliError> {
    if outputs.to_stdout() > 1 {
        return Err(CliError::invalid(anyhow::anyhow!(
            "{} outputs are - (standard output; --json is the report there): at most one can be (e.g. --report - --junit junit.xml)",
            outputs.to_stdout()
        )));
    }
    Ok(())
}

/// Writes `text` to stdout. A closed pipe (`loadgen ... | head -1`) is not
/// an error: the rest is dropped quietly, as ripgrep does.
pub(super) fn stdout(text: &str) -> Result<(), CliError> {
    common::fs::write_stdout(text.as_bytes()).map_err(CliError::failure)?;
    Ok(())
}

/// Checks a `--duration` override against the range of a scenario's run.
pub(super) fn check_duration(d: Duration) -> Result<Duration, CliError> {
    crate::scenario::limits::run_duration(d).map_err(|e| {
        CliError::invalid(anyhow::anyhow!(
            "{e} (e.g. --duration 30s; see \"Ranges\" in loadgen/README.md)"
        ))
    })
}

/// A listen address flag's value (`127.0.0.1:9464`); when it is not one,
/// the message gives `example` and says port 0 picks a free port.
pub(super) fn socket_addr(s: &str, example: &str) -> Result<std::net::SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not an IP address and port (e.g. {example}; port 0 picks a free one)")
    })
}

/// Checks a `--host` URL.
pub(super) fn check_host(host: Option<&str>) -> Result<(), CliError> {
    if let Some(host) = host {
        crate::client::Target::parse(host).map_err(|e| {
            CliError::invalid(anyhow::anyhow!(
                "invalid --host: {e} (e.g. --host http://127.0.0.1:8080)"
            ))
        })?;
    }
    Ok(())
}

/// Loads a scenario file for a run against `host` (which stands in for a
/// base_url the file leaves out), with a `--duration` override.
pub(super) fn load_plan(
    path: &Path,
    host: Option<&str>,
    duration: Option<Duration>,
) -> Result<Plan, CliError> {
    let duration = duration.map(check_duration).transpose()?;
    let mut plan = crate::scenario::load_for(path, host)?;
    if let Some(d) = duration {
        plan.load = plan.load.with_duration(d);
    }
    Ok(plan)
}
