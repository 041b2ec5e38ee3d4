//! Writing what a command produces: [`write_atomic`] for files (readers never
//! see half a file, and a crash leaves the old one), `-` for standard output,
//! and [`write_stdout`] / [`stderr_line`], where a closed pipe
//! (`slo alerts spec.yaml | head -1`) is not an error and never a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Writing the file (or its temporary file, or the rename) failed.
    #[error("failed to write {}: {error}", path.display())]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The path names something that is not a regular file (a device such
    /// as `/dev/stdout`, a FIFO, a socket, a directory): replacing it with
    /// a file would be wrong, and writing into it would not be atomic.
    #[error(
        "refusing to replace {}: it is not a regular file (use - for standard output)",
        path.display()
    )]
    NotRegular {
        /// The path asked for.
        path: PathBuf,
    },
    /// Standard output could not be written (other than a closed pipe).
    #[error("failed to write to standard output: {0}")]
    Stdout(std::io::Error),
}

/// What happened to text sent to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// It was written and flushed.
    Written,
    /// The reader had gone (a closed pipe): the text was dropped. A command
    /// usually stops printing then, and exits as if it had printed it.
    Closed,
}

/// Writes `bytes` to standard output and flushes it. A closed pipe is
/// [`Stdout::Closed`], not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<Stdout, WriteError> {
    write_to(&mut std::io::stdout().lock(), bytes)
}

fn write_to(out: &mut impl Write, bytes: &[u8]) -> Result<Stdout, WriteError> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Stdout::Written),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Stdout::Closed),
        Err(e) => Err(WriteError::Stdout(e)),
    }
}

/// Writes `text` and a newline to standard error in one write, ignoring
/// failures: a closed stderr must neither panic nor cost a system call per
/// character (as unbuffered formatting does).
pub fn stderr_line(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Makes a panic from `print!`/`println!` on a closed stdout end the program
/// quietly with exit 0 (what `| head` expects), for output that does not go
/// through [`write_stdout`]. Other panics keep the default report.
pub fn exit_quietly_on_closed_stdout() {
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

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, written and fsynced, renamed over `path`, then the directory
/// fsynced, so the new file survives a crash and a reader sees the old
/// file or the new one, never half of one. `-` writes to standard output
/// instead (a closed pipe is not an error). An existing `path` that is not
/// a regular file (`/dev/stdout`, a FIFO, a directory) is refused with
/// [`WriteError::NotRegular`]. A new file gets the usual permissions
/// (0666 less the umask), as `File::create` gives. A symbolic link is
/// followed and the file it names is replaced (the link stays a link); a
/// link into `/dev` or `/proc` (`/dev/stdout` -> `/proc/self/fd/1`) is
/// refused even when it ends at a regular file, since replacing that file
/// would not reach the descriptor.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    if crate::input::is_stdin(path) {
        return write_stdout(bytes).map(|_| ());
    }
    let target = resolve(path)?;
    let path = target.as_path();
    let io = |error| WriteError::Io {
        path: path.to_path_buf(),
        error,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Dropped on any error below, which removes the temporary file.
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    sync_dir(dir).map_err(io)
}

/// The file `path` names after following symbolic links, refused with
/// [`WriteError::NotRegular`] when it is not a regular file or when a link
/// leads through `/dev` or `/proc`.
fn resolve(path: &Path) -> Result<PathBuf, WriteError> {
    let refused = || WriteError::NotRegular {
        path: path.to_path_buf(),
    };
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        let Ok(meta) = std::fs::symlink_metadata(&at) else {
            // Nothing there yet (or unreadable: the write reports it).
            return Ok(at);
        };
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&at).map_err(|error| WriteError::Io {
                path: path.to_path_buf(),
                error,
            })?;
            let next = match at.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            if next.starts_with("/dev") || next.starts_with("/proc") {
                return Err(refused());
            }
            at = next;
        } else if meta.is_file() {
            return Ok(at);
        } else {
            return Err(refused());
        }
    }
    // A loop of links: as the operating system would, give up.
    Err(refused())
}

/// Flushes a directory's entries (the rename) to disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_whole_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("r.json")]);
        let err = write_atomic(&dir.path().join("missing/r.json"), b"x").unwrap_err();
        assert!(matches!(err, WriteError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing/r.json"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rules.yaml");
        write_atomic(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        // 0666 less the umask: the owner reads and writes, and (unlike a
        // temporary file's own 0600) others may read what a generator wrote
        // unless the umask says otherwise.
        let umask = std::process::Command::new("sh")
            .args(["-c", "umask"])
            .output()
            .unwrap();
        let umask = u32::from_str_radix(String::from_utf8_lossy(&umask.stdout).trim(), 8).unwrap();
        assert_eq!(mode, 0o666 & !umask, "{mode:o}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_refused_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = write_atomic(&fifo, b"x").unwrap_err();
        assert!(matches!(err, WriteError::NotRegular { .. }), "{err}");
        assert!(
            err.to_string().contains("use - for standard output"),
            "{err}"
        );
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(matches!(err, WriteError::NotRegular { .. }), "{err}");
        let err = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(matches!(err, WriteError::NotRegular { .. }), "{err}");
        // Nothing was left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// `/dev/stdout` is a link to `/proc/self/fd/1`, which, when standard
    /// output is a file, ends at a regular file: replacing it would replace
    /// the link itself (as root, `/dev/stdout` for the whole machine) or a
    /// file the descriptor no longer reaches. The same shape is built here
    /// with a link of the test's own to a descriptor of a file it opened.
    #[test]
    fn a_link_through_proc_to_a_regular_file_is_refused() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("captured.log");
        let open = std::fs::File::create(&file).unwrap();
        let link = dir.path().join("stdout");
        std::os::unix::fs::symlink(format!("/proc/self/fd/{}", open.as_raw_fd()), &link).unwrap();
        assert!(std::fs::metadata(&link).unwrap().is_file());
        let err = write_atomic(&link, b"x").unwrap_err();
        assert!(matches!(err, WriteError::NotRegular { .. }), "{err}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link was replaced"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"");
    }

    /// A link to a regular file: the file is replaced, the link kept.
    #[test]
    fn a_link_to_a_file_replaces_the_file_and_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let file = dir.path().join("real/report.json");
        std::fs::write(&file, "old").unwrap();
        let link = dir.path().join("report.json");
        std::os::unix::fs::symlink("real/report.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dir.path().join("real")).unwrap().count(),
            1
        );
    }

    #[test]
    fn the_directory_is_synced_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        sync_dir(dir.path()).unwrap();
        assert!(sync_dir(&dir.path().join("gone")).is_err());
    }

    /// A writer whose reader has gone.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A writer that fails otherwise (no space left).
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_not_an_error_but_other_failures_are() {
        let mut buf = Vec::new();
        assert_eq!(write_to(&mut buf, b"hi").unwrap(), Stdout::Written);
        assert_eq!(buf, b"hi");
        assert_eq!(write_to(&mut Closed, b"hi").unwrap(), Stdout::Closed);
        let err = write_to(&mut Full, b"hi").unwrap_err();
        assert!(matches!(err, WriteError::Stdout(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("failed to write to standard output")
        );
    }
}
