//! The client side of an SLO: its SLI as loadgen measured it during a run,
//! from the metrics the run exported (`slo gate --compare-client`).
//!
//! [`derive()`] gives the client-side SLI of an SLO whose spec names none;
//! [`queries`] builds its event-count queries over a run, each selector
//! restricted to the run's `loadgen_run` label by [`inject`], which adds
//! the matcher in promql-parser's syntax tree (never by pasting text), so
//! another run in the same Prometheus cannot mix in.
//!
//! loadgen's series belong to one run and count from zero, so the derived,
//! ratio and latency queries read the run's totals (`last_over_time` over
//! the window) rather than `increase()`: `increase()` cannot see the first
//! reading's counts, nor a series that only the final reading carries. An
//! events SLI's queries are the spec's own (rates times the window).
//!
//! Pure: no I/O.

use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr};
use promql_parser::util::visitor::{ExprVisitorMut, walk_expr_mut};

use crate::model::{ClientSli, Sli};
use crate::promql::{self, EventQueries, braces, le_matcher, with_matcher};
use crate::windows::promql_duration;

/// loadgen's histogram of each request, from its actual send (OpenTelemetry's
/// `http.client.request.duration`).
pub const DURATION: &str = "http_client_request_duration_seconds";

/// The label every series of a run carries: the run's id.
pub const RUN_LABEL: &str = "loadgen_run";

/// Why a client query could not be restricted to a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The query does not parse.
    #[error("{query:?} is not valid PromQL: {error}")]
    Parse { query: String, error: String },
    /// A selector already names the run label.
    #[error(
        "{selector} selects {RUN_LABEL} itself: slo adds {RUN_LABEL}=\"<the report's run_id>\" to every client query"
    )]
    RunLabel { selector: String },
    /// The query written back does not parse as the tree it was written from.
    #[error("the query with {RUN_LABEL} added does not read back the same: {query}")]
    RoundTrip { query: String },
}

/// The client-side SLI of an SLO whose spec names none: a latency SLI
/// becomes the share of the run's requests that succeeded within its
/// threshold; any other (availability, ratio, events: errors over
/// requests) the share of the run's requests that did not fail.
/// `selector` (the spec's `client_selector`) narrows the requests.
pub fn derive(sli: &Sli, selector: &str) -> ClientSli {
    match sli {
        // The server's bound is in its histogram's unit; loadgen's are seconds.
        Sli::Latency {
            threshold, metric, ..
        } => ClientSli::Latency {
            selector: selector.to_owned(),
            threshold: crate::unit::latency(metric)
                .to_seconds(*threshold)
                .unwrap_or(*threshold),
        },
        _ => ClientSli::Availability {
            selector: selector.to_owned(),
        },
    }
}

/// What a client-side SLI counts, in words, for output.
pub fn describe(c: &ClientSli) -> String {
    let which = |selector: &str| {
        if selector.trim().is_empty() {
            "all requests of the run".to_owned()
        } else {
            format!("the run's requests {}", braces(selector))
        }
    };
    match c {
        ClientSli::Availability { selector } => format!(
            "requests that did not fail (a status outside expect, or no response), of {}",
            which(selector)
        ),
        ClientSli::Latency {
            selector,
            threshold,
        } => format!(
            "requests that succeeded within {threshold}s (sent to answered), of {}",
            which(selector)
        ),
        ClientSli::Explicit(Sli::Events { .. }) => "the spec's client events SLI".into(),
        ClientSli::Explicit(Sli::Ratio { good, total }) => {
            format!("the spec's client ratio {good} / {total}")
        }
        ClientSli::Explicit(Sli::Latency {
            metric, threshold, ..
        }) => format!(
            "the spec's client latency: {metric} within {}",
            crate::unit::threshold(*threshold, metric)
        ),
        ClientSli::Explicit(Sli::Availability { .. }) => "the spec's client availability".into(),
    }
}

/// Whether an empty answer to the client errors query means no errors:
/// only where that query selects nothing but failures.
pub fn empty_errors_mean_zero(c: &ClientSli) -> bool {
    match c {
        ClientSli::Availability { .. } => true,
        ClientSli::Latency { .. } => false,
        ClientSli::Explicit(sli) => crate::evaluate::empty_errors_mean_zero(sli),
    }
}

/// The run's total of `selector` at the window's end.
fn run_total(selector: &str, w: &str) -> String {
    format!("sum(last_over_time({selector}[{w}]))")
}

/// The event-count queries of a client-side SLI over `window`, before the
/// run's label is added.
fn unrestricted(c: &ClientSli, window: Duration) -> EventQueries {
    let w = promql_duration(window);
    let count = |selector: &str| format!("{DURATION}_count{}", braces(selector));
    let good_minus = |total: &str, good: &str| {
        format!(
            "{} - ({} or vector(0))",
            run_total(total, &w),
            run_total(good, &w)
        )
    };
    match c {
        ClientSli::Availability { selector } => EventQueries {
            errors: run_total(
                &format!(
                    "{DURATION}_count{}",
                    with_matcher(selector, "error_type!=\"\"")
                ),
                &w,
            ),
            total: run_total(&count(selector), &w),
        },
        ClientSli::Latency {
            selector,
            threshold,
        } => {
            let succeeded = with_matcher(selector, "error_type=\"\"");
            let good = format!(
                "{DURATION}_bucket{}",
                with_matcher(&succeeded, &le_matcher(*threshold))
            );
            EventQueries {
                errors: good_minus(&count(selector), &good),
                total: run_total(&count(selector), &w),
            }
        }
        ClientSli::Explicit(Sli::Ratio { good, total }) => EventQueries {
            errors: good_minus(total, good),
            total: run_total(total, &w),
        },
        ClientSli::Explicit(Sli::Latency {
            metric,
            selector,
            threshold,
        }) => {
            let count = format!("{metric}_count{}", braces(selector));
            let good = format!(
                "{metric}_bucket{}",
                with_matcher(selector, &le_matcher(*threshold))
            );
            EventQueries {
                errors: good_minus(&count, &good),
                total: run_total(&count, &w),
            }
        }
        ClientSli::Explicit(sli) => promql::sli_events(sli, window),
    }
}

/// The event-count queries of a client-side SLI over `window`, every
/// selector restricted to `loadgen_run="run_id"`.
pub fn queries(c: &ClientSli, window: Duration, run_id: &str) -> Result<EventQueries, InjectError> {
    let q = unrestricted(c, window);
    Ok(EventQueries {
        errors: inject(&q.errors, RUN_LABEL, run_id)?,
        total: inject(&q.total, RUN_LABEL, run_id)?,
    })
}

/// Adds the matcher `name="value"` to every selector of `query` (in each
/// `or` group of a selector that has them), through promql-parser's tree;
/// the query written back is parsed again and must be that tree.
pub fn inject(query: &str, name: &str, value: &str) -> Result<String, InjectError> {
    let parse = |q: &str| {
        parser::parse(q).map_err(|e| InjectError::Parse {
            query: q.to_owned(),
            error: e.trim().to_owned(),
        })
    };
    let mut expr = parse(query)?;
    walk_expr_mut(&mut Injector { name, value }, &mut expr)?;
    let text = expr.to_string();
    // The text lists each selector's matchers sorted: compare sorted trees.
    let sorted = |mut e: Expr| {
        let _ = walk_expr_mut(&mut SortMatchers, &mut e);
        e
    };
    match parser::parse(&text).map(sorted) {
        Ok(back) if back == sorted(expr) => Ok(text),
        _ => Err(InjectError::RoundTrip { query: text }),
    }
}

/// Puts each selector's matchers in one order, to compare trees.
struct SortMatchers;

impl ExprVisitorMut for SortMatchers {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &mut Expr) -> Result<bool, Self::Error> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(m) => &mut m.vs,
            _ => return Ok(true),
        };
        let key = |m: &Matcher| m.to_string();
        vs.matchers.matchers.sort_by_key(key);
        for group in &mut vs.matchers.or_matchers {
            group.sort_by_key(key);
        }
        Ok(true)
    }
}

struct Injector<'a> {
    name: &'a str,
    value: &'a str,
}

impl ExprVisitorMut for Injector<'_> {
    type Error = InjectError;

    fn pre_visit(&mut self, expr: &mut Expr) -> Result<bool, InjectError> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(m) => &mut m.vs,
            _ => return Ok(true),
        };
        if !vs.matchers.find_matchers(self.name).is_empty() {
            return Err(InjectError::RunLabel {
                selector: vs.to_string(),
            });
        }
        let matcher = Matcher::new(MatchOp::Equal, self.name, self.value);
        if vs.matchers.or_matchers.is_empty() {
            vs.matchers.matchers.push(matcher);
        } else {
            for group in &mut vs.matchers.or_matchers {
                group.push(matcher.clone());
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every selector of `query`, as (metric name, its matchers as `name op "value"`).
    fn selectors(query: &str) -> Vec<(Option<String>, Vec<String>)> {
        struct Collect(Vec<(Option<String>, Vec<String>)>);
        impl promql_parser::util::ExprVisitor for Collect {
            type Error = ();
            fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
                let vs = match e {
                    Expr::VectorSelector(vs) => vs,
                    Expr::MatrixSelector(m) => &m.vs,
                    _ => return Ok(true),
                };
                let mut all: Vec<String> =
                    vs.matchers.matchers.iter().map(|m| m.to_string()).collect();
                for g in &vs.matchers.or_matchers {
                    all.push(format!(
                        "or[{}]",
                        g.iter()
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ));
                }
                self.0.push((vs.name.clone(), all));
                Ok(true)
            }
        }
        let expr = parser::parse(query).unwrap();
        let mut c = Collect(Vec::new());
        promql_parser::util::walk_expr(&mut c, &expr).unwrap();
        c.0
    }

    #[test]
    fn the_run_label_reaches_every_selector() {
        let q = "sum(rate(a{x=\"1\"}[5m])) / (sum(rate(b[5m])) or vector(0)) + count(c offset 1m) - max_over_time(d{y=~\"z.*\"}[1h:1m])";
        let out = inject(q, RUN_LABEL, "abc").unwrap();
        let found = selectors(&out);
        assert_eq!(found.len(), 4, "{out}");
        for (name, matchers) in &found {
            assert!(
                matchers.contains(&"loadgen_run=\"abc\"".to_owned()),
                "{name:?}: {matchers:?} in {out}"
            );
        }
        // Nothing else changed: the original matchers and the structure stay.
        assert!(out.contains("x=\"1\""), "{out}");
        assert!(out.contains("offset 1m"), "{out}");
        assert!(out.contains("vector(0)"), "{out}");
    }

    #[test]
    fn a_run_id_cannot_escape_its_quotes() {
        let nasty = "x\"} or up{a=\"\\";
        let out = inject("sum(m)", RUN_LABEL, nasty).unwrap();
        let found = selectors(&out);
        assert_eq!(found.len(), 1, "one selector still: {out}");
        let back = parser::parse(&out).unwrap();
        let Expr::Aggregate(a) = back else {
            panic!("{out}")
        };
        let Expr::VectorSelector(vs) = *a.expr else {
            panic!("{out}")
        };
        let m = vs.matchers.find_matchers(RUN_LABEL);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].value, nasty);
    }

    #[test]
    fn or_groups_each_get_the_label() {
        let out = inject("m{a=\"1\" or b=\"2\"}", RUN_LABEL, "r").unwrap();
        let found = selectors(&out);
        assert_eq!(found[0].1.len(), 2, "{out}");
        for g in &found[0].1 {
            assert!(g.contains("loadgen_run=\"r\""), "{out}");
        }
    }

    #[test]
    fn a_selector_naming_the_run_label_is_refused() {
        let e = inject("sum(m{loadgen_run=\"other\"})", RUN_LABEL, "r").unwrap_err();
        assert!(matches!(e, InjectError::RunLabel { .. }), "{e}");
        assert!(e.to_string().contains("run_id"), "{e}");
        assert!(matches!(
            inject("sum(", RUN_LABEL, "r"),
            Err(InjectError::Parse { .. })
        ));
    }

    #[test]
    fn availability_like_slis_derive_the_error_ratio() {
        for sli in [
            Sli::Availability {
                selector: "{job=\"app\"}".into(),
            },
            Sli::Ratio {
                good: "a".into(),
                total: "b".into(),
            },
            Sli::Events {
                error_query: "e".into(),
                total_query: "t".into(),
            },
        ] {
            let c = derive(&sli, "");
            assert_eq!(
                c,
                ClientSli::Availability {
                    selector: String::new()
                }
            );
            let q = queries(&c, Duration::from_secs(60), "run1").unwrap();
            assert_eq!(
                q.errors,
                "sum(last_over_time(http_client_request_duration_seconds_count{error_type!=\"\",loadgen_run=\"run1\"}[1m]))"
            );
            assert_eq!(
                q.total,
                "sum(last_over_time(http_client_request_duration_seconds_count{loadgen_run=\"run1\"}[1m]))"
            );
            assert!(empty_errors_mean_zero(&c));
            assert!(describe(&c).contains("all requests of the run"));
        }
    }

    #[test]
    fn latency_derives_successful_requests_under_the_bound_over_all() {
        let c = derive(
            &Sli::Latency {
                metric: "http_server_request_duration_seconds".into(),
                selector: "{job=\"app\"}".into(),
                threshold: 0.25,
            },
            "loadgen_request=\"checkout\"",
        );
        let q = queries(&c, Duration::from_secs(120), "r").unwrap();
        let found = selectors(&q.errors);
        assert_eq!(found.len(), 2, "{}", q.errors);
        let (count, bucket) = (&found[0], &found[1]);
        assert_eq!(
            count.0.as_deref(),
            Some("http_client_request_duration_seconds_count")
        );
        assert!(
            !count.1.iter().any(|m| m.starts_with("error_type")),
            "all requests count: {count:?}"
        );
        assert_eq!(
            bucket.0.as_deref(),
            Some("http_client_request_duration_seconds_bucket")
        );
        for m in [
            "error_type=\"\"",
            "loadgen_request=\"checkout\"",
            "loadgen_run=\"r\"",
        ] {
            assert!(bucket.1.contains(&m.to_owned()), "{m}: {bucket:?}");
        }
        assert!(bucket.1.iter().any(|m| m.starts_with("le=~")), "{bucket:?}");
        assert!(q.errors.ends_with("or vector(0))"), "{}", q.errors);
        assert!(!empty_errors_mean_zero(&c));
        assert!(describe(&c).contains("{loadgen_request=\"checkout\"}"));
        // A bound in milliseconds is that many thousandths of a second on
        // the client's histograms, which are in seconds.
        let ms = derive(
            &Sli::Latency {
                metric: "request_latency_ms".into(),
                selector: String::new(),
                threshold: 250.0,
            },
            "",
        );
        assert_eq!(
            ms,
            ClientSli::Latency {
                selector: String::new(),
                threshold: 0.25
            }
        );
        assert!(describe(&ms).contains("within 0.25s"), "{}", describe(&ms));
    }

    #[test]
    fn every_client_kind_builds_valid_restricted_promql() {
        let kinds = [
            ClientSli::Availability { selector: String::new() },
            ClientSli::Availability { selector: "{loadgen_request=~\"a|b\"}".into() },
            ClientSli::Latency { selector: String::new(), threshold: 1.0 },
            ClientSli::Explicit(Sli::Ratio {
                good: "http_client_request_duration_seconds_count{error_type=\"\"}".into(),
                total: "http_client_request_duration_seconds_count".into(),
            }),
            ClientSli::Explicit(Sli::Latency {
                metric: "loadgen_request_latency_seconds".into(),
                selector: String::new(),
                threshold: 0.3,
            }),
            ClientSli::Explicit(Sli::Events {
                error_query: "sum(rate(http_client_request_duration_seconds_count{error_type!=\"\"}[{{.window}}])) or vector(0)".into(),
                total_query: "sum(rate(http_client_request_duration_seconds_count[{{.window}}]))".into(),
            }),
        ];
        for c in kinds {
            let q = queries(&c, Duration::from_secs(3_600), "r").unwrap();
            for text in [&q.errors, &q.total] {
                promql::check(text).unwrap_or_else(|e| panic!("{c:?}: {text}: {e}"));
                for (name, matchers) in selectors(text) {
                    assert!(
                        matchers
                            .iter()
                            .any(|m| m == "loadgen_run=\"r\"" || m.contains("loadgen_run=\"r\"")),
                        "{c:?}: {name:?} {matchers:?}"
                    );
                }
            }
        }
    }
}
