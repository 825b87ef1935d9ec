//! A load generator for tunnus: many people walking the whole flow at once, against `tunnus dev`
//! (the service and the bundled mock broker in one process) started as a child process.
//!
//! Build the service first, then run this example in release mode:
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example loadgen -- --concurrency 32 --duration 20      # peak throughput
//! cargo run --release --example loadgen -- --rate 240 --duration 30            # latency at a given load
//! cargo run --release --example loadgen -- --park 1000 --concurrency 32        # 1,000 flows in flight
//! ```
//!
//! Each flow is one browser (`loadgen/browser.rs`) with its own cookie jar and connections: the
//! landing page, the start form, the broker's login page, the person's choice there, the callback,
//! the account page and the new password. The report gives flows per second, the latency of every step at the client, errors
//! by step, the service's CPU time and peak memory, the service's own latency histograms (read from
//! `/metrics`), and the "crypto bound": how many flows per second the machine's cores could carry if
//! a flow cost nothing but its RSA/EC operations, measured in this process with the crate's own code.
//! `docs/performance.md` has the figures measured with it.

#[path = "loadgen/browser.rs"]
mod browser;
#[path = "loadgen/crypto.rs"]
mod crypto;
#[path = "loadgen/flow.rs"]
mod flow;
#[path = "loadgen/report.rs"]
mod report;
#[path = "loadgen/run.rs"]
mod run;
#[path = "loadgen/service.rs"]
mod service;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use tunnus::keys::SigningAlg;

use flow::Step;
use run::Budget;
use service::{Service, ServiceOptions, StoreChoice};

/// Drives complete tunnus flows against `tunnus dev` and reports throughput, latency and memory.
#[derive(Parser, Debug)]
#[command(name = "loadgen")]
struct Options {
    /// Flows driven at the same time (closed loop). With --park: how many flows walk their steps at
    /// the same time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measure this many flows (after the warm-up).
    #[arg(long, conflicts_with = "duration")]
    flows: Option<u64>,
    /// Measure for this many seconds: no flow starts later, flows in flight finish.
    #[arg(long)]
    duration: Option<f64>,
    /// Open loop: start this many flows per second whatever the pace of the answers.
    #[arg(long, conflicts_with = "park")]
    rate: Option<f64>,
    /// With --rate: the most flows in flight; a start that would pass it waits (and counts as late).
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Hold this many flows in flight, parked after the step --park-at, then finish them.
    #[arg(long)]
    park: Option<usize>,
    /// The step after which parked flows wait.
    #[arg(long, value_enum, default_value = "callback")]
    park_at: Step,
    /// Seconds the parked flows are held.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Run a closed loop at each of these concurrencies in turn (comma-separated), one line each.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["rate", "park"])]
    sweep: Vec<usize>,
    /// Flows run before measuring (discovery, first connections, allocator warm-up).
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// The service's store.
    #[arg(long, value_enum, default_value = "memory")]
    store: StoreArg,
    /// The Redis URL for --store redis.
    #[arg(long)]
    redis_url: Option<String>,
    /// The service's request-object and client-assertion algorithm.
    #[arg(long, value_enum, default_value = "rs256")]
    signing_alg: AlgArg,
    /// CPU seconds spent on each cryptographic operation in the in-process measurement.
    #[arg(long, default_value_t = 0.3)]
    crypto_seconds: f64,
    /// The tunnus binary [default: `tunnus` next to this example's `examples/` folder].
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Worker threads of the load generator itself (1 leaves the most CPU to the service).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreArg {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgArg {
    Rs256,
    Ps256,
    Es256,
}

impl AlgArg {
    fn alg(self) -> SigningAlg {
        match self {
            AlgArg::Rs256 => SigningAlg::RS256,
            AlgArg::Ps256 => SigningAlg::PS256,
            AlgArg::Es256 => SigningAlg::ES256,
        }
    }
}

/// What to do once the service runs.
enum Mode {
    Closed {
        concurrency: usize,
    },
    Sweep {
        levels: Vec<usize>,
    },
    Open {
        rate: f64,
        cap: usize,
    },
    Park {
        count: usize,
        walkers: usize,
        at: Step,
        hold: Duration,
    },
}

fn main() -> Result<()> {
    let options = Options::parse();
    let mode = mode(&options)?;
    let store = match (options.store, &options.redis_url) {
        (StoreArg::Memory, _) => StoreChoice::Memory,
        (StoreArg::Redis, Some(url)) => StoreChoice::Redis { url: url.clone() },
        (StoreArg::Redis, None) => bail!("--store redis needs --redis-url"),
    };
    let budget = match (options.flows, options.duration) {
        (Some(flows), _) => Budget::Flows(flows),
        (None, Some(seconds)) if seconds > 0.0 => Budget::Time(Duration::from_secs_f64(seconds)),
        (None, Some(_)) => bail!("--duration must be positive"),
        (None, None) => Budget::Time(Duration::from_secs(30)),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let alg = options.signing_alg.alg();

    // Measured before the service starts, so nothing else of this run competes for the core.
    eprintln!(
        "measuring the cryptographic operations of one flow ({} CPU seconds each)…",
        options.crypto_seconds
    );
    let costs = crypto::measure(
        alg,
        Duration::from_secs_f64(options.crypto_seconds.max(0.01)),
    )?;

    let runtime = if options.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.client_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let service = Service::start(ServiceOptions {
            binary: binary(options.binary.clone())?,
            store,
            signing_alg: alg,
        })
        .await?;
        eprintln!(
            "service {} (pid {}), mock broker {}, configuration {}",
            service.url,
            service.pid,
            service.issuer,
            service.config_path.display()
        );
        let outcome = drive(&service, &mode, budget, options.warmup, &costs, cores).await;
        service.stop().await;
        outcome
    })
}

fn mode(options: &Options) -> Result<Mode> {
    if options.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    Ok(if let Some(count) = options.park {
        if count == 0 {
            bail!("--park must be at least 1");
        }
        if options.park_at == Step::AccountSubmit {
            bail!("a flow cannot park after its last step");
        }
        Mode::Park {
            count,
            walkers: options.concurrency,
            at: options.park_at,
            hold: Duration::from_secs_f64(options.hold.max(0.0)),
        }
    } else if let Some(rate) = options.rate {
        if !(rate > 0.0 && rate.is_finite()) {
            bail!("--rate must be a positive number");
        }
        if options.max_in_flight == 0 {
            bail!("--max-in-flight must be at least 1");
        }
        Mode::Open {
            rate,
            cap: options.max_in_flight,
        }
    } else if !options.sweep.is_empty() {
        if options.sweep.contains(&0) {
            bail!("--sweep levels must be at least 1");
        }
        Mode::Sweep {
            levels: options.sweep.clone(),
        }
    } else {
        Mode::Closed {
            concurrency: options.concurrency,
        }
    })
}

/// The `tunnus` binary: given, or `target/<profile>/tunnus` next to `target/<profile>/examples/`.
fn binary(given: Option<PathBuf>) -> Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => {
            let exe = std::env::current_exe().context("cannot find this program's path")?;
            exe.parent()
                .and_then(|examples| examples.parent())
                .map(|profile| profile.join("tunnus"))
                .context("cannot find the target folder")?
        }
    };
    if !path.is_file() {
        bail!(
            "{} does not exist: build the service first with `cargo build --release` (or pass --binary)",
            path.display()
        );
    }
    Ok(path)
}

async fn drive(
    service: &Service,
    mode: &Mode,
    budget: Budget,
    warmup: u64,
    costs: &crypto::CryptoCosts,
    cores: usize,
) -> Result<()> {
    let plan = run::Plan::new(service)?;
    if warmup > 0 {
        eprintln!("warming up with {warmup} flows…");
        let warm = run::closed(service, &plan, 4, Budget::Flows(warmup)).await;
        if warm.recorder.completed() == 0 {
            report::print_run(&warm, service, costs, cores);
            bail!("no warm-up flow completed; see the errors above");
        }
    }
    match mode {
        Mode::Closed { concurrency } => {
            eprintln!("closed loop, {concurrency} flows at a time, {budget}…");
            let result = run::closed(service, &plan, *concurrency, budget).await;
            report::print_run(&result, service, costs, cores);
        }
        Mode::Sweep { levels } => {
            let mut results = Vec::new();
            for &level in levels {
                eprintln!("closed loop, {level} flows at a time, {budget}…");
                let result = run::closed(service, &plan, level, budget).await;
                report::print_sweep_line(&result, costs, cores);
                results.push(result);
            }
            report::print_sweep_best(&results, service, costs, cores);
        }
        Mode::Open { rate, cap } => {
            eprintln!("open loop, {rate} flows/s (at most {cap} in flight), {budget}…");
            let result = run::open(service, &plan, *rate, *cap, budget).await;
            report::print_run(&result, service, costs, cores);
        }
        Mode::Park {
            count,
            walkers,
            at,
            hold,
        } => {
            eprintln!(
                "{count} flows parked after {at}, {walkers} walking at a time, held {hold:?}…"
            );
            let result = run::parked(service, &plan, *count, *walkers, *at, *hold).await?;
            report::print_run(&result, service, costs, cores);
        }
    }
    Ok(())
}
