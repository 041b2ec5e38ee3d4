//! Prometheus remote write 1.0 (protobuf + snappy): the wire types, the
//! encoding of an [`super::Exposition`], and the sender.
//!
//! The pure parts: the protobuf messages of remote write 1.0 and
//! [`encode`] (one sample per series at the reading's timestamp, labels
//! sorted by name, snappy *block* format) in `wire.rs`; here the
//! receiver's URL and credentials ([`Target`]), the bounded queue of unsent
//! readings ([`Queue`]), the backoff between retries ([`backoff`]) and what
//! an answer means ([`verdict`]). The task that sends, [`Writer`], is in
//! `sender.rs`.

mod sender;
mod wire;

use std::collections::VecDeque;
use std::time::Duration;

pub use sender::Writer;
pub use wire::*;

/// How the sender authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    // Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: *** }}"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// What the sender is told.
#[derive(Debug, Clone)]
pub struct Config {
    /// The receiver, e.g. `http://127.0.0.1:9090/api/v1/write`; user and
    /// password in it are basic auth unless `auth` says otherwise.
    pub url: String,
    pub auth: Auth,
    /// How often the latest reading is queued and sent.
    pub interval: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Readings kept unsent at most (e.g. 32); the oldest goes first.
    pub max_queue: usize,
}

/// Why remote write cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error(
        "remote write URL {url:?} is not a URL: {reason} (e.g. http://127.0.0.1:9090/api/v1/write)"
    )]
    Url { url: String, reason: String },
    #[error("remote write URL {url:?} must be http:// or https://, not {scheme}://")]
    Scheme { url: String, scheme: String },
    #[error("remote write URL {url:?} has no host")]
    NoHost { url: String },
    #[error("remote write {what} must be more than 0s")]
    Zero { what: &'static str },
    #[error("remote write user {user:?} must not contain ':' (basic auth)")]
    User { user: String },
    #[error("remote write {what} is not a valid HTTP header value (a control character?)")]
    Header { what: &'static str },
    #[error("remote write HTTP client: {0}")]
    Client(String),
    #[error("remote write needs a tokio runtime to run on")]
    NoRuntime,
}

/// The receiver as the sender uses it: the URL without credentials and
/// the auth to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Without user and password: safe to print and report.
    pub url: String,
    pub auth: Auth,
}

/// `url` with anything between `://` and the last `@` of the authority
/// replaced: for messages about a URL that did not parse.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***{}{tail}", &authority[at..]),
        None => url.to_owned(),
    }
}

/// Percent-decoding of a URL's user or password.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Target {
    /// Checks `url` (http or https, a host) and takes credentials out of
    /// it: they become basic auth unless `auth` is given.
    pub fn parse(url: &str, auth: &Auth) -> Result<Target, RemoteWriteError> {
        let mut parsed = reqwest::Url::parse(url).map_err(|e| RemoteWriteError::Url {
            url: redact(url),
            reason: e.to_string(),
        })?;
        let user = percent_decode(parsed.username());
        let password = parsed.password().map(percent_decode);
        // Credentials out first, so that no message below shows them.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let clean = parsed.to_string();
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RemoteWriteError::Scheme {
                scheme: parsed.scheme().to_owned(),
                url: clean,
            });
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(RemoteWriteError::NoHost { url: clean });
        }
        let auth = match auth {
            Auth::None if !user.is_empty() || password.is_some() => Auth::Basic {
                user,
                password: password.unwrap_or_default(),
            },
            other => other.clone(),
        };
        match &auth {
            Auth::Basic { user, .. } if user.contains(':') => {
                return Err(RemoteWriteError::User { user: user.clone() });
            }
            Auth::Bearer(token)
                if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() =>
            {
                return Err(RemoteWriteError::Header {
                    what: "bearer token",
                });
            }
            _ => {}
        }
        Ok(Target { url: clean, auth })
    }
}

/// A reading waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Increasing in the order readings were queued.
    pub id: u64,
    pub timestamp_ms: i64,
    pub body: Vec<u8>,
    pub samples: u64,
    /// The run's final reading.
    pub is_final: bool,
}

/// The readings kept unsent, oldest first, at most `max`.
#[derive(Debug)]
pub struct Queue {
    items: VecDeque<Queued>,
    max: usize,
}

impl Queue {
    /// A queue of at most `max` readings (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            items: VecDeque::with_capacity(max.min(64)),
            max,
        }
    }

    /// Adds a reading at the back; when full, drops the oldest first.
    /// Returns how many were dropped.
    pub fn push(&mut self, q: Queued) -> u64 {
        let mut dropped = 0u64;
        while self.items.len() >= self.max {
            if self.items.pop_front().is_none() {
                break;
            }
            dropped = dropped.saturating_add(1);
        }
        self.items.push_back(q);
        dropped
    }

    pub fn pop_front(&mut self) -> Option<Queued> {
        self.items.pop_front()
    }

    pub fn front(&self) -> Option<&Queued> {
        self.items.front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drops every reading but the final one; returns how many.
    pub fn drop_all_but_final(&mut self) -> u64 {
        let before = self.items.len();
        self.items.retain(|q| q.is_final);
        (before - self.items.len()) as u64
    }

    /// Marks the reading `id`, if still queued, as the final one.
    pub fn mark_final(&mut self, id: u64) -> bool {
        match self.items.iter_mut().find(|q| q.id == id) {
            Some(q) => {
                q.is_final = true;
                true
            }
            None => false,
        }
    }
}

/// The first retry's delay.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest delay between retries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The delay before retry number `retry` (0 for the first): 100 ms
/// doubling to at most 5 s, times `0.5 + jitter / 2` for a `jitter` in
/// [0, 1] (so never more than 5 s, never less than half of the step).
pub fn backoff(retry: u32, jitter: f64) -> Duration {
    let step = BACKOFF_FIRST
        .saturating_mul(1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        1.0
    };
    step.mul_f64(0.5 + jitter / 2.0)
}

/// What an answer to a write request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: stored.
    Accepted,
    /// 5xx or 429: try again later.
    Retry,
    /// Anything else (4xx): the same request would fail again.
    Reject,
}

/// The verdict on an HTTP status.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted,
        429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

/// How a failed answer is reported: the status and the first 200
/// characters of the body.
pub fn status_error(status: u16, reason: Option<&str>, body: &str) -> String {
    let body: String = body.trim().chars().take(200).collect();
    let head = match reason {
        Some(r) => format!("HTTP {status} {r}"),
        None => format!("HTTP {status}"),
    };
    if body.is_empty() {
        head
    } else {
        format!("{head}: {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(id: u64) -> Queued {
        Queued {
            id,
            timestamp_ms: id as i64,
            body: vec![id as u8],
            samples: 1,
            is_final: false,
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let mut q = Queue::new(3);
        for id in 0..3 {
            assert_eq!(q.push(queued(id)), 0);
        }
        assert_eq!(q.push(queued(3)), 1);
        assert_eq!(q.push(queued(4)), 1);
        assert_eq!(q.len(), 3);
        assert_eq!(q.front().map(|x| x.id), Some(2));
        assert!(q.mark_final(4));
        assert!(!q.mark_final(0), "dropped");
        assert_eq!(q.drop_all_but_final(), 2);
        assert_eq!(q.pop_front().map(|x| (x.id, x.is_final)), Some((4, true)));
        assert!(q.is_empty());
        let mut one = Queue::new(0);
        assert_eq!(one.push(queued(7)), 0);
        assert_eq!(one.push(queued(8)), 1, "a queue holds one at least");
        assert_eq!(one.front().map(|x| x.id), Some(8));
    }

    #[test]
    fn backoff_doubles_from_100ms_to_5s_with_jitter() {
        let ms = Duration::from_millis;
        assert_eq!(backoff(0, 1.0), ms(100));
        assert_eq!(backoff(0, 0.0), ms(50));
        assert_eq!(backoff(1, 1.0), ms(200));
        assert_eq!(backoff(3, 1.0), ms(800));
        assert_eq!(backoff(6, 1.0), ms(5000));
        assert_eq!(backoff(u32::MAX, 1.0), ms(5000));
        assert_eq!(backoff(u32::MAX, 0.0), ms(2500));
        assert_eq!(backoff(2, f64::NAN), ms(400));
        assert!(backoff(2, 0.5) > ms(200) && backoff(2, 0.5) < ms(400));
    }

    #[test]
    fn answers_are_judged_by_status() {
        assert_eq!(verdict(204), Verdict::Accepted);
        assert_eq!(verdict(200), Verdict::Accepted);
        assert_eq!(verdict(429), Verdict::Retry);
        assert_eq!(verdict(500), Verdict::Retry);
        assert_eq!(verdict(503), Verdict::Retry);
        assert_eq!(verdict(400), Verdict::Reject);
        assert_eq!(verdict(401), Verdict::Reject);
        assert_eq!(verdict(302), Verdict::Reject);
        let long = "x".repeat(500);
        let e = status_error(400, Some("Bad Request"), &format!("  {long}\n"));
        assert_eq!(e, format!("HTTP 400 Bad Request: {}", "x".repeat(200)));
        assert_eq!(status_error(503, None, ""), "HTTP 503");
    }

    #[test]
    fn urls_are_checked_and_credentials_become_basic_auth() {
        let t = Target::parse(
            "http://u%40x:p%3Aw@127.0.0.1:9090/api/v1/write",
            &Auth::None,
        )
        .unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9090/api/v1/write");
        assert_eq!(
            t.auth,
            Auth::Basic {
                user: "u@x".into(),
                password: "p:w".into()
            }
        );
        let bearer = Auth::Bearer("tok".into());
        let t = Target::parse("https://u:p@h.example/w", &bearer).unwrap();
        assert_eq!(t.url, "https://h.example/w");
        assert_eq!(t.auth, bearer, "given auth wins over the URL's");
        let t = Target::parse("http://127.0.0.1:1/w", &Auth::None).unwrap();
        assert_eq!(t.auth, Auth::None);
        let e = Target::parse("ftp://u:secret@h/w", &Auth::None).unwrap_err();
        assert!(matches!(e, RemoteWriteError::Scheme { .. }), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        let e = Target::parse("http://u:secret@[::1/w", &Auth::None).unwrap_err();
        assert!(matches!(e, RemoteWriteError::Url { .. }), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(matches!(
            Target::parse("127.0.0.1:9090", &Auth::None),
            Err(RemoteWriteError::Scheme { .. } | RemoteWriteError::Url { .. })
        ));
        assert!(matches!(
            Target::parse("unix:/tmp/s", &Auth::None),
            Err(RemoteWriteError::Scheme { .. })
        ));
        assert!(matches!(
            Target::parse("http://h/w", &Auth::Bearer("a\nb".into())),
            Err(RemoteWriteError::Header { .. })
        ));
        assert!(matches!(
            Target::parse(
                "http://h/w",
                &Auth::Basic {
                    user: "a:b".into(),
                    password: String::new()
                }
            ),
            Err(RemoteWriteError::User { .. })
        ));
        assert_eq!(format!("{:?}", Auth::Bearer("s3".into())), "Bearer(***)");
    }
}
