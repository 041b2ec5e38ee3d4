//! Time-slice SLIs (OpenSLO `Timeslices` and `RatioTimeslices`): the PromQL
//! that judges one slice, the ranges that hold a window's slices, and the
//! recordings and queries built from them. Pure: strings in, strings out.
//!
//! A slice is judged from the SLI's own counters over the slice:
//! `1 - errors / total`, its share of good events, only where its total is
//! above 0 (at least `min_events` when the SLO sets one). A slice without
//! that traffic yields no sample at all, so it does not count: `NaN >= bool
//! x` is 0, and without the guard an empty slice would count as a bad one.
//! With a `target`, the share is compared (`>= bool target`): 1 for a good
//! slice, 0 for a bad one. Without it the share itself is the slice's value
//! (`RatioTimeslices`).
//!
//! The rules record that value once per slice ([`SLICE_RECORD`], in a group
//! evaluated every slice); a window's SLI is `avg_over_time` of it, the
//! share of good slices, and its error ratio one minus that. Over the
//! period they also count the counted and the bad slices. Each range is
//! 1 ms short of its window ([`range`]), so a window of `N` slices holds `N`
//! samples whether the range includes its left edge (Prometheus 2) or not
//! (Prometheus 3), also when the rule groups are evaluated in step, as
//! promtool does. `slo report` and `slo gate` read the same slices straight
//! from the SLI's series with a subquery stepped by the slice ([`events`]),
//! so they need no rules loaded; Prometheus aligns those steps to multiples
//! of the slice since the Unix epoch.

use std::time::Duration;

use crate::model::{Sli, Slo, Timeslices};
use crate::promql::fmt_num;
use crate::promql::{self, EventQueries};
use crate::windows::promql_duration;

/// The recording of every slice's value (1 good, 0 bad; or the share of
/// good events without a target).
pub const SLICE_RECORD: &str = "slo:slice_good:ratio";

/// The PromQL of one slice's value, evaluated at the slice's end.
pub fn slice_good(slo: &Slo, t: &Timeslices) -> String {
    let q = promql::sli_events(&slo.sli, t.slice);
    // No 5xx series yet means no errors (the other kinds subtract good
    // events, already 0 when their series is missing).
    let errors = match slo.sli {
        Sli::Availability { .. } => format!("({} or vector(0))", q.errors),
        _ => format!("({})", q.errors),
    };
    let guard = if slo.min_events > 0.0 {
        format!(">= {}", fmt_num(slo.min_events))
    } else {
        "> 0".to_owned()
    };
    let share = format!("1 - {errors}\n/\n({} {guard})", q.total);
    match t.target {
        Some(target) => format!("(\n{share}\n) >= bool {}", fmt_num(target)),
        None => share,
    }
}

/// A window's range over slices: 1 ms short of the window, e.g.
/// `4m59s999ms` for 5m, so that it holds exactly one sample per slice.
pub fn range(window: Duration) -> String {
    let mut ms = window.as_millis().saturating_sub(1).max(1);
    let mut out = String::new();
    for (unit, n) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= n {
            out.push_str(&format!("{}{unit}", ms / n));
            ms %= n;
        }
    }
    out
}

/// The recordings of one alert window `W` over the recorded slices, as
/// (record, expr): its error ratio, the share of bad slices (for
/// `RatioTimeslices`, the average share of bad events).
pub fn window_records(window: Duration, sel: &str) -> Vec<(String, String)> {
    let d = promql_duration(window);
    vec![(
        format!("slo:sli_error:ratio_rate{d}"),
        format!("1 - avg_over_time({SLICE_RECORD}{sel}[{}])", range(window)),
    )]
}

/// The recordings of the period: counted slices, bad slices (for
/// `RatioTimeslices`, the sum of the slices' shares of bad events) and
/// their ratio, as (record, expr). Each reads every slice of the period,
/// so the ratio divides the two counts instead of reading them a third time.
pub fn period_records(period: Duration, sel: &str) -> Vec<(String, String)> {
    slice_records(period, period, sel, "\n-\n", str::to_owned)
}

/// The period recordings of a calendar period, as [`period_records`]: the
/// recorded slices of each `step` (`count_over_time` over the step, 1 ms
/// short, so that consecutive steps share no sample), which `sum` adds up
/// over the steps of the current period (see `rules::calendar_window_rules`).
pub fn calendar_period_records(
    period: Duration,
    step: Duration,
    sel: &str,
    sum: impl Fn(&str) -> String,
) -> Vec<(String, String)> {
    slice_records(period, step, sel, " - ", sum)
}

/// The counted slices, bad slices and their ratio of a period named by
/// `period`: the recorded slices over `over`, their counts passed through
/// `sum`, the bad ones' subtraction written with `minus`.
fn slice_records(
    period: Duration,
    over: Duration,
    sel: &str,
    minus: &str,
    sum: impl Fn(&str) -> String,
) -> Vec<(String, String)> {
    let d = promql_duration(period);
    let x = format!("{SLICE_RECORD}{sel}[{}]", range(over));
    let (count, bad) = (
        format!("slo:sli_slices:count{d}"),
        format!("slo:sli_bad_slices:count{d}"),
    );
    vec![
        (count.clone(), sum(&format!("count_over_time({x})"))),
        (
            bad.clone(),
            sum(&format!("count_over_time({x}){minus}sum_over_time({x})")),
        ),
        (
            format!("slo:sli_error:ratio_rate{d}"),
            format!("{bad}{sel}\n/\n{count}{sel}"),
        ),
    ]
}

/// The counted slices (as `total`) and bad slices (as `errors`) of the
/// window ending at the query's time, straight from the SLI's series: the
/// slice value as a subquery stepped by the slice.
pub fn events(slo: &Slo, t: &Timeslices, window: Duration) -> EventQueries {
    let sub = format!(
        "({})[{}:{}]",
        slice_good(slo, t).replace('\n', " "),
        range(window),
        promql_duration(t.slice)
    );
    EventQueries {
        errors: format!("count_over_time({sub}) - sum_over_time({sub})"),
        total: format!("count_over_time({sub})"),
    }
}

/// How many slices a window holds.
pub fn slices_in(window: Duration, t: &Timeslices) -> u64 {
    let s = t.slice.as_millis().max(1);
    u64::try_from(window.as_millis().saturating_sub(1) / s + 1).unwrap_or(u64::MAX)
}

/// What a slice's value means, for descriptions: "a 1m slice is good when
/// at least 95% of its events are".
pub fn describe(t: &Timeslices) -> String {
    let slice = promql_duration(t.slice);
    match t.target {
        Some(target) => format!(
            "{slice} time slices: a slice is good when at least {}% of its events are good",
            fmt_num(target * 100.0)
        ),
        None => format!("{slice} time slices: each slice counts its share of good events"),
    }
}

/// The event-count queries of an SLO over a window; for a time-slice SLO,
/// its counted slices and bad slices.
pub fn slo_events(slo: &Slo, window: Duration) -> EventQueries {
    match &slo.timeslices {
        Some(t) => events(slo, t, window),
        None => promql::sli_events(&slo.sli, window),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn slo(sli: &str, extra: &str) -> Slo {
        let spec = format!(
            "version: slo/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n{extra}    sli: {sli}\n"
        );
        let mut s = crate::spec::parse(&spec, Path::new("spec.yaml")).unwrap();
        s.slos.remove(0)
    }

    const SLICES: &str = "    timeslices: {slice: 1m, target: 0.95}\n";

    #[test]
    fn a_slice_counts_only_with_traffic_and_compares_with_bool() {
        let s = slo("{availability: {selector: '{job=\"x\"}'}}", SLICES);
        let t = s.timeslices.unwrap();
        let e = slice_good(&s, &t);
        assert_eq!(
            e,
            "(\n1 - (sum(increase(http_server_request_duration_seconds_count{job=\"x\",http_response_status_code=~\"5..\"}[1m])) or vector(0))\n/\n(sum(increase(http_server_request_duration_seconds_count{job=\"x\"}[1m])) > 0)\n) >= bool 0.95"
        );
        promql::check(&e).unwrap();
        let s = slo(
            "{ratio: {good: 'g{a=\"1\"}', total: 'g'}}",
            "    min_events: 20\n    timeslices: {slice: 30s}\n",
        );
        let e = slice_good(&s, &s.timeslices.unwrap());
        assert!(e.ends_with("(sum(increase(g[30s])) >= 20)"), "{e}");
        assert!(!e.contains("bool"), "{e}");
    }

    #[test]
    fn ranges_are_a_millisecond_short() {
        let d = Duration::from_secs;
        assert_eq!(range(d(300)), "4m59s999ms");
        assert_eq!(range(d(30 * 86_400)), "29d23h59m59s999ms");
        assert_eq!(range(d(5)), "4s999ms");
        assert_eq!(range(d(1)), "999ms");
        let t = Timeslices {
            slice: d(60),
            target: None,
        };
        assert_eq!(slices_in(d(300), &t), 5);
        assert_eq!(slices_in(d(280), &t), 5);
        assert_eq!(slices_in(d(60), &t), 1);
        assert_eq!(slices_in(d(30 * 86_400), &t), 43_200);
    }

    #[test]
    fn every_query_parses() {
        for sli in [
            "{availability: {}}",
            "{latency: {metric: h, selector: '{a=\"b\"}', threshold: 0.3}}",
            "{ratio: {good: 'g{a=\"1\"}', total: 'g'}}",
            "{events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}}",
        ] {
            let s = slo(sli, SLICES);
            let t = s.timeslices.unwrap();
            for w in crate::windows::alert_windows(s.period)
                .into_iter()
                .chain([s.period])
            {
                let q = events(&s, &t, w);
                promql::check(&q.total).unwrap_or_else(|e| panic!("{}: {e}", q.total));
                promql::check(&q.errors).unwrap_or_else(|e| panic!("{}: {e}", q.errors));
                let sel = "{slo=\"a\"}";
                for (_, expr) in window_records(w, sel)
                    .into_iter()
                    .chain(period_records(w, sel))
                {
                    promql::check(&expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
                }
            }
        }
    }
}
