//! The PromQL behind each SLI. SLIs are exact: ratios of `increase()` over
//! the window (not averages of shorter ratios). Every query built here is
//! parsed with promql-parser before use.

use std::time::Duration;

use promql_parser::parser::{self, Expr};

use crate::model::{Sli, Slo};
use crate::windows::promql_duration;

/// Checks that `query` parses as PromQL.
pub fn check(query: &str) -> Result<(), String> {
    parser::parse(query)
        .map(|_| ())
        .map_err(|e| e.trim().to_owned())
}

/// Checks that `query` is a plain vector selector (a metric with matchers).
pub fn check_selector(query: &str) -> Result<(), String> {
    match parser::parse(query).map_err(|e| e.trim().to_owned())? {
        Expr::VectorSelector(_) => Ok(()),
        _ => Err(format!("{query:?} is not a metric selector")),
    }
}

/// `{a="b"}` from `a="b"` or `{a="b"}`; empty stays empty.
pub fn braces(selector: &str) -> String {
    let s = selector.trim();
    if s.is_empty() {
        String::new()
    } else if s.starts_with('{') {
        s.to_owned()
    } else {
        format!("{{{s}}}")
    }
}

/// Adds a matcher to a selector's braces.
pub fn with_matcher(selector: &str, matcher: &str) -> String {
    let inner = braces(selector);
    let inner = inner.trim_start_matches('{').trim_end_matches('}').trim();
    if inner.is_empty() {
        format!("{{{matcher}}}")
    } else {
        format!("{{{inner},{matcher}}}")
    }
}

/// Splits `metric{matchers}` into its parts.
fn split_selector(s: &str) -> (&str, &str) {
    match s.find('{') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Queries counting failed and total events over `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQueries {
    pub errors: String,
    pub total: String,
}

impl EventQueries {
    /// The error ratio over the window (NaN in Prometheus when total is 0; the
    /// tool reads errors and total separately to report "no traffic").
    pub fn ratio(&self) -> String {
        format!("({}) / ({})", self.errors, self.total)
    }
}

/// The event-count queries of an SLO over a window.
pub fn events(slo: &Slo, window: Duration) -> EventQueries {
    let w = promql_duration(window);
    match &slo.sli {
        Sli::Events {
            error_query,
            total_query,
        } => {
            // Sloth-style queries are rates; times the window they are counts.
            let secs = window.as_secs().max(1);
            EventQueries {
                errors: format!("({}) * {secs}", error_query.replace("{{.window}}", &w)),
                total: format!("({}) * {secs}", total_query.replace("{{.window}}", &w)),
            }
        }
        // A good series that does not exist yet counts no good events.
        Sli::Ratio { good, total } => EventQueries {
            errors: format!(
                "sum(increase({total}[{w}])) - (sum(increase({good}[{w}])) or vector(0))"
            ),
            total: format!("sum(increase({total}[{w}]))"),
        },
        Sli::Latency {
            metric,
            selector,
            threshold,
        } => {
            let le = format_le(*threshold);
            let bucket = format!(
                "{metric}_bucket{}",
                with_matcher(selector, &format!("le=\"{le}\""))
            );
            let count = format!("{metric}_count{}", braces(selector));
            EventQueries {
                errors: format!(
                    "sum(increase({count}[{w}])) - (sum(increase({bucket}[{w}])) or vector(0))"
                ),
                total: format!("sum(increase({count}[{w}]))"),
            }
        }
        Sli::Availability { selector } => {
            let (name, base) = split_selector("http_server_request_duration_seconds_count");
            let base = if base.is_empty() {
                braces(selector)
            } else {
                base.to_owned()
            };
            EventQueries {
                errors: format!(
                    "sum(increase({name}{}[{w}]))",
                    with_matcher(&base, "http_response_status_code=~\"5..\"")
                ),
                total: format!("sum(increase({name}{base}[{w}]))"),
            }
        }
    }
}

/// The `le` label value Prometheus clients write for a bucket bound.
pub fn format_le(threshold: f64) -> String {
    if threshold.fract() == 0.0 {
        format!("{threshold:.1}")
    } else {
        format!("{threshold}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Alerting;

    fn slo(sli: Sli) -> Slo {
        Slo {
            name: "s".into(),
            description: None,
            objective: 0.999,
            period: Duration::from_secs(30 * 86_400),
            sli,
            min_events: 0.0,
            labels: Default::default(),
            alerting: Alerting::default(),
        }
    }

    #[test]
    fn every_kind_builds_valid_promql() {
        let kinds = [
            Sli::Availability {
                selector: "job=\"target-app\"".into(),
            },
            Sli::Availability {
                selector: String::new(),
            },
            Sli::Latency {
                metric: "http_server_request_duration_seconds".into(),
                selector: "{job=\"target-app\",http_route=\"/api/orders\"}".into(),
                threshold: 0.3,
            },
            Sli::Latency {
                metric: "h".into(),
                selector: String::new(),
                threshold: 1.0,
            },
            Sli::Ratio {
                good: "http_requests_total{code!~\"5..\"}".into(),
                total: "http_requests_total".into(),
            },
            Sli::Events {
                error_query: "sum(rate(errors_total[{{.window}}]))".into(),
                total_query: "sum(rate(requests_total[{{.window}}]))".into(),
            },
        ];
        for sli in kinds {
            let s = slo(sli.clone());
            for w in crate::windows::alert_windows(s.period) {
                let q = events(&s, w);
                for text in [&q.errors, &q.total, &q.ratio()] {
                    check(text).unwrap_or_else(|e| panic!("{sli:?}: {text}: {e}"));
                }
            }
        }
    }

    #[test]
    fn availability_counts_5xx_over_increases() {
        let q = events(
            &slo(Sli::Availability {
                selector: "job=\"target-app\"".into(),
            }),
            Duration::from_secs(3600),
        );
        assert_eq!(
            q.errors,
            "sum(increase(http_server_request_duration_seconds_count{job=\"target-app\",http_response_status_code=~\"5..\"}[1h]))"
        );
        assert_eq!(
            q.total,
            "sum(increase(http_server_request_duration_seconds_count{job=\"target-app\"}[1h]))"
        );
    }

    #[test]
    fn latency_uses_the_bucket_bound() {
        let q = events(
            &slo(Sli::Latency {
                metric: "m".into(),
                selector: String::new(),
                threshold: 1.0,
            }),
            Duration::from_secs(300),
        );
        assert_eq!(
            q.errors,
            "sum(increase(m_count[5m])) - (sum(increase(m_bucket{le=\"1.0\"}[5m])) or vector(0))"
        );
        assert_eq!(format_le(0.25), "0.25");
    }

    #[test]
    fn selectors_are_checked() {
        assert!(check_selector("up{job=\"x\"}").is_ok());
        assert!(check_selector("sum(up)").is_err());
        assert!(check("sum(rate(x[5m]").is_err());
    }
}
