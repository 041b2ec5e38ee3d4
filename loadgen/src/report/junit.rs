//! JUnit XML: one test case per threshold, so CI systems show each verdict.
//! The XML is [`common::junit`]'s, well-formed whatever the names hold.

use common::junit::{Case, Document, Outcome, Suite};

use super::Report;

/// Renders the report's thresholds as a JUnit test suite.
pub fn render(r: &Report) -> String {
    let reasons = r.reason_lines();
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!("\nerrors by reason:\n{}", reasons.join("\n"))
    };
    let cases = r
        .thresholds
        .iter()
        .map(|t| {
            let name = match &t.request {
                Some(n) => format!("{} [{n}]", t.threshold),
                None => t.threshold.clone(),
            };
            let outcome = if t.passed {
                Outcome::Passed
            } else {
                Outcome::Failure {
                    message: format!("threshold {name} failed"),
                    text: Some(format!("observed {}{why}", t.observed_text)),
                }
            };
            Case::new("loadgen.thresholds", name, outcome)
        })
        .collect();
    let mut system_out = Vec::new();
    if r.interrupted {
        system_out.push("the run was interrupted".to_owned());
    }
    if let Some(none) = r.no_success() {
        system_out.push(none);
    } else if !reasons.is_empty() {
        system_out.push(format!("errors by reason:\n{}", reasons.join("\n")));
    }
    Document::Suites {
        name: "loadgen".into(),
        time: Some(r.elapsed_s),
        suites: vec![Suite {
            name: r.scenario.clone(),
            time: Some(r.elapsed_s),
            timestamp: Some(r.started_at.clone()),
            cases,
            system_out: (!system_out.is_empty()).then(|| system_out.join("\n")),
        }],
    }
    .render()
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
