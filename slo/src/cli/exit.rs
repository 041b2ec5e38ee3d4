//! The exit codes of `slo` (0, 1, 2, 3, 99), as the product documents them.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; a gate passed.
    Ok,
    /// A runtime failure.
    Failure,
    /// Invalid input: usage, spec or report.
    Invalid,
    /// Inconclusive: no data, Prometheus unreachable, an untrusted answer.
    Inconclusive,
    /// A gate failed.
    Failed,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Invalid => 2,
            Exit::Inconclusive => 3,
            Exit::Failed => 99,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}
