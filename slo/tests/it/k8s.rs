//! The Kubernetes side (k8s/) and the Dockerfiles, checked with the tools
//! that consume them: every kustomization renders with `kubectl kustomize`,
//! and the result passes scripts/k8s_validate.py (kubernetes-validate's
//! strict schemas, the CRD and Grafana schemas in ../shared/schemas through
//! check-jsonschema, and the project's policies). Broken copies show that
//! each check can fail.

use crate::util::{check_jsonschema, root};

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn imports_validators(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import kubernetes_validate, dockerfile_parse"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The Python with kubernetes-validate and dockerfile-parse: $K8S_PYTHON,
/// else the project's .venv, else python3 if it has them.
fn python() -> String {
    if let Ok(p) = std::env::var("K8S_PYTHON") {
        return p;
    }
    let venv = root().join(".venv/bin/python");
    if venv.exists() && imports_validators(venv.to_str().unwrap()) {
        return venv.to_string_lossy().into_owned();
    }
    assert!(
        imports_validators("python3"),
        "kubernetes-validate is not installed: run scripts/test.sh or install kubernetes-validate into .venv (or set K8S_PYTHON)"
    );
    "python3".into()
}

/// `kubectl kustomize k8s/<dir>`.
fn render(dir: &str) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join("k8s").join(dir))
        .output()
        .unwrap_or_else(|e| panic!("kubectl runs (it comes with the machine image): {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize k8s/{dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 manifests")
}

fn docs(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("kubectl renders YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Writes documents as a multi-document YAML file (JSON is YAML).
fn write_docs(path: &Path, docs: &[Value]) {
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    std::fs::write(path, text.join("\n---\n")).unwrap();
}

/// Runs scripts/k8s_validate.py; returns (exit code, stdout + stderr).
/// Exit 2 (a missing tool or bad usage) always fails the test.
fn validate(args: &[&Path]) -> (i32, String) {
    let out = Command::new(python())
        .arg(root().join("scripts/k8s_validate.py"))
        .args(args)
        .env("CHECK_JSONSCHEMA", check_jsonschema())
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("python runs scripts/k8s_validate.py: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().expect("the validator exits");
    assert!(
        code == 0 || code == 1,
        "the validator could not run:\n{text}"
    );
    (code, text)
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn count(docs: &[Value], kind: &str) -> usize {
    docs.iter().filter(|d| d["kind"] == kind).count()
}

fn find_mut<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    docs.iter_mut()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is rendered"))
}

fn container(docs: &mut [Value]) -> &mut Value {
    &mut find_mut(docs, "Deployment", "target-app")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn every_kustomization_renders_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["base", "overlays/dev", "overlays/prod", "argocd"] {
        let file = tmp.path().join(format!("{}.yaml", dir.replace('/', "-")));
        std::fs::write(&file, render(dir)).unwrap();
        let (code, out) = validate(&[&file]);
        assert_eq!(code, 0, "k8s/{dir}:\n{out}");
        assert!(out.contains("ok: "), "{out}");
    }
}

#[test]
fn split_run_validates_next_to_dev() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev.yaml");
    let split = tmp.path().join("split.yaml");
    std::fs::write(&dev, render("overlays/dev")).unwrap();
    let text = render("loadtests/dev-split");
    std::fs::write(&split, &text).unwrap();
    let (code, out) = validate(&[&dev, &split]);
    assert_eq!(code, 0, "{out}");
    // Alone it lacks what the dev overlay provides.
    let (code, out) = validate(&[&split]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ConfigMap loadgen-scenario"), "{out}");

    let d = docs(&text);
    let job = find(&d, "Job", "loadgen-split").expect("the Indexed Job");
    assert_eq!(job["metadata"]["namespace"], "target-app-dev");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 4);
    assert_eq!(job["spec"]["parallelism"], 4);
    let args = &job["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(args.as_array().unwrap().contains(&json!("--shard-count=4")));
    assert!(
        args.as_array().unwrap().contains(&json!(
            "--report=/reports/report-$(JOB_COMPLETION_INDEX).json"
        )),
        "{args}"
    );
    let pvc = find(&d, "PersistentVolumeClaim", "loadgen-reports").expect("the report volume");
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteMany"]));
    let merge = find(&d, "Job", "loadgen-merge").expect("the merge Job");
    assert_eq!(merge["spec"]["suspend"], true);
    assert_eq!(
        merge["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "merge"
    );
}

/// The Prometheus remote-write URL the loadgen Jobs send their client
/// metrics to (Prometheus Operator's Service in `monitoring`).
const REMOTE_WRITE: &str = "http://prometheus-operated.monitoring.svc:9090/api/v1/write";

/// Checks that a loadgen Job writes its client metrics to Prometheus under
/// a run id the downward API gives every pod of the Job alike, and that the
/// network policies of its namespace let it.
fn check_metrics_job(docs: &[Value], job: &Value) {
    let name = job["metadata"]["name"].as_str().unwrap();
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let flag = |f: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{f}=")[..]))
            .unwrap_or_else(|| panic!("Job {name}: no --{f} in {args:?}"))
    };
    let url = flag("remote-write");
    assert_eq!(url, REMOTE_WRITE, "Job {name}");
    // --run-id from variables of the Job's pod labels, same in every pod.
    let run_id = flag("run-id");
    let env = c["env"].as_array().unwrap();
    let vars: Vec<&str> = run_id
        .split("$(")
        .skip(1)
        .map(|v| v.split(')').next().unwrap())
        .collect();
    assert_eq!(vars.len(), 2, "Job {name}: --run-id={run_id}");
    let paths: Vec<&str> = vars
        .iter()
        .map(|v| {
            let e = env
                .iter()
                .find(|e| e["name"] == *v)
                .unwrap_or_else(|| panic!("Job {name}: no env {v}"));
            e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "metadata.labels['batch.kubernetes.io/job-name']",
            "metadata.labels['batch.kubernetes.io/controller-uid']"
        ],
        "Job {name}"
    );
    // The URL's namespace and port are open to the Job's pods.
    let (host, port) = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .and_then(|h| h.rsplit_once(':'))
        .unwrap();
    let namespace = host.split('.').nth(1).unwrap();
    let port: u64 = port.parse().unwrap();
    assert!(
        egress_allowed(docs, job, namespace, port),
        "Job {name}: no NetworkPolicy lets its pods reach {namespace}:{port}"
    );
}

/// Whether a NetworkPolicy of the Job's namespace that selects its pods
/// lets them reach any pod of `namespace` on TCP `port`.
fn egress_allowed(docs: &[Value], job: &Value, namespace: &str, port: u64) -> bool {
    let ns = &job["metadata"]["namespace"];
    let labels = &job["spec"]["template"]["metadata"]["labels"];
    docs.iter().any(|p| {
        p["kind"] == "NetworkPolicy"
            && p["metadata"]["namespace"] == *ns
            && p["spec"]["podSelector"]["matchLabels"]
                .as_object()
                .is_some_and(|m| m.iter().all(|(k, v)| labels[k] == *v))
            && p["spec"]["egress"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| {
                    rule["to"].as_array().into_iter().flatten().any(|peer| {
                        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                            == namespace
                            && peer.get("podSelector").is_none()
                    }) && rule["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["port"] == port && p["protocol"] == "TCP")
                })
    })
}

#[test]
fn loadgen_jobs_write_client_metrics_to_prometheus() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/loadtest.json")).unwrap(),
    )
    .unwrap();
    for overlay in ["dev", "prod"] {
        let d = docs(&render(&format!("overlays/{overlay}")));
        check_metrics_job(&d, find(&d, "Job", "loadgen").expect("the Job"));
        // The load test dashboard ships with them.
        let cm = find(&d, "ConfigMap", "target-app-loadtest-dashboard")
            .expect("the load test dashboard");
        assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
        let inner: Value =
            serde_json::from_str(cm["data"]["target-app-loadtest.json"].as_str().unwrap()).unwrap();
        assert_eq!(inner, dashboard, "{overlay}");
    }
    // The split run's shards share the run id; --shard-index labels each.
    let mut d = docs(&render("overlays/dev"));
    d.extend(docs(&render("loadtests/dev-split")));
    let split = find(&d, "Job", "loadgen-split").expect("the Indexed Job");
    check_metrics_job(&d, split);
    let args = &split["spec"]["template"]["spec"]["containers"][0]["args"];
    for want in ["--shard-count=4", "--shard-index=$(JOB_COMPLETION_INDEX)"] {
        assert!(args.as_array().unwrap().contains(&json!(want)), "{args}");
    }
    // Without the egress rule, the check above fails.
    for p in d.iter_mut().filter(|p| p["kind"] == "NetworkPolicy") {
        if let Some(egress) = p["spec"]["egress"].as_array_mut() {
            egress.retain(|r| !r.to_string().contains("\"monitoring\""));
        }
    }
    let job = find(&d, "Job", "loadgen-split").unwrap();
    assert!(!egress_allowed(&d, job, "monitoring", 9090));
}

#[test]
fn overlays_pick_their_autoscaler_and_carry_the_generated_files() {
    for (overlay, ns, scaler, not) in [
        (
            "dev",
            "target-app-dev",
            "HorizontalPodAutoscaler",
            "ScaledObject",
        ),
        (
            "prod",
            "target-app-prod",
            "ScaledObject",
            "HorizontalPodAutoscaler",
        ),
    ] {
        let d = docs(&render(&format!("overlays/{overlay}")));
        assert_eq!(count(&d, scaler), 1, "{overlay} has one {scaler}");
        assert_eq!(count(&d, not), 0, "{overlay} has no {not}");
        let rule = find(&d, "PrometheusRule", "target-app-slos").expect("the SLO rules");
        assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
        let cm = find(&d, "ConfigMap", "target-app-dashboard").expect("the dashboard");
        assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
        assert!(cm["data"]["target-app.json"].is_string(), "{cm}");
        let namespace = find(&d, "Namespace", ns).expect("the overlay's Namespace");
        assert_eq!(
            namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        for doc in d.iter().filter(|d| d["kind"] != "Namespace") {
            assert_eq!(doc["metadata"]["namespace"], ns, "{doc}");
        }
        let deploy = find(&d, "Deployment", "target-app").unwrap();
        assert!(
            deploy["spec"].get("replicas").is_none(),
            "the autoscaler owns replicas"
        );
        let collector = find(&d, "OpenTelemetryCollector", "otel").unwrap();
        assert_eq!(collector["spec"]["mode"], "deployment");
        let env = &deploy["spec"]["template"]["spec"]["containers"][0]["env"];
        assert!(
            env.as_array().unwrap().contains(
                &json!({"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector:4317"})
            ),
            "the operator names the collector's Service otel-collector: {env}"
        );
        let scaled = find(&d, scaler, "target-app").unwrap();
        assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], "target-app");
    }
    let dev = docs(&render("overlays/dev"));
    let hpa = find(&dev, "HorizontalPodAutoscaler", "target-app").unwrap();
    assert_eq!(hpa["spec"]["minReplicas"], 1);
}

#[test]
fn argocd_applications_follow_the_overlays() {
    let apps = docs(&render("argocd"));
    assert_eq!(apps.len(), 2);
    for (name, overlay, automated) in [
        ("target-app-dev", "dev", true),
        ("target-app-prod", "prod", false),
    ] {
        let app = find(&apps, "Application", name).expect("one Application per overlay");
        assert_eq!(app["metadata"]["namespace"], "argocd");
        let path = app["spec"]["source"]["path"].as_str().unwrap();
        assert_eq!(path, format!("k8s/overlays/{overlay}"));
        assert!(root().join(path).join("kustomization.yaml").exists());
        let rendered = docs(&render(&format!("overlays/{overlay}")));
        let ns =
            find(&rendered, "Deployment", "target-app").unwrap()["metadata"]["namespace"].clone();
        assert_eq!(app["spec"]["destination"]["namespace"], ns);
        let sync = &app["spec"]["syncPolicy"];
        assert_eq!(sync.get("automated").is_some(), automated, "{name}: {sync}");
        if automated {
            assert_eq!(sync["automated"]["prune"], true);
            assert_eq!(sync["automated"]["selfHeal"], true);
        }
        let opts = sync["syncOptions"].as_array().unwrap();
        assert!(opts.contains(&json!("CreateNamespace=false")), "{sync}");
        let ignored = &app["spec"]["ignoreDifferences"][0];
        assert_eq!(ignored["kind"], "Deployment");
        assert_eq!(ignored["jsonPointers"], json!(["/spec/replicas"]));
    }
}

#[test]
fn scenario_configmap_is_the_steady_scenario() {
    let bundled = std::fs::read_to_string(root().join("loadgen/scenarios/steady.yaml")).unwrap();
    let ours = std::fs::read_to_string(root().join("k8s/base/loadgen/scenario.yaml")).unwrap();
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("base_url:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        strip(&ours),
        strip(&bundled),
        "k8s/base/loadgen/scenario.yaml drifted from loadgen/scenarios/steady.yaml"
    );
    assert!(ours.contains("\nbase_url: http://target-app:8080\n"));
}

#[test]
fn dockerfiles_pass() {
    let (code, out) = validate(&[
        Path::new("--dockerfile"),
        &root().join("target-app/Dockerfile"),
        &root().join("loadgen/Dockerfile"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 2 Dockerfile(s)"), "{out}");
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for entry in ["target/", ".venv/", ".git/"] {
        assert!(ignore.lines().any(|l| l == entry), ".dockerignore: {entry}");
    }
}

type Mutation = fn(&mut Vec<Value>);

#[test]
fn validator_rejects_broken_manifests() {
    // (case, rendered kustomization, edit, expected message)
    let cases: Vec<(&str, &str, Mutation, &str)> = vec![
        (
            "Deployment without readOnlyRootFilesystem",
            "overlays/dev",
            |d| {
                container(d)["securityContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("readOnlyRootFilesystem");
            },
            "container target-app: readOnlyRootFilesystem is not true",
        ),
        (
            "replicas is not a number",
            "overlays/prod",
            |d| find_mut(d, "Deployment", "target-app")["spec"]["replicas"] = json!("two"),
            "'two' is not of type 'integer'",
        ),
        (
            "unknown field (strict schema)",
            "overlays/dev",
            |d| container(d)["livenessProbes"] = json!({}),
            "'livenessProbes' was unexpected",
        ),
        (
            "unknown kind",
            "overlays/dev",
            |d| {
                d.push(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
            },
            "Widget/w: unknown kind Widget",
        ),
        (
            "ServiceMonitor against its schema",
            "overlays/dev",
            |d| {
                find_mut(d, "ServiceMonitor", "target-app")["spec"]["scrapeProtocols"] =
                    json!(["OpenMetrics"])
            },
            "ServiceMonitor/target-app (namespace target-app-dev): does not match its schema",
        ),
        (
            "grace period shorter than the drain",
            "overlays/prod",
            |d| {
                find_mut(d, "Deployment", "target-app")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] =
                    json!(10)
            },
            "terminationGracePeriodSeconds 10 is shorter than --shutdown-delay + --drain-timeout",
        ),
        (
            "no default-deny policy",
            "overlays/prod",
            |d| d.retain(|x| x["metadata"]["name"] != "default-deny-all"),
            "namespace target-app-prod: has no default-deny NetworkPolicy",
        ),
        (
            "replicas beside an autoscaler",
            "overlays/prod",
            |d| find_mut(d, "Deployment", "target-app")["spec"]["replicas"] = json!(3),
            "sets spec.replicas although ScaledObject/target-app",
        ),
        (
            "autoscaler without its Deployment",
            "overlays/dev",
            |d| {
                find_mut(d, "HorizontalPodAutoscaler", "target-app")["spec"]["scaleTargetRef"]["name"] =
                    json!("web")
            },
            "scales Deployment web, which is not in the manifests",
        ),
        (
            "two autoscalers",
            "overlays/dev",
            |d| {
                let mut so = json!({
                    "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                    "metadata": {"name": "target-app"},
                    "spec": {"scaleTargetRef": {"name": "target-app"}, "triggers": [
                        {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "50"}}]}
                });
                so["metadata"]["namespace"] = json!("target-app-dev");
                d.push(so);
            },
            "is scaled by 2 autoscalers",
        ),
        (
            "image :latest",
            "overlays/prod",
            |d| container(d)["image"] = json!("ghcr.io/loadgen-slo/target-app:latest"),
            "uses :latest",
        ),
        (
            "service account token",
            "overlays/dev",
            |d| {
                find_mut(d, "ServiceAccount", "target-app")["automountServiceAccountToken"] =
                    json!(true)
            },
            "ServiceAccount/target-app (namespace target-app-dev): automounts its token",
        ),
        (
            "Service selector matches nothing",
            "overlays/dev",
            |d| {
                find_mut(d, "Service", "target-app")["spec"]["selector"] =
                    json!({"app.kubernetes.io/name": "web"})
            },
            "matches no pod template",
        ),
        (
            "network policy peer selects nothing",
            "overlays/dev",
            |d| {
                find_mut(d, "NetworkPolicy", "target-app")["spec"]["egress"][0]["to"][0]["podSelector"]
                    ["matchLabels"]["app.kubernetes.io/name"] = json!("otel")
            },
            "egress peer",
        ),
        (
            "env refers to a later variable",
            "overlays/prod",
            |d| {
                let env = container(d)["env"].as_array_mut().unwrap();
                let at = env
                    .iter()
                    .position(|e| e["name"] == "OTEL_RESOURCE_ATTRIBUTES")
                    .unwrap();
                let attrs = env.remove(at);
                env.insert(0, attrs);
            },
            "env OTEL_RESOURCE_ATTRIBUTES refers to $(POD_NAMESPACE) before it is defined",
        ),
        (
            "no startup probe",
            "overlays/dev",
            |d| {
                container(d).as_object_mut().unwrap().remove("startupProbe");
            },
            "has no startupProbe",
        ),
        (
            "no resource limits",
            "overlays/prod",
            |d| {
                container(d)["resources"]
                    .as_object_mut()
                    .unwrap()
                    .remove("limits");
            },
            "has no limits for cpu, memory",
        ),
        (
            "collector may escalate privileges",
            "overlays/dev",
            |d| {
                find_mut(d, "OpenTelemetryCollector", "otel")["spec"]["securityContext"]["allowPrivilegeEscalation"] =
                    json!(true)
            },
            "OpenTelemetryCollector/otel (namespace target-app-dev): container otc-container: allowPrivilegeEscalation is not false",
        ),
        (
            "PrometheusRule against its schema",
            "overlays/dev",
            |d| {
                find_mut(d, "PrometheusRule", "target-app-slos")["spec"]["groups"][0]["interval"] =
                    json!("often")
            },
            "PrometheusRule/target-app-slos (namespace target-app-dev): does not match its schema",
        ),
        (
            "ScaledObject against its schema",
            "overlays/prod",
            |d| {
                find_mut(d, "ScaledObject", "target-app")["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("triggers");
            },
            "'triggers' is a required property",
        ),
        (
            "load test retried",
            "overlays/dev",
            |d| find_mut(d, "Job", "loadgen")["spec"]["backoffLimit"] = json!(3),
            "Job/loadgen (namespace target-app-dev): retries failed pods",
        ),
        (
            "dashboard against the Grafana schema",
            "overlays/dev",
            |d| {
                find_mut(d, "ConfigMap", "target-app-dashboard")["data"]["target-app.json"] =
                    json!("{\"title\": \"x\"}")
            },
            "key target-app.json: does not match its schema",
        ),
        (
            "run id from a variable env does not define",
            "overlays/prod",
            |d| {
                find_mut(d, "Job", "loadgen")["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|e| e["name"] != "LOADGEN_JOB_UID")
            },
            "args refer to $(LOADGEN_JOB_UID), which env does not define",
        ),
        (
            "load test dashboard against the Grafana schema",
            "overlays/prod",
            |d| {
                find_mut(d, "ConfigMap", "target-app-loadtest-dashboard")["data"]["target-app-loadtest.json"] =
                    json!("{\"panels\": 3}")
            },
            "key target-app-loadtest.json: does not match its schema",
        ),
        (
            "Application against its schema",
            "argocd",
            |d| {
                find_mut(d, "Application", "target-app-dev")["spec"]["syncPolicy"]["automated"]["prune"] =
                    json!("yes")
            },
            "Application/target-app-dev (namespace argocd): does not match its schema",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let rendered: std::collections::BTreeMap<&str, Vec<Value>> =
        ["overlays/dev", "overlays/prod", "argocd"]
            .into_iter()
            .map(|dir| (dir, docs(&render(dir))))
            .collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, (case, dir, edit, want))| {
                let mut d = rendered[dir].clone();
                let file = tmp.path().join(format!("case-{i}.yaml"));
                s.spawn(move || {
                    edit(&mut d);
                    write_docs(&file, &d);
                    let (code, out) = validate(&[&file]);
                    if code != 1 || !out.contains(want) {
                        Some(format!(
                            "{case}: wanted exit 1 with {want:?}, got {code}:\n{out}"
                        ))
                    } else {
                        None
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validator_rejects_broken_dockerfiles() {
    let original = std::fs::read_to_string(root().join("target-app/Dockerfile")).unwrap();
    // (case, text to replace, replacement, expected message)
    let cases = [
        (
            "one stage",
            "FROM gcr.io/distroless/cc-debian12:nonroot\n",
            "",
            "has 1 stage(s)",
        ),
        (
            "shell-form ENTRYPOINT",
            "ENTRYPOINT [\"/usr/local/bin/target-app\"]",
            "ENTRYPOINT /usr/local/bin/target-app",
            "ENTRYPOINT is in shell form",
        ),
        (
            "user by name",
            "USER 65532:65532",
            "USER nonroot:nonroot",
            "USER nonroot:nonroot is not numeric",
        ),
        ("root", "USER 65532:65532", "USER 0:0", "runs as root"),
        (
            "ADD from a URL",
            "EXPOSE 8080\n",
            "EXPOSE 8080\nADD https://example.com/tool /usr/local/bin/tool\n",
            "ADD fetches a URL",
        ),
        (
            "unlocked build",
            "cargo build --release --locked",
            "cargo build --release",
            "cargo build without --locked",
        ),
        (
            "floating base image",
            "FROM rust:1.95-slim-bookworm AS builder",
            "FROM rust:latest AS builder",
            "base image rust:latest uses :latest",
        ),
        (
            "build context in the runtime image",
            "EXPOSE 8080\n",
            "EXPOSE 8080\nCOPY . /src\n",
            "from the build context",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, (case, from, to, want)) in cases.iter().enumerate() {
        assert!(
            original.contains(from),
            "{case}: {from:?} is in the Dockerfile"
        );
        let file = tmp.path().join(format!("Dockerfile.{i}"));
        std::fs::write(&file, original.replacen(from, to, 1)).unwrap();
        let (code, out) = validate(&[Path::new("--dockerfile"), &file]);
        if code != 1 || !out.contains(want) {
            failures.push(format!(
                "{case}: wanted exit 1 with {want:?}, got {code}:\n{out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
