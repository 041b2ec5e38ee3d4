//! How much of each kind of user file loadgen reads. Reading itself (the
//! cap checked while reading, UTF-8 checked with the line and column of the
//! first bad byte) is [`common::input`]'s; messages cut a user's text with
//! [`common::input::cut`] and show lines with [`common::diagnostic`].

/// Scenario files larger than this are refused before parsing.
pub const MAX_SCENARIO_BYTES: u64 = 64 * 1024 * 1024;
/// CSV data files larger than this are refused before parsing.
pub const MAX_DATA_BYTES: u64 = 64 * 1024 * 1024;
/// Report files larger than this are refused before parsing.
pub use common::report::MAX_REPORT_BYTES;
/// Characters of a user's value quoted in a message.
pub const SNIPPET_CHARS: usize = common::diagnostic::EXCERPT_CHARS;
