//! TLS and mutual TLS with rustls: PEM files in, a server configuration out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// Where the TLS material lives.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With a client CA, clients must present a certificate it signed (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// Errors while loading TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "failed to read certificates from {path}: {message} (expected PEM \"CERTIFICATE\" blocks)"
    )]
    Certs { path: String, message: String },
    #[error("no certificate found in {path} (expected PEM \"CERTIFICATE\" blocks)")]
    NoCerts { path: String },
    #[error(
        "failed to read the private key from {path}: {message} (expected a PEM PKCS#8, PKCS#1 or SEC1 key)"
    )]
    Key { path: String, message: String },
    #[error("invalid client CA in {path}: {message}")]
    ClientCa { path: String, message: String },
    #[error("invalid TLS configuration")]
    Config(#[from] rustls::Error),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = || path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certs {
            path: shown(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCerts { path: shown() });
    }
    Ok(certs)
}

/// Builds the rustls server configuration (HTTP/2 and HTTP/1.1 by ALPN).
pub fn server_config(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    // Installing the process-wide provider fails only when one is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let chain = certs(&config.cert)?;
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| TlsError::Key {
        path: config.key.display().to_string(),
        message: e.to_string(),
    })?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for ca in certs(ca_path)? {
                roots.add(ca).map_err(|e| TlsError::ClientCa {
                    path: ca_path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| TlsError::ClientCa {
                    path: ca_path.display().to_string(),
                    message: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(chain, key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}
