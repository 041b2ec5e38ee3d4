//! `--metrics-listen`: an HTTP endpoint serving the latest reading as
//! OpenMetrics text at `/metrics`, for setups that scrape rather than
//! receive remote write. A scrape reads the reading the recorder last
//! published (never waiting on the run), so it costs the run nothing but
//! the encoding, on the scrape's own task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::{oneshot, watch};

use super::{Exposition, openmetrics};
use common::report::ListenReport;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct Shared {
    readings: watch::Receiver<Option<Arc<Exposition>>>,
    finished: watch::Receiver<bool>,
    scrapes: Arc<AtomicU64>,
    /// Set by a scrape that read the final reading.
    final_scraped: Arc<AtomicBool>,
    /// Told when that happens.
    told: Arc<tokio::sync::Notify>,
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    // Read `finished` first: a reading taken after it was set is the final one.
    let last = *s.finished.borrow();
    let reading = s.readings.borrow().clone();
    let body = match &reading {
        Some(e) => openmetrics::encode(e),
        None => "# EOF\n".to_owned(),
    };
    s.scrapes.fetch_add(1, Ordering::Relaxed);
    if last {
        s.final_scraped.store(true, Ordering::SeqCst);
        s.told.notify_waiters();
    }
    ([(header::CONTENT_TYPE, openmetrics::CONTENT_TYPE)], body)
}

async fn elsewhere() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        "loadgen serves its metrics at /metrics\n",
    )
}

/// The running endpoint.
pub struct Listener {
    addr: SocketAddr,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Binds `addr` and serves the readings published into `readings`;
    /// `finished` says when the final one is in.
    pub async fn bind(
        addr: SocketAddr,
        readings: watch::Receiver<Option<Arc<Exposition>>>,
        finished: watch::Receiver<bool>,
    ) -> Result<Self, ListenError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ListenError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ListenError::Bind { addr, source })?;
        let shared = Shared {
            readings,
            finished,
            scrapes: Arc::default(),
            final_scraped: Arc::default(),
            told: Arc::default(),
        };
        let app = Router::new()
            .route("/metrics", get(metrics))
            .fallback(elsewhere)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr: bound,
            shared,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Once the run's final reading is published: waits until a scrape has
    /// read it, at most `linger`, then stops serving.
    pub async fn finish(self, linger: Duration) -> ListenReport {
        self.finish_or(linger, std::future::pending()).await
    }

    /// [`Listener::finish`], not lingering past `cut` (a Ctrl-C).
    pub async fn finish_or(
        mut self,
        linger: Duration,
        cut: impl std::future::Future<Output = ()>,
    ) -> ListenReport {
        if !linger.is_zero() {
            let told = self.shared.told.clone();
            let scraped = self.shared.final_scraped.clone();
            let scrape = tokio::time::timeout(linger, async move {
                loop {
                    let wake = told.notified();
                    if scraped.load(Ordering::SeqCst) {
                        break;
                    }
                    wake.await;
                }
            });
            tokio::select! {
                _ = scrape => {}
                _ = cut => {}
            }
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A scrape in progress gets a moment to finish; never more.
        if tokio::time::timeout(Duration::from_millis(500), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
        ListenReport {
            address: self.addr.to_string(),
            scrapes: self.shared.scrapes.load(Ordering::Relaxed),
            final_scraped: self.shared.final_scraped.load(Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status = out[9..12].parse().unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    #[tokio::test]
    async fn it_serves_the_latest_reading_and_lingers_for_the_final_scrape() {
        let readings = watch::Sender::new(None);
        let finished = watch::Sender::new(false);
        let l = Listener::bind(
            "127.0.0.1:0".parse().unwrap(),
            readings.subscribe(),
            finished.subscribe(),
        )
        .await
        .unwrap();
        let addr = l.local_addr();
        let (status, head, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            head.to_lowercase().contains("application/openmetrics-text"),
            "{head}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        let m = super::super::ClientMetrics::new("r9", &[], "h:1", vec![]);
        let g = super::super::Gauges {
            iterations: 42,
            ..Default::default()
        };
        readings.send_replace(Some(Arc::new(m.exposition(1, &g))));
        let (_, _, body) = get(addr, "/metrics").await;
        assert!(
            body.contains("loadgen_iterations_total{loadgen_run=\"r9\"} 42"),
            "{body}"
        );
        assert_eq!(get(addr, "/other").await.0, 404);
        // The final reading: finish waits for a scrape of it.
        finished.send_replace(true);
        let scraper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            get(addr, "/metrics").await
        });
        let t = std::time::Instant::now();
        let report = l.finish(Duration::from_secs(10)).await;
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(report.final_scraped);
        assert_eq!(report.scrapes, 3, "the 404 is not a scrape");
        assert_eq!(scraper.await.unwrap().0, 200);
    }

    #[tokio::test]
    async fn without_a_scrape_it_lingers_no_longer_than_asked() {
        let readings = watch::Sender::new(None);
        let finished = watch::Sender::new(true);
        let l = Listener::bind(
            "127.0.0.1:0".parse().unwrap(),
            readings.subscribe(),
            finished.subscribe(),
        )
        .await
        .unwrap();
        let t = std::time::Instant::now();
        let report = l.finish(Duration::from_millis(300)).await;
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(!report.final_scraped);
        assert_eq!(report.scrapes, 0);
    }
}
