//! What a run prints.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::crypto::CryptoCosts;
use crate::flow::Step;
use crate::run::RunResult;
use crate::service::Service;

/// The service-side latency target of the project: p99 of each of the service's steps under this.
const SERVICE_P99_TARGET: f64 = 0.025;

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The `q` quantile of sorted `list` (nearest rank).
fn quantile(list: &[Duration], q: f64) -> Duration {
    if list.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * list.len() as f64).ceil() as usize).clamp(1, list.len());
    list[rank - 1]
}

fn throughput(result: &RunResult) -> f64 {
    result.recorder.completed() as f64 / result.window.as_secs_f64().max(f64::MIN_POSITIVE)
}

pub fn print_run(result: &RunResult, service: &Service, costs: &CryptoCosts, cores: usize) {
    let completed = result.recorder.completed();
    println!();
    println!("== {} ==", result.label);
    println!(
        "flows: {completed} completed, {} failed in {:.1} s → {:.1} flows/s",
        result.recorder.failed(),
        result.window.as_secs_f64(),
        throughput(result)
    );
    if result.max_in_flight > 0 {
        println!(
            "in flight: at most {}; starts more than 10 ms late: {}",
            result.max_in_flight, result.late_starts
        );
    }
    if let Some(park) = &result.parked {
        println!(
            "parked: {} of {} flows after {} (reached in {:.1} s); service VmRSS while parked: {}",
            park.parked,
            park.requested,
            park.at,
            park.took_to_park.as_secs_f64(),
            mib(park.rss_parked_kib)
        );
    }
    print_steps(result);
    print_errors(result);
    print_processes(result, service, completed);
    print_service_side(result);
    print_crypto(costs, cores, throughput(result), result, completed);
}

fn print_steps(result: &RunResult) {
    println!();
    println!("latency at the client, successful steps (ms):");
    println!(
        "  {:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "step", "count", "p50", "p95", "p99", "max", "errors"
    );
    for step in Step::ALL {
        let list = result.recorder.latencies(step);
        let errors: u64 = result.recorder.errors(step).iter().map(|e| e.1).sum();
        let mark = if step.is_service() { "" } else { " (mock)" };
        println!(
            "  {:<16} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
            format!("{}{mark}", step.name()),
            list.len(),
            ms(quantile(&list, 0.50)),
            ms(quantile(&list, 0.95)),
            ms(quantile(&list, 0.99)),
            ms(list.last().copied().unwrap_or_default()),
            errors
        );
    }
    let flows = result.recorder.flow_times();
    println!(
        "  {:<16} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "whole flow",
        flows.len(),
        ms(quantile(&flows, 0.50)),
        ms(quantile(&flows, 0.95)),
        ms(quantile(&flows, 0.99)),
        ms(flows.last().copied().unwrap_or_default()),
    );
}

fn print_errors(result: &RunResult) {
    let mut any = false;
    for step in Step::ALL {
        for (what, count, excerpt) in result.recorder.errors(step) {
            if !any {
                println!();
                println!("errors by step:");
                any = true;
            }
            println!("  {step}: {what} × {count}  {excerpt}");
            if step == Step::Callback && what == "HTTP 503" {
                println!(
                    "    (the mock broker keeps at most 100,000 used client-assertion ids and access \
                     tokens, each for 2 minutes: more flows than that within 2 minutes make its token \
                     endpoint fail, and the service answers the callback with 503)"
                );
            }
        }
    }
}

fn print_processes(result: &RunResult, service: &Service, completed: u64) {
    let window = result.window.as_secs_f64().max(f64::MIN_POSITIVE);
    let per_flow = |cpu: f64| {
        if completed == 0 {
            "-".to_owned()
        } else {
            format!("{:.2} ms", cpu * 1000.0 / completed as f64)
        }
    };
    println!();
    println!(
        "service process (pid {}, service + mock broker): CPU {:.1} s = {:.2} cores busy, {} CPU per flow",
        service.pid,
        result.service_cpu,
        result.service_cpu / window,
        per_flow(result.service_cpu)
    );
    println!(
        "load generator: CPU {:.1} s = {:.2} cores busy, {} CPU per flow",
        result.client_cpu,
        result.client_cpu / window,
        per_flow(result.client_cpu)
    );
    let others = (result.machine_cpu - result.service_cpu - result.client_cpu).max(0.0);
    println!(
        "other processes on the machine: {:.2} cores busy (the machine as a whole: {:.2} cores)",
        others / window,
        result.machine_cpu / window
    );
    println!(
        "waiting for a CPU while runnable: service threads {:.1} s ({} per flow), load generator {:.1} s",
        result.service_wait,
        per_flow(result.service_wait),
        result.client_wait
    );
    println!(
        "service memory: VmRSS {} before, peak sampled VmRSS {}, VmHWM {}",
        mib(result.rss_before_kib),
        mib(result.memory.sampled_rss_kib),
        mib(result.memory.hwm_kib)
    );
    println!(
        "audit events written: {} ({} expected: identification + reset per completed flow)",
        result.audit_events,
        2 * completed
    );
}

/// A histogram of `/metrics`: bucket bounds and cumulative counts, and the total count.
#[derive(Default, Clone)]
struct Histogram {
    buckets: BTreeMap<u64, f64>,
    count: f64,
}

/// Histograms by name and labels (without `le`), with bucket bounds as nanoseconds for ordering.
fn histograms(text: &str) -> BTreeMap<(String, String), Histogram> {
    let mut out: BTreeMap<(String, String), Histogram> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut le = None;
        let kept: Vec<&str> = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .filter(|l| match l.strip_prefix("le=") {
                Some(bound) => {
                    le = Some(bound.trim_matches('"').to_owned());
                    false
                }
                None => true,
            })
            .collect();
        let key = kept.join(",");
        if let Some(base) = name.strip_suffix("_bucket") {
            let bound = match le.as_deref() {
                Some("+Inf") | None => u64::MAX,
                Some(b) => b.parse::<f64>().map_or(u64::MAX, |s| (s * 1e9) as u64),
            };
            out.entry((base.to_owned(), key))
                .or_default()
                .buckets
                .insert(bound, value);
        } else if let Some(base) = name.strip_suffix("_count") {
            out.entry((base.to_owned(), key)).or_default().count = value;
        }
    }
    out
}

fn print_service_side(result: &RunResult) {
    let (Some(before), Some(after)) = (&result.metrics_before, &result.metrics_after) else {
        println!("(the service's /metrics could not be read)");
        return;
    };
    let (before, after) = (histograms(before), histograms(after));
    println!();
    println!(
        "latency inside the service, this phase (from /metrics; buckets 1, 2.5, 5, 10, 25, 50, 100 ms …):"
    );
    println!(
        "  {:<58} {:>8} {:>10} {:>12}",
        "histogram", "count", "≤ 25 ms", "p99 bucket"
    );
    for ((name, labels), hist) in &after {
        let base = before.get(&(name.clone(), labels.clone()));
        let count = hist.count - base.map_or(0.0, |b| b.count);
        if count < 1.0
            || name.starts_with("tunnus_http_request_duration_seconds")
                && labels.contains("metrics")
        {
            continue;
        }
        let delta = |bound: u64| {
            hist.buckets.get(&bound).copied().unwrap_or(0.0)
                - base
                    .and_then(|b| b.buckets.get(&bound))
                    .copied()
                    .unwrap_or(0.0)
        };
        let within = delta((SERVICE_P99_TARGET * 1e9) as u64) / count;
        let p99 = hist
            .buckets
            .keys()
            .find(|&&bound| delta(bound) / count >= 0.99)
            .map_or("-".to_owned(), |&b| {
                if b == u64::MAX {
                    "> 10 s".to_owned()
                } else {
                    format!("≤ {} ms", b as f64 / 1e6)
                }
            });
        let short = name
            .trim_start_matches("tunnus_")
            .trim_end_matches("_seconds");
        println!(
            "  {:<58} {:>8} {:>9.2}% {:>12}",
            format!("{short}{{{labels}}}"),
            count,
            within * 100.0,
            p99
        );
    }
}

fn print_crypto(
    costs: &CryptoCosts,
    cores: usize,
    achieved: f64,
    result: &RunResult,
    completed: u64,
) {
    println!();
    println!("cryptographic operations, one thread, CPU time per operation:");
    for cost in &costs.costs {
        println!(
            "  {:<8} {:<56} {:>9.3} ms{}",
            cost.side.name(),
            cost.what,
            cost.per_op.as_secs_f64() * 1000.0,
            if cost.in_bound {
                ""
            } else {
                "  (not in the bound)"
            }
        );
    }
    let per_flow = costs.per_flow().as_secs_f64();
    let bound = costs.bound(cores);
    println!(
        "crypto CPU per flow: {:.3} ms; crypto bound = {cores} cores / {:.3} ms = {:.0} flows/s",
        per_flow * 1000.0,
        per_flow * 1000.0,
        bound
    );
    println!(
        "achieved {:.1} flows/s = {:.1} % of the crypto bound (project target: ≥ 50 % at peak)",
        achieved,
        achieved / bound * 100.0
    );
    let primitive = costs.primitive_per_flow().as_secs_f64();
    println!(
        "with the signatures made by the bare aws-lc primitive instead of sign_jwt, the same operations cost {:.3} ms: \
         bound {:.0} flows/s, achieved = {:.1} % of it",
        primitive * 1000.0,
        cores as f64 / primitive,
        achieved / (cores as f64 / primitive) * 100.0
    );
    let window = result.window.as_secs_f64().max(f64::MIN_POSITIVE);
    let left = cores as f64 - (result.machine_cpu - result.service_cpu) / window;
    if left > 0.0 {
        let fair = left / per_flow;
        println!(
            "cores left to the service by the load generator and other processes: {left:.2}; \
             crypto bound on those = {fair:.0} flows/s; achieved = {:.1} % of it",
            achieved / fair * 100.0
        );
    }
    if completed > 0 {
        let service_per_flow = result.service_cpu / completed as f64;
        println!(
            "crypto is {:.0} % of the service process's CPU per flow ({:.2} of {:.2} ms)",
            per_flow / service_per_flow * 100.0,
            per_flow * 1000.0,
            service_per_flow * 1000.0
        );
    }
}

pub fn print_sweep_line(result: &RunResult, costs: &CryptoCosts, cores: usize) {
    let completed = result.recorder.completed().max(1) as f64;
    let callback = result.recorder.latencies(Step::Callback);
    let flows = result.recorder.flow_times();
    let window = result.window.as_secs_f64().max(f64::MIN_POSITIVE);
    let others = (result.machine_cpu - result.service_cpu - result.client_cpu).max(0.0);
    println!(
        "{:<32} {:>7.1} flows/s ({:>5.1} % of bound)  failed {:>4}  service {:>5.2} ms CPU/flow ({:.2} cores)  \
         loadgen {:>5.2} ms/flow  others {:.2} cores  callback p99 {:>6} ms  flow p99 {:>6} ms",
        result.label,
        throughput(result),
        throughput(result) / costs.bound(cores) * 100.0,
        result.recorder.failed(),
        result.service_cpu * 1000.0 / completed,
        result.service_cpu / window,
        result.client_cpu * 1000.0 / completed,
        others / window,
        ms(quantile(&callback, 0.99)),
        ms(quantile(&flows, 0.99)),
    );
}

pub fn print_sweep_best(
    results: &[RunResult],
    service: &Service,
    costs: &CryptoCosts,
    cores: usize,
) {
    let best = results
        .iter()
        .max_by(|a, b| throughput(a).total_cmp(&throughput(b)));
    if let Some(best) = best {
        println!();
        println!("highest throughput of the sweep:");
        print_run(best, service, costs, cores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let list: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&list, 0.50), Duration::from_millis(50));
        assert_eq!(quantile(&list, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&list, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&list[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn histograms_are_read_by_name_and_labels_without_le() {
        let text = "# TYPE tunnus_http_request_duration_seconds histogram\n\
            tunnus_http_request_duration_seconds_bucket{route=\"/\",le=\"0.001\"} 3\n\
            tunnus_http_request_duration_seconds_bucket{route=\"/\",le=\"0.025\"} 9\n\
            tunnus_http_request_duration_seconds_bucket{route=\"/\",le=\"+Inf\"} 10\n\
            tunnus_http_request_duration_seconds_sum{route=\"/\"} 0.5\n\
            tunnus_http_request_duration_seconds_count{route=\"/\"} 10\n\
            tunnus_flows_total{stage=\"started\"} 10\n";
        let read = histograms(text);
        assert_eq!(read.len(), 1);
        let hist = &read[&(
            "tunnus_http_request_duration_seconds".to_owned(),
            "route=\"/\"".to_owned(),
        )];
        assert_eq!(hist.count, 10.0);
        assert_eq!(hist.buckets[&1_000_000], 3.0);
        assert_eq!(hist.buckets[&25_000_000], 9.0);
        assert_eq!(hist.buckets[&u64::MAX], 10.0);
    }
}
