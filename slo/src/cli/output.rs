//! Where command output goes: standard output (a closed pipe ends the
//! program quietly), or a file written atomically (both through
//! `common::fs`); and the command line as typed, for the "regenerate" line of
//! generated files.

use std::path::Path;

use common::fs::Stdout;

use super::CliError;

/// Writes to standard output; a closed pipe is [`CliError::ClosedPipe`].
pub fn print_out(text: &str) -> Result<(), CliError> {
    match common::fs::write_stdout(text.as_bytes())? {
        Stdout::Written => Ok(()),
        Stdout::Closed => Err(CliError::ClosedPipe),
    }
}

/// Like [`print_out`], for a command whose exit code carries a verdict: a closed
/// pipe stops the printing, not the verdict.
pub fn out_verdict(text: &str) -> Result<(), CliError> {
    common::fs::write_stdout(text.as_bytes())?;
    Ok(())
}

/// The command line as typed, for the "regenerate" line of generated files.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    format!("slo {}", args.join(" "))
}

/// Writes a file atomically (`-` is standard output).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), CliError> {
    Ok(common::fs::write_atomic(path, text.as_bytes())?)
}

/// Creates a directory and its parents.
pub fn create_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failure(format!("failed to create {}: {e}", dir.display())))
}

/// Prints `text`, or writes it atomically to `out`.
pub fn emit(text: &str, out: Option<&Path>) -> Result<(), CliError> {
    match out {
        None => print_out(text),
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            write_atomic(p, text)?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
    }
}
