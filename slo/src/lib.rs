//! SLOs: specs, the PromQL behind their SLIs, error budgets and burn rates.
//!
//! The pure core: [`spec`] parses and validates a native spec into the
//! [`model`]; [`windows`] scales the SRE Workbook's multi-window burn-rate
//! alerts to the SLO's period; [`promql`] builds exact SLI queries (ratios of
//! increases) and checks every one with promql-parser; [`budget`] does the
//! arithmetic (no traffic is "no traffic", never NaN). At the edge, [`prom`]
//! queries Prometheus, [`answer`] decides which answers can be trusted (only
//! finite, non-negative, single-series numbers), and [`evaluate`] turns them
//! into reports and gates; [`run_window`] reads a load test's window from its
//! loadgen report.

pub mod alertmanager;
pub mod answer;
pub mod budget;
pub mod cli;
pub mod dashboard;
pub mod evaluate;
pub mod hpa;
pub mod import;
pub mod lint;
pub mod livecheck;
pub mod model;
pub mod prom;
pub mod promql;
pub mod rules;
pub mod ruletest;
pub mod run_window;
pub mod spec;
pub mod windows;
pub mod yaml;
