//! SLIs, budgets and burn rates from Prometheus: the report (where each SLO
//! stands now) and the gate (did a load test's window meet the objectives).

use std::time::Duration;

use serde::Serialize;

use crate::answer::{self, Answer, SNIPPET_CHARS, snippet};
use crate::budget::{self, Events, Verdict};
use crate::model::{Service, Sli, Slo};
use crate::prom::{Prom, PromError};
use crate::promql::EventQueries;
use crate::windows::{Severity, burn_alerts, promql_duration};

/// The burn-rate windows every report shows.
pub const REPORT_WINDOWS: [u64; 7] = [300, 1_800, 3_600, 7_200, 21_600, 86_400, 259_200];

/// What one window's queries said.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Events(Events),
    /// The total query returned no series: nothing was counted.
    NoData {
        query: String,
    },
    /// An answer that cannot be trusted; the message names the query and
    /// what came back.
    Inconclusive(String),
}

impl Reading {
    pub fn events(&self) -> Option<Events> {
        match self {
            Reading::Events(e) => Some(*e),
            _ => None,
        }
    }

    pub fn inconclusive(&self) -> Option<&str> {
        match self {
            Reading::Inconclusive(m) => Some(m),
            _ => None,
        }
    }
}

/// Whether an errors query that returns no series means zero errors.
///
/// Only for availability SLIs: their errors query selects nothing but the
/// failing (5xx) series, so no series means no failure was ever counted.
/// Latency and ratio errors queries are `total - (good or vector(0))`, empty
/// only when the total is; an events SLI's `error_query` is the spec's own,
/// and must say so itself (end it with `or vector(0)`).
pub fn empty_errors_mean_zero(sli: &Sli) -> bool {
    matches!(sli, Sli::Availability { .. })
}

/// Errors above the total by more than this share are not rounding.
const ERRORS_ABOVE_TOTAL: f64 = 1e-9;

/// One window's reading from the answers to its two queries (pure).
pub fn reading(slo: &Slo, q: &EventQueries, total: &Answer, errors: &Answer) -> Reading {
    reading_of(empty_errors_mean_zero(&slo.sli), q, total, errors)
}

/// [`reading`] for queries whose empty errors answer means zero errors
/// exactly when `empty_means_zero` (pure).
pub fn reading_of(
    empty_means_zero: bool,
    q: &EventQueries,
    total: &Answer,
    errors: &Answer,
) -> Reading {
    let total = match answer::single(&q.total, total) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Reading::NoData {
                query: snippet(&q.total, SNIPPET_CHARS),
            };
        }
        Err(u) => return Reading::Inconclusive(u.to_string()),
    };
    let errors = match answer::single(&q.errors, errors) {
        Ok(Some(e)) => e,
        Ok(None) if empty_means_zero => 0.0,
        Ok(None) => {
            return Reading::Inconclusive(format!(
                "Prometheus answered no series to {} while {} counted {total}: an empty errors answer means no errors only where the query says so (end an events SLI's error_query with `or vector(0)`)",
                snippet(&q.errors, SNIPPET_CHARS),
                snippet(&q.total, SNIPPET_CHARS),
            ));
        }
        Err(u) => return Reading::Inconclusive(u.to_string()),
    };
    if errors > total * (1.0 + ERRORS_ABOVE_TOTAL) + answer::NEGATIVE_NOISE {
        return Reading::Inconclusive(format!(
            "Prometheus counted {errors} errors with {} but only {total} events with {}: the two queries do not count the same events",
            snippet(&q.errors, SNIPPET_CHARS),
            snippet(&q.total, SNIPPET_CHARS),
        ));
    }
    Reading::Events(Events {
        total,
        errors: errors.min(total),
    })
}

/// The evaluation time of "now": the current second. Every query of a
/// reading (and of a report) is asked at one time, so that a scrape that
/// lands between two of them cannot shift one and not the other.
pub(crate) fn pinned(at: Option<i64>) -> Option<i64> {
    at.or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
    })
}

/// Queries one window's events at `at` (now when `None`), both queries at
/// the same time.
pub async fn events(
    prom: &Prom,
    slo: &Slo,
    window: Duration,
    at: Option<i64>,
) -> Result<Reading, PromError> {
    let at = pinned(at);
    let q = crate::timeslices::slo_events(slo, window);
    let total = prom.instant(&q.total, at).await?;
    let errors = prom.instant(&q.errors, at).await?;
    Ok(reading(slo, &q, &total, &errors))
}

/// A window's numbers for output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowReport {
    pub window: String,
    pub total: Option<f64>,
    pub errors: Option<f64>,
    /// `None` for no traffic (or an inconclusive answer).
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
    /// Why this window has no numbers although Prometheus answered.
    pub inconclusive: Option<String>,
}

fn window_report(window: Duration, slo: &Slo, r: &Reading) -> WindowReport {
    let e = r.events();
    let (sli, burn_rate) = match e.map(|e| budget::verdict(slo, e)) {
        Some(Verdict::Measured { sli, burn_rate }) => (Some(sli), Some(burn_rate)),
        _ => (None, None),
    };
    WindowReport {
        window: promql_duration(window),
        total: e.map(|e| e.total),
        errors: e.map(|e| e.errors),
        sli,
        burn_rate,
        inconclusive: r.inconclusive().map(str::to_owned),
    }
}

/// One burn-rate alert and whether it would fire now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertState {
    pub severity: &'static str,
    pub factor: f64,
    pub long: String,
    pub short: String,
    pub firing: bool,
    /// Neither window rules the alert out, and one of them could not be read:
    /// it may be firing.
    pub inconclusive: bool,
}

/// What the totals and errors of a report or a gate count.
pub fn unit(slo: &Slo) -> &'static str {
    if slo.timeslices.is_some() {
        "slices"
    } else {
        "events"
    }
}

/// A time-slice SLO's budget in slices.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SliceBudget {
    /// The slice, e.g. `1m`.
    pub slice: String,
    /// A slice is good when at least this share of its events is; `None`:
    /// each slice counts its share of good events (RatioTimeslices).
    pub target: Option<f64>,
    /// Slices in the whole period (for a calendar period, the current one).
    pub period_slices: u64,
    /// The period's error budget in slices: (1 - objective) x period_slices.
    pub budget_slices: f64,
    /// Slices of the period with traffic (the others do not count).
    pub counted_slices: Option<f64>,
    /// Bad slices among them (for RatioTimeslices, the sum of the slices'
    /// shares of bad events).
    pub bad_slices: Option<f64>,
}

/// Where one SLO stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloReport {
    pub name: String,
    pub objective: f64,
    pub period: String,
    /// What totals, errors and the budget count: `events`, or `slices` for
    /// a time-slice SLO (see `timeslices`).
    pub unit: &'static str,
    /// A time-slice SLO's slices and its budget in slices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeslices: Option<SliceBudget>,
    /// Over the whole period; `None` for no traffic (or an inconclusive answer).
    pub sli: Option<f64>,
    /// The period's own answers could not be trusted: the SLI and budget are
    /// unknown, not "no traffic".
    pub period_inconclusive: bool,
    pub budget_total_errors: Option<f64>,
    pub budget_consumed_ratio: Option<f64>,
    pub budget_remaining_ratio: Option<f64>,
    /// "N more failed requests allowed" at the period's traffic (for a
    /// time-slice SLO, N more bad slices at its counted slices).
    pub budget_remaining_errors: Option<f64>,
    pub windows: Vec<WindowReport>,
    pub alerts: Vec<AlertState>,
    /// At the 1h burn rate; `None` when the budget is not being spent (for
    /// a calendar period: when it lasts to the period's end).
    pub exhaustion_seconds: Option<f64>,
    /// For a calendar period: where in the period the report stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarReport>,
    /// Every distinct answer that could not be trusted, naming its query and
    /// what came back; empty when every number above is sound.
    pub inconclusive: Vec<String>,
}

/// Where a calendar SLO's current period stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalendarReport {
    /// `week`, `month` or `quarter`.
    pub calendar: &'static str,
    pub timezone: String,
    /// The period's start and end, RFC 3339 with the zone's offset.
    pub start: String,
    pub end: String,
    pub elapsed_seconds: f64,
    pub left_seconds: f64,
    /// At the burn rate of the last hour (`slo gate`: of its window) and
    /// the period's average traffic so far: whether the budget lasts to
    /// the period's end, and how much of it is spent then (above 1:
    /// overspent); `None` without the numbers.
    pub budget_lasts: Option<bool>,
    pub projected_consumed_ratio: Option<f64>,
}

/// Where the period `b` of `c` stands at `now`, with the budget's
/// projection to its end.
fn calendar_report(
    c: &crate::calendar::Calendar,
    b: &crate::calendar::Bounds,
    now: jiff::Timestamp,
    projection: Option<budget::Projection>,
) -> CalendarReport {
    CalendarReport {
        calendar: c.unit.as_str(),
        timezone: c.zone.clone(),
        start: local(c, b.start),
        end: local(c, b.end),
        elapsed_seconds: b.elapsed(now).as_secs_f64(),
        left_seconds: b.left(now).as_secs_f64(),
        budget_lasts: projection.map(|p| p.lasts),
        projected_consumed_ratio: projection.map(|p| p.end_consumed_ratio),
    }
}

/// The range the period's SLI and budget are read over at `at` (Unix
/// seconds): the SLO's period, or for a calendar period the time since the
/// current period's start (at least a second), with the period's bounds.
pub fn period_range(
    slo: &Slo,
    at: i64,
) -> Result<(Duration, Option<crate::calendar::Bounds>), String> {
    let Some(c) = &slo.calendar else {
        return Ok((slo.period, None));
    };
    let (_, b, elapsed) = calendar_range(c, at)?;
    Ok((elapsed, Some(b)))
}

/// The instant `at` (Unix seconds), the period of `c` holding it, and the
/// range from the period's start to it (at least a second).
fn calendar_range(
    c: &crate::calendar::Calendar,
    at: i64,
) -> Result<(jiff::Timestamp, crate::calendar::Bounds, Duration), String> {
    let now = jiff::Timestamp::from_second(at).map_err(|e| format!("time {at}: {e}"))?;
    let b = c.bounds(now).map_err(|e| e.to_string())?;
    let elapsed = Duration::from_secs(b.elapsed(now).as_secs().max(1));
    Ok((now, b, elapsed))
}

/// A period's bound as RFC 3339 in the calendar's zone.
fn local(c: &crate::calendar::Calendar, t: jiff::Timestamp) -> String {
    t.to_zoned(c.tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A time-slice SLO's budget in slices, over its period (for a calendar
/// period, the current one, `bounds`) read as `period`.
fn slice_budget(
    slo: &Slo,
    t: crate::model::Timeslices,
    bounds: Option<&crate::calendar::Bounds>,
    period: &Reading,
) -> SliceBudget {
    // A calendar period's own length: a month of 28 to 31 days, an hour
    // more or less where it holds a daylight saving change.
    let length = bounds.map_or(slo.period, |b| b.length());
    let period_slices = crate::timeslices::slices_in(length, &t);
    SliceBudget {
        slice: promql_duration(t.slice),
        target: t.target,
        period_slices,
        budget_slices: slo.budget() * period_slices as f64,
        counted_slices: period.events().map(|e| e.total),
        bad_slices: period.events().map(|e| e.errors),
    }
}

/// Builds the report of one SLO at time `at` (now when `None`).
pub async fn report(prom: &Prom, slo: &Slo, at: Option<i64>) -> Result<SloReport, PromError> {
    let at = pinned(at);
    let mut inconclusive: Vec<String> = Vec::new();
    let mut note = |r: &Reading| {
        if let Some(m) = r.inconclusive()
            && !inconclusive.iter().any(|i| i == m)
        {
            inconclusive.push(m.to_owned());
        }
    };
    let (range, bounds) = match at.map(|at| period_range(slo, at)) {
        Some(Ok(r)) => (r.0, r.1.map(Ok)),
        Some(Err(e)) => (slo.period, Some(Err(e))),
        None => (slo.period, None),
    };
    let period = match &bounds {
        Some(Err(e)) => Reading::Inconclusive(format!(
            "the calendar period of slo {:?} could not be placed: {e}",
            slo.name
        )),
        _ => events(prom, slo, range, at).await?,
    };
    let bounds = bounds.and_then(Result::ok);
    note(&period);
    let period_report = window_report(range, slo, &period);
    let b = period.events().and_then(|p| budget::budget(slo, p));
    let mut windows = Vec::new();
    for secs in REPORT_WINDOWS {
        let w = Duration::from_secs(secs);
        let r = events(prom, slo, w, at).await?;
        note(&r);
        windows.push(window_report(w, slo, &r));
    }
    let mut alerts = Vec::new();
    for a in burn_alerts(slo.period) {
        let long = events(prom, slo, a.long, at).await?;
        let short = events(prom, slo, a.short, at).await?;
        note(&long);
        note(&short);
        // Some(burning), or None when the window could not be read.
        let burning = |r: &Reading| match r {
            Reading::Inconclusive(_) => None,
            Reading::NoData { .. } => Some(false),
            Reading::Events(e) => Some(match budget::verdict(slo, *e) {
                Verdict::Measured { burn_rate, .. } => burn_rate > a.factor,
                Verdict::NoTraffic => false,
            }),
        };
        let enabled = match a.severity {
            Severity::Page => slo.alerting.page.enabled,
            Severity::Ticket => slo.alerting.ticket.enabled,
        };
        let (l, s) = (burning(&long), burning(&short));
        let ruled_out = l == Some(false) || s == Some(false);
        alerts.push(AlertState {
            severity: a.severity.as_str(),
            factor: a.factor,
            long: promql_duration(a.long),
            short: promql_duration(a.short),
            firing: enabled && l == Some(true) && s == Some(true),
            inconclusive: enabled && !ruled_out && (l.is_none() || s.is_none()),
        });
    }
    let hour_burn = windows
        .iter()
        .find(|w| w.window == "1h")
        .and_then(|w| w.burn_rate);
    let now = at.and_then(|t| jiff::Timestamp::from_second(t).ok());
    let projection = match (&bounds, now, period.events(), hour_burn) {
        (Some(bo), Some(now), Some(e), Some(burn)) => {
            budget::project(slo, e, bo.elapsed(now), bo.left(now), burn)
        }
        _ => None,
    };
    let exhaustion = match (b, hour_burn) {
        _ if bounds.is_some() => projection.and_then(|p| p.exhausted_in),
        (Some(b), Some(burn)) => budget::time_to_exhaustion(slo, b.remaining_ratio, burn),
        _ => None,
    };
    let timeslices = slo
        .timeslices
        .map(|t| slice_budget(slo, t, bounds.as_ref(), &period));
    let calendar = match (&slo.calendar, &bounds, now) {
        (Some(c), Some(bo), Some(now)) => Some(calendar_report(c, bo, now, projection)),
        _ => None,
    };
    Ok(SloReport {
        name: slo.name.clone(),
        objective: slo.objective,
        period: promql_duration(slo.period),
        unit: unit(slo),
        timeslices,
        sli: period_report.sli,
        period_inconclusive: period_report.inconclusive.is_some(),
        budget_total_errors: b.map(|b| b.allowed_errors),
        budget_consumed_ratio: b.map(|b| b.consumed_ratio),
        budget_remaining_ratio: b.map(|b| b.remaining_ratio),
        budget_remaining_errors: b.map(|b| b.remaining_errors),
        windows,
        alerts,
        exhaustion_seconds: exhaustion.map(|d| d.as_secs_f64()),
        calendar,
        inconclusive,
    })
}

/// The verdict of the gate for one SLO.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    Pass,
    Fail,
    Inconclusive,
}

/// The gate's result for one SLO over the load test's window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateResult {
    pub name: String,
    pub objective: f64,
    pub window_seconds: u64,
    /// What total and errors count: `events`, or `slices` for a time-slice
    /// SLO (counted slices of the window, and bad ones).
    pub unit: &'static str,
    pub total: Option<f64>,
    pub errors: Option<f64>,
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
    /// Share of the period's budget this load would spend if sustained for the whole period.
    pub sustained_budget_share: Option<f64>,
    pub verdict: GateVerdict,
    pub reason: String,
    /// For a calendar period: the period holding the window's end, read
    /// from its start (informative: the verdict is the window's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<GateCalendar>,
}

/// A calendar SLO's period around a gate's window: what its budget was at
/// the window's end, and where this load's burn rate would take it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateCalendar {
    /// The period holding the window's end, the time left after the window
    /// and the projection at the window's burn rate, as `slo report` gives
    /// them; `None` only when the period cannot be placed (near year 9999).
    #[serde(flatten)]
    pub period: Option<CalendarReport>,
    /// From the period's start to the window's end (the window included);
    /// `None` without traffic or when it could not be read.
    pub sli: Option<f64>,
    pub budget_consumed_ratio: Option<f64>,
    pub budget_remaining_ratio: Option<f64>,
    /// Why the period's numbers are missing although Prometheus answered.
    pub inconclusive: Option<String>,
}

/// The calendar context of a gate's window ending at `to` (Unix seconds)
/// whose burn rate was `burn`; `None` for a rolling period.
pub async fn gate_calendar(
    prom: &Prom,
    slo: &Slo,
    to: i64,
    burn: Option<f64>,
) -> Result<Option<GateCalendar>, PromError> {
    let Some(c) = &slo.calendar else {
        return Ok(None);
    };
    let (now, bounds, range) = match calendar_range(c, to) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Some(GateCalendar {
                period: None,
                sli: None,
                budget_consumed_ratio: None,
                budget_remaining_ratio: None,
                inconclusive: Some(format!(
                    "the calendar period of slo {:?} could not be placed: {e}",
                    slo.name
                )),
            }));
        }
    };
    let reading = events(prom, slo, range, Some(to)).await?;
    Ok(Some(calendar_context(slo, c, bounds, now, &reading, burn)))
}

/// The calendar context from the period's reading (pure).
pub fn calendar_context(
    slo: &Slo,
    c: &crate::calendar::Calendar,
    bounds: crate::calendar::Bounds,
    now: jiff::Timestamp,
    period: &Reading,
    burn: Option<f64>,
) -> GateCalendar {
    let w = window_report(bounds.elapsed(now), slo, period);
    let b = period.events().and_then(|e| budget::budget(slo, e));
    let projection = match (period.events(), burn) {
        (Some(e), Some(burn)) => {
            budget::project(slo, e, bounds.elapsed(now), bounds.left(now), burn)
        }
        _ => None,
    };
    GateCalendar {
        period: Some(calendar_report(c, &bounds, now, projection)),
        sli: w.sli,
        budget_consumed_ratio: b.map(|b| b.consumed_ratio),
        budget_remaining_ratio: b.map(|b| b.remaining_ratio),
        inconclusive: w.inconclusive,
    }
}

/// The gate's verdict on one SLO from its window's reading (pure).
pub fn judge(slo: &Slo, window: Duration, r: &Reading, max_burn: Option<f64>) -> GateResult {
    let need = match &slo.timeslices {
        Some(t) => format!(
            "at least 1 slice of {} with traffic",
            promql_duration(t.slice)
        ),
        None => format!("at least {} events", slo.min_events.max(1.0)),
    };
    let unit = unit(slo);
    let e = r.events();
    let (verdict, reason, sli, burn) = match r {
        Reading::Inconclusive(m) => (GateVerdict::Inconclusive, m.clone(), None, None),
        Reading::NoData { query } => (
            GateVerdict::Inconclusive,
            format!(
                "no traffic in the window: {query} returned no series ({need} needed): never a pass"
            ),
            None,
            None,
        ),
        Reading::Events(e) => match budget::verdict(slo, *e) {
            Verdict::NoTraffic => (
                GateVerdict::Inconclusive,
                format!(
                    "no traffic in the window: {} {unit} ({need} needed): never a pass",
                    e.total
                ),
                None,
                None,
            ),
            Verdict::Measured { sli, burn_rate } => {
                if sli < slo.objective {
                    (
                        GateVerdict::Fail,
                        format!(
                            "SLI {:.4}% is below the objective {}%{}",
                            sli * 100.0,
                            slo.objective * 100.0,
                            if slo.timeslices.is_some() {
                                format!(
                                    " ({} of {} slices bad)",
                                    fmt_count(e.errors),
                                    fmt_count(e.total)
                                )
                            } else {
                                String::new()
                            }
                        ),
                        Some(sli),
                        Some(burn_rate),
                    )
                } else if let Some(max) = max_burn.filter(|m| burn_rate > *m) {
                    (
                        GateVerdict::Fail,
                        format!("burn rate {burn_rate:.2} is above the limit {max}"),
                        Some(sli),
                        Some(burn_rate),
                    )
                } else {
                    (GateVerdict::Pass, "met".into(), Some(sli), Some(burn_rate))
                }
            }
        },
    };
    GateResult {
        name: slo.name.clone(),
        objective: slo.objective,
        window_seconds: window.as_secs(),
        unit,
        total: e.map(|e| e.total),
        errors: e.map(|e| e.errors),
        sli,
        burn_rate: burn,
        sustained_budget_share: burn,
        verdict,
        reason,
        calendar: None,
    }
}

/// A count of slices for a message: whole, or to two decimals (a
/// RatioTimeslices SLO's bad slices are sums of shares).
pub fn fmt_count(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The window `[from, to]` (Unix seconds) as a duration, at least a second.
pub fn window_of(from: i64, to: i64) -> Duration {
    Duration::from_secs(u64::try_from(to.saturating_sub(from)).unwrap_or(0).max(1))
}

/// Evaluates every SLO over `[from, to]` (Unix seconds).
pub async fn gate(
    prom: &Prom,
    service: &Service,
    from: i64,
    to: i64,
    max_burn: Option<f64>,
) -> Result<Vec<GateResult>, PromError> {
    let window = window_of(from, to);
    let mut out = Vec::new();
    for slo in &service.slos {
        let r = events(prom, slo, window, Some(to)).await?;
        let mut g = judge(slo, window, &r, max_burn);
        g.calendar = gate_calendar(prom, slo, to, g.burn_rate).await?;
        out.push(g);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Series;
    use crate::model::Alerting;

    fn slo(sli: Sli) -> Slo {
        Slo {
            name: "s".into(),
            description: None,
            objective: 0.99,
            period: Duration::from_secs(30 * 86_400),
            calendar: None,
            client: crate::model::ClientSli::Availability {
                selector: String::new(),
            },
            sli,
            min_events: 10.0,
            labels: Default::default(),
            alerting: Alerting::default(),
            timeslices: None,
        }
    }

    fn availability() -> Slo {
        slo(Sli::Availability {
            selector: "{job=\"app\"}".into(),
        })
    }

    fn latency() -> Slo {
        slo(Sli::Latency {
            metric: "http_server_request_duration_seconds".into(),
            selector: "{job=\"app\"}".into(),
            threshold: 0.1,
        })
    }

    fn events_sli() -> Slo {
        slo(Sli::Events {
            error_query: "sum(rate(errors[{{.window}}]))".into(),
            total_query: "sum(rate(total[{{.window}}]))".into(),
        })
    }

    fn one(v: f64) -> Answer {
        Answer::Vector(vec![Series {
            labels: Default::default(),
            value: v,
        }])
    }

    fn empty() -> Answer {
        Answer::Vector(Vec::new())
    }

    fn read(s: &Slo, total: Answer, errors: Answer) -> Reading {
        let q = crate::timeslices::slo_events(s, Duration::from_secs(300));
        reading(s, &q, &total, &errors)
    }

    fn judged(s: &Slo, total: Answer, errors: Answer) -> GateResult {
        judge(s, Duration::from_secs(300), &read(s, total, errors), None)
    }

    #[test]
    fn healthy_answers_pass() {
        let r = judged(&availability(), one(1000.0), one(0.0));
        assert_eq!(r.verdict, GateVerdict::Pass, "{r:?}");
    }

    #[test]
    fn every_untrusted_errors_answer_is_inconclusive_never_a_pass() {
        let two = Answer::Vector(vec![
            Series {
                labels: [("code".into(), "500".into())].into(),
                value: 0.0,
            },
            Series {
                labels: [("code".into(), "503".into())].into(),
                value: 900.0,
            },
        ]);
        for (what, errors) in [
            ("NaN", one(f64::NAN)),
            ("+Inf", one(f64::INFINITY)),
            ("-Inf", one(f64::NEG_INFINITY)),
            ("-5", one(-5.0)),
            ("matrix", Answer::Matrix(1)),
            ("string", Answer::String("0".into())),
            ("scalar", Answer::Scalar(0.0)),
            ("2 series", two),
            (
                "not JSON",
                Answer::Malformed("a body that is not JSON: <html>".into()),
            ),
        ] {
            for s in [availability(), latency(), events_sli()] {
                let r = judged(&s, one(1000.0), errors.clone());
                assert_eq!(r.verdict, GateVerdict::Inconclusive, "{what}: {r:?}");
                let q = crate::timeslices::slo_events(&s, Duration::from_secs(300)).errors;
                assert!(
                    r.reason.contains(&q),
                    "{what}: names the query: {}",
                    r.reason
                );
                assert!(
                    r.reason.contains(what),
                    "{what}: says what came back: {}",
                    r.reason
                );
            }
        }
    }

    #[test]
    fn every_untrusted_total_answer_is_inconclusive() {
        for total in [
            one(f64::NAN),
            one(f64::INFINITY),
            one(-1.0),
            Answer::Matrix(2),
            Answer::Scalar(5.0),
        ] {
            let r = judged(&availability(), total.clone(), one(0.0));
            assert_eq!(r.verdict, GateVerdict::Inconclusive, "{total:?}");
        }
    }

    #[test]
    fn a_missing_total_is_inconclusive_and_names_the_query() {
        let s = availability();
        let r = judged(&s, empty(), one(0.0));
        assert_eq!(r.verdict, GateVerdict::Inconclusive);
        let q = crate::timeslices::slo_events(&s, Duration::from_secs(300)).total;
        assert!(r.reason.contains(&q), "{}", r.reason);
        assert!(r.reason.contains("no series"), "{}", r.reason);
    }

    #[test]
    fn an_empty_errors_answer_is_zero_only_for_availability() {
        assert_eq!(
            read(&availability(), one(100.0), empty()),
            Reading::Events(Events {
                total: 100.0,
                errors: 0.0
            })
        );
        for s in [latency(), events_sli()] {
            let r = read(&s, one(100.0), empty());
            assert!(
                r.inconclusive().is_some_and(|m| m.contains("or vector(0)")),
                "{r:?}"
            );
        }
    }

    #[test]
    fn errors_above_the_total_are_inconclusive() {
        let r = judged(&availability(), one(100.0), one(900.0));
        assert_eq!(r.verdict, GateVerdict::Inconclusive, "{r:?}");
        // Rounding is not a disagreement.
        let r = judged(&availability(), one(100.0), one(100.0 + 1e-12));
        assert_eq!(r.verdict, GateVerdict::Fail, "{r:?}");
    }

    #[test]
    fn time_slices_are_judged_in_slices() {
        let mut s = availability();
        s.objective = 0.9;
        s.timeslices = Some(crate::model::Timeslices {
            slice: Duration::from_secs(10),
            target: Some(0.9),
        });
        // 2 of 8 counted slices bad: 75% of slices good, below 90%. One
        // counted slice is traffic, whatever min_events (it holds per slice).
        let r = judged(&s, one(8.0), one(2.0));
        assert_eq!(r.verdict, GateVerdict::Fail, "{r:?}");
        assert_eq!(r.unit, "slices");
        assert!(r.reason.contains("(2 of 8 slices bad)"), "{}", r.reason);
        assert_eq!(r.sli, Some(0.75));
        assert!((r.burn_rate.unwrap() - 2.5).abs() < 1e-9);
        let r = judged(&s, one(1.0), one(0.0));
        assert_eq!(r.verdict, GateVerdict::Pass, "{r:?}");
        let r = judged(&s, empty(), empty());
        assert_eq!(r.verdict, GateVerdict::Inconclusive);
        assert!(
            r.reason.contains("slice of 10s with traffic"),
            "{}",
            r.reason
        );
        // The queries count slices of the SLI's own series.
        let q = crate::timeslices::slo_events(&s, Duration::from_secs(80));
        assert!(q.total.starts_with("count_over_time(("), "{}", q.total);
        assert!(q.total.ends_with(")[1m19s999ms:10s])"), "{}", q.total);
    }

    #[test]
    fn too_little_traffic_is_inconclusive() {
        let r = judged(&availability(), one(5.0), one(0.0));
        assert_eq!(r.verdict, GateVerdict::Inconclusive);
        assert!(r.reason.contains("5 events"), "{}", r.reason);
    }

    #[test]
    fn a_calendar_months_slices_are_its_own() {
        let spec = "version: slo/v1\nservice: app\nslos:\n  - name: a\n    objective: 99\n    period: {calendar: month, timezone: Europe/Berlin}\n    timeslices: {slice: 1m, target: 0.95}\n    sli:\n      availability: {}\n";
        let service = crate::spec::parse(spec, std::path::Path::new("s.yaml")).unwrap();
        let slo = &service.slos[0];
        let (c, t) = (slo.calendar.as_ref().unwrap(), slo.timeslices.unwrap());
        let read = Reading::Events(Events {
            total: 600.0,
            errors: 3.0,
        });
        let at = |s: &str| c.bounds(s.parse::<jiff::Timestamp>().unwrap()).unwrap();
        // March loses an hour to summer time, May has 31 days, February 28.
        for (when, slices) in [
            ("2026-03-10T00:00:00Z", 44_580),
            ("2026-05-10T00:00:00Z", 44_640),
            ("2026-02-10T00:00:00Z", 40_320),
        ] {
            let b = slice_budget(slo, t, Some(&at(when)), &read);
            assert_eq!(b.period_slices, slices, "{when}");
            assert!((b.budget_slices - slices as f64 * 0.01).abs() < 1e-6);
            assert_eq!((b.counted_slices, b.bad_slices), (Some(600.0), Some(3.0)));
        }
        // A rolling period: its own length (the nominal 30d here).
        assert_eq!(slice_budget(slo, t, None, &read).period_slices, 43_200);
    }

    #[test]
    fn a_calendar_gate_projects_the_windows_burn_to_the_periods_end() {
        let spec = "version: slo/v1\nservice: app\nslos:\n  - name: a\n    objective: 99\n    period: {calendar: month, timezone: Europe/Berlin}\n    sli:\n      availability: {}\n";
        let service = crate::spec::parse(spec, std::path::Path::new("s.yaml")).unwrap();
        let slo = &service.slos[0];
        let c = slo.calendar.as_ref().unwrap();
        // 2026-03-29T12:00:00Z: 28d13h of the Berlin March gone, 2d10h left.
        let to = jiff::Timestamp::from_second(1_774_785_600).unwrap();
        let bounds = c.bounds(to).unwrap();
        let period = Reading::Events(Events {
            total: 1000.0,
            errors: 1.0,
        });
        let (gone, left) = (2_466_000.0, 208_800.0);
        let future = 1000.0 / gone * left;
        let end = |burn: f64| (1.0 + burn * 0.01 * future) / (0.01 * (1000.0 + future));
        // A gentle load: a tenth of the budget spent, and it lasts.
        let g = calendar_context(slo, c, bounds, to, &period, Some(5.0));
        assert_eq!(g.sli, Some(0.999));
        assert!((g.budget_remaining_ratio.unwrap() - 0.9).abs() < 1e-9);
        let p = g.period.unwrap();
        assert!((p.projected_consumed_ratio.unwrap() - end(5.0)).abs() < 1e-9);
        assert_eq!(p.budget_lasts, Some(true));
        assert_eq!(p.left_seconds, left);
        assert_eq!(p.start, "2026-03-01T00:00:00+01:00");
        // Burning at 20 for the rest of the month overspends it.
        let g = calendar_context(slo, c, bounds, to, &period, Some(20.0));
        assert!(end(20.0) > 1.0);
        let p = g.period.unwrap();
        assert!((p.projected_consumed_ratio.unwrap() - end(20.0)).abs() < 1e-9);
        assert_eq!(p.budget_lasts, Some(false));
        // An unreadable period has no numbers and says why.
        let g = calendar_context(
            slo,
            c,
            bounds,
            to,
            &Reading::Inconclusive("NaN".into()),
            Some(1.0),
        );
        assert_eq!(g.sli, None);
        assert_eq!(g.period.unwrap().budget_lasts, None);
        assert_eq!(g.inconclusive.as_deref(), Some("NaN"));
        // Without a burn rate (no traffic in the window), no projection.
        let g = calendar_context(slo, c, bounds, to, &period, None);
        assert_eq!(g.period.unwrap().projected_consumed_ratio, None);
        assert!(g.budget_remaining_ratio.is_some());
    }
}
