//! One way to tell a user what is wrong at a place in their file (YAML or
//! JSON alike):
//!
//! ```text
//! spec.yaml:3:17: error_rate must be between 0 and 1, got 2
//!   |     error_rate: 2
//!   |                 ^
//!   = hint: see "Fault injection" in target-app/README.md
//! ```
//!
//! The first line is `file:line:column: message` (or `file: message` where
//! there is no place); then the offending line, cut to [`EXCERPT_CHARS`]
//! characters around the column, with a caret under the column; then the
//! hint. Messages are cut to [`MESSAGE_CHARS`], so a 20 MB value quoted in
//! a parser's message is never echoed back whole.
//!
//! A field or variant a format does not have is said one way by every
//! binary ([`yaml_error`], [`UnknownName`]): `unknown field "abort_on_fial",
//! did you mean "abort_on_fail"?`, with the valid names in the hint.

use std::fmt;

/// Characters of an offending line shown in an excerpt.
pub const EXCERPT_CHARS: usize = 200;
/// Characters of a message shown (it may quote a user's value).
pub const MESSAGE_CHARS: usize = 2 * EXCERPT_CHARS;

/// A line of a user's file cut to at most [`EXCERPT_CHARS`] characters
/// around a column, with [`ELLIPSIS`] where text was left out and control
/// characters shown as spaces (so the caret lines up and the terminal is
/// not driven by them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// The text shown.
    pub text: String,
    /// Where the caret goes: characters of `text` before the column.
    pub caret: usize,
}

impl Excerpt {
    /// The excerpt of `line` around `column` (1-based, in characters; a
    /// column past the end points just after the last character).
    pub fn of_line(line: &str, column: u64) -> Self {
        let len = line.chars().count();
        let at = usize::try_from(column.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(len);
        let start = if len <= EXCERPT_CHARS {
            0
        } else {
            at.saturating_sub(EXCERPT_CHARS / 2)
                .min(len - EXCERPT_CHARS)
        };
        let end = len.min(start + EXCERPT_CHARS);
        let mut text = String::new();
        if start > 0 {
            text.push(ELLIPSIS);
        }
        text.extend(
            line.chars()
                .skip(start)
                .take(end - start)
                .map(|c| if c.is_control() { ' ' } else { c }),
        );
        if end < len {
            text.push(ELLIPSIS);
        }
        Excerpt {
            text,
            caret: at - start + usize::from(start > 0),
        }
    }

    /// The excerpt of line `line` (1-based) of `text` around `column`; an
    /// empty one where `text` has no such line.
    pub fn at(text: &str, line: u64, column: u64) -> Self {
        let index = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
        let full = text
            .split('\n')
            .nth(index)
            .unwrap_or("")
            .trim_end_matches('\r');
        Self::of_line(full, column)
    }
}

/// A message about a place in a user's file, rendered by [`Diagnostic::render`]
/// (or `Display`, which is the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as shown to the user (`<stdin>`, `request body`, a path).
    pub path: String,
    /// Line and column, 1-based (the column in characters), where known.
    pub location: Option<(u64, u64)>,
    /// What is wrong, cut to [`MESSAGE_CHARS`].
    pub message: String,
    /// The offending line, where it is shown.
    pub excerpt: Option<Excerpt>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A message about the file `path` as a whole.
    pub fn new(path: impl Into<String>, message: impl AsRef<str>) -> Self {
        Diagnostic {
            path: path.into(),
            location: None,
            message: cut(message.as_ref(), MESSAGE_CHARS),
            excerpt: None,
            hint: None,
        }
    }

    /// A message at `line:column` of `text`, which is the file's content:
    /// the line is shown with a caret. A line or column of 0 (a parser
    /// that knows no place) becomes 1.
    pub fn at(
        path: impl Into<String>,
        text: &str,
        line: u64,
        column: u64,
        message: impl AsRef<str>,
    ) -> Self {
        let (line, column) = (line.max(1), column.max(1));
        Self::new(path, message)
            .located(line, column)
            .with_excerpt(Excerpt::at(text, line, column))
    }

    /// The same message at `line:column`, without showing the line.
    pub fn located(mut self, line: u64, column: u64) -> Self {
        self.location = Some((line.max(1), column.max(1)));
        self
    }

    /// The same message showing `excerpt`.
    pub fn with_excerpt(mut self, excerpt: Excerpt) -> Self {
        self.excerpt = Some(excerpt);
        self
    }

    /// The same message with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The line (1-based), where known.
    pub fn line(&self) -> Option<u64> {
        self.location.map(|(l, _)| l)
    }

    /// The message as the user sees it (several lines, no final newline).
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.path, self.message)?,
            None => write!(f, "{}: {}", self.path, self.message)?,
        }
        if let Some(e) = &self.excerpt {
            write!(f, "\n  | {}\n  | {}^", e.text, " ".repeat(e.caret))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Marks text left out by [`cut`] and in excerpts.
pub const ELLIPSIS: char = '…';

/// `text` cut to at most `max` characters, with [`ELLIPSIS`] after them when
/// it was longer. Reads no further than character `max + 1`, so cutting a
/// 20 MB value costs what cutting a short one does.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((i, _)) => {
            let mut out = String::with_capacity(i + ELLIPSIS.len_utf8());
            out.push_str(&text[..i]);
            out.push(ELLIPSIS);
            out
        }
    }
}

/// A YAML (or JSON) parser error as the user should see it: its place
/// (1:1 when the parser gives none) and its message, the message being its
/// first line without the `error: line L column C: ` the place already says,
/// and a field or variant the format does not have said with a suggestion
/// ([`UnknownName`]). (Inside a tagged block the parser may place an error
/// at the block's start; callers that can find the quoted value nearer
/// refine the place.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// The unknown field or variant the message is about, if it is; its
    /// [`UnknownName::hint`] lists the valid names.
    pub unknown: Option<UnknownName>,
}

/// Reads a YAML (or JSON) parser error: see [`YamlError`].
pub fn yaml_error(err: &serde_saphyr::Error) -> YamlError {
    let (line, column) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // The typed route needs no rendering of the parser's message (which
    // quotes the name whole, with a snippet: seconds for a 20 MB name).
    if let Some(u) = UnknownName::of_yaml(err) {
        return YamlError {
            line,
            column,
            message: u.message(),
            unknown: Some(u),
        };
    }
    let bare = parser_message(&err.to_string()).to_owned();
    let unknown = UnknownName::from_message(&bare);
    YamlError {
        line,
        column,
        message: unknown.as_ref().map_or(bare, UnknownName::message),
        unknown,
    }
}

/// What kind of name [`UnknownName`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A key of a mapping.
    Field,
    /// A value that picks one of several forms (`model: open`).
    Variant,
}

/// A field (or variant) a format does not have, as serde reports it:
/// ``unknown field `abort_on_fial`, expected one of `threshold`, `abort_on_fail` ``.
/// Its [`message`](Self::message) suggests the closest valid name, its
/// [`hint`](Self::hint) lists them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub kind: NameKind,
    /// The name as written.
    pub name: String,
    /// The valid names, in the format's order.
    pub expected: Vec<String>,
}

/// Characters of an unknown name quoted back in a message.
const NAME_CHARS: usize = 80;

impl UnknownName {
    /// The unknown field or variant a YAML parser error is about (the typed
    /// route; no message is read).
    pub fn of_yaml(err: &serde_saphyr::Error) -> Option<Self> {
        use serde_saphyr::Error as E;
        let mut e = err;
        while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = e {
            e = error;
        }
        let (kind, name, expected) = match e {
            E::SerdeUnknownField {
                field, expected, ..
            } => (NameKind::Field, field, expected),
            E::SerdeUnknownVariant {
                variant, expected, ..
            } => (NameKind::Variant, variant, expected),
            _ => return None,
        };
        Some(UnknownName {
            kind,
            name: name.clone(),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// Reads serde's message about an unknown field or variant (serde's
    /// wording, also behind a place prefix: see [`parser_message`]); `None`
    /// for any other message.
    pub fn from_message(message: &str) -> Option<Self> {
        let message = parser_message(message);
        let (kind, rest) = if let Some(r) = message.strip_prefix("unknown field `") {
            (NameKind::Field, r)
        } else if let Some(r) = message.strip_prefix("unknown variant `") {
            (NameKind::Variant, r)
        } else {
            return None;
        };
        // The valid names are identifiers without backticks, so the last
        // separator is the one after the name (which may hold anything).
        let (name, expected) = if let Some(i) = rest.rfind("`, expected ") {
            (&rest[..i], list(&rest[i + "`, expected ".len()..]))
        } else if let Some(i) = rest.rfind("`, there are no ") {
            (&rest[..i], Vec::new())
        } else {
            return None;
        };
        Some(UnknownName {
            kind,
            name: name.to_owned(),
            expected,
        })
    }

    /// The valid name closest to the one written, if one is close.
    pub fn suggestion(&self) -> Option<&str> {
        suggest(&self.name, self.expected.iter().map(String::as_str))
    }

    fn what(&self) -> &'static str {
        match self.kind {
            NameKind::Field => "field",
            NameKind::Variant => "value",
        }
    }

    /// `unknown field "abort_on_fial", did you mean "abort_on_fail"?` (or
    /// without the question when no valid name is close).
    pub fn message(&self) -> String {
        let name = cut(&self.name, NAME_CHARS);
        match self.suggestion() {
            Some(s) => format!("unknown {} {name:?}, did you mean {s:?}?", self.what()),
            None => format!("unknown {} {name:?}", self.what()),
        }
    }

    /// The valid names: `valid fields here: threshold, request, abort_on_fail`.
    pub fn hint(&self) -> String {
        let what = self.what();
        if self.expected.is_empty() {
            format!("no {what}s are valid here")
        } else {
            format!("valid {what}s here: {}", self.expected.join(", "))
        }
    }
}

/// serde's list of names: `` `a` ``, `` `a` or `b` ``, `` one of `a`, `b`, `c` ``
/// (or without the backticks: `one of a, b, c`).
fn list(text: &str) -> Vec<String> {
    if text.contains('`') {
        return text
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
    }
    let text = text.strip_prefix("one of ").unwrap_or(text);
    text.split(", ")
        .flat_map(|t| t.split(" or "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The lowercase letters and digits of a name: `abortOnFail`,
/// `abort_on_fail` and `abort-on-fail` are one name spelled three ways.
fn folded(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Least similarity (Jaro-Winkler, 0 to 1) of a suggestion to the name
/// written: close enough for a typo or another spelling, not for another word.
const SIMILAR: f64 = 0.8;

/// The candidate closest to `word` (case, `_` and `-` aside), if one is
/// close enough to be a typo of it; the first of equally close ones.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = folded(&cut(word, NAME_CHARS));
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word, &folded(c));
        if score >= SIMILAR && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// A parser's message without the place it starts with: the first line,
/// without `error: ` and without `line L column C: `.
pub fn parser_message(message: &str) -> &str {
    let line = message.lines().next().unwrap_or(message);
    let bare = line.strip_prefix("error: ").unwrap_or(line);
    match bare.strip_prefix("line ") {
        Some(rest) => rest
            .split_once(": ")
            .filter(|(at, _)| at.split(' ').count() == 3 && at.contains(" column "))
            .map_or(bare, |(_, tail)| tail),
        None => bare,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_the_place_they_start_with() {
        assert_eq!(
            parser_message("error: line 3 column 7: invalid type: string\nmore"),
            "invalid type: string"
        );
        assert_eq!(parser_message("line 1 column 2: x"), "x");
        // Only a place is taken off, not a message that happens to start so.
        assert_eq!(parser_message("line of sight: y"), "line of sight: y");
        assert_eq!(parser_message("error: unknown field"), "unknown field");
    }

    #[test]
    fn yaml_errors_give_their_place_and_a_bare_message() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        #[serde(deny_unknown_fields)]
        struct T {
            a: u32,
        }
        let err = serde_saphyr::from_str::<T>("a: 1\nb: 2\n").unwrap_err();
        let YamlError {
            line,
            column,
            message,
            unknown,
        } = yaml_error(&err);
        assert_eq!((line, column), (2, 1), "{err}");
        assert_eq!(message, "unknown field \"b\"", "{err}");
        assert_eq!(
            unknown.map(|u| u.hint()).as_deref(),
            Some("valid fields here: a"),
            "{err:?} / {err}"
        );
    }

    #[test]
    fn unknown_names_are_read_from_serde_messages() {
        let u = UnknownName::from_message(
            "unknown field `abort_on_fial`, expected one of `threshold`, `request`, `abort_on_fail`",
        )
        .unwrap();
        assert_eq!(u.kind, NameKind::Field);
        assert_eq!(u.name, "abort_on_fial");
        assert_eq!(u.expected, ["threshold", "request", "abort_on_fail"]);
        assert_eq!(u.suggestion(), Some("abort_on_fail"));
        assert_eq!(
            u.message(),
            "unknown field \"abort_on_fial\", did you mean \"abort_on_fail\"?"
        );
        assert_eq!(
            u.hint(),
            "valid fields here: threshold, request, abort_on_fail"
        );
        // Two names, one name, none; a variant; behind a place.
        let two = UnknownName::from_message("unknown variant `opn`, expected `open` or `closed`")
            .unwrap();
        assert_eq!((two.kind, two.expected.len()), (NameKind::Variant, 2));
        assert_eq!(
            two.message(),
            "unknown value \"opn\", did you mean \"open\"?"
        );
        assert_eq!(two.hint(), "valid values here: open, closed");
        let one =
            UnknownName::from_message("error: line 2 column 1: unknown field `x`, expected `a`")
                .unwrap();
        assert_eq!((one.name.as_str(), one.expected.len()), ("x", 1));
        assert_eq!(one.message(), "unknown field \"x\"");
        let none = UnknownName::from_message("unknown field `x`, there are no fields").unwrap();
        assert!(none.expected.is_empty());
        assert_eq!(none.hint(), "no fields are valid here");
        // A name holding backticks and the separator itself.
        let odd =
            UnknownName::from_message("unknown field `a`, expected `b`, expected `c`").unwrap();
        assert_eq!(
            (odd.name.as_str(), odd.expected),
            ("a`, expected `b", vec!["c".to_owned()])
        );
        let plain = UnknownName::from_message("unknown field `b`, expected one of a, c").unwrap();
        assert_eq!(plain.expected, ["a", "c"]);
        assert_eq!(UnknownName::from_message("missing field `a`"), None);
        assert_eq!(UnknownName::from_message("unknown field `a"), None);
    }

    #[test]
    fn suggestions_are_typos_or_other_spellings_never_other_words() {
        let fields = ["threshold", "request", "abort_on_fail"];
        for (written, want) in [
            ("abort_on_fial", Some("abort_on_fail")),
            ("abortOnFail", Some("abort_on_fail")),
            ("abort-on-fail", Some("abort_on_fail")),
            ("treshold", Some("threshold")),
            ("requests", Some("request")),
            ("THRESHOLD", Some("threshold")),
            ("foo", None),
            ("", None),
            ("delayAbortEval", None),
        ] {
            assert_eq!(suggest(written, fields), want, "{written}");
        }
        assert_eq!(
            suggest("rat", ["rate", "stages", "start_rate"]),
            Some("rate")
        );
        assert_eq!(suggest("x", []), None);
        // A 20 MB name costs what a short one does.
        let long = "a".repeat(20 * 1024 * 1024);
        assert_eq!(suggest(&long, fields), None);
        let u =
            UnknownName::from_message(&format!("unknown field `{long}`, expected `a`")).unwrap();
        assert!(u.message().len() < 200);
    }

    #[test]
    fn renders_place_line_caret_and_hint() {
        let text = "rules:\n  - route: /api/orders\n    error_rate: 2\n";
        let d = Diagnostic::at("f.yaml", text, 3, 17, "error_rate must be between 0 and 1")
            .with_hint("see the format");
        assert_eq!(
            d.render(),
            "f.yaml:3:17: error_rate must be between 0 and 1\n  |     error_rate: 2\n  |                 ^\n  = hint: see the format"
        );
        assert_eq!(d.line(), Some(3));
        let whole = Diagnostic::new("f.yaml", "larger than 5 bytes");
        assert_eq!(whole.render(), "f.yaml: larger than 5 bytes");
        // No such line: an empty excerpt with the caret at its start.
        let past = Diagnostic::at("f", "a\n", 9, 0, "m");
        assert_eq!(past.location, Some((9, 1)));
        assert_eq!(past.render(), "f:9:1: m\n  | \n  | ^");
        // CRLF line ends are not shown.
        assert_eq!(Excerpt::at("a\r\nbc\r\n", 2, 2).text, "bc");
    }

    #[test]
    fn excerpts_are_cut_around_the_column_and_the_caret_follows() {
        assert_eq!(
            Excerpt::of_line("short", 3),
            Excerpt {
                text: "short".into(),
                caret: 2
            }
        );
        let long: String = (0..20_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let mid = Excerpt::of_line(&long, 10_000);
        assert_eq!(mid.text.chars().count(), EXCERPT_CHARS + 2);
        assert!(mid.text.starts_with(ELLIPSIS) && mid.text.ends_with(ELLIPSIS));
        // The caret points at character 10_000 of the line.
        let expected = long.chars().nth(9_999);
        assert_eq!(mid.text.chars().nth(mid.caret), expected);
        let head = Excerpt::of_line(&long, 1);
        assert!(head.text.starts_with("abc") && head.text.ends_with(ELLIPSIS));
        assert_eq!(head.caret, 0);
        let tail = Excerpt::of_line(&long, 20_000);
        assert!(tail.text.starts_with(ELLIPSIS) && !tail.text.ends_with(ELLIPSIS));
        assert_eq!(tail.text.chars().nth(tail.caret), long.chars().last());
        let (text, caret) = {
            let e = Excerpt::of_line(&"ab".repeat(1000), 1501);
            (e.text, e.caret)
        };
        assert_eq!(text.chars().count(), EXCERPT_CHARS + 2);
        assert_eq!(text.chars().nth(caret), Some('a'));
        // Control characters do not reach the terminal.
        assert_eq!(Excerpt::of_line("a\tb\u{1b}[2J", 1).text, "a b [2J");
    }

    #[test]
    fn a_20_mb_line_and_message_give_a_short_diagnostic() {
        let long = "x".repeat(20 * 1024 * 1024);
        let text = format!("key: {long}\n");
        let d = Diagnostic::at(
            "big.yaml",
            &text,
            1,
            10_000_000,
            format!("bad value {long}"),
        )
        .with_hint("shorten it");
        let shown = d.render();
        assert!(shown.len() < 1_200, "{} bytes", shown.len());
        assert!(shown.starts_with("big.yaml:1:10000000: bad value xxx"));
        assert!(shown.ends_with("^\n  = hint: shorten it"), "{shown}");
        assert_eq!(d.message.chars().count(), MESSAGE_CHARS + 1);
    }
}
