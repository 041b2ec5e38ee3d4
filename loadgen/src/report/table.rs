//! The summary printed on stdout at the end of a run.

use std::fmt::Write as _;

use super::{NameReport, Report};

fn errors(n: &NameReport) -> String {
    if n.errors.is_empty() {
        return "-".into();
    }
    n.errors
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
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
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Renders the summary: per-name statistics, dropped iterations, thresholds.
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
    let reasons = r.reason_lines();
    if !reasons.is_empty() {
        let _ = writeln!(out, "errors by reason:");
        for line in reasons {
            let _ = writeln!(out, "  {line}");
        }
    }
    if let Some(a) = &r.aborted_by {
        let _ = writeln!(out, "aborted: threshold {a} failed");
    }
    if !r.thresholds.is_empty() {
        let _ = writeln!(out, "thresholds:");
        for t in &r.thresholds {
            let scope = t
                .request
                .as_deref()
                .map(|n| format!(" [{n}]"))
                .unwrap_or_default();
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
    fn summary_mentions_every_name_and_threshold() {
        let r = super::super::tests::sample_report();
        let text = super::render(&r);
        assert!(text.contains("\na "), "{text}");
        assert!(text.contains("\nb "));
        assert!(text.contains("\ntotal "));
        assert!(text.contains("PASS p(95)<1s (observed 200ms)"));
        assert!(text.contains("status:4"));
        assert!(text.contains("dropped 3"));
        assert!(
            text.contains("errors by reason:\n  status: HTTP 500 (4)\n"),
            "{text}"
        );
    }
}
