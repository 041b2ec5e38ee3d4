//! Where command output goes: standard output (a closed pipe ends the
//! program quietly), or a file written atomically; and the command line as
//! typed, for the "regenerate" line of generated files.

use std::path::Path;

use super::CliError;

/// Writes to standard output.
fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

fn stdout_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::ClosedPipe
    } else {
        CliError::Failure(format!("failed to write to standard output: {e}"))
    }
}

/// Writes to standard output; a closed pipe is [`CliError::ClosedPipe`].
pub fn print_out(text: &str) -> Result<(), CliError> {
    write_stdout(text).map_err(stdout_error)
}

/// Like [`print_out`], for a command whose exit code carries a verdict: a closed
/// pipe stops the printing, not the verdict.
pub fn out_verdict(text: &str) -> Result<(), CliError> {
    match write_stdout(text).map_err(stdout_error) {
        Err(CliError::ClosedPipe) => Ok(()),
        r => r,
    }
}

/// A closed pipe under a `println!` that does not go through [`print_out`] ends the
/// program quietly too, instead of panicking.
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
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

/// Writes a file through a temporary file in the same directory, so readers
/// never see half of it.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail =
        |e: std::io::Error| CliError::Failure(format!("failed to write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
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
