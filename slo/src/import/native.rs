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
    /// A rolling window (any duration: 7d, 28d, 30d...), or a calendar
    /// period whose budget resets at each boundary:
    /// `{calendar: month, timezone: Europe/Berlin}`.
    #[serde(default = "default_period")]
    #[schemars(with = "PeriodSchema")]
    pub period: PeriodSpec,
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

fn default_period() -> PeriodSpec {
    PeriodSpec::Rolling(Duration::from_secs(30 * 86_400))
}

/// `period:` as written: a rolling window or a calendar period.
#[derive(Debug, Clone, PartialEq)]
pub enum PeriodSpec {
    /// The last `duration`, whenever it is asked (`period: 30d`).
    Rolling(Duration),
    /// The current month, week or quarter in a time zone.
    Calendar(CalendarSpec),
}

impl From<Duration> for PeriodSpec {
    fn from(d: Duration) -> Self {
        PeriodSpec::Rolling(d)
    }
}

/// A calendar period as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Which calendar unit: `month` (from the 1st, 00:00), `week` (from
    /// Monday, 00:00) or `quarter` (from January, April, July or October
    /// 1st, 00:00), local time.
    pub calendar: CalendarUnitSpec,
    /// The IANA time zone the boundaries are local to, e.g. `Europe/Berlin`.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// A calendar unit as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalendarUnitSpec {
    Week,
    Month,
    Quarter,
}

/// A period: a rolling duration or a calendar period.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PeriodSchema {
    /// A rolling window: 7d, 28d, 30d...
    Rolling(String),
    /// A calendar period: `{calendar: month, timezone: Europe/Berlin}`.
    Calendar(CalendarSpec),
}

impl Serialize for PeriodSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PeriodSpec::Rolling(d) => s.collect_str(&humantime::format_duration(*d)),
            PeriodSpec::Calendar(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PeriodSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PeriodSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as 30d, or {calendar: month, timezone: Europe/Berlin}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PeriodSpec, E> {
                humantime::parse_duration(v)
                    .map(PeriodSpec::Rolling)
                    .map_err(|e| E::custom(format!("invalid duration {v:?}: {e}")))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PeriodSpec, A::Error> {
                CalendarSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PeriodSpec::Calendar)
            }
        }
        d.deserialize_any(Visitor)
    }
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
