//! SLOs: specs, the PromQL behind their SLIs, error budgets and burn rates,
//! and the generators for rules, dashboards and autoscaling.
//!
//! Input: [`import`] reads a spec in any format (native, Sloth, OpenSLO) as
//! the native file, and [`spec`] validates it into the [`model`].
//!
//! The pure core: [`duration`] writes every duration slo prints or
//! generates (`30d`, `1h30m`); [`windows`] scales the SRE Workbook's multi-window
//! burn-rate alerts to the SLO's period; [`promql`] builds exact SLI queries
//! (ratios of increases) and checks every one with promql-parser;
//! [`timeslices`] judges time slices (the share of good slices as the SLI);
//! [`budget`] does the arithmetic (no traffic is "no traffic", never NaN);
//! [`unit`](mod@unit) reads a metric's unit off its name; [`calendar`]
//! places calendar-aligned periods (month, week, quarter) in a time zone.
//!
//! Generators, each returning typed values: [`rules`] (recording and alert
//! rules), [`lint`] (warnings about alerts that cannot work as meant),
//! [`ruletest`] (promtool unit tests; [`ruletest::slicetest`] for time-slice SLOs),
//! [`alertmanager`] (routes),
//! [`dashboard`] (Grafana; [`loadtest_dashboard`] the load test's; [`dashboard::traffic`] their traffic row, for any metric shape), [`hpa`] (HPA, prometheus-adapter, KEDA, and the
//! per-pod target from a stress run); [`yaml`] writes generated YAML and the
//! header every generated file starts with.
//!
//! [`client`] gives each SLO its client-side SLI over the metrics loadgen
//! exports during a run, every query restricted to the run.
//!
//! At the edge: [`prom`] queries Prometheus, [`answer`] decides which
//! answers can be trusted (only finite, non-negative, single-series
//! numbers), [`evaluate`] turns them into reports and gates, [`compare`]
//! sets each SLO's server side beside its client side over a run, [`livecheck`]
//! checks a spec against the metrics Prometheus has, and [`run_window`]
//! reads a load test's window from its loadgen report.
//!
//! Presentation last: [`cli`] is the `slo` command line, one module per
//! command; the binary only wires it up.

pub mod alertmanager;
pub mod answer;
pub mod budget;
pub mod calendar;
pub mod cli;
pub mod client;
pub mod compare;
pub mod dashboard;
pub mod duration;
pub mod evaluate;
pub mod hpa;
pub mod import;
pub mod lint;
pub mod livecheck;
pub mod loadtest_dashboard;
pub mod model;
pub mod prom;
pub mod promql;
pub mod rules;
pub mod ruletest;
pub mod run_window;
pub mod spec;
pub mod timeslices;
pub mod unit;
pub mod windows;
pub mod yaml;
