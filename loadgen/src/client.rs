//! The HTTP/1.1 client of one user: a single keep-alive connection (as a
//! browser tab or a wrk connection), opened on first use and reopened when
//! the server closes it. Built directly on hyper so a request costs little
//! more than its bytes on the wire; redirects are not followed (a 3xx is
//! reported as what it is) and no proxy is consulted.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HOST, HeaderValue};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

/// Where requests go: scheme, host, port and an optional base path.
#[derive(Clone)]
pub struct Target {
    host: String,
    port: u16,
    authority: HeaderValue,
    /// Prefix of every request path (from a base URL like `http://h/api`).
    pub base_path: String,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Target {
    /// Parses a base URL (`http` or `https`).
    pub fn parse(base: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("{base:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{base:?} has no port"))?;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let authority = HeaderValue::try_from(authority).map_err(|e| format!("{base:?}: {e}"))?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => {
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name =
                    ServerName::try_from(host.clone()).map_err(|e| format!("{base:?}: {e}"))?;
                Some((Arc::new(config), name))
            }
            other => return Err(format!("{base:?}: unsupported scheme {other:?}")),
        };
        Ok(Self {
            host,
            port,
            authority,
            base_path: url.path().trim_end_matches('/').to_owned(),
            tls,
        })
    }

    /// The origin-form target of `path` (which starts with `/`).
    pub fn uri(&self, path: &str) -> Result<Uri, http::uri::InvalidUri> {
        if self.base_path.is_empty() {
            Uri::try_from(path)
        } else {
            Uri::try_from(format!("{}{path}", self.base_path))
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection could not be opened.
    Connect,
    /// The request or the response failed on an open connection.
    Request,
}

/// One user's connection.
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    async fn open(
        target: &Target,
        connect_timeout: Duration,
    ) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let stream = tokio::time::timeout(
            connect_timeout,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| SendError::Connect)?
        .map_err(|_| SendError::Connect)?;
        let _ = stream.set_nodelay(true);
        match &target.tls {
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|_| SendError::Connect)?;
                tokio::spawn(conn);
                Ok(sender)
            }
            Some((config, name)) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|_| SendError::Connect)?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(|_| SendError::Connect)?;
                tokio::spawn(conn);
                Ok(sender)
            }
        }
    }

    /// Sends a request and reads the whole response; returns its status.
    pub async fn send(
        &mut self,
        target: &Target,
        mut request: Request<Full<Bytes>>,
        connect_timeout: Duration,
    ) -> Result<u16, SendError> {
        request.headers_mut().insert(HOST, target.authority.clone());
        // A connection the server closed while idle is replaced before use.
        let reusable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let mut sender = match self.sender.take() {
            Some(s) if reusable => s,
            _ => Self::open(target, connect_timeout).await?,
        };
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| SendError::Request)?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| SendError::Request)?;
        }
        self.sender = Some(sender);
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8080));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.uri("/x?y=1").unwrap(), "/x?y=1");
        let t = Target::parse("https://example.com/api/").unwrap();
        assert_eq!((t.port, t.base_path.as_str()), (443, "/api"));
        assert_eq!(t.uri("/x").unwrap(), "/api/x");
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:9");
        assert!(Target::parse("ftp://h/").is_err());
        assert!(Target::parse("nope").is_err());
    }
}
