//! Text helpers the views share: numbers with their units, cutting to
//! width, the bold style and a panel's source line.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Milliseconds in a few characters: `4.0ms`, `230ms`, `1.52s`.
pub(crate) fn ms(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}s", v / 1000.0)
    } else if v >= 10_000.0 {
        format!("{:.1}s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

/// `text` in at most `width` characters: cut with an ellipsis (the shared
/// shortening rule, `common::input::cut`) when it is longer.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().nth(width).is_none() {
        text.to_owned()
    } else if width == 0 {
        String::new()
    } else {
        common::input::cut(text, width - 1)
    }
}

pub(crate) fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// A panel's first line: where its numbers come from and how old they are.
pub(crate) fn source_line(source: &str, age_s: Option<u64>, width: usize) -> Line<'static> {
    let age = age_s.map_or("not yet".to_owned(), |a| format!("{a}s ago"));
    Line::from(vec![
        Span::styled("source ", bold()),
        Span::raw(fit(
            &format!("{source}  (refreshed {age})"),
            width.saturating_sub(7),
        )),
    ])
}
