//! The summary printed at the end of a run (on stdout, or on stderr when
//! the JSON report goes to stdout): per-name statistics, the status codes,
//! the bytes received, the most frequent error reasons, the checks and the
//! skipped requests (when the scenario has checks), and thresholds.

use std::fmt::Write as _;

use super::{CheckResult, NameReport, Report};

/// How many error reasons the summary lists (the report keeps them all).
pub const TOP_REASONS: usize = 5;
/// The longest error message the summary shows, in characters.
pub const REASON_CHARS: usize = 100;

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Span lines shown per request in the summary (the JSON has them all).
const SPAN_LINES: usize = 6;

/// The "where the time goes" table: per request name with slow requests,
/// its bottleneck, the span lines with the largest share of the slow
/// requests' time, and the attributes that separate them.
pub fn bottlenecks(out: &mut String, r: &Report) {
    let Some(b) = &r.bottlenecks else {
        return;
    };
    let _ = writeln!(
        out,
        "where the time goes ({} spans received; slow = p99 and up as sent, typical = p40-p60; self time in ms):",
        b.spans
    );
    for q in &b.requests {
        let missing = if q.slow_without_trace > 0 {
            format!(", {} without a trace", q.slow_without_trace)
        } else {
            String::new()
        };
        let verdict = match &q.bottleneck {
            Some(s) => format!("bottleneck {s}"),
            None if q.slow == q.slow_without_trace => {
                "no trace of a slow request arrived".to_owned()
            }
            None => "no span grows from typical to slow".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {}: {verdict} ({} slow{missing}; {} typical)",
            q.request, q.slow, q.typical
        );
        if q.spans.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "    {:<44} {:>9} {:>9} {:>9} {:>7}",
            "span", "typical", "slow", "slow p99", "share"
        );
        for s in q.spans.iter().take(SPAN_LINES) {
            let _ = writeln!(
                out,
                "    {:<44} {:>9.1} {:>9.1} {:>9.1} {:>6.0}%",
                common::input::cut(&s.span, 44),
                s.typical_ms,
                s.slow_ms,
                s.slow_p99_ms,
                s.share * 100.0
            );
        }
        for a in &q.separators {
            let _ = writeln!(
                out,
                "    {}: {}={} in {:.0}% of slow, {:.0}% of all",
                a.span,
                a.key,
                common::input::cut(&a.value, 40),
                a.slow * 100.0,
                a.all * 100.0
            );
        }
    }
}

/// Where the client metrics went, when they were on: `client metrics
/// (loadgen_run="x"): remote write 12 sent, 0 failed; scraped 10 times at ADDR`.
pub fn metrics_line(r: &Report) -> Option<String> {
    let m = r.metrics.as_ref()?;
    let mut parts = Vec::new();
    if let Some(w) = &m.remote_write {
        let mut p = format!("remote write {} sent, {} failed", w.sent, w.failed);
        if w.dropped > 0 {
            p.push_str(&format!(", {} dropped", w.dropped));
        }
        if !w.final_sent {
            p.push_str(", final totals NOT sent");
        }
        parts.push(p);
    }
    if let Some(l) = &m.listen {
        let mut p = format!("scraped {} times at {}", l.scrapes, l.address);
        if !l.final_scraped {
            p.push_str(" (the final totals were not scraped: --metrics-linger)");
        }
        parts.push(p);
    }
    let id = r.run_id.as_deref().unwrap_or("");
    Some(format!(
        "client metrics (loadgen_run=\"{id}\"): {}",
        parts.join("; ")
    ))
}

/// The bytes line: `received 1234567 bytes (1.2 MiB, 61.7 KiB/s)`; `None`
/// when the report does not say (a merge with an older report).
pub fn bytes_line(r: &Report) -> Option<String> {
    let total = r.total.bytes_received?;
    let rate = if r.elapsed_s > 0.0 {
        total as f64 / r.elapsed_s
    } else {
        0.0
    };
    Some(format!(
        "received {total} bytes of response bodies ({}, {}/s)",
        human_bytes(total as f64),
        human_bytes(rate)
    ))
}

/// The most frequent error reasons, one line each (`status: HTTP 503 (17)`,
/// the message cut to [`REASON_CHARS`] and to its first line), and how many
/// more there are.
pub fn top_reasons(r: &Report) -> (Vec<String>, usize) {
    let all = r.reasons_by_count();
    let more = all.len().saturating_sub(TOP_REASONS);
    let lines = all
        .into_iter()
        .take(TOP_REASONS)
        .map(|(kind, msg, n)| {
            let first = msg.lines().next().unwrap_or_default();
            format!("{kind}: {} ({n})", truncate(first, REASON_CHARS))
        })
        .collect();
    (lines, more)
}

/// The errors column: by kind (`connect:3 timeout:1`), with the status
/// errors by status (`503:150`, from the reasons `HTTP 503`), so the table
/// says which status failed; `status:N` for those the reasons do not name.
fn errors(n: &NameReport) -> String {
    if n.errors.is_empty() {
        return "-".into();
    }
    let mut parts = Vec::new();
    for (kind, count) in &n.errors {
        if kind != "status" {
            parts.push(format!("{kind}:{count}"));
            continue;
        }
        let mut named: u64 = 0;
        if let Some(by_reason) = n.error_reasons.get("status") {
            for (reason, c) in by_reason {
                if let Some(code) = reason.strip_prefix("HTTP ")
                    && code.parse::<u16>().is_ok()
                {
                    parts.push(format!("{code}:{c}"));
                    named = named.saturating_add(*c);
                }
            }
        }
        let rest = count.saturating_sub(named);
        if rest > 0 {
            parts.push(format!("status:{rest}"));
        }
    }
    parts.join(" ")
}

fn row(out: &mut String, n: &NameReport) {
    let l = &n.latency_ms;
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
        truncate(&n.name, 24),
        n.count,
        n.rps,
        l.p50,
        l.p90,
        l.p95,
        l.p99,
        l.p99_9,
        l.max,
        errors(n)
    );
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A check's share of passed evaluations: `97.0%`, or `no data` when it
/// never ran.
pub fn check_share(c: &CheckResult) -> String {
    c.pass_rate()
        .map_or_else(|| "no data".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// The checks of all requests together: `197 of 200 passed (98.5%)`.
pub fn checks_line(r: &Report) -> String {
    let mut all = CheckResult {
        name: String::new(),
        request: String::new(),
        passes: 0,
        fails: 0,
    };
    for c in &r.checks {
        all.passes = all.passes.saturating_add(c.passes);
        all.fails = all.fails.saturating_add(c.fails);
    }
    format!(
        "{} of {} passed ({})",
        all.passes,
        all.total(),
        check_share(&all)
    )
}

/// The requests not sent, by name: `read order 3, pay 1`; `None` when
/// none was skipped.
pub fn skipped_line(r: &Report) -> Option<String> {
    let skipped: Vec<String> = r
        .requests
        .iter()
        .filter(|n| n.skipped > 0)
        .map(|n| format!("{} {}", n.name, n.skipped))
        .collect();
    (!skipped.is_empty()).then(|| skipped.join(", "))
}

fn checks(out: &mut String, r: &Report) {
    if r.checks.is_empty() {
        return;
    }
    let _ = writeln!(out, "checks: {}", checks_line(r));
    for c in &r.checks {
        let mark = match c.pass_rate() {
            None => "--",
            Some(_) if c.fails > 0 => "FAIL",
            Some(_) => "ok",
        };
        let _ = writeln!(
            out,
            "  {mark:<4} {:>7} {:>19}  {} [{}]",
            check_share(c),
            format!("{}/{}", c.passes, c.total()),
            truncate(&c.name, 60),
            truncate(&c.request, 40)
        );
    }
    if let Some(line) = skipped_line(r) {
        let _ = writeln!(out, "skipped (not sent): {line}");
    }
}

/// Renders the summary: per-name statistics, dropped iterations, checks,
/// thresholds.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let state = if r.interrupted {
        " (interrupted)"
    } else if r.aborted_by.is_some() {
        " (aborted)"
    } else {
        ""
    };
    let over = r
        .http_version
        .as_deref()
        .map_or_else(String::new, |v| format!(" over {v}"));
    let _ = writeln!(
        out,
        "scenario {} against {}{over} ({} model), {:.1}s{state}",
        r.scenario, r.target, r.model, r.elapsed_s
    );
    let _ = writeln!(
        out,
        "iterations {}  dropped {}  latency in ms, from the intended start (coordinated-omission corrected)",
        r.iterations, r.dropped_iterations
    );
    let _ = writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  errors",
        "name", "count", "rps", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    for n in &r.requests {
        row(&mut out, n);
    }
    row(&mut out, &r.total);
    let u = &r.total.latency_uncorrected_ms;
    let _ = writeln!(
        out,
        "uncorrected (from the actual send): p50 {:.2}  p99 {:.2}  max {:.2}",
        u.p50, u.p99, u.max
    );
    let statuses = r.status_line();
    let _ = writeln!(
        out,
        "status codes: {}",
        if statuses.is_empty() {
            "none (no response came)"
        } else {
            &statuses
        }
    );
    if let Some(line) = bytes_line(r) {
        let _ = writeln!(out, "{line}");
    }
    let (reasons, more) = top_reasons(r);
    if !reasons.is_empty() {
        let _ = writeln!(out, "errors by reason:");
        for line in reasons {
            let _ = writeln!(out, "  {line}");
        }
        if more > 0 {
            let _ = writeln!(
                out,
                "  and {more} more (all of them under error_reasons in the JSON report)"
            );
        }
    }
    checks(&mut out, r);
    bottlenecks(&mut out, r);
    if let Some(line) = metrics_line(r) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(a) = &r.aborted_by {
        let _ = writeln!(out, "aborted: threshold {a} failed");
    }
    if !r.thresholds.is_empty() {
        let _ = writeln!(out, "thresholds:");
        for t in &r.thresholds {
            let scope = t.scope().map(|n| format!(" [{n}]")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} {}{} (observed {})",
                if t.passed { "PASS" } else { "FAIL" },
                t.threshold,
                scope,
                t.observed_text
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_metrics_line_says_where_they_went_and_what_failed() {
        let mut r = super::super::tests::sample_report();
        assert!(super::metrics_line(&r).is_none());
        r.run_id = Some("r1".into());
        r.metrics = Some(common::report::MetricsExport {
            labels: Default::default(),
            remote_write: Some(common::report::RemoteWriteReport {
                url: "http://p/api/v1/write".into(),
                sent: 3,
                samples: 300,
                failed: 1,
                retries: 2,
                dropped: 0,
                final_sent: false,
                last_error: Some("HTTP 500".into()),
            }),
            listen: Some(common::report::ListenReport {
                address: "127.0.0.1:9464".into(),
                scrapes: 4,
                final_scraped: true,
            }),
        });
        let text = super::render(&r);
        assert!(
            text.contains("\nclient metrics (loadgen_run=\"r1\"): remote write 3 sent, 1 failed, final totals NOT sent; scraped 4 times at 127.0.0.1:9464\n"),
            "{text}"
        );
    }

    #[test]
    fn summary_mentions_every_name_and_threshold() {
        let r = super::super::tests::sample_report();
        let text = super::render(&r);
        assert!(text.contains("\na "), "{text}");
        assert!(text.contains("\nb "));
        assert!(text.contains("\ntotal "));
        assert!(text.contains("PASS p(95)<1s (observed 200ms)"));
        // The errors column names the failed status.
        assert!(text.contains("  500:4\n"), "{text}");
        assert!(!text.contains("status:4"), "{text}");
        assert!(text.contains("dropped 3"));
        assert!(
            text.contains("errors by reason:\n  status: HTTP 500 (4)\n"),
            "{text}"
        );
        // Every status seen, successes and failures, and the bytes.
        assert!(
            text.contains("\nstatus codes: 200: 196, 500: 4\n"),
            "{text}"
        );
        assert!(
            text.contains("\nreceived 20000 bytes of response bodies (19.5 KiB, 9.8 KiB/s)\n"),
            "{text}"
        );
    }

    #[test]
    fn checks_and_skipped_requests_are_listed_failing_ones_marked() {
        let r = super::super::tests::checks_report();
        let text = super::render(&r);
        let listed: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("checks: "))
            .take(4)
            .collect();
        assert_eq!(
            listed,
            [
                "checks: 197 of 200 passed (98.5%)",
                "  ok    100.0%             100/100  status in [201] [a]",
                "  FAIL   97.0%              97/100  json /order_id exists [b]",
                "skipped (not sent): b 3",
            ],
            "{text}"
        );
        assert!(
            text.contains(
                "  FAIL checks>99% [b, check: json /order_id exists] (observed 97.000%)\n"
            ),
            "{text}"
        );
        // A check that never ran has no share.
        let mut never = r.clone();
        never.checks[0].passes = 0;
        let text = super::render(&never);
        assert!(
            text.contains("  --   no data                 0/0  status in [201] [a]"),
            "{text}"
        );
        // Without checks the summary is as it was.
        let plain = super::super::tests::sample_report();
        let text = super::render(&plain);
        assert!(
            !text.contains("checks") && !text.contains("skipped"),
            "{text}"
        );
    }

    #[test]
    fn reasons_are_the_top_few_one_line_each() {
        use std::collections::BTreeMap;
        let mut r = super::super::tests::sample_report();
        let long = format!("{}\nsecond line", "x".repeat(500));
        let mut connect = BTreeMap::new();
        for i in 0..7u64 {
            connect.insert(format!("refused {i}"), 10 + i);
        }
        connect.insert(long, 100);
        r.total.error_reasons = BTreeMap::from([("connect".to_owned(), connect)]);
        let text = super::render(&r);
        let listed: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "errors by reason:")
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert_eq!(listed.len(), super::TOP_REASONS + 1, "{text}");
        assert!(listed[0].starts_with("  connect: xxx"), "{text}");
        assert!(listed[0].ends_with("… (100)"), "{text}");
        assert!(
            listed[0].chars().count() < super::REASON_CHARS + 20,
            "{text}"
        );
        assert_eq!(listed[1], "  connect: refused 6 (16)");
        assert!(listed[5].contains("and 3 more"), "{text}");
        assert!(!text.contains("second line"));
    }

    #[test]
    fn status_errors_the_reasons_do_not_name_stay_status() {
        use std::collections::BTreeMap;
        let mut r = super::super::tests::sample_report();
        r.total.errors = BTreeMap::from([("status".into(), 10), ("connect".into(), 2)]);
        r.total.error_reasons = BTreeMap::from([(
            "status".into(),
            BTreeMap::from([("HTTP 503".into(), 7), ("other".into(), 3)]),
        )]);
        let text = super::render(&r);
        assert!(text.contains("  connect:2 503:7 status:3\n"), "{text}");
    }

    #[test]
    fn no_response_and_unknown_bytes_are_said_so() {
        let mut r = super::super::tests::sample_report();
        r.total.status_codes.clear();
        r.total.bytes_received = None;
        let text = super::render(&r);
        assert!(
            text.contains("status codes: none (no response came)"),
            "{text}"
        );
        assert!(!text.contains("received "), "{text}");
        assert_eq!(super::human_bytes(512.0), "512 B");
        assert_eq!(super::human_bytes(3.5 * 1024.0 * 1024.0), "3.5 MiB");
    }
}
