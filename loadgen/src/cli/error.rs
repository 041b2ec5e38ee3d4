//! The exit codes (PRODUCT.md) and a command's error, which carries its
//! exit code: decided here, printed by `main`.

use crate::report::ReportError;
use crate::scenario::ScenarioError;

/// Exit codes (PRODUCT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Passed.
    Ok = 0,
    /// A runtime failure, an interrupted run, or no request succeeded.
    Failure = 1,
    /// Invalid input.
    Invalid = 2,
    /// A threshold failed.
    Failed = 99,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// A command's error with its exit code; `main` prints the whole chain.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl CliError {
    /// Invalid input (exit 2).
    pub(super) fn invalid(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            exit: Exit::Invalid,
            error: error.into(),
        }
    }

    /// A runtime failure (exit 1).
    pub(super) fn failure(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            exit: Exit::Failure,
            error: error.into(),
        }
    }
}

/// Any other error: invalid input (2) when a scenario, or a report read as
/// input, is at fault anywhere in its chain; else a runtime failure (1).
impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        let error = e.into();
        let invalid = error.chain().any(|c| {
            c.downcast_ref::<ScenarioError>().is_some()
                || c.downcast_ref::<ReportError>()
                    .is_some_and(|r| !matches!(r, ReportError::Write { .. }))
        });
        CliError {
            exit: if invalid {
                Exit::Invalid
            } else {
                Exit::Failure
            },
            error,
        }
    }
}
