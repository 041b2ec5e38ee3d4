//! The view's own state: which view is on screen and what the keys have
//! changed (no ratatui types: the keys' effects are tested on it alone).

/// Which view is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Overview,
    Latency,
    Slo,
    Traces,
}

impl View {
    pub const ALL: [View; 4] = [View::Overview, View::Latency, View::Slo, View::Traces];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Latency => "Latency & errors",
            View::Slo => "SLOs",
            View::Traces => "Where the time goes",
        }
    }

    pub fn next(self) -> View {
        match self {
            View::Overview => View::Latency,
            View::Latency => View::Slo,
            View::Slo => View::Traces,
            View::Traces => View::Overview,
        }
    }
}

/// The view's own state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UiState {
    pub view: View,
    pub help: bool,
    /// A short note in the footer (e.g. "rate control needs the open model").
    pub note: Option<String>,
    /// The selected row of the slowest requests (traces view).
    pub selected: usize,
    /// Trace ids of the slowest requests opened into their span trees.
    pub expanded: std::collections::BTreeSet<u128>,
    /// Trace ids of the slowest requests as last drawn, in order.
    pub listed: Vec<u128>,
}
