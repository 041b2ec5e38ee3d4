//! The files a run or a merge writes besides the table on stdout: the JSON
//! report, JUnit XML, the Markdown summary and the HdrHistogram interval
//! log. Each is rendered by [`crate::report`] and written atomically, so a
//! reader never sees half a file.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::report::{self, Report, ReportError};

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
}

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("failed to encode the report")]
    Encode(#[source] serde_json::Error),
    #[error(transparent)]
    Write(#[from] ReportError),
    #[error("--hdr-log needs a run (merge has no per-second histograms)")]
    NoIntervals,
    #[error("{0}")]
    HdrLog(String),
}

/// Writes every output asked for. `hdr` is the run's start and its
/// per-second histograms; a merge has none.
pub fn write(
    outputs: &Outputs,
    report: &Report,
    hdr: Option<(SystemTime, &[(u64, String)])>,
) -> Result<(), OutputError> {
    if let Some(p) = &outputs.report {
        let json = serde_json::to_vec_pretty(report).map_err(OutputError::Encode)?;
        report::write_atomic(p, &json)?;
    }
    if let Some(p) = &outputs.junit {
        report::write_atomic(p, report::junit::render(report).as_bytes())?;
    }
    if let Some(p) = &outputs.summary_md {
        report::write_atomic(p, report::markdown::render(report).as_bytes())?;
    }
    if let Some(p) = &outputs.hdr_log {
        let (start, intervals) = hdr.ok_or(OutputError::NoIntervals)?;
        let bytes = report::hdrlog::render(start, intervals).map_err(OutputError::HdrLog)?;
        report::write_atomic(p, &bytes)?;
    }
    Ok(())
}
