//! Prometheus remote write 1.0 (protobuf + snappy): the wire types, the
//! encoding of an [`super::Exposition`], and the sender.
//!
//! (The interface the command line uses; the sender itself is being built.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Exposition;

/// How the sender authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// What the sender is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub auth: Auth,
    pub interval: Duration,
    pub timeout: Duration,
    pub max_queue: usize,
}

/// Why the sender could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("remote write is not available in this build")]
    Unavailable,
}

/// The running sender.
pub struct Writer;

impl Writer {
    pub fn start(
        _cfg: Config,
        _readings: watch::Receiver<Option<Arc<Exposition>>>,
        _finished: watch::Receiver<bool>,
    ) -> Result<Writer, RemoteWriteError> {
        Err(RemoteWriteError::Unavailable)
    }

    pub async fn finish(self, _deadline: Duration) -> common::report::RemoteWriteReport {
        common::report::RemoteWriteReport {
            url: String::new(),
            sent: 0,
            samples: 0,
            failed: 0,
            retries: 0,
            dropped: 0,
            final_sent: false,
            last_error: None,
        }
    }
}

/// The URL without its credentials.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}
