#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests and the project's Dockerfiles.

Manifests (multi-document YAML, e.g. `kubectl kustomize k8s/overlays/dev`;
several files are checked together, as one cluster state; - is stdin):

    k8s_validate.py [--k8s-version 1.32.0] [--schemas DIR] FILE...

- core kinds (core, apps, batch, policy, networking, autoscaling, rbac):
  kubernetes-validate's strict schemas (unknown fields fail);
- custom resources (PrometheusRule, ServiceMonitor, PodMonitor, ScaledObject,
  OpenTelemetryCollector, Application): their CRD schemas in
  ../shared/schemas, with the check-jsonschema binary ($CHECK_JSONSCHEMA);
  Grafana dashboards in ConfigMaps labelled grafana_dashboard: the dashboard
  schema;
- any other kind fails;
- then the project's policies: hardened security contexts, resources, pinned
  images, probes, no service account tokens, a grace period covering the
  app's shutdown delay and drain timeout, a default-deny NetworkPolicy in
  every namespace that runs pods, selectors and references that resolve,
  and autoscaled Deployments without a replicas field.

Dockerfiles:

    k8s_validate.py --dockerfile FILE...

Prints one line per violation (`ERROR kind/name: what; how to fix`) and
exits 1 if there is any, 2 on bad usage or a missing tool, 0 otherwise.
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# The schemas sit beside the checkout (see ../shared/schemas/SOURCES.md).
DEFAULT_SCHEMAS = os.path.join(ROOT, "..", "shared", "schemas")
DEFAULT_K8S_VERSION = "1.32.0"

# API groups whose kinds kubernetes-validate knows.
CORE_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "networking.k8s.io",
    "autoscaling",
    "rbac.authorization.k8s.io",
}

# Custom resources: (apiVersion, kind) -> schema under --schemas.
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): "crds/monitoring.coreos.com/prometheusrule_v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "crds/monitoring.coreos.com/servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "crds/monitoring.coreos.com/podmonitor_v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "crds/keda.sh/scaledobject_v1alpha1.json",
    ("opentelemetry.io/v1beta1", "OpenTelemetryCollector"): "crds/opentelemetry.io/opentelemetrycollector_v1beta1.json",
    ("argoproj.io/v1alpha1", "Application"): "crds/argoproj.io/application_v1alpha1.json",
}
DASHBOARD_SCHEMA = "grafana/dashboard.jsonschema.json"

# Python's regex engine refuses this inline flag inside a pattern; the
# rewrite means the same (SOURCES.md).
PATTERN_REWRITES = {
    "crds/monitoring.coreos.com/prometheusrule_v1.json": [
        ("^(?i)(abort|warn)?$", "^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$"),
    ],
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
SERVING_KINDS = {"Deployment", "StatefulSet"}

# target-app's defaults for the shutdown flags (target-app --help).
APP_SHUTDOWN_DELAY = 0.0
APP_DRAIN_TIMEOUT = 20.0
DEFAULT_GRACE = 30


class Findings:
    def __init__(self):
        self.errors = []

    def add(self, where, what, fix):
        self.errors.append(f"ERROR {where}: {what}; {fix}")


def group_of(api_version):
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def name_of(doc):
    return ((doc.get("metadata") or {}).get("name")) or "?"


def ns_of(doc):
    return (doc.get("metadata") or {}).get("namespace") or ""


def ref(doc):
    ns = ns_of(doc)
    where = f"{doc.get('kind', '?')}/{name_of(doc)}"
    return f"{where} (namespace {ns})" if ns else where


def ns_label(ns):
    return f"namespace {ns}" if ns else "the namespace-less render"


# ---------------------------------------------------------------- loading


def load_documents(paths):
    import yaml

    docs = []
    for path in paths:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        except OSError as e:
            raise SystemExit(f"k8s_validate: cannot read {path}: {e}")
        try:
            loaded = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            raise SystemExit(f"k8s_validate: {path}: not YAML: {e}")
        for i, doc in enumerate(loaded):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise SystemExit(f"k8s_validate: {path}: document {i + 1} is not a mapping")
            docs.append(doc)
    return docs


# ---------------------------------------------------------------- schemas


def check_jsonschema_binary():
    cj = os.environ.get("CHECK_JSONSCHEMA")
    if cj:
        return cj
    found = shutil.which("check-jsonschema")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
    if os.path.exists(beside):
        return beside
    raise SystemExit(
        "k8s_validate: check-jsonschema is not installed: run scripts/test.sh (it makes .venv) "
        "or set CHECK_JSONSCHEMA"
    )


# Schema path as used -> its name under --schemas, for messages.
SCHEMA_NAMES = {}


def schema_file(schemas, rel, tmp):
    src = os.path.join(schemas, rel)
    if not os.path.exists(src):
        raise SystemExit(f"k8s_validate: {src}: no such schema (../shared/schemas sits beside the checkout)")
    SCHEMA_NAMES[src] = rel
    rewrites = PATTERN_REWRITES.get(rel)
    if not rewrites:
        return src
    text = open(src, encoding="utf-8").read()
    for old, new in rewrites:
        text = text.replace(old, new)
    dst = os.path.join(tmp, os.path.basename(rel))
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)
    SCHEMA_NAMES[dst] = rel
    return dst


def validate_core(doc, version, out):
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(top level)"
        out.add(
            ref(doc),
            f"does not match the Kubernetes {e.version} schema at {path}: {e.message}",
            "fix the field (unknown fields are errors: check its spelling and indentation)",
        )
    except kubernetes_validate.SchemaNotFoundError:
        out.add(
            ref(doc),
            f"unknown kind {doc.get('kind')} in {doc.get('apiVersion')} for Kubernetes {version}",
            "use an apiVersion/kind that Kubernetes serves",
        )
    except kubernetes_validate.VersionNotSupportedError:
        raise SystemExit(f"k8s_validate: kubernetes-validate does not know Kubernetes {version}")


def run_check_jsonschema(jobs, out):
    """jobs: (schema path, [(instance file, what it is)]); runs them in parallel."""
    cj = check_jsonschema_binary()
    procs = []
    for schema, instances in jobs:
        args = [cj, "--schemafile", schema] + [path for path, _ in instances]
        try:
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as e:
            raise SystemExit(f"k8s_validate: cannot run {cj}: {e} (run scripts/test.sh or set CHECK_JSONSCHEMA)")
        procs.append((p, schema, instances))
    for p, schema, instances in procs:
        output, _ = p.communicate()
        if p.returncode == 0:
            continue
        by_path = dict(instances)
        matched = False
        for line in output.splitlines():
            for path, what in by_path.items():
                if path in line:
                    matched = True
                    detail = line.strip().replace(path + "::", "").replace(path, "")
                    out.add(
                        what,
                        f"does not match its schema ({SCHEMA_NAMES.get(schema, schema)}): {detail.strip(': ')}",
                        "fix the field the schema names",
                    )
        if not matched:
            out.add(
                ", ".join(what for _, what in instances),
                f"check-jsonschema failed: {output.strip()}",
                "see the message above",
            )


def validate_schemas(docs, version, schemas, out):
    with tempfile.TemporaryDirectory(prefix="k8s-validate-") as tmp:
        jobs = {}
        for i, doc in enumerate(docs):
            api, kind = doc.get("apiVersion"), doc.get("kind")
            if not isinstance(api, str) or not isinstance(kind, str):
                out.add(ref(doc), "has no apiVersion or kind", "every object needs both")
                continue
            if not isinstance(doc.get("metadata"), dict) or not name_of(doc) or name_of(doc) == "?":
                out.add(ref(doc), "has no metadata.name", "name the object")
            if (api, kind) in CRD_SCHEMAS:
                path = os.path.join(tmp, f"{i:03d}-{kind}-{name_of(doc)}.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(doc, f)
                schema = schema_file(schemas, CRD_SCHEMAS[(api, kind)], tmp)
                jobs.setdefault(schema, []).append((path, ref(doc)))
            elif group_of(api) in CORE_GROUPS:
                validate_core(doc, version, out)
                if kind == "ConfigMap" and ((doc.get("metadata") or {}).get("labels") or {}).get("grafana_dashboard"):
                    schema = schema_file(schemas, DASHBOARD_SCHEMA, tmp)
                    for key, value in sorted((doc.get("data") or {}).items()):
                        if not key.endswith(".json"):
                            continue
                        what = f"{ref(doc)} key {key}"
                        try:
                            dashboard = json.loads(value)
                        except (TypeError, ValueError) as e:
                            out.add(what, f"is not JSON: {e}", "regenerate it with `slo dashboard`")
                            continue
                        path = os.path.join(tmp, f"{i:03d}-dashboard-{key}")
                        with open(path, "w", encoding="utf-8") as f:
                            json.dump(dashboard, f)
                        jobs.setdefault(schema, []).append((path, what))
            else:
                out.add(
                    ref(doc),
                    f"unknown kind {kind} ({api}): neither a Kubernetes kind nor a custom resource with a known schema",
                    "add its CRD schema to CRD_SCHEMAS in scripts/k8s_validate.py, or remove the object",
                )
        run_check_jsonschema(sorted(jobs.items()), out)


# ---------------------------------------------------------------- policies


def pod_template(doc):
    """(pod spec, pod labels) of a workload, or (None, None)."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind not in WORKLOAD_KINDS or group_of(doc.get("apiVersion", "")) not in CORE_GROUPS:
        return None, None
    if kind == "Pod":
        return spec, (doc.get("metadata") or {}).get("labels") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return template.get("spec") or {}, (template.get("metadata") or {}).get("labels") or {}


def image_problem(image):
    if not image:
        return "has no image"
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image} has no tag (that means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses :latest"
    return None


def check_container(where, c, pod_sc, out):
    sc = c.get("securityContext") or {}
    name = f"{where}: container {c.get('name', '?')}"
    run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
    if run_as_non_root is not True:
        out.add(name, "runAsNonRoot is not true", "set securityContext.runAsNonRoot: true (pod or container)")
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if user == 0:
        out.add(name, "runs as user 0", "set runAsUser to a non-zero numeric user such as 65532")
    if sc.get("readOnlyRootFilesystem") is not True:
        out.add(
            name,
            "readOnlyRootFilesystem is not true",
            "set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where a path must be writable)",
        )
    if sc.get("allowPrivilegeEscalation") is not False:
        out.add(name, "allowPrivilegeEscalation is not false", "set securityContext.allowPrivilegeEscalation: false")
    if sc.get("privileged") is True:
        out.add(name, "is privileged", "remove securityContext.privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.add(name, "does not drop all capabilities", "set securityContext.capabilities.drop: [ALL]")
    added = [a for a in caps.get("add") or [] if a != "NET_BIND_SERVICE"]
    if added:
        out.add(name, f"adds capabilities {added}", "remove capabilities.add (only NET_BIND_SERVICE is allowed)")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out.add(name, "has no seccomp profile", "set securityContext.seccompProfile.type: RuntimeDefault (pod or container)")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        missing = [r for r in ("cpu", "memory") if r not in (res.get(part) or {})]
        if missing:
            out.add(name, f"has no {part} for {', '.join(missing)}", f"set resources.{part}.cpu and resources.{part}.memory")
    problem = image_problem(c.get("image"))
    if problem:
        out.add(name, problem, "pin a version tag or a digest")
    check_env_references(name, c, out)


VAR_REF = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def check_env_references(name, c, out):
    """$(VAR) expands only to variables defined earlier in env (in an env
    value) or anywhere in env (in command and args); otherwise Kubernetes
    leaves the text as it is."""
    env = [e for e in c.get("env") or [] if isinstance(e, dict)]
    defined = set()
    for e in env:
        for var in VAR_REF.findall(str(e.get("value", ""))):
            if var not in defined:
                out.add(name, f"env {e.get('name')} refers to $({var}) before it is defined", f"define {var} earlier in env")
        defined.add(e.get("name"))
    for field in ("command", "args"):
        for arg in c.get(field) or []:
            for var in VAR_REF.findall(str(arg)):
                if var not in defined:
                    out.add(name, f"{field} refer to $({var}), which env does not define", f"add {var} to env (Kubernetes expands only those)")


DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "secs": 1, "m": 60,
         "min": 60, "mins": 60, "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400}


def parse_duration(text):
    text = text.strip()
    pos, total = 0, 0.0
    while pos < len(text):
        m = DURATION.match(text, pos)
        if not m:
            return None
        total += float(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return total if text else None


def flag_value(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None


def check_grace(doc, spec, out):
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    for c in spec.get("containers") or []:
        args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        delay = flag_value(args, "--shutdown-delay")
        drain = flag_value(args, "--drain-timeout")
        if delay is None and drain is None:
            continue
        values = []
        for flag, text, default in (("--shutdown-delay", delay, APP_SHUTDOWN_DELAY), ("--drain-timeout", drain, APP_DRAIN_TIMEOUT)):
            if text is None:
                values.append(default)
                continue
            seconds = parse_duration(text)
            if seconds is None:
                out.add(f"{ref(doc)}: container {c.get('name', '?')}", f"{flag} {text!r} is not a duration", "write it like 5s or 1m30s")
                return
            values.append(seconds)
        needed = sum(values)
        if grace < needed:
            out.add(
                ref(doc),
                f"terminationGracePeriodSeconds {grace} is shorter than --shutdown-delay + --drain-timeout "
                f"of container {c.get('name', '?')} ({values[0]:g}s + {values[1]:g}s)",
                f"set terminationGracePeriodSeconds to at least {int(needed + 0.999)} plus a margin, "
                "or the kubelet kills requests still draining",
            )


def is_default_deny(doc):
    if doc.get("kind") != "NetworkPolicy":
        return False
    spec = doc.get("spec") or {}
    selector = spec.get("podSelector")
    if selector is None or selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    types = set(spec.get("policyTypes") or [])
    return {"Ingress", "Egress"} <= types and not spec.get("ingress") and not spec.get("egress")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_policies(docs, out):
    templates = []  # (doc, spec, labels)
    by_kind = {}
    seen = {}
    for doc in docs:
        kind = doc.get("kind")
        key = (group_of(doc.get("apiVersion", "")), kind, ns_of(doc), name_of(doc))
        if key in seen:
            out.add(ref(doc), "appears twice", "keep one definition")
        seen[key] = doc
        by_kind.setdefault(kind, []).append(doc)
        spec, labels = pod_template(doc)
        if spec is not None:
            templates.append((doc, spec, labels))

    def named(kind, ns, name):
        return [d for d in by_kind.get(kind, []) if ns_of(d) == ns and name_of(d) == name]

    # Workloads: security, resources, images, tokens, probes, grace.
    namespaces_with_pods = set()
    for doc, spec, labels in templates:
        where = ref(doc)
        namespaces_with_pods.add(ns_of(doc))
        pod_sc = spec.get("securityContext") or {}
        if spec.get("automountServiceAccountToken") is not False:
            out.add(where, "mounts a service account token", "set automountServiceAccountToken: false in the pod spec")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(field):
                out.add(where, f"uses {field}", f"remove {field}")
        containers = spec.get("containers") or []
        for c in (spec.get("initContainers") or []) + containers:
            check_container(where, c, pod_sc, out)
        if doc.get("kind") in SERVING_KINDS:
            for c in containers:
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    if not c.get(probe):
                        out.add(
                            f"{where}: container {c.get('name', '?')}",
                            f"has no {probe}",
                            "add it (the app serves /health for liveness and startup, /ready for readiness)",
                        )
        check_grace(doc, spec, out)
        for v in spec.get("volumes") or []:
            if "hostPath" in v:
                out.add(where, f"volume {v.get('name')} is a hostPath", "use an emptyDir, ConfigMap or PersistentVolumeClaim")
            cm = v.get("configMap")
            if cm and not cm.get("optional") and not named("ConfigMap", ns_of(doc), cm.get("name")):
                out.add(
                    where,
                    f"volume {v.get('name')} refers to ConfigMap {cm.get('name')}, which is not in the manifests",
                    "add the ConfigMap, or fix the name (a generated ConfigMap with a hash suffix is only renamed within its own kustomization)",
                )
            pvc = v.get("persistentVolumeClaim")
            if pvc and not named("PersistentVolumeClaim", ns_of(doc), pvc.get("claimName")):
                out.add(where, f"volume {v.get('name')} refers to PersistentVolumeClaim {pvc.get('claimName')}, which is not in the manifests", "add the claim or fix the name")
        sa = spec.get("serviceAccountName")
        if sa and sa != "default" and not named("ServiceAccount", ns_of(doc), sa):
            out.add(where, f"runs as ServiceAccount {sa}, which is not in the manifests", "add the ServiceAccount or fix serviceAccountName")

    # Collectors the operator runs: the same hardening, in its own fields.
    for doc in by_kind.get("OpenTelemetryCollector", []):
        spec = doc.get("spec") or {}
        namespaces_with_pods.add(ns_of(doc))
        check_container(
            ref(doc),
            {"name": "otc-container", "securityContext": spec.get("securityContext"),
             "resources": spec.get("resources"), "image": spec.get("image")},
            spec.get("podSecurityContext") or {},
            out,
        )

    # Jobs: a failed load test fails; finished Jobs go away; none runs forever.
    for doc in by_kind.get("Job", []):
        spec = doc.get("spec") or {}
        if spec.get("backoffLimit") != 0 and spec.get("backoffLimitPerIndex") != 0:
            out.add(ref(doc), "retries failed pods", "set backoffLimit: 0 (or backoffLimitPerIndex: 0 for an Indexed Job): a failed load test must not be retried silently")
        for field in ("ttlSecondsAfterFinished", "activeDeadlineSeconds"):
            if field not in spec:
                out.add(ref(doc), f"has no {field}", f"set spec.{field}")

    # Service accounts carry no token.
    for doc in by_kind.get("ServiceAccount", []):
        if doc.get("automountServiceAccountToken") is not False:
            out.add(ref(doc), "automounts its token", "set automountServiceAccountToken: false")

    # Network policies select pods that exist: each policy's own pods, and
    # its same-namespace peers. The operator's collector pods are labelled
    # as the operator does it (`<name>-collector`, unless the resource sets
    # app.kubernetes.io/name itself).
    pods = [(ns_of(d), labels) for d, _, labels in templates]
    for doc in by_kind.get("OpenTelemetryCollector", []):
        labels = dict((doc.get("metadata") or {}).get("labels") or {})
        labels.setdefault("app.kubernetes.io/name", f"{name_of(doc)}-collector")
        labels["app.kubernetes.io/component"] = "opentelemetry-collector"
        labels["app.kubernetes.io/part-of"] = "opentelemetry"
        labels["app.kubernetes.io/managed-by"] = "opentelemetry-operator"
        pods.append((ns_of(doc), labels))

    def any_pod(ns, selector):
        if selector.get("matchExpressions"):
            return True
        return any(n == ns and selects(selector.get("matchLabels"), l) for n, l in pods)

    for doc in by_kind.get("NetworkPolicy", []):
        spec = doc.get("spec") or {}
        own = spec.get("podSelector") or {}
        if (own.get("matchLabels") or own.get("matchExpressions")) and not any_pod(ns_of(doc), own):
            out.add(ref(doc), f"podSelector {own} selects no pods", "fix the labels (collector pods are <name>-collector)")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction) or []:
                for peer in rule.get(peers_key) or []:
                    selector = peer.get("podSelector")
                    if "namespaceSelector" in peer or "ipBlock" in peer or not selector:
                        continue
                    if not any_pod(ns_of(doc), selector):
                        out.add(
                            ref(doc),
                            f"{direction} peer {selector} selects no pods in {ns_label(ns_of(doc))}",
                            "fix the labels (collector pods are <name>-collector)",
                        )

    # Default deny in every namespace that runs pods.
    for ns in sorted(namespaces_with_pods):
        if not any(is_default_deny(d) and ns_of(d) == ns for d in by_kind.get("NetworkPolicy", [])):
            out.add(
                ns_label(ns),
                "has no default-deny NetworkPolicy",
                "add one with podSelector: {}, policyTypes [Ingress, Egress] and no rules (k8s/base/networkpolicy-default-deny.yaml)",
            )

    # Selectors find pods.
    def matching(ns, selector):
        return [(d, s, l) for d, s, l in templates if ns_of(d) == ns and selects(selector, l)]

    for doc in by_kind.get("Service", []):
        spec = doc.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            continue
        pods = matching(ns_of(doc), selector)
        if not pods:
            out.add(ref(doc), f"selector {selector} matches no pod template", "fix the selector or the pod labels")
            continue
        names = {p.get("name") for _, s, _ in pods for c in s.get("containers") or [] for p in c.get("ports") or []}
        for port in spec.get("ports") or []:
            target = port.get("targetPort")
            if isinstance(target, str) and target not in names:
                out.add(ref(doc), f"targetPort {target} is no container port of the selected pods", "name the container port or fix targetPort")
    for doc in by_kind.get("PodDisruptionBudget", []):
        selector = ((doc.get("spec") or {}).get("selector")) or {}
        if selector.get("matchExpressions"):
            continue
        if not matching(ns_of(doc), selector.get("matchLabels")):
            out.add(ref(doc), f"selector {selector} matches no pod template", "fix the selector")

    # Autoscalers: an existing target, one autoscaler each, and no replicas
    # field that every apply would reset.
    targets = {}
    for doc in by_kind.get("HorizontalPodAutoscaler", []) + by_kind.get("ScaledObject", []):
        target = ((doc.get("spec") or {}).get("scaleTargetRef")) or {}
        kind = target.get("kind", "Deployment")
        name = target.get("name")
        found = named(kind, ns_of(doc), name)
        if not found:
            out.add(ref(doc), f"scales {kind} {name}, which is not in the manifests", "fix scaleTargetRef")
            continue
        targets.setdefault((kind, ns_of(doc), name), []).append(doc)
        for d in found:
            if "replicas" in (d.get("spec") or {}):
                out.add(
                    ref(d),
                    f"sets spec.replicas although {ref(doc)} scales it",
                    "remove replicas: the autoscaler owns it, and every apply would reset it",
                )
    for (kind, ns, name), scalers in sorted(targets.items()):
        if len(scalers) > 1:
            out.add(
                f"{kind}/{name}" + (f" (namespace {ns})" if ns else ""),
                f"is scaled by {len(scalers)} autoscalers ({', '.join(ref(s) for s in scalers)})",
                "keep one (the overlays use either the hpa or the keda component)",
            )


# ---------------------------------------------------------------- Dockerfiles


def stage_image(value):
    words = [w for w in value.split() if not w.startswith("--")]
    return (words[0] if words else ""), (words[2] if len(words) >= 3 and words[1].lower() == "as" else None)


def check_dockerfile(path, out):
    from dockerfile_parse import DockerfileParser

    try:
        with open(path, "rb") as f:
            parser = DockerfileParser(fileobj=f)
            structure = parser.structure
    except OSError as e:
        raise SystemExit(f"k8s_validate: cannot read {path}: {e}")
    shown = os.path.relpath(path, ROOT) if os.path.abspath(path).startswith(ROOT + os.sep) else path
    stages = []  # [{image, alias, line, instructions}]
    for ins in structure:
        if ins["instruction"] == "FROM":
            image, alias = stage_image(ins["value"])
            stages.append({"image": image, "alias": alias, "line": ins["startline"] + 1, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append(ins)

    def at(line):
        return f"{shown}:{line}"

    if len(stages) < 2:
        out.add(shown, f"has {len(stages)} stage(s)", "build in one stage and copy only the binary into a small runtime stage")
    aliases = set()
    for st in stages:
        if st["image"] not in aliases:
            problem = image_problem(st["image"])
            if problem:
                out.add(at(st["line"]), f"base {problem}", "pin the base image's tag")
        if st["alias"]:
            aliases.add(st["alias"])
    for ins in structure:
        line = at(ins["startline"] + 1)
        if ins["instruction"] == "ADD" and re.search(r"(https?|git)://|git@", ins["value"]):
            out.add(line, "ADD fetches a URL", "download in a RUN step with a checksum, or COPY a vendored file")
    builds = [i for i in structure if i["instruction"] == "RUN" and "cargo build" in i["value"]]
    if not builds:
        out.add(shown, "has no `cargo build` step", "build with cargo build --release --locked -p CRATE")
    for ins in builds:
        for flag in ("--release", "--locked"):
            if not re.search(re.escape(flag) + r"(\s|$)", ins["value"]):
                out.add(at(ins["startline"] + 1), f"cargo build without {flag}", f"add {flag} (reproducible, optimised builds from Cargo.lock)")
    if not stages:
        return
    final = stages[-1]
    users = [i for i in final["instructions"] if i["instruction"] == "USER"]
    if users:
        user = users[-1]["value"].strip()
        uid, _, gid = user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            out.add(at(users[-1]["startline"] + 1), f"USER {user} is not numeric", "use a numeric USER such as 65532:65532 (Kubernetes' runAsNonRoot can only check numbers)")
        elif int(uid) == 0:
            out.add(at(users[-1]["startline"] + 1), "runs as root", "use USER 65532:65532")
    elif not (final["image"].startswith("gcr.io/distroless/") and final["image"].endswith(":nonroot")):
        out.add(at(final["line"]), "the final stage runs as root", "add USER 65532:65532 or use a distroless :nonroot base")
    entrypoints = [i for i in final["instructions"] if i["instruction"] == "ENTRYPOINT"]
    if not entrypoints:
        out.add(at(final["line"]), "the final stage has no ENTRYPOINT", 'add ENTRYPOINT ["/usr/local/bin/BINARY"]')
    else:
        value = entrypoints[-1]["value"].strip()
        try:
            parsed = json.loads(value)
            ok = isinstance(parsed, list) and parsed and all(isinstance(p, str) for p in parsed)
        except ValueError:
            ok = False
        if not ok:
            out.add(at(entrypoints[-1]["startline"] + 1), "ENTRYPOINT is in shell form", 'use the exec form, ENTRYPOINT ["/usr/local/bin/BINARY"], so signals reach the program')
    for ins in final["instructions"]:
        if ins["instruction"] in ("COPY", "ADD") and "--from=" not in ins["value"]:
            out.add(at(ins["startline"] + 1), f"the final stage takes {ins['instruction']} {ins['value']} from the build context", "copy only the binary from the build stage (COPY --from=builder ...)")


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(
        description="Validate rendered Kubernetes manifests, or Dockerfiles (--dockerfile).",
        epilog="example: kubectl kustomize k8s/overlays/dev | scripts/k8s_validate.py -",
    )
    ap.add_argument("files", nargs="+", help="multi-document YAML files (- for stdin), or Dockerfiles with --dockerfile")
    ap.add_argument("--dockerfile", action="store_true", help="the files are Dockerfiles")
    ap.add_argument("--k8s-version", default=DEFAULT_K8S_VERSION, help=f"Kubernetes version of the schemas (default {DEFAULT_K8S_VERSION})")
    ap.add_argument("--schemas", default=DEFAULT_SCHEMAS, help="the schema folder (default ../shared/schemas from the repository root)")
    a = ap.parse_args()

    out = Findings()
    if a.dockerfile:
        try:
            import dockerfile_parse  # noqa: F401
        except ImportError:
            raise SystemExit("k8s_validate: dockerfile-parse is not installed: run scripts/test.sh (it makes .venv)")
        for path in a.files:
            check_dockerfile(path, out)
        checked = f"{len(a.files)} Dockerfile(s)"
    else:
        try:
            import kubernetes_validate  # noqa: F401
            import yaml  # noqa: F401
        except ImportError:
            raise SystemExit("k8s_validate: kubernetes-validate is not installed: run scripts/test.sh (it makes .venv)")
        docs = load_documents(a.files)
        if not docs:
            raise SystemExit("k8s_validate: no documents in " + ", ".join(a.files))
        validate_schemas(copy.deepcopy(docs), a.k8s_version, a.schemas, out)
        check_policies(docs, out)
        checked = f"{len(docs)} object(s) against Kubernetes {a.k8s_version}"
    for e in out.errors:
        print(e)
    if out.errors:
        print(f"{len(out.errors)} problem(s) in {checked}", file=sys.stderr)
        return 1
    print(f"ok: {checked}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
