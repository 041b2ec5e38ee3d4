//! Prometheus access: instant queries over its HTTP API with a timeout,
//! bounded retries with backoff, and bearer or basic auth. Every answer is
//! read through [`crate::answer`]: what it cannot trust is an error, never a
//! number.

use std::time::Duration;

use crate::answer::{self, Answer, Shape, Untrusted};

/// Largest answer body read; a bigger one is not an SLI's answer.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How to reach Prometheus.
#[derive(Debug, Clone)]
pub struct PromConfig {
    pub url: String,
    pub bearer_token: Option<String>,
    pub basic_auth: Option<(String, String)>,
    pub timeout: Duration,
    /// Attempts after the first one, with doubling backoff from 200 ms.
    pub retries: u32,
}

impl PromConfig {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            bearer_token: None,
            basic_auth: None,
            timeout: Duration::from_secs(10),
            retries: 3,
        }
    }
}

/// Prometheus failures.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("invalid Prometheus URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("Prometheus at {url} did not answer after {attempts} attempts: {message}")]
    Unreachable {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error("Prometheus rejected the query {query}: {message}")]
    Query { query: String, message: String },
    /// It answered, but not with a number that can be trusted.
    #[error(transparent)]
    Untrusted(#[from] Untrusted),
}

/// A Prometheus client.
#[derive(Clone)]
pub struct Prom {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    config: PromConfig,
}

impl std::fmt::Debug for Prom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prom")
            .field("url", &self.config.url)
            .finish()
    }
}

/// One attempt's outcome.
enum Attempt<T> {
    Done(Result<T, PromError>),
    Retry(String),
}

impl Prom {
    pub fn new(config: PromConfig) -> Result<Self, PromError> {
        let bad = |message: String| PromError::Url {
            url: config.url.clone(),
            message,
        };
        let base = reqwest::Url::parse(&config.url).map_err(|e| {
            bad(format!(
                "{e} (give the base URL, e.g. http://127.0.0.1:9090)"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(bad("the URL must be http:// or https:// with a host".into()));
        }
        // Keep a path prefix (a Prometheus behind /prometheus/).
        let mut endpoint = base.clone();
        let path = format!("{}/api/v1/query", base.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &config.bearer_token {
            let v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| bad(format!("bearer token: {e}")))?;
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        if let Some((user, pass)) = &config.basic_auth {
            use base64::Engine as _;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            let v = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|e| bad(format!("basic auth: {e}")))?;
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            config,
        })
    }

    /// Runs `attempt` until it is done, retrying with backoff what it asks
    /// to retry.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, PromError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for n in 0..=self.config.retries {
            if n > 0 {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
            match attempt().await {
                Attempt::Done(result) => return result,
                Attempt::Retry(why) => last = why,
            }
        }
        Err(PromError::Unreachable {
            url: self.config.url.clone(),
            attempts: self.config.retries.saturating_add(1),
            message: last,
        })
    }

    /// Sends an instant query, retrying transport failures and 5xx answers
    /// without a Prometheus error body, with backoff.
    pub async fn instant(&self, query: &str, at: Option<i64>) -> Result<Answer, PromError> {
        self.retrying(|| self.attempt(query, at)).await
    }

    /// GETs `endpoint` with `form`: the status and body, or why to retry.
    async fn get(
        &self,
        endpoint: reqwest::Url,
        form: &[(&str, String)],
    ) -> Result<(reqwest::StatusCode, Vec<u8>), String> {
        let response = self
            .http
            .get(endpoint)
            .query(form)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        Ok((status, read_body(response).await?))
    }

    async fn attempt(&self, query: &str, at: Option<i64>) -> Attempt<Answer> {
        let mut form = vec![("query", query.to_owned())];
        if let Some(t) = at {
            form.push(("time", t.to_string()));
        }
        let (status, body) = match self.get(self.endpoint.clone(), &form).await {
            Ok(r) => r,
            Err(why) => return Attempt::Retry(why),
        };
        match answer::parse(&body) {
            // Prometheus answered: retrying will not change its mind.
            Err(rejected) => Attempt::Done(Err(PromError::Query {
                query: answer::snippet(query, answer::SNIPPET_CHARS),
                message: format!("{}: {}", rejected.error_type, rejected.error),
            })),
            Ok(_) if status.is_server_error() || status.as_u16() == 429 => {
                Attempt::Retry(format!("HTTP {status}"))
            }
            Ok(_) if !status.is_success() => Attempt::Done(Err(PromError::Query {
                query: answer::snippet(query, answer::SNIPPET_CHARS),
                message: format!(
                    "HTTP {status}: {}",
                    answer::snippet(String::from_utf8_lossy(&body).trim(), answer::SNIPPET_CHARS)
                ),
            })),
            Ok(a) => Attempt::Done(Ok(a)),
        }
    }

    /// The label names of the series `selector` matches between `start` and
    /// `end` (Unix seconds), from `/api/v1/labels`, sorted; retried as
    /// [`Prom::instant`] is.
    pub async fn label_names(
        &self,
        selector: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, PromError> {
        let mut endpoint = self.endpoint.clone();
        let prefix = endpoint
            .path()
            .strip_suffix("/api/v1/query")
            .unwrap_or_default()
            .to_owned();
        let path = format!("{prefix}/api/v1/labels");
        endpoint.set_path(&path);
        let form = [
            ("match[]", selector.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ];
        let what = format!("the label names of {selector}");
        self.retrying(|| async {
            let (status, body) = match self.get(endpoint.clone(), &form).await {
                Ok(r) => r,
                Err(why) => return Attempt::Retry(why),
            };
            let rejected = |message: String| {
                Attempt::Done(Err(PromError::Query {
                    query: answer::snippet(&what, answer::SNIPPET_CHARS),
                    message,
                }))
            };
            match names(&body) {
                Names::Rejected(m) => rejected(m),
                _ if status.is_server_error() || status.as_u16() == 429 => {
                    Attempt::Retry(format!("HTTP {status}"))
                }
                Names::Found(names) if status.is_success() => Attempt::Done(Ok(names)),
                _ => rejected(format!(
                    "HTTP {status}: not the documented labels API JSON: {}",
                    answer::snippet(String::from_utf8_lossy(&body).trim(), answer::SNIPPET_CHARS)
                )),
            }
        })
        .await
    }

    /// Evaluates `query` now; every series' labels and value, each checked.
    pub async fn vector(
        &self,
        query: &str,
    ) -> Result<Vec<(std::collections::HashMap<String, String>, f64)>, PromError> {
        let a = self.instant(query, None).await?;
        Ok(answer::validate(query, &a, Shape::Many)?
            .into_iter()
            .map(|s| (s.labels.into_iter().collect(), s.value))
            .collect())
    }

    /// Evaluates `query`, which can give one series only, at `at` (Unix
    /// seconds; now when `None`). `None` when the result is empty; an
    /// answer that is not one finite, non-negative number is an error.
    pub async fn scalar(&self, query: &str, at: Option<i64>) -> Result<Option<f64>, PromError> {
        let a = self.instant(query, at).await?;
        Ok(answer::single(query, &a)?)
    }
}

/// A `/api/v1/labels` answer.
enum Names {
    Found(Vec<String>),
    /// `status: error`, with Prometheus' message.
    Rejected(String),
    Malformed,
}

fn names(body: &[u8]) -> Names {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Names::Malformed;
    };
    match v["status"].as_str() {
        Some("error") => Names::Rejected(format!(
            "{}: {}",
            v["errorType"].as_str().unwrap_or("unknown"),
            answer::snippet(v["error"].as_str().unwrap_or(""), answer::SNIPPET_CHARS)
        )),
        Some("success") => match v["data"].as_array() {
            Some(items) => {
                let mut names: Vec<String> = items
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect();
                names.sort();
                names.dedup();
                Names::Found(names)
            }
            None => Names::Malformed,
        },
        _ => Names::Malformed,
    }
}

/// Reads at most [`MAX_BODY_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
                    return Err(format!(
                        "an answer larger than {} MiB",
                        MAX_BODY_BYTES / 1024 / 1024
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(error_chain(&e)),
        }
    }
}

/// An error and its sources, e.g. "error sending request: connection refused".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !text.contains(&m) {
            text.push_str(": ");
            text.push_str(&m);
        }
        source = s.source();
    }
    text
}
