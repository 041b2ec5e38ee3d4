//! A load test given as one URL and a few numbers (`loadgen URL -c 10 -z
//! 5s`): turned into the [`ScenarioFile`] a user would write for it, which
//! then goes through the same validation into a [`Plan`](super::Plan) as a
//! file does. One scenario (`default`) of one request, named by method and
//! path.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{LoadSpec, RequestSpec, ScenarioFile, ScenarioSpec, ThresholdSpec, TlsSpec};

/// A one-URL load test, as plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlTest {
    /// The URL: its scheme and authority become `base_url`, its path and
    /// query the request's path.
    pub url: String,
    pub method: String,
    /// Headers sent with every request, in order; a later one replaces an
    /// earlier one of the same name (names are not case-sensitive).
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
    pub load: UrlLoad,
    pub thresholds: Vec<ThresholdSpec>,
    pub http2: bool,
    pub tls: TlsSpec,
}

/// How hard: `users` back to back (closed), or iterations at `rate` per
/// second run by up to `users` at once (open); for `duration`, until
/// `requests` have completed, or whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UrlLoad {
    pub users: u32,
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
}

/// A URL that cannot be load-tested as given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?} is not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    #[error("{url:?}: the scheme must be http or https, got {scheme:?}")]
    Scheme { url: String, scheme: String },
    #[error("{url:?} has no host")]
    NoHost { url: String },
    #[error("{url:?} carries a user name or password; send credentials as a header instead")]
    Credentials { url: String },
}

impl UrlTest {
    /// The scenario file this test is.
    pub fn scenario_file(self) -> Result<ScenarioFile, UrlError> {
        let parsed = reqwest::Url::parse(&self.url).map_err(|e| UrlError::NotAUrl {
            url: self.url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UrlError::Scheme {
                url: self.url,
                scheme: parsed.scheme().to_owned(),
            });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlError::Credentials { url: self.url });
        }
        // `host()` shows an IPv6 address in brackets, as a URL writes it.
        let host = parsed
            .host()
            .map(|h| h.to_string())
            .ok_or_else(|| UrlError::NoHost {
                url: self.url.clone(),
            })?;
        let base_url = match parsed.port() {
            Some(p) => format!("{}://{host}:{p}", parsed.scheme()),
            None => format!("{}://{host}", parsed.scheme()),
        };
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let method = self.method.to_ascii_uppercase();
        let headers: BTreeMap<String, String> = self
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let UrlLoad {
            users,
            rate,
            duration,
            requests,
        } = self.load;
        let load = match rate {
            Some(rate) => LoadSpec::Open {
                rate: Some(rate),
                stages: Vec::new(),
                start_rate: None,
                duration,
                requests,
                max_users: users,
                // One second of arrivals may wait for a free connection (at
                // least the file's default, 10 x C), as oha lets requests wait.
                max_queue: Some(one_second_queue(rate, users)),
            },
            None => LoadSpec::Closed {
                users: Some(users),
                stages: Vec::new(),
                duration,
                requests,
            },
        };
        Ok(ScenarioFile {
            name: Some(format!("{method} {}", parsed.as_str())),
            base_url: Some(base_url),
            headers,
            timeout: self.timeout,
            data: BTreeMap::new(),
            scenarios: vec![ScenarioSpec {
                name: None,
                weight: 1,
                think_time: None,
                requests: vec![RequestSpec {
                    name: None,
                    method,
                    path,
                    headers: BTreeMap::new(),
                    body: self.body,
                    expect: Vec::new(),
                    think_time: None,
                    checks: Vec::new(),
                    capture: Vec::new(),
                    once: false,
                }],
            }],
            load,
            thresholds: self.thresholds,
            http2: self.http2,
            tls: self.tls,
            cookies: false,
        })
    }
}

/// The one-liner's open-model queue: one second of arrivals at `rate`, at
/// least 10 x `users` (a scenario file's default), at most the limit.
fn one_second_queue(rate: f64, users: u32) -> u32 {
    // `rate` is checked to be in (0, MAX_RATE]: the cast cannot overflow.
    let second = rate.ceil() as u32;
    second
        .max(users.saturating_mul(10))
        .min(super::limits::MAX_QUEUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(url: &str) -> UrlTest {
        UrlTest {
            url: url.into(),
            method: "get".into(),
            headers: vec![("X-A".into(), "1".into()), ("x-a".into(), "2".into())],
            body: None,
            timeout: Duration::from_secs(10),
            load: UrlLoad {
                users: 3,
                rate: None,
                duration: None,
                requests: Some(7),
            },
            thresholds: Vec::new(),
            http2: false,
            tls: TlsSpec::default(),
        }
    }

    #[test]
    fn the_url_splits_into_base_url_and_path() {
        let f = test("http://[::1]:8080/a/b?x=1&y=2#frag")
            .scenario_file()
            .unwrap();
        assert_eq!(f.base_url.as_deref(), Some("http://[::1]:8080"));
        assert_eq!(f.scenarios[0].requests[0].path, "/a/b?x=1&y=2");
        assert_eq!(f.scenarios[0].requests[0].method, "GET");
        // The later of two same-named headers wins.
        assert_eq!(f.headers.get("x-a").map(String::as_str), Some("2"));
        assert_eq!(f.headers.len(), 1);
        let f = test("https://example.com").scenario_file().unwrap();
        assert_eq!(f.base_url.as_deref(), Some("https://example.com"));
        assert_eq!(f.scenarios[0].requests[0].path, "/");
        assert!(matches!(
            f.load,
            LoadSpec::Closed {
                users: Some(3),
                requests: Some(7),
                duration: None,
                ..
            }
        ));
    }

    #[test]
    fn urls_that_cannot_be_tested_are_refused() {
        assert!(matches!(
            test("127.0.0.1:8080").scenario_file(),
            Err(UrlError::Scheme { .. } | UrlError::NotAUrl { .. })
        ));
        assert!(matches!(
            test("ftp://h/").scenario_file(),
            Err(UrlError::Scheme { .. })
        ));
        assert!(matches!(
            test("nope").scenario_file(),
            Err(UrlError::NotAUrl { .. })
        ));
        assert!(matches!(
            test("http://u:p@h/").scenario_file(),
            Err(UrlError::Credentials { .. })
        ));
    }

    #[test]
    fn the_open_queue_holds_one_second_of_arrivals() {
        assert_eq!(one_second_queue(20_000.0, 32), 20_000);
        assert_eq!(one_second_queue(0.5, 32), 320);
        assert_eq!(one_second_queue(150.2, 1), 151);
        assert_eq!(one_second_queue(1e5, 10_000), 100_000);
    }
}
