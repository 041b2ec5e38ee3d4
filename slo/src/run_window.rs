//! The window a load test ran in, from its loadgen report (`slo gate --run`):
//! from `started_at` to `ended_at`, widened to whole seconds. A report of an
//! interrupted run is refused unless the caller allows it. Pure: the caller
//! reads the file.

use common::report::{ParseError, REPORT_VERSION, Report};

/// Why a report gives no window to judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunWindowError {
    #[error("{file}:{line}:{column}: not a loadgen report: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{file}: report version {found} is not supported (this slo reads version {REPORT_VERSION}): judge it with the slo of the loadgen that wrote it"
    )]
    Version { file: String, found: u64 },
    #[error(
        "{file}: the run was interrupted, so its window and load are not the ones planned; rerun it"
    )]
    Interrupted { file: String },
    #[error("{file}: {message} (is it a loadgen report?)")]
    Field { file: String, message: String },
    #[error("{file}: the run's window is empty ({to} is not after {from})")]
    Empty { file: String, from: i64, to: i64 },
}

/// `[from, to]` in Unix seconds from the report `text` (shown as `file`),
/// read as the shared run-report types (`common::report`). A report without
/// `ended_at` (older loadgen) ends at `started_at` + `elapsed_s`.
pub fn run_window(
    text: &str,
    file: &str,
    allow_interrupted: bool,
) -> Result<(i64, i64), RunWindowError> {
    run(text, file, allow_interrupted).map(|r| (r.from, r.to))
}

/// What a gate needs of a run: its window and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Unix seconds, rounded down.
    pub from: i64,
    /// Unix seconds, rounded up.
    pub to: i64,
    /// The `loadgen_run` label of the metrics the run exported; `None` in
    /// reports written before it existed.
    pub run_id: Option<String>,
    /// Whether the run exported its client metrics (the report's `metrics`).
    pub exported: bool,
}

/// The window and id of the run in the report `text` (see [`run_window`]).
pub fn run(text: &str, file: &str, allow_interrupted: bool) -> Result<Run, RunWindowError> {
    let field = |message: String| RunWindowError::Field {
        file: file.to_owned(),
        message,
    };
    let report = Report::parse(text, file).map_err(|e| match e {
        ParseError::Syntax {
            line,
            column,
            message,
            ..
        } => RunWindowError::Json {
            file: file.to_owned(),
            line,
            column,
            message,
        },
        // The fields the window rests on, named when a report lacks them.
        ParseError::Shape { absent, .. } if absent.contains(&"started_at") => {
            field("no started_at".into())
        }
        ParseError::Shape { absent, .. }
            if absent.contains(&"ended_at") && absent.contains(&"elapsed_s") =>
        {
            field("no ended_at and no valid elapsed_s".into())
        }
        ParseError::Shape {
            line,
            column,
            message,
            ..
        } => RunWindowError::Json {
            file: file.to_owned(),
            line,
            column,
            message,
        },
        ParseError::Version { found, .. } => RunWindowError::Version {
            file: file.to_owned(),
            found,
        },
        ParseError::Invalid { message, .. } => field(message),
    })?;
    if report.interrupted && !allow_interrupted {
        return Err(RunWindowError::Interrupted {
            file: file.to_owned(),
        });
    }
    let (from, _) =
        rfc3339_bounds(&report.started_at).map_err(|e| field(format!("started_at {e}")))?;
    let to = match &report.ended_at {
        Some(t) => {
            rfc3339_bounds(t)
                .map_err(|e| field(format!("ended_at {e}")))?
                .1
        }
        None => {
            let elapsed = Some(report.elapsed_s)
                .filter(|e| e.is_finite() && *e >= 0.0 && *e < 1e12)
                .ok_or_else(|| field("no ended_at and no valid elapsed_s".into()))?;
            // In range: checked above.
            from.saturating_add(elapsed.ceil() as i64)
        }
    };
    if to <= from {
        return Err(RunWindowError::Empty {
            file: file.to_owned(),
            from,
            to,
        });
    }
    Ok(Run {
        from,
        to,
        run_id: report.run_id.filter(|id| !id.is_empty()),
        exported: report.metrics.is_some(),
    })
}

/// An RFC 3339 time as whole Unix seconds, rounded down and up.
fn rfc3339_bounds(t: &str) -> Result<(i64, i64), String> {
    let shown = common::input::cut(t, crate::answer::SNIPPET_CHARS);
    let st = humantime::parse_rfc3339_weak(t)
        .map_err(|e| format!("{shown:?}: {e} (RFC 3339 like 2026-11-21T10:00:00Z)"))?;
    let d = st
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("{shown:?} is before 1970"))?;
    let down = i64::try_from(d.as_secs()).map_err(|_| format!("{shown:?} is too far ahead"))?;
    let up = if d.subsec_nanos() > 0 {
        down.saturating_add(1)
    } else {
        down
    };
    Ok((down, up))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real report whose window fields are `fields` (the rest of a real
    /// report: the reader needs a whole one).
    fn window(fields: &str, allow: bool) -> Result<(i64, i64), RunWindowError> {
        run_window(&with_window(fields), "run.json", allow)
    }

    fn with_window(fields: &str) -> String {
        let mut base: serde_json::Value =
            serde_json::from_str(include_str!("../../common/testdata/report.json")).unwrap();
        let base = base.as_object_mut().unwrap();
        for k in ["started_at", "ended_at", "elapsed_s"] {
            base.remove(k);
        }
        let fields: serde_json::Value =
            serde_json::from_str(&format!("{{\"version\": 1, {fields}}}")).unwrap();
        for (k, v) in fields.as_object().unwrap() {
            base.insert(k.clone(), v.clone());
        }
        serde_json::Value::Object(base.clone()).to_string()
    }

    #[test]
    fn the_run_id_comes_with_the_window() {
        let text = with_window(
            r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:14:00Z", "elapsed_s": 40.0, "run_id": "0a1b2c3d4e5f""#,
        );
        let r = run(&text, "run.json", false).unwrap();
        assert_eq!(r.run_id.as_deref(), Some("0a1b2c3d4e5f"));
        assert_eq!((r.from, r.to), (1_700_000_000, 1_700_000_040));
        let text = with_window(
            r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:14:00Z", "elapsed_s": 40.0, "run_id": """#,
        );
        assert_eq!(run(&text, "run.json", false).unwrap().run_id, None);
    }

    #[test]
    fn the_window_ends_at_ended_at_not_started_at_plus_elapsed() {
        assert_eq!(
            window(
                r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:14:00Z", "elapsed_s": 10.0"#,
                false
            ),
            Ok((1_700_000_000, 1_700_000_040))
        );
    }

    #[test]
    fn fractions_widen_the_window() {
        assert_eq!(
            window(
                r#""started_at": "2023-11-14T22:13:20.7Z", "ended_at": "2023-11-14T22:13:30.2Z", "elapsed_s": 9.5"#,
                false
            ),
            Ok((1_700_000_000, 1_700_000_011))
        );
    }

    #[test]
    fn older_reports_end_at_started_at_plus_elapsed() {
        assert_eq!(
            window(
                r#""started_at": "2023-11-14T22:13:20Z", "elapsed_s": 9.2"#,
                false
            ),
            Ok((1_700_000_000, 1_700_000_010))
        );
    }

    #[test]
    fn an_interrupted_run_is_refused_unless_allowed() {
        let fields = r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:13:25Z", "elapsed_s": 5.0, "interrupted": true"#;
        let e = window(fields, false).unwrap_err();
        // The library names no flag; `slo gate` adds `--allow-interrupted`
        // (slo/tests/it/answers.rs asserts the hint on its stderr).
        assert!(e.to_string().contains("the run was interrupted"), "{e}");
        assert!(!e.to_string().contains("--"), "{e}");
        assert_eq!(window(fields, true), Ok((1_700_000_000, 1_700_000_005)));
    }

    #[test]
    fn bad_reports_say_where() {
        let e = run_window("{\n  \"started_at\": ", "run.json", false).unwrap_err();
        assert!(e.to_string().starts_with("run.json:2:"), "{e}");
        for (fields, says) in [
            (r#""elapsed_s": 1"#, "no started_at"),
            (r#""started_at": 5, "elapsed_s": 1"#, "started_at is 5"),
            (
                r#""started_at": "soon", "elapsed_s": 1"#,
                "started_at \"soon\"",
            ),
            (
                r#""started_at": "1969-12-31T23:59:59Z", "elapsed_s": 1"#,
                "out of range",
            ),
            (
                r#""started_at": "2023-11-14T22:13:20Z", "elapsed_s": -1"#,
                "elapsed_s",
            ),
            (
                r#""started_at": "2023-11-14T22:13:20Z", "elapsed_s": 1e300"#,
                "elapsed_s",
            ),
            (
                r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:13:10Z", "elapsed_s": 0.0"#,
                "empty",
            ),
        ] {
            let e = window(fields, false).unwrap_err();
            assert!(e.to_string().contains(says), "{fields}: {e}");
        }
    }

    #[test]
    fn a_report_of_another_version_is_refused() {
        let fields = r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:14:00Z", "elapsed_s": 40.0"#;
        let mut v: serde_json::Value = serde_json::from_str(&with_window(fields)).unwrap();
        v["version"] = serde_json::json!(2);
        let e = run_window(&v.to_string(), "run.json", false).unwrap_err();
        assert_eq!(
            e,
            RunWindowError::Version {
                file: "run.json".into(),
                found: 2
            }
        );
        assert!(
            e.to_string().starts_with(
                "run.json: report version 2 is not supported (this slo reads version 1)"
            ),
            "{e}"
        );
        // The shared reader's checks hold here too: no negative durations.
        let e = window(
            r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:14:00Z", "elapsed_s": -3"#,
            false,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("elapsed_s must be a finite number"),
            "{e}"
        );
    }
}
