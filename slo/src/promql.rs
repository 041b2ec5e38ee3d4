//! The PromQL behind each SLI. SLIs are exact: ratios of `increase()` over
//! the window (not averages of shorter ratios). Every query built here is
//! parsed with promql-parser before use.

use std::time::Duration;

use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};

use crate::model::Sli;
use crate::windows::promql_duration;

/// Checks that `query` parses as PromQL, without a comment: what slo
/// checks is written into other queries, where a `#` would comment out the
/// rest of them.
pub fn check(query: &str) -> Result<(), String> {
    no_comment(query)?;
    parser::parse(query).map(|_| ()).map_err(|_| {
        format!("{query:?} ends in a comment (#), which would swallow what follows it")
    })
}

/// A `#` outside string literals starts a comment to the end of the line.
fn no_comment(query: &str) -> Result<(), String> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in query.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(q) if c == '\\' && q != '`' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if c == '#' => {
                return Err(format!(
                    "a # outside quotes (at character {}) starts a comment, which would cut the generated queries short",
                    i + 1
                ));
            }
            None => {}
        }
    }
    Ok(())
}

/// Checks that `query` is a plain vector selector (a metric with matchers).
pub fn check_selector(query: &str) -> Result<(), String> {
    no_comment(query)?;
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

/// Stands for `{{.window}}` while an events query is parsed: a range no
/// spec writes by hand, so the selectors read over the window can be told
/// from any other range in the query.
const WINDOW_STANDIN: &str = "3d7h7m7s7ms";

/// The counter an events SLI's query reads over its window. The query must
/// be `sum(rate(SELECTOR[{{.window}}]))`, in parentheses or not, optionally
/// followed by `or vector(0)`: the form of Sloth's examples, of OpenSLO's
/// imports, and the only one whose value is the selector's events per second
/// whatever series it matches. Anything else is an error saying what was
/// found instead, so callers can name it.
pub fn rate_selector(query: &str) -> Result<VectorSelector, String> {
    let text = query.replace("{{.window}}", WINDOW_STANDIN);
    let expr = parser::parse(&text).map_err(|e| {
        format!(
            "it does not parse with a duration in place of {{{{.window}}}}: {}",
            e.trim()
        )
    })?;
    let window = match parser::parse(&format!("x[{WINDOW_STANDIN}]")) {
        Ok(Expr::MatrixSelector(m)) => m.range,
        _ => return Err("internal: the window stand-in does not parse".into()),
    };
    let uses = query.matches("{{.window}}").count();
    let vs = sum_of_rate(&expr, window)?;
    if uses != 1 {
        return Err(format!(
            "{{{{.window}}}} appears {uses} times; the query reads one counter over it"
        ));
    }
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(format!(
            "{vs} has an offset or @ modifier; the window must end at the evaluation time"
        ));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(format!(
            "{vs} has `or` matchers; write one selector per query"
        ));
    }
    Ok(vs.clone())
}

fn shown(e: &Expr) -> String {
    crate::answer::snippet(&e.to_string().replace(WINDOW_STANDIN, "{{.window}}"), 120)
}

/// `sum(rate(S[window]))`, parenthesized, or that `or vector(0)`.
fn sum_of_rate(e: &Expr, window: Duration) -> Result<&VectorSelector, String> {
    let want = "sum(rate(SELECTOR[{{.window}}])), optionally with `or vector(0)`";
    match e {
        Expr::Paren(p) => sum_of_rate(&p.expr, window),
        Expr::Binary(b) if b.op.to_string() == "or" && is_zero_vector(&b.rhs) => {
            sum_of_rate(&b.lhs, window)
        }
        Expr::Aggregate(a)
            if a.op.to_string() == "sum"
                && a.param.is_none()
                && a.modifier
                    .as_ref()
                    .is_none_or(|m| matches!(m, LabelModifier::Include(l) if l.is_empty())) =>
        {
            rate_of(&a.expr, window).ok_or_else(|| {
                format!(
                    "found sum({}); the sum must be of rate(SELECTOR[{{{{.window}}}}])",
                    shown(&a.expr)
                )
            })
        }
        Expr::Aggregate(a) if a.op.to_string() == "sum" => Err(format!(
            "found {}: a sum by or without labels gives one series per group; want {want}",
            shown(e)
        )),
        _ => Err(format!("found {}; want {want}", shown(e))),
    }
}

fn rate_of(e: &Expr, window: Duration) -> Option<&VectorSelector> {
    match e {
        Expr::Paren(p) => rate_of(&p.expr, window),
        Expr::Call(c) if c.func.name == "rate" && c.args.args.len() == 1 => {
            match c.args.args[0].as_ref() {
                Expr::MatrixSelector(m) if m.range == window => Some(&m.vs),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_zero_vector(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => is_zero_vector(&p.expr),
        Expr::Call(c) if c.func.name == "vector" && c.args.args.len() == 1 => {
            matches!(c.args.args[0].as_ref(), Expr::NumberLiteral(n) if n.val == 0.0)
        }
        _ => false,
    }
}

/// A number as PromQL and YAML read it back: no float noise (0.001, not
/// 0.0010000000000000009), no trailing zeros.
pub fn fmt_num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() {
            "0".into()
        } else {
            x.to_string()
        };
    }
    // 10 significant digits: exact for objectives to five nines, no float noise.
    let decimals = (9 - x.abs().log10().floor() as i32).clamp(0, 30) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alerting, Slo};

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
            timeslices: None,
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
                let q = sli_events(&s.sli, w);
                for text in [&q.errors, &q.total, &q.ratio()] {
                    check(text).unwrap_or_else(|e| panic!("{sli:?}: {text}: {e}"));
                }
            }
        }
    }

    #[test]
    fn availability_counts_5xx_over_increases() {
        let q = sli_events(
            &slo(Sli::Availability {
                selector: "job=\"target-app\"".into(),
            })
            .sli,
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
        let q = sli_events(
            &slo(Sli::Latency {
                metric: "m".into(),
                selector: String::new(),
                threshold: 1.0,
            })
            .sli,
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
            let q = sli_events(&s.sli, w);
            assert!(q.errors.contains(&le_matcher(1.0)), "{}", q.errors);
            assert!(!q.errors.contains("le=\""), "{}", q.errors);
        }
    }

    #[test]
    fn events_queries_give_their_counter() {
        for (query, selector) in [
            ("sum(rate(e_total[{{.window}}]))", "e_total"),
            (
                "sum(rate(http_requests_total{job=\"a\",code=~\"5..\"}[{{.window}}])) or vector(0)",
                "http_requests_total{code=~\"5..\",job=\"a\"}",
            ),
            (
                "(sum (rate ( x{a=\"1\"}[{{.window}}] ))) or (vector(0))",
                "x{a=\"1\"}",
            ),
            ("sum by () (rate(x[{{.window}}]))", "x"),
        ] {
            match rate_selector(query) {
                Ok(vs) => assert_eq!(vs.to_string(), selector, "{query}"),
                Err(e) => panic!("{query}: {e}"),
            }
        }
        for (query, why) in [
            (
                "rate(x[{{.window}}])",
                "found rate(x[{{.window}}]); want sum(rate(",
            ),
            (
                "sum without (a) (rate(x[{{.window}}]))",
                "a sum by or without",
            ),
            (
                "sum(rate(x[5m]))",
                "the sum must be of rate(SELECTOR[{{.window}}])",
            ),
            ("sum(irate(x[{{.window}}]))", "the sum must be of rate("),
            (
                "sum(rate(x[{{.window}}])) or vector(1)",
                "want sum(rate(SELECTOR",
            ),
            ("sum(rate(x[{{.window}}:1m]))", "the sum must be of rate("),
            ("sum(rate(x[{{.window}}] @ 100))", "offset or @ modifier"),
            (
                "sum(rate(x[{{.window}}] offset {{.window}}))",
                "{{.window}} appears 2 times",
            ),
            ("sum(rate(x[{{.window}}])", "does not parse with a duration"),
        ] {
            let e = rate_selector(query).unwrap_err();
            assert!(e.contains(why), "{query}: {e}");
        }
    }

    #[test]
    fn selectors_are_checked() {
        assert!(check_selector("up{job=\"x\"}").is_ok());
        assert!(check_selector("sum(up)").is_err());
        assert!(check("sum(rate(x[5m]").is_err());
        // A comment would cut the queries a selector is written into.
        let e = check_selector("http_serv#er_seconds_count").unwrap_err();
        assert!(e.contains("a # outside quotes (at character 10)"), "{e}");
        assert!(check("sum(rate(x[5m])) # why").is_err());
        assert!(check_selector("x{path=\"/a#b\", q='#', r=~\"\\\"#\"}").is_ok());
        // A comment would swallow the rest of a generated query.
        assert!(check_selector("ht#tp_requests_total{job=\"api\"}").is_err());
        assert!(check("sum(rate(e[5m])) # errors").is_err());
    }
}
