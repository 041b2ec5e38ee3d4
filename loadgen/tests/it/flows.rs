//! Flows against real servers on loopback: every check and capture kind,
//! passing and failing, on the target app's answers; captured values in
//! later requests; requests skipped when a value was not captured; the
//! bundled journey; evictions from the target app's order store counted as
//! check failures; environment values used and never shown; per-user
//! cookies and variables; malformed checks and captures refused at their
//! place.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::util::{Dir, arg, report, run, run_against, target};

/// The checks of a report, by (request, check): (passes, fails).
fn checks_of(r: &Value) -> BTreeMap<(String, String), (u64, u64)> {
    r["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in the report: {r}"))
        .iter()
        .map(|c| {
            (
                (
                    c["request"].as_str().unwrap().to_owned(),
                    c["name"].as_str().unwrap().to_owned(),
                ),
                (c["passes"].as_u64().unwrap(), c["fails"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// A request's entry in the report.
fn request<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no request {name:?} in {r}"))
}

fn skipped(r: &Value, name: &str) -> u64 {
    request(r, name)["skipped"].as_u64().unwrap_or(0)
}

/// A closed-model file of one user for `iterations` iterations of `requests`.
fn closed(requests: &str, iterations: u64, per_iteration: u64) -> String {
    format!(
        "base_url: http://127.0.0.1:1\ntimeout: 5s\nscenarios:\n  - name: flow\n    requests:\n{requests}load:\n  model: closed\n  users: 1\n  duration: 30s\n  requests: {}\n",
        iterations * per_iteration
    )
}

/// Every check kind and every capture kind, each once passing and once
/// failing, on the target app's real answers: a check named `pass ...`
/// never fails, one named `fail ...` never passes. A capture that finds
/// nothing fails as `capture VAR`, and the request that uses it is skipped,
/// not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_and_capture_kind_passes_and_fails_on_the_target_app() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let requests = r#"      - name: create
        method: POST
        path: /api/orders
        headers: {content-type: application/json}
        body: '{"product_id": 3, "quantity": 2}'
        checks:
          - {name: pass status, status: [201]}
          - {name: pass status range, status: ['200-299']}
          - {name: fail status, status: [200, '300-599']}
          - {name: pass header exists, header: content-type, exists: true}
          - {name: fail header exists, header: x-nothing, exists: true}
          - {name: pass header absent, header: x-nothing, exists: false}
          - {name: pass header matches, header: Content-Type, matches: ^application/json}
          - {name: fail header matches, header: content-type, matches: xml}
          - {name: pass header equals, header: content-type, equals: application/json}
          - {name: fail header equals, header: content-type, equals: text/plain}
          - {name: pass body contains, body_contains: '"status":"confirmed"'}
          - {name: fail body contains, body_contains: declined}
          - {name: pass body matches, body_matches: '"quantity":\s*2\b'}
          - {name: fail body matches, body_matches: '"quantity":\s*3\b'}
          - {name: pass json exists, json: /order_id, exists: true}
          - {name: fail json exists, json: /nope, exists: true}
          - {name: pass json equals number, json: /quantity, equals: 2}
          - {name: pass json equals text, json: $.status, equals: confirmed}
          - {name: fail json equals, json: /product_id, equals: 4}
          - {name: pass json matches, json: /order_id, matches: '^[0-9a-f-]{36}$'}
          - {name: fail json matches, json: /order_id, matches: '^order-'}
          - {name: pass duration, duration: 5s}
          - {name: fail duration, duration: 1us}
        capture:
          - {var: id, json: /order_id}
          - {var: missing, json: /nope}
          - {var: type, header: content-type}
          - {var: no_header, header: x-nothing}
          - {var: total, regex: '"total_cents":(\d+)'}
          - {var: no_match, regex: 'declined-(\d+)'}
      - name: read
        path: /api/orders/{{ vars.id }}
        checks:
          - {name: pass same order, json: /order_id, equals: '{{ vars.id }}'}
          - {name: pass same total, json: /total_cents, equals: '{{ vars.total }}'}
          - {name: pass same type, header: content-type, equals: '{{ vars.type }}'}
          - {name: fail other order, body_contains: 'x{{ vars.id }}'}
      - name: uses missing
        path: /api/products/{{ vars.missing }}
      - name: uses no header
        path: /api/products/1?h={{ vars.no_header }}
      - name: uses no match
        path: /api/products/1?m={{ vars.no_match }}
      - name: tail
        path: /health
"#;
    let iterations = 4;
    // The budget ends with the last iteration's `tail`, after its skips.
    let file = dir.write("kinds.yaml", &closed(requests, iterations, 3));
    let rep = dir.path("kinds.json");
    let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
    // Failed checks alone do not fail a run.
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let checks = checks_of(&r);
    let mut seen = 0;
    for ((req, name), (passes, fails)) in &checks {
        let total = passes + fails;
        assert_eq!(total, iterations, "{req}: {name} ran once per iteration");
        if name.starts_with("pass") {
            assert_eq!(*fails, 0, "{req}: {name}");
        } else if name.starts_with("fail") {
            assert_eq!(*passes, 0, "{req}: {name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 23 + 6 + 4, "every check and capture is in the report");
    let capture = |var: &str| checks[&("create".to_owned(), format!("capture {var}"))];
    for var in ["id", "type", "total"] {
        assert_eq!(capture(var), (iterations, 0), "capture {var}");
    }
    for var in ["missing", "no_header", "no_match"] {
        assert_eq!(capture(var), (0, iterations), "capture {var}");
    }
    // Requests that need a value that was never captured are not sent.
    for name in ["uses missing", "uses no header", "uses no match"] {
        assert_eq!(skipped(&r, name), iterations, "{name}");
        assert_eq!(request(&r, name)["count"], 0, "{name} was never sent");
    }
    assert_eq!(request(&r, "read")["count"], iterations);
    // Failed checks are not errors.
    assert_eq!(r["total"]["errors"].as_object().map_or(0, |e| e.len()), 0);
}

/// A check with `fail_iteration` ends the iteration: the rest is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_with_fail_iteration_skips_the_rest() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let requests = "      - name: list\n        path: /api/products\n        checks: [{status: [404], fail_iteration: true}, {json: /0/id, exists: true}]\n      - name: after\n        path: /api/products/1\n";
    let file = dir.write("stop.yaml", &closed(requests, 5, 1));
    let rep = dir.path("stop.json");
    let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    assert_eq!(request(&r, "list")["count"], 5);
    // The last iteration's skip may come after the budget ended the run
    // (then it is not counted: the request would not have been sent).
    assert!(
        (4..=5).contains(&skipped(&r, "after")),
        "{}",
        skipped(&r, "after")
    );
    assert_eq!(request(&r, "after")["count"], 0);
    let checks = checks_of(&r);
    assert_eq!(checks[&("list".into(), "status in [404]".into())], (0, 5));
    // The other checks of the request still ran.
    assert_eq!(checks[&("list".into(), "json /0/id exists".into())], (5, 0));
}

/// The bundled journey against the target app: created orders are read
/// back, and the checks' thresholds pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_reads_back_what_it_created() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let file = dir.write("journey.yaml", loadgen::bundled::JOURNEY);
    let rep = dir.path("journey.json");
    let out = run_against(&app, &file, &["--duration", "4s", "--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let checks = checks_of(&r);
    let created = checks[&("create order".into(), "created".into())];
    let found = checks[&("read order".into(), "found".into())];
    let same = checks[&("read order".into(), "same order".into())];
    assert!(
        created.0 >= 60,
        "about 80 orders in 4 s at 20/s: {created:?}"
    );
    assert!(
        found.0 as f64 >= 0.99 * created.0 as f64 && same.0 == found.0,
        "read back {found:?} / {same:?} of {created:?}"
    );
    // The thresholds on checks were judged.
    let judged: Vec<&str> = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == true)
        .filter_map(|t| t["threshold"].as_str())
        .collect();
    assert!(judged.contains(&"checks>99%"), "{judged:?}");
    // The summary shows the checks.
    assert!(out.stdout.contains("same order"), "{}", out.stdout);
}

/// With a small order store, orders are evicted before they are read
/// back: the read answers 404, which the check counts as its failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_orders_show_as_failed_checks() {
    let app = target_app::start(target_app::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        work: target_app::WorkConfig {
            scale: 0.0,
            payment_failure_rate: 0.0,
        },
        tracing: false,
        order_store_size: std::num::NonZeroUsize::new(3).unwrap(),
        ..target_app::Config::default()
    })
    .await
    .unwrap();
    let dir = Dir::new();
    // The first order of each iteration is pushed out by the three after it.
    let create = |name: &str, capture: &str| {
        format!(
            "      - name: {name}\n        method: POST\n        path: /api/orders\n        headers: {{content-type: application/json}}\n        body: '{{\"product_id\": 1, \"quantity\": 1}}'\n{capture}"
        )
    };
    let requests = format!(
        "{}{}{}{}      - name: read first\n        path: /api/orders/{{{{ vars.first }}}}\n        checks: [{{name: found, status: [200]}}]\n      - name: read last\n        path: /api/orders/{{{{ vars.last }}}}\n        checks: [{{name: found, status: [200]}}]\n",
        create(
            "first",
            "        capture: [{var: first, json: /order_id}]\n"
        ),
        create("more", ""),
        create("more", ""),
        create("last", "        capture: [{var: last, json: /order_id}]\n"),
    );
    let file = dir.write("evict.yaml", &closed(&requests, 5, 6));
    let rep = dir.path("evict.json");
    let out = run_against(&app, &file, &["--report", arg(&rep)]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    let checks = checks_of(&r);
    assert_eq!(checks[&("read first".into(), "found".into())], (0, 5));
    assert_eq!(checks[&("read last".into(), "found".into())], (5, 0));
    assert_eq!(request(&r, "read first")["status_codes"]["404"], 5);
}

/// `{{ env.NAME }}` is read from loadgen's environment and sent; the value
/// never appears in what loadgen prints or writes. A missing variable
/// without a default is refused, named, exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_values_are_sent_and_never_shown() {
    let app = target(0.0).await;
    let dir = Dir::new();
    let secret = "s3cret-7f2a91";
    let text = "base_url: http://127.0.0.1:1\nheaders:\n  authorization: 'Bearer {{ env.LOADGEN_TEST_TOKEN }}'\nscenarios:\n  - requests:\n      - path: /api/products/{{ env.LOADGEN_TEST_PRODUCT }}?k={{ env.LOADGEN_TEST_TOKEN }}&d={{ env.LOADGEN_TEST_UNSET | default(\"x\") }}\n        checks: [{json: /id, equals: '{{ env.LOADGEN_TEST_PRODUCT }}'}]\nload: {model: closed, users: 1, duration: 10s, requests: 5}\n";
    let file = dir.write("env.yaml", text);
    let rep = dir.path("env.json");
    let junit = dir.path("env.xml");
    let host = format!("http://{}", app.addr);
    let env = [
        ("LOADGEN_TEST_TOKEN", secret),
        ("LOADGEN_TEST_PRODUCT", "7"),
    ];
    let out = crate::util::run_env(
        &[
            "run",
            arg(&file),
            "--host",
            &host,
            "--report",
            arg(&rep),
            "--junit",
            arg(&junit),
        ],
        &env,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    // Product 7 was asked for: the check on its id passed every time.
    assert_eq!(
        checks_of(&r).values().copied().collect::<Vec<_>>(),
        vec![(5, 0)]
    );
    for (what, text) in [
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        ("report", std::fs::read_to_string(&rep).unwrap()),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
    ] {
        assert!(
            !text.contains(secret),
            "the secret is in the {what}: {text}"
        );
    }
    // Missing, without a default: exit 2, named and located.
    let out = crate::util::run_env(
        &["validate", arg(&file)],
        &env[1..],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("env.yaml:3:"), "{}", out.stderr);
    assert!(
        out.stderr.contains("\"LOADGEN_TEST_TOKEN\" is not set"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(secret));
}

/// A service with a log-in: `/login` sets a session cookie and answers a
/// token; `/me` wants both. Counts the log-ins.
async fn login_service() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    use axum::http::{HeaderMap, StatusCode, header};
    let logins = Arc::new(AtomicU64::new(0));
    let counter = logins.clone();
    let app = axum::Router::new()
        .route(
            "/login",
            axum::routing::post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    (
                        [(
                            header::SET_COOKIE,
                            format!("session=s{n}; Path=/; HttpOnly"),
                        )],
                        format!("{{\"token\":\"t{n}\"}}"),
                    )
                }
            }),
        )
        .route(
            "/me",
            axum::routing::get(|headers: HeaderMap| async move {
                let cookie = headers
                    .get(header::COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let token = headers
                    .get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                // The session and the token come from the same log-in.
                match cookie.strip_prefix("session=s") {
                    Some(n) if token == format!("t{n}") => (StatusCode::OK, "me"),
                    _ => (StatusCode::UNAUTHORIZED, "who?"),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, logins)
}

/// Log in once per user: `once` sends `/login` until the user has its
/// token, the jar keeps its cookie, and both are the user's own across its
/// iterations. Without the jar, `/me` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_logs_in_once_and_keeps_its_cookie_and_token() {
    let (addr, logins) = login_service().await;
    let dir = Dir::new();
    let file = |cookies: bool| {
        format!(
            "base_url: http://{addr}\ncookies: {cookies}\nscenarios:\n  - requests:\n      - name: login\n        method: POST\n        path: /login\n        once: true\n        capture: [{{var: token, json: /token, scope: user}}]\n      - name: me\n        path: /me\n        headers: {{x-token: '{{{{ vars.token }}}}'}}\n        checks: [{{name: known, status: [200]}}]\nload: {{model: closed, users: 3, duration: 20s, requests: 33}}\n"
        )
    };
    let with = dir.write("jar.yaml", &file(true));
    let rep = dir.path("jar.json");
    let out = run(
        &["run", arg(&with), "--report", arg(&rep)],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    assert_eq!(logins.load(Ordering::SeqCst), 3, "one log-in per user");
    assert_eq!(request(&r, "login")["count"], 3);
    let me = request(&r, "me")["count"].as_u64().unwrap();
    assert_eq!(me, 30, "the budget's other requests");
    assert_eq!(checks_of(&r)[&("me".into(), "known".into())], (30, 0));
    // Without the jar the session is not sent back.
    let without = dir.write("nojar.yaml", &file(false));
    let rep = dir.path("nojar.json");
    let out = run(
        &["run", arg(&without), "--report", arg(&rep)],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let (passes, fails) = checks_of(&report(&rep))[&("me".into(), "known".into())];
    assert_eq!((passes, fails > 0), (0, true));
    // The log-in in a scenario of its own: once a user is logged in, its
    // picks of that scenario send nothing and take nothing of the budget,
    // and `me` is skipped until the user has its token. The budget is sent
    // in full.
    let split = dir.write(
        "split.yaml",
        &format!(
            "base_url: http://{addr}
cookies: true
scenarios:
  - name: login
    requests:
      - name: login
        method: POST
        path: /login
        once: true
        capture: [{{var: token, json: /token, scope: user}}]
  - name: use
    requests:
      - name: me
        path: /me
        headers: {{x-token: '{{{{ vars.token }}}}'}}
        checks: [{{name: known, status: [200]}}]
load: {{model: closed, users: 3, duration: 20s, requests: 40}}
"
        ),
    );
    let rep = dir.path("split.json");
    let out = run(
        &["run", arg(&split), "--report", arg(&rep)],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let r = report(&rep);
    assert_eq!(r["total"]["count"], 40, "the whole budget, exactly");
    let logins = request(&r, "login")["count"].as_u64().unwrap();
    assert!(
        (1..=3).contains(&logins),
        "at most one log-in per user: {logins}"
    );
    let (passes, fails) = checks_of(&r)[&("me".into(), "known".into())];
    assert_eq!((passes, fails), (40 - logins, 0));
}

/// Malformed checks and captures, and variables used before they are
/// captured: exit 2, file:line:column, a hint.
#[tokio::test]
async fn malformed_flows_exit_2_at_their_place() {
    let dir = Dir::new();
    let head = "base_url: http://127.0.0.1:1\nscenarios:\n  - requests:\n      - path: /a\n";
    let load = "load: {model: closed, users: 1, duration: 1s}\n";
    for (body, at, want) in [
        (
            "        checks: [{status: [200], json: /a}]\n",
            "5:18",
            "checks one thing",
        ),
        (
            "        checks:\n          - {jsn: /a, exists: true}\n",
            "6:14",
            "unknown field",
        ),
        (
            "        checks:\n          - json: a.b\n            exists: true\n",
            "6:19",
            "invalid JSON path",
        ),
        (
            "        checks:\n          - body_matches: 'a('\n",
            "6:27",
            "invalid regular expression",
        ),
        (
            "        capture:\n          - {var: x, json: /a, regex: b}\n",
            "6:13",
            "exactly one of json, header, regex",
        ),
        (
            "        capture:\n          - {var: 'a b', json: /a}\n",
            "6:",
            "not a variable name",
        ),
        (
            "      - path: /b/{{ vars.later }}\n      - path: /c\n        capture: [{var: later, json: /id}]\n",
            "5:15",
            "unknown variable \"later\"",
        ),
    ] {
        let f = dir.write("bad.yaml", &format!("{head}{body}{load}"));
        let out = run(&["validate", arg(&f)], Duration::from_secs(20)).await;
        assert_eq!(out.code, Some(2), "{body}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("bad.yaml:{at}")),
            "{body}: want {at}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(want), "{body}: {}", out.stderr);
        assert!(out.stderr.contains("hint"), "{body}: {}", out.stderr);
    }
}
