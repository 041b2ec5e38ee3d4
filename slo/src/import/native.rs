//! The native spec format as written (`version: slo/v1`): the types a spec
//! file deserializes into, and what every other format is converted into.
//! Validation into the model is the job of the `spec` module; the JSON Schema of
//! these types is what `slo schema` prints.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A spec file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Must be `slo/v1`.
    pub version: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub slos: Vec<SloSpec>,
}

/// One SLO as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Target in percent, e.g. 99.9.
    pub objective: f64,
    /// Any duration: 7d, 28d, 30d...
    #[serde(default = "default_period", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub period: Duration,
    pub sli: SliSpec,
    /// The client-side SLI, over the metrics loadgen exports during a run
    /// (`slo gate --compare-client`): a ratio, latency or events SLI. Without
    /// it, one is derived from `sli` (see slo/README.md, "Client-side SLIs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<SliSpec>,
    /// Label matchers narrowing the derived client-side SLI to some of the
    /// run's requests, e.g. `{loadgen_request="checkout"}`; without it, all
    /// requests of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_selector: Option<String>,
    /// Windows with fewer events than this are "no traffic", not a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_events: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<AlertingSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Time-slice budgeting (OpenSLO `Timeslices`, or `RatioTimeslices`
    /// without `target`): the SLI is the share of good slices of the
    /// period instead of the share of good events. Slices without traffic
    /// do not count. See slo/README.md, "Time slices".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeslices: Option<TimeslicesSpec>,
}

/// Time slices as written: `{slice: 1m, target: 0.95}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeslicesSpec {
    /// The length of a slice, in whole seconds: at least 5s and at most
    /// the shortest alert window of the period (5m for 30d), e.g. 1m.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub slice: Duration,
    /// A slice is good when its share of good events is at least this
    /// fraction, in (0, 1] (0.95 for 95%). Without it, each slice counts
    /// its share of good events (OpenSLO `RatioTimeslices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
}

fn default_period() -> Duration {
    Duration::from_secs(30 * 86_400)
}

/// The SLI as written: exactly one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SliSpec {
    /// Sloth-style: error and total queries with a `{{.window}}` placeholder.
    Events {
        error_query: String,
        total_query: String,
    },
    /// Good and total counters (metric selectors), as ratios of increases.
    Ratio { good: String, total: String },
    /// A histogram: requests faster than `threshold` (seconds, a bucket bound) are good.
    Latency {
        metric: String,
        #[serde(default)]
        selector: String,
        threshold: f64,
    },
    /// OpenTelemetry HTTP server metrics: 5xx responses are errors.
    Availability {
        #[serde(default)]
        selector: String,
    },
}

/// Alerting settings as written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
    /// A dashboard for this SLO, linked from the alerts' annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<AlertSpecFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<AlertSpecFile>,
    /// Also alert when the SLI has no data.
    #[serde(default)]
    pub absent: bool,
}

/// Page or ticket settings as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSpecFile {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}
