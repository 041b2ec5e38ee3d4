//! `--metrics-listen`: an HTTP endpoint serving the latest reading as
//! OpenMetrics text.
