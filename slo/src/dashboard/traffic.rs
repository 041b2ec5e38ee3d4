//! The traffic row of the dashboards: request rate, error ratio and latency
//! percentiles, broken down by route and status where those labels are
//! known.
//!
//! Which series it reads ([`Traffic::resolve`]):
//!
//! - **The OpenTelemetry HTTP server histogram** ([`Source::Http`]) when the
//!   spec's SLIs read it (an availability SLI, or any SLI on that metric),
//!   when the spec has no SLOs, or when a histogram is named in the
//!   options: requests and latency from `METRIC_count` and `METRIC_bucket`,
//!   errors from the 5xx status codes, routes from `http_route`.
//! - **The SLIs' own series** ([`Source::Slis`]) otherwise: requests from the
//!   total selector of the first ratio or events SLI (an events query as
//!   [`crate::promql::rate_selector`] reads it), the error ratio from its
//!   good or error selector, and percentiles from the buckets of the first
//!   latency SLI, with its threshold drawn as a dashed line. Without a ratio
//!   or events SLI the request rate is the latency histogram's `_count`; an
//!   events SLI of another form is drawn from its own queries, without
//!   breakdowns.
//!
//! Units follow the metric names' suffixes ([`crate::unit`]). A route or
//! status breakdown appears only for a label that is known: given in the
//! options, the OpenTelemetry one for the HTTP histogram, or one of
//! [`ROUTE_LABELS`] / [`STATUS_LABELS`] that a matcher of the row's
//! selectors names (so the series have it). `slo check --prometheus` lists
//! the labels the series really have ([`advise`]).

use std::collections::BTreeSet;

use promql_parser::label::Matcher;
use promql_parser::parser::{self, Expr, VectorSelector};
use serde_json::{Value, json};

use crate::dashboard::{
    DashboardError, Grid, HTTP_METRIC, Options, ds, steps, targets, timeseries,
};
use crate::model::{Service, Sli};
use crate::promql::{self, braces, with_matcher};
use crate::unit;

/// Label names read as a request's route, in order of preference.
pub const ROUTE_LABELS: &[&str] = &[
    "http_route",
    "route",
    "endpoint",
    "handler",
    "path",
    "url_path",
    "uri",
    "http_target",
];

/// Label names read as a response's status, in order of preference.
pub const STATUS_LABELS: &[&str] = &[
    "http_response_status_code",
    "status_code",
    "status",
    "code",
    "http_status_code",
    "http_status",
    "response_code",
];

/// The OpenTelemetry HTTP route label.
const HTTP_ROUTE: &str = "http_route";
/// The OpenTelemetry HTTP status label.
const HTTP_STATUS: &str = "http_response_status_code";

/// Where the traffic row's series come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The OpenTelemetry HTTP server histogram (or the histogram named).
    Http,
    /// The SLIs' own selectors.
    Slis,
}

/// How a label of the row is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Set in the options.
    Given,
    /// The OpenTelemetry HTTP semantic conventions' label.
    Convention,
    /// A matcher of a selector the row reads names it.
    Spec,
}

/// A route or status label of the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub name: String,
    pub known: Known,
}

/// How the row counts failed requests.
#[derive(Debug, Clone, PartialEq)]
enum Failed {
    /// A selector of the failed requests.
    Bad(String),
    /// A selector of the good requests: the rest failed.
    Good(String),
}

/// The counter selectors of a ratio or events SLI, parsed.
struct CounterSelectors<'a> {
    total: VectorSelector,
    /// The good (ratio) or error (events) selector.
    part: VectorSelector,
    good: bool,
    /// The SLO.
    from: &'a str,
}

/// How the row counts requests.
#[derive(Debug, Clone, PartialEq)]
enum Counts {
    /// Counter selectors, narrowed to the route variable.
    Counters {
        total: String,
        failed: Option<Failed>,
    },
    /// An events SLI's own queries, `{{.window}}` read as `$__rate_interval`.
    Queries { total: String, errors: String },
}

/// The latency histogram of the row.
#[derive(Debug, Clone, PartialEq)]
struct Histogram {
    /// The base name (without `_bucket`).
    metric: String,
    /// `METRIC_bucket{...}`, narrowed to the route variable.
    bucket: String,
    /// The latency SLI's bound, drawn as a line.
    threshold: Option<f64>,
}

/// What the traffic row reads, resolved from a spec and the options.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    pub source: Source,
    counts: Option<Counts>,
    /// The SLO the request counts come from (for [`Source::Slis`]).
    counts_from: Option<String>,
    latency: Option<Histogram>,
    /// The SLO the latency comes from (for [`Source::Slis`]).
    latency_from: Option<String>,
    pub route: Option<Label>,
    pub status: Option<Label>,
    /// The selector whose route values the route variable lists.
    variable: Option<String>,
    /// Every series selector the row reads, without the route variable.
    pub series: Vec<String>,
}

/// A label name as Prometheus allows it, not reserved (`__...`).
fn label_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with("__")
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
}

/// Whether the spec's SLIs read the OpenTelemetry HTTP histogram.
fn uses_http(service: &Service) -> bool {
    service.slos.is_empty()
        || service.slos.iter().any(|s| match &s.sli {
            Sli::Availability { .. } => true,
            Sli::Latency { metric, .. } => metric == HTTP_METRIC,
            Sli::Ratio { good, total } => good.contains(HTTP_METRIC) || total.contains(HTTP_METRIC),
            Sli::Events {
                error_query,
                total_query,
            } => error_query.contains(HTTP_METRIC) || total_query.contains(HTTP_METRIC),
        })
}

/// A selector, parsed.
fn parse_selector(text: &str) -> Result<VectorSelector, DashboardError> {
    match parser::parse(text) {
        Ok(Expr::VectorSelector(vs)) => Ok(vs),
        Ok(_) => Err(DashboardError::Selector {
            selector: text.to_owned(),
            message: "not a metric selector".into(),
        }),
        Err(e) => Err(DashboardError::Selector {
            selector: text.to_owned(),
            message: e.trim().to_owned(),
        }),
    }
}

/// The matchers of `{...}` (a set of label matchers, braces optional).
fn matchers_of(selector: &str) -> Result<Vec<Matcher>, DashboardError> {
    let vs = parse_selector(&format!("x{}", braces(selector))).map_err(|e| match e {
        DashboardError::Selector { message, .. } => DashboardError::Selector {
            selector: selector.to_owned(),
            message,
        },
        other => other,
    })?;
    if !vs.matchers.or_matchers.is_empty() {
        return Err(DashboardError::Selector {
            selector: selector.to_owned(),
            message: "`or` between matchers cannot be added to other selectors".into(),
        });
    }
    Ok(vs.matchers.matchers)
}

/// `vs` with `extra` matchers (in each `or` group), as promql-parser writes it.
fn narrowed(vs: &VectorSelector, extra: &[Matcher]) -> String {
    let mut vs = vs.clone();
    if vs.matchers.or_matchers.is_empty() {
        vs.matchers.matchers.extend(extra.iter().cloned());
    } else {
        for group in &mut vs.matchers.or_matchers {
            group.extend(extra.iter().cloned());
        }
    }
    vs.to_string()
}

/// Label names the matchers of `vs` name.
fn named_labels(vs: &VectorSelector, into: &mut BTreeSet<String>) {
    let groups = std::iter::once(&vs.matchers.matchers).chain(&vs.matchers.or_matchers);
    for m in groups.flatten() {
        into.insert(m.name.clone());
    }
}

/// The label of `options`, or the first of `candidates` the spec names.
fn pick(given: Option<&String>, named: &BTreeSet<String>, candidates: &[&str]) -> Option<Label> {
    match given {
        Some(name) => Some(Label {
            name: name.clone(),
            known: Known::Given,
        }),
        None => candidates
            .iter()
            .find(|c| named.contains(**c))
            .map(|c| Label {
                name: (*c).to_owned(),
                known: Known::Spec,
            }),
    }
}

/// `sum by (BY) (rate(SELECTOR[$__rate_interval]))`; `sum(...)` without labels.
fn sum_rate(selector: &str, by: &[&str]) -> String {
    if by.is_empty() {
        format!("sum(rate({selector}[$__rate_interval]))")
    } else {
        format!(
            "sum by ({}) (rate({selector}[$__rate_interval]))",
            by.join(", ")
        )
    }
}

/// An events query for the dashboard: `{{.window}}` as `$__rate_interval`,
/// if the result is a query the dashboard lint accepts.
fn dashboard_query(query: &str) -> Option<String> {
    let q = query.replace("{{.window}}", "$__rate_interval");
    let ok = promql::check(&crate::dashboard::expand(&q, "5m")).is_ok()
        && crate::dashboard::fixed_ranges(&q).is_empty()
        && !q.contains("histogram_quantile");
    ok.then_some(q)
}

impl Traffic {
    /// What the traffic row of `service`'s dashboards reads, given `opts`.
    pub fn resolve(service: &Service, opts: &Options) -> Result<Traffic, DashboardError> {
        for (what, label) in [
            ("route label", &opts.route_label),
            ("status label", &opts.status_label),
        ] {
            if let Some(l) = label
                && !label_name_ok(l)
            {
                return Err(DashboardError::Label {
                    what,
                    label: l.clone(),
                });
            }
        }
        if opts.metric.is_some() || uses_http(service) {
            Self::http(service, opts)
        } else {
            Self::slis(service, opts)
        }
    }

    fn http(service: &Service, opts: &Options) -> Result<Traffic, DashboardError> {
        let metric = opts.metric.as_deref().unwrap_or(HTTP_METRIC);
        let name_ok = !metric.is_empty()
            && metric
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !metric.starts_with(|c: char| c.is_ascii_digit());
        if !name_ok {
            return Err(DashboardError::Metric {
                metric: metric.to_owned(),
            });
        }
        let selector = opts
            .selector
            .clone()
            .unwrap_or_else(|| format!("{{job=\"{}\"}}", service.name));
        let probe = format!("{metric}_count{}", braces(&selector));
        promql::check_selector(&probe).map_err(|message| DashboardError::Selector {
            selector: selector.clone(),
            message,
        })?;
        let label = |given: &Option<String>, convention: &str| match given {
            Some(l) => Label {
                name: l.clone(),
                known: Known::Given,
            },
            None => Label {
                name: convention.to_owned(),
                known: Known::Convention,
            },
        };
        let route = label(&opts.route_label, HTTP_ROUTE);
        let status = label(&opts.status_label, HTTP_STATUS);
        let sel = with_matcher(&selector, &format!("{}=~\"$route\"", route.name));
        let errors = with_matcher(&sel, &format!("{}=~\"5..\"", status.name));
        Ok(Traffic {
            source: Source::Http,
            counts: Some(Counts::Counters {
                total: format!("{metric}_count{sel}"),
                failed: Some(Failed::Bad(format!("{metric}_count{errors}"))),
            }),
            counts_from: None,
            latency: Some(Histogram {
                metric: metric.to_owned(),
                bucket: format!("{metric}_bucket{sel}"),
                threshold: None,
            }),
            latency_from: None,
            route: Some(route),
            status: Some(status),
            variable: Some(probe.clone()),
            series: vec![probe],
        })
    }

    fn slis(service: &Service, opts: &Options) -> Result<Traffic, DashboardError> {
        let extra = match &opts.selector {
            Some(s) => matchers_of(s)?,
            None => Vec::new(),
        };
        // Requests: counter selectors of the first ratio or events SLI that
        // has them, else the first events SLI's own queries.
        let mut counters: Option<CounterSelectors> = None;
        let mut queries: Option<(String, String, &str)> = None;
        for slo in &service.slos {
            match &slo.sli {
                Sli::Ratio { good, total } if counters.is_none() => {
                    let (g, t) = (parse_selector(good)?, parse_selector(total)?);
                    counters = Some(CounterSelectors {
                        total: t,
                        part: g,
                        good: true,
                        from: &slo.name,
                    });
                }
                Sli::Events {
                    error_query,
                    total_query,
                } if counters.is_none() => {
                    match (
                        promql::rate_selector(error_query),
                        promql::rate_selector(total_query),
                    ) {
                        (Ok(e), Ok(t)) => {
                            counters = Some(CounterSelectors {
                                total: t,
                                part: e,
                                good: false,
                                from: &slo.name,
                            })
                        }
                        _ if queries.is_none() => {
                            if let (Some(e), Some(t)) =
                                (dashboard_query(error_query), dashboard_query(total_query))
                            {
                                queries = Some((t, e, &slo.name));
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        // Latency: the first latency SLI's histogram.
        let latency = service.slos.iter().find_map(|s| match &s.sli {
            Sli::Latency {
                metric,
                selector,
                threshold,
            } => Some((metric, selector, *threshold, &s.name)),
            _ => None,
        });
        let latency = match latency {
            Some((metric, selector, threshold, from)) => Some((
                metric.clone(),
                parse_selector(&format!("{metric}_bucket{}", braces(selector)))?,
                parse_selector(&format!("{metric}_count{}", braces(selector)))?,
                threshold,
                from,
            )),
            None => None,
        };

        // The labels the spec names on the series the row reads.
        let mut named = BTreeSet::new();
        if let Some(c) = &counters {
            named_labels(&c.total, &mut named);
            named_labels(&c.part, &mut named);
        }
        if let Some((_, bucket, _, _, _)) = &latency {
            named_labels(bucket, &mut named);
        }
        let route = pick(opts.route_label.as_ref(), &named, ROUTE_LABELS);
        let status = pick(opts.status_label.as_ref(), &named, STATUS_LABELS);

        // The route variable lists the values of the request counter (or
        // the histogram); every selector it can narrow gets its matcher.
        let variable_of = counters
            .as_ref()
            .map(|c| &c.total)
            .or(latency.as_ref().map(|(_, _, count, _, _)| count));
        let mut narrow = extra.clone();
        let variable = match (&route, variable_of) {
            (Some(r), Some(vs)) => {
                narrow.extend(matchers_of(&format!("{{{}=~\"$route\"}}", r.name))?);
                Some(narrowed(vs, &extra))
            }
            _ => None,
        };

        let mut series = Vec::new();
        let (counts, counts_from) = if let Some(c) = &counters {
            series.push(narrowed(&c.total, &extra));
            series.push(narrowed(&c.part, &extra));
            let part = narrowed(&c.part, &narrow);
            (
                Some(Counts::Counters {
                    total: narrowed(&c.total, &narrow),
                    failed: Some(if c.good {
                        Failed::Good(part)
                    } else {
                        Failed::Bad(part)
                    }),
                }),
                Some(c.from.to_owned()),
            )
        } else if let Some((total, errors, from)) = queries {
            (
                Some(Counts::Queries { total, errors }),
                Some(from.to_owned()),
            )
        } else if let Some((_, _, count, _, from)) = &latency {
            series.push(narrowed(count, &extra));
            (
                Some(Counts::Counters {
                    total: narrowed(count, &narrow),
                    failed: None,
                }),
                Some((*from).to_owned()),
            )
        } else {
            (None, None)
        };
        let (latency, latency_from) = match latency {
            Some((metric, bucket, _, threshold, from)) => {
                series.push(narrowed(&bucket, &extra));
                (
                    Some(Histogram {
                        metric,
                        bucket: narrowed(&bucket, &narrow),
                        threshold: Some(threshold),
                    }),
                    Some(from.to_owned()),
                )
            }
            None => (None, None),
        };
        series.dedup();
        Ok(Traffic {
            source: Source::Slis,
            counts,
            counts_from,
            latency,
            latency_from,
            route,
            status,
            variable,
            series,
        })
    }

    /// The route label, if the row breaks requests down by route.
    fn route_name(&self) -> Option<&str> {
        self.route.as_ref().map(|l| l.name.as_str())
    }

    fn status_name(&self) -> Option<&str> {
        self.status.as_ref().map(|l| l.name.as_str())
    }

    /// ` (SLO "NAME")`, saying which SLO a panel reads.
    fn of_slo(from: Option<&str>) -> String {
        from.map(|n| format!("SLO {n:?}")).unwrap_or_default()
    }

    fn rate_panel(&self, counts: &Counts) -> Value {
        let route = self.route_name();
        let status = self.status_name();
        let (total, by): (&str, Vec<&str>) = match counts {
            Counts::Counters { total, .. } => (total, route.into_iter().chain(status).collect()),
            Counts::Queries { total, .. } => (total, Vec::new()),
        };
        let by_route = route.is_some() && matches!(counts, Counts::Counters { .. });
        let by_status = status.is_some() && matches!(counts, Counts::Counters { .. });
        let title = match (by_route, by_status) {
            (true, true) => "Request rate by route and status",
            (true, false) => "Request rate by route",
            (false, true) => "Request rate by status",
            (false, false) => "Request rate",
        };
        let legend = if by.is_empty() {
            "requests".to_owned()
        } else {
            by.iter()
                .map(|l| format!("{{{{{l}}}}}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let description = match (self.source, counts) {
            (Source::Http, _) => {
                let m = self.latency.as_ref().map_or("", |h| h.metric.as_str());
                format!(
                    "Requests per second, by route template and response status code, from {m}_count."
                )
            }
            (Source::Slis, Counts::Counters { .. }) => format!(
                "Requests per second{}, from {}, the total of {}.",
                if by.is_empty() {
                    String::new()
                } else {
                    format!(", by {}", by.join(" and "))
                },
                self.series.first().map_or("", String::as_str),
                Self::of_slo(self.counts_from.as_deref())
            ),
            (Source::Slis, Counts::Queries { .. }) => format!(
                "Events per second: the total query of {}, with $__rate_interval as its window.",
                Self::of_slo(self.counts_from.as_deref())
            ),
        };
        let expr = match counts {
            Counts::Counters { .. } => sum_rate(total, &by),
            Counts::Queries { .. } => total.to_owned(),
        };
        timeseries(title, &description, "reqps", targets(&[(&legend, expr)]))
    }

    fn error_panel(&self, counts: &Counts) -> Option<Value> {
        let route = self.route_name();
        let by: Vec<&str> = route.into_iter().collect();
        let (expr, description) = match counts {
            Counts::Counters {
                total,
                failed: Some(failed),
            } => {
                let all = sum_rate(total, &by);
                let (expr, what) = match failed {
                    Failed::Bad(bad) => (
                        format!(
                            "(\n  {}\n  or\n  {all} * 0\n)\n/\n{all}",
                            sum_rate(bad, &by)
                        ),
                        "matched by its error selector",
                    ),
                    Failed::Good(good) => (
                        format!(
                            "1 - (\n  {}\n  or\n  {all} * 0\n)\n/\n{all}",
                            sum_rate(good, &by)
                        ),
                        "not matched by its good selector",
                    ),
                };
                let description = match self.source {
                    Source::Http => "Share of requests answered with a 5xx status, by route template. Routes without errors show 0.".to_owned(),
                    Source::Slis => format!(
                        "Share of the requests of {} that {} counts as failed ({what}){}.{}",
                        self.series.first().map_or("", String::as_str),
                        Self::of_slo(self.counts_from.as_deref()),
                        route.map(|r| format!(", by {r}")).unwrap_or_default(),
                        if route.is_some() {
                            " Values without errors show 0."
                        } else {
                            ""
                        }
                    ),
                };
                (expr, description)
            }
            Counts::Counters { failed: None, .. } => return None,
            Counts::Queries { total, errors } => (
                format!("({errors})\n/\n({total})"),
                format!(
                    "The error query of {} over its total query, each with $__rate_interval as its window.",
                    Self::of_slo(self.counts_from.as_deref())
                ),
            ),
        };
        let by_route = route.is_some() && matches!(counts, Counts::Counters { .. });
        let legend = match (by_route, route) {
            (true, Some(r)) => format!("{{{{{r}}}}}"),
            _ => "error ratio".to_owned(),
        };
        let title = if by_route {
            "Error ratio by route"
        } else {
            "Error ratio"
        };
        let mut err = timeseries(
            title,
            &description,
            "percentunit",
            targets(&[(&legend, expr)]),
        );
        err["fieldConfig"]["defaults"]["min"] = json!(0);
        Some(err)
    }

    fn latency_panels(&self, h: &Histogram) -> Vec<Value> {
        let m = &h.metric;
        let u = unit::latency(m);
        let quantile = |q: &str, by: &str| {
            format!(
                "histogram_quantile({q}, sum by ({by}) (rate({}[$__rate_interval])))",
                h.bucket
            )
        };
        let what = if u.time {
            "Latency".to_owned()
        } else {
            m.clone()
        };
        let description = match self.source {
            Source::Http => "Request duration percentiles over all selected routes, from the histogram's buckets. Exemplars (dots) carry the trace id of a request in that bucket: click one to open the trace.".to_owned(),
            Source::Slis => format!(
                "Percentiles of {m}{}, from the buckets of {}, the latency SLI of {}, in {}.{} Exemplars (dots), where the exporter writes them, carry the trace id of a request in that bucket.",
                if self.route.is_some() { " over the selected routes" } else { "" },
                self.series.last().map_or("", String::as_str),
                Self::of_slo(self.latency_from.as_deref()),
                if unit::of(m).is_some() {
                    format!("{} (the unit its name ends in)", u.grafana)
                } else {
                    "seconds (its name has no unit suffix)".to_owned()
                },
                h.threshold
                    .map(|t| format!(" The dashed line is the SLO's threshold, {}.", u.show(t)))
                    .unwrap_or_default()
            ),
        };
        let mut lat = timeseries(
            &format!("{what} p50 / p95 / p99"),
            &description,
            u.grafana,
            targets(&[
                ("p50", quantile("0.5", "le")),
                ("p95", quantile("0.95", "le")),
                ("p99", quantile("0.99", "le")),
            ]),
        );
        for t in lat["targets"].as_array_mut().into_iter().flatten() {
            t["exemplar"] = json!(true);
        }
        if let (Source::Slis, Some(t)) = (self.source, h.threshold) {
            lat["fieldConfig"]["defaults"]["thresholds"] =
                steps(&[(None, "green"), (Some(t), "red")]);
            lat["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] = json!({"mode": "dashed"});
        }
        let mut out = vec![lat];
        if let Some(r) = self.route_name() {
            let description = match self.source {
                Source::Http => "The 99th percentile of request duration per route template, from the histogram's buckets.".to_owned(),
                Source::Slis => format!("The 99th percentile of {m} per {r}, from the histogram's buckets."),
            };
            let mut by_route = timeseries(
                &format!("{what} p99 by route"),
                &description,
                u.grafana,
                targets(&[(
                    &format!("{{{{{r}}}}}"),
                    quantile("0.99", &format!("le, {r}")),
                )]),
            );
            by_route["targets"][0]["exemplar"] = json!(true);
            out.push(by_route);
        }
        out
    }

    /// Adds the row, titled `title`, to `grid`: panels two abreast.
    pub(crate) fn row(&self, grid: &mut Grid, title: &str) {
        grid.row(title);
        let mut panels = Vec::new();
        if let Some(c) = &self.counts {
            panels.push(self.rate_panel(c));
            panels.extend(self.error_panel(c));
        }
        if let Some(h) = &self.latency {
            panels.extend(self.latency_panels(h));
        }
        for pair in panels.chunks(2) {
            match pair {
                [a, b] => {
                    grid.put(a.clone(), 0, 0, 12, 8);
                    grid.put(b.clone(), 12, 0, 12, 8);
                }
                [a] => grid.put(a.clone(), 0, 0, 24, 8),
                _ => {}
            }
            grid.advance(8);
        }
    }

    /// The `route` variable (multi, All matching every route) of the row of
    /// `of` ("the traffic row"), when the row has a route label.
    pub(crate) fn variable(&self, of: &str) -> Option<Value> {
        let (route, selector) = (self.route_name()?, self.variable.as_ref()?);
        let description = match self.source {
            Source::Http => format!("Route templates of {of}."),
            Source::Slis => format!("Values of {route}, the route label of {of}."),
        };
        Some(json!({
            "type": "query",
            "name": "route",
            "label": "Route",
            "description": description,
            "datasource": ds(),
            "query": format!("label_values({selector}, {route})"),
            "refresh": 2,
            "sort": 1,
            "multi": true,
            "includeAll": true,
            "allValue": ".*",
            "current": {"text": ["All"], "value": ["$__all"]},
        }))
    }
}

/// What to do about the route or status label of a traffic row, given the
/// label names Prometheus holds on the row's series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// The row's label is on the series.
    Found(String),
    /// The row's label is not on the series; `instead` is one that is.
    Missing {
        label: String,
        instead: Option<String>,
    },
    /// The row has no such label, but the series have this one.
    Pass(String),
    /// Neither the row nor the series have one: no breakdown.
    None,
}

/// Advice for one label of a row (`row`: its label, if any) from the label
/// names of its series (`found`) and the names that label may have.
pub fn advise(row: Option<&Label>, found: &BTreeSet<String>, candidates: &[&str]) -> Advice {
    let candidate = candidates
        .iter()
        .find(|c| found.contains(**c))
        .map(|c| (*c).to_owned());
    match row {
        Some(l) if found.contains(&l.name) => Advice::Found(l.name.clone()),
        Some(l) => Advice::Missing {
            label: l.name.clone(),
            instead: candidate,
        },
        None => candidate.map_or(Advice::None, Advice::Pass),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn service(spec: &str) -> Service {
        crate::spec::parse(spec, Path::new("spec.yaml")).unwrap()
    }

    const FOREIGN: &str = r#"
version: slo/v1
service: flask
slos:
  - name: availability
    objective: 99
    sli:
      ratio:
        good: 'requests_total{job="flask", status!~"5.."}'
        total: 'requests_total{job="flask"}'
  - name: latency
    objective: 95
    sli:
      latency: {metric: request_latency_ms, selector: '{job="flask"}', threshold: 250}
"#;

    #[test]
    fn the_otel_metric_keeps_the_http_row() {
        let s = service(include_str!("../../../alerts/target-app.slo.yaml"));
        let t = Traffic::resolve(&s, &Options::default()).unwrap();
        assert_eq!(t.source, Source::Http);
        assert_eq!(t.route.as_ref().unwrap().name, "http_route");
        assert_eq!(t.route.as_ref().unwrap().known, Known::Convention);
        // A ratio SLI on the OTel histogram is the HTTP row too.
        let s = service(
            "version: slo/v1\nservice: a\nslos:\n  - name: r\n    objective: 99\n    sli: {ratio: {good: 'http_server_request_duration_seconds_count{http_response_status_code!~\"5..\"}', total: http_server_request_duration_seconds_count}}\n",
        );
        assert_eq!(
            Traffic::resolve(&s, &Options::default()).unwrap().source,
            Source::Http
        );
        // So is a named histogram, whatever the SLIs read.
        let opts = Options {
            metric: Some("rpc_duration_seconds".into()),
            ..Options::default()
        };
        let t = Traffic::resolve(&service(FOREIGN), &opts).unwrap();
        assert_eq!(t.source, Source::Http);
        assert_eq!(t.series, ["rpc_duration_seconds_count{job=\"flask\"}"]);
    }

    #[test]
    fn a_foreign_spec_reads_its_own_selectors() {
        let t = Traffic::resolve(&service(FOREIGN), &Options::default()).unwrap();
        assert_eq!(t.source, Source::Slis);
        // status is named by the good selector; no route label is.
        assert_eq!(
            t.status,
            Some(Label {
                name: "status".into(),
                known: Known::Spec
            })
        );
        assert_eq!(t.route, None);
        assert_eq!(t.variable(""), None);
        assert_eq!(
            t.series,
            [
                "requests_total{job=\"flask\"}",
                "requests_total{job=\"flask\",status!~\"5..\"}",
                "request_latency_ms_bucket{job=\"flask\"}",
            ]
        );
        let mut g = Grid::new();
        t.row(&mut g, "Traffic");
        let titles: Vec<&str> = g
            .panels
            .iter()
            .filter_map(|p| p["title"].as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "Traffic",
                "Request rate by status",
                "Error ratio",
                "Latency p50 / p95 / p99"
            ]
        );
        assert_eq!(
            g.panels[1]["targets"][0]["expr"],
            "sum by (status) (rate(requests_total{job=\"flask\"}[$__rate_interval]))"
        );
        assert_eq!(
            g.panels[2]["targets"][0]["expr"],
            "1 - (\n  sum(rate(requests_total{job=\"flask\",status!~\"5..\"}[$__rate_interval]))\n  or\n  sum(rate(requests_total{job=\"flask\"}[$__rate_interval])) * 0\n)\n/\nsum(rate(requests_total{job=\"flask\"}[$__rate_interval]))"
        );
        let lat = &g.panels[3];
        assert_eq!(lat["fieldConfig"]["defaults"]["unit"], "ms");
        assert_eq!(
            lat["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
            250.0
        );
        assert!(
            lat["description"]
                .as_str()
                .unwrap()
                .contains("threshold, 250ms")
        );
        // A lone last panel spans the row.
        assert_eq!(lat["gridPos"]["w"], 24);
    }

    #[test]
    fn a_route_label_adds_the_route_panels_and_variable() {
        let opts = Options {
            route_label: Some("endpoint".into()),
            selector: Some("{env=\"prod\"}".into()),
            ..Options::default()
        };
        let t = Traffic::resolve(&service(FOREIGN), &opts).unwrap();
        assert_eq!(t.route.as_ref().unwrap().known, Known::Given);
        let v = t.variable("the traffic row").unwrap();
        assert_eq!(
            v["query"],
            "label_values(requests_total{env=\"prod\",job=\"flask\"}, endpoint)"
        );
        let mut g = Grid::new();
        t.row(&mut g, "Traffic");
        let titles: Vec<&str> = g
            .panels
            .iter()
            .filter_map(|p| p["title"].as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "Traffic",
                "Request rate by route and status",
                "Error ratio by route",
                "Latency p50 / p95 / p99",
                "Latency p99 by route"
            ]
        );
        for p in &g.panels[1..] {
            for q in p["targets"].as_array().unwrap() {
                let e = q["expr"].as_str().unwrap();
                assert!(
                    e.contains("endpoint=~\"$route\"") && e.contains("env=\"prod\""),
                    "{e}"
                );
            }
        }
        assert_eq!(
            g.panels[4]["targets"][0]["expr"],
            "histogram_quantile(0.99, sum by (le, endpoint) (rate(request_latency_ms_bucket{endpoint=~\"$route\",env=\"prod\",job=\"flask\"}[$__rate_interval])))"
        );
    }

    #[test]
    fn events_slis_give_their_selectors_or_their_queries() {
        let s = service(
            r#"
version: slo/v1
service: shop
slos:
  - name: ev
    objective: 99
    sli:
      events:
        error_query: sum(rate(reqs_total{code=~"5.."}[{{.window}}])) or vector(0)
        total_query: sum(rate(reqs_total[{{.window}}]))
"#,
        );
        let t = Traffic::resolve(&s, &Options::default()).unwrap();
        assert_eq!(t.status.as_ref().unwrap().name, "code");
        assert_eq!(t.series, ["reqs_total", "reqs_total{code=~\"5..\"}"]);
        let mut g = Grid::new();
        t.row(&mut g, "T");
        assert_eq!(
            g.panels[2]["targets"][0]["expr"],
            "(\n  sum(rate(reqs_total{code=~\"5..\"}[$__rate_interval]))\n  or\n  sum(rate(reqs_total[$__rate_interval])) * 0\n)\n/\nsum(rate(reqs_total[$__rate_interval]))"
        );
        // A query of another form is drawn as written, without breakdowns.
        let s = service(
            r#"
version: slo/v1
service: shop
slos:
  - name: ev
    objective: 99
    sli:
      events:
        error_query: sum by (code) (rate(reqs_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(reqs_total[{{.window}}])) + sum(rate(other_total[{{.window}}]))
"#,
        );
        let opts = Options {
            route_label: Some("route".into()),
            ..Options::default()
        };
        let t = Traffic::resolve(&s, &opts).unwrap();
        assert!(t.series.is_empty());
        assert_eq!(t.variable("x"), None);
        let mut g = Grid::new();
        t.row(&mut g, "T");
        assert_eq!(g.panels[1]["title"], "Request rate");
        assert_eq!(
            g.panels[1]["targets"][0]["expr"],
            "sum(rate(reqs_total[$__rate_interval])) + sum(rate(other_total[$__rate_interval]))"
        );
        assert_eq!(g.panels[2]["title"], "Error ratio");
    }

    #[test]
    fn a_latency_slo_alone_counts_its_histogram() {
        let s = service(
            "version: slo/v1\nservice: a\nslos:\n  - name: l\n    objective: 99\n    sli: {latency: {metric: rpc_size_bytes, selector: '{route=\"/x\"}', threshold: 1024}}\n",
        );
        let t = Traffic::resolve(&s, &Options::default()).unwrap();
        assert_eq!(t.route.as_ref().unwrap().name, "route");
        let mut g = Grid::new();
        t.row(&mut g, "T");
        let titles: Vec<&str> = g
            .panels
            .iter()
            .filter_map(|p| p["title"].as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "T",
                "Request rate by route",
                "rpc_size_bytes p50 / p95 / p99",
                "rpc_size_bytes p99 by route"
            ]
        );
        assert_eq!(
            g.panels[1]["targets"][0]["expr"],
            "sum by (route) (rate(rpc_size_bytes_count{route=\"/x\",route=~\"$route\"}[$__rate_interval]))"
        );
        assert_eq!(g.panels[2]["fieldConfig"]["defaults"]["unit"], "bytes");
    }

    #[test]
    fn bad_labels_and_selectors_are_refused() {
        let s = service(FOREIGN);
        for (opts, expect) in [
            (
                Options {
                    route_label: Some("9x".into()),
                    ..Options::default()
                },
                "route label \"9x\"",
            ),
            (
                Options {
                    status_label: Some("__name__".into()),
                    ..Options::default()
                },
                "status label \"__name__\"",
            ),
            (
                Options {
                    selector: Some("{job=}".into()),
                    ..Options::default()
                },
                "label matchers",
            ),
        ] {
            let e = Traffic::resolve(&s, &opts).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}");
        }
    }

    #[test]
    fn advice_follows_the_labels_found() {
        let found: BTreeSet<String> = ["endpoint", "job", "status"].map(String::from).into();
        let l = |n: &str| Label {
            name: n.into(),
            known: Known::Spec,
        };
        assert_eq!(
            advise(Some(&l("status")), &found, STATUS_LABELS),
            Advice::Found("status".into())
        );
        assert_eq!(
            advise(None, &found, ROUTE_LABELS),
            Advice::Pass("endpoint".into())
        );
        assert_eq!(
            advise(Some(&l("http_route")), &found, ROUTE_LABELS),
            Advice::Missing {
                label: "http_route".into(),
                instead: Some("endpoint".into())
            }
        );
        assert_eq!(advise(None, &BTreeSet::new(), ROUTE_LABELS), Advice::None);
    }
}
