//! The embedded OTLP trace receiver: one listener serving OTLP/HTTP
//! (`POST /v1/traces`, protobuf or JSON) and OTLP/gRPC
//! (`opentelemetry.proto.collector.trace.v1.TraceService/Export`, HTTP/2
//! cleartext) on the same port, keeping the spans of the run's traces for
//! [`crate::bottleneck`], in bounded memory.
//!
//! - [`store`]: spans by trace id, capped in count and bytes, the oldest
//!   trace evicted first (pure);
//! - [`convert`]: OTLP spans into [`Span`]s, filtered by [`Keep`] (pure);
//! - [`server`]: the HTTP and gRPC handlers (body caps, content types, the
//!   OTLP answers);
//! - [`forward`]: the optional copy of every accepted export to a collector.
//!
//! Recording a batch decodes and converts it outside any lock (on the
//! blocking pool when it is large) and takes the store's mutex only to
//! insert.

pub mod convert;
pub mod forward;
pub mod server;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bottleneck::Span;

/// Spans kept at most, by default.
pub const DEFAULT_MAX_SPANS: usize = 200_000;
/// Estimated bytes of spans kept at most, by default.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;
/// The largest export body (and gRPC message) accepted, by default.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;
/// How long [`TraceSink::shutdown`] waits for requests in flight and for
/// the forwarding queue to drain.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Which traces are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Only traces whose id's top 32 bits are this prefix.
    Prefix(u32),
    /// Every trace.
    All,
}

impl Keep {
    pub fn keeps(self, trace_id: u128) -> bool {
        match self {
            Keep::All => true,
            Keep::Prefix(p) => (trace_id >> 96) as u32 == p,
        }
    }
}

/// The receiver's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Where to listen (port 0: any free port, see [`TraceSink::local_addr`]).
    pub addr: SocketAddr,
    /// Spans kept at most; over it, the oldest traces are evicted.
    pub max_spans: usize,
    /// Estimated bytes of spans kept at most; over it, likewise.
    pub max_bytes: usize,
    /// The largest body (or gRPC message) accepted; larger gets 413 (gRPC:
    /// `RESOURCE_EXHAUSTED`).
    pub max_body: usize,
    pub keep: Keep,
    /// A receiver's base URL every accepted export is also sent to, as
    /// OTLP/HTTP protobuf (`URL/v1/traces`).
    pub forward: Option<String>,
}

impl SinkConfig {
    /// The defaults, listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            max_spans: DEFAULT_MAX_SPANS,
            max_bytes: DEFAULT_MAX_BYTES,
            max_body: DEFAULT_MAX_BODY,
            keep: Keep::All,
            forward: None,
        }
    }
}

/// Errors starting the receiver.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("failed to listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid forwarding URL {url:?}: {reason}")]
    ForwardUrl { url: String, reason: String },
    #[error("failed to build the forwarding client")]
    Client(#[source] reqwest::Error),
}

/// What the receiver has done, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Export requests (HTTP and gRPC), answered well or not.
    pub requests: u64,
    /// Requests refused: undecodable, too large, unknown content type or
    /// encoding.
    pub bad_requests: u64,
    /// Spans in the requests that decoded.
    pub received_spans: u64,
    /// Spans stored (some may have been evicted or taken since).
    pub kept_spans: u64,
    /// Spans not stored: trace id outside the kept prefix, or ids of the
    /// wrong length; answered as the partial success's rejected spans.
    pub rejected_spans: u64,
    /// Spans evicted to stay under the caps.
    pub evicted_spans: u64,
    /// Spans held now.
    pub held_spans: u64,
    /// Exports forwarded (2xx from the collector), failed (an error or
    /// another status), dropped (the queue was full).
    pub forwarded: u64,
    pub forward_failed: u64,
    pub forward_dropped: u64,
}

/// What the handlers share.
#[derive(Debug)]
struct Shared {
    keep: Keep,
    max_body: usize,
    store: Mutex<store::Store>,
    requests: AtomicU64,
    bad_requests: AtomicU64,
    received: AtomicU64,
    rejected: AtomicU64,
    forwarder: Mutex<Option<forward::Forwarder>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, store::Store> {
        // A panic while holding the lock leaves the store consistent
        // enough to read: insert only pushes and pops.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, c: convert::Converted) {
        self.received.fetch_add(c.received, Ordering::Relaxed);
        self.rejected.fetch_add(c.rejected(), Ordering::Relaxed);
        if !c.kept.is_empty() {
            self.store().insert(c.kept);
        }
    }

    fn forwarder(&self) -> MutexGuard<'_, Option<forward::Forwarder>> {
        self.forwarder.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forwarding(&self) -> bool {
        self.forwarder().is_some()
    }

    fn forward(&self, body: axum::body::Bytes) {
        if let Some(f) = self.forwarder().as_ref() {
            f.offer(body);
        }
    }

    fn bad(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running receiver. Dropping it stops the listener at once; call
/// [`TraceSink::shutdown`] to let requests in flight finish first.
#[derive(Debug)]
pub struct TraceSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Mutex<Tasks>,
}

#[derive(Debug, Default)]
struct Tasks {
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    forwarder: Option<JoinHandle<()>>,
    forward_counts: Option<Arc<forward::ForwardCounts>>,
}

impl TraceSink {
    /// Binds `cfg.addr` and serves on the current Tokio runtime.
    pub async fn bind(cfg: SinkConfig) -> Result<TraceSink, SinkError> {
        let (forwarder, forward_task) = match &cfg.forward {
            Some(url) => {
                let (f, t) = forward::Forwarder::start(url)?;
                (Some(f), Some(t))
            }
            None => (None, None),
        };
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|source| SinkError::Bind {
                addr: cfg.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SinkError::Bind {
            addr: cfg.addr,
            source,
        })?;
        let forward_counts = forwarder.as_ref().map(|f| f.counts.clone());
        let shared = Arc::new(Shared {
            keep: cfg.keep,
            max_body: cfg.max_body,
            store: Mutex::new(store::Store::new(cfg.max_spans, cfg.max_bytes)),
            requests: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            received: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            forwarder: Mutex::new(forwarder),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let router = server::router(shared.clone());
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            // Accept errors are retried inside axum; an error here means
            // the listener is gone, and the sink just stops receiving.
            drop(served);
        });
        Ok(TraceSink {
            addr,
            shared,
            tasks: Mutex::new(Tasks {
                stop: Some(stop),
                server: Some(server),
                forwarder: forward_task,
                forward_counts,
            }),
        })
    }

    /// The address it listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The spans of one trace held now, in arrival order.
    pub fn spans_of(&self, trace_id: u128) -> Vec<Span> {
        self.shared.store().spans_of(trace_id)
    }

    /// The spans held now of each of `ids` that has any, by trace id.
    pub fn spans_for(&self, ids: &[u128]) -> HashMap<u128, Vec<Span>> {
        let store = self.shared.store();
        ids.iter()
            .filter_map(|&id| {
                let spans = store.spans_of(id);
                (!spans.is_empty()).then_some((id, spans))
            })
            .collect()
    }

    /// Every span held, by trace id (the form [`crate::bottleneck::analyse`]
    /// takes); the store is empty after, the counts stay.
    pub fn take_all(&self) -> HashMap<u128, Vec<Span>> {
        self.shared.store().take_all()
    }

    pub fn stats(&self) -> SinkStats {
        let s = &self.shared;
        let counts = s.store().counts();
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let fwd = |f: fn(&forward::ForwardCounts) -> &AtomicU64| {
            tasks
                .forward_counts
                .as_ref()
                .map_or(0, |c| f(c).load(Ordering::Relaxed))
        };
        SinkStats {
            requests: s.requests.load(Ordering::Relaxed),
            bad_requests: s.bad_requests.load(Ordering::Relaxed),
            received_spans: s.received.load(Ordering::Relaxed),
            kept_spans: counts.kept,
            rejected_spans: s.rejected.load(Ordering::Relaxed),
            evicted_spans: counts.evicted,
            held_spans: counts.held,
            forwarded: fwd(|c| &c.forwarded),
            forward_failed: fwd(|c| &c.failed),
            forward_dropped: fwd(|c| &c.dropped),
        }
    }

    /// Stops accepting, lets requests in flight finish, then sends what the
    /// forwarding queue holds (each bounded by a few seconds). The spans
    /// stay readable; a second call does nothing.
    pub async fn shutdown(&self) {
        let (stop, server, forwarder) = {
            let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            (t.stop.take(), t.server.take(), t.forwarder.take())
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(mut server) = server
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        // Closing the queue ends the forwarding task once it is empty.
        self.shared.forwarder().take();
        if let Some(mut task) = forwarder
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for TraceSink {
    fn drop(&mut self) {
        let t = self.tasks.get_mut().unwrap_or_else(|e| e.into_inner());
        for task in [t.server.take(), t.forwarder.take()].into_iter().flatten() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_the_top_32_bits() {
        let k = Keep::Prefix(0x1234_5678);
        assert!(k.keeps(0x1234_5678_0000_0000_0000_0000_0000_0001));
        assert!(k.keeps(0x1234_5678_ffff_ffff_ffff_ffff_ffff_ffff));
        assert!(!k.keeps(0x1234_5679_0000_0000_0000_0000_0000_0001));
        assert!(!k.keeps(0x0000_0000_1234_5678_0000_0000_0000_0000));
        assert!(Keep::All.keeps(0));
    }
}
