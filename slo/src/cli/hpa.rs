//! `slo hpa`: autoscaling on requests per second per pod, as an HPA, the
//! prometheus-adapter values serving its metric, or a KEDA ScaledObject; the
//! per-pod target is given, or derived from a loadgen stress run.

use std::path::PathBuf;
use std::time::Duration;

use super::output::{command_line, emit};
use super::{CliError, Exit};
use crate::hpa::{HpaError, Setting, Settings};

/// What `slo hpa` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HpaFormat {
    /// An autoscaling/v2 HorizontalPodAutoscaler on a Pods metric.
    Hpa,
    /// prometheus-adapter Helm values serving that metric.
    Adapter,
    /// A KEDA ScaledObject with a prometheus trigger.
    Keda,
}

/// Arguments of `slo hpa`.
#[derive(Debug, clap::Args)]
pub struct HpaArgs {
    /// The Deployment to scale (also the name of what is generated).
    #[arg(long)]
    pub deployment: String,
    /// Label matchers of the service's request counter [default: {job="DEPLOYMENT"}].
    #[arg(long)]
    pub selector: Option<String>,
    /// The request-duration histogram (its _count counts requests).
    #[arg(long, default_value = crate::dashboard::HTTP_METRIC)]
    pub metric: String,
    /// Requests per second per pod to hold.
    #[arg(
        long,
        conflicts_with = "capacity",
        required_unless_present = "capacity"
    )]
    pub target_rps: Option<f64>,
    /// A loadgen report of a stress run to derive the per-pod target from.
    #[arg(long)]
    pub capacity: Option<PathBuf>,
    /// Share of the measured capacity to target (0 < H <= 1).
    #[arg(long, default_value_t = 0.7, requires = "capacity")]
    pub headroom: f64,
    /// Replicas that served the stress run.
    #[arg(long, default_value_t = 1, requires = "capacity")]
    pub replicas_in_run: u32,
    /// Seconds a rate must be sustained to count.
    #[arg(long, default_value_t = 5, requires = "capacity")]
    pub window: usize,
    #[arg(long, default_value_t = 2)]
    pub min_replicas: u32,
    #[arg(long, default_value_t = 10)]
    pub max_replicas: u32,
    /// How long a lower recommendation must hold before pods go.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub scale_down_window: Duration,
    /// The rate's range in the adapter's and KEDA's queries.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub rate_window: Duration,
    /// Restrict KEDA's query to this namespace (it sees all of them).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Prometheus as KEDA reaches it.
    #[arg(long, default_value = "http://prometheus-operated.monitoring.svc:9090")]
    pub prometheus_url: String,
    #[arg(long, value_enum, default_value = "hpa")]
    pub format: HpaFormat,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The per-pod target and its derivation, from the flags or the stress run.
fn target(args: &HpaArgs) -> Result<(f64, String), CliError> {
    let invalid = |e: String| CliError::Invalid(e);
    match (args.target_rps, &args.capacity) {
        (Some(t), _) => Ok((t, crate::hpa::given_derivation(t))),
        (None, Some(path)) => {
            let headroom = args.headroom;
            if !(headroom > 0.0 && headroom <= 1.0) {
                return Err(invalid(format!(
                    "--headroom {headroom}: a share of the capacity, above 0 and at most 1 (e.g. 0.7)"
                )));
            }
            let common::input::Text { text, shown } =
                common::input::read_text(path, common::report::MAX_REPORT_BYTES)
                    .map_err(|e| invalid(e.to_string()))?;
            let report =
                crate::hpa::read_report(&text, &shown).map_err(|e| invalid(e.to_string()))?;
            let c = crate::hpa::capacity(&report, &shown, args.replicas_in_run, args.window)
                .map_err(|e| invalid(e.to_string()))?;
            for s in &c.skipped {
                eprintln!("slo: warning: {shown}: threshold not checked per second: {s}");
            }
            if report.interrupted {
                eprintln!("slo: warning: {shown}: the run was interrupted");
            }
            if c.breach.is_none() {
                eprintln!(
                    "slo: warning: {shown}: the thresholds held for the whole run, so {:.1} req/s per replica is a lower bound: stress harder to find the knee",
                    c.rps_per_replica
                );
            }
            let t = crate::hpa::capacity_target(&c, &report.scenario, headroom);
            eprintln!(
                "capacity: {:.1} req/s per replica over {} ({}); target {headroom} x that = {} req/s per pod",
                c.rps_per_replica,
                c.window_text(),
                t.knee,
                t.target
            );
            Ok((t.target, t.derivation))
        }
        (None, None) => Err(invalid(
            "give --target-rps N or --capacity REPORT.json".into(),
        )),
    }
}

/// The flag that sets `s`.
fn flag(s: Setting) -> String {
    format!("--{}", s.field().replace('_', "-"))
}

/// A generator's refusal, its settings named by their flags.
fn hpa_error(e: HpaError) -> CliError {
    match e {
        HpaError::Setting(s) => CliError::Invalid(s.describe(flag)),
        other => CliError::Invalid(other.to_string()),
    }
}

/// Runs `slo hpa`.
pub fn run(args: HpaArgs) -> Result<Exit, CliError> {
    let (target_rps, derivation) = target(&args)?;
    let s = Settings {
        selector: args
            .selector
            .unwrap_or_else(|| format!("{{job=\"{}\"}}", args.deployment)),
        deployment: args.deployment,
        metric: args.metric,
        namespace: args.namespace,
        target_rps,
        min_replicas: args.min_replicas,
        max_replicas: args.max_replicas,
        scale_down_window: args.scale_down_window,
        rate_window: args.rate_window,
        prometheus_url: args.prometheus_url,
        derivation,
    };
    let (what, value) = match args.format {
        HpaFormat::Hpa => ("HorizontalPodAutoscaler", crate::hpa::hpa(&s)),
        HpaFormat::Adapter => (
            "prometheus-adapter Helm values",
            crate::hpa::adapter_values(&s),
        ),
        HpaFormat::Keda => ("KEDA ScaledObject", crate::hpa::scaled_object(&s)),
    };
    let value = value.map_err(hpa_error)?;
    let header = crate::yaml::header(
        &format!("{what} for {}", s.deployment),
        "hpa",
        &[],
        &command_line(),
    );
    emit(&crate::yaml::document(&header, &value), args.out.as_deref())?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI names each bad setting by its flag.
    #[test]
    fn bad_settings_name_their_flags() {
        let expected = [
            "--deployment",
            "positive number",
            "--min-replicas",
            "--min-replicas",
            "--scale-down-window",
            "--selector",
            "--prometheus-url",
            "--namespace",
        ];
        let cases = crate::hpa::bad_settings();
        assert_eq!(cases.len(), expected.len());
        for ((edit, _, _), expect) in cases.into_iter().zip(expected) {
            let mut s = crate::hpa::example_settings();
            edit(&mut s);
            let e = hpa_error(crate::hpa::hpa(&s).unwrap_err()).to_string();
            assert!(e.contains(expect), "{expect}: {e}");
        }
        assert_eq!(flag(Setting::ScaleDownWindow), "--scale-down-window");
    }
}
