//! `slo alerts`: the Prometheus rules of a spec's SLOs printed (plain or as a
//! PrometheusRule), or with `--out` every alerting artifact written into a
//! directory: rules, PrometheusRule, promtool tests, and Alertmanager routes
//! when both receivers' webhook URLs are given.

use std::path::{Path, PathBuf};

use super::output::{command_line, create_dir, print_out, write_atomic};
use super::{CliError, Exit};
use crate::yaml::header;

/// Which rule file `slo alerts` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// A plain Prometheus rule file.
    Rules,
    /// A prometheus-operator PrometheusRule.
    Operator,
}

/// Arguments of `slo alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// SLO spec (YAML), or - for standard input.
    pub spec: PathBuf,
    /// What to print when there is no --out.
    #[arg(long, value_enum, default_value = "rules")]
    pub format: Format,
    /// Write every artifact into this directory instead of printing rules:
    /// the rules, the PrometheusRule, the promtool tests and, with both
    /// --pager-url and --ticket-url, alertmanager.yml.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Webhook URL of the pager receiver (page alerts) in alertmanager.yml;
    /// needs --out and --ticket-url.
    #[arg(long, requires = "out")]
    pub pager_url: Option<String>,
    /// Webhook URL of the ticket receiver (ticket alerts) in
    /// alertmanager.yml; needs --out and --pager-url.
    #[arg(long, requires = "out")]
    pub ticket_url: Option<String>,
}

fn webhook(url: &str, flag: &str) -> Result<String, CliError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url.to_owned()),
        Ok(_) => Err(CliError::Invalid(format!(
            "{flag} {url:?}: a webhook URL is http:// or https:// with a host"
        ))),
        Err(e) => Err(CliError::Invalid(format!(
            "{flag} {url:?}: {e} (e.g. {flag} https://pager.example.com/hook)"
        ))),
    }
}

/// The Alertmanager receivers: both URLs, or neither (no alertmanager.yml).
fn receivers(
    pager_url: Option<&str>,
    ticket_url: Option<&str>,
) -> Result<Option<crate::alertmanager::Receivers>, CliError> {
    let (given, missing) = match (pager_url, ticket_url) {
        (Some(p), Some(t)) => {
            return Ok(Some(crate::alertmanager::Receivers {
                pager_url: webhook(p, "--pager-url")?,
                ticket_url: webhook(t, "--ticket-url")?,
            }));
        }
        (None, None) => return Ok(None),
        (Some(_), None) => ("--pager-url", "--ticket-url"),
        (None, Some(_)) => ("--ticket-url", "--pager-url"),
    };
    Err(CliError::Invalid(format!(
        "{given} without {missing}: alertmanager.yml routes both page and ticket alerts, so it needs both URLs (give {missing} too, or neither to write only the rules and tests)"
    )))
}

/// Runs `slo alerts`.
pub fn run(args: AlertsArgs) -> Result<Exit, CliError> {
    let receivers = receivers(args.pager_url.as_deref(), args.ticket_url.as_deref())?;
    alerts(&args.spec, args.format, args.out.as_deref(), receivers)?;
    Ok(Exit::Ok)
}

fn alerts(
    spec_path: &Path,
    format: Format,
    out: Option<&Path>,
    receivers: Option<crate::alertmanager::Receivers>,
) -> Result<(), CliError> {
    let service = crate::spec::load(spec_path)?;
    let all =
        crate::rules::service_rules(&service).map_err(|e| CliError::Invalid(e.to_string()))?;
    for w in crate::lint::alert_warnings(&all) {
        eprintln!("slo: warning: {w}");
    }
    let regenerate = command_line();
    let Some(dir) = out else {
        let text = match format {
            Format::Rules => crate::rules::rule_file(&service, &all, &regenerate),
            Format::Operator => crate::rules::prometheus_rule(&service, &all, &regenerate),
        };
        return print_out(&text);
    };
    create_dir(dir)?;
    let rules_name = crate::rules::rules_file_name(&service);
    let mut written = crate::rules::rule_files(&service, &all, &regenerate);
    written.push((
        format!("{}.prometheusrule.yaml", service.name),
        crate::rules::prometheus_rule(&service, &all, &regenerate),
    ));
    let tests_header = header(
        &format!("promtool unit tests for the SLO rules of {}", service.name),
        "alerts",
        &["Run: promtool test rules FILE"],
        &regenerate,
    );
    for r in &all {
        match crate::ruletest::unit_tests(r, &rules_name, &tests_header) {
            Ok(text) => written.push((format!("{}-{}.test.yml", service.name, r.slo.name), text)),
            Err(e) => eprintln!("slo: warning: no promtool tests: {e}"),
        }
    }
    let skipped = receivers.is_none();
    if let Some(to) = receivers {
        let routes_header = header(
            &format!("Alertmanager routes for the SLO alerts of {}", service.name),
            "alerts",
            &[],
            &regenerate,
        );
        written.push((
            "alertmanager.yml".into(),
            crate::alertmanager::config(&[&service], &all, &to, &routes_header),
        ));
    }
    for (name, text) in &written {
        let path = dir.join(name);
        write_atomic(&path, text)?;
        print_out(&format!("wrote {}\n", path.display()))?;
    }
    if skipped {
        eprintln!(
            "slo: note: no --pager-url/--ticket-url: alertmanager.yml not written; add both to write it"
        );
    }
    Ok(())
}
