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
    sli_events(&slo.sli, window)
}

/// The event-count queries of an SLI over a window.
pub fn sli_events(sli: &Sli, window: Duration) -> EventQueries {
    let w = promql_duration(window);
    match sli {
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
            let bucket = format!(
                "{metric}_bucket{}",
                with_matcher(selector, &le_matcher(*threshold))
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

/// A regular expression matching every way an exporter writes the bucket
/// bound `threshold` as an `le` label: fixed notation with or without
/// trailing zeros (`1`, `1.0`, `0.25`, `0.250`) and scientific notation in
/// any case, sign and exponent width (`1e+00`, `1E0`, `2.5e-01`). Prometheus
/// 2 does not normalise `le`, so an exact matcher misses buckets written by
/// another client. Prometheus anchors the expression, and every string it
/// matches parses to the same number, so no other bucket can match.
pub fn le_regex(threshold: f64) -> String {
    // Shortest round-trip digits: "2.5e-1", "1e0", "1e3".
    let sci = format!("{threshold:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mantissa = mantissa.trim_start_matches('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (first, rest) = digits.split_at(digits.len().min(1));
    let fraction = |digits: &str| {
        if digits.is_empty() {
            r"(\.0*)?".to_owned()
        } else {
            format!(r"\.{digits}0*")
        }
    };
    let fixed = if exp >= 0 {
        let int_len = usize::try_from(exp).unwrap_or(usize::MAX).saturating_add(1);
        if digits.len() <= int_len {
            let zeros = "0".repeat(int_len - digits.len());
            format!("{digits}{zeros}{}", fraction(""))
        } else {
            let (int, frac) = digits.split_at(int_len);
            format!("{int}{}", fraction(frac))
        }
    } else {
        let zeros = "0".repeat(usize::try_from(exp.unsigned_abs() - 1).unwrap_or(0));
        format!(r"0\.{zeros}{digits}0*")
    };
    let exponent = match exp {
        0 => "[+-]?0+".to_owned(),
        e if e > 0 => format!(r"\+?0*{e}"),
        e => format!("-0*{}", e.unsigned_abs()),
    };
    format!("{fixed}|{first}{}[eE]{exponent}", fraction(rest))
}

/// The `le` matcher of a latency SLI's bucket, for every generated query
/// (rules, report, gate, `slo check`): `le=~"1(\\.0*)?|1(\\.0*)?[eE][+-]?0+"`.
pub fn le_matcher(threshold: f64) -> String {
    format!("le=~\"{}\"", le_regex(threshold).replace('\\', "\\\\"))
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
            calendar: None,
            client: crate::model::ClientSli::Availability {
                selector: String::new(),
            },
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
            "sum(increase(m_count[5m])) - (sum(increase(m_bucket{le=~\"1(\\\\.0*)?|1(\\\\.0*)?[eE][+-]?0+\"}[5m])) or vector(0))"
        );
    }

    /// Whether the generated `le` matcher of `threshold` selects `le="value"`,
    /// as Prometheus (anchored RE2) would.
    fn le_matches(threshold: f64, value: &str) -> bool {
        let selector = format!("m{{{}}}", le_matcher(threshold));
        match parser::parse(&selector) {
            Ok(Expr::VectorSelector(v)) => v
                .matchers
                .matchers
                .iter()
                .filter(|m| m.name == "le")
                .all(|m| m.is_match(value)),
            other => panic!("{selector} is not a selector: {other:?}"),
        }
    }

    #[test]
    fn le_matcher_finds_the_bucket_whatever_the_exporter_wrote() {
        let cases: [(f64, &[&str], &[&str]); 6] = [
            (
                1.0,
                &[
                    "1", "1.0", "1.00", "1e+00", "1e0", "1E+00", "1.0e+00", "1e-00",
                ],
                &["10", "0.1", "11", "1e+01", "1.01", "+Inf", "", "01x"],
            ),
            (
                0.25,
                &["0.25", "0.250", "2.5e-01", "2.5E-1", "2.50e-01"],
                &["0.025", "0.5", "2.5e-02", "25", "0.255", "2.5"],
            ),
            (
                0.3,
                &["0.3", "0.30", "3e-01", "3.0e-1", "3E-01"],
                &["0.03", "3", "0.31", "3e-02"],
            ),
            (
                1000.0,
                &["1000", "1000.0", "1e+03", "1e3", "1.0E+03"],
                &["100", "10000", "1e+04", "1000.5"],
            ),
            (
                2.5,
                &["2.5", "2.50", "2.5e+00", "2.5e0"],
                &["25", "0.25", "2.05", "2.5e+01"],
            ),
            (
                0.000025,
                &["0.000025", "2.5e-05", "2.5E-5"],
                &["0.00025", "2.5e-04", "0.0000025"],
            ),
        ];
        for (threshold, hits, misses) in cases {
            for v in hits {
                assert!(le_matches(threshold, v), "{threshold}: le={v:?} is missed");
            }
            for v in misses {
                assert!(!le_matches(threshold, v), "{threshold}: le={v:?} matches");
            }
        }
    }

    #[test]
    fn every_latency_query_uses_the_le_matcher() {
        let s = slo(Sli::Latency {
            metric: "m".into(),
            selector: "{job=\"a\"}".into(),
            threshold: 1.0,
        });
        for w in crate::windows::alert_windows(s.period) {
            let q = events(&s, w);
            assert!(q.errors.contains(&le_matcher(1.0)), "{}", q.errors);
            assert!(!q.errors.contains("le=\""), "{}", q.errors);
        }
    }

    #[test]
    fn selectors_are_checked() {
        assert!(check_selector("up{job=\"x\"}").is_ok());
        assert!(check_selector("sum(up)").is_err());
        assert!(check("sum(rate(x[5m]").is_err());
    }
}
