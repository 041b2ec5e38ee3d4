//! Forwarding: every accepted export, as OTLP/HTTP protobuf, to another
//! receiver (a collector) by one background task. The queue is bounded in
//! bodies and in bytes; what does not fit is dropped and counted, so a slow
//! or dead collector never holds up the sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::SinkError;

/// Bodies queued at most.
const QUEUE_BODIES: usize = 256;
/// Bytes queued at most.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// One POST's limit.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// What forwarding did, in requests.
#[derive(Debug, Default)]
pub struct ForwardCounts {
    pub forwarded: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

/// The sending side of the queue.
#[derive(Debug)]
pub struct Forwarder {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    pub counts: Arc<ForwardCounts>,
}

/// `URL/v1/traces`, unless the URL names that path already.
pub fn traces_url(base: &str) -> Result<reqwest::Url, SinkError> {
    let bad = |reason: &str| SinkError::ForwardUrl {
        url: base.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = reqwest::Url::parse(base).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("no host"));
    }
    if !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

impl Forwarder {
    /// Starts the task posting to `url` (see [`traces_url`]).
    pub fn start(url: &str) -> Result<(Self, JoinHandle<()>), SinkError> {
        let url = traces_url(url)?;
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .build()
            .map_err(SinkError::Client)?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE_BODIES);
        let queued = Arc::new(AtomicUsize::new(0));
        let counts = Arc::new(ForwardCounts::default());
        let task = {
            let (queued, counts) = (queued.clone(), counts.clone());
            tokio::spawn(async move {
                while let Some(body) = rx.recv().await {
                    let len = body.len();
                    let sent = client
                        .post(url.clone())
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send()
                        .await;
                    queued.fetch_sub(len, Ordering::Relaxed);
                    let ok = sent.is_ok_and(|r| r.status().is_success());
                    let counter = if ok {
                        &counts.forwarded
                    } else {
                        &counts.failed
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Ok((Self { tx, queued, counts }, task))
    }

    /// Queues `body`, or drops and counts it when the queue is full.
    pub fn offer(&self, body: Bytes) {
        let len = body.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) > QUEUE_BYTES || self.tx.try_send(body).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        let u = |s| traces_url(s).map(|u| u.to_string());
        assert_eq!(
            u("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            u("http://c:4318/otlp/").unwrap(),
            "http://c:4318/otlp/v1/traces"
        );
        assert_eq!(u("https://c/v1/traces").unwrap(), "https://c/v1/traces");
        assert!(
            u("ftp://c")
                .unwrap_err()
                .to_string()
                .contains("http or https")
        );
        assert!(u("not a url").is_err());
    }
}
