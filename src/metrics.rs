//! Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.
//!
//! Built on `prometheus-client`: each [`Metrics`] owns its own `Registry`, held in the application
//! state rather than in a process-wide recorder, so several services in one process (the tests)
//! keep their numbers apart.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes (the Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the latency buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The suffix the text format gives every counter; the registry adds it itself.
const COUNTER_SUFFIX: &str = "_total";

/// The help text of a metric missing from [`help`].
const NO_HELP: &str = "Not described";

type Labels = Vec<(&'static str, String)>;

/// The series of one counter name, by label set.
type Counters = Family<Labels, Counter>;

/// The series of one histogram name, by label set (each with [`BUCKETS`]).
type Histograms = Family<Labels, Histogram>;

#[derive(Default)]
struct Families {
    registry: Registry,
    /// By name without the `_total` suffix, as registered.
    counters: HashMap<&'static str, Counters>,
    histograms: HashMap<&'static str, Histograms>,
}

/// What the service counts and times.
///
/// A metric is registered the first time it is counted or observed, so a family without any
/// series is not rendered. The names in [`help`] get their help text; any other name is
/// registered as well, with a placeholder help text, so a new metric shows up before it is
/// described. A name that could not be rendered as valid text is dropped with a debug log, never
/// a panic: one that is not a Prometheus metric name, a counter name that still ends in `_total`
/// once its own `_total` is taken off, or a name whose rendered family would be the same as that
/// of a metric of the other kind (a histogram `x_total` next to a counter `x_total`).
#[derive(Default)]
pub struct Metrics {
    families: RwLock<Families>,
}

/// The help text of each metric the service exports.
fn help(name: &str) -> &'static str {
    match name {
        "tunnus_flows_total" => {
            "Identification flows by stage (started, identified, completed, refused)."
        }
        "tunnus_refusals_total" => "Refusals by reason.",
        "tunnus_notices_total" => {
            "Notices after a change by outcome (queued, sent, retried, dead, lost) and target."
        }
        "tunnus_rate_limited_total" => "Requests refused by a rate limit, by limit.",
        "tunnus_codes_total" => {
            "Activation codes by event (issued, printed, redeemed, failed, revoked, expired)."
        }
        "tunnus_submissions_waited_total" => {
            "Password submissions that waited for another submission of their session."
        }
        "tunnus_broker_reserve_used_total" => {
            "Identifications started from the broker budget's reserve for quiet networks."
        }
        "tunnus_http_requests_total" => "HTTP requests by route and status class.",
        "tunnus_http_request_duration_seconds" => "HTTP request latency by route.",
        "tunnus_broker_call_duration_seconds" => "Calls to the identification broker by step.",
        "tunnus_broker_errors_total" => "Failed calls to the identification broker by step.",
        "tunnus_directory_call_duration_seconds" => "Calls to the directory by operation.",
        "tunnus_directory_errors_total" => "Failed directory calls by operation and kind.",
        _ => "",
    }
}

/// The help text as the registry wants it: it adds the closing full stop itself.
fn registry_help(name: &str) -> &'static str {
    match help(name) {
        "" => NO_HELP,
        text => text.strip_suffix('.').unwrap_or(text),
    }
}

impl Metrics {
    fn read(&self) -> RwLockReadGuard<'_, Families> {
        self.families
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Families> {
        self.families
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds one to counter `name` with `labels`.
    pub fn count(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let base = name.strip_suffix(COUNTER_SUFFIX).unwrap_or(name);
        let labels = own(labels);
        if let Some(family) = self.read().counters.get(base) {
            family.get_or_create(&labels).inc();
            return;
        }
        let mut families = self.write();
        if !families.counters.contains_key(base) {
            if let Some(refusal) = counter_refusal(base, &families) {
                tracing::debug!(metric = name, refusal, "counter dropped");
                return;
            }
            let family = Counters::default();
            families
                .registry
                .register(base, registry_help(name), family.clone());
            families.counters.insert(base, family);
        }
        if let Some(family) = families.counters.get(base) {
            family.get_or_create(&labels).inc();
        }
    }

    /// Records one duration in histogram `name` with `labels`.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], took: Duration) {
        let seconds = took.as_secs_f64();
        let labels = own(labels);
        if let Some(family) = self.read().histograms.get(name) {
            family.get_or_create(&labels).observe(seconds);
            return;
        }
        let mut families = self.write();
        if !families.histograms.contains_key(name) {
            if let Some(refusal) = histogram_refusal(name, &families) {
                tracing::debug!(metric = name, refusal, "histogram dropped");
                return;
            }
            let family = Histograms::new_with_constructor(latency_histogram as fn() -> Histogram);
            families
                .registry
                .register(name, registry_help(name), family.clone());
            families.histograms.insert(name, family);
        }
        if let Some(family) = families.histograms.get(name) {
            family.get_or_create(&labels).observe(seconds);
        }
    }

    /// The value of a counter (tests and benchmarks).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        let base = name.strip_suffix(COUNTER_SUFFIX).unwrap_or(name);
        self.read()
            .counters
            .get(base)
            .and_then(|family| family.get(&own(labels)).map(|counter| counter.get()))
            .unwrap_or(0)
    }

    /// Everything in the Prometheus text exposition format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_text::encode(&mut out, &self.read().registry) {
            // Writing into a `String` does not fail; nothing registered here fails to encode.
            tracing::debug!(%error, "metrics could not be encoded");
        }
        out
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Why counter `base` (its name without `_total`) cannot be registered, if it cannot.
fn counter_refusal(base: &str, families: &Families) -> Option<&'static str> {
    if !is_metric_name(base) {
        Some("not a metric name")
    } else if base.ends_with(COUNTER_SUFFIX) {
        Some("ends in _total twice")
    } else if families
        .histograms
        .keys()
        .any(|histogram| histogram.strip_suffix(COUNTER_SUFFIX) == Some(base))
    {
        Some("a histogram has the same name")
    } else {
        None
    }
}

/// Why histogram `name` cannot be registered, if it cannot.
fn histogram_refusal(name: &str, families: &Families) -> Option<&'static str> {
    if !is_metric_name(name) {
        Some("not a metric name")
    } else if name
        .strip_suffix(COUNTER_SUFFIX)
        .is_some_and(|base| families.counters.contains_key(base))
    {
        Some("a counter has the same name")
    } else {
        None
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the metric names of the text format.
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_' || first == b':')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':')
}

fn own(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample lines of `text` (no comments), each as (series, value).
    fn samples(text: &str) -> Vec<(&str, &str)> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| line.rsplit_once(' ').expect("a sample is `series value`"))
            .collect()
    }

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.count("tunnus_flows_total", &[("stage", "started")]);
        metrics.count("tunnus_flows_total", &[("stage", "started")]);
        metrics.observe(
            "tunnus_http_request_duration_seconds",
            &[("route", "/")],
            Duration::from_millis(3),
        );
        let text = metrics.render();
        assert!(text.contains("# TYPE tunnus_flows_total counter"));
        assert!(text.contains("tunnus_flows_total{stage=\"started\"} 2"));
        assert!(
            text.contains(
                "tunnus_http_request_duration_seconds_bucket{route=\"/\",le=\"0.005\"} 1"
            )
        );
        assert!(
            text.contains(
                "tunnus_http_request_duration_seconds_bucket{route=\"/\",le=\"0.0025\"} 0"
            )
        );
        assert!(text.contains("tunnus_http_request_duration_seconds_count{route=\"/\"} 1"));
        assert_eq!(
            metrics.counter("tunnus_flows_total", &[("stage", "started")]),
            2
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.count("tunnus_refusals_total", &[("reason", "a\"b\\c\nd")]);
        assert!(metrics.render().contains("reason=\"a\\\"b\\\\c\\nd\""));
    }

    #[test]
    fn help_and_type_lines_keep_the_names_and_texts() {
        let metrics = Metrics::default();
        metrics.count("tunnus_flows_total", &[("stage", "started")]);
        metrics.observe(
            "tunnus_broker_call_duration_seconds",
            &[("step", "finish")],
            Duration::from_millis(1),
        );
        let text = metrics.render();
        assert!(text.contains(
            "# HELP tunnus_flows_total Identification flows by stage \
             (started, identified, completed, refused).\n\
             # TYPE tunnus_flows_total counter\n"
        ));
        assert!(text.contains(
            "# HELP tunnus_broker_call_duration_seconds Calls to the identification broker by step.\n\
             # TYPE tunnus_broker_call_duration_seconds histogram\n"
        ));
        assert!(!text.contains("_total_total"), "{text}");
        assert!(!text.contains(".."), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn two_instances_keep_their_numbers_apart() {
        let first = Metrics::default();
        let second = Metrics::default();
        first.count("tunnus_flows_total", &[("stage", "started")]);
        first.count("tunnus_flows_total", &[("stage", "started")]);
        second.count("tunnus_flows_total", &[("stage", "started")]);
        second.observe(
            "tunnus_http_request_duration_seconds",
            &[("route", "/")],
            Duration::from_millis(3),
        );
        assert_eq!(
            first.counter("tunnus_flows_total", &[("stage", "started")]),
            2
        );
        assert_eq!(
            second.counter("tunnus_flows_total", &[("stage", "started")]),
            1
        );
        assert!(
            first
                .render()
                .contains("tunnus_flows_total{stage=\"started\"} 2")
        );
        assert!(
            !first
                .render()
                .contains("tunnus_http_request_duration_seconds")
        );
        assert!(
            second
                .render()
                .contains("tunnus_flows_total{stage=\"started\"} 1")
        );
    }

    #[test]
    fn each_label_set_is_its_own_series() {
        let metrics = Metrics::default();
        metrics.count(
            "tunnus_http_requests_total",
            &[("route", "/"), ("status", "2xx")],
        );
        metrics.count(
            "tunnus_http_requests_total",
            &[("route", "/"), ("status", "4xx")],
        );
        metrics.count(
            "tunnus_http_requests_total",
            &[("route", "/"), ("status", "4xx")],
        );
        metrics.count("tunnus_http_requests_total", &[]);
        let text = metrics.render();
        assert!(text.contains("tunnus_http_requests_total{route=\"/\",status=\"2xx\"} 1"));
        assert!(text.contains("tunnus_http_requests_total{route=\"/\",status=\"4xx\"} 2"));
        assert!(text.contains("\ntunnus_http_requests_total 1\n"), "{text}");
        assert_eq!(
            metrics.counter(
                "tunnus_http_requests_total",
                &[("route", "/"), ("status", "5xx")]
            ),
            0
        );
        assert_eq!(
            text.matches("# TYPE tunnus_http_requests_total counter")
                .count(),
            1
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let metrics = Metrics::default();
        for took in [
            Duration::from_micros(500),
            Duration::from_millis(3),
            Duration::from_millis(3),
            Duration::from_secs(20),
        ] {
            metrics.observe(
                "tunnus_directory_call_duration_seconds",
                &[("operation", "find")],
                took,
            );
        }
        let text = metrics.render();
        let bucket = |le: &str| {
            let series = format!(
                "tunnus_directory_call_duration_seconds_bucket{{operation=\"find\",le=\"{le}\"}}"
            );
            samples(&text)
                .into_iter()
                .find(|(s, _)| *s == series)
                .map(|(_, value)| value.to_owned())
                .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
        };
        let expected = [
            ("0.001", "1"),
            ("0.0025", "1"),
            ("0.005", "3"),
            ("0.01", "3"),
            ("0.025", "3"),
            ("0.05", "3"),
            ("0.1", "3"),
            ("0.25", "3"),
            ("0.5", "3"),
            ("1", "3"),
            ("2.5", "3"),
            ("10", "3"),
            ("+Inf", "4"),
        ];
        for (le, count) in expected {
            assert_eq!(bucket(le), count, "le={le}");
        }
        assert_eq!(
            text.matches("tunnus_directory_call_duration_seconds_bucket")
                .count(),
            expected.len()
        );
        assert!(
            text.contains("tunnus_directory_call_duration_seconds_count{operation=\"find\"} 4")
        );
        let sum = samples(&text)
            .into_iter()
            .find(|(s, _)| *s == "tunnus_directory_call_duration_seconds_sum{operation=\"find\"}")
            .map(|(_, value)| value.parse::<f64>().expect("a number"))
            .expect("a sum");
        assert!((sum - 20.0065).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn nothing_counted_renders_nothing() {
        let metrics = Metrics::default();
        assert_eq!(metrics.render(), "");
        assert_eq!(metrics.counter("tunnus_flows_total", &[]), 0);
    }

    #[test]
    fn unknown_names_are_registered_with_a_placeholder_help() {
        let metrics = Metrics::default();
        metrics.count("tunnus_new_things_total", &[("kind", "a")]);
        metrics.count("tunnus_other_things", &[]);
        metrics.observe("tunnus_new_seconds", &[], Duration::from_millis(2));
        let text = metrics.render();
        assert!(text.contains("# HELP tunnus_new_things_total Not described.\n"));
        assert!(text.contains("tunnus_new_things_total{kind=\"a\"} 1"));
        // The text format names every counter `…_total`.
        assert!(text.contains("tunnus_other_things_total 1"));
        assert_eq!(metrics.counter("tunnus_other_things", &[]), 1);
        assert!(text.contains("# TYPE tunnus_new_seconds histogram"));
        assert!(text.contains("tunnus_new_seconds_count 1"));
    }

    #[test]
    fn names_that_cannot_be_rendered_are_dropped_without_a_panic() {
        let metrics = Metrics::default();
        metrics.count("", &[]);
        metrics.count("_total", &[]);
        metrics.count("tunnus-bad", &[]);
        metrics.count("9tunnus", &[]);
        metrics.count("tunnus_twice_total_total", &[]);
        metrics.observe("tunnus bad", &[], Duration::from_millis(1));
        // A counter and a histogram that would both render as `tunnus_clash_total`.
        metrics.count("tunnus_clash_total", &[]);
        metrics.observe("tunnus_clash_total", &[], Duration::from_millis(1));
        metrics.observe("tunnus_other_clash_total", &[], Duration::from_millis(1));
        metrics.count("tunnus_other_clash", &[]);
        let text = metrics.render();
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("# TYPE"))
                .collect::<Vec<_>>(),
            [
                "# TYPE tunnus_clash_total counter",
                "# TYPE tunnus_other_clash_total histogram"
            ],
            "{text}"
        );
        assert_eq!(metrics.counter("tunnus_clash_total", &[]), 1);
        assert_eq!(metrics.counter("tunnus_other_clash", &[]), 0);
    }

    #[test]
    fn every_sample_line_is_a_series_and_a_number() {
        let metrics = Metrics::default();
        metrics.count("tunnus_refusals_total", &[("reason", "a b\"c}")]);
        metrics.observe(
            "tunnus_http_request_duration_seconds",
            &[("route", "/account")],
            Duration::from_millis(30),
        );
        let text = metrics.render();
        assert!(text.ends_with('\n'));
        for (series, value) in samples(&text) {
            let name = series.split_once('{').map_or(series, |(name, _)| name);
            assert!(is_metric_name(name), "{series}");
            assert!(
                series == name || series.ends_with('}'),
                "{series} in\n{text}"
            );
            assert!(value.parse::<f64>().is_ok(), "{series} {value}");
        }
    }
}
