//! The window a load test ran in, from its loadgen report (`slo gate --run`):
//! from `started_at` to `ended_at`, widened to whole seconds. A report of an
//! interrupted run is refused unless the caller allows it. Pure: the caller
//! reads the file.

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
        "{file}: the run was interrupted, so its window and load are not the ones planned; rerun it, or judge it anyway with --allow-interrupted"
    )]
    Interrupted { file: String },
    #[error("{file}: {message} (is it a loadgen report?)")]
    Field { file: String, message: String },
    #[error("{file}: the run's window is empty ({to} is not after {from})")]
    Empty { file: String, from: i64, to: i64 },
}

/// `[from, to]` in Unix seconds from the report `text` (shown as `file`).
/// A report without `ended_at` (older loadgen) ends at `started_at` +
/// `elapsed_s`.
pub fn run_window(
    text: &str,
    file: &str,
    allow_interrupted: bool,
) -> Result<(i64, i64), RunWindowError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| RunWindowError::Json {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if v["interrupted"].as_bool() == Some(true) && !allow_interrupted {
        return Err(RunWindowError::Interrupted {
            file: file.to_owned(),
        });
    }
    let field = |message: String| RunWindowError::Field {
        file: file.to_owned(),
        message,
    };
    let time = |key: &str| -> Result<Option<(i64, i64)>, RunWindowError> {
        match &v[key] {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(t) => rfc3339_bounds(t)
                .map(Some)
                .map_err(|e| field(format!("{key} {e}"))),
            other => Err(field(format!(
                "{key} is {}, not an RFC 3339 time",
                crate::answer::snippet(&other.to_string(), crate::answer::SNIPPET_CHARS)
            ))),
        }
    };
    let (from, _) = time("started_at")?.ok_or_else(|| field("no started_at".into()))?;
    let to = match time("ended_at")? {
        Some((_, end)) => end,
        None => {
            let elapsed = v["elapsed_s"]
                .as_f64()
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
    Ok((from, to))
}

/// An RFC 3339 time as whole Unix seconds, rounded down and up.
fn rfc3339_bounds(t: &str) -> Result<(i64, i64), String> {
    let shown = crate::answer::snippet(t, crate::answer::SNIPPET_CHARS);
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

    fn window(fields: &str, allow: bool) -> Result<(i64, i64), RunWindowError> {
        run_window(&format!("{{\"version\": 1, {fields}}}"), "run.json", allow)
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
                r#""started_at": "2023-11-14T22:13:20.7Z", "ended_at": "2023-11-14T22:13:30.2Z""#,
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
        let fields = r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:13:25Z", "interrupted": true"#;
        let e = window(fields, false).unwrap_err();
        assert!(e.to_string().contains("--allow-interrupted"), "{e}");
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
                r#""started_at": "2023-11-14T22:13:20Z", "ended_at": "2023-11-14T22:13:10Z""#,
                "empty",
            ),
        ] {
            let e = window(fields, false).unwrap_err();
            assert!(e.to_string().contains(says), "{fields}: {e}");
        }
    }
}
