//! A Markdown summary for CI job summaries (e.g. `$GITHUB_STEP_SUMMARY`):
//! the per-name table, status codes, bytes, error reasons, the checks and
//! skipped requests (when the scenario has checks), and thresholds.

use std::fmt::Write as _;

use super::Report;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let verdict = if r.passed() { "passed" } else { "failed" };
    let _ = writeln!(out, "### loadgen: {} {verdict}\n", r.scenario);
    let _ = writeln!(
        out,
        "Target `{}`, {} model, {:.1} s, {} iterations, {} dropped{}.\n",
        r.target,
        r.model,
        r.elapsed_s,
        r.iterations,
        r.dropped_iterations,
        if r.interrupted {
            ", **interrupted**"
        } else {
            ""
        }
    );
    out.push_str("| name | count | rps | p50 ms | p95 ms | p99 ms | max ms | errors |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for n in r.requests.iter().chain(std::iter::once(&r.total)) {
        let l = &n.latency_ms;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            n.name.replace('|', "\\|"),
            n.count,
            n.rps,
            l.p50,
            l.p95,
            l.p99,
            l.max,
            n.errors.values().sum::<u64>()
        );
    }
    let statuses = r.status_line();
    let _ = writeln!(
        out,
        "\nStatus codes: {}.",
        if statuses.is_empty() {
            "none (no response came)"
        } else {
            &statuses
        }
    );
    if let Some(line) = super::table::bytes_line(r) {
        let mut line = line;
        line[..1].make_ascii_uppercase();
        let _ = writeln!(out, "{line}.");
    }
    let (reasons, more) = super::table::top_reasons(r);
    if !reasons.is_empty() {
        out.push_str("\nErrors by reason:\n\n");
        for line in reasons {
            let _ = writeln!(out, "- {}", line.replace('|', "\\|"));
        }
        if more > 0 {
            let _ = writeln!(
                out,
                "- and {more} more (see `error_reasons` in the JSON report)"
            );
        }
    }
    if !r.checks.is_empty() {
        let _ = writeln!(out, "\nChecks: {}.\n", super::table::checks_line(r));
        out.push_str("| check | request | passed | share | result |\n|---|---|---:|---:|---|\n");
        for c in &r.checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} / {} | {} | {} |",
                cell(&c.name),
                cell(&c.request),
                c.passes,
                c.total(),
                super::table::check_share(c),
                match c.pass_rate() {
                    None => "– no data",
                    Some(_) if c.fails > 0 => "❌ failed",
                    Some(_) => "✅ passed",
                }
            );
        }
        if let Some(line) = super::table::skipped_line(r) {
            let _ = writeln!(out, "\nSkipped (not sent): {}.", cell(&line));
        }
    }
    if let Some(b) = &r.bottlenecks {
        let _ = writeln!(
            out,
            "\nWhere the time goes ({} spans; slow = p99 and up, typical = p40-p60; self time in ms):\n",
            b.spans
        );
        out.push_str("| request | bottleneck | span | typical | slow | share of slow time |\n|---|---|---|---:|---:|---:|\n");
        for q in &b.requests {
            let verdict = q.bottleneck.as_deref().unwrap_or("–");
            let top = q.spans.first();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&q.request),
                cell(verdict),
                top.map_or("–".to_owned(), |s| cell(&s.span)),
                top.map_or("–".to_owned(), |s| format!("{:.1}", s.typical_ms)),
                top.map_or("–".to_owned(), |s| format!("{:.1}", s.slow_ms)),
                top.map_or("–".to_owned(), |s| format!("{:.0}%", s.share * 100.0)),
            );
        }
        for q in &b.requests {
            for a in &q.separators {
                let _ = writeln!(
                    out,
                    "- {}: `{}={}` on {} in {:.0}% of slow requests, {:.0}% of all",
                    cell(&q.request),
                    a.key.replace('`', "'"),
                    a.value.replace('`', "'"),
                    cell(&a.span),
                    a.slow * 100.0,
                    a.all * 100.0
                );
            }
            if q.slow_without_trace > 0 {
                let _ = writeln!(
                    out,
                    "- {}: {} of {} slow requests had no trace",
                    cell(&q.request),
                    q.slow_without_trace,
                    q.slow
                );
            }
        }
    }
    if !r.thresholds.is_empty() {
        out.push_str("\n| threshold | observed | result |\n|---|---:|---|\n");
        for t in &r.thresholds {
            let scope = t.scope().map(|n| format!(" ({n})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{}`{} | {} | {} |",
                t.threshold,
                scope.replace('|', "\\|"),
                t.observed_text,
                if t.passed { "✅ pass" } else { "❌ fail" }
            );
        }
    }
    out
}

/// Text for a table cell: `|` escaped, line breaks as spaces.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn where_the_time_goes_has_a_row_per_request() {
        use common::report::{Bottlenecks, RequestBottleneck, SpanAttribute, SpanTime};
        let mut r = super::super::tests::sample_report();
        r.bottlenecks = Some(Bottlenecks {
            source: "trace-sink".into(),
            spans: 40,
            requests: vec![RequestBottleneck {
                request: "create | order".into(),
                slow: 3,
                slow_without_trace: 1,
                typical: 20,
                typical_without_trace: 0,
                bottleneck: Some("process_payment".into()),
                spans: vec![SpanTime {
                    span: "process_payment".into(),
                    typical_ms: 3.25,
                    slow_ms: 223.9,
                    slow_p99_ms: 224.0,
                    share: 0.98,
                }],
                separators: vec![SpanAttribute {
                    span: "process_payment".into(),
                    key: "app.fault.latency_ms".into(),
                    value: "200".into(),
                    slow: 1.0,
                    all: 0.18,
                }],
            }],
        });
        let md = super::render(&r);
        assert!(
            md.contains(
                "| create \\| order | process_payment | process_payment | 3.2 | 223.9 | 98% |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "`app.fault.latency_ms=200` on process_payment in 100% of slow requests, 18% of all"
            ),
            "{md}"
        );
        assert!(md.contains("1 of 3 slow requests had no trace"), "{md}");
    }

    #[test]
    fn table_rows_and_verdict() {
        let r = super::super::tests::sample_report();
        let md = super::render(&r);
        assert!(md.starts_with("### loadgen: unit passed"));
        assert!(md.contains("| a | 100 |"));
        assert!(md.contains("| `p(95)<1s` | 200ms | ✅ pass |"));
        assert!(md.contains("- status: HTTP 500 (4)\n"), "{md}");
        assert!(md.contains("\nStatus codes: 200: 196, 500: 4.\n"), "{md}");
        assert!(
            md.contains("\nReceived 20000 bytes of response bodies"),
            "{md}"
        );
        assert!(!md.contains("Checks") && !md.contains("Skipped"), "{md}");
    }

    #[test]
    fn checks_table_marks_failing_checks() {
        let mut r = super::super::tests::checks_report();
        r.checks[0].name = "body a|b".into();
        let md = super::render(&r);
        assert!(
            md.contains("\nChecks: 197 of 200 passed (98.5%).\n"),
            "{md}"
        );
        assert!(
            md.contains("| body a\\|b | a | 100 / 100 | 100.0% | ✅ passed |\n"),
            "{md}"
        );
        assert!(
            md.contains("| json /order_id exists | b | 97 / 100 | 97.0% | ❌ failed |\n"),
            "{md}"
        );
        assert!(md.contains("\nSkipped (not sent): b 3.\n"), "{md}");
        assert!(
            md.contains("| `checks>99%` (b, check: json /order_id exists) | 97.000% | ❌ fail |"),
            "{md}"
        );
    }
}
