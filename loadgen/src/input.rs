//! Reading user files safely: a size cap checked before anything is parsed,
//! UTF-8 checked with the line and column of the first bad byte, and
//! snippets of offending lines cut to a readable length (a 20 MB line is
//! never echoed back).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Scenario files larger than this are refused before parsing.
pub const MAX_SCENARIO_BYTES: u64 = 64 * 1024 * 1024;
/// CSV data files larger than this are refused before parsing.
pub const MAX_DATA_BYTES: u64 = 64 * 1024 * 1024;
/// Report files larger than this are refused before parsing (a 24 h run
/// with per-second intervals is well below it).
pub const MAX_REPORT_BYTES: u64 = 512 * 1024 * 1024;
/// Characters of an offending line shown in a message.
pub const SNIPPET_CHARS: usize = 200;

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{line}:{column}: invalid UTF-8 (byte offset {offset})")]
    Utf8 {
        line: usize,
        column: usize,
        offset: usize,
    },
}

impl InputError {
    /// The message without the line and column (for errors that show them
    /// themselves).
    pub fn message(&self) -> String {
        match self {
            InputError::Utf8 { offset, .. } => format!("invalid UTF-8 (byte offset {offset})"),
            other => other.to_string(),
        }
    }

    /// A hint on how to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            InputError::Io(_) => "check the path and its permissions",
            InputError::TooLarge { .. } => "split the file, or generate a smaller one",
            InputError::Utf8 { .. } => "save the file as UTF-8",
        }
    }
}

/// Decodes `bytes` as UTF-8, or names the line and column (1-based) of the
/// first invalid byte.
pub fn decode(bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let good = &e.as_bytes()[..offset];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // The bytes before the bad one on its line are valid UTF-8.
        let column = std::str::from_utf8(&good[line_start..]).map_or(1, |s| s.chars().count() + 1);
        InputError::Utf8 {
            line,
            column,
            offset,
        }
    })
}

/// Reads at most `limit` bytes from `reader`; more is an error.
pub fn read_bounded(reader: impl Read, limit: u64) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Reads a text file (or standard input for `-`) of at most `limit` bytes;
/// returns the text and the name to show in messages.
pub fn read_text(path: &Path, limit: u64) -> Result<(String, PathBuf), InputError> {
    let (bytes, shown) = if path == Path::new("-") {
        (
            read_bounded(std::io::stdin().lock(), limit)?,
            "<stdin>".into(),
        )
    } else {
        (
            read_bounded(std::fs::File::open(path)?, limit)?,
            path.to_path_buf(),
        )
    };
    Ok((decode(bytes)?, shown))
}

/// `line` cut to about [`SNIPPET_CHARS`] characters around `column`
/// (1-based, in characters), with `…` where text was left out.
pub fn snippet(line: &str, column: usize) -> String {
    let count = line.chars().count();
    if count <= SNIPPET_CHARS {
        return line.to_owned();
    }
    let half = SNIPPET_CHARS / 2;
    let start = column
        .saturating_sub(1)
        .saturating_sub(half)
        .min(count - SNIPPET_CHARS);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(line.chars().skip(start).take(SNIPPET_CHARS));
    if start + SNIPPET_CHARS < count {
        out.push('…');
    }
    out
}

/// Line `line` (1-based) of `text`, cut by [`snippet`].
pub fn snippet_at(text: &str, line: usize, column: usize) -> String {
    text.lines()
        .nth(line.saturating_sub(1))
        .map(|l| snippet(l, column))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_reported_at_the_line_of_the_first_bad_byte() {
        let mut bytes = b"one\ntwo\nthr".to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(b"ee\n");
        match decode(bytes) {
            Err(InputError::Utf8 {
                line,
                column,
                offset,
            }) => assert_eq!((line, column, offset), (3, 4, 11)),
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(b"ok\n".to_vec()).unwrap(), "ok\n");
        // A multi-byte character before the bad byte is one column.
        match decode("é".bytes().chain([0xc3]).collect()) {
            Err(InputError::Utf8 { line, column, .. }) => assert_eq!((line, column), (1, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn files_over_the_cap_are_refused_before_reading_them_whole() {
        assert_eq!(read_bounded(&b"12345"[..], 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&b"123456"[..], 5),
            Err(InputError::TooLarge { limit: 5 })
        ));
    }

    #[test]
    fn snippets_are_cut_around_the_column() {
        assert_eq!(snippet("short", 1), "short");
        let long: String = (0..20_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let s = snippet(&long, 10_000);
        assert!(s.chars().count() <= SNIPPET_CHARS + 2, "{}", s.len());
        assert!(s.starts_with('…') && s.ends_with('…'));
        let head = snippet(&long, 1);
        assert!(head.starts_with("abc") && head.ends_with('…'));
        let tail = snippet(&long, 20_000);
        assert!(tail.starts_with('…') && !tail.ends_with('…'));
        assert_eq!(snippet_at("a\nb\n", 2, 1), "b");
        assert_eq!(snippet_at("a\n", 9, 1), "");
    }
}
