//! Autoscaling on requests per second per pod: a HorizontalPodAutoscaler
//! (`autoscaling/v2`, Pods metric) with the prometheus-adapter rule that
//! serves its metric, and a KEDA ScaledObject with a prometheus trigger.
//!
//! The per-pod target is given, or derived from a loadgen stress run: the
//! highest throughput per replica at which the run's thresholds still held
//! ([`capacity`]), times a headroom factor.

use std::time::Duration;

use common::report::{IntervalSummary, Metric, Op, ParseError, REPORT_VERSION, Report};
use serde_json::{Value, json};

use crate::promql::{self, braces, with_matcher};
use crate::rules::fmt_num;

/// The custom metric the adapter serves and the HPA reads.
pub const METRIC_NAME: &str = "http_server_requests_per_second";

/// Errors building autoscaling configs or reading a capacity run.
#[derive(Debug, thiserror::Error)]
pub enum HpaError {
    /// A setting out of its range.
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("{path}:{line}:{column}: not a loadgen report: {message}")]
    Report {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Capacity { path: String, message: String },
}

/// What to scale and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The Deployment (and the names of the generated objects).
    pub deployment: String,
    /// Matchers of the service's request counter, e.g. `{job="target-app"}`.
    pub selector: String,
    /// The request-duration histogram (its `_count` counts requests).
    pub metric: String,
    /// Added to the KEDA query as `namespace="..."` (its query sees every namespace).
    pub namespace: Option<String>,
    /// Requests per second per pod the autoscaler holds.
    pub target_rps: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// How long the recommendation must stay lower before replicas go.
    pub scale_down_window: Duration,
    /// The range of the rate in the adapter's and KEDA's queries.
    pub rate_window: Duration,
    /// Prometheus as KEDA reaches it.
    pub prometheus_url: String,
    /// How the target was chosen, for an annotation.
    pub derivation: String,
}

/// A setting of [`Settings`], as a message names it: by its field name
/// here, by its flag in the CLI ([`SettingError::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Deployment,
    Namespace,
    MinReplicas,
    MaxReplicas,
    ScaleDownWindow,
    RateWindow,
    PrometheusUrl,
    Selector,
    Metric,
}

impl Setting {
    /// The field's name in [`Settings`].
    pub fn field(self) -> &'static str {
        match self {
            Setting::Deployment => "deployment",
            Setting::Namespace => "namespace",
            Setting::MinReplicas => "min_replicas",
            Setting::MaxReplicas => "max_replicas",
            Setting::ScaleDownWindow => "scale_down_window",
            Setting::RateWindow => "rate_window",
            Setting::PrometheusUrl => "prometheus_url",
            Setting::Selector => "selector",
            Setting::Metric => "metric",
        }
    }
}

/// A [`Settings`] value out of its range.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingError {
    Deployment(String),
    Namespace(String),
    TargetRps(f64),
    Replicas {
        min: u32,
        max: u32,
    },
    ScaleDownWindow(Duration),
    RateWindow,
    PrometheusUrl(String),
    Selector {
        selector: String,
        metric: String,
        problem: String,
    },
}

impl SettingError {
    /// The message, each setting named by `name` (a field name, a flag).
    pub fn describe(&self, name: impl Fn(Setting) -> String) -> String {
        match self {
            SettingError::Deployment(d) => format!(
                "{} {d:?}: a Kubernetes name is lowercase letters, digits and '-', at most 63 (e.g. target-app)",
                name(Setting::Deployment)
            ),
            SettingError::Namespace(ns) => format!(
                "{} {ns:?}: a Kubernetes namespace is lowercase letters, digits and '-'",
                name(Setting::Namespace)
            ),
            SettingError::TargetRps(t) => format!(
                "the per-pod target must be a positive number of requests per second, not {t}"
            ),
            SettingError::Replicas { min, max } => format!(
                "replicas: need 1 <= {} ({min}) <= {} ({max})",
                name(Setting::MinReplicas),
                name(Setting::MaxReplicas)
            ),
            SettingError::ScaleDownWindow(w) => format!(
                "{} {}: Kubernetes allows at most 1h",
                name(Setting::ScaleDownWindow),
                crate::duration::format(*w)
            ),
            SettingError::RateWindow => {
                format!("{} must be at least 1s", name(Setting::RateWindow))
            }
            SettingError::PrometheusUrl(u) => format!(
                "{} {u:?}: an http:// or https:// URL with a host (e.g. http://prometheus-operated.monitoring.svc:9090)",
                name(Setting::PrometheusUrl)
            ),
            SettingError::Selector {
                selector,
                metric,
                problem,
            } => {
                let sel = name(Setting::Selector);
                format!(
                    "{sel} {selector:?} with {} {metric:?}: {problem} (e.g. {sel} '{{job=\"target-app\"}}')",
                    name(Setting::Metric)
                )
            }
        }
    }
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(|s| s.field().to_owned()))
    }
}

impl std::error::Error for SettingError {}

impl Settings {
    fn check(&self) -> Result<(), SettingError> {
        if !is_dns_label(&self.deployment) {
            return Err(SettingError::Deployment(self.deployment.clone()));
        }
        if let Some(ns) = &self.namespace
            && !is_dns_label(ns)
        {
            return Err(SettingError::Namespace(ns.clone()));
        }
        if !(self.target_rps.is_finite() && self.target_rps > 0.0) {
            return Err(SettingError::TargetRps(self.target_rps));
        }
        if self.min_replicas < 1 || self.min_replicas > self.max_replicas {
            return Err(SettingError::Replicas {
                min: self.min_replicas,
                max: self.max_replicas,
            });
        }
        if self.scale_down_window > Duration::from_secs(3600) {
            return Err(SettingError::ScaleDownWindow(self.scale_down_window));
        }
        if self.rate_window < Duration::from_secs(1) {
            return Err(SettingError::RateWindow);
        }
        match reqwest::Url::parse(&self.prometheus_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(SettingError::PrometheusUrl(self.prometheus_url.clone())),
        }
        let probe = format!("{}_count{}", self.metric, braces(&self.selector));
        promql::check_selector(&probe).map_err(|problem| SettingError::Selector {
            selector: self.selector.clone(),
            metric: self.metric.clone(),
            problem: problem.to_string(),
        })
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A quantity as Kubernetes writes it: whole numbers plain, else milli-units.
pub fn quantity(x: f64) -> String {
    let milli = (x * 1000.0).round() as i64;
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

fn labels(s: &Settings) -> Value {
    json!({
        "app.kubernetes.io/name": s.deployment,
        "app.kubernetes.io/component": "autoscaling",
    })
}

fn behavior(s: &Settings) -> Value {
    json!({
        "scaleDown": {
            "stabilizationWindowSeconds": s.scale_down_window.as_secs(),
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        },
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        },
    })
}

fn annotations(s: &Settings) -> Value {
    json!({"slo.loadgen.dev/target-rps-per-pod": s.derivation})
}

/// The HorizontalPodAutoscaler.
pub fn hpa(s: &Settings) -> Result<Value, HpaError> {
    s.check()?;
    Ok(json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": s.deployment, "labels": labels(s), "annotations": annotations(s)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.deployment},
            "minReplicas": s.min_replicas,
            "maxReplicas": s.max_replicas,
            "metrics": [{
                "type": "Pods",
                "pods": {
                    "metric": {"name": METRIC_NAME},
                    "target": {"type": "AverageValue", "averageValue": quantity(s.target_rps)},
                },
            }],
            "behavior": behavior(s),
        },
    }))
}

/// The adapter's series query (which series it discovers).
pub fn adapter_series_query(s: &Settings) -> String {
    format!(
        "{}_count{}",
        s.metric,
        with_matcher(&s.selector, "namespace!=\"\", pod!=\"\"")
    )
}

/// The adapter's metrics query, a Go template over the request.
pub fn adapter_metrics_query(s: &Settings) -> String {
    format!(
        "sum by (<<.GroupBy>>) (rate(<<.Series>>{}[{}]))",
        with_matcher(&s.selector, "<<.LabelMatchers>>"),
        crate::windows::promql_duration(s.rate_window)
    )
}

/// The prometheus-adapter rule serving [`METRIC_NAME`], as values of its
/// Helm chart (`rules.custom`).
pub fn adapter_values(s: &Settings) -> Result<Value, HpaError> {
    s.check()?;
    Ok(json!({
        "rules": {
            "default": false,
            "custom": [{
                "seriesQuery": adapter_series_query(s),
                "resources": {"overrides": {
                    "namespace": {"resource": "namespace"},
                    "pod": {"resource": "pod"},
                }},
                "name": {
                    "matches": format!("^{}_count$", s.metric),
                    "as": METRIC_NAME,
                },
                "metricsQuery": adapter_metrics_query(s),
            }],
        },
    }))
}

/// The KEDA trigger's query: requests per second over all pods (KEDA's
/// AverageValue divides it by the replicas).
pub fn keda_query(s: &Settings) -> String {
    let selector = match &s.namespace {
        Some(ns) => with_matcher(&s.selector, &format!("namespace=\"{ns}\"")),
        None => braces(&s.selector),
    };
    format!(
        "sum(rate({}_count{selector}[{}]))",
        s.metric,
        crate::windows::promql_duration(s.rate_window)
    )
}

/// The KEDA ScaledObject.
pub fn scaled_object(s: &Settings) -> Result<Value, HpaError> {
    s.check()?;
    Ok(json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": s.deployment, "labels": labels(s), "annotations": annotations(s)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.deployment},
            "minReplicaCount": s.min_replicas,
            "maxReplicaCount": s.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": s.scale_down_window.as_secs().max(60),
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior(s)}},
            "triggers": [{
                "type": "prometheus",
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": s.prometheus_url,
                    "query": keda_query(s),
                    "threshold": fmt_num(s.target_rps),
                    "ignoreNullValues": "false",
                },
            }],
        },
    }))
}

// ---- capacity from a loadgen stress run ----

/// Reads a loadgen report as the shared run-report types
/// (`common::report`): the version first, then the fields.
pub fn read_report(text: &str, path: &str) -> Result<Report, HpaError> {
    Report::parse(text, path).map_err(|e| match e {
        ParseError::Syntax {
            path,
            line,
            column,
            message,
        }
        | ParseError::Shape {
            path,
            line,
            column,
            message,
            ..
        } => HpaError::Report {
            path,
            line,
            column,
            message,
        },
        ParseError::Version { path, found } => HpaError::Capacity {
            path,
            message: format!("report version {found} is not supported ({REPORT_VERSION} is)"),
        },
        ParseError::Invalid { path, message } => HpaError::Capacity { path, message },
    })
}

/// A check that one interval can answer.
#[derive(Debug, Clone, PartialEq)]
enum Check {
    /// An interval percentile (the one at or above the threshold's) under a limit in ms.
    Latency {
        column: &'static str,
        op: Op,
        limit: f64,
    },
    ErrorRate {
        op: Op,
        limit: f64,
    },
}

/// The capacity a stress run shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// Requests per second per replica, the best window before the first breach.
    pub rps_per_replica: f64,
    /// Seconds from the run's start of that window.
    pub window: (u64, u64),
    /// The first window where a threshold broke, and which.
    pub breach: Option<(u64, String)>,
    /// The thresholds checked per window.
    pub checked: Vec<String>,
    /// Thresholds that a per-second series cannot answer, with why.
    pub skipped: Vec<String>,
}

fn checks(r: &Report) -> (Vec<(String, Check)>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for t in &r.thresholds {
        if t.request.is_some() {
            skipped.push(format!(
                "{} (per request name; the interval series has totals only)",
                t.threshold
            ));
            continue;
        }
        let (Some(metric), Some(op), Some(limit)) = (&t.metric, &t.op, t.limit) else {
            skipped.push(format!(
                "{} (the report does not say what it measures: re-run with this loadgen)",
                t.threshold
            ));
            continue;
        };
        let (op, limit) = (*op, limit);
        let check = match metric {
            Metric::Percentile(q) => {
                // The interval percentile at or above q: a stricter check.
                let column = if *q <= 50.0 {
                    "p50"
                } else if *q <= 90.0 {
                    "p90"
                } else if *q <= 99.0 {
                    "p99"
                } else {
                    "max"
                };
                Check::Latency { column, op, limit }
            }
            Metric::MaxLatency => Check::Latency {
                column: "max",
                op,
                limit,
            },
            Metric::ErrorRate => Check::ErrorRate { op, limit },
            Metric::AvgLatency | Metric::Rps | Metric::Dropped | Metric::Checks => {
                skipped.push(format!(
                    "{} (not answerable per second; only latency percentiles, max and error_rate are)",
                    t.threshold
                ));
                continue;
            }
        };
        out.push((t.threshold.clone(), check));
    }
    (out, skipped)
}

fn column(i: &IntervalSummary, c: &str) -> f64 {
    match c {
        "p50" => i.p50_ms,
        "p90" => i.p90_ms,
        "p99" => i.p99_ms,
        _ => i.max_ms,
    }
}

/// Finds the highest throughput per replica over `window` consecutive
/// seconds before the first window where a threshold broke. A latency
/// threshold is checked on the median second of the window (its percentile
/// column at or above the threshold's: p(95) reads p99); the error rate over
/// the whole window. The capacity is the best window before that whose
/// every second met the latency thresholds.
pub fn capacity(
    r: &Report,
    path: &str,
    replicas: u32,
    window: usize,
) -> Result<Capacity, HpaError> {
    let fail = |message: String| HpaError::Capacity {
        path: path.to_owned(),
        message,
    };
    let (checks, skipped) = checks(r);
    if checks.is_empty() {
        return Err(fail(format!(
            "no threshold can be checked per second{}: give the scenario thresholds such as p(99)<500ms and error_rate<1%",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" (skipped: {})", skipped.join("; "))
            }
        )));
    }
    if replicas == 0 || window == 0 {
        return Err(fail("replicas and the window must be at least 1".into()));
    }
    let iv = &r.intervals;
    if iv.len() < window {
        return Err(fail(format!(
            "the run has {} seconds of intervals, fewer than the {window} s window",
            iv.len()
        )));
    }
    let mut best: Option<(f64, (u64, u64))> = None;
    let mut breach = None;
    for w in iv.windows(window) {
        let count: u64 = w.iter().map(|i| i.count).sum();
        let errors: u64 = w.iter().flat_map(|i| i.errors.values()).sum();
        let broken = checks.iter().find(|(_, c)| match c {
            Check::Latency {
                column: col,
                op,
                limit,
            } => {
                let mut v: Vec<f64> = w
                    .iter()
                    .filter(|i| i.count > 0)
                    .map(|i| column(i, col))
                    .collect();
                v.sort_by(f64::total_cmp);
                // The median second: a second's p99 rests on few samples and
                // one slow request moves it; a real knee moves every second.
                !v.is_empty() && !op.holds(v[v.len() / 2], *limit)
            }
            Check::ErrorRate { op, limit } => {
                count > 0 && !op.holds(errors as f64 / count as f64, *limit)
            }
        });
        if let Some((name, _)) = broken {
            breach = Some((w[0].t, name.clone()));
            break;
        }
        // Only windows where every second met the latency thresholds count
        // toward the capacity.
        let clean = checks.iter().all(|(_, c)| match c {
            Check::Latency {
                column: col,
                op,
                limit,
            } => w
                .iter()
                .filter(|i| i.count > 0)
                .all(|i| op.holds(column(i, col), *limit)),
            Check::ErrorRate { .. } => true,
        });
        let rate = count as f64 / window as f64 / replicas as f64;
        if clean && best.is_none_or(|(b, _)| rate > b) {
            best = Some((rate, (w[0].t, w[window - 1].t + 1)));
        }
    }
    let Some((rps, span)) = best else {
        let (t, name) = breach.unwrap_or_default();
        return Err(fail(format!(
            "{name} broke in the first window (second {t}): the run shows no load at which the thresholds held; start the stress lower"
        )));
    };
    if rps <= 0.0 {
        return Err(fail("no requests completed before the first breach".into()));
    }
    Ok(Capacity {
        rps_per_replica: rps,
        window: span,
        breach,
        checked: checks.into_iter().map(|(n, _)| n).collect(),
        skipped,
    })
}

/// The per-pod target a capacity run gives, and how it was derived.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityTarget {
    /// Requests per second per pod: the capacity times the headroom, rounded down.
    pub target: f64,
    /// Where the run's thresholds broke, or that they held (a lower bound).
    pub knee: String,
    /// The derivation written into the generated object's annotation.
    pub derivation: String,
}

/// The derivation of a target given as a number.
pub fn given_derivation(target_rps: f64) -> String {
    format!("{} (given)", fmt_num(target_rps))
}

/// Seconds from a run's start, as slo writes durations (`20s`, `1m30s`).
fn offset(secs: u64) -> String {
    crate::duration::format(Duration::from_secs(secs))
}

impl Capacity {
    /// The window, as offsets from the run's start: `10s-15s`, `1m30s-1m35s`.
    pub fn window_text(&self) -> String {
        format!("{}-{}", offset(self.window.0), offset(self.window.1))
    }
}

/// `headroom` (0 < H <= 1) of the capacity `c` of the stress run `scenario`.
/// Whole requests per second (rounded down) read better and err on the safe
/// side; below 10 the target keeps three decimals.
pub fn capacity_target(c: &Capacity, scenario: &str, headroom: f64) -> CapacityTarget {
    let knee = match &c.breach {
        Some((t, name)) => format!("{name} broke at {}", offset(*t)),
        None => "thresholds held throughout (a lower bound)".to_owned(),
    };
    let raw = c.rps_per_replica * headroom;
    let target = if raw >= 10.0 {
        raw.floor()
    } else {
        (raw * 1000.0).floor() / 1000.0
    };
    let derivation = format!(
        "{} = {} x {} req/s per replica sustained in {} of stress run {:?} ({}; checked {})",
        fmt_num(target),
        fmt_num(headroom),
        fmt_num((c.rps_per_replica * 1000.0).round() / 1000.0),
        c.window_text(),
        scenario,
        knee,
        c.checked.join(", ")
    );
    CapacityTarget {
        target,
        knee,
        derivation,
    }
}

/// Valid settings, for tests.
#[cfg(test)]
pub(crate) fn example_settings() -> Settings {
    Settings {
        deployment: "target-app".into(),
        selector: "{job=\"target-app\"}".into(),
        metric: "http_server_request_duration_seconds".into(),
        namespace: Some("prod".into()),
        target_rps: 140.5,
        min_replicas: 2,
        max_replicas: 10,
        scale_down_window: Duration::from_secs(300),
        rate_window: Duration::from_secs(120),
        prometheus_url: "http://prometheus-operated.monitoring.svc:9090".into(),
        derivation: "given".into(),
    }
}

/// Edits that make [`example_settings`] invalid, each with the setting the
/// message must name.
#[cfg(test)]
pub(crate) type BadSetting = (fn(&mut Settings), &'static str, Option<Setting>);

/// Each way [`Settings`] can be out of range, for tests here and in the CLI.
#[cfg(test)]
pub(crate) fn bad_settings() -> Vec<BadSetting> {
    vec![
        (
            |s| s.deployment = "Target_App".into(),
            "Kubernetes name",
            Some(Setting::Deployment),
        ),
        (|s| s.target_rps = 0.0, "positive number", None),
        (|s| s.min_replicas = 11, "1 <=", Some(Setting::MinReplicas)),
        (|s| s.min_replicas = 0, "1 <=", Some(Setting::MinReplicas)),
        (
            |s| s.scale_down_window = Duration::from_secs(7200),
            "at most 1h",
            Some(Setting::ScaleDownWindow),
        ),
        (
            |s| s.selector = "{job=}".into(),
            "with",
            Some(Setting::Selector),
        ),
        (
            |s| s.prometheus_url = "prometheus:9090".into(),
            "URL with a host",
            Some(Setting::PrometheusUrl),
        ),
        (
            |s| s.namespace = Some("Prod".into()),
            "Kubernetes namespace",
            Some(Setting::Namespace),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn capacity_target_rounds_down_and_says_how() {
        let c = Capacity {
            rps_per_replica: 123.4567,
            window: (10, 15),
            breach: Some((20, "p(99)<300ms".into())),
            checked: vec!["p(99)<300ms".into(), "error_rate<1%".into()],
            skipped: vec![],
        };
        let t = capacity_target(&c, "stress", 0.7);
        assert_eq!(t.target, 86.0);
        assert_eq!(t.knee, "p(99)<300ms broke at 20s");
        assert_eq!(
            t.derivation,
            "86 = 0.7 x 123.457 req/s per replica sustained in 10s-15s of stress run \"stress\" (p(99)<300ms broke at 20s; checked p(99)<300ms, error_rate<1%)"
        );
        let low = Capacity {
            rps_per_replica: 3.33333,
            breach: None,
            ..c
        };
        let t = capacity_target(&low, "stress", 0.5);
        assert_eq!(t.target, 1.666);
        assert_eq!(t.knee, "thresholds held throughout (a lower bound)");
        assert_eq!(given_derivation(150.0), "150 (given)");
        // Offsets past a minute read as durations do everywhere.
        let late = Capacity {
            window: (90, 95),
            breach: Some((120, "p(99)<300ms".into())),
            ..low
        };
        assert_eq!(late.window_text(), "1m30s-1m35s");
        assert_eq!(
            capacity_target(&late, "stress", 0.5).knee,
            "p(99)<300ms broke at 2m"
        );
    }

    fn settings() -> Settings {
        example_settings()
    }

    #[test]
    fn quantities_are_whole_or_milli() {
        assert_eq!(quantity(140.0), "140");
        assert_eq!(quantity(140.5), "140500m");
        assert_eq!(quantity(0.25), "250m");
    }

    #[test]
    fn hpa_targets_the_pod_metric() {
        let h = hpa(&settings()).unwrap();
        let m = &h["spec"]["metrics"][0];
        assert_eq!(m["type"], "Pods");
        assert_eq!(m["pods"]["metric"]["name"], METRIC_NAME);
        assert_eq!(m["pods"]["target"]["averageValue"], "140500m");
        assert_eq!(
            h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            300
        );
    }

    #[test]
    fn queries_parse_once_templates_are_filled() {
        let s = settings();
        let filled = adapter_metrics_query(&s)
            .replace("<<.GroupBy>>", "pod")
            .replace("<<.Series>>", "http_server_request_duration_seconds_count")
            .replace("<<.LabelMatchers>>", "namespace=\"prod\", pod=~\"a|b\"");
        promql::check(&filled).unwrap();
        promql::check(&adapter_series_query(&s)).unwrap();
        let k = keda_query(&s);
        assert_eq!(
            k,
            "sum(rate(http_server_request_duration_seconds_count{job=\"target-app\",namespace=\"prod\"}[2m]))"
        );
        promql::check(&k).unwrap();
    }

    /// The library names each setting by its field, never by a flag.
    #[test]
    fn bad_settings_are_refused() {
        for (edit, expect, setting) in bad_settings() {
            let mut s = settings();
            edit(&mut s);
            let e = hpa(&s).unwrap_err().to_string();
            assert!(e.contains(expect), "{expect}: {e}");
            if let Some(setting) = setting {
                assert!(e.contains(setting.field()), "{setting:?}: {e}");
            }
            assert!(!e.contains("--"), "{e}");
        }
    }

    fn interval(t: u64, count: u64, errors: u64, p99: f64) -> IntervalSummary {
        let mut e = BTreeMap::new();
        if errors > 0 {
            e.insert("status 503".to_owned(), errors);
        }
        IntervalSummary {
            t,
            count,
            errors: e,
            status_codes: BTreeMap::new(),
            p50_ms: p99 / 4.0,
            p90_ms: p99 / 2.0,
            p99_ms: p99,
            max_ms: p99 * 2.0,
        }
    }

    /// A threshold as a report carries it.
    fn threshold(
        text: &str,
        metric: Metric,
        op: Op,
        limit: f64,
    ) -> common::report::ThresholdResult {
        common::report::ThresholdResult {
            threshold: text.into(),
            request: None,
            check: None,
            abort_on_fail: false,
            observed: None,
            observed_text: "no data".into(),
            passed: false,
            metric: Some(metric),
            op: Some(op),
            limit: Some(limit),
        }
    }

    /// A real report (the rest of it) with these intervals and thresholds.
    fn report(intervals: Vec<IntervalSummary>) -> Report {
        let mut r = Report::parse(
            include_str!("../../common/testdata/report.json"),
            "report.json",
        )
        .unwrap();
        r.scenario = "stress".into();
        r.interrupted = false;
        r.intervals = intervals;
        r.thresholds = vec![
            threshold("p(95)<200ms", Metric::Percentile(95.0), Op::Lt, 200.0),
            threshold("error_rate<1%", Metric::ErrorRate, Op::Lt, 0.01),
        ];
        r
    }

    #[test]
    fn capacity_is_the_best_window_before_the_knee() {
        // 100/s, then 200/s, then 300/s where p99 crosses 200 ms.
        let mut iv = Vec::new();
        for t in 0..30 {
            let (n, p99) = match t {
                0..10 => (100, 20.0),
                10..20 => (200, 40.0),
                _ => (300, 450.0),
            };
            iv.push(interval(t, n, 0, p99));
        }
        let c = capacity(&report(iv.clone()), "r.json", 1, 5).unwrap();
        assert_eq!(c.rps_per_replica, 200.0);
        assert_eq!(c.breach.as_ref().map(|b| b.1.as_str()), Some("p(95)<200ms"));
        // Three slow seconds of five make the median slow.
        assert_eq!(c.breach.as_ref().map(|b| b.0), Some(18));
        // Two replicas served the run: half each.
        let c2 = capacity(&report(iv), "r.json", 2, 5).unwrap();
        assert_eq!(c2.rps_per_replica, 100.0);
    }

    #[test]
    fn one_slow_second_is_not_a_knee() {
        let mut iv: Vec<IntervalSummary> = (0..20).map(|t| interval(t, 100 + t, 0, 20.0)).collect();
        iv[5] = interval(5, 105, 0, 900.0);
        let c = capacity(&report(iv), "r.json", 1, 5).unwrap();
        assert_eq!(c.breach, None);
        assert_eq!(c.rps_per_replica, 117.0);
        // Windows holding the slow second do not count toward the capacity.
        let mut iv: Vec<IntervalSummary> = (0..10).map(|t| interval(t, 100, 0, 20.0)).collect();
        iv[9] = interval(9, 500, 0, 900.0);
        let c = capacity(&report(iv), "r.json", 1, 5).unwrap();
        assert_eq!(c.rps_per_replica, 100.0);
    }

    #[test]
    fn errors_end_the_search_over_the_window() {
        let mut iv: Vec<IntervalSummary> = (0..10).map(|t| interval(t, 100, 0, 10.0)).collect();
        // 3 errors in 500 requests over a 5 s window: 0.6%, holds; then 2%.
        iv[9] = interval(9, 100, 3, 10.0);
        iv.extend((10..15).map(|t| interval(t, 150, 3, 10.0)));
        let c = capacity(&report(iv), "r.json", 1, 5).unwrap();
        assert_eq!(c.breach.map(|b| b.1), Some("error_rate<1%".to_owned()));
        assert!(
            c.rps_per_replica >= 100.0 && c.rps_per_replica < 150.0,
            "{}",
            c.rps_per_replica
        );
    }

    #[test]
    fn runs_that_cannot_tell_are_refused() {
        // Broken from the start.
        let iv: Vec<IntervalSummary> = (0..10).map(|t| interval(t, 100, 50, 10.0)).collect();
        let e = capacity(&report(iv), "r.json", 1, 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("start the stress lower"), "{e}");
        // Too short.
        let iv: Vec<IntervalSummary> = (0..3).map(|t| interval(t, 100, 0, 10.0)).collect();
        let e = capacity(&report(iv), "r.json", 1, 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fewer than"), "{e}");
        // No threshold answerable per second.
        let mut r = report((0..10).map(|t| interval(t, 100, 0, 10.0)).collect());
        r.thresholds = vec![threshold("rps>=100", Metric::Rps, Op::Ge, 100.0)];
        let e = capacity(&r, "r.json", 1, 5).unwrap_err().to_string();
        assert!(e.contains("no threshold can be checked"), "{e}");
    }

    #[test]
    fn malformed_reports_name_the_place() {
        for (text, expect) in [
            ("{", "r.json:1:1"),
            ("{\"version\": 1}", "missing field"),
            (
                "{\"version\": 2, \"scenario\": \"s\", \"intervals\": [], \"thresholds\": []}",
                "version 2",
            ),
            ("[]", "not a loadgen report"),
        ] {
            let e = read_report(text, "r.json").unwrap_err().to_string();
            assert!(e.contains(expect), "{text}: {e}");
        }
    }
}
