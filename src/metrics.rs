//! Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.
//!
//! The registry lives in the application state rather than in a process-wide recorder, so several
//! services in one process (the tests) keep their numbers apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Families {
    counters: BTreeMap<&'static str, BTreeMap<Labels, u64>>,
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Histogram>>,
}

/// What the service counts and times.
#[derive(Default)]
pub struct Metrics {
    families: Mutex<Families>,
}

/// The help text of each metric the service exports.
fn help(name: &str) -> &'static str {
    match name {
        "tunnus_flows_total" => {
            "Identification flows by stage (started, identified, completed, refused)."
        }
        "tunnus_refusals_total" => "Refusals by reason.",
        "tunnus_rate_limited_total" => "Requests refused by a rate limit, by limit.",
        "tunnus_http_requests_total" => "HTTP requests by route and status class.",
        "tunnus_http_request_duration_seconds" => "HTTP request latency by route.",
        "tunnus_broker_call_duration_seconds" => "Calls to the identification broker by step.",
        "tunnus_broker_errors_total" => "Failed calls to the identification broker by step.",
        "tunnus_directory_call_duration_seconds" => "Calls to the directory by operation.",
        "tunnus_directory_errors_total" => "Failed directory calls by operation and kind.",
        _ => "",
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Families> {
        self.families
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds one to counter `name` with `labels`.
    pub fn count(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let labels = own(labels);
        *self
            .lock()
            .counters
            .entry(name)
            .or_default()
            .entry(labels)
            .or_default() += 1;
    }

    /// Records one duration in histogram `name` with `labels`.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], took: Duration) {
        let seconds = took.as_secs_f64();
        let labels = own(labels);
        let mut families = self.lock();
        let histogram = families
            .histograms
            .entry(name)
            .or_default()
            .entry(labels)
            .or_default();
        for (bucket, bound) in histogram.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The value of a counter (tests and benchmarks).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        self.lock()
            .counters
            .get(name)
            .and_then(|series| series.get(&own(labels)))
            .copied()
            .unwrap_or(0)
    }

    /// Everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let families = self.lock();
        let mut out = String::new();
        for (name, series) in &families.counters {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", help(name));
            for (labels, value) in series {
                let _ = writeln!(out, "{name}{} {value}", format_labels(labels, None));
            }
        }
        for (name, series) in &families.histograms {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", help(name));
            for (labels, histogram) in series {
                for (count, bound) in histogram.counts.iter().zip(BUCKETS) {
                    let le = bound.to_string();
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {count}",
                        format_labels(labels, Some(&le))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    format_labels(labels, Some("+Inf")),
                    histogram.count
                );
                let _ = writeln!(
                    out,
                    "{name}_sum{} {}",
                    format_labels(labels, None),
                    histogram.sum
                );
                let _ = writeln!(
                    out,
                    "{name}_count{} {}",
                    format_labels(labels, None),
                    histogram.count
                );
            }
        }
        out
    }
}

fn own(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn format_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
