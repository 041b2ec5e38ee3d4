//! A small fake Prometheus on 127.0.0.1 (ephemeral port) for the answers a
//! real one cannot be made to give: NaN, Inf, negative counts, the wrong
//! result type, two series where one is possible.

use std::sync::{Arc, Mutex};

/// The errors query of an availability SLI selects the 5xx series.
pub const ERRORS_MARK: &str = "http_response_status_code=~\"5..\"";

/// A vector answer with one series per value, in the query API's JSON.
pub fn vector(values: &[&str]) -> String {
    let items: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                r#"{{"metric":{{"http_response_status_code":"50{i}"}},"value":[1700000000.123,"{v}"]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        items.join(",")
    )
}

/// A query the fake saw: its text and its `time` parameter.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A fake Prometheus answering `/api/v1/query` with `errors` to the errors
/// query and `total` to anything else. Stopped (and its thread joined) on drop.
pub struct FakeProm {
    pub url: String,
    seen: Seen,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeProm {
    pub fn start(total: String, errors: String) -> FakeProm {
        FakeProm::marked(ERRORS_MARK, total, errors)
    }

    /// As [`FakeProm::start`], answering `errors` to queries holding `mark`.
    pub fn marked(mark: &'static str, total: String, errors: String) -> FakeProm {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().route(
                    "/api/v1/query",
                    axum::routing::any(
                        move |axum::extract::Query(q): axum::extract::Query<
                            std::collections::HashMap<String, String>,
                        >| {
                            let query = q.get("query").cloned().unwrap_or_default();
                            log.lock()
                                .unwrap()
                                .push((query.clone(), q.get("time").cloned()));
                            let body = if query.contains(mark) {
                                errors.clone()
                            } else {
                                total.clone()
                            };
                            async move {
                                (
                                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                                    body,
                                )
                            }
                        },
                    ),
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the fake Prometheus listens");
        FakeProm {
            url: format!("http://{addr}"),
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeProm {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
