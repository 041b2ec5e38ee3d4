//! JUnit XML: one test case per threshold, so CI systems show each verdict.

use std::fmt::Write as _;

use super::Report;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Renders the report's thresholds as a JUnit test suite.
pub fn render(r: &Report) -> String {
    let failures = r.thresholds.iter().filter(|t| !t.passed).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"loadgen\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        r.thresholds.len(),
        r.elapsed_s
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\" timestamp=\"{}\">",
        escape(&r.scenario),
        r.thresholds.len(),
        r.elapsed_s,
        escape(&r.started_at)
    );
    let reasons = r.reason_lines();
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!("\nerrors by reason:\n{}", reasons.join("\n"))
    };
    for t in &r.thresholds {
        let name = match &t.request {
            Some(n) => format!("{} [{n}]", t.threshold),
            None => t.threshold.clone(),
        };
        let _ = write!(
            out,
            "    <testcase classname=\"loadgen.thresholds\" name=\"{}\"",
            escape(&name)
        );
        if t.passed {
            let _ = writeln!(out, "/>");
        } else {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">observed {}{}</failure>\n    </testcase>",
                escape(&format!("threshold {name} failed")),
                escape(&t.observed_text),
                escape(&why)
            );
        }
    }
    let mut system_out = Vec::new();
    if r.interrupted {
        system_out.push("the run was interrupted".to_owned());
    }
    if let Some(none) = r.no_success() {
        system_out.push(none);
    } else if !reasons.is_empty() {
        system_out.push(format!("errors by reason:\n{}", reasons.join("\n")));
    }
    if !system_out.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            escape(&system_out.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_case_per_threshold_with_failures() {
        let mut r = super::super::tests::sample_report();
        let mut failing = r.thresholds[0].clone();
        failing.threshold = "p(99)<1ms & <fast>".into();
        failing.passed = false;
        r.thresholds.push(failing);
        let xml = super::render(&r);
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("p(99)&lt;1ms &amp; &lt;fast&gt;"));
        // The reasons are in the failure text and in system-out.
        assert!(
            xml.contains("observed 200ms\nerrors by reason:\nstatus: HTTP 500 (4)</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<system-out>errors by reason:\nstatus: HTTP 500 (4)</system-out>"));
    }
}
