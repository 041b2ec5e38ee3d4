//! Sloth specs into the native spec: `prometheus/v1` files and the
//! `sloth.slok.dev/v1` PrometheusServiceLevel resource. Their SLOs use
//! event queries with a `{{.window}}` placeholder, which the native format
//! keeps as they are; `sli.raw` and `sli.plugin` do not map and are refused.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Refusal;
use super::native::{AlertSpecFile, AlertingSpec, SliSpec, SloSpec, SpecFile};

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

fn sloth_slos(slos: Vec<SlothSlo>) -> Result<Vec<SloSpec>, Refusal> {
    slos.into_iter()
        .map(|s| {
            let sli = match (s.sli.events, s.sli.raw, s.sli.plugin) {
                (Some(e), None, None) => SliSpec::Events {
                    error_query: e.error_query,
                    total_query: e.total_query,
                },
                (None, Some(_), None) => {
                    return Err(Refusal::slo(&s.name, "sli.raw is not supported; write it as sli.events (error and total queries)"));
                }
                (None, None, Some(_)) => {
                    return Err(Refusal::slo(&s.name, "sli.plugin is not supported; write the plugin's queries as sli.events"));
                }
                _ => return Err(Refusal::slo(&s.name, "sli needs exactly one of events, raw or plugin")),
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
                period: Duration::from_secs(30 * 86_400).into(),
                sli,
                client: None,
                client_selector: None,
                min_events: None,
                alerting,
                labels: s.labels,
                timeslices: None,
            })
        })
        .collect()
}

/// A Sloth `prometheus/v1` spec as native.
pub fn from_sloth(s: SlothSpec) -> Result<SpecFile, Refusal> {
    if s.version != "prometheus/v1" {
        return Err(Refusal::File(format!(
            "unsupported Sloth version {:?} (expected prometheus/v1)",
            s.version
        )));
    }
    Ok(SpecFile {
        version: "slo/v1".into(),
        service: s.service,
        labels: s.labels,
        slos: sloth_slos(s.slos)?,
    })
}

/// A Sloth PrometheusServiceLevel as native.
pub fn from_sloth_k8s(s: SlothK8s) -> Result<SpecFile, Refusal> {
    if s.kind != "PrometheusServiceLevel" {
        return Err(Refusal::File(format!(
            "unsupported kind {:?} (expected PrometheusServiceLevel)",
            s.kind
        )));
    }
    Ok(SpecFile {
        version: "slo/v1".into(),
        service: s.spec.service,
        labels: s.spec.labels,
        slos: sloth_slos(s.spec.slos)?,
    })
}
