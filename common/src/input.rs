//! Reading a user's file, or standard input for `-`, safely: a size cap
//! checked while reading (a file over it is never read whole), UTF-8 checked
//! with the line and column of the first bad byte, and [`cut`], the one rule
//! for shortening a user's text inside a message.

use std::io::Read;
use std::path::Path;

use crate::diagnostic::{Diagnostic, Excerpt};
/// Text cutting lives with the renderer; it is named here too because
/// every reader of input cuts what it quotes.
pub use crate::diagnostic::{ELLIPSIS, cut};

/// The name shown for standard input in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Why a file could not be read as text. Each variant names the file as it
/// is shown to the user (`<stdin>` for standard input).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("failed to read {path}: {error}")]
    Read {
        /// The file as shown.
        path: String,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is over the cap the caller set.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file as shown.
        path: String,
        /// The cap, in bytes.
        limit: u64,
    },
    /// The file is not UTF-8.
    #[error("{path}:{line}:{column}: invalid UTF-8: byte 0x{byte:02x} at offset {offset}")]
    Utf8 {
        /// The file as shown.
        path: String,
        /// Line of the first bad byte, 1-based.
        line: u64,
        /// Column (in characters) of the first bad byte, 1-based.
        column: u64,
        /// Byte offset of the first bad byte, 0-based.
        offset: usize,
        /// The first bad byte.
        byte: u8,
        /// The line around the bad byte (decoded lossily, cut), with the
        /// column marked.
        excerpt: Excerpt,
    },
}

impl InputError {
    /// The file as shown in the message.
    pub fn path(&self) -> &str {
        match self {
            InputError::Read { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::Utf8 { path, .. } => path,
        }
    }

    /// The line and column, for errors that have one.
    pub fn location(&self) -> Option<(u64, u64)> {
        match self {
            InputError::Utf8 { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    /// The message without the file and location (for callers that show
    /// them themselves).
    pub fn message(&self) -> String {
        match self {
            InputError::Read { error, .. } => format!("failed to read: {error}"),
            InputError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
            InputError::Utf8 { offset, byte, .. } => {
                format!("invalid UTF-8: byte 0x{byte:02x} at offset {offset}")
            }
        }
    }

    /// A hint on how to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            InputError::Read { .. } => "check the path and its permissions",
            InputError::TooLarge { .. } => "split the file, or generate a smaller one",
            InputError::Utf8 { .. } => "save the file as UTF-8",
        }
    }

    /// The error as a [`Diagnostic`]: the location and the offending line
    /// where there is one, and the hint.
    pub fn diagnostic(&self) -> Diagnostic {
        let d = match self {
            InputError::Utf8 {
                path,
                line,
                column,
                excerpt,
                ..
            } => Diagnostic::new(path, self.message())
                .located(*line, *column)
                .with_excerpt(excerpt.clone()),
            _ => Diagnostic::new(self.path(), self.message()),
        };
        d.with_hint(self.hint())
    }
}

/// Decodes `bytes` as UTF-8, or names the line and column (1-based, the
/// column in characters) of the first invalid byte; `shown` names the
/// source in the error.
pub fn decode(bytes: Vec<u8>, shown: &str) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| utf8_error(e.as_bytes(), e.utf8_error(), shown))
}

/// Like [`decode`], for borrowed bytes.
pub fn decode_str<'a>(bytes: &'a [u8], shown: &str) -> Result<&'a str, InputError> {
    std::str::from_utf8(bytes).map_err(|e| utf8_error(bytes, e, shown))
}

fn utf8_error(bytes: &[u8], e: std::str::Utf8Error, shown: &str) -> InputError {
    let offset = e.valid_up_to();
    let good = &bytes[..offset];
    let line = good.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let line_end = bytes[offset..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |i| offset + i);
    // The bytes before the bad one on its line are valid UTF-8.
    let column =
        std::str::from_utf8(&good[line_start..]).map_or(0, |s| s.chars().count()) as u64 + 1;
    let text = String::from_utf8_lossy(&bytes[line_start..line_end]);
    InputError::Utf8 {
        path: shown.to_owned(),
        line,
        column,
        offset,
        byte: bytes.get(offset).copied().unwrap_or(0),
        excerpt: Excerpt::of_line(&text, column),
    }
}

/// Reads at most `limit` bytes from `reader`; more is [`InputError::TooLarge`].
/// Never holds more than `limit + 1` bytes.
pub fn read_bounded(reader: impl Read, limit: u64, shown: &str) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| InputError::Read {
            path: shown.to_owned(),
            error,
        })?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: shown.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// The name to show for `path` in messages: `<stdin>` for `-`.
pub fn shown(path: &Path) -> String {
    if is_stdin(path) {
        STDIN_NAME.to_owned()
    } else {
        path.display().to_string()
    }
}

/// True for `-`, which means standard input (or output).
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// Reads a file (standard input for `-`) of at most `limit` bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let name = shown(path);
    if is_stdin(path) {
        read_bounded(std::io::stdin().lock(), limit, &name)
    } else {
        let file = std::fs::File::open(path).map_err(|error| InputError::Read {
            path: name.clone(),
            error,
        })?;
        read_bounded(file, limit, &name)
    }
}

/// A text file as read: its text and the name to show in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The whole text.
    pub text: String,
    /// The file as shown (`<stdin>` for `-`).
    pub shown: String,
}

/// Reads a UTF-8 text file (standard input for `-`) of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<Text, InputError> {
    let shown = shown(path);
    let text = decode(read_bytes(path, limit)?, &shown)?;
    Ok(Text { text, shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_reported_at_the_line_and_column_of_the_first_bad_byte() {
        let mut bytes = b"one\ntwo\nthr".to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(b"ee\n");
        match decode(bytes, "f.yaml") {
            Err(InputError::Utf8 {
                line,
                column,
                offset,
                byte,
                ref excerpt,
                ..
            }) => {
                assert_eq!((line, column, offset, byte), (3, 4, 11, 0xff));
                assert_eq!(excerpt.text, "thr\u{fffd}ee");
                assert_eq!(excerpt.caret, 3);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(b"ok\n".to_vec(), "f").unwrap(), "ok\n");
        assert_eq!(decode_str(b"ok", "f").unwrap(), "ok");
        let borrowed = decode_str(b"a\n\xffb", "f").unwrap_err();
        assert_eq!(borrowed.location(), Some((2, 1)));
        // A multi-byte character before the bad byte is one column.
        let err = decode("é".bytes().chain([0xc3]).collect(), "f.yaml").unwrap_err();
        assert_eq!(err.location(), Some((1, 2)));
        assert_eq!(
            err.to_string(),
            "f.yaml:1:2: invalid UTF-8: byte 0xc3 at offset 2"
        );
        // At the very start of a line.
        let err = decode(b"stall: 1s\n\xc3\x28\n".to_vec(), "u.yaml").unwrap_err();
        assert_eq!(err.location(), Some((2, 1)));
        let shown = err.diagnostic().render();
        assert!(shown.starts_with("u.yaml:2:1: invalid UTF-8"), "{shown}");
        assert!(shown.contains("\n  | ^\n"), "{shown}");
        assert!(shown.contains("hint: save the file as UTF-8"), "{shown}");
    }

    #[test]
    fn a_bad_byte_on_a_20_mb_line_gives_a_short_error() {
        let mut bytes = vec![b'x'; 20 * 1024 * 1024];
        bytes.push(0xfe);
        let err = decode(bytes, "big").unwrap_err();
        assert_eq!(err.location(), Some((1, 20 * 1024 * 1024 + 1)));
        assert!(err.diagnostic().render().len() < 1_000);
    }

    #[test]
    fn files_over_the_cap_are_refused_before_reading_them_whole() {
        assert_eq!(read_bounded(&b"12345"[..], 5, "f").unwrap(), b"12345");
        let err = read_bounded(&b"123456"[..], 5, "f").unwrap_err();
        assert!(
            matches!(err, InputError::TooLarge { limit: 5, .. }),
            "{err}"
        );
        assert_eq!(err.to_string(), "f is larger than 5 bytes");
        // An endless reader is cut at the cap, not read to the end.
        let endless = std::io::repeat(b'x');
        assert!(matches!(
            read_bounded(endless, 1024, "zero"),
            Err(InputError::TooLarge { limit: 1024, .. })
        ));
    }

    #[test]
    fn files_are_read_and_missing_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let text = read_text(&path, 100).unwrap();
        assert_eq!(text.text, "a: 1\n");
        assert_eq!(text.shown, path.display().to_string());
        assert!(matches!(
            read_text(&path, 3),
            Err(InputError::TooLarge { limit: 3, .. })
        ));
        let missing = dir.path().join("missing.yaml");
        let err = read_text(&missing, 100).unwrap_err();
        assert!(matches!(err, InputError::Read { .. }), "{err}");
        assert!(err.to_string().starts_with("failed to read "), "{err}");
        assert!(err.to_string().contains("missing.yaml"), "{err}");
        assert_eq!(err.hint(), "check the path and its permissions");
        assert_eq!(shown(Path::new("-")), "<stdin>");
    }

    #[test]
    fn cut_keeps_short_text_and_marks_what_it_left_out() {
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("", 0), "");
        let long = "x".repeat(20 * 1024 * 1024);
        let started = std::time::Instant::now();
        let short = cut(&long, 200);
        assert_eq!(short.chars().count(), 201);
        assert!(short.ends_with(ELLIPSIS));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}
