//! The three ways of loading the service: a closed loop (a fixed number of flows at a time), an open
//! loop (flows started at a fixed rate), and parked flows (many identified sessions held at once).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::flow::{self, Park, Recorder, Step, Target};
use crate::service::{self, MemoryPeak, Service};

/// The accounts on the password-reset path (config/dev-accounts.toml): Tero, Ebba and Pekka.
const RESET_PATH: [&str; 3] = ["010170-999R", "291292-918R", "030883-925M"];

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Flows(u64),
    Time(Duration),
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Budget::Flows(n) => write!(f, "{n} flows"),
            Budget::Time(t) => write!(f, "{:.0} s", t.as_secs_f64()),
        }
    }
}

/// What every flow of the run uses: where the service is and who logs in.
#[derive(Clone)]
pub struct Plan {
    target: Arc<Target>,
    /// Indexes of the reset-path persons on the broker's page.
    persons: Vec<usize>,
}

impl Plan {
    pub fn new(service: &Service) -> Result<Plan> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mock-persons.toml");
        let all = tunnus::mock_idp::load_persons(&path)?;
        let persons = RESET_PATH
            .iter()
            .map(|code| {
                all.iter()
                    .position(|p| p.national_id == *code)
                    .with_context(|| {
                        format!("a reset-path person is missing from {}", path.display())
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan {
            target: Arc::new(Target {
                service: service.url.clone(),
                origin: service.url.origin().ascii_serialization(),
            }),
            persons,
        })
    }

    fn person(&self, flow: u64) -> usize {
        self.persons[(flow % self.persons.len() as u64) as usize]
    }
}

/// What one measured phase gave.
pub struct RunResult {
    pub label: String,
    pub recorder: Arc<Recorder>,
    /// From the first flow's start to the last flow's end.
    pub window: Duration,
    /// CPU seconds the service process used in the window.
    pub service_cpu: f64,
    /// CPU seconds the load generator used in the window.
    pub client_cpu: f64,
    /// CPU seconds every process of the machine used in the window (other people's work included).
    pub machine_cpu: f64,
    /// Seconds the service's threads, and the load generator's, were runnable but waited for a CPU.
    pub service_wait: f64,
    pub client_wait: f64,
    pub metrics_before: Option<String>,
    pub metrics_after: Option<String>,
    pub memory: MemoryPeak,
    pub rss_before_kib: u64,
    pub audit_events: usize,
    /// Open loop: the most flows in flight, and starts that waited for the in-flight cap.
    pub max_in_flight: usize,
    pub late_starts: u64,
    /// Park mode: how many flows were parked, and the service's resident memory while they were.
    pub parked: Option<ParkFigures>,
}

pub struct ParkFigures {
    pub requested: usize,
    pub parked: usize,
    pub at: Step,
    pub rss_parked_kib: u64,
    pub took_to_park: Duration,
}

/// Measures around `body`: CPU of both processes, metrics, memory.
struct Window {
    started: Instant,
    service_cpu: f64,
    client_cpu: f64,
    machine_cpu: f64,
    service_wait: f64,
    client_wait: f64,
    metrics: Option<String>,
    rss_kib: u64,
    audit_events: usize,
}

impl Window {
    async fn open(service: &Service) -> Window {
        Window {
            metrics: service.metrics().await.ok(),
            rss_kib: service.rss_kib(),
            audit_events: service.audit_events(),
            service_cpu: service.cpu().seconds,
            client_cpu: service::own_cpu().seconds,
            machine_cpu: service::machine_busy().seconds,
            service_wait: service.cpu_wait(),
            client_wait: service::own_cpu_wait(),
            started: Instant::now(),
        }
    }

    async fn close(self, service: &Service, label: String, recorder: Arc<Recorder>) -> RunResult {
        let window = self.started.elapsed();
        let service_cpu = service.cpu().seconds - self.service_cpu;
        let client_cpu = service::own_cpu().seconds - self.client_cpu;
        let machine_cpu = service::machine_busy().seconds - self.machine_cpu;
        let service_wait = (service.cpu_wait() - self.service_wait).max(0.0);
        let client_wait = (service::own_cpu_wait() - self.client_wait).max(0.0);
        RunResult {
            label,
            recorder,
            window,
            service_cpu,
            client_cpu,
            machine_cpu,
            service_wait,
            client_wait,
            metrics_before: self.metrics,
            metrics_after: service.metrics().await.ok(),
            memory: service.memory(),
            rss_before_kib: self.rss_kib,
            audit_events: service.audit_events().saturating_sub(self.audit_events),
            max_in_flight: 0,
            late_starts: 0,
            parked: None,
        }
    }
}

/// One flow as a task.
async fn one_flow(plan: &Plan, flow: u64, recorder: &Recorder, park: Option<&Park>) {
    flow::walk(&plan.target, plan.person(flow), recorder, park).await;
}

/// `concurrency` workers, each walking one flow after another until the budget is spent.
pub async fn closed(
    service: &Service,
    plan: &Plan,
    concurrency: usize,
    budget: Budget,
) -> RunResult {
    let recorder = Arc::new(Recorder::default());
    let next = Arc::new(AtomicU64::new(0));
    let window = Window::open(service).await;
    let deadline = match budget {
        Budget::Time(t) => Some(Instant::now() + t),
        Budget::Flows(_) => None,
    };
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (recorder, next) = (recorder.clone(), next.clone());
        let plan = plan.clone();
        workers.spawn(async move {
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let flow = next.fetch_add(1, Ordering::Relaxed);
                if let Budget::Flows(total) = budget
                    && flow >= total
                {
                    break;
                }
                one_flow(&plan, flow, &recorder, None).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
    window
        .close(
            service,
            format!("closed loop, concurrency {concurrency}"),
            recorder,
        )
        .await
}

/// Starts flows at `rate` per second whatever the pace of the answers (at most `cap` in flight).
pub async fn open(
    service: &Service,
    plan: &Plan,
    rate: f64,
    cap: usize,
    budget: Budget,
) -> RunResult {
    let recorder = Arc::new(Recorder::default());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut max_in_flight = 0;
    let mut late_starts = 0;
    let window = Window::open(service).await;
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = JoinSet::new();
    let mut flow: u64 = 0;
    loop {
        let due = start + interval.mul_f64(flow as f64);
        let over = match budget {
            Budget::Flows(total) => flow >= total,
            Budget::Time(t) => due >= start + t,
        };
        if over {
            break;
        }
        tokio::time::sleep_until(due).await;
        while in_flight.load(Ordering::Relaxed) >= cap {
            // Reap finished flows until there is room; this start is then late.
            if tasks.join_next().await.is_none() {
                break;
            }
        }
        if Instant::now().duration_since(due) > Duration::from_millis(10) {
            late_starts += 1;
        }
        let now_in_flight = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        max_in_flight = max_in_flight.max(now_in_flight);
        let (recorder, in_flight, plan) = (recorder.clone(), in_flight.clone(), plan.clone());
        tasks.spawn(async move {
            one_flow(&plan, flow, &recorder, None).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        flow += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut result = window
        .close(service, format!("open loop, {rate} flows/s"), recorder)
        .await;
    result.max_in_flight = max_in_flight;
    result.late_starts = late_starts;
    result
}

/// Brings `count` flows to the point after `at` (at most `walkers` walking at a time), holds them
/// there for `hold` while memory is sampled, then lets them all finish.
pub async fn parked(
    service: &Service,
    plan: &Plan,
    count: usize,
    walkers: usize,
    at: Step,
    hold: Duration,
) -> Result<RunResult> {
    let recorder = Arc::new(Recorder::default());
    let (park, release) = Park::new(at, walkers);
    let park = Arc::new(park);
    let window = Window::open(service).await;
    let mut tasks = JoinSet::new();
    for flow in 0..count as u64 {
        let (recorder, park, plan) = (recorder.clone(), park.clone(), plan.clone());
        tasks.spawn(async move {
            one_flow(&plan, flow, &recorder, Some(&park)).await;
        });
    }
    // Every flow either parks or fails on the way.
    while park.parked() + (recorder.failed() as usize) < count {
        if tasks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took_to_park = window.started.elapsed();
    let held_until = Instant::now() + hold;
    let mut rss_parked_kib = service.rss_kib();
    while Instant::now() < held_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_parked_kib = rss_parked_kib.max(service.rss_kib());
    }
    let parked_now = park.parked();
    let _ = release.send(true);
    while tasks.join_next().await.is_some() {}
    let mut result = window
        .close(
            service,
            format!("{count} flows parked after {at}"),
            recorder,
        )
        .await;
    result.parked = Some(ParkFigures {
        requested: count,
        parked: parked_now,
        at,
        rss_parked_kib,
        took_to_park,
    });
    Ok(result)
}
