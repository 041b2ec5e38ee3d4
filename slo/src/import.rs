//! Imports: Sloth (`prometheus/v1` and `sloth.slok.dev/v1`
//! PrometheusServiceLevel) and OpenSLO v1 (SLO and SLI kinds, `ratioMetric`
//! on Prometheus, Occurrences budgeting) into the native spec. Anything that
//! does not map is rejected with a message that names it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::spec::{AlertSpecFile, AlertingSpec, SliSpec, SloSpec, SpecFile};

/// Which format a document is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Native,
    Sloth,
    SlothK8s,
    OpenSlo,
}

/// Guesses the format from the first lines that name it.
pub fn detect(text: &str) -> Format {
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("apiVersion:") && l.contains("sloth.slok.dev/v1") {
            return Format::SlothK8s;
        }
        if l.starts_with("apiVersion:") && l.contains("openslo/v1") {
            return Format::OpenSlo;
        }
        if l.starts_with("version:") && l.contains("prometheus/v1") {
            return Format::Sloth;
        }
    }
    Format::Native
}

// ---- Sloth ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlothSpec {
    pub version: String,
    pub service: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub slos: Vec<SlothSlo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlothK8s {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: serde_json::Value,
    pub spec: SlothK8sSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlothK8sSpec {
    pub service: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub slos: Vec<SlothSlo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlothSlo {
    pub name: String,
    pub objective: f64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub sli: SlothSli,
    #[serde(default)]
    pub alerting: Option<SlothAlerting>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlothSli {
    #[serde(default)]
    pub events: Option<SlothEvents>,
    #[serde(default)]
    pub raw: Option<serde_json::Value>,
    #[serde(default)]
    pub plugin: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlothEvents {
    #[serde(alias = "error_query")]
    pub error_query: String,
    #[serde(alias = "total_query")]
    pub total_query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlothAlerting {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, alias = "page_alert")]
    pub page_alert: Option<SlothAlert>,
    #[serde(default, alias = "ticket_alert")]
    pub ticket_alert: Option<SlothAlert>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlothAlert {
    #[serde(default)]
    pub disable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn sloth_alert(a: Option<SlothAlert>) -> Option<AlertSpecFile> {
    a.map(|a| AlertSpecFile {
        enabled: !a.disable,
        labels: a.labels,
        annotations: a.annotations,
    })
}

fn sloth_slos(slos: Vec<SlothSlo>) -> Result<Vec<SloSpec>, String> {
    slos.into_iter()
        .map(|s| {
            let sli = match (s.sli.events, s.sli.raw, s.sli.plugin) {
                (Some(e), None, None) => SliSpec::Events {
                    error_query: e.error_query,
                    total_query: e.total_query,
                },
                (None, Some(_), None) => {
                    return Err(format!("slo {:?}: sli.raw is not supported; write it as sli.events (error and total queries)", s.name));
                }
                (None, None, Some(_)) => {
                    return Err(format!("slo {:?}: sli.plugin is not supported; write the plugin's queries as sli.events", s.name));
                }
                _ => return Err(format!("slo {:?}: sli needs exactly one of events, raw or plugin", s.name)),
            };
            let alerting = s.alerting.map(|a| AlertingSpec {
                name: a.name,
                labels: a.labels,
                annotations: a.annotations,
                runbook_url: None,
                dashboard_url: None,
                page: sloth_alert(a.page_alert),
                ticket: sloth_alert(a.ticket_alert),
                absent: false,
            });
            Ok(SloSpec {
                name: s.name,
                description: s.description,
                objective: s.objective,
                // Sloth's default period.
                period: Duration::from_secs(30 * 86_400),
                sli,
                min_events: None,
                alerting,
                labels: s.labels,
            })
        })
        .collect()
}

/// A Sloth `prometheus/v1` spec as native.
pub fn from_sloth(s: SlothSpec) -> Result<SpecFile, String> {
    if s.version != "prometheus/v1" {
        return Err(format!(
            "unsupported Sloth version {:?} (expected prometheus/v1)",
            s.version
        ));
    }
    Ok(SpecFile {
        version: "slo/v1".into(),
        service: s.service,
        labels: s.labels,
        slos: sloth_slos(s.slos)?,
    })
}

/// A Sloth PrometheusServiceLevel as native.
pub fn from_sloth_k8s(s: SlothK8s) -> Result<SpecFile, String> {
    if s.kind != "PrometheusServiceLevel" {
        return Err(format!(
            "unsupported kind {:?} (expected PrometheusServiceLevel)",
            s.kind
        ));
    }
    Ok(SpecFile {
        version: "slo/v1".into(),
        service: s.spec.service,
        labels: s.spec.labels,
        slos: sloth_slos(s.spec.slos)?,
    })
}

// ---- OpenSLO v1 ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenSloDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: OpenSloMetadata,
    #[serde(default)]
    pub spec: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenSloMetadata {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub labels: serde_json::Value,
}

fn prom_query(v: &serde_json::Value, what: &str, slo: &str) -> Result<String, String> {
    let source = &v["metricSource"];
    let kind = source["type"].as_str().unwrap_or("");
    if !kind.eq_ignore_ascii_case("prometheus") {
        return Err(format!(
            "slo {slo:?}: {what} uses metricSource type {kind:?}; only Prometheus is supported"
        ));
    }
    let q = source["spec"]["query"]
        .as_str()
        .ok_or_else(|| format!("slo {slo:?}: {what}.metricSource.spec.query is missing"))?;
    crate::promql::check_selector(q).map_err(|_| {
        format!("slo {slo:?}: {what} query {q:?} must be a counter selector (the tool takes increases over each window itself)")
    })?;
    Ok(q.to_owned())
}

fn opensli(spec: &serde_json::Value, slo: &str) -> Result<SliSpec, String> {
    if !spec["thresholdMetric"].is_null() {
        return Err(format!(
            "slo {slo:?}: thresholdMetric is not supported; use ratioMetric, or a latency SLI in the native format"
        ));
    }
    let ratio = &spec["ratioMetric"];
    if ratio.is_null() {
        return Err(format!("slo {slo:?}: the indicator has no ratioMetric"));
    }
    if ratio["counter"].as_bool() == Some(false) {
        return Err(format!(
            "slo {slo:?}: ratioMetric.counter: false (gauges) is not supported"
        ));
    }
    let total = prom_query(&ratio["total"], "ratioMetric.total", slo)?;
    let rate = |q: &str| format!("sum(rate({q}[{{{{.window}}}}]))");
    if !ratio["good"].is_null() {
        let good = prom_query(&ratio["good"], "ratioMetric.good", slo)?;
        Ok(SliSpec::Ratio { good, total })
    } else if !ratio["bad"].is_null() {
        let bad = prom_query(&ratio["bad"], "ratioMetric.bad", slo)?;
        Ok(SliSpec::Events {
            error_query: rate(&bad),
            total_query: rate(&total),
        })
    } else {
        Err(format!("slo {slo:?}: ratioMetric needs good or bad"))
    }
}

/// OpenSLO v1 documents (SLO kinds, with inline indicators or SLI kinds) as native.
pub fn from_openslo(docs: Vec<OpenSloDoc>) -> Result<SpecFile, String> {
    for d in &docs {
        if d.api_version != "openslo/v1" {
            return Err(format!(
                "{} {:?}: unsupported apiVersion {:?} (expected openslo/v1)",
                d.kind, d.metadata.name, d.api_version
            ));
        }
    }
    let slis: BTreeMap<&str, &serde_json::Value> = docs
        .iter()
        .filter(|d| d.kind == "SLI")
        .map(|d| (d.metadata.name.as_str(), &d.spec))
        .collect();
    let mut service = None;
    let mut slos = Vec::new();
    for d in docs.iter().filter(|d| d.kind == "SLO") {
        let name = d.metadata.name.as_str();
        let spec = &d.spec;
        if let Some(m) = spec["budgetingMethod"].as_str()
            && m != "Occurrences"
        {
            return Err(format!(
                "slo {name:?}: budgetingMethod {m} is not supported (only Occurrences)"
            ));
        }
        let svc = spec["service"].as_str().unwrap_or("service").to_owned();
        service.get_or_insert(svc);
        let indicator = if let Some(r) = spec["indicatorRef"].as_str() {
            slis.get(r).copied().ok_or_else(|| {
                format!("slo {name:?}: indicatorRef {r:?} names no SLI in the file")
            })?
        } else {
            &spec["indicator"]["spec"]
        };
        let sli = opensli(indicator, name)?;
        let window = &spec["timeWindow"][0];
        if window["isRolling"].as_bool() == Some(false) {
            return Err(format!(
                "slo {name:?}: calendar time windows are not supported (use isRolling: true)"
            ));
        }
        let period = match window["duration"].as_str() {
            Some(d) => humantime::parse_duration(d)
                .map_err(|e| format!("slo {name:?}: timeWindow duration {d:?}: {e}"))?,
            None => Duration::from_secs(30 * 86_400),
        };
        let objectives = spec["objectives"]
            .as_array()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| format!("slo {name:?}: no objectives"))?;
        for (i, o) in objectives.iter().enumerate() {
            let target = match (o["target"].as_f64(), o["targetPercent"].as_f64()) {
                (Some(t), _) => t * 100.0,
                (None, Some(p)) => p,
                _ => {
                    return Err(format!(
                        "slo {name:?}: objective {i} has no target or targetPercent"
                    ));
                }
            };
            let suffix = o["displayName"]
                .as_str()
                .map(|n| {
                    n.to_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                })
                .filter(|_| objectives.len() > 1)
                .unwrap_or_else(|| {
                    if objectives.len() > 1 {
                        i.to_string()
                    } else {
                        String::new()
                    }
                });
            slos.push(SloSpec {
                name: if suffix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{name}-{suffix}")
                },
                description: spec["description"].as_str().map(str::to_owned),
                objective: target,
                period,
                sli: sli.clone(),
                min_events: None,
                alerting: None,
                labels: BTreeMap::new(),
            });
        }
    }
    if let Some(k) = docs
        .iter()
        .find(|d| !matches!(d.kind.as_str(), "SLO" | "SLI" | "Service"))
    {
        return Err(format!(
            "kind {:?} ({:?}) is not supported (SLO, SLI and Service are)",
            k.kind, k.metadata.name
        ));
    }
    Ok(SpecFile {
        version: "slo/v1".into(),
        service: service.ok_or("no SLO documents in the file")?,
        labels: BTreeMap::new(),
        slos,
    })
}
