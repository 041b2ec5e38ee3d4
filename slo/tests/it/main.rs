//! Integration tests of slo, in one test binary: the slo binary and the
//! library against real Prometheus, promtool, amtool, check-jsonschema and
//! kubectl on loopback, plus a small fake Prometheus for answers a real one
//! cannot give. `goldens` holds the one table of checked-in generated files.

mod alerts;
mod alerts_live;
mod answers;
mod auth;
mod calendar;
mod check;
mod client_gate;
mod dashboard;
mod dashboard_live;
mod fake_prom;
mod goldens;
mod hpa;
mod hygiene;
mod import;
mod k8s;
mod le_live;
mod live;
mod loadtest_dashboard;
mod loadtest_dashboard_live;
mod manual;
mod mutate;
mod pipe;
mod shape_live;
mod timeslices;
mod timeslices_live;
mod util;
