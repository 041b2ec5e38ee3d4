//! SLIs, budgets and burn rates from Prometheus: the report (where each SLO
//! stands now) and the gate (did a load test's window meet the objectives).

use std::time::Duration;

use serde::Serialize;

use crate::budget::{self, Events, Verdict};
use crate::model::{Service, Slo};
use crate::prom::{Prom, PromError};
use crate::promql;
use crate::windows::{Severity, burn_alerts, promql_duration};

/// The burn-rate windows every report shows.
pub const REPORT_WINDOWS: [u64; 7] = [300, 1_800, 3_600, 7_200, 21_600, 86_400, 259_200];

/// Events over one window, or `None` when Prometheus has no such series.
pub async fn events(
    prom: &Prom,
    slo: &Slo,
    window: Duration,
    at: Option<i64>,
) -> Result<Option<Events>, PromError> {
    let q = promql::events(slo, window);
    let Some(total) = prom.scalar(&q.total, at).await? else {
        return Ok(None);
    };
    // No error series at all means no errors (a 5xx series appears with the first 5xx).
    let errors = prom.scalar(&q.errors, at).await?.unwrap_or(0.0);
    Ok(Some(Events { total, errors }))
}

/// What `slo check --prometheus` found for one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCheck {
    /// Series the SLI reads (an estimate of its cost).
    pub series: f64,
    /// Everything that does not match the spec.
    pub problems: Vec<String>,
}

/// Checks an SLO against what Prometheus has: the metrics exist, and a
/// latency threshold is one of the histogram's `le` buckets.
pub async fn check_live(prom: &Prom, slo: &Slo) -> Result<LiveCheck, PromError> {
    let mut problems = Vec::new();
    let count = |selector: String| format!("count({selector})");
    let (selectors, bucket) = match &slo.sli {
        crate::model::Sli::Availability { selector } => (
            vec![format!(
                "http_server_request_duration_seconds_count{}",
                promql::braces(selector)
            )],
            None,
        ),
        crate::model::Sli::Latency {
            metric,
            selector,
            threshold,
        } => (
            vec![format!("{metric}_count{}", promql::braces(selector))],
            Some((
                format!("{metric}_bucket{}", promql::braces(selector)),
                *threshold,
            )),
        ),
        crate::model::Sli::Ratio { good, total } => (vec![good.clone(), total.clone()], None),
        crate::model::Sli::Events { .. } => (Vec::new(), None),
    };
    let mut series = 0.0;
    for sel in &selectors {
        match prom.scalar(&count(sel.clone()), None).await? {
            Some(n) if n > 0.0 => series += n,
            _ => problems.push(format!("no series match {sel} (check the selector, and that Prometheus scrapes the service)")),
        }
    }
    if let crate::model::Sli::Events {
        error_query,
        total_query,
    } = &slo.sli
    {
        for q in [error_query, total_query] {
            if prom
                .scalar(&q.replace("{{.window}}", "5m"), None)
                .await?
                .is_none()
            {
                problems.push(format!("{q} returns no data over 5m"));
            }
        }
    }
    if let Some((bucket, threshold)) = bucket {
        let buckets = prom.vector(&format!("count by (le) ({bucket})")).await?;
        series += buckets.iter().map(|(_, v)| v).sum::<f64>();
        let mut bounds: Vec<f64> = buckets
            .iter()
            .filter_map(|(m, _)| m.get("le")?.parse::<f64>().ok())
            .collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        if !bounds.is_empty() && !bounds.iter().any(|b| (b - threshold).abs() < 1e-9) {
            let list: Vec<String> = bounds.iter().map(|b| promql::format_le(*b)).collect();
            problems.push(format!(
                "latency threshold {threshold} is not a bucket of {bucket}; buckets: {}",
                list.join(", ")
            ));
        }
    }
    Ok(LiveCheck { series, problems })
}

/// A window's numbers for output.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowReport {
    pub window: String,
    pub total: Option<f64>,
    pub errors: Option<f64>,
    /// `None` for no traffic.
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
}

fn window_report(window: Duration, slo: &Slo, e: Option<Events>) -> WindowReport {
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
}

/// Where one SLO stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloReport {
    pub name: String,
    pub objective: f64,
    pub period: String,
    /// Over the whole period; `None` for no traffic.
    pub sli: Option<f64>,
    pub budget_total_errors: Option<f64>,
    pub budget_consumed_ratio: Option<f64>,
    pub budget_remaining_ratio: Option<f64>,
    /// "N more failed requests allowed" at the period's traffic.
    pub budget_remaining_errors: Option<f64>,
    pub windows: Vec<WindowReport>,
    pub alerts: Vec<AlertState>,
    /// At the 1h burn rate; `None` when the budget is not being spent.
    pub exhaustion_seconds: Option<f64>,
}

/// Builds the report of one SLO at time `at` (now when `None`).
pub async fn report(prom: &Prom, slo: &Slo, at: Option<i64>) -> Result<SloReport, PromError> {
    let period = events(prom, slo, slo.period, at).await?;
    let period_report = window_report(slo.period, slo, period);
    let b = period.and_then(|p| budget::budget(slo, p));
    let mut windows = Vec::new();
    for secs in REPORT_WINDOWS {
        let w = Duration::from_secs(secs);
        windows.push(window_report(w, slo, events(prom, slo, w, at).await?));
    }
    let mut alerts = Vec::new();
    for a in burn_alerts(slo.period) {
        let long = events(prom, slo, a.long, at).await?;
        let short = events(prom, slo, a.short, at).await?;
        let burning = |e: Option<Events>| match e.map(|e| budget::verdict(slo, e)) {
            Some(Verdict::Measured { burn_rate, .. }) => burn_rate > a.factor,
            _ => false,
        };
        let enabled = match a.severity {
            Severity::Page => slo.alerting.page.enabled,
            Severity::Ticket => slo.alerting.ticket.enabled,
        };
        alerts.push(AlertState {
            severity: a.severity.as_str(),
            factor: a.factor,
            long: promql_duration(a.long),
            short: promql_duration(a.short),
            firing: enabled && burning(long) && burning(short),
        });
    }
    let hour_burn = windows
        .iter()
        .find(|w| w.window == "1h")
        .and_then(|w| w.burn_rate);
    let exhaustion = match (b, hour_burn) {
        (Some(b), Some(burn)) => budget::time_to_exhaustion(slo, b.remaining_ratio, burn),
        _ => None,
    };
    Ok(SloReport {
        name: slo.name.clone(),
        objective: slo.objective,
        period: promql_duration(slo.period),
        sli: period_report.sli,
        budget_total_errors: b.map(|b| b.allowed_errors),
        budget_consumed_ratio: b.map(|b| b.consumed_ratio),
        budget_remaining_ratio: b.map(|b| b.remaining_ratio),
        budget_remaining_errors: b.map(|b| b.remaining_errors),
        windows,
        alerts,
        exhaustion_seconds: exhaustion.map(|d| d.as_secs_f64()),
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
    pub total: Option<f64>,
    pub errors: Option<f64>,
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
    /// Share of the period's budget this load would spend if sustained for the whole period.
    pub sustained_budget_share: Option<f64>,
    pub verdict: GateVerdict,
    pub reason: String,
}

/// Evaluates every SLO over `[from, to]` (Unix seconds).
pub async fn gate(
    prom: &Prom,
    service: &Service,
    from: i64,
    to: i64,
    max_burn: Option<f64>,
) -> Result<Vec<GateResult>, PromError> {
    let window = Duration::from_secs((to - from).max(1) as u64);
    let mut out = Vec::new();
    for slo in &service.slos {
        let e = events(prom, slo, window, Some(to)).await?;
        let (verdict, reason, sli, burn) = match e.map(|e| budget::verdict(slo, e)) {
            None | Some(Verdict::NoTraffic) => (
                GateVerdict::Inconclusive,
                format!(
                    "no traffic in the window (at least {} events needed): never a pass",
                    slo.min_events.max(1.0)
                ),
                None,
                None,
            ),
            Some(Verdict::Measured { sli, burn_rate }) => {
                if sli < slo.objective {
                    (
                        GateVerdict::Fail,
                        format!(
                            "SLI {:.4}% is below the objective {}%",
                            sli * 100.0,
                            slo.objective * 100.0
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
        };
        out.push(GateResult {
            name: slo.name.clone(),
            objective: slo.objective,
            window_seconds: window.as_secs(),
            total: e.map(|e| e.total),
            errors: e.map(|e| e.errors),
            sli,
            burn_rate: burn,
            sustained_budget_share: burn,
            verdict,
            reason,
        });
    }
    Ok(out)
}
