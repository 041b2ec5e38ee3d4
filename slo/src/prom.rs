//! Prometheus access: instant queries through prometheus-http-query with a
//! timeout, bounded retries with backoff, and bearer or basic auth.

use std::time::Duration;

use prometheus_http_query::Client;
use prometheus_http_query::response::Data;

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
}

/// A Prometheus client.
#[derive(Clone)]
pub struct Prom {
    client: Client,
    config: PromConfig,
}

impl std::fmt::Debug for Prom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prom")
            .field("url", &self.config.url)
            .finish()
    }
}

impl Prom {
    pub fn new(config: PromConfig) -> Result<Self, PromError> {
        let bad = |message: String| PromError::Url {
            url: config.url.clone(),
            message,
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &config.bearer_token {
            let v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| bad(format!("bearer token: {e}")))?;
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        if let Some((user, pass)) = &config.basic_auth {
            use std::io::Write as _;
            let mut raw = Vec::new();
            let _ = write!(raw, "{user}:{pass}");
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
            let v = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|e| bad(format!("basic auth: {e}")))?;
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let client = Client::from(http, &config.url).map_err(|e| bad(e.to_string()))?;
        Ok(Self { client, config })
    }

    /// Sends an instant query, retrying transport failures with backoff.
    async fn query(
        &self,
        query: &str,
        at: Option<i64>,
    ) -> Result<prometheus_http_query::response::PromqlResult, PromError> {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            let mut q = self.client.query(query);
            if let Some(t) = at {
                q = q.at(t);
            }
            match q.get().await {
                Ok(result) => return Ok(result),
                // Prometheus answered: retrying will not change its mind.
                Err(prometheus_http_query::Error::Prometheus(e)) => {
                    return Err(PromError::Query {
                        query: query.to_owned(),
                        message: e.to_string(),
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(PromError::Unreachable {
            url: self.config.url.clone(),
            attempts: self.config.retries + 1,
            message: last,
        })
    }

    /// Evaluates `query` now and returns each series' labels and value.
    pub async fn vector(
        &self,
        query: &str,
    ) -> Result<Vec<(std::collections::HashMap<String, String>, f64)>, PromError> {
        Ok(match self.query(query, None).await?.data() {
            Data::Vector(v) => v
                .iter()
                .map(|s| (s.metric().clone(), s.sample().value()))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Evaluates `query` (which must return at most one series) at `at`
    /// (Unix seconds; now when `None`). `None` when the result is empty.
    pub async fn scalar(&self, query: &str, at: Option<i64>) -> Result<Option<f64>, PromError> {
        Ok(match self.query(query, at).await?.data() {
            Data::Vector(v) => v.first().map(|s| s.sample().value()),
            Data::Scalar(s) => Some(s.value()),
            Data::Matrix(_) => None,
        }
        .filter(|v| v.is_finite()))
    }
}
