//! HTTP/2 (h2 by ALPN over TLS, h2c with prior knowledge) and the client's
//! TLS options (a private CA by `--cacert` or `SSL_CERT_FILE`, `--insecure`,
//! a client certificate for mutual TLS), against the real target app with
//! certificates made here by rcgen.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use serde_json::Value;

use crate::util::{Dir, Out, arg, open_scenario, report, served, target};

/// A private CA, a server certificate for 127.0.0.1 and a client
/// certificate, all signed by it, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server: target_app::TlsConfig,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Dir) -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "loadgen test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: &[&str], usage| {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = dir.write("ca.pem", &ca.pem());
    Pki {
        server: target_app::TlsConfig {
            cert: dir.write("server.pem", &server_cert),
            key: dir.write("server.key", &server_key),
            client_ca: None,
        },
        ca: ca_file,
        client_cert: dir.write("client.pem", &client_cert),
        client_key: dir.write("client.key", &client_key),
    }
}

/// The target app serving TLS (h2 and http/1.1 by ALPN), optionally
/// requiring a client certificate from `client_ca`.
async fn tls_app(tls: &target_app::TlsConfig, client_ca: Option<&Path>) -> target_app::Running {
    target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(target_app::TlsConfig {
            client_ca: client_ca.map(Path::to_path_buf),
            ..tls.clone()
        }),
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .expect("the TLS target app starts")
}

/// `loadgen ARGS` with `SSL_CERT_FILE` set to `ssl_cert_file` or removed,
/// killed by PID if the test fails first.
async fn loadgen(args: &[&str], ssl_cert_file: Option<&Path>) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match ssl_cert_file {
        Some(p) => cmd.env("SSL_CERT_FILE", p),
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    let child = cmd.spawn().expect("loadgen starts");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("loadgen finished in time")
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One second at 40 requests/s (at least 10 on a loaded machine) against
/// `base` with `extra` flags; the
/// exit code, the output and the report.
async fn one_second(
    dir: &Dir,
    base: &str,
    scenario_extra: &str,
    flags: &[&str],
    ssl_cert_file: Option<&Path>,
) -> (Out, Value) {
    let file = dir.write(
        "s.yaml",
        &open_scenario("/api/products/1", 40.0, 1, 8, scenario_extra),
    );
    let rep = dir.path("s.json");
    let _ = std::fs::remove_file(&rep);
    let mut args = vec!["run", arg(&file), "--host", base, "--report", arg(&rep)];
    args.extend_from_slice(flags);
    let out = loadgen(&args, ssl_cert_file).await;
    let r = match std::fs::read_to_string(&rep) {
        Ok(_) => report(&rep),
        Err(_) => Value::Null,
    };
    (out, r)
}

/// Every request succeeded (and at least `min` were made).
fn all_ok(out: &Out, r: &Value, min: u64) -> u64 {
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let count = r["total"]["count"].as_u64().unwrap();
    assert!(count >= min, "{count} requests: {r}");
    assert_eq!(
        r["total"]["status_codes"]["200"].as_u64(),
        Some(count),
        "{r}"
    );
    count
}

/// The reasons of one error kind, as a map.
fn reasons<'a>(r: &'a Value, kind: &str) -> &'a serde_json::Map<String, Value> {
    r["total"]["error_reasons"][kind]
        .as_object()
        .unwrap_or_else(|| panic!("no {kind} reasons in {}", r["total"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_by_alpn_and_http1_without() {
    let dir = Dir::new();
    let pki = pki(&dir);
    let app = tls_app(&pki.server, None).await;
    let base = format!("https://{}", app.addr);
    let ca = arg(&pki.ca);

    let (out, r) = one_second(&dir, &base, "", &["--cacert", ca, "--http2"], None).await;
    let h2 = all_ok(&out, &r, 10);
    assert_eq!(r["http_version"], "HTTP/2", "{r}");
    assert!(out.stdout.contains(" over HTTP/2 "), "{}", out.stdout);
    assert_eq!(served(&app, "/api/products/{id}"), h2 as f64);

    let (out, r) = one_second(&dir, &base, "", &["--cacert", ca], None).await;
    let h1 = all_ok(&out, &r, 10);
    assert_eq!(r["http_version"], "HTTP/1.1", "{r}");
    assert!(out.stdout.contains(" over HTTP/1.1 "), "{}", out.stdout);
    assert_eq!(served(&app, "/api/products/{id}"), (h2 + h1) as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge_and_http1_without() {
    let dir = Dir::new();
    let app = target(0.0).await;
    let base = format!("http://{}", app.addr);
    let (out, r) = one_second(&dir, &base, "http2: true\n", &[], None).await;
    let h2 = all_ok(&out, &r, 10);
    assert_eq!(r["http_version"], "HTTP/2", "{r}");
    assert_eq!(served(&app, "/api/products/{id}"), h2 as f64);

    let (out, r) = one_second(&dir, &base, "", &[], None).await;
    all_ok(&out, &r, 10);
    assert_eq!(r["http_version"], "HTTP/1.1", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_by_cacert_ssl_cert_file_or_insecure() {
    let dir = Dir::new();
    let pki = pki(&dir);
    let app = tls_app(&pki.server, None).await;
    let base = format!("https://{}", app.addr);

    // Without the CA: every request fails verification; exit 1.
    let (out, r) = one_second(&dir, &base, "", &[], None).await;
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let count = r["total"]["count"].as_u64().unwrap();
    assert!(count >= 10, "{count}: {r}");
    assert_eq!(r["total"]["errors"]["connect"].as_u64(), Some(count), "{r}");
    let connect = reasons(&r, "connect");
    assert!(
        connect
            .keys()
            .all(|k| k.starts_with("certificate verify failed: unknown issuer")),
        "{connect:?}"
    );
    assert!(
        out.stdout.contains("certificate verify failed")
            || out.stderr.contains("certificate verify failed"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        r.get("http_version").is_none(),
        "no response, no version: {r}"
    );

    let (out, r) = one_second(&dir, &base, "", &["--cacert", arg(&pki.ca)], None).await;
    all_ok(&out, &r, 10);
    let (out, r) = one_second(&dir, &base, "", &[], Some(&pki.ca)).await;
    all_ok(&out, &r, 10);
    // tls.ca in the scenario, relative to the scenario file.
    let (out, r) = one_second(&dir, &base, "tls:\n  ca: ca.pem\n", &[], None).await;
    all_ok(&out, &r, 10);
    let (out, r) = one_second(&dir, &base, "", &["--insecure"], None).await;
    all_ok(&out, &r, 10);

    // A CA given explicitly replaces SSL_CERT_FILE, as curl's --cacert does.
    let other = Dir::new();
    let stranger = self::pki(&other);
    let (out, r) = one_second(
        &dir,
        &base,
        "",
        &["--cacert", arg(&stranger.ca)],
        Some(&pki.ca),
    )
    .await;
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        reasons(&r, "connect")
            .keys()
            .all(|k| k.starts_with("certificate verify failed"))
    );

    // A SSL_CERT_FILE that cannot be read is invalid input, named.
    let missing = dir.path("nowhere.pem");
    let (out, _) = one_second(&dir, &base, "", &[], Some(&missing)).await;
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("nowhere.pem (from SSL_CERT_FILE): no such file"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_is_refused_without_a_client_certificate_and_accepted_with_one() {
    let dir = Dir::new();
    let pki = pki(&dir);
    let app = tls_app(&pki.server, Some(&pki.ca)).await;
    let base = format!("https://{}", app.addr);
    let ca = arg(&pki.ca);

    let (out, r) = one_second(&dir, &base, "", &["--cacert", ca], None).await;
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let count = r["total"]["count"].as_u64().unwrap();
    assert!(count >= 10, "{count}: {r}");
    assert_eq!(r["total"]["errors"]["connect"].as_u64(), Some(count), "{r}");
    let connect = reasons(&r, "connect");
    assert!(
        connect
            .keys()
            .all(|k| k.starts_with("tls: the server requires a client certificate")),
        "{connect:?}"
    );

    let flags = [
        "--cacert",
        ca,
        "--cert",
        arg(&pki.client_cert),
        "--key",
        arg(&pki.client_key),
    ];
    let (out, r) = one_second(&dir, &base, "", &flags, None).await;
    all_ok(&out, &r, 10);
    let mut h2 = flags.to_vec();
    h2.push("--http2");
    let (out, r) = one_second(&dir, &base, "", &h2, None).await;
    all_ok(&out, &r, 10);
    assert_eq!(r["http_version"], "HTTP/2", "{r}");
}

/// `validate` and `run` read the PEM files before any load: a missing or
/// unparsable one is invalid input (exit 2) naming the file and the field.
#[tokio::test]
async fn bad_pem_files_are_refused_before_the_run() {
    let dir = Dir::new();
    let pki = pki(&dir);
    let garbage = dir.write("garbage.pem", "not a certificate\n");
    let cases: &[(&str, &str, &str)] = &[
        (
            "tls:\n  cert: client.pem\n  key: missing.key\n",
            "missing.key: no such file",
            "tls.key",
        ),
        ("tls:\n  ca: garbage.pem\n", "garbage.pem: no PEM", "tls.ca"),
        (
            "tls:\n  cert: client.key\n  key: client.key\n",
            "client.key: no PEM \"CERTIFICATE\"",
            "tls.cert",
        ),
        (
            "tls:\n  cert: client.pem\n  key: client.pem\n",
            "no private key found",
            "tls.key",
        ),
    ];
    let _ = (&pki, &garbage);
    for (extra, says, field) in cases {
        let file = dir.write("bad.yaml", &open_scenario("/", 10.0, 1, 1, extra));
        let out = loadgen(&["validate", arg(&file)], None).await;
        assert_eq!(out.code, Some(2), "{extra}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(says), "{extra}: {}", out.stderr);
        assert!(
            crate::util::has_location(&out.stderr, "bad.yaml"),
            "{field}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("hint"), "{}", out.stderr);
    }
    // The same through the flags of `run`.
    let file = dir.write("ok.yaml", &open_scenario("/", 10.0, 1, 1, ""));
    for (flags, says) in [
        (vec!["--cacert", arg(&garbage)], "--cacert"),
        (
            vec![
                "--cert",
                arg(&pki.client_cert),
                "--key",
                "/nonexistent/k.pem",
            ],
            "k.pem: no such file",
        ),
    ] {
        let mut args = vec!["run", arg(&file)];
        args.extend(flags);
        let out = loadgen(&args, None).await;
        assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
}

/// The server's side: a plain axum server on loopback counts the HTTP
/// version of each request it gets; with `--http2` all are HTTP/2 (h2c),
/// without it all are HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_sees_the_version_the_report_names() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<http::Version>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(req.version());
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = Dir::new();
    let base = format!("http://{addr}");
    for (flags, version, name) in [
        (&["--http2"][..], http::Version::HTTP_2, "HTTP/2"),
        (&[][..], http::Version::HTTP_11, "HTTP/1.1"),
    ] {
        seen.lock().unwrap().clear();
        let (out, r) = one_second(&dir, &base, "", flags, None).await;
        let count = all_ok(&out, &r, 10);
        assert_eq!(r["http_version"], name, "{r}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len() as u64, count);
        assert!(seen.iter().all(|v| *v == version), "{seen:?}");
    }
    server.abort();
}

/// A connection the server closes (its idle timeout is shorter than the
/// pause between requests) is reopened for the next request, over HTTP/2
/// as over HTTP/1.1: no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_is_reopened_over_http2_too() {
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        connections: target_app::ConnectionLimits {
            idle_timeout: Duration::from_millis(100),
            ..target_app::ConnectionLimits::default()
        },
        tracing: false,
        ..target_app::Config::default()
    })
    .await
    .expect("the target app starts");
    let dir = Dir::new();
    let base = format!("http://{}", app.addr);
    for flags in [&["--http2"][..], &[][..]] {
        let file = dir.write(
            "slow.yaml",
            &open_scenario("/api/products/1", 4.0, 2, 1, ""),
        );
        let rep = dir.path("slow.json");
        let mut args = vec!["run", arg(&file), "--host", &base, "--report", arg(&rep)];
        args.extend_from_slice(flags);
        let out = loadgen(&args, None).await;
        let r = report(&rep);
        let count = all_ok(&out, &r, 7);
        assert!(count <= 9, "{count}");
    }
}

/// h2c against a server that speaks HTTP/1.1 only (it answers the HTTP/2
/// preface with a 400, as nginx or Python's http.server do): every request
/// fails with a reason that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_against_an_http1_only_server_says_so() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let dir = Dir::new();
    let (out, r) = one_second(&dir, &format!("http://{addr}"), "", &["--http2"], None).await;
    server.abort();
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let failed = reasons(&r, "request");
    assert!(
        failed
            .keys()
            .all(|k| k.contains("the server does not speak h2c")),
        "{failed:?}"
    );
}

/// Over HTTP/2 (h2c against an axum server on loopback) the client keeps
/// the response's header fields (both `set-cookie` values) and its body,
/// cut at `MAX_KEPT_BODY` with `body_truncated` and still counted whole,
/// and sends extra headers with one request: an extra `cookie` joined to
/// the request's own, as the server's echo shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_responses_and_extra_headers_over_h2c() {
    use http::{HeaderName, HeaderValue, Method};
    use hyper::body::Bytes;
    use loadgen::client::{
        ClientOptions, Connection, Keep, MAX_KEPT_BODY, Prepared, Target, traceparent,
    };
    let big = MAX_KEPT_BODY + 777;
    let app = axum::Router::new()
        .route(
            "/echo",
            axum::routing::get(
                |headers: http::HeaderMap, req: axum::extract::Request| async move {
                    let seen = |name: &str| -> Vec<String> {
                        headers
                            .get_all(name)
                            .iter()
                            .map(|v| v.to_str().unwrap_or("?").to_owned())
                            .collect()
                    };
                    let body = format!(
                        "{:?} cookie={:?} x-extra={:?}",
                        req.version(),
                        seen("cookie"),
                        seen("x-extra")
                    );
                    (
                        axum::response::AppendHeaders([
                            ("set-cookie", "sid=abc; HttpOnly"),
                            ("set-cookie", "theme=dark"),
                            ("x-kind", "echo"),
                        ]),
                        body,
                    )
                },
            ),
        )
        .route(
            "/big",
            axum::routing::get(move || async move { vec![b'z'; big] }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let options = ClientOptions {
        http2: true,
        ..ClientOptions::default()
    };
    let target = Target::new(&format!("http://{addr}"), &options, None).unwrap();
    let cookie = (
        HeaderName::from_static("cookie"),
        HeaderValue::from_static("lang=en"),
    );
    let echo = Prepared::new(
        &target,
        Method::GET,
        target.uri("/echo").unwrap(),
        [cookie],
        Bytes::new(),
    );
    let all = Keep {
        headers: true,
        body: true,
    };
    let extra = [
        (
            HeaderName::from_static("cookie"),
            HeaderValue::from_static("sid=abc"),
        ),
        (
            HeaderName::from_static("x-extra"),
            HeaderValue::from_static("1"),
        ),
    ];
    let mut conn = Connection::default();
    let mut send = async |request: &Prepared, keep, extra: &[(HeaderName, HeaderValue)]| {
        tokio::time::timeout(
            Duration::from_secs(10),
            conn.send(
                &target,
                request,
                &traceparent(1, 2),
                keep,
                extra,
                Duration::from_secs(5),
                std::future::pending(),
            ),
        )
        .await
        .expect("an answer in 10 s")
        .expect("a response")
    };
    let r = send(&echo, all, &extra).await;
    assert_eq!(r.status, 200);
    let kept = r.kept.expect("kept");
    let body = std::str::from_utf8(&kept.body).unwrap().to_owned();
    assert_eq!(
        body, r#"HTTP/2.0 cookie=["lang=en; sid=abc"] x-extra=["1"]"#,
        "the server's view"
    );
    assert_eq!(r.body_bytes, body.len() as u64);
    assert!(!kept.body_truncated);
    let cookies: Vec<_> = kept.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["sid=abc; HttpOnly", "theme=dark"]);
    assert_eq!(kept.headers["x-kind"], "echo");
    // The next request on the stream's connection: no extra headers, nothing kept.
    let r = send(&echo, Keep::default(), &[]).await;
    assert_eq!(r.kept, None);
    assert_eq!(
        r.body_bytes,
        r#"HTTP/2.0 cookie=["lang=en"] x-extra=[]"#.len() as u64
    );
    // Headers only, then a body over the cap.
    let headers_only = Keep {
        headers: true,
        body: false,
    };
    let kept = send(&echo, headers_only, &[]).await.kept.expect("kept");
    assert!(kept.body.is_empty());
    assert_eq!(kept.headers.get_all("set-cookie").iter().count(), 2);
    let large = Prepared::new(
        &target,
        Method::GET,
        target.uri("/big").unwrap(),
        [],
        Bytes::new(),
    );
    let body_only = Keep {
        headers: false,
        body: true,
    };
    let r = send(&large, body_only, &[]).await;
    assert_eq!(r.body_bytes, big as u64);
    let kept = r.kept.expect("kept");
    assert!(kept.headers.is_empty());
    assert_eq!(kept.body.len(), MAX_KEPT_BODY);
    assert!(kept.body.iter().all(|b| *b == b'z'));
    assert!(kept.body_truncated);
    assert_eq!(target.http_versions().as_deref(), Some("HTTP/2"));
    server.abort();
}
