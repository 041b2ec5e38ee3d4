//! Integration tests of the target app, in one test binary.

mod admin;
mod connections;
mod mutation;
mod orders;
mod otlp;
mod otlp_http;
mod otlp_processor;
mod pipes;
mod prometheus;
mod protection;
mod routes;
mod shutdown;
mod tls;
mod util;
