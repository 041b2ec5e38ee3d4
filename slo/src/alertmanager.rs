//! An Alertmanager configuration that delivers the generated alerts: page
//! alerts to a pager webhook, ticket alerts to a ticket webhook, and a
//! ticket held back while a page for the same SLO fires.

use serde::Serialize;

use crate::model::Service;
use crate::rules::SloRules;
use crate::windows::Severity;

#[derive(Serialize)]
struct Config {
    route: Route,
    receivers: Vec<Receiver>,
    inhibit_rules: Vec<Inhibit>,
}

#[derive(Serialize)]
struct Route {
    receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_interval: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct Receiver {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<Webhook>,
}

#[derive(Serialize)]
struct Webhook {
    url: String,
    send_resolved: bool,
}

#[derive(Serialize)]
struct Inhibit {
    source_matchers: Vec<String>,
    target_matchers: Vec<String>,
    equal: Vec<String>,
}

/// Where notifications go.
#[derive(Debug, Clone)]
pub struct Receivers {
    pub pager_url: String,
    pub ticket_url: String,
}

/// `severity="page"`, or `severity=~"page|critical"` for several values.
fn severity_matcher(values: &std::collections::BTreeSet<String>, default: &str) -> String {
    let v: Vec<&str> = values.iter().map(String::as_str).collect();
    match v.as_slice() {
        [] => format!("severity=\"{default}\""),
        [one] => format!("severity=\"{one}\""),
        many => format!("severity=~\"{}\"", many.join("|")),
    }
}

fn leaf(receiver: &str, severity: &str, wait: &str, repeat: &str) -> Route {
    Route {
        receiver: receiver.into(),
        matchers: vec![severity.to_owned()],
        group_by: vec![],
        group_wait: Some(wait.into()),
        group_interval: None,
        repeat_interval: Some(repeat.into()),
        routes: vec![],
    }
}

/// The configuration for a service's SLO alerts. Alerts of other services
/// fall through to the `default` receiver, which sends nothing.
pub fn config(services: &[&Service], rules: &[SloRules], to: &Receivers, header: &str) -> String {
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut page = std::collections::BTreeSet::new();
    let mut ticket = std::collections::BTreeSet::new();
    for r in rules {
        for b in &r.burns {
            let set = match b.condition.severity {
                Severity::Page => &mut page,
                Severity::Ticket => &mut ticket,
            };
            set.extend(b.labels.get("severity").cloned());
        }
        if let Some(a) = &r.absent {
            ticket.extend(a.labels.get("severity").cloned());
        }
    }
    let page = severity_matcher(&page, "page");
    let ticket = severity_matcher(&ticket, "ticket");
    let service_matcher = if names.len() == 1 {
        format!("slo_service=\"{}\"", names[0])
    } else {
        format!("slo_service=~\"{}\"", names.join("|"))
    };
    let c = Config {
        route: Route {
            receiver: "default".into(),
            matchers: vec![],
            group_by: ["alertname", "slo_service", "slo"]
                .map(String::from)
                .to_vec(),
            group_wait: Some("30s".into()),
            group_interval: Some("5m".into()),
            repeat_interval: Some("4h".into()),
            routes: vec![Route {
                receiver: "ticket".into(),
                matchers: vec![service_matcher.clone()],
                group_by: vec![],
                group_wait: None,
                group_interval: None,
                repeat_interval: None,
                routes: vec![
                    leaf("pager", &page, "10s", "1h"),
                    leaf("ticket", &ticket, "1m", "1d"),
                ],
            }],
        },
        receivers: vec![
            Receiver {
                name: "default".into(),
                webhook_configs: vec![],
            },
            Receiver {
                name: "pager".into(),
                webhook_configs: vec![Webhook {
                    url: to.pager_url.clone(),
                    send_resolved: true,
                }],
            },
            Receiver {
                name: "ticket".into(),
                webhook_configs: vec![Webhook {
                    url: to.ticket_url.clone(),
                    send_resolved: true,
                }],
            },
        ],
        inhibit_rules: vec![Inhibit {
            source_matchers: vec![page.clone(), service_matcher.clone()],
            target_matchers: vec![ticket.clone(), service_matcher.clone()],
            equal: vec!["slo_service".into(), "slo".into()],
        }],
    };
    crate::yaml::document(header, &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_pages_and_tickets_and_inhibits() {
        let s = crate::spec::parse(
            "version: slo/v1\nservice: shop\nslos: [{name: a, objective: 99, sli: {availability: {}}}]\n",
            std::path::Path::new("s.yaml"),
        )
        .unwrap();
        let rules = crate::rules::service_rules(&s).unwrap();
        let text = config(
            &[&s],
            &rules,
            &Receivers {
                pager_url: "http://127.0.0.1:1/p".into(),
                ticket_url: "http://127.0.0.1:1/t".into(),
            },
            "# h\n",
        );
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let sub = &v["route"]["routes"][0];
        assert_eq!(sub["matchers"][0], "slo_service=\"shop\"");
        assert_eq!(sub["routes"][0]["receiver"], "pager");
        assert_eq!(sub["routes"][1]["receiver"], "ticket");
        assert_eq!(
            v["receivers"][1]["webhook_configs"][0]["url"],
            "http://127.0.0.1:1/p"
        );
        assert_eq!(v["inhibit_rules"][0]["equal"][1], "slo");
        assert!(text.starts_with("# h\n"));
    }
}
