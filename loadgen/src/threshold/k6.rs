//! k6's threshold syntax mapped onto the native thresholds: `METRIC: EXPR`
//! (`http_req_duration: p(95)<500`, `http_req_failed: rate<0.01`), with a
//! `{name:REQUEST}` tag filter for one request; k6's `checks: rate>0.99`
//! with `{check:NAME}` for one check. Each k6 form maps to exactly
//! one native threshold (the table is in loadgen/README.md, "k6 thresholds");
//! what has no native counterpart is refused, naming the metric or the
//! aggregation and showing the native forms.

use super::{Threshold, ThresholdError};

/// The native thresholds, as a refusal shows them.
pub const NATIVE_FORMS: &str =
    "p(95)<300ms, avg<200ms, med<100ms, max<2s, error_rate<1%, rps>=500, dropped<=0, checks>99%";

/// The k6 metrics loadgen maps, as a refusal shows them.
pub const K6_FORMS: &str = "http_req_duration (p(N), avg, med, max), http_req_failed (rate), http_reqs (rate), dropped_iterations (count), checks (rate)";

/// Splits `METRIC: EXPR` (the first `:` outside a `{...}` tag filter) when
/// `METRIC` looks like a k6 metric name; `None` for a native expression.
pub fn split(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    let at = text.char_indices().find_map(|(i, c)| match c {
        '{' => {
            depth += 1;
            None
        }
        '}' => {
            depth = depth.saturating_sub(1);
            None
        }
        ':' if depth == 0 => Some(i),
        _ => None,
    })?;
    let (metric, expr) = (text[..at].trim(), text[at + 1..].trim());
    let name = metric.split('{').next().unwrap_or("");
    let ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ident.then_some((metric, expr))
}

/// What a tag filter selects.
#[derive(Debug, Clone, PartialEq)]
enum Tag {
    /// `{name:REQUEST}`: one request name.
    Request(String),
    /// `{check:NAME}` (on `checks` only): one check name.
    Check(String),
}

/// What a tag filter names: `{name:login}` or `{check:status in [201]}`
/// (spaces and quotes allowed; a request name has no comma, a check name
/// may); any other tag is refused.
fn tag_filter(filter: &str, text: &str) -> Result<Tag, ThresholdError> {
    let refuse = || ThresholdError::K6Tag {
        filter: filter.to_owned(),
        expr: text.to_owned(),
    };
    let inner = filter
        .strip_prefix('{')
        .and_then(|f| f.strip_suffix('}'))
        .ok_or_else(refuse)?;
    let (key, value) = inner.split_once(':').ok_or_else(refuse)?;
    let unquote = |s: &str| {
        let s = s.trim();
        s.strip_prefix(['"', '\''])
            .and_then(|t| t.strip_suffix(['"', '\'']))
            .unwrap_or(s)
            .to_owned()
    };
    let (key, value) = (unquote(key), unquote(value));
    match key.as_str() {
        "name" if !value.is_empty() && !value.contains(',') => Ok(Tag::Request(value)),
        "check" if !value.is_empty() => Ok(Tag::Check(value)),
        _ => Err(refuse()),
    }
}

/// A k6 number as written (`500`, `0.01`, `1e3`).
fn number(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A number for a native expression: without float noise (`7.000000000000001` is `7`).
fn shown(v: f64) -> String {
    // Rounding hides float noise (0.07 x 100 = 7.000000000000001); a value
    // the rounding would change (a limit below 1e-9) is written as it is, so
    // the text means the same limit when it is read again (`loadgen merge`).
    let rounded = (v * 1e9).round() / 1e9;
    if (rounded - v).abs() > v.abs() * 1e-9 {
        format!("{v}")
    } else {
        format!("{rounded}")
    }
}

/// Maps k6's `METRIC: EXPR` onto the native threshold it means. The
/// threshold's `expr` is the native form (so reports show one syntax), its
/// `request` the tag filter's request name.
pub fn parse(metric: &str, expr: &str) -> Result<Threshold, ThresholdError> {
    let text = format!("{metric}: {expr}");
    let (name, filter) = match metric.find('{') {
        Some(i) => (&metric[..i], Some(&metric[i..])),
        None => (metric, None),
    };
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("==") || compact.contains("!=") {
        return Err(ThresholdError::K6Op(text));
    }
    let at = compact
        .find(['<', '>'])
        .ok_or_else(|| ThresholdError::NoOp(text.clone()))?;
    let (agg, rest) = compact.split_at(at);
    let op_len = if rest[1..].starts_with('=') { 2 } else { 1 };
    let (op, value) = rest.split_at(op_len);
    let refuse_agg = |why: &'static str| ThresholdError::K6Aggregation {
        metric: name.to_owned(),
        aggregation: agg.to_owned(),
        expr: text.clone(),
        why,
    };
    // k6's rate of a share (failed requests, passed checks): a fraction from
    // 0 to 1, as the native threshold `native` in percent, with the limit
    // as written.
    let share = |native: &str, example: &'static str| -> Result<Threshold, ThresholdError> {
        let v = number(value).ok_or_else(|| ThresholdError::Value {
            value: value.to_owned(),
            expr: text.clone(),
            why: example,
        })?;
        if !(0.0..=1.0).contains(&v) {
            return Err(ThresholdError::Value {
                value: value.to_owned(),
                expr: text.clone(),
                why: "k6's rate is a fraction between 0 and 1",
            });
        }
        let mut t = Threshold::parse(&format!("{native}{op}{}%", shown(v * 100.0)))?;
        // The limit as written, not as it came back from a percentage.
        t.limit = v;
        Ok(t)
    };
    let native = match name {
        "http_req_duration" => {
            let is_latency = matches!(agg, "avg" | "med" | "max")
                || agg.strip_prefix("p(").is_some_and(|p| p.ends_with(')'));
            if agg == "min" {
                return Err(refuse_agg(
                    "loadgen has no minimum-latency threshold; it judges p(N), avg, med and max",
                ));
            }
            if !is_latency {
                return Err(refuse_agg("http_req_duration takes p(N), avg, med or max"));
            }
            // k6 writes milliseconds as a bare number.
            let value = match number(value) {
                Some(v) => format!("{}ms", shown(v)),
                None => value.to_owned(),
            };
            format!("{agg}{op}{value}")
        }
        "http_req_failed" => {
            if agg != "rate" {
                return Err(refuse_agg(
                    "http_req_failed takes rate (the share of failed requests, 0 to 1)",
                ));
            }
            return finish(
                share("error_rate", "expected a fraction such as 0.01")?,
                filter,
                &text,
            );
        }
        "http_reqs" => match agg {
            "rate" => format!("rps{op}{value}"),
            "count" => {
                return Err(refuse_agg(
                    "loadgen judges the request rate, not the count: write http_reqs: rate>N (rps>N), N being the count over the run's duration",
                ));
            }
            _ => return Err(refuse_agg("http_reqs takes rate")),
        },
        "checks" => {
            if agg != "rate" {
                return Err(refuse_agg(
                    "checks takes rate (the share of passed checks, 0 to 1)",
                ));
            }
            return finish(
                share("checks", "expected a fraction such as 0.99")?,
                filter,
                &text,
            );
        }
        "dropped_iterations" => {
            if filter.is_some() {
                return Err(ThresholdError::K6Tag {
                    filter: filter.unwrap_or_default().to_owned(),
                    expr: text.clone(),
                });
            }
            match agg {
                "count" => format!("dropped{op}{value}"),
                _ => return Err(refuse_agg("dropped_iterations takes count")),
            }
        }
        _ => {
            return Err(ThresholdError::K6Metric {
                metric: name.to_owned(),
                expr: text.clone(),
            });
        }
    };
    let t = Threshold::parse(&native).map_err(|e| match e {
        // Say the k6 text, not the native one made from it.
        ThresholdError::Value { value, why, .. } => ThresholdError::Value {
            value,
            expr: text.clone(),
            why,
        },
        ThresholdError::Percentile(_) => ThresholdError::Percentile(text.clone()),
        other => other,
    })?;
    finish(t, filter, &text)
}

fn finish(mut t: Threshold, filter: Option<&str>, text: &str) -> Result<Threshold, ThresholdError> {
    match filter.map(|f| tag_filter(f, text)).transpose()? {
        None => {}
        Some(Tag::Request(r)) => t.request = Some(r),
        Some(Tag::Check(c)) if t.metric == super::Metric::Checks => t.check = Some(c),
        Some(Tag::Check(_)) => {
            return Err(ThresholdError::K6Tag {
                filter: filter.unwrap_or_default().to_owned(),
                expr: text.to_owned(),
            });
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::{Metric, Op};

    #[test]
    fn tiny_limits_are_written_so_they_read_back_the_same() {
        for limit in [0.01, 0.07, 0.5, 1e-7, 1e-12, 3.3e-15] {
            let t = parse("http_req_failed", &format!("rate<{limit}")).unwrap();
            let again = Threshold::parse(&t.expr).unwrap();
            assert!(
                (again.limit - t.limit).abs() <= t.limit * 1e-12,
                "{limit}: {} reads back as {}",
                t.expr,
                again.limit
            );
        }
        assert_eq!(
            parse("http_req_failed", "rate<0.07").unwrap().expr,
            "error_rate<7%"
        );
    }

    #[test]
    fn k6_forms_map_onto_native_thresholds() {
        for (metric, expr, native, m, op, limit, request) in [
            (
                "http_req_duration",
                "p(95)<500",
                "p(95)<500ms",
                Metric::Percentile(95.0),
                Op::Lt,
                500.0,
                None,
            ),
            (
                "http_req_duration",
                "p(99.9) <= 1500",
                "p(99.9)<=1500ms",
                Metric::Percentile(99.9),
                Op::Le,
                1500.0,
                None,
            ),
            (
                "http_req_duration",
                "avg<200",
                "avg<200ms",
                Metric::AvgLatency,
                Op::Lt,
                200.0,
                None,
            ),
            (
                "http_req_duration",
                "med<100",
                "med<100ms",
                Metric::Percentile(50.0),
                Op::Lt,
                100.0,
                None,
            ),
            (
                "http_req_duration",
                "max<2000",
                "max<2000ms",
                Metric::MaxLatency,
                Op::Lt,
                2000.0,
                None,
            ),
            (
                "http_req_duration",
                "p(90)<1.5s",
                "p(90)<1.5s",
                Metric::Percentile(90.0),
                Op::Lt,
                1500.0,
                None,
            ),
            (
                "http_req_duration{name:login}",
                "p(95)<500",
                "p(95)<500ms",
                Metric::Percentile(95.0),
                Op::Lt,
                500.0,
                Some("login"),
            ),
            (
                "http_req_duration{ name: \"log in\" }",
                "max<9",
                "max<9ms",
                Metric::MaxLatency,
                Op::Lt,
                9.0,
                Some("log in"),
            ),
            (
                "http_req_failed",
                "rate<0.01",
                "error_rate<1%",
                Metric::ErrorRate,
                Op::Lt,
                0.01,
                None,
            ),
            (
                "http_req_failed",
                "rate<=0.07",
                "error_rate<=7%",
                Metric::ErrorRate,
                Op::Le,
                0.07,
                None,
            ),
            (
                "http_req_failed{name:checkout}",
                "rate<0.1",
                "error_rate<10%",
                Metric::ErrorRate,
                Op::Lt,
                0.1,
                Some("checkout"),
            ),
            (
                "http_reqs",
                "rate>100",
                "rps>100",
                Metric::Rps,
                Op::Gt,
                100.0,
                None,
            ),
            (
                "http_reqs",
                "rate>=99.5",
                "rps>=99.5",
                Metric::Rps,
                Op::Ge,
                99.5,
                None,
            ),
            (
                "dropped_iterations",
                "count<=0",
                "dropped<=0",
                Metric::Dropped,
                Op::Le,
                0.0,
                None,
            ),
        ] {
            let t = parse(metric, expr).unwrap_or_else(|e| panic!("{metric}: {expr}: {e}"));
            assert_eq!(t.expr, native, "{metric}: {expr}");
            assert_eq!(
                (t.metric, t.op, t.limit),
                (m, op, limit),
                "{metric}: {expr}"
            );
            assert_eq!(t.request.as_deref(), request, "{metric}: {expr}");
            // The native form means the same threshold.
            let again = Threshold::parse(&t.expr).unwrap();
            assert_eq!((again.metric, again.op), (t.metric, t.op));
            assert!((again.limit - t.limit).abs() < 1e-12);
        }
    }

    #[test]
    fn forms_without_a_native_threshold_are_refused_showing_the_native_ones() {
        for (metric, expr, want) in [
            (
                "http_req_duration",
                "min<10",
                "no minimum-latency threshold",
            ),
            (
                "http_req_duration",
                "rate<10",
                "takes p(N), avg, med or max",
            ),
            (
                "http_req_duration",
                "p(95)==500",
                "== and != are not supported",
            ),
            ("http_req_duration", "p(95)", "no comparison"),
            ("http_req_duration", "p(100)<500", "between 0 and 100"),
            ("http_req_duration", "p(95)<fast", "duration"),
            ("http_req_failed", "rate<1%", "fraction"),
            ("http_req_failed", "rate<2", "between 0 and 1"),
            ("http_req_failed", "count<3", "takes rate"),
            ("http_reqs", "count>1000", "not the count"),
            ("http_reqs", "rate>-1", "0 or more"),
            ("dropped_iterations", "rate<1", "takes count"),
            ("dropped_iterations{name:a}", "count<1", "tag filter"),
            ("http_req_duration{status:200}", "p(95)<500", "tag filter"),
            (
                "http_req_duration{name:a,status:200}",
                "p(95)<500",
                "tag filter",
            ),
            ("checks", "count>10", "checks takes rate"),
            ("checks", "rate>99%", "fraction"),
            ("checks", "rate>1.5", "between 0 and 1"),
            ("http_req_duration{check:fast}", "p(95)<500", "tag filter"),
            ("checks{status:200}", "rate>0.9", "tag filter"),
            (
                "iteration_duration",
                "p(95)<500",
                "k6 metric \"iteration_duration\"",
            ),
            ("my_trend", "avg<5", "k6 metric \"my_trend\""),
        ] {
            let err = parse(metric, expr).unwrap_err().to_string();
            assert!(err.contains(want), "{metric}: {expr}: {err}");
        }
        // A refused metric shows the k6 metrics that map and the native forms.
        let err = parse("vus", "value>10").unwrap_err().to_string();
        assert!(
            err.contains(K6_FORMS) && err.contains(NATIVE_FORMS),
            "{err}"
        );
        let err = parse("http_reqs", "count>1").unwrap_err().to_string();
        assert!(err.contains(NATIVE_FORMS), "{err}");
    }

    #[test]
    fn checks_map_onto_the_native_checks_threshold_with_a_request_or_a_check() {
        let t = parse("checks", "rate>0.99").unwrap();
        assert_eq!(t.expr, "checks>99%");
        assert_eq!((t.metric, t.op, t.limit), (Metric::Checks, Op::Gt, 0.99));
        assert_eq!((t.request, t.check), (None, None));
        let t = parse("checks{name:create order}", "rate>=0.9").unwrap();
        assert_eq!(t.expr, "checks>=90%");
        assert_eq!(t.request.as_deref(), Some("create order"));
        assert_eq!(t.check, None);
        let t = parse("checks{check: 'status in [200, 201]'}", "rate>0.5").unwrap();
        assert_eq!(t.check.as_deref(), Some("status in [200, 201]"));
        assert_eq!(t.request, None);
        // Through the whole text, as a scenario writes it.
        let t = Threshold::parse_any("checks{check:fast}: rate>0.95").unwrap();
        assert_eq!(
            (t.metric, t.check.as_deref(), t.limit),
            (Metric::Checks, Some("fast"), 0.95)
        );
        let again = Threshold::parse(&t.expr).unwrap();
        assert!((again.limit - t.limit).abs() < 1e-12);
    }

    #[test]
    fn metric_and_expression_are_split_at_the_first_colon_outside_a_tag_filter() {
        assert_eq!(
            split("http_req_duration: p(95)<500"),
            Some(("http_req_duration", "p(95)<500"))
        );
        assert_eq!(
            split(" http_req_duration{name:login} :p(95)<500"),
            Some(("http_req_duration{name:login}", "p(95)<500"))
        );
        assert_eq!(split("p(95)<300ms"), None);
        assert_eq!(split("p(95): <300ms"), None);
        assert_eq!(split(": x"), None);
        assert_eq!(split("9lives: x"), None);
    }
}
