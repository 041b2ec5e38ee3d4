//! Fault injection: the admin API's authentication, live changes to the
//! fault plan, and faults set at start by flags or a file.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{sample, spawn_app, start_in_process, test_config};

const TOKEN: &str = "t0ken-for-tests";

async fn start_with_admin() -> target_app::Running {
    start_in_process(target_app::Config {
        admin: Some(target_app::AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: TOKEN.into(),
        }),
        ..test_config()
    })
    .await
}

#[tokio::test]
async fn admin_api_is_off_without_a_token() {
    let app = start_in_process(test_config()).await;
    assert!(app.admin_addr.is_none());
    // And it is not reachable on the public listener either.
    let r = reqwest::get(format!("http://{}/admin/faults", app.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_api_requires_the_bearer_token() {
    let app = start_with_admin().await;
    let url = format!("http://{}/admin/faults", app.admin_addr.unwrap());
    let client = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer"),
        Some(TOKEN),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        let mut req = client.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(r.headers().contains_key("www-authenticate"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    // A write without the token changes nothing.
    let r = client
        .put(&url)
        .json(&json!({"rules": [{"error_rate": 1.0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(app.state.faults.current().is_empty());

    let r = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"rules": []}));
}

#[tokio::test]
async fn faults_change_at_run_time() {
    let app = start_with_admin().await;
    let admin = format!("http://{}/admin/faults", app.admin_addr.unwrap());
    let base = format!("http://{}", app.addr);
    let client = reqwest::Client::new();
    let order = || {
        client
            .post(format!("{base}/api/orders"))
            .json(&json!({"product_id": 1, "quantity": 1}))
            .send()
    };

    // Every order fails with 503; products are untouched.
    let r = client
        .put(&admin)
        .bearer_auth(TOKEN)
        .json(&json!({"rules": [{"route": "/api/orders", "error_rate": 1.0, "error_status": 503}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for _ in 0..5 {
        let r = order().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "injected_fault");
    }
    let r = reqwest::get(format!("{base}/api/products")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Extra latency on products: at least the fixed part, every time.
    let r = client
        .put(&admin)
        .bearer_auth(TOKEN)
        .json(&json!({"rules": [{"route": "/api/products", "latency": "300ms", "jitter": "50ms"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let start = Instant::now();
    let r = reqwest::get(format!("{base}/api/products")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(order().await.unwrap().status(), StatusCode::CREATED);

    // An invalid plan is refused and the old one stays.
    let r = client
        .put(&admin)
        .bearer_auth(TOKEN)
        .json(&json!({"rules": [{"error_rate": 2.0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("error_rate must be between 0 and 1")
    );
    assert_eq!(app.state.faults.current().rules.len(), 1);

    // Cleared: no more faults.
    let r = client
        .delete(&admin)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(app.state.faults.current().is_empty());
    assert_eq!(order().await.unwrap().status(), StatusCode::CREATED);

    let text = crate::util::scrape(&base).await;
    assert_eq!(sample(&text, "faults_injected_errors_total"), Some(5.0));
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count{http_request_method=\"POST\",http_route=\"/api/orders\",http_response_status_code=\"503\"}"
        ),
        Some(5.0)
    );
}

#[tokio::test]
async fn stall_longer_than_the_timeout_gives_504() {
    let app = start_in_process(target_app::Config {
        faults: target_app::faults::FaultPlan {
            rules: vec![],
            stall: Some(Duration::from_secs(60)),
            steps: Vec::new(),
        },
        limits: target_app::Limits {
            request_timeout: Duration::from_millis(300),
            ..target_app::Limits::default()
        },
        ..test_config()
    })
    .await;
    let r = reqwest::get(format!("http://{}/api/products", app.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "timeout");
    // Probes are not stalled.
    let r = reqwest::get(format!("http://{}/health", app.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn faults_from_flags_and_file() {
    let app = spawn_app(
        &[
            "--telemetry",
            "off",
            "--work-scale",
            "0",
            "--fault-error-rate",
            "1",
            "--fault-error-status",
            "502",
            "--fault-route",
            "/api/products/{id}",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[("TARGET_APP_ADMIN_TOKEN", TOKEN)],
    );
    let client = crate::util::client();
    assert_eq!(
        client
            .get(app.url("/api/products/1"))
            .send()
            .unwrap()
            .status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        client
            .get(app.url("/api/products"))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // The binary's admin listener clears the plan.
    let admin = format!(
        "http://{}/admin/faults",
        app.admin_addr.expect("admin listener")
    );
    let r = client.delete(&admin).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        client
            .get(app.url("/api/products/1"))
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    drop(app);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faults.yaml");
    std::fs::write(
        &file,
        "# every order fails\nrules:\n  - route: /api/orders\n    error_rate: 1.0\n    error_status: 500\n",
    )
    .unwrap();
    let app = spawn_app(
        &[
            "--telemetry",
            "off",
            "--work-scale",
            "0",
            "--faults",
            file.to_str().unwrap(),
        ],
        &[],
    );
    let r = client
        .post(app.url("/api/orders"))
        .json(&json!({"product_id": 1, "quantity": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn fault_plan_from_stdin() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
        .args([
            "--telemetry",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"rules:\n  - error_rate: 7\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error_rate must be between 0 and 1, got 7"),
        "{stderr}"
    );
}

#[test]
fn invalid_environment_exits_2() {
    for (var, value, expected) in [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "unsupported OTLP protocol",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "carrier-pigeon",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
        ("RUST_LOG", "nonsense=loud", "invalid RUST_LOG filter"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
            "invalid OTLP endpoint \"collector:4318\" in OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "api-key",
            "invalid header \"api-key\" in OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ),
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "10s",
            "invalid timeout \"10s\" in OTEL_EXPORTER_OTLP_TIMEOUT",
        ),
        (
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "zstd",
            "unsupported compression \"zstd\" in OTEL_EXPORTER_OTLP_COMPRESSION",
        ),
        (
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "lots",
            "invalid OTEL_BSP_MAX_QUEUE_SIZE \"lots\"",
        ),
        (
            "OTEL_BSP_SCHEDULE_DELAY",
            "5s",
            "invalid OTEL_BSP_SCHEDULE_DELAY \"5s\"",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
            .args(["--telemetry", "otlp", "--listen", "127.0.0.1:0"])
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(expected), "{var}={value}: {stderr}");
    }
}

#[test]
fn invalid_fault_input_exits_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "rules:\n  - route: /api/orders\n    error_rate: lots\n",
    )
    .unwrap();
    let shown = file.display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--faults", &shown], format!("{shown}:3:")),
        (
            vec!["--faults", "/nonexistent/faults.yaml"],
            "failed to read fault file".into(),
        ),
        (
            vec!["--fault-error-rate", "1.5"],
            "error_rate must be between 0 and 1".into(),
        ),
        (
            vec!["--fault-route", "/api/orders"],
            "--fault-route needs".into(),
        ),
        (vec!["--fault-latency", "soon"], "invalid value".into()),
        (
            vec!["--payment-failure-rate", "2"],
            "--payment-failure-rate".into(),
        ),
        (vec!["--max-in-flight", "0"], "--max-in-flight".into()),
        (vec!["--tls-cert", "/nonexistent.pem"], "--tls-key".into()),
        (
            vec![
                "--tls-cert",
                "/nonexistent.pem",
                "--tls-key",
                "/nonexistent.key",
            ],
            "failed to read certificates from /nonexistent.pem".into(),
        ),
        (vec!["--work-scale", "NaN"], "--work-scale".into()),
        (vec!["--request-timeout", "fast"], "invalid value".into()),
    ];
    for (args, expected) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
            .args(["--telemetry", "off", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn admin_api_accepts_the_bearer_scheme_in_any_case() {
    let app = start_with_admin().await;
    let url = format!("http://{}/admin/faults", app.admin_addr.unwrap());
    let client = reqwest::Client::new();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = client
            .get(&url)
            .header("authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn put_range_errors_name_the_line_and_column_of_the_body() {
    let app = start_with_admin().await;
    let url = format!("http://{}/admin/faults", app.admin_addr.unwrap());
    let client = reqwest::Client::new();
    let cases = [
        (
            "{\"rules\": [{\"error_rate\": 2}]}",
            "request body:1:27: error_rate must be between 0 and 1",
        ),
        (
            "{\"rules\": [\n  {\"latency\": \"999999999999d\"}\n]}",
            "request body:2:15: latency must be at most 24h",
        ),
        ("{\"stall\": \"5s\", \"bogus\": 1}", "request body:1:17:"),
    ];
    for (body, expected) in cases {
        let r = client
            .put(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let json: Value = r.json().await.unwrap();
        assert_eq!(json["error"], "invalid_fault_plan");
        let message = json["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let r = client
        .put(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(app.state.faults.current().is_empty());
}

#[test]
fn a_10mb_bad_fault_file_is_refused_quickly_with_a_short_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    let text = format!(
        "rules:\n  - route: /api/\"{}\"\n",
        "\\u00e9".repeat(1_700_000)
    );
    std::fs::write(&file, text).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
        .args(["--telemetry", "off", "--listen", "127.0.0.1:0", "--faults"])
        .arg(&file)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("huge.yaml:2:"), "{stderr}");
    assert!(stderr.len() < 2_000, "{} bytes of stderr", stderr.len());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn fault_file_range_errors_and_bad_utf8_exit_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "rate.yaml",
            b"rules:\n  - route: /api/orders\n    error_rate: 1.5\n",
            ":3:17: error_rate must be between 0 and 1",
        ),
        (
            "latency.yaml",
            b"rules:\n  - latency: 999999999999d\n",
            ":2:14: latency must be at most 24h",
        ),
        ("utf8.yaml", b"stall: 1s\n\xc3\x28\n", ":2:1: invalid UTF-8"),
    ];
    for (name, bytes, expected) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
            .args(["--telemetry", "off", "--listen", "127.0.0.1:0", "--faults"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", file.display())),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("^"), "{name}: {stderr}");
    }
}

/// A typo in a fault plan, from a file or through the admin API, is refused
/// at the field's line and column, with the field it was meant to be and the
/// valid ones; nothing changes.
#[tokio::test]
async fn fault_plan_typos_get_a_suggestion_and_the_valid_fields() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faults.yaml");
    std::fs::write(
        &file,
        "rules:\n  - route: /api/orders\n    error_rat: 1.0\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
        .args(["--telemetry", "off", "--listen", "127.0.0.1:0", "--faults"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for want in [
        "faults.yaml:3:5: unknown field \"error_rat\", did you mean \"error_rate\"?",
        "valid fields here: route, error_rate, error_status, latency, jitter",
        "target-app/README.md",
    ] {
        assert!(stderr.contains(want), "{want}: {stderr}");
    }

    let app = start_with_admin().await;
    let url = format!("http://{}/admin/faults", app.admin_addr.unwrap());
    let r = reqwest::Client::new()
        .put(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"rules": [{"error_rate": 1.0}], "stal": "1s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("unknown field \"stal\", did you mean \"stall\"?")
            && message.contains("valid fields here: rules, stall"),
        "{body}"
    );
    assert!(app.state.faults.current().is_empty());
}
