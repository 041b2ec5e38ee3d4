//! The exit codes of every binary (PRODUCT.md), and the mapping from errors
//! to them: each error type says which code it means through
//! [`ExitStatus`], so a binary decides its exit code in one place.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: success; a gate or threshold passed.
    Ok = 0,
    /// 1: a runtime failure (the target or Prometheus misbehaved, an output
    /// could not be written, no request of a run succeeded).
    Failure = 1,
    /// 2: invalid input: CLI usage, a scenario, spec or other input file.
    Invalid = 2,
    /// 3: an inconclusive gate: no data, Prometheus unreachable, or an
    /// answer that cannot be trusted — never a pass.
    Inconclusive = 3,
    /// 99: a threshold or SLO gate failed.
    Failed = 99,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit for a numeric code, where it is one of ours.
    pub fn from_code(code: i32) -> Option<Exit> {
        [
            Exit::Ok,
            Exit::Failure,
            Exit::Invalid,
            Exit::Inconclusive,
            Exit::Failed,
        ]
        .into_iter()
        .find(|e| i32::from(e.code()) == code)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// The exit code an error means.
pub trait ExitStatus {
    /// The code a command that fails with this error exits with.
    fn exit(&self) -> Exit;
}

/// A file the user named could not be read, is too large or is not UTF-8:
/// invalid input.
impl ExitStatus for crate::input::InputError {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
}

/// An output could not be written: a runtime failure; except a path that
/// names something other than a regular file, which is the user's input.
impl ExitStatus for crate::fs::WriteError {
    fn exit(&self) -> Exit {
        match self {
            crate::fs::WriteError::NotRegular { .. } => Exit::Invalid,
            crate::fs::WriteError::Io { .. } | crate::fs::WriteError::Stdout(_) => Exit::Failure,
        }
    }
}

/// A diagnostic is about a user's file: invalid input.
impl ExitStatus for crate::diagnostic::Diagnostic {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            (Exit::Ok, 0),
            (Exit::Failure, 1),
            (Exit::Invalid, 2),
            (Exit::Inconclusive, 3),
            (Exit::Failed, 99),
        ];
        for (exit, code) in all {
            assert_eq!(exit.code(), code);
            assert_eq!(Exit::from_code(i32::from(code)), Some(exit));
            assert_eq!(
                format!("{:?}", std::process::ExitCode::from(exit)),
                format!("{:?}", std::process::ExitCode::from(code))
            );
        }
        assert_eq!(Exit::from_code(4), None);
        assert_eq!(Exit::from_code(-1), None);
    }

    #[test]
    fn errors_map_to_their_codes() {
        let input = crate::input::decode(vec![0xff], "f").unwrap_err();
        assert_eq!(input.exit(), Exit::Invalid);
        let refused = crate::fs::write_atomic(std::path::Path::new("/dev/null"), b"x").unwrap_err();
        assert_eq!(refused.exit(), Exit::Invalid);
        let dir = tempfile::tempdir().unwrap();
        let failed = crate::fs::write_atomic(&dir.path().join("no/such/dir"), b"x").unwrap_err();
        assert_eq!(failed.exit(), Exit::Failure);
        assert_eq!(
            crate::diagnostic::Diagnostic::new("f", "m").exit(),
            Exit::Invalid
        );
    }
}
