//! Grafana dashboards for a service's SLOs.
//!
//! One dashboard per service: a traffic row (request rate by route and
//! status, error ratio, latency percentiles with exemplars) read from the
//! OpenTelemetry HTTP server histogram or, for a spec that does not use it,
//! from its SLIs' own selectors ([`crate::dashboard::traffic`]), then one row per SLO
//! read from the recording
//! rules of [`crate::rules`] (SLI against objective, budget remaining over
//! the period, burn rate per alert window with the alert thresholds drawn as
//! lines, firing alerts). Every query goes through the `${datasource}`
//! variable and every rate uses `$__rate_interval`.
//!
//! [`lint`] checks a dashboard the way Grafana's dashboard-linter does (and
//! a little more); [`queries`] lists every PromQL in it, so tests can parse
//! and run them.

pub mod traffic;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::model::{Service, Slo};
use crate::promql::{self, with_matcher};
use crate::rules::{RulesError, fmt_num, slo_rules};
use crate::windows::{Severity, alert_windows, promql_duration};
use traffic::Traffic;

/// The histogram of the OpenTelemetry HTTP server semantic conventions.
pub const HTTP_METRIC: &str = "http_server_request_duration_seconds";

/// What the traffic row reads ([`crate::dashboard::traffic::Traffic::resolve`]); the
/// default follows the spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    /// Label matchers of the traffic row's series, e.g. `{job="target-app"}`:
    /// of the HTTP histogram (default `{job="SERVICE"}`), or added to each
    /// of the SLIs' own selectors when the row reads them (default none).
    pub selector: Option<String>,
    /// The request-duration histogram (without `_bucket`) of an HTTP row;
    /// set, the row reads it whatever the SLIs read.
    pub metric: Option<String>,
    /// The label of a request's route (default: the OpenTelemetry
    /// `http_route`, or a route label the SLIs' selectors name).
    pub route_label: Option<String>,
    /// The label of a response's status (default: the OpenTelemetry
    /// `http_response_status_code`, or a status label the SLIs' selectors name).
    pub status_label: Option<String>,
}

impl Options {
    /// The options of `slo dashboard SPEC` without flags: the row follows
    /// the spec.
    pub fn for_service(_service: &Service) -> Self {
        Self::default()
    }
}

/// Errors building a dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(
        "selector {selector:?} is not a set of label matchers: {message} (e.g. '{{job=\"my-service\"}}')"
    )]
    Selector { selector: String, message: String },
    #[error("metric {metric:?} is not a metric name (e.g. {HTTP_METRIC})")]
    Metric { metric: String },
    #[error(
        "{what} {label:?} is not a label name (letters, digits and _, not starting with __; e.g. endpoint)"
    )]
    Label { what: &'static str, label: String },
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("generated dashboard fails its own checks: {0}")]
    Lint(String),
}

/// The datasource reference every panel and query uses.
pub(crate) fn ds() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// The dashboard's uid: `slo-SERVICE`, within Grafana's 40 characters.
pub fn uid(service: &str) -> String {
    let mut u = format!("slo-{service}");
    u.truncate(40);
    u
}

/// Places panels on Grafana's 24-column grid.
pub(crate) struct Grid {
    next_id: u64,
    y: u64,
    pub(crate) panels: Vec<Value>,
}

impl Grid {
    /// An empty grid; the first panel gets id 1.
    pub(crate) fn new() -> Self {
        Self {
            next_id: 0,
            y: 0,
            panels: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, title: &str) {
        let id = self.id();
        self.panels.push(json!({
            "type": "row",
            "id": id,
            "title": title,
            "collapsed": false,
            "panels": [],
            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1},
        }));
        self.y += 1;
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a panel at (x, y + dy); rows advance with [`Grid::advance`].
    pub(crate) fn put(&mut self, mut panel: Value, x: u64, dy: u64, w: u64, h: u64) {
        panel["id"] = json!(self.id());
        panel["gridPos"] = json!({"x": x, "y": self.y + dy, "w": w, "h": h});
        self.panels.push(panel);
    }

    pub(crate) fn advance(&mut self, h: u64) {
        self.y += h;
    }
}

/// A Prometheus query target.
pub(crate) fn target(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "datasource": ds(),
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": true,
        "refId": ref_id,
    })
}

fn ref_id(i: usize) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}

pub(crate) fn targets(list: &[(&str, String)]) -> Vec<Value> {
    list.iter()
        .enumerate()
        .map(|(i, (legend, expr))| target(&ref_id(i), expr, legend))
        .collect()
}

pub(crate) fn steps(list: &[(Option<f64>, &str)]) -> Value {
    json!({
        "mode": "absolute",
        "steps": list.iter().map(|(v, c)| json!({"value": v, "color": c})).collect::<Vec<_>>(),
    })
}

/// A time series panel.
pub(crate) fn timeseries(title: &str, description: &str, unit: &str, targets: Vec<Value>) -> Value {
    json!({
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": ds(),
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "palette-classic"},
                "thresholds": steps(&[(None, "green")]),
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "spanNulls": false,
                    "thresholdsStyle": {"mode": "off"},
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    })
}

/// A single-value panel of the last value.
pub(crate) fn stat(
    title: &str,
    description: &str,
    unit: &str,
    expr: String,
    thresholds: Value,
) -> Value {
    json!({
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": ds(),
        "targets": [target("A", &expr, "")],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "decimals": 3,
                "color": {"mode": "thresholds"},
                "thresholds": thresholds,
                "noValue": "no traffic",
            },
            "overrides": [],
        },
        "options": {
            "graphMode": "area",
            "colorMode": "value",
            "justifyMode": "auto",
            "textMode": "auto",
            "wideLayout": true,
            "showPercentChange": false,
            "percentChangeColorMode": "standard",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
        },
    })
}

/// Checks the options against `service` (what [`dashboard`] refuses).
pub(crate) fn check_options(service: &Service, opts: &Options) -> Result<Traffic, DashboardError> {
    Traffic::resolve(service, opts)
}

/// One SLO's row.
fn slo_row(grid: &mut Grid, service: &Service, slo: &Slo) -> Result<(), DashboardError> {
    let rules = slo_rules(service, slo)?;
    let sel = format!("{{slo=\"{}\", slo_service=\"{}\"}}", slo.name, service.name);
    let period = promql_duration(slo.period);
    let objective = fmt_num(slo.objective * 100.0);
    grid.row(&format!("SLO {}: {objective}% over {period}", slo.name));
    let about = slo
        .description
        .as_deref()
        .map(|d| format!(" {d}"))
        .unwrap_or_default();

    let objective_steps = steps(&[(None, "red"), (Some(slo.objective), "green")]);
    grid.put(
        stat(
            &format!("SLI over {period}"),
            &format!(
                "{} in the last {period} (slo:sli_error:ratio_rate{period}). Green at or above the objective of {objective}%.{about}",
                slo.timeslices.map_or_else(
                    || "Good events over all events".to_owned(),
                    |t| format!(
                        "Good slices over the slices with traffic ({})",
                        crate::timeslices::describe(&t)
                    )
                )
            ),
            "percentunit",
            format!("1 - slo:sli_error:ratio_rate{period}{sel}"),
            objective_steps,
        ),
        0,
        0,
        4,
        4,
    );
    grid.put(
        stat(
            "Error budget remaining",
            &format!(
                "Share of the {period} error budget not yet spent (slo:error_budget_remaining:ratio). Below 0 the SLO is broken for this period."
            ),
            "percentunit",
            format!("slo:error_budget_remaining:ratio{sel}"),
            steps(&[(None, "red"), (Some(0.0), "orange"), (Some(0.25), "green")]),
        ),
        0,
        4,
        4,
        4,
    );

    let first_window = promql_duration(
        rules
            .burns
            .first()
            .map_or_else(|| alert_windows(slo.period)[0], |b| b.condition.long),
    );
    let mut sli = timeseries(
        "SLI against objective",
        &format!(
            "The SLI over the whole period ({period}) and over the {first_window} window. The dashed line is the objective ({objective}%): below it, red."
        ),
        "percentunit",
        targets(&[
            (
                &format!("SLI ({period})"),
                format!("1 - slo:sli_error:ratio_rate{period}{sel}"),
            ),
            (
                &format!("SLI ({first_window})"),
                format!("1 - slo:sli_error:ratio_rate{first_window}{sel}"),
            ),
        ]),
    );
    sli["fieldConfig"]["defaults"]["decimals"] = json!(3);
    sli["fieldConfig"]["defaults"]["thresholds"] =
        steps(&[(None, "red"), (Some(slo.objective), "green")]);
    sli["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = json!({"mode": "dashed"});
    grid.put(sli, 4, 0, 10, 8);

    let mut budget = timeseries(
        "Error budget remaining over the period",
        &format!(
            "1 - (error ratio over {period}) / (1 - objective): 100% is untouched, 0 is spent, below 0 the SLO is broken. Evaluated every {} by the period rule group.",
            promql_duration(rules.period_interval)
        ),
        "percentunit",
        targets(&[(
            "budget remaining",
            format!("slo:error_budget_remaining:ratio{sel}"),
        )]),
    );
    budget["fieldConfig"]["defaults"]["thresholds"] =
        steps(&[(None, "red"), (Some(0.0), "orange"), (Some(0.25), "green")]);
    budget["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = json!({"mode": "dashed"});
    grid.put(budget, 14, 0, 10, 8);
    grid.advance(8);

    // Burn rate per window, with each enabled alert's factor as a line.
    let windows = alert_windows(slo.period);
    let burn_targets: Vec<(String, String)> = windows
        .iter()
        .map(|w| {
            let d = promql_duration(*w);
            (
                d.clone(),
                format!("slo:sli_error:ratio_rate{d}{sel}\n/\nslo:error_budget:ratio{sel}"),
            )
        })
        .collect();
    let refs: Vec<(&str, String)> = burn_targets
        .iter()
        .map(|(l, e)| (l.as_str(), e.clone()))
        .collect();
    let mut factors: BTreeMap<String, (f64, Severity)> = BTreeMap::new();
    for b in &rules.burns {
        let f = b.condition.factor;
        let e = factors
            .entry(fmt_num(f))
            .or_insert((f, b.condition.severity));
        if b.condition.severity == Severity::Page {
            e.1 = Severity::Page;
        }
    }
    let mut lines: Vec<(f64, Severity)> = factors.into_values().collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pairs: Vec<String> = rules
        .burns
        .iter()
        .map(|b| {
            format!(
                "{} above {}x over {} and {}",
                b.condition.severity.as_str(),
                fmt_num(b.condition.factor),
                promql_duration(b.condition.long),
                promql_duration(b.condition.short)
            )
        })
        .collect();
    let mut burn = timeseries(
        "Burn rate per alert window",
        &format!(
            "How fast the error budget burns over each alert window: 1x spends exactly the budget in {period}. Dashed lines are the alert thresholds: {}.",
            if pairs.is_empty() {
                "no burn alerts are enabled".to_owned()
            } else {
                pairs.join("; ")
            }
        ),
        "suffix:x",
        targets(&refs),
    );
    let mut th: Vec<(Option<f64>, &str)> = vec![(None, "green")];
    for (f, sev) in &lines {
        th.push((
            Some(*f),
            match sev {
                Severity::Page => "red",
                Severity::Ticket => "orange",
            },
        ));
    }
    burn["fieldConfig"]["defaults"]["thresholds"] = steps(&th);
    burn["fieldConfig"]["defaults"]["min"] = json!(0);
    burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = json!({"mode": "dashed"});
    if let Some((top, _)) = lines.last() {
        burn["fieldConfig"]["defaults"]["custom"]["axisSoftMax"] = json!(top * 1.25);
    }
    grid.put(burn, 0, 0, 16, 8);

    let alerts = json!({
        "type": "table",
        "title": "Firing alerts",
        "description": format!(
            "Alerts of this SLO firing now ({}{}), from Prometheus' ALERTS series.",
            rules.alert,
            rules
                .absent
                .as_ref()
                .map(|a| format!(", {}", a.alert))
                .unwrap_or_default()
        ),
        "datasource": ds(),
        "targets": [{
            "datasource": ds(),
            "editorMode": "code",
            "expr": format!("ALERTS{}", with_matcher(&sel, "alertstate=\"firing\"")),
            "format": "table",
            "instant": true,
            "range": false,
            "refId": "A",
        }],
        "fieldConfig": {
            "defaults": {"unit": "none", "noValue": "none firing", "thresholds": steps(&[(None, "green")])},
            "overrides": [],
        },
        "options": {"frameIndex": 0, "showHeader": true},
        "transformations": [{
            "id": "organize",
            "options": {
                "excludeByName": {"Time": true, "Value": true, "__name__": true, "alertstate": true},
                "indexByName": {"alertname": 0, "severity": 1, "long_window": 2, "short_window": 3},
            },
        }],
    });
    grid.put(alerts, 16, 0, 8, 8);
    grid.advance(8);
    Ok(())
}

/// The `datasource` variable every panel and query reads through.
pub(crate) fn datasource_variable(description: &str) -> Value {
    json!({
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "description": description,
        "query": "prometheus",
        "refresh": 1,
        "hide": 0,
        "current": {"text": "default", "value": "default"},
    })
}

/// The dashboard of a service.
pub fn dashboard(service: &Service, opts: &Options) -> Result<Value, DashboardError> {
    let traffic = check_options(service, opts)?;
    let mut grid = Grid::new();
    traffic.row(&mut grid, "Traffic");
    for slo in &service.slos {
        slo_row(&mut grid, service, slo)?;
    }
    let mut links = Vec::new();
    for slo in &service.slos {
        if let Some(u) = &slo.alerting.runbook_url {
            links.push(json!({
                "title": format!("Runbook: {}", slo.name),
                "type": "link",
                "icon": "doc",
                "tooltip": format!("What to do when {} burns its budget", slo.name),
                "url": u,
                "tags": [],
                "asDropdown": false,
                "targetBlank": true,
                "includeVars": false,
                "keepTime": false,
            }));
        }
    }
    let mut d = json!({
        "uid": uid(&service.name),
        "title": format!("{} SLOs", service.name),
        "description": format!(
            "Traffic and SLOs of {}, generated by `slo dashboard` from its SLO spec: change the spec and regenerate rather than editing here.",
            service.name
        ),
        "tags": ["slo", service.name],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "links": links,
        "templating": {"list": std::iter::once(
            datasource_variable("The Prometheus that scrapes the service and evaluates its SLO rules."),
        ).chain(traffic.variable("the traffic row")).collect::<Vec<_>>()},
        "annotations": {"list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true,
                "hide": true,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "datasource": ds(),
                "enable": true,
                "hide": false,
                "iconColor": "red",
                "name": "SLO alerts",
                "expr": format!("ALERTS{{slo_service=\"{}\", alertstate=\"firing\"}}", service.name),
                "step": "1m",
                "titleFormat": "{{alertname}}",
                "textFormat": "{{slo}} {{severity}} ({{long_window}}/{{short_window}})",
                "tagKeys": "slo,severity",
            },
        ]},
        "panels": grid.panels,
    });
    if service.slos.is_empty() {
        d["description"] = json!(format!(
            "Traffic of {}; its spec has no SLOs.",
            service.name
        ));
    }
    let problems = lint(&d);
    if !problems.is_empty() {
        return Err(DashboardError::Lint(problems.join("; ")));
    }
    Ok(d)
}

/// The dashboard as a ConfigMap for Grafana's dashboard sidecar (label
/// `grafana_dashboard: "1"`), in the folder named by the annotation.
pub fn configmap(service: &Service, dashboard: &Value) -> Value {
    sidecar_configmap(service, "dashboard", &service.name, "SLOs", dashboard)
}

/// A dashboard in ConfigMap `SERVICE-NAME` under the key `FILE.json`, in
/// Grafana folder `folder`.
pub(crate) fn sidecar_configmap(
    service: &Service,
    name: &str,
    file: &str,
    folder: &str,
    dashboard: &Value,
) -> Value {
    let file = format!("{file}.json");
    let text = serde_json::to_string_pretty(dashboard).unwrap_or_default();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("{}-{name}", service.name),
            "labels": {"grafana_dashboard": "1", "app.kubernetes.io/name": service.name},
            "annotations": {"grafana_folder": folder},
        },
        "data": {file: text + "\n"},
    })
}

/// A panel's or query's place in the dashboard, for messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Where it is: `panel "Title" (id 3) target A`, `variable route`, ...
    pub place: String,
    /// The query as written (with Grafana's macros).
    pub expr: String,
    /// Whether it is a `label_values(...)` variable query (its selector is in `expr`).
    pub label_values: Option<String>,
}

pub(crate) fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for c in p["panels"].as_array().into_iter().flatten() {
            out.push(c);
        }
    }
    out
}

/// Every PromQL in a dashboard: panel targets, variable queries and
/// annotation queries.
pub fn queries(d: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in all_panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push(Query {
                    place: format!(
                        "panel {:?} (id {}) target {}",
                        p["title"].as_str().unwrap_or(""),
                        p["id"],
                        t["refId"].as_str().unwrap_or("?")
                    ),
                    expr: e.to_owned(),
                    label_values: None,
                });
            }
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            if let Some(q) = v["query"].as_str() {
                let place = format!("variable {}", v["name"].as_str().unwrap_or("?"));
                // label_values(SELECTOR, LABEL)
                let inner = q
                    .strip_prefix("label_values(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|r| r.rsplit_once(','));
                match inner {
                    Some((sel, label)) => out.push(Query {
                        place,
                        expr: sel.trim().to_owned(),
                        label_values: Some(label.trim().to_owned()),
                    }),
                    None => out.push(Query {
                        place,
                        expr: q.to_owned(),
                        label_values: None,
                    }),
                }
            }
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(e) = a["expr"].as_str() {
            out.push(Query {
                place: format!("annotation {:?}", a["name"].as_str().unwrap_or("")),
                expr: e.to_owned(),
                label_values: None,
            });
        }
    }
    out
}

/// A query with Grafana's macros replaced, as Prometheus would receive it
/// (`$__rate_interval` as `rate_interval`, variables at their "All" value).
pub fn expand(expr: &str, rate_interval: &str) -> String {
    expand_vars(expr, rate_interval, &[])
}

/// [`expand`] with the variables of `values` (name, value) at those values
/// and every other variable at `.*`, the "All" value of the generated
/// dashboards' multi-value variables.
pub fn expand_vars(expr: &str, rate_interval: &str, values: &[(&str, &str)]) -> String {
    let expr = expr
        .replace("$__rate_interval", rate_interval)
        .replace("${__rate_interval}", rate_interval)
        .replace("$__interval", rate_interval)
        // The dashboards' time range (the default, an hour).
        .replace("$__range", "1h");
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(end) if end > 0 && inner[..end].chars().all(ident) => {
                    (&inner[..end], &inner[end + 1..])
                }
                _ => ("", after),
            },
            None => {
                let end = after.find(|c: char| !ident(c)).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if name.is_empty() {
            out.push('$');
        } else {
            let value = values
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(".*", |(_, v)| *v);
            out.push_str(value);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn unit_free(panel: &Value) -> bool {
    matches!(panel["type"].as_str(), Some("row" | "text"))
}

/// Checks like those of Grafana's dashboard-linter: a `datasource`
/// variable that every panel and query uses, `$__rate_interval` in every
/// `rate`/`increase` over a panel's range, a unit, title and description on
/// every panel, unique panel ids, panels inside the grid and not
/// overlapping, PromQL that parses, and exemplars on latency quantiles.
pub fn lint(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has_ds_var = vars.iter().any(|v| {
        v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus"
    });
    if !has_ds_var {
        out.push("no `datasource` variable of type datasource with query prometheus".to_owned());
    }
    let uses_ds = |v: &Value| v["uid"] == "${datasource}" || v["uid"] == "$datasource";
    for v in &vars {
        if v["type"] == "query" && !uses_ds(&v["datasource"]) {
            out.push(format!(
                "variable {}: datasource is not ${{datasource}}",
                v["name"]
            ));
        }
    }
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
    for p in all_panels(d) {
        let title = p["title"].as_str().unwrap_or("");
        let name = format!("panel {title:?}");
        match p["id"].as_u64() {
            Some(id) if !ids.insert(id) => out.push(format!("{name}: id {id} is used twice")),
            Some(_) => {}
            None => out.push(format!("{name}: no id")),
        }
        let g = &p["gridPos"];
        match (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        ) {
            (Some(x), Some(y), Some(w), Some(h)) if w > 0 && h > 0 && x + w <= 24 => {
                for (other, [ox, oy, ow, oh]) in &boxes {
                    if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                        out.push(format!("{name} overlaps {other}"));
                    }
                }
                boxes.push((name.clone(), [x, y, w, h]));
            }
            _ => out.push(format!(
                "{name}: gridPos is missing or outside the 24-column grid"
            )),
        }
        if title.is_empty() {
            out.push(format!("panel id {}: no title", p["id"]));
        }
        if unit_free(p) {
            continue;
        }
        if p["description"].as_str().is_none_or(str::is_empty) {
            out.push(format!("{name}: no description"));
        }
        if p["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            out.push(format!("{name}: no unit"));
        }
        if !uses_ds(&p["datasource"]) {
            out.push(format!("{name}: datasource is not ${{datasource}}"));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            out.push(format!("{name}: no queries"));
        }
        let mut refs = BTreeSet::new();
        for t in &targets {
            let r = t["refId"].as_str().unwrap_or("");
            if r.is_empty() || !refs.insert(r.to_owned()) {
                out.push(format!("{name}: refId {r:?} missing or repeated"));
            }
            if !uses_ds(&t["datasource"]) {
                out.push(format!(
                    "{name} target {r}: datasource is not ${{datasource}}"
                ));
            }
            let Some(expr) = t["expr"].as_str() else {
                out.push(format!("{name} target {r}: no expr"));
                continue;
            };
            if t["instant"] != true {
                for (f, range) in fixed_ranges(expr) {
                    out.push(format!(
                        "{name} target {r}: {f} uses [{range}] instead of [$__rate_interval]"
                    ));
                }
            }
            if expr.contains("histogram_quantile") && t["exemplar"] != true {
                out.push(format!(
                    "{name} target {r}: a latency quantile without exemplars"
                ));
            }
        }
    }
    for q in queries(d) {
        if let Err(e) = promql::check(&expand(&q.expr, "5m")) {
            out.push(format!("{}: PromQL does not parse: {e}", q.place));
        }
    }
    out
}

/// Functions over a range of raw samples.
const RANGE_FUNCTIONS: [&str; 3] = ["rate(", "irate(", "increase("];

/// The calls of `rate`, `irate` and `increase` in `expr` whose range is not
/// `$__rate_interval`: (function, range).
pub(crate) fn fixed_ranges(expr: &str) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    for f in RANGE_FUNCTIONS {
        let mut rest = expr;
        while let Some(i) = rest.find(f) {
            let after = &rest[i + f.len()..];
            // The range of this call: the first [...] after it.
            if let Some(open) = after.find('[') {
                let close = after[open..].find(']').map_or(after.len(), |c| open + c);
                let range = &after[open + 1..close];
                if range != "$__rate_interval" {
                    out.push((f.trim_end_matches('('), range));
                }
            }
            rest = after;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn service() -> Service {
        crate::spec::parse(
            include_str!("../../alerts/target-app.slo.yaml"),
            Path::new("target-app.slo.yaml"),
        )
        .unwrap()
    }

    fn board() -> Value {
        let s = service();
        dashboard(&s, &Options::for_service(&s)).unwrap()
    }

    #[test]
    fn the_target_apps_dashboard_is_lint_clean() {
        assert_eq!(lint(&board()), Vec::<String>::new());
    }

    #[test]
    fn every_slo_gets_its_panels_and_thresholds() {
        let d = board();
        let titles: Vec<&str> = all_panels(&d)
            .iter()
            .filter_map(|p| p["title"].as_str())
            .collect();
        assert!(
            titles.contains(&"SLO availability: 99.9% over 30d"),
            "{titles:?}"
        );
        assert!(
            titles.contains(&"SLO orders-latency: 99% over 28d"),
            "{titles:?}"
        );
        let burns: Vec<&Value> = all_panels(&d)
            .into_iter()
            .filter(|p| p["title"] == "Burn rate per alert window")
            .collect();
        assert_eq!(burns.len(), 2);
        let lines = |p: &Value| -> Vec<f64> {
            p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["value"].as_f64())
                .collect()
        };
        // 30d: tickets at 1x and 3x, pages at 6x and 14.4x.
        assert_eq!(lines(burns[0]), vec![1.0, 3.0, 6.0, 14.4]);
        // orders-latency has tickets disabled.
        assert_eq!(lines(burns[1]), vec![6.0, 14.4]);
        // One series per alert window.
        assert_eq!(burns[0]["targets"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn queries_cover_panels_variables_and_annotations() {
        let qs = queries(&board());
        assert!(qs.iter().any(|q| q.place == "variable route"
            && q.label_values.as_deref() == Some("http_route")
            && q.expr == "http_server_request_duration_seconds_count{job=\"target-app\"}"));
        assert!(qs.iter().any(|q| q.place.starts_with("annotation")));
        assert!(qs.len() > 20, "{}", qs.len());
    }

    #[test]
    fn lint_finds_each_problem() {
        type Mutation = fn(&mut Value);
        let cases: &[(&str, Mutation, &str)] = &[
            (
                "no datasource variable",
                |d| {
                    d["templating"]["list"][0]["type"] = json!("custom");
                },
                "no `datasource` variable",
            ),
            (
                "fixed datasource",
                |d| {
                    d["panels"][1]["datasource"] = json!({"type": "prometheus", "uid": "abc"});
                },
                "datasource is not",
            ),
            (
                "no unit",
                |d| {
                    d["panels"][1]["fieldConfig"]["defaults"]
                        .as_object_mut()
                        .unwrap()
                        .remove("unit");
                },
                "no unit",
            ),
            (
                "no description",
                |d| {
                    d["panels"][2]["description"] = json!("");
                },
                "no description",
            ),
            (
                "fixed rate range",
                |d| {
                    let e = d["panels"][1]["targets"][0]["expr"]
                        .as_str()
                        .unwrap()
                        .replace("$__rate_interval", "5m");
                    d["panels"][1]["targets"][0]["expr"] = json!(e);
                },
                "instead of [$__rate_interval]",
            ),
            (
                "repeated id",
                |d| {
                    d["panels"][2]["id"] = d["panels"][1]["id"].clone();
                },
                "used twice",
            ),
            (
                "overlap",
                |d| {
                    d["panels"][2]["gridPos"]["x"] = json!(6);
                },
                "overlaps",
            ),
            (
                "off the grid",
                |d| {
                    d["panels"][2]["gridPos"]["x"] = json!(20);
                },
                "outside the 24-column grid",
            ),
            (
                "bad PromQL",
                |d| {
                    d["panels"][1]["targets"][0]["expr"] = json!("sum(rate(x[$__rate_interval])");
                },
                "does not parse",
            ),
            (
                "no exemplars",
                |d| {
                    d["panels"][4]["targets"][0]["exemplar"] = json!(false);
                },
                "without exemplars",
            ),
        ];
        for (what, mutate, expect) in cases {
            let mut d = board();
            mutate(&mut d);
            let found = lint(&d);
            assert!(
                found.iter().any(|m| m.contains(expect)),
                "{what}: expected {expect:?} in {found:?}"
            );
        }
    }

    #[test]
    fn bad_options_are_refused() {
        let s = service();
        for (selector, metric, expect) in [
            ("{job=}", HTTP_METRIC, "label matchers"),
            ("job=\"a\"", "1abc", "not a metric name"),
            ("{job=\"a\"", HTTP_METRIC, "label matchers"),
        ] {
            let e = dashboard(
                &s,
                &Options {
                    selector: Some(selector.into()),
                    metric: Some(metric.into()),
                    ..Options::default()
                },
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(expect), "{selector} {metric}: {e}");
        }
    }

    #[test]
    fn configmap_carries_the_sidecar_label_and_the_json() {
        let s = service();
        let d = board();
        let cm = configmap(&s, &d);
        assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
        let text = cm["data"]["target-app.json"].as_str().unwrap();
        let back: Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, d);
    }
}
