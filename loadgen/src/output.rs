//! The files a run or a merge writes besides the table on stdout: the JSON
//! report, JUnit XML, the Markdown summary and the HdrHistogram interval
//! log. Each is rendered by [`crate::report`] and written with
//! [`common::fs::write_atomic`], so a reader never sees half a file (and `-`
//! writes to standard output).

use std::path::PathBuf;
use std::time::SystemTime;

use common::exit::{Exit, ExitStatus};
use common::fs::{WriteError, write_atomic};

use crate::report::{self, Report};

/// Where to write each output; `None` writes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    /// The versioned JSON report (merges with `loadgen merge`).
    pub report: Option<PathBuf>,
    /// JUnit XML, one test case per threshold.
    pub junit: Option<PathBuf>,
    /// The HdrHistogram interval log of corrected latency (a run only).
    pub hdr_log: Option<PathBuf>,
    /// A Markdown summary.
    pub summary_md: Option<PathBuf>,
    /// The JSON report on standard output too (as `report: -` does); with
    /// `report` a file, both are written.
    pub json: bool,
    /// No progress line and no summary: errors and the exit code only (the
    /// files are still written).
    pub quiet: bool,
}

impl Outputs {
    /// Whether the JSON report goes to standard output.
    pub fn report_to_stdout(&self) -> bool {
        self.json || self.report.as_deref().is_some_and(common::input::is_stdin)
    }

    /// How many outputs go to standard output (`-`); the JSON report counts
    /// once, however it was asked for.
    pub fn to_stdout(&self) -> usize {
        let others = [&self.junit, &self.hdr_log, &self.summary_md]
            .into_iter()
            .flatten()
            .filter(|p| common::input::is_stdin(p))
            .count();
        others + usize::from(self.report_to_stdout())
    }
}

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("failed to encode the report")]
    Encode(#[source] serde_json::Error),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("--hdr-log needs a run (merge has no per-second histograms)")]
    NoIntervals,
    #[error("{0}")]
    HdrLog(String),
}

/// A file that could not be written is a runtime failure, except a path
/// that is not a regular file (`/dev/stdout`: use `-`), which is the user's.
impl ExitStatus for OutputError {
    fn exit(&self) -> Exit {
        match self {
            OutputError::Write(e) => e.exit(),
            OutputError::Encode(_) | OutputError::NoIntervals | OutputError::HdrLog(_) => {
                Exit::Failure
            }
        }
    }
}

/// Writes every output asked for. `hdr` is the run's start and its
/// per-second histograms; a merge has none.
pub fn write(
    outputs: &Outputs,
    report: &Report,
    hdr: Option<(SystemTime, &[(u64, String)])>,
) -> Result<(), OutputError> {
    let to_file = outputs
        .report
        .as_deref()
        .filter(|p| !common::input::is_stdin(p));
    if to_file.is_some() || outputs.report_to_stdout() {
        let json = serde_json::to_vec_pretty(report).map_err(OutputError::Encode)?;
        if let Some(p) = to_file {
            write_atomic(p, &json)?;
        }
        if outputs.report_to_stdout() {
            write_atomic(std::path::Path::new("-"), &json)?;
        }
    }
    if let Some(p) = &outputs.junit {
        write_atomic(p, report::junit::render(report).as_bytes())?;
    }
    if let Some(p) = &outputs.summary_md {
        write_atomic(p, report::markdown::render(report).as_bytes())?;
    }
    if let Some(p) = &outputs.hdr_log {
        let (start, intervals) = hdr.ok_or(OutputError::NoIntervals)?;
        let bytes = report::hdrlog::render(start, intervals).map_err(OutputError::HdrLog)?;
        write_atomic(p, &bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_json_report_counts_once_on_stdout() {
        let mut o = Outputs::default();
        assert_eq!((o.report_to_stdout(), o.to_stdout()), (false, 0));
        o.json = true;
        assert_eq!((o.report_to_stdout(), o.to_stdout()), (true, 1));
        // --json with --report -: the same output, once.
        o.report = Some("-".into());
        assert_eq!(o.to_stdout(), 1);
        // --json with --report FILE: the file, and stdout.
        o.report = Some("r.json".into());
        assert_eq!((o.report_to_stdout(), o.to_stdout()), (true, 1));
        o.junit = Some("-".into());
        assert_eq!(o.to_stdout(), 2);
        o.json = false;
        assert_eq!((o.report_to_stdout(), o.to_stdout()), (false, 1));
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("missing/r.json"), b"x").is_err());
    }

    #[test]
    fn a_device_is_refused_as_invalid_input_and_other_failures_exit_1() {
        let refused = OutputError::from(write_atomic(Path::new("/dev/null"), b"x").unwrap_err());
        assert_eq!(refused.exit(), Exit::Invalid, "{refused}");
        let dir = tempfile::tempdir().unwrap();
        let missing = write_atomic(&dir.path().join("missing/r.json"), b"x").unwrap_err();
        assert_eq!(OutputError::from(missing).exit(), Exit::Failure);
        assert_eq!(OutputError::NoIntervals.exit(), Exit::Failure);
    }
}
