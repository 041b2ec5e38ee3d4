//! The client's TLS: which server certificates are trusted, the client
//! certificate for mutual TLS, and the ALPN offer. PEM files are read and
//! checked here, once when the plan is validated and again when the run's
//! target is built, so a bad file is refused before any load starts.
//!
//! Trust, as curl decides it: `--cacert` / `tls.ca` (a PEM bundle) replaces
//! the built-in web roots; without it, the bundle named by `SSL_CERT_FILE`;
//! without that, the web roots. `--insecure` / `tls.insecure` accepts any
//! certificate, but the handshake's signatures are still checked, so the
//! server must hold the key of the certificate it shows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How the client connects: HTTP version and TLS. Paths are resolved
/// (relative to the scenario file, or as given on the command line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientOptions {
    /// Offer h2 by ALPN over TLS; speak h2c with prior knowledge over plain HTTP.
    pub http2: bool,
    pub tls: TlsOptions,
}

/// Validated TLS options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// CA bundle to trust instead of the built-in web roots.
    pub ca: Option<PathBuf>,
    /// No verification of the server certificate.
    pub insecure: bool,
    /// Client certificate chain and its key, for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The environment variable naming a CA bundle when none is given.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Which file of the TLS options an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Ca,
    Cert,
    Key,
}

/// Errors in the TLS material; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot use the CA certificates in {path}{from}: {reason}")]
    Ca {
        path: String,
        /// ` (from SSL_CERT_FILE)` when the environment named it.
        from: &'static str,
        reason: String,
    },
    #[error("cannot use the client certificate {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("cannot use the client key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the client certificate {cert} and key {key} cannot be used together: {reason}")]
    Identity {
        cert: String,
        key: String,
        reason: String,
    },
}

impl TlsError {
    /// The file the error is about.
    pub fn file(&self) -> TlsFile {
        match self {
            TlsError::Ca { .. } => TlsFile::Ca,
            TlsError::Cert { .. } => TlsFile::Cert,
            TlsError::Key { .. } | TlsError::Identity { .. } => TlsFile::Key,
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            TlsError::Ca { .. } => {
                "give a PEM file of \"BEGIN CERTIFICATE\" blocks (the CA that signed the server's certificate)"
            }
            TlsError::Cert { .. } => {
                "give the client certificate chain as a PEM file of \"BEGIN CERTIFICATE\" blocks"
            }
            TlsError::Key { .. } => {
                "give the certificate's private key as PEM (PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or SEC1 \"EC PRIVATE KEY\")"
            }
            TlsError::Identity { .. } => {
                "give the private key that belongs to the client certificate"
            }
        }
    }
}

/// Where the trusted server certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The built-in web roots (webpki-roots).
    WebRoots,
    /// A PEM bundle; `from_env` when `SSL_CERT_FILE` named it.
    Bundle { path: PathBuf, from_env: bool },
    /// Any certificate (signatures of the handshake still checked).
    Any,
}

impl Trust {
    /// The trust of `tls`, with `ssl_cert_file` the value of `SSL_CERT_FILE`
    /// (an empty value counts as unset).
    pub fn of(tls: &TlsOptions, ssl_cert_file: Option<PathBuf>) -> Self {
        if tls.insecure {
            Trust::Any
        } else if let Some(path) = &tls.ca {
            Trust::Bundle {
                path: path.clone(),
                from_env: false,
            }
        } else {
            match ssl_cert_file.filter(|p| !p.as_os_str().is_empty()) {
                Some(path) => Trust::Bundle {
                    path,
                    from_env: true,
                },
                None => Trust::WebRoots,
            }
        }
    }
}

/// `SSL_CERT_FILE` from the environment.
pub fn ssl_cert_file() -> Option<PathBuf> {
    std::env::var_os(SSL_CERT_FILE).map(PathBuf::from)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A short reason for a PEM file that could not be read.
fn pem_reason(e: &rustls::pki_types::pem::Error, what: &str) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => "no such file".into(),
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => format!("no {what} found in it"),
        other => format!("not valid PEM: {other}"),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_reason(&e, "certificate"))?;
    if certs.is_empty() {
        return Err("no PEM \"CERTIFICATE\" block found in it".into());
    }
    Ok(certs)
}

fn roots(trust: &Trust) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        Trust::WebRoots | Trust::Any => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Trust::Bundle { path, from_env } => {
            let err = |reason: String| TlsError::Ca {
                path: path.display().to_string(),
                from: if *from_env {
                    " (from SSL_CERT_FILE)"
                } else {
                    ""
                },
                reason,
            };
            let certs = read_certs(path).map_err(err)?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(err(
                    "none of its certificates is a valid CA certificate".into()
                ));
            }
        }
    }
    Ok(roots)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn identity(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let chain = read_certs(cert).map_err(|reason| TlsError::Cert {
        path: cert.display().to_string(),
        reason,
    })?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: pem_reason(&e, "private key"),
    })?;
    Ok((chain, key_der))
}

/// Builds the rustls client configuration of `options`, reading its PEM
/// files; `ssl_cert_file` is the value of `SSL_CERT_FILE`. ALPN offers `h2`
/// and `http/1.1` with `http2`, only `http/1.1` without.
pub fn client_config(
    options: &ClientOptions,
    ssl_cert_file: Option<PathBuf>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let trust = Trust::of(&options.tls, ssl_cert_file);
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Ca {
            path: "(built-in)".into(),
            from: "",
            reason: e.to_string(),
        })?;
    let builder = match trust {
        Trust::Any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
        _ => builder.with_root_certificates(roots(&trust)?),
    };
    let mut config = match &options.tls.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key_der) = identity(cert, key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| TlsError::Identity {
                    cert: cert.display().to_string(),
                    key: key.display().to_string(),
                    reason: e.to_string(),
                })?
        }
    };
    config.alpn_protocols = if options.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// Accepts any server certificate, but checks the handshake's signatures
/// with the provider's algorithms (the server must hold the key of the
/// certificate it shows).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A short reason for a rustls error: certificate problems read
/// `certificate verify failed: ...`, a refused client (mutual TLS) reads
/// `tls: the server requires a client certificate`.
pub fn rustls_reason(e: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError, Error};
    match e {
        Error::InvalidCertificate(c) => {
            let what = match c {
                CertificateError::UnknownIssuer => {
                    "unknown issuer (self-signed or a private CA? try --cacert FILE)".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "expired".to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "not valid for the host name".to_owned()
                }
                CertificateError::BadSignature => "bad signature".to_owned(),
                CertificateError::Revoked => "revoked".to_owned(),
                other => format!("{other:?}"),
            };
            format!("certificate verify failed: {what}")
        }
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            "tls handshake failed: the server did not answer in TLS (plain HTTP?)".into()
        }
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "tls: the server requires a client certificate (certificate required alert; give --cert and --key)".into()
        }
        Error::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied),
        ) => format!("tls: the server refused the client certificate ({a:?} alert)"),
        Error::AlertReceived(a) => format!("tls handshake failed: the server sent alert {a:?}"),
        other => format!("tls handshake failed: {other}"),
    }
}

/// The rustls error inside an error chain (an I/O error carrying it), if any.
pub fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, ServerConfig, ServerConnection};

    fn opts(ca: Option<&str>, insecure: bool) -> TlsOptions {
        TlsOptions {
            ca: ca.map(PathBuf::from),
            insecure,
            identity: None,
        }
    }

    #[test]
    fn trust_is_insecure_then_the_given_ca_then_ssl_cert_file_then_the_web_roots() {
        let env = || Some(PathBuf::from("/env/ca.pem"));
        assert_eq!(Trust::of(&opts(Some("/ca.pem"), true), env()), Trust::Any);
        assert_eq!(
            Trust::of(&opts(Some("/ca.pem"), false), env()),
            Trust::Bundle {
                path: "/ca.pem".into(),
                from_env: false
            }
        );
        assert_eq!(
            Trust::of(&opts(None, false), env()),
            Trust::Bundle {
                path: "/env/ca.pem".into(),
                from_env: true
            }
        );
        assert_eq!(
            Trust::of(&opts(None, false), Some(PathBuf::new())),
            Trust::WebRoots
        );
        assert_eq!(Trust::of(&opts(None, false), None), Trust::WebRoots);
    }

    struct Made {
        dir: tempfile::TempDir,
        cert: rcgen::CertifiedKey<rcgen::KeyPair>,
    }

    fn made() -> Made {
        Made {
            dir: tempfile::tempdir().unwrap(),
            cert: rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap(),
        }
    }

    impl Made {
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    fn with(tls: TlsOptions, http2: bool) -> ClientOptions {
        ClientOptions { http2, tls }
    }

    #[test]
    fn pem_errors_name_the_file_and_what_is_wrong() {
        let m = made();
        let cert = m.write("cert.pem", &m.cert.cert.pem());
        let key = m.write("key.pem", &m.cert.signing_key.serialize_pem());
        let garbage = m.write("garbage.pem", "hello\n");
        let missing = m.dir.path().join("missing.pem");
        let err = |o: ClientOptions, env: Option<PathBuf>| {
            let e = client_config(&o, env).unwrap_err();
            (e.file(), e.to_string())
        };
        let ca = |p: &Path| with(opts(p.to_str(), false), false);
        let (file, text) = err(ca(&missing), None);
        assert_eq!(file, TlsFile::Ca);
        assert!(text.ends_with("missing.pem: no such file"), "{text}");
        let (_, text) = err(ca(&garbage), None);
        assert!(
            text.contains("garbage.pem: no PEM \"CERTIFICATE\""),
            "{text}"
        );
        let (_, text) = err(ca(&key), None);
        assert!(text.contains("key.pem: no PEM"), "{text}");
        let (file, text) = err(with(opts(None, false), false), Some(missing.clone()));
        assert_eq!(file, TlsFile::Ca);
        assert!(text.contains("missing.pem (from SSL_CERT_FILE)"), "{text}");
        let id = |c: &Path, k: &Path| {
            with(
                TlsOptions {
                    identity: Some((c.to_path_buf(), k.to_path_buf())),
                    ..TlsOptions::default()
                },
                false,
            )
        };
        assert_eq!(err(id(&key, &key), None).0, TlsFile::Cert);
        let (file, text) = err(id(&cert, &cert), None);
        assert_eq!(file, TlsFile::Key);
        assert!(text.contains("no private key found"), "{text}");
        assert_eq!(err(id(&cert, &missing), None).0, TlsFile::Key);
        // A key that is not the certificate's.
        let other = rcgen::KeyPair::generate().unwrap();
        let other = m.write("other.key", &other.serialize_pem());
        let (_, text) = err(id(&cert, &other), None);
        assert!(text.contains("cannot be used together"), "{text}");
        // The good ones load, with the CA too.
        client_config(&id(&cert, &key), None).unwrap();
        client_config(&ca(&cert), None).unwrap();
    }

    #[test]
    fn alpn_offers_h2_only_with_http2() {
        let one = client_config(&with(opts(None, false), false), None).unwrap();
        assert_eq!(one.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let two = client_config(&with(opts(None, true), true), None).unwrap();
        assert_eq!(
            two.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    /// A handshake in memory; the first error of either side.
    fn handshake(
        client: Arc<rustls::ClientConfig>,
        server: Arc<ServerConfig>,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut c = ClientConnection::new(client, name)?;
        let mut s = ServerConnection::new(server)?;
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets()?;
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General(
            "the handshake did not finish".into(),
        ))
    }

    /// Serves `cert` signed by `key` (not necessarily its own).
    #[derive(Debug)]
    struct Serve(Arc<rustls::sign::CertifiedKey>);

    impl rustls::server::ResolvesServerCert for Serve {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    fn server(
        cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
        key: &rcgen::KeyPair,
    ) -> Arc<ServerConfig> {
        let provider = provider();
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let signer = provider.key_provider.load_private_key(key_der).unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![cert.cert.der().clone()], signer);
        Arc::new(
            ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Serve(Arc::new(certified)))),
        )
    }

    #[test]
    fn insecure_accepts_any_certificate_but_checks_the_handshake_signature() {
        let m = made();
        let honest = server(&m.cert, &m.cert.signing_key);
        let verified = client_config(&with(opts(None, false), false), None).unwrap();
        let e = handshake(verified, honest.clone()).unwrap_err();
        assert_eq!(
            e,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        );
        assert!(rustls_reason(&e).starts_with("certificate verify failed: unknown issuer"));
        let insecure = client_config(&with(opts(None, true), false), None).unwrap();
        handshake(insecure.clone(), honest).unwrap();
        // A server that shows a certificate whose key it does not hold.
        let impostor = server(&m.cert, &rcgen::KeyPair::generate().unwrap());
        let e = handshake(insecure, impostor).unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
                    | rustls::Error::PeerMisbehaved(_)
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_refused_client_reads_clearly() {
        use rustls::AlertDescription as A;
        let r = rustls_reason(&rustls::Error::AlertReceived(A::CertificateRequired));
        assert!(
            r.starts_with("tls: the server requires a client certificate"),
            "{r}"
        );
        let r = rustls_reason(&rustls::Error::AlertReceived(A::UnknownCA));
        assert!(
            r.starts_with("tls: the server refused the client certificate"),
            "{r}"
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(A::CertificateRequired),
        );
        let wrapped: Box<dyn std::error::Error + 'static> = Box::new(io);
        assert!(find_rustls(wrapped.as_ref()).is_some());
        let plain = std::io::Error::other("nope");
        assert!(find_rustls(&plain).is_none());
    }
}
