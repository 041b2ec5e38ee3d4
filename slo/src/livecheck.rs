//! `slo check --prometheus`: does a spec fit the metrics Prometheus has?
//! Every question is asked over a lookback range, not of the latest sample
//! only, because some exporters drop a histogram's series while it is idle:
//! the selectors match series, a latency threshold is one of the histogram's
//! buckets (whatever float formatting the exporter gave `le`), and the
//! generated `le` matcher finds that bucket.

use std::time::Duration;

use crate::model::{Sli, Slo};
use crate::prom::{Prom, PromError};
use crate::promql;
use crate::windows::promql_duration;

/// Relative distance under which two bucket bounds are the same number.
const SAME_BOUND: f64 = 1e-9;

/// Whether an `le` label value is the bound `threshold`.
pub fn is_bound(le: &str, threshold: f64) -> bool {
    le.trim()
        .parse::<f64>()
        .is_ok_and(|b| b.is_finite() && (b - threshold).abs() <= SAME_BOUND * threshold.abs())
}

/// The problem with a latency threshold given the `le` values Prometheus
/// holds for the histogram, if there is one. The values are listed sorted
/// by number, as the exporter wrote them.
pub fn bucket_problem(
    threshold: f64,
    bucket: &str,
    les: &[String],
    lookback: &str,
) -> Option<String> {
    if les.is_empty() {
        return Some(format!(
            "no series match {bucket} over the last {lookback} (check the metric name and selector, and that Prometheus scrapes the service)"
        ));
    }
    if les.iter().any(|le| is_bound(le, threshold)) {
        return None;
    }
    let mut sorted: Vec<(f64, &str)> = les
        .iter()
        .map(|le| (le.trim().parse::<f64>().unwrap_or(f64::NAN), le.as_str()))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    let list: Vec<&str> = sorted.iter().map(|(_, le)| *le).collect();
    Some(format!(
        "latency threshold {} is not a bucket of {bucket}: the buckets found over the last {lookback} are le = {}; use one of them as the threshold",
        crate::unit::threshold(threshold, bucket.split('{').next().unwrap_or(bucket)),
        list.join(", ")
    ))
}

/// Series matching `selector` at any time in the lookback.
async fn series_over(prom: &Prom, selector: &str, range: &str) -> Result<f64, PromError> {
    let answer = prom
        .vector(&format!("count(last_over_time({selector}[{range}]))"))
        .await?;
    Ok(answer
        .first()
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(0.0))
}

/// What `slo check --prometheus` found for one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCheck {
    /// Series the SLI reads (an estimate of its cost).
    pub series: f64,
    /// Everything that does not match the spec.
    pub problems: Vec<String>,
    /// Each counter or histogram selector of the SLI (for an events SLI,
    /// those [`promql::rate_selector`] reads in its queries) and the label
    /// names of its series over the lookback.
    pub labels: Vec<(String, Vec<String>)>,
}

/// The label names of the series `selector` matched over the last
/// `lookback` (`/api/v1/labels`), without `__name__`.
pub async fn label_names(
    prom: &Prom,
    selector: &str,
    lookback: Duration,
) -> Result<Vec<String>, PromError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let end = i64::try_from(now).unwrap_or(i64::MAX);
    let start = end.saturating_sub(i64::try_from(lookback.as_secs()).unwrap_or(i64::MAX));
    let mut names = prom.label_names(selector, start, end).await?;
    names.retain(|n| n != "__name__");
    Ok(names)
}

/// Checks an SLO against what Prometheus held over the last `lookback`.
pub async fn check(prom: &Prom, slo: &Slo, lookback: Duration) -> Result<LiveCheck, PromError> {
    let range = promql_duration(lookback);
    let mut problems = Vec::new();
    let mut series = 0.0;
    let selectors = match &slo.sli {
        Sli::Availability { selector } => vec![format!(
            "http_server_request_duration_seconds_count{}",
            promql::braces(selector)
        )],
        Sli::Latency {
            metric, selector, ..
        } => vec![format!("{metric}_count{}", promql::braces(selector))],
        Sli::Ratio { good, total } => vec![good.clone(), total.clone()],
        Sli::Events { .. } => Vec::new(),
    };
    for sel in &selectors {
        match series_over(prom, sel, &range).await? {
            n if n > 0.0 => series += n,
            _ => problems.push(format!(
                "no series match {sel} over the last {range} (check the selector, and that Prometheus scrapes the service)"
            )),
        }
    }
    let mut labeled = selectors.clone();
    if let Sli::Latency {
        metric, selector, ..
    } = &slo.sli
    {
        labeled.push(format!("{metric}_bucket{}", promql::braces(selector)));
    }
    if let Sli::Events {
        error_query,
        total_query,
    } = &slo.sli
    {
        labeled.extend(
            [total_query, error_query]
                .into_iter()
                .filter_map(|q| promql::rate_selector(q).ok())
                .map(|vs| vs.to_string()),
        );
        for q in [error_query, total_query] {
            if prom
                .vector(&q.replace("{{.window}}", &range))
                .await?
                .is_empty()
            {
                problems.push(format!("{q} returns no data over {range}"));
            }
        }
    }
    if let Sli::Latency {
        metric,
        selector,
        threshold,
    } = &slo.sli
    {
        let bucket = format!("{metric}_bucket{}", promql::braces(selector));
        let buckets = prom
            .vector(&format!(
                "count by (le) (last_over_time({bucket}[{range}]))"
            ))
            .await?;
        series += buckets.iter().map(|(_, v)| v).sum::<f64>();
        let les: Vec<String> = buckets
            .iter()
            .filter_map(|(m, _)| m.get("le").cloned())
            .collect();
        match bucket_problem(*threshold, &bucket, &les, &range) {
            Some(p) => problems.push(p),
            None => {
                // The bucket exists: the matcher every generated query uses must find it.
                let matched = format!(
                    "{metric}_bucket{}",
                    promql::with_matcher(selector, &promql::le_matcher(*threshold))
                );
                if series_over(prom, &matched, &range).await? <= 0.0 {
                    problems.push(format!(
                        "the bucket of threshold {} exists, but {matched} does not select it (le values found: {})",
                        crate::unit::threshold(*threshold, metric),
                        les.join(", ")
                    ));
                }
            }
        }
    }
    let mut labels = Vec::with_capacity(labeled.len());
    for sel in labeled {
        let names = label_names(prom, &sel, lookback).await?;
        labels.push((sel, names));
    }
    Ok(LiveCheck {
        series,
        problems,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn les(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_threshold_matches_its_bucket_in_any_formatting() {
        for le in ["1", "1.0", "1e+00", "1E0"] {
            assert!(is_bound(le, 1.0), "{le}");
        }
        assert!(is_bound("2.5e-01", 0.25));
        assert!(!is_bound("0.3", 0.25));
        assert!(!is_bound("+Inf", 0.25));
        assert!(!is_bound("NaN", 0.25));
        let found = les(&["0.25", "0.5", "1", "+Inf"]);
        assert_eq!(bucket_problem(1.0, "h_bucket", &found, "1d"), None);
    }

    #[test]
    fn a_threshold_without_a_bucket_lists_the_buckets_found() {
        let found = les(&["1", "+Inf", "0.5", "0.25"]);
        let p = bucket_problem(0.3, "h_bucket{job=\"x\"}", &found, "1d").unwrap();
        assert!(p.contains("latency threshold 0.3s is not a bucket"), "{p}");
        assert!(p.contains("le = 0.25, 0.5, 1, +Inf"), "{p}");
        assert!(p.contains("over the last 1d"), "{p}");
        let p = bucket_problem(0.3, "h_bucket", &[], "1h").unwrap();
        assert!(
            p.contains("no series match h_bucket over the last 1h"),
            "{p}"
        );
    }
}
