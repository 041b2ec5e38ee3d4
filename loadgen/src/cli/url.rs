//! `loadgen URL`: a load test on the command line, with oha's and hey's
//! flag names. The flags become a [`ScenarioFile`](crate::scenario::ScenarioFile)
//! (the YAML a user would write), which goes through the same parser and
//! validation as `loadgen run FILE`, so both make the same plan;
//! `--print-scenario` prints that file instead of running it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::error::{CliError, Exit};
use super::metrics::MetricsArgs;
use super::session::{self, View};
use super::shared::{ClientArgs, OutputArgs, ThresholdArgs, check_duration, stdout};
use crate::output::Outputs;
use crate::scenario::limits;
use crate::scenario::url::{UrlLoad, UrlTest};

/// What `-n` is without `-z` or `-n` (oha's default).
const DEFAULT_REQUESTS: u64 = 200;
/// The largest `-D` body file.
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// How the flags' scenario is named in messages about it.
const SHOWN: &str = "<command line>";

// The flags of `loadgen URL` (no doc comment: clap would take it for help
// text). They live on the top-level command, beside the subcommands.
#[derive(Debug, Args)]
pub(super) struct UrlArgs {
    /// The URL to load-test (http or https), e.g. http://127.0.0.1:8080/api/products.
    #[arg(required = true, value_name = "URL")]
    url: Option<String>,
    /// Run for this long (e.g. 10s, 2m); with -n too, whichever ends first.
    #[arg(short = 'z', long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// End after this many requests (default 200 when -z is not given); with -z too,
    /// whichever ends first.
    #[arg(short = 'n', long, value_name = "REQUESTS",
          value_parser = clap::value_parser!(u64).range(1..=limits::MAX_REQUESTS))]
    requests: Option<u64>,
    /// Connections: users back to back, or with -q the most iterations in flight at once.
    #[arg(short = 'c', long, value_name = "CONNECTIONS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_USERS)))]
    connections: u32,
    /// Requests per second, whatever the latency (open model): latency is measured from each
    /// request's intended start, so a slow server cannot hide its queueing (corrected for
    /// coordinated omission). Without -q, the -c users send back to back (closed model).
    #[arg(short = 'q', long, value_name = "RATE", value_parser = rate)]
    rate: Option<f64>,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET", value_parser = method)]
    method: String,
    /// A header, 'Name: value' (repeatable; a later one replaces an earlier one of the same name).
    #[arg(short = 'H', long = "header", value_name = "'K: V'", value_parser = header)]
    headers: Vec<(String, String)>,
    /// Request body (UTF-8 text; {{ uuid }}, {{ seq }} and {{ randint(a, b) }} are templates).
    #[arg(short = 'd', long, value_name = "BODY", conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body from a file (UTF-8 text, at most 16 MiB; - reads standard input).
    #[arg(short = 'D', long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Content-Type header (a -H content-type replaces it).
    #[arg(short = 'T', long, value_name = "CONTENT_TYPE")]
    content_type: Option<String>,
    /// Per-request timeout (e.g. 5s); a request that takes longer is an error of kind timeout.
    #[arg(short = 't', long, value_name = "DURATION", default_value = "10s",
          value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Show the live terminal view (keys: q quit, p pause, +/- rate, Tab, ?).
    #[arg(long)]
    tui: bool,
    /// Print the scenario file these flags make (YAML) and exit; `loadgen run` of it
    /// makes the same run.
    #[arg(long)]
    print_scenario: bool,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    outputs: OutputArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
}

fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of requests per second"))?;
    if r.is_finite() && r > 0.0 && r <= limits::MAX_RATE {
        Ok(r)
    } else {
        Err(format!(
            "the rate must be more than 0 and at most {} per second",
            limits::number(limits::MAX_RATE)
        ))
    }
}

fn method(s: &str) -> Result<String, String> {
    let upper = s.to_ascii_uppercase();
    http::Method::from_bytes(upper.as_bytes())
        .map(|_| upper)
        .map_err(|_| format!("{s:?} is not an HTTP method (e.g. GET, POST, PUT)"))
}

/// `Name: value`, split at the first colon, both sides trimmed.
fn header(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once(':') else {
        return Err(format!(
            "header {s:?} has no colon: write it as 'Name: value', e.g. -H 'Accept: application/json'"
        ));
    };
    let (name, value) = (name.trim(), value.trim());
    http::HeaderName::try_from(name).map_err(|_| {
        format!("header {s:?}: {name:?} is not a header name (a token like x-api-key)")
    })?;
    http::HeaderValue::try_from(value)
        .map_err(|_| format!("header {s:?}: the value is not visible ASCII"))?;
    Ok((name.to_owned(), value.to_owned()))
}

impl UrlArgs {
    /// True when a URL was given (the top-level command is then a URL test).
    pub(super) fn given(&self) -> bool {
        self.url.is_some()
    }
}

/// The test as plain values, checked: what clap could not check alone.
fn test_of(
    url: String,
    a: &mut UrlArgs,
    client: ClientArgs,
    thresholds: ThresholdArgs,
) -> Result<UrlTest, CliError> {
    let duration = a.duration.map(check_duration).transpose()?;
    limits::duration("--timeout", a.timeout, limits::MAX_TIMEOUT)
        .map_err(|e| CliError::invalid(anyhow::anyhow!("{e} (e.g. --timeout 5s)")))?;
    let body = match (a.body.take(), &a.body_file) {
        (Some(b), _) => Some(b),
        (None, Some(p)) => Some(common::input::read_text(p, MAX_BODY_BYTES)?.text),
        (None, None) => None,
    };
    let mut headers = Vec::new();
    if let Some(t) = &a.content_type {
        let (name, value) = header(&format!("content-type: {t}"))
            .map_err(|e| CliError::invalid(anyhow::anyhow!("invalid -T {t:?}: {e}")))?;
        headers.push((name, value));
    }
    headers.append(&mut a.headers);
    let requests = match (a.requests, duration) {
        (None, None) => Some(DEFAULT_REQUESTS),
        (n, _) => n,
    };
    let (http2, tls) = client.into_spec()?;
    Ok(UrlTest {
        url,
        method: a.method.clone(),
        headers,
        body,
        timeout: a.timeout,
        load: UrlLoad {
            users: a.connections,
            rate: a.rate,
            duration,
            requests,
        },
        thresholds: thresholds.into_specs()?,
        http2,
        tls,
    })
}

pub(super) async fn run(mut args: UrlArgs) -> Result<Exit, CliError> {
    let Some(url) = args.url.take() else {
        return Err(CliError::invalid(anyhow::anyhow!(
            "give a URL or a command (loadgen --help)"
        )));
    };
    let client = std::mem::take(&mut args.client);
    let thresholds = std::mem::take(&mut args.thresholds);
    let test = test_of(url, &mut args, client, thresholds)?;
    let file = test
        .scenario_file()
        .map_err(|e| CliError::invalid(anyhow::anyhow!("{e} (e.g. http://127.0.0.1:8080/)")))?;
    let yaml = serde_saphyr::to_string(&file)
        .map_err(|e| CliError::failure(anyhow::anyhow!("cannot write the scenario: {e}")))?;
    if args.print_scenario {
        stdout(&yaml)?;
        return Ok(Exit::Ok);
    }
    // The same parser and validation as a file's: one code path.
    let plan = crate::scenario::parse(&yaml, Path::new(SHOWN))?;
    let view = View {
        tui: args.tui,
        ..View::default()
    };
    let outputs = Outputs::from(std::mem::take(&mut args.outputs));
    let export = std::mem::take(&mut args.metrics).into_export((0, 1))?;
    session::execute(
        plan,
        None,
        &outputs,
        None,
        view,
        (export, Default::default()),
    )
    .await
}
