//! The scenario file: what to request, how hard, and what counts as passing.
//!
//! [`ScenarioFile`] is the YAML as written (serde + JSON Schema via
//! schemars). [`load`] parses it with file:line:column errors and validates
//! it into a [`Plan`]: templates compiled, data files read, thresholds parsed,
//! so the engine never sees an invalid value.

pub mod flow;
pub mod limits;
mod locate;
pub mod template;
mod thresholds;
pub mod url;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::diagnostic::{Diagnostic, NameKind};
use common::input::{InputError, cut};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use rand::SeedableRng as _;

use crate::checks::CheckMeta;
use crate::input::{MAX_SCENARIO_BYTES, SNIPPET_CHARS};
use crate::threshold::Threshold;
pub use flow::{CaptureSpec, CheckSpec, VarScope, Vars};
use locate::Locations;
use template::RenderCtx;
pub use template::{DataSet, Scope, Template, TemplateError};
pub use thresholds::ThresholdSpec;

/// A scenario file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A name for reports; defaults to the file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Scheme, host and port every path is joined to; `--host` overrides it,
    /// and with `--host` it may be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout (e.g. `10s`); a request that takes longer is an error of kind `timeout`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// CSV files (with a header row) for `{{ data.NAME.COLUMN }}`, relative to the scenario file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, PathBuf>,
    /// The scenarios; each iteration runs one of them, chosen by weight.
    pub scenarios: Vec<ScenarioSpec>,
    /// The load profile.
    pub load: LoadSpec,
    /// Pass/fail criteria, k6-like: `p(95)<300ms`, `error_rate<1%`, `rps>=500`;
    /// or k6's own map: `{http_req_duration: ['p(95)<500'], http_req_failed: ['rate<0.01']}`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "thresholds::deserialize"
    )]
    #[schemars(with = "thresholds::ThresholdsAsWritten")]
    pub thresholds: Vec<ThresholdSpec>,
    /// Speak HTTP/2: h2 by ALPN over TLS, h2c with prior knowledge over
    /// plain HTTP (default: HTTP/1.1); `--http2` sets it too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http2: bool,
    /// How the server's certificate is checked, and the client certificate
    /// for mutual TLS (https targets only).
    #[serde(default, skip_serializing_if = "TlsSpec::is_default")]
    pub tls: TlsSpec,
    /// A cookie jar per user: cookies a response sets are sent with the
    /// user's later requests (domain, path, expiry and `Secure` honoured).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cookies: bool,
}

/// TLS options of a scenario file; paths are relative to the scenario file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// CA certificates (PEM) to trust instead of the built-in web roots (without it: the
    /// bundle `SSL_CERT_FILE` names, if set, else the web roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (self-signed test targets); the handshake's
    /// signatures are still checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Client certificate chain (PEM) for mutual TLS, with `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl TlsSpec {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// One scenario: a sequence of requests run as one iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// The name reports use; may be left out when there is one scenario
    /// (it is then `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Relative weight when choosing the scenario of an iteration (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: u32,
    /// Pause after each request of this scenario, unless the request sets its own.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub think_time: Option<Duration>,
    pub requests: Vec<RequestSpec>,
}

fn one() -> u32 {
    1
}

fn is_one(w: &u32) -> bool {
    *w == 1
}

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The name results are reported under; requests may share a name.
    /// Default: the method and path, e.g. `GET /api/products`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HTTP method (default GET).
    #[serde(default = "get")]
    pub method: String,
    /// Path (and query) joined to the base URL; may contain templates.
    pub path: String,
    /// Extra headers; values may contain templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body; may contain templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Status codes that count as success (default: any 2xx or 3xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<u16>,
    /// Checks on the response (k6's checks): counted per check, never an error by themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckSpec>,
    /// Values taken from the response into variables for later requests (`{{ vars.NAME }}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<CaptureSpec>,
    /// Send it only while the user lacks one of its `scope: user` captures
    /// (without any: only in the user's first iteration): log in once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub once: bool,
    /// Pause after this request.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub think_time: Option<Duration>,
}

fn get() -> String {
    "GET".into()
}

/// A ramp stage: move linearly to `target` over `duration` (k6's stages).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub duration: Duration,
    pub target: f64,
}

/// The load profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
pub enum LoadSpec {
    /// A fixed or ramping number of users, each running iterations back to back
    /// (k6's constant-vus and ramping-vus).
    Closed {
        /// Users for a constant load (with `duration`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<u32>,
        /// Ramp stages of user counts, starting from 0.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stages: Vec<Stage>,
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(with = "Option<String>")]
        duration: Option<Duration>,
        /// End the run once this many requests have completed (no more are
        /// started); with `duration` too, whichever comes first. Without
        /// `duration` (or stages), the run lasts until then, at most 24h.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requests: Option<u64>,
    },
    /// Iterations start at a set rate whatever the latency (k6's constant- and
    /// ramping-arrival-rate); latency is measured from each iteration's intended start.
    Open {
        /// Iterations per second for a constant rate (with `duration`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<f64>,
        /// Ramp stages of rates, starting from `start_rate`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stages: Vec<Stage>,
        /// Rate at the start of the first stage (default 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_rate: Option<f64>,
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(with = "Option<String>")]
        duration: Option<Duration>,
        /// End the run once this many requests have completed (no more are
        /// started); with `duration` too, whichever comes first. Without
        /// `duration` (or stages), the run lasts until then, at most 24h.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requests: Option<u64>,
        /// Users available to run iterations at once.
        max_users: u32,
        /// Iterations that may wait for a free user (default 10 x max_users). An
        /// iteration that waits still counts its latency from its intended start;
        /// one that finds the queue full is dropped and counted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_queue: Option<u32>,
    },
}

/// A validated request, ready to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    /// Index into [`Plan::names`].
    pub name_id: usize,
    pub method: http::Method,
    pub path: Template,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: Option<Template>,
    pub expect: Vec<u16>,
    pub think_time: Duration,
    pub checks: Vec<flow::Check>,
    pub captures: Vec<flow::Capture>,
    /// The variables its templates (path, headers, body, checks) use: it is
    /// skipped while one of them is unset.
    pub uses: Vec<usize>,
    /// See [`RequestSpec::once`].
    pub once: bool,
    /// Its checks, captures or the cookie jar read the response headers.
    pub keep_headers: bool,
    /// Its checks or captures read the response body.
    pub keep_body: bool,
}

impl Request {
    /// Whether `status` counts as success.
    pub fn accepts(&self, status: u16) -> bool {
        if self.expect.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expect.contains(&status)
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub weight: u32,
    pub requests: Vec<Request>,
}

/// The validated load profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    Closed {
        /// Users at the start (ramping from there through the stages).
        start_users: u32,
        stages: Vec<Stage>,
    },
    Open {
        start_rate: f64,
        stages: Vec<Stage>,
        max_users: u32,
        max_queue: u32,
    },
}

impl Load {
    /// Total run time: the sum of the stages.
    pub fn duration(&self) -> Duration {
        match self {
            Load::Closed { stages, .. } | Load::Open { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
        }
    }

    /// The same profile cut or stretched to `duration` (for `--duration`):
    /// the last stage absorbs the difference.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        let (start, stages) = match &mut self {
            Load::Closed {
                start_users,
                stages,
            } => (f64::from(*start_users), stages),
            Load::Open {
                start_rate, stages, ..
            } => (*start_rate, stages),
        };
        let mut left = duration;
        let mut level = start;
        let mut kept = Vec::new();
        for stage in stages.iter() {
            if left.is_zero() {
                break;
            }
            let d = stage.duration.min(left);
            // A stage cut short stops where its ramp had got to.
            let target =
                level + (stage.target - level) * (d.as_secs_f64() / stage.duration.as_secs_f64());
            kept.push(Stage {
                duration: d,
                target,
            });
            level = stage.target;
            left -= d;
        }
        if !left.is_zero()
            && let Some(last) = kept.last().copied()
        {
            kept.push(Stage {
                duration: left,
                target: last.target,
            });
        }
        *stages = kept;
        self
    }
}

/// Share `index` of `count` of a whole number: the remainder goes to the
/// first shards, so the shares add up to the whole.
fn share(total: f64, index: u32, count: u32) -> f64 {
    let whole = total.round().max(0.0) as u64;
    let (n, i) = (u64::from(count), u64::from(index));
    (whole / n + u64::from(i < whole % n)) as f64
}

impl Load {
    /// This process's part of a run split across `count` processes
    /// (`index` in 0..count): arrival rates divided by `count` (open model),
    /// users shared out with the remainder on the first shards (closed).
    /// Merged with `loadgen merge`, the parts make the whole run.
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        if count <= 1 {
            return self;
        }
        let n = f64::from(count);
        match &mut self {
            Load::Open {
                start_rate,
                stages,
                max_users,
                max_queue,
            } => {
                *start_rate /= n;
                for s in stages.iter_mut() {
                    s.target /= n;
                }
                *max_users = max_users.div_ceil(count).max(1);
                *max_queue = max_queue.div_ceil(count).max(1);
            }
            Load::Closed {
                start_users,
                stages,
            } => {
                *start_users = share(f64::from(*start_users), index, count) as u32;
                for s in stages.iter_mut() {
                    s.target = share(s.target, index, count);
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_to_the_whole_run() {
        let open = Load::Open {
            start_rate: 100.0,
            stages: vec![Stage {
                duration: Duration::from_secs(10),
                target: 400.0,
            }],
            max_users: 1000,
            max_queue: 10_000,
        };
        let Load::Open {
            start_rate,
            stages,
            max_users,
            ..
        } = open.clone().shard(1, 4)
        else {
            unreachable!()
        };
        assert_eq!(
            (start_rate, stages[0].target, max_users),
            (25.0, 100.0, 250)
        );
        assert_eq!(open.clone().shard(0, 1), open);
        let closed = Load::Closed {
            start_users: 10,
            stages: vec![Stage {
                duration: Duration::from_secs(10),
                target: 7.0,
            }],
        };
        let parts: Vec<(u32, f64)> = (0..3)
            .map(|i| match closed.clone().shard(i, 3) {
                Load::Closed {
                    start_users,
                    stages,
                } => (start_users, stages[0].target),
                Load::Open { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(parts, vec![(4, 3.0), (3, 2.0), (3, 2.0)]);
    }

    #[test]
    fn with_duration_cuts_ramps_where_they_are_and_extends_the_last_level() {
        let load = Load::Open {
            start_rate: 0.0,
            stages: vec![Stage {
                duration: Duration::from_secs(60),
                target: 100.0,
            }],
            max_users: 1,
            max_queue: 1,
        };
        let cut = load.clone().with_duration(Duration::from_secs(30));
        let Load::Open { stages, .. } = &cut else {
            unreachable!()
        };
        assert_eq!(stages.len(), 1);
        assert!((stages[0].target - 50.0).abs() < 1e-9);
        let longer = load.with_duration(Duration::from_secs(90));
        assert_eq!(longer.duration(), Duration::from_secs(90));
        let Load::Open { stages, .. } = &longer else {
            unreachable!()
        };
        assert_eq!(stages[1].target, 100.0);
    }
}

/// Everything the engine needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub base_url: String,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub timeout: Duration,
    pub data: BTreeMap<String, DataSet>,
    pub scenarios: Vec<Scenario>,
    pub load: Load,
    pub thresholds: Vec<Threshold>,
    /// Distinct request names, in first-seen order.
    pub names: Vec<String>,
    /// Every check of every request, in file order; a request's checks
    /// (and its captures' implicit checks) refer to them by index.
    pub checks: Vec<crate::checks::CheckMeta>,
    /// The variables captured by the requests.
    pub vars: Vars,
    /// A cookie jar per user.
    pub cookies: bool,
    /// The target as reports and the live view show it: `base_url`, or the
    /// file's `base_url` as written when it reads the environment (whose
    /// values are never shown).
    pub target_shown: String,
    /// HTTP version and TLS options.
    pub client: ClientOptions,
    /// The request budget: the run ends once this many requests have
    /// completed, and no more are started (`load.requests`).
    pub requests: Option<u64>,
}

impl Plan {
    /// This process's part of a run split across `count` processes: the
    /// load (see [`Load::shard`]) and the request budget, shared out with
    /// the remainder on the first shards.
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        if count <= 1 {
            return self;
        }
        self.load = self.load.shard(index, count);
        self.requests = self.requests.map(|n| {
            let (c, i) = (u64::from(count), u64::from(index));
            n / c + u64::from(i < n % c)
        });
        self
    }
}

pub use crate::client::{ClientOptions, TlsOptions};

/// Errors in a scenario file. Each names where, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("failed to read scenario {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// At a place in the file: file:line:column, the line, a caret, a hint.
    #[error("{0}")]
    Syntax(Box<Diagnostic>),
    #[error("{path}: {what}\n  = hint: {hint}")]
    Invalid {
        path: String,
        what: String,
        hint: String,
    },
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
    locations: Locations,
    /// Reads an environment variable for `{{ env.NAME }}`.
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    /// An error located at the value at `at` (a path such as
    /// `load.stages.1.target`), or at its nearest written ancestor.
    fn at(&self, at: &str, what: String, hint: &str) -> ScenarioError {
        let (line, column) = self.locations.get(at);
        ScenarioError::Syntax(Box::new(
            Diagnostic::at(self.path, self.text, line, column, what).with_hint(hint),
        ))
    }

    /// Checks a duration against `0 < d <= max`.
    fn duration(
        &self,
        at: &str,
        what: &'static str,
        d: Duration,
        max: Duration,
        hint: &str,
    ) -> Result<Duration, ScenarioError> {
        limits::duration(what, d, max).map_err(|e| self.at(at, e.to_string(), hint))
    }
}

fn hint_for(message: &str) -> &'static str {
    if message.contains("unknown field") {
        "check the spelling against the format in loadgen/README.md (or the JSON Schema: loadgen schema)"
    } else if message.contains("missing field") {
        "add the field; loadgen/README.md lists the required ones"
    } else if message.contains("model") || message.contains("variant") {
        "load.model is \"open\" (rate, stages, max_users) or \"closed\" (users, stages)"
    } else if message.contains("expected u32") || message.contains("expected u16") {
        "a whole number in the range loadgen/README.md gives for this field (\"Ranges\")"
    } else if message.contains("duration") || message.contains("time") {
        "durations are written like 500ms, 30s, 2m or 1h"
    } else {
        "see the scenario format in loadgen/README.md"
    }
}

const K6_LIST_HINT: &str = "k6's map form goes under thresholds: without `- ` (thresholds: {http_req_duration: ['p(95)<500']}), or write the item as a string: - 'http_req_duration: p(95)<500' (see \"k6 thresholds\" in loadgen/README.md)";

const UNKNOWN_HINT: &str =
    "see the format in loadgen/README.md (or the JSON Schema: loadgen schema)";

/// Longest key name [`key_location`] looks for (a longer one keeps the
/// parser's place), so that the search stays linear in the text.
const MAX_KEY_SEARCH: usize = 1024;

/// Where the key `name` is written, from `line:column` on: the parser's
/// place when it is that key, else the first line from there that writes
/// it as a key (inside a tagged block such as `load:` the parser gives the
/// block's start). A key starts a line (after indentation, `- ` or `? `) or
/// follows `{` or `,`; it may be quoted.
fn key_location(text: &str, name: &str, line: u64, column: u64) -> (u64, u64) {
    fn names<'a>(rest: &'a str, name: &str) -> Option<&'a str> {
        rest.strip_prefix(name).or_else(|| {
            rest.strip_prefix(['"', '\''])
                .and_then(|r| r.strip_prefix(name))
        })
    }
    let is_key = |rest: &str| {
        names(rest, name).is_some_and(|after| {
            after
                .trim_start_matches(['"', '\''])
                .trim_start()
                .starts_with(':')
        })
    };
    let start = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    if let Some(l) = text.lines().nth(start) {
        let c = l
            .char_indices()
            .nth(usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX))
            .map_or(l.len(), |(i, _)| i);
        if names(&l[c..], name).is_some() {
            return (line, column);
        }
    }
    if name.len() > MAX_KEY_SEARCH {
        return (line, column);
    }
    for (i, l) in text.lines().enumerate().skip(start) {
        let lead = l.len() - l.trim_start_matches([' ', '-', '?']).len();
        let after_flow = l.match_indices(['{', ',']).map(|(j, _)| {
            let r = &l[j + 1..];
            j + 1 + (r.len() - r.trim_start().len())
        });
        if let Some(c) = std::iter::once(lead)
            .chain(after_flow)
            .find(|&c| is_key(&l[c..]))
        {
            return (i as u64 + 1, l[..c].chars().count() as u64 + 1);
        }
    }
    (line, column)
}

fn refine_location(text: &str, message: &str, line: u64, column: u64) -> (u64, u64) {
    // The first value quoted in "..." or `...`.
    let quoted = message
        .find(['"', '`'])
        .and_then(|i| {
            let quote = &message[i..i + 1];
            message[i + 1..].split_once(quote)
        })
        .map(|(q, _)| q)
        .filter(|q| !q.is_empty());
    let Some(q) = quoted else {
        return (line, column);
    };
    text.lines()
        .enumerate()
        .skip(line.saturating_sub(1) as usize)
        .find_map(|(i, l)| {
            let value = l.split_once(':').map_or(l, |(_, v)| v);
            value.find(q).map(|c| {
                let column = l[..l.len() - value.len() + c].chars().count();
                (i as u64 + 1, column as u64 + 1)
            })
        })
        .unwrap_or((line, column))
}

/// Parses and validates a scenario. `path` names the file in errors and
/// anchors relative data-file paths.
pub fn parse(text: &str, path: &Path) -> Result<Plan, ScenarioError> {
    parse_for(text, path, None)
}

/// [`parse`] for a run against `host` (a URL that replaces the file's
/// `base_url`, which may then be left out).
pub fn parse_for(text: &str, path: &Path, host: Option<&str>) -> Result<Plan, ScenarioError> {
    parse_with_env(text, path, host, &Scope::process_env)
}

/// [`parse_for`] with `env` as the environment `{{ env.NAME }}` reads.
pub fn parse_with_env(
    text: &str,
    path: &Path,
    host: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ScenarioError> {
    let shown = path.display().to_string();
    let file: ScenarioFile = serde_saphyr::from_str(text).map_err(|err| {
        // The location is shown once, in front.
        let e = common::diagnostic::yaml_error(&err);
        let message = cut(&e.message, SNIPPET_CHARS);
        let (line, column, hint) = match &e.unknown {
            // A field the format does not have: at the key, with the valid ones.
            Some(u) if u.kind == NameKind::Field => {
                let (line, column) = key_location(text, &u.name, e.line, e.column);
                // A k6 map entry written as an item of the native list.
                let k6 =
                    u.suggestion().is_none() && u.expected.iter().any(|f| f == "abort_on_fail");
                let hint = if k6 {
                    format!("{}; {K6_LIST_HINT}", u.hint())
                } else {
                    format!("{}; {UNKNOWN_HINT}", u.hint())
                };
                (line, column, hint)
            }
            Some(u) => {
                let (line, column) = refine_location(text, &message, e.line, e.column);
                (line, column, format!("{}; {UNKNOWN_HINT}", u.hint()))
            }
            // Inside a tagged block (load:) the parser reports the block's start;
            // the offending value, when the message quotes it, pins the real line.
            None => {
                let (line, column) = refine_location(text, &message, e.line, e.column);
                (line, column, hint_for(&message).to_owned())
            }
        };
        ScenarioError::Syntax(Box::new(
            Diagnostic::at(shown.as_str(), text, line, column, &message).with_hint(hint),
        ))
    })?;
    let ctx = Ctx {
        path: &shown,
        text,
        locations: Locations::of(text),
        env,
    };
    let base = path.parent().unwrap_or(Path::new("."));
    validate(file, &ctx, base, &shown, host)
}

/// Reads and validates a scenario file (`-` reads standard input): at most
/// [`MAX_SCENARIO_BYTES`], UTF-8.
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    load_for(path, None)
}

/// [`load`] for a run against `host` (see [`parse_for`]).
pub fn load_for(path: &Path, host: Option<&str>) -> Result<Plan, ScenarioError> {
    let read = common::input::read_text(path, MAX_SCENARIO_BYTES).map_err(|e| match e {
        InputError::Read { error, .. } => ScenarioError::Read {
            path: path.display().to_string(),
            source: error,
        },
        InputError::Utf8 { .. } => ScenarioError::Syntax(Box::new(e.diagnostic())),
        InputError::TooLarge { .. } => ScenarioError::Invalid {
            path: e.path().to_owned(),
            what: e.message(),
            hint: e.hint().to_owned(),
        },
    })?;
    parse_for(&read.text, Path::new(&read.shown), host)
}

const TEMPLATE_HINT: &str = "templates: {{ randint(1, 20) }} (64-bit integers, low <= high), {{ uuid }}, {{ seq }}, {{ data.NAME.COLUMN }}, {{ vars.NAME }} (captured by an earlier request), {{ env.NAME }} or {{ env.NAME | default(\"x\") }}";

/// The name of a scenario that leaves its name out (when it is the only one).
pub const DEFAULT_SCENARIO: &str = "default";

/// Checks a base URL as written in the file: http or https.
/// `url` is the rendered URL, `written` the file's (shown in errors, so
/// that a value from the environment is never printed).
fn check_base_url(url: &str, written: &str, ctx: &Ctx) -> Result<(), ScenarioError> {
    let url = reqwest::Url::parse(url).map_err(|e| {
        ctx.at(
            "base_url",
            format!(
                "base_url {:?} is not a URL: {e}",
                cut(written, SNIPPET_CHARS)
            ),
            "write it like http://127.0.0.1:8080",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ctx.at(
            "base_url",
            format!("base_url must be http or https, got {:?}", url.scheme()),
            "write it like http://127.0.0.1:8080",
        ));
    }
    Ok(())
}

fn validate(
    file: ScenarioFile,
    ctx: &Ctx,
    base: &Path,
    shown: &str,
    host: Option<&str>,
) -> Result<Plan, ScenarioError> {
    // A value that may only read the environment, rendered; and whether it
    // does (its value is then a secret).
    let env_only = |at: &str, text: &str, what: &str| -> Result<(String, bool), ScenarioError> {
        let data = BTreeMap::new();
        let vars = BTreeMap::new();
        let scope = Scope {
            data: &data,
            vars: &vars,
            env: ctx.env,
        };
        let t =
            Template::parse(text, &scope).map_err(|e| ctx.at(at, e.to_string(), TEMPLATE_HINT))?;
        if !t.is_static() {
            return Err(ctx.at(
                at,
                format!("{what} may only use {{{{ env.NAME }}}} templates"),
                "the value is sent with every request: randint, uuid, seq, data and vars belong in a request's own headers",
            ));
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
        let rendered = t.render(&mut RenderCtx {
            seq: 0,
            rng: &mut rng,
            vars: &[],
        });
        Ok((rendered, t.reads_env()))
    };
    // What reports and the live view show as the target: the URL as
    // written when it reads the environment (empty: base_url as it is).
    let mut target_shown = String::new();
    // With --host the file's base_url is not used (nor its environment read).
    let file_base = match (&file.base_url, host) {
        (Some(written), None) => {
            let (url, secret) = env_only("base_url", written, "base_url")?;
            check_base_url(&url, written, ctx)?;
            if secret {
                target_shown.clone_from(written);
            }
            Some(url)
        }
        (Some(written), Some(_)) if !written.contains("{{") => {
            check_base_url(written, written, ctx)?;
            None
        }
        _ => None,
    };
    let base_url = match (host, &file_base) {
        (Some(h), _) => h.to_owned(),
        (None, Some(b)) => b.clone(),
        (None, None) => {
            return Err(ctx.at(
                "base_url",
                "no base_url: the scenario does not say where to send its requests".into(),
                "add base_url: http://127.0.0.1:8080, or give the target with loadgen run --host URL",
            ));
        }
    };
    let client = validate_client(&file, ctx, base)?;
    let timeout = ctx.duration(
        "timeout",
        "timeout",
        file.timeout,
        limits::MAX_TIMEOUT,
        "e.g. timeout: 10s",
    )?;
    let mut headers = Vec::new();
    for (k, v) in &file.headers {
        let at = format!("headers.{k}");
        let name = http::HeaderName::try_from(k.as_str()).map_err(|_| {
            ctx.at(
                &at,
                format!("invalid header name {:?}", cut(k, SNIPPET_CHARS)),
                "header names are tokens like x-api-key",
            )
        })?;
        let (rendered, secret) =
            env_only(&at, v, &format!("header {k:?} under the file's headers"))?;
        let mut value = http::HeaderValue::try_from(rendered).map_err(|_| {
            ctx.at(
                &at,
                format!("invalid value for header {k:?}"),
                "header values are visible ASCII",
            )
        })?;
        value.set_sensitive(secret);
        headers.push((name, value));
    }
    let mut data = BTreeMap::new();
    for (name, rel) in &file.data {
        let full = if rel.is_absolute() {
            rel.clone()
        } else {
            base.join(rel)
        };
        let set = DataSet::from_csv_file(&full).map_err(|e| {
            ctx.at(
                &format!("data.{name}"),
                format!("data {name:?}: {e}"),
                "a UTF-8 CSV file with a header row and 1 to 1000000 rows, relative to the scenario file",
            )
        })?;
        data.insert(name.clone(), set);
    }
    if file.scenarios.is_empty() {
        return Err(ctx.at(
            "scenarios",
            "no scenarios: add at least one".into(),
            "scenarios: [{name: browse, requests: [...]}]",
        ));
    }
    let mut names: Vec<String> = Vec::new();
    let mut scenarios = Vec::new();
    let mut checks: Vec<CheckMeta> = Vec::new();
    // Variables a user keeps across iterations may be used anywhere: a
    // first pass finds them.
    let mut vars = Vars::default();
    for s in &file.scenarios {
        for r in &s.requests {
            for c in r.capture.iter().filter(|c| c.scope == VarScope::User) {
                vars.index(&c.var, VarScope::User);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut total_weight: u64 = 0;
    let single = file.scenarios.len() == 1;
    for (i, s) in file.scenarios.iter().enumerate() {
        let at = format!("scenarios.{i}");
        let s_name = match (&s.name, single) {
            (Some(n), _) => n.clone(),
            (None, true) => DEFAULT_SCENARIO.to_owned(),
            (None, false) => {
                return Err(ctx.at(
                    &at,
                    format!(
                        "scenario {} of {} has no name; with several scenarios, each needs one",
                        i + 1,
                        file.scenarios.len()
                    ),
                    "e.g. name: browse (only a single scenario may leave its name out)",
                ));
            }
        };
        if !seen.insert(s_name.clone()) {
            return Err(ctx.at(
                &format!("{at}.name"),
                format!("scenario {s_name:?} is defined twice"),
                "give each scenario its own name",
            ));
        }
        if !(1..=limits::MAX_WEIGHT).contains(&s.weight) {
            return Err(ctx.at(
                &format!("{at}.weight"),
                format!(
                    "weight of scenario {:?} must be 1 to {}, got {}",
                    s_name,
                    limits::MAX_WEIGHT,
                    s.weight
                ),
                "weights are relative: 1, 2, 3...",
            ));
        }
        total_weight = total_weight.saturating_add(u64::from(s.weight));
        if total_weight > limits::MAX_TOTAL_WEIGHT {
            return Err(ctx.at(
                &format!("{at}.weight"),
                format!(
                    "the weights add up to more than {}",
                    limits::MAX_TOTAL_WEIGHT
                ),
                "weights are relative: divide them by a common factor",
            ));
        }
        if let Some(t) = s.think_time {
            ctx.think_time(&format!("{at}.think_time"), t)?;
        }
        if s.requests.is_empty() {
            return Err(ctx.at(
                &format!("{at}.requests"),
                format!("scenario {s_name:?} has no requests"),
                "add at least one request",
            ));
        }
        let mut requests = Vec::new();
        // The variables captured by this scenario's requests so far.
        let mut seen_vars = std::collections::BTreeSet::new();
        for (j, r) in s.requests.iter().enumerate() {
            let at = format!("{at}.requests.{j}");
            let r_name = r
                .name
                .clone()
                .unwrap_or_else(|| format!("{} {}", r.method.to_ascii_uppercase(), r.path));
            let method = http::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
                .map_err(|_| {
                    ctx.at(
                        &format!("{at}.method"),
                        format!(
                            "invalid method {:?} in request {:?}",
                            cut(&r.method, SNIPPET_CHARS),
                            r_name
                        ),
                        "GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
                    )
                })?;
            // What this request's templates may name: the user's variables
            // and those captured earlier in this scenario.
            let known: BTreeMap<String, usize> = vars
                .names
                .iter()
                .enumerate()
                .filter(|(i, _)| vars.scopes[*i] == VarScope::User || seen_vars.contains(i))
                .map(|(i, n)| (n.clone(), i))
                .collect();
            let scope = Scope {
                data: &data,
                vars: &known,
                env: ctx.env,
            };
            let compile = |field: &str, t: &str| {
                Template::parse(t, &scope).map_err(|e| {
                    ctx.at(
                        &format!("{at}.{field}"),
                        cut(&format!("request {:?}: {e}", r_name), SNIPPET_CHARS),
                        TEMPLATE_HINT,
                    )
                })
            };
            if !r.path.starts_with('/') {
                return Err(ctx.at(
                    &format!("{at}.path"),
                    format!(
                        "path of request {:?} must start with /, got {:?}",
                        r_name,
                        cut(&r.path, SNIPPET_CHARS)
                    ),
                    "paths are joined to base_url, e.g. /api/products",
                ));
            }
            let path = compile("path", &r.path)?;
            let mut req_headers = Vec::new();
            for (k, v) in &r.headers {
                let name = http::HeaderName::try_from(k.as_str()).map_err(|_| {
                    ctx.at(
                        &format!("{at}.headers.{k}"),
                        format!(
                            "invalid header name {:?} in request {:?}",
                            cut(k, SNIPPET_CHARS),
                            r_name
                        ),
                        "header names are tokens like content-type",
                    )
                })?;
                req_headers.push((name, compile(&format!("headers.{k}"), v)?));
            }
            let body = r.body.as_deref().map(|b| compile("body", b)).transpose()?;
            if let Some((k, bad)) = r
                .expect
                .iter()
                .enumerate()
                .find(|(_, c)| !(100..=599).contains(*c))
            {
                return Err(ctx.at(
                    &format!("{at}.expect.{k}"),
                    format!(
                        "expected status {bad} in request {:?} is not an HTTP status",
                        r_name
                    ),
                    "status codes are 100 to 599",
                ));
            }
            if let Some(t) = r.think_time {
                ctx.think_time(&format!("{at}.think_time"), t)?;
            }
            let name_id = match names.iter().position(|n| n == &r_name) {
                Some(i) => i,
                None => {
                    names.push(r_name.clone());
                    names.len() - 1
                }
            };
            let located = |field: String, e: flow::FlowError| {
                let at = if e.field.is_empty() {
                    field
                } else {
                    format!("{field}.{}", e.field)
                };
                ctx.at(
                    &at,
                    cut(&format!("request {:?}: {}", r_name, e.what), SNIPPET_CHARS),
                    e.hint,
                )
            };
            // A check is counted under its name and request: the same pair
            // written twice (in two scenarios) is one check.
            let mut check_id = |name: String| match checks
                .iter()
                .position(|c| c.name == name && c.name_id == name_id)
            {
                Some(i) => i,
                None => {
                    checks.push(CheckMeta {
                        name,
                        request: r_name.clone(),
                        name_id,
                    });
                    checks.len() - 1
                }
            };
            if r.checks.len() > limits::MAX_CHECKS {
                return Err(ctx.at(
                    &format!("{at}.checks"),
                    format!(
                        "request {r_name:?} has more than {} checks",
                        limits::MAX_CHECKS
                    ),
                    "split them across requests, or check less",
                ));
            }
            let mut req_checks = Vec::new();
            for (k, c) in r.checks.iter().enumerate() {
                let (mut check, name) = flow::check(c, 0, &scope)
                    .map_err(|e| located(format!("{at}.checks.{k}"), e))?;
                check.id = check_id(name);
                req_checks.push(check);
            }
            let mut captures = Vec::new();
            for (k, c) in r.capture.iter().enumerate() {
                let field = format!("{at}.capture.{k}");
                if !template::is_name(&c.var) {
                    return Err(ctx.at(
                        &format!("{field}.var"),
                        format!(
                            "request {r_name:?}: {:?} is not a variable name",
                            cut(&c.var, SNIPPET_CHARS)
                        ),
                        "letters, digits and _, not starting with a digit: order_id",
                    ));
                }
                if vars.get(&c.var).is_some_and(|i| vars.scopes[i] != c.scope) {
                    return Err(ctx.at(
                        &format!("{field}.scope"),
                        format!(
                            "request {r_name:?}: variable {:?} is captured with scope user elsewhere",
                            c.var
                        ),
                        "a variable has one scope: give both captures the same scope, or different names",
                    ));
                }
                if r.once && c.scope == VarScope::Iteration {
                    return Err(ctx.at(
                        &format!("{field}.var"),
                        format!(
                            "request {r_name:?} is sent once, but captures {:?} for one iteration only: later iterations would never have it",
                            c.var
                        ),
                        "give the capture scope: user (kept across the user's iterations)",
                    ));
                }
                let from = flow::capture_from(c).map_err(|e| located(field.clone(), e))?;
                let var = vars.index(&c.var, c.scope);
                captures.push(flow::Capture {
                    var,
                    check: check_id(format!("capture {}", c.var)),
                    from,
                });
            }
            let mut uses: Vec<usize> = path
                .vars()
                .chain(req_headers.iter().flat_map(|(_, t)| t.vars()))
                .chain(body.iter().flat_map(|b| b.vars()))
                .chain(req_checks.iter().flat_map(|c| c.template_vars()))
                .collect();
            uses.sort_unstable();
            uses.dedup();
            let keep_headers = file.cookies
                || req_checks
                    .iter()
                    .any(|c| matches!(c.kind, flow::CheckKind::Header { .. }))
                || captures
                    .iter()
                    .any(|c| matches!(c.from, flow::CaptureFrom::Header(_)));
            let keep_body = req_checks.iter().any(|c| {
                matches!(
                    c.kind,
                    flow::CheckKind::BodyContains(_)
                        | flow::CheckKind::BodyMatches(_)
                        | flow::CheckKind::Json { .. }
                )
            }) || captures
                .iter()
                .any(|c| !matches!(c.from, flow::CaptureFrom::Header(_)));
            for c in &captures {
                seen_vars.insert(c.var);
            }
            requests.push(Request {
                name: r_name.clone(),
                name_id,
                method,
                path,
                headers: req_headers,
                body,
                expect: r.expect.clone(),
                think_time: r.think_time.or(s.think_time).unwrap_or_default(),
                checks: req_checks,
                captures,
                uses,
                once: r.once,
                keep_headers,
                keep_body,
            });
        }
        scenarios.push(Scenario {
            name: s_name,
            weight: s.weight,
            requests,
        });
    }
    let (load, requests) = validate_load(&file.load, ctx)?;
    let thresholds = thresholds::validate(&file.thresholds, &names, &checks, ctx)?;
    let name = file.name.clone().unwrap_or_else(|| {
        Path::new(shown)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    Ok(Plan {
        name,
        target_shown: if target_shown.is_empty() {
            base_url.trim_end_matches('/').to_owned()
        } else {
            target_shown
        },
        base_url: base_url.trim_end_matches('/').to_owned(),
        headers,
        timeout,
        data,
        scenarios,
        load,
        thresholds,
        names,
        checks,
        vars,
        cookies: file.cookies,
        client,
        requests,
    })
}

/// The client options of a file: a client certificate needs its key (and
/// the other way round); paths are taken relative to the scenario file.
fn validate_client(
    file: &ScenarioFile,
    ctx: &Ctx,
    base: &Path,
) -> Result<ClientOptions, ScenarioError> {
    let resolve = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        }
    };
    let identity = match (&file.tls.cert, &file.tls.key) {
        (Some(cert), Some(key)) => Some((resolve(cert), resolve(key))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ctx.at(
                "tls.cert",
                "tls.cert is given without tls.key".into(),
                "add tls.key: the PEM file of the certificate's private key",
            ));
        }
        (None, Some(_)) => {
            return Err(ctx.at(
                "tls.key",
                "tls.key is given without tls.cert".into(),
                "add tls.cert: the PEM file of the client certificate",
            ));
        }
    };
    let client = ClientOptions {
        http2: file.http2,
        tls: TlsOptions {
            ca: file.tls.ca.as_ref().map(resolve),
            insecure: file.tls.insecure,
            identity,
        },
    };
    // The PEM files are read now, so a bad one is refused before any load;
    // SSL_CERT_FILE is the run's environment, checked when the run starts.
    if client.tls != TlsOptions::default() {
        crate::client::tls::client_config(&client, None).map_err(|e| {
            let at = match e.file() {
                crate::client::tls::TlsFile::Ca => "tls.ca",
                crate::client::tls::TlsFile::Cert => "tls.cert",
                crate::client::tls::TlsFile::Key => "tls.key",
            };
            ctx.at(at, e.to_string(), e.hint())
        })?;
    }
    Ok(client)
}

impl Ctx<'_> {
    /// Think time: 0 (none) up to [`limits::MAX_THINK_TIME`].
    fn think_time(&self, at: &str, t: Duration) -> Result<(), ScenarioError> {
        if t > limits::MAX_THINK_TIME {
            return Err(self.at(
                at,
                format!(
                    "think_time must be at most {}, got {}",
                    humantime::format_duration(limits::MAX_THINK_TIME),
                    humantime::format_duration(t)
                ),
                "e.g. think_time: 500ms",
            ));
        }
        Ok(())
    }
}

/// Where a profile's stages are written: `load.stages`, or a constant
/// level (`load.rate` or `load.users` with `load.duration`).
enum StagePaths {
    Stages,
    Constant { target: &'static str },
}

impl StagePaths {
    fn target(&self, i: usize) -> String {
        match self {
            StagePaths::Stages => format!("load.stages.{i}.target"),
            StagePaths::Constant { target } => (*target).to_owned(),
        }
    }

    fn duration(&self, i: usize) -> String {
        match self {
            StagePaths::Stages => format!("load.stages.{i}.duration"),
            StagePaths::Constant { .. } => "load.duration".to_owned(),
        }
    }
}

fn check_stages(
    stages: &[Stage],
    ctx: &Ctx,
    paths: &StagePaths,
    max_target: f64,
    what: &str,
) -> Result<(), ScenarioError> {
    let mut total = Duration::ZERO;
    for (i, s) in stages.iter().enumerate() {
        if !s.target.is_finite() || s.target < 0.0 || s.target > max_target {
            return Err(ctx.at(
                &paths.target(i),
                format!(
                    "{what} must be 0 to {}, got {}",
                    limits::number(max_target),
                    limits::number(s.target)
                ),
                "see \"Ranges\" in loadgen/README.md; split larger loads with --shard-count",
            ));
        }
        let at = paths.duration(i);
        ctx.duration(
            &at,
            "duration",
            s.duration,
            limits::MAX_RUN,
            "e.g. duration: 30s",
        )?;
        total = total.saturating_add(s.duration);
        if total > limits::MAX_RUN {
            return Err(ctx.at(
                &at,
                format!(
                    "a run lasts at most {}; the stages up to here add up to {}",
                    humantime::format_duration(limits::MAX_RUN),
                    humantime::format_duration(total)
                ),
                "split longer soak tests into runs of at most 24h",
            ));
        }
    }
    Ok(())
}

/// The request budget (`load.requests`): 1 to [`limits::MAX_REQUESTS`].
fn validate_budget(load: &LoadSpec, ctx: &Ctx) -> Result<Option<u64>, ScenarioError> {
    let (LoadSpec::Closed { requests, .. } | LoadSpec::Open { requests, .. }) = load;
    match requests {
        Some(n) if !(1..=limits::MAX_REQUESTS).contains(n) => Err(ctx.at(
            "load.requests",
            format!("requests must be 1 to {}, got {n}", limits::MAX_REQUESTS),
            "the run ends once this many requests have completed, e.g. requests: 1000",
        )),
        r => Ok(*r),
    }
}

/// A constant level's duration: as written, or with only a request budget,
/// the longest run (the budget ends it).
fn constant_duration(duration: &Option<Duration>, budget: Option<u64>) -> Option<Duration> {
    duration.or(budget.map(|_| limits::MAX_RUN))
}

fn validate_load(load: &LoadSpec, ctx: &Ctx) -> Result<(Load, Option<u64>), ScenarioError> {
    let budget = validate_budget(load, ctx)?;
    let need_one = |what: &str| {
        ctx.at(
            "load.model",
            format!(
                "load needs either {what} with duration (or requests), or stages, not both and not neither"
            ),
            "e.g. rate: 100 and duration: 30s, or stages: [{duration: 30s, target: 100}]",
        )
    };
    let load = match load {
        LoadSpec::Closed {
            users,
            stages,
            duration,
            ..
        } => {
            let duration = constant_duration(duration, budget);
            let (start_users, stages, at, what) = match (users, stages.is_empty(), duration) {
                (Some(u), true, Some(d)) => (
                    *u,
                    vec![Stage {
                        duration: d,
                        target: f64::from(*u),
                    }],
                    StagePaths::Constant {
                        target: "load.users",
                    },
                    "users",
                ),
                (None, false, _) if load_duration(load).is_none() => (
                    0,
                    stages.clone(),
                    StagePaths::Stages,
                    "stage target (users)",
                ),
                _ => return Err(need_one("users")),
            };
            if users.is_some_and(|u| u > limits::MAX_USERS) {
                return Err(ctx.at(
                    "load.users",
                    format!(
                        "users must be 1 to {}, got {start_users}",
                        limits::MAX_USERS
                    ),
                    "each user holds a connection for the whole run; split larger loads with --shard-count",
                ));
            }
            check_stages(&stages, ctx, &at, f64::from(limits::MAX_USERS), what)?;
            if let Some(i) = stages.iter().position(|s| s.target.fract() != 0.0) {
                return Err(ctx.at(
                    &format!("load.stages.{i}.target"),
                    "closed-model targets are whole user counts".into(),
                    "e.g. target: 10",
                ));
            }
            if stages.iter().all(|s| s.target == 0.0) {
                return Err(ctx.at(
                    if users.is_some() {
                        "load.users"
                    } else {
                        "load.stages"
                    },
                    "the closed model needs at least one user".into(),
                    "e.g. users: 10",
                ));
            }
            Load::Closed {
                start_users,
                stages,
            }
        }
        LoadSpec::Open {
            rate,
            stages,
            start_rate,
            duration,
            max_users,
            max_queue,
            ..
        } => {
            let duration = constant_duration(duration, budget);
            let (stages, at, what) = match (rate, stages.is_empty(), duration) {
                (Some(r), true, Some(d)) => (
                    vec![Stage {
                        duration: d,
                        target: *r,
                    }],
                    StagePaths::Constant {
                        target: "load.rate",
                    },
                    "rate (iterations per second)",
                ),
                (None, false, _) if load_duration(load).is_none() => (
                    stages.clone(),
                    StagePaths::Stages,
                    "stage target (iterations per second)",
                ),
                _ => return Err(need_one("rate")),
            };
            check_stages(&stages, ctx, &at, limits::MAX_RATE, what)?;
            let start_rate = match (rate, start_rate) {
                (Some(r), None) => *r,
                (Some(_), Some(_)) => {
                    return Err(ctx.at(
                        "load.start_rate",
                        "start_rate only goes with stages".into(),
                        "remove start_rate, or use stages",
                    ));
                }
                (None, s) => s.unwrap_or(0.0),
            };
            if !(0.0..=limits::MAX_RATE).contains(&start_rate) {
                return Err(ctx.at(
                    "load.start_rate",
                    format!(
                        "start_rate must be 0 to {}, got {}",
                        limits::number(limits::MAX_RATE),
                        limits::number(start_rate)
                    ),
                    "e.g. start_rate: 10",
                ));
            }
            if start_rate == 0.0 && stages.iter().all(|s| s.target == 0.0) {
                return Err(ctx.at(
                    if rate.is_some() {
                        "load.rate"
                    } else {
                        "load.stages"
                    },
                    "the open model needs a rate above 0".into(),
                    "e.g. rate: 10",
                ));
            }
            if !(1..=limits::MAX_USERS).contains(max_users) {
                return Err(ctx.at(
                    "load.max_users",
                    format!(
                        "max_users must be 1 to {}, got {max_users}",
                        limits::MAX_USERS
                    ),
                    "about rate x expected latency in seconds, with headroom; split larger loads with --shard-count",
                ));
            }
            let max_queue = match max_queue {
                Some(q) if !(1..=limits::MAX_QUEUE).contains(q) => {
                    return Err(ctx.at(
                        "load.max_queue",
                        format!("max_queue must be 1 to {}, got {q}", limits::MAX_QUEUE),
                        "or leave it out for 10 x max_users",
                    ));
                }
                Some(q) => *q,
                None => max_users.saturating_mul(10).min(limits::MAX_QUEUE),
            };
            Load::Open {
                start_rate,
                stages,
                max_users: *max_users,
                max_queue,
            }
        }
    };
    Ok((load, budget))
}

/// `load.duration` as written.
fn load_duration(load: &LoadSpec) -> Option<Duration> {
    match load {
        LoadSpec::Closed { duration, .. } | LoadSpec::Open { duration, .. } => *duration,
    }
}

/// The JSON Schema of the scenario file, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScenarioFile)).unwrap_or_default()
}

#[cfg(test)]
mod flow_tests {
    use super::*;

    fn parse_env(text: &str) -> Result<Plan, String> {
        parse_with_env(text, Path::new("f.yaml"), None, &|n| {
            (n == "TOKEN").then(|| "s3cret".to_owned())
        })
        .map_err(|e| e.to_string())
    }

    fn file(requests: &str) -> String {
        format!(
            "base_url: http://127.0.0.1:1\nscenarios:\n  - name: s\n    requests:\n{requests}load: {{model: closed, users: 1, duration: 1s}}\n"
        )
    }

    #[test]
    fn captures_make_variables_for_later_requests() {
        let plan = parse_env(&file(
            "      - name: create\n        method: POST\n        path: /o\n        checks: [{status: [201]}]\n        capture: [{var: id, json: /order_id}]\n      - name: read\n        path: /o/{{ vars.id }}\n        checks: [{json: /order_id, equals: '{{ vars.id }}'}]\n",
        ))
        .unwrap();
        let [create, read] = &plan.scenarios[0].requests[..] else {
            panic!("two requests")
        };
        assert_eq!(plan.vars.names, vec!["id".to_owned()]);
        assert!(create.uses.is_empty() && read.uses == vec![0]);
        assert!(create.keep_body && !create.keep_headers && read.keep_body);
        let names: Vec<_> = plan
            .checks
            .iter()
            .map(|c| format!("{}: {}", c.request, c.name))
            .collect();
        assert_eq!(
            names,
            vec![
                "create: status in [201]",
                "create: capture id",
                "read: json /order_id equals {{ vars.id }}"
            ]
        );
        assert_eq!(
            (
                create.checks[0].id,
                create.captures[0].check,
                read.checks[0].id
            ),
            (0, 1, 2)
        );
    }

    #[test]
    fn a_variable_must_be_captured_before_it_is_used() {
        // Used before the request that captures it: refused, located.
        let e = parse_env(&file(
            "      - name: read\n        path: /o/{{ vars.id }}\n      - name: create\n        path: /o\n        capture: [{var: id, json: /id}]\n",
        ))
        .unwrap_err();
        assert!(e.starts_with("f.yaml:6:15:"), "{e}");
        assert!(e.contains("unknown variable \"id\""), "{e}");
        // A user variable captured anywhere may be used everywhere.
        let plan = parse_env(
            "base_url: http://127.0.0.1:1\ncookies: true\nscenarios:\n  - name: a\n    requests:\n      - path: /o/{{ vars.token }}\n  - name: login\n    requests:\n      - path: /login\n        once: true\n        capture: [{var: token, header: x-token, scope: user}]\nload: {model: closed, users: 1, duration: 1s}\n",
        )
        .unwrap();
        assert_eq!(plan.vars.scopes, vec![VarScope::User]);
        assert!(plan.cookies && plan.scenarios[0].requests[0].keep_headers);
        // One name, two scopes: refused.
        let e = parse_env(&file(
            "      - path: /a\n        capture: [{var: t, header: x, scope: user}]\n      - path: /b\n        capture: [{var: t, header: x}]\n",
        ))
        .unwrap_err();
        assert!(e.contains("captured with scope user elsewhere"), "{e}");
        // A request sent once cannot capture for one iteration.
        let e = parse_env(&file(
            "      - path: /login\n        once: true\n        capture: [{var: t, header: x}]\n",
        ))
        .unwrap_err();
        assert!(
            e.contains("is sent once") && e.contains("scope: user"),
            "{e}"
        );
    }

    #[test]
    fn environment_values_are_used_and_never_shown() {
        let plan = parse_env(
            "base_url: http://127.0.0.1:1\nheaders: {authorization: 'Bearer {{ env.TOKEN }}'}\nscenarios:\n  - requests:\n      - path: /a?k={{ env.TOKEN }}&d={{ env.NOPE | default(\"dev\") }}\nload: {model: closed, users: 1, duration: 1s}\n",
        )
        .unwrap();
        assert_eq!(plan.headers[0].1.to_str().unwrap(), "Bearer s3cret");
        assert!(plan.headers[0].1.is_sensitive());
        let req = &plan.scenarios[0].requests[0];
        assert!(req.path.is_static());
        assert!(!req.name.contains("s3cret") && !format!("{req:?}").contains("s3cret"));
        // Missing without a default: named, located.
        let e = parse_env(&file("      - path: /a/{{ env.MISSING_VAR }}\n")).unwrap_err();
        assert!(e.starts_with("f.yaml:5:15:"), "{e}");
        assert!(e.contains("\"MISSING_VAR\" is not set"), "{e}");
        // Only env templates in the file's headers and base_url.
        let e = parse_env(
            "base_url: http://127.0.0.1:1\nheaders: {x-id: '{{ uuid }}'}\nscenarios:\n  - requests:\n      - path: /a\nload: {model: closed, users: 1, duration: 1s}\n",
        )
        .unwrap_err();
        assert!(e.contains("may only use {{ env.NAME }} templates"), "{e}");
        let e = parse_env(
            "base_url: '{{ env.NOPE }}'\nscenarios:\n  - requests:\n      - path: /a\nload: {model: closed, users: 1, duration: 1s}\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("f.yaml:1:") && e.contains("\"NOPE\" is not set"),
            "{e}"
        );
        // A base_url from the environment is used, and shown as written.
        let text = "base_url: '{{ env.TOKEN }}'\nscenarios:\n  - requests:\n      - path: /a\nload: {model: closed, users: 1, duration: 1s}\n";
        let e = parse_env(text).unwrap_err();
        assert!(e.contains("is not a URL") && !e.contains("s3cret"), "{e}");
        let plan = parse_with_env(text, Path::new("f.yaml"), None, &|n| {
            (n == "TOKEN").then(|| "http://127.0.0.1:9/s3cret".to_owned())
        })
        .unwrap();
        assert_eq!(plan.base_url, "http://127.0.0.1:9/s3cret");
        assert_eq!(plan.target_shown, "{{ env.TOKEN }}");
        // With --host, the file's base_url (and its variable) is not needed.
        let plan = parse_with_env(
            "base_url: '{{ env.NOPE }}'\nscenarios:\n  - requests:\n      - path: /a\nload: {model: closed, users: 1, duration: 1s}\n",
            Path::new("f.yaml"),
            Some("http://127.0.0.1:2"),
            &|_| None,
        )
        .unwrap();
        assert_eq!(plan.target_shown, "http://127.0.0.1:2");
    }

    #[test]
    fn malformed_checks_and_captures_are_located() {
        for (requests, at, want) in [
            (
                "      - path: /a\n        checks:\n          - {status: [200], body_contains: x}\n",
                "f.yaml:7:13:",
                "checks one thing",
            ),
            (
                "      - path: /a\n        checks:\n          - json: nope\n            exists: true\n",
                "f.yaml:7:19:",
                "invalid JSON path",
            ),
            (
                "      - path: /a\n        checks:\n          - {status: [999]}\n",
                "f.yaml:7:",
                "invalid status",
            ),
            (
                "      - path: /a\n        capture:\n          - {var: 1x, json: /a}\n",
                "f.yaml:7:",
                "not a variable name",
            ),
            (
                "      - path: /a\n        capture:\n          - var: x\n            regex: '('\n",
                "f.yaml:8:20:",
                "invalid regular expression",
            ),
            (
                "      - path: /a\n        checks:\n          - {stauts: [200]}\n",
                "f.yaml:7:",
                "unknown field",
            ),
        ] {
            let e = parse_env(&file(requests)).unwrap_err();
            assert!(e.starts_with(at) && e.contains(want), "{requests}: {e}");
            assert!(e.contains("hint"), "{e}");
        }
    }
}
