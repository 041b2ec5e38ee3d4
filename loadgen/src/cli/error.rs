//! The exit codes (PRODUCT.md) and a command's error, which carries its
//! exit code: decided here, printed by `main`.

use common::exit::ExitStatus;
use common::fs::WriteError;
use common::input::InputError;

use crate::output::OutputError;
use crate::report::ReportError;
use crate::scenario::ScenarioError;

pub use common::exit::Exit;

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

/// Any other error: the exit code of the first error in its chain that
/// has one (a scenario or a report read as input is invalid input, exit 2;
/// an output that cannot be written is a failure, exit 1, unless its path
/// is not a regular file); else a runtime failure (1).
impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        let error = e.into();
        let exit = error.chain().find_map(exit_of).unwrap_or(Exit::Failure);
        CliError { exit, error }
    }
}

/// The exit code an error of loadgen's or common's means, if it is one.
fn exit_of(e: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    use crate::client::TargetError;
    if e.is::<ScenarioError>() || matches!(e.downcast_ref(), Some(TargetError::Tls(_))) {
        Some(Exit::Invalid)
    } else if let Some(r) = e.downcast_ref::<ReportError>() {
        Some(match r {
            ReportError::Write { .. } => Exit::Failure,
            _ => Exit::Invalid,
        })
    } else if let Some(o) = e.downcast_ref::<OutputError>() {
        Some(o.exit())
    } else if let Some(w) = e.downcast_ref::<WriteError>() {
        Some(w.exit())
    } else {
        e.downcast_ref::<InputError>().map(ExitStatus::exit)
    }
}
