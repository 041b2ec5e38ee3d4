//! The OTLP/HTTP protobuf span exporter: spans are encoded straight from the
//! SDK's span data ([`encode`]), each as it ends, by the batching span
//! processor [`EncodingProcessor`], and posted in batches with a blocking
//! HTTP client from the processor's own thread, off the request path.
//!
//! Configured by the standard variables, signal-specific first
//! ([`HttpConfig::from_env`]): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
//! it is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/traces` added; default
//! `http://localhost:4318`), `..._HEADERS` (`key=value,...`, values
//! percent-decoded), `..._TIMEOUT` (milliseconds, default 10 000) and
//! `..._COMPRESSION` (`gzip` or `none`). A failed export is retried, as the
//! OTLP specification asks, on 429, 502, 503 and 504 and when no answer
//! came, with exponential back-off (100 ms doubling to 1.6 s, at most three
//! retries, a `Retry-After` in seconds honoured), all within the timeout.
//! Redirects that keep the post (307, 308) are followed, up to ten; others
//! fail the export with their status.

pub mod encode;
mod processor;

pub use processor::{BatchConfig, EncodingProcessor};

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use encode::EncodedResource;

/// The specification's default timeout of an export.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
const TRACES_PATH: &str = "/v1/traces";
const MAX_RETRIES: u32 = 3;
const MAX_REDIRECTS: usize = 10;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
/// How much of an error response's body is kept for the message.
const ERROR_BODY_LIMIT: u64 = 4096;

/// Errors in the exporter's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "invalid OTLP endpoint {value:?} in {variable}: {reason} (expected a URL like http://collector:4318)"
    )]
    Endpoint {
        variable: String,
        value: String,
        reason: String,
    },
    #[error("invalid header {entry:?} in {variable}: {reason} (expected key=value,key2=value2)")]
    Header {
        variable: String,
        entry: String,
        reason: String,
    },
    #[error("invalid timeout {value:?} in {variable}: expected whole milliseconds, e.g. 10000")]
    Timeout { variable: String, value: String },
    #[error("unsupported compression {value:?} in {variable}: use \"gzip\" or \"none\"")]
    Compression { variable: String, value: String },
    #[error("invalid {variable} {value:?}: expected {expected}")]
    Batch {
        variable: String,
        value: String,
        expected: &'static str,
    },
    #[error("failed to build the HTTP client of the OTLP exporter: {0}")]
    Client(String),
}

/// Where and how spans are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub endpoint: reqwest::Url,
    /// From `..._HEADERS`; a key given twice keeps its last value.
    pub headers: HeaderMap,
    pub timeout: Duration,
    pub gzip: bool,
}

/// The signal-specific variable's value, else the general one's; empty
/// values count as unset. Returns the variable's name with the value.
fn lookup(get: &impl Fn(&str) -> Option<String>, suffix: &str) -> Option<(String, String)> {
    [
        format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"),
        format!("OTEL_EXPORTER_OTLP_{suffix}"),
    ]
    .into_iter()
    .find_map(|name| {
        get(&name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    })
}

fn parse_url(variable: &str, value: &str) -> Result<reqwest::Url, ConfigError> {
    let bad = |reason: String| ConfigError::Endpoint {
        variable: variable.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(value.trim()).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(bad(format!("scheme {other:?} is not http or https"))),
    }
}

/// Percent-decodes `value`; `None` when it is not valid percent-encoded UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_headers(variable: &str, value: &str) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |reason: &str| ConfigError::Header {
            variable: variable.to_owned(),
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let (key, raw) = entry.split_once('=').ok_or_else(|| bad("no '='"))?;
        let key = key.trim();
        let decoded = percent_decode(raw.trim())
            .ok_or_else(|| bad("the value is not percent-encoded UTF-8"))?;
        let name =
            HeaderName::from_bytes(key.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        let value = HeaderValue::from_str(&decoded).map_err(|_| bad("not a valid header value"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

impl HttpConfig {
    /// Reads the configuration from the standard variables through `get`
    /// (the process environment in the app, a map in tests).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let endpoint =
            match get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.trim().is_empty()) {
                Some(v) => parse_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &v)?,
                None => {
                    let (variable, base) = get("OTEL_EXPORTER_OTLP_ENDPOINT")
                        .filter(|v| !v.trim().is_empty())
                        .map_or_else(
                            || ("default".to_owned(), DEFAULT_ENDPOINT.to_owned()),
                            |v| ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), v),
                        );
                    Self::signal_url(&variable, &base)?
                }
            };
        let headers = match lookup(&get, "HEADERS") {
            Some((variable, value)) => parse_headers(&variable, &value)?,
            None => HeaderMap::new(),
        };
        let timeout = match lookup(&get, "TIMEOUT") {
            Some((variable, value)) => value
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| ConfigError::Timeout { variable, value })?,
            None => DEFAULT_TIMEOUT,
        };
        let gzip = match lookup(&get, "COMPRESSION") {
            None => false,
            Some((variable, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "gzip" => true,
                "none" => false,
                _ => return Err(ConfigError::Compression { variable, value }),
            },
        };
        Ok(HttpConfig {
            endpoint,
            headers,
            timeout,
            gzip,
        })
    }

    /// The traces URL under a base endpoint: `/v1/traces` appended to its
    /// path, as the specification says for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn signal_url(variable: &str, base: &str) -> Result<reqwest::Url, ConfigError> {
        let base = base.trim();
        let joined = format!("{}{TRACES_PATH}", base.trim_end_matches('/'));
        parse_url(variable, &joined).map_err(|e| match e {
            ConfigError::Endpoint {
                variable, reason, ..
            } => ConfigError::Endpoint {
                variable,
                value: base.to_owned(),
                reason,
            },
            other => other,
        })
    }
}

/// Posts spans as OTLP/HTTP protobuf; see the module's documentation.
#[derive(Debug)]
pub struct HttpSpanExporter {
    client: reqwest::blocking::Client,
    endpoint: reqwest::Url,
    headers: HeaderMap,
    timeout: Duration,
    gzip: bool,
    resource: EncodedResource,
    shut_down: AtomicBool,
}

impl HttpSpanExporter {
    pub fn new(config: HttpConfig) -> Result<Self, ConfigError> {
        // The body's type and encoding are the exporter's: a user's
        // `content-type` or `content-encoding` would misdescribe it.
        let mut headers = config.headers;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        if config.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        } else {
            headers.remove(CONTENT_ENCODING);
        }
        // The blocking client owns a runtime of its own, which must not be
        // built inside another one (the app's): build it on a thread.
        let user_agent = concat!("target-app/", env!("CARGO_PKG_VERSION"));
        let client = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .user_agent(user_agent)
                .redirect(redirect_policy())
                .build()
        })
        .join()
        .map_err(|_| ConfigError::Client("the thread building it panicked".to_owned()))?
        .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(HttpSpanExporter {
            client,
            endpoint: config.endpoint,
            headers,
            timeout: config.timeout,
            gzip: config.gzip,
            resource: EncodedResource::default(),
            shut_down: AtomicBool::new(false),
        })
    }

    /// The request body of `spans`: encoded, and gzipped when configured.
    pub fn body(&self, spans: &[SpanData]) -> Result<Vec<u8>, OTelSdkError> {
        let mut body = Vec::new();
        encode::encode_traces(&self.resource, spans, &mut body);
        self.compressed(body)
    }

    /// An encoded request as the body to post: gzipped when configured.
    pub fn compressed(&self, body: Vec<u8>) -> Result<Vec<u8>, OTelSdkError> {
        if !self.gzip {
            return Ok(body);
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::default(),
        );
        gz.write_all(&body)
            .and_then(|()| gz.finish())
            .map_err(|e| OTelSdkError::InternalFailure(format!("failed to gzip spans: {e}")))
    }

    fn post(&self, body: bytes::Bytes, deadline: Instant) -> Result<(), Attempt> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Attempt::Final(format!(
                "OTLP export to {} timed out after {:?}",
                self.endpoint, self.timeout
            )));
        }
        let response = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .timeout(remaining)
            .body(body)
            .send();
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                return Err(Attempt::Again(
                    None,
                    format!("OTLP export to {} failed: {e}", self.endpoint),
                ));
            }
        };
        let status = response.status();
        // Read (a bounded part of) the body, so that the connection can be
        // used again and an error can say what the collector said.
        let mut text = Vec::new();
        let _ = (&mut response)
            .take(ERROR_BODY_LIMIT)
            .read_to_end(&mut text);
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let message = format!(
            "OTLP export to {} failed: HTTP {status}: {}",
            self.endpoint,
            String::from_utf8_lossy(&text).trim()
        );
        match status.as_u16() {
            429 | 502 | 503 | 504 => Err(Attempt::Again(retry_after, message)),
            _ => Err(Attempt::Final(message)),
        }
    }

    /// Posts `body`, retrying what may succeed later within the timeout.
    pub fn send(&self, body: Vec<u8>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let body = bytes::Bytes::from(body);
        let now = Instant::now();
        // A timeout too long to add (from the environment) waits as long as
        // a day does.
        let deadline = now
            .checked_add(self.timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400));
        let mut delay = FIRST_DELAY;
        let mut retries = 0;
        loop {
            match self.post(body.clone(), deadline) {
                Ok(()) => return Ok(()),
                Err(Attempt::Final(message)) => return Err(OTelSdkError::InternalFailure(message)),
                Err(Attempt::Again(after, message)) => {
                    let wait = after.unwrap_or(delay + jitter(delay));
                    let left = deadline.saturating_duration_since(Instant::now());
                    if retries >= MAX_RETRIES || wait >= left {
                        return Err(OTelSdkError::InternalFailure(message));
                    }
                    std::thread::sleep(wait);
                    retries += 1;
                    delay = (delay * 2).min(MAX_DELAY);
                }
            }
        }
    }
}

/// Follows the redirects that keep the method and the body (307, 308), up
/// to ten as the OTLP crate's client does. Any other (301, 302, 303 would
/// turn the post into a GET without the spans) is answered as it is, so
/// the export fails with its status instead of reading an unrelated page's
/// 200 as the spans' receipt.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if matches!(attempt.status().as_u16(), 307 | 308) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The outcome of a failed post.
enum Attempt {
    /// Worth trying again (after the collector's `Retry-After`, if any).
    Again(Option<Duration>, String),
    Final(String),
}

/// Up to a quarter of `delay`, so that many exporters do not retry in step.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::random::<f64>() * 0.25)
}

impl SpanExporter for HttpSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let body = self.body(&batch)?;
        drop(batch);
        self.send(body)
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }
}

/// An environment of `vars` alone, for the configurations' tests.
#[cfg(test)]
fn environment(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<HttpConfig, ConfigError> {
        HttpConfig::from_env(environment(vars))
    }

    fn header_pairs(headers: &HeaderMap) -> Vec<(&str, &str)> {
        headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.endpoint.as_str(), "http://localhost:4318/v1/traces");
        assert_eq!(
            (c.headers.len(), c.timeout, c.gzip),
            (0, DEFAULT_TIMEOUT, false)
        );
    }

    #[test]
    fn endpoints_follow_the_specification() {
        let url = |vars: &[(&str, &str)]| config(vars).unwrap().endpoint.to_string();
        // The general endpoint gets the signal's path, with or without a slash.
        assert_eq!(
            url(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            url(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c/otlp/")]),
            "https://c/otlp/v1/traces"
        );
        // The signal's own is used as it is, and wins.
        assert_eq!(
            url(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://wrong:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:9999/custom")
            ]),
            "http://c:9999/custom"
        );
        // Empty counts as unset.
        assert_eq!(
            url(&[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", " "),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1")
            ]),
            "http://c:1/v1/traces"
        );
        for (var, bad) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://c/x"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1"),
        ] {
            let err = config(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(bad), "{err}");
        }
    }

    #[test]
    fn headers_are_percent_decoded_and_checked() {
        let c = config(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=s%20ecret, x-tenant = a=b ,,",
        )])
        .unwrap();
        assert_eq!(
            header_pairs(&c.headers),
            [("api-key", "s ecret"), ("x-tenant", "a=b")]
        );
        // A key given twice is sent once, with its last value.
        let c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "k=1,K=2")]).unwrap();
        assert_eq!(header_pairs(&c.headers), [("k", "2")]);
        // The signal's variable replaces the general one.
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
        ])
        .unwrap();
        assert_eq!(header_pairs(&c.headers), [("b", "2")]);
        for bad in ["novalue", "bad key=1", "k=%zz", "k=%0A"] {
            let err = config(&[("OTEL_EXPORTER_OTLP_HEADERS", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{bad}: {err}");
        }
    }

    #[test]
    fn timeout_and_compression() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
        ])
        .unwrap();
        assert_eq!((c.timeout, c.gzip), (Duration::from_millis(2500), true));
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ])
        .unwrap();
        assert_eq!((c.timeout, c.gzip), (Duration::from_millis(10), false));
        // The largest whole number is a valid timeout; the exporter must not
        // overflow adding it to the clock.
        let c = config(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "18446744073709551615")]).unwrap();
        assert_eq!(c.timeout, Duration::from_millis(u64::MAX));
        let err = config(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{err}");
        let err = config(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("zstd") && err.contains("gzip"), "{err}");
    }
}
