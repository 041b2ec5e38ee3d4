//! TLS and mutual TLS handshakes with certificates made for the test.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use reqwest::StatusCode;

use crate::util::{start_in_process, test_config};

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_identity: String,
    stranger_identity: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let ca = ca("test CA");
    let (server_cert, server_key) = leaf(
        &ca,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(&ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let other = self::ca("another CA");
    let (stranger_cert, stranger_key) =
        leaf(&other, &["stranger"], ExtendedKeyUsagePurpose::ClientAuth);
    Pki {
        ca_pem: ca.pem(),
        server_cert,
        server_key,
        client_identity: format!("{client_cert}{client_key}"),
        stranger_identity: format!("{stranger_cert}{stranger_key}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn client(pki: &Pki, identity: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    if let Some(id) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(id.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_and_mtls_handshakes() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "server.pem", &pki.server_cert);
    let key = write(dir.path(), "server.key", &pki.server_key);
    let ca_file = write(dir.path(), "ca.pem", &pki.ca_pem);

    // TLS: a client that trusts the CA gets in; plain HTTP does not.
    let app = start_in_process(target_app::Config {
        tls: Some(target_app::TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        }),
        ..test_config()
    })
    .await;
    let url = format!("https://localhost:{}/api/products/1", app.addr.port());
    let r = client(&pki, None).get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let plain = reqwest::get(format!("http://{}/health", app.addr)).await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);
    // A client that does not trust the CA refuses the server.
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca("x").pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());

    // mTLS: only clients with a certificate from the client CA.
    let app = start_in_process(target_app::Config {
        tls: Some(target_app::TlsConfig {
            cert,
            key,
            client_ca: Some(ca_file),
        }),
        ..test_config()
    })
    .await;
    let url = format!("https://localhost:{}/health", app.addr.port());
    let r = client(&pki, Some(&pki.client_identity))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let no_cert = client(&pki, None).get(&url).send().await;
    assert!(no_cert.is_err(), "a client without a certificate got in");
    let stranger = client(&pki, Some(&pki.stranger_identity))
        .get(&url)
        .send()
        .await;
    assert!(stranger.is_err(), "a certificate from another CA got in");
}
