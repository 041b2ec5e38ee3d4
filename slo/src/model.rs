//! The validated SLO model every other part works from.

use std::collections::BTreeMap;
use std::time::Duration;

/// A service and its SLOs.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub slos: Vec<Slo>,
}

/// One SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub name: String,
    pub description: Option<String>,
    /// Target as a fraction (0.999 for 99.9%).
    pub objective: f64,
    /// The period's length; for a calendar period its nominal length
    /// (30d a month, 7d a week, 91d a quarter), which the alert windows
    /// and rule intervals are scaled to.
    pub period: Duration,
    /// Set for a calendar period: the SLI and budget count from the
    /// current month's, week's or quarter's start in its zone.
    pub calendar: Option<crate::calendar::Calendar>,
    pub sli: Sli,
    /// The same SLI as the load generator measured it (`slo gate
    /// --compare-client`): written in the spec, or derived from `sli`.
    pub client: ClientSli,
    /// Windows with fewer events are reported as "no traffic".
    pub min_events: f64,
    pub labels: BTreeMap<String, String>,
    pub alerting: Alerting,
    /// Time-slice budgeting: the SLI is the share of good slices, not of
    /// good events (see [`Timeslices`]); `None` counts events.
    pub timeslices: Option<Timeslices>,
}

/// Time slices (OpenSLO `Timeslices` and `RatioTimeslices`): the period is
/// cut into slices of `slice`; a slice without traffic (fewer events than
/// the SLO's `min_events`, or none) does not count. With `target`, a
/// counted slice is good when its share of good events is at least
/// `target`, and the SLI is the share of good slices; without it, the SLI
/// is the average of the counted slices' shares of good events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeslices {
    pub slice: Duration,
    /// A fraction in (0, 1].
    pub target: Option<f64>,
}

impl Slo {
    /// The error budget as a fraction of events (0.001 for 99.9%).
    pub fn budget(&self) -> f64 {
        1.0 - self.objective
    }
}

/// How good and bad events are counted.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Queries with a `{{.window}}` placeholder returning error and total rates.
    Events {
        error_query: String,
        total_query: String,
    },
    /// Counter selectors of good and total events.
    Ratio { good: String, total: String },
    /// A histogram (base name, without `_bucket`), label matchers, and the
    /// bound in seconds under which a request is good.
    Latency {
        metric: String,
        selector: String,
        threshold: f64,
    },
    /// OpenTelemetry HTTP server metrics; 5xx responses are errors.
    Availability { selector: String },
}

/// The client side of an SLO: its SLI over the metrics loadgen exports
/// during a run (`http_client_request_duration_seconds`), every query
/// restricted to the run's `loadgen_run` label (see [`crate::client`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientSli {
    /// Written in the spec (`client:`): a ratio, latency or events SLI.
    Explicit(Sli),
    /// Derived from an availability, ratio or events SLI: the requests that
    /// failed as the run report counts them (a status outside the
    /// request's `expect`, or no response) over all requests. `selector`
    /// narrows the requests (`client_selector`); empty is all of the run's.
    Availability { selector: String },
    /// Derived from a latency SLI: requests that succeeded within
    /// `threshold` seconds over all requests (a failed request is never
    /// fast), from the time each was actually sent.
    Latency { selector: String, threshold: f64 },
}

/// Page or ticket alert settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertSpec {
    pub enabled: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Alerting settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alerting {
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub runbook_url: Option<String>,
    pub dashboard_url: Option<String>,
    pub page: AlertSpec,
    pub ticket: AlertSpec,
    pub absent: bool,
}
