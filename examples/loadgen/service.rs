//! The service under load: `tunnus dev` as a child process with a configuration written for the
//! run, and what can be read about it from outside (`/proc`, `/metrics`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tunnus::keys::SigningAlg;
use url::Url;

/// How long the service may take to print its banner and answer `/readyz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of the service's stderr kept for an error report.
const STDERR_KEPT: usize = 64 * 1024;
/// Linux reports process CPU time in clock ticks of 1/100 s (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// Where the service keeps short-lived state.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    Memory,
    Redis { url: String },
}

pub struct ServiceOptions {
    pub binary: PathBuf,
    pub store: StoreChoice,
    pub signing_alg: SigningAlg,
}

/// The running service.
pub struct Service {
    child: Mutex<Option<Child>>,
    pub pid: u32,
    pub url: Url,
    pub issuer: String,
    pub config_path: PathBuf,
    pub audit_path: PathBuf,
    dir: PathBuf,
    stderr: Arc<Mutex<Vec<u8>>>,
    memory: Arc<Mutex<MemoryPeak>>,
    sampler: tokio::task::JoinHandle<()>,
}

/// The highest resident memory seen by sampling (`VmRSS`) and the kernel's own peak (`VmHWM`), in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryPeak {
    pub sampled_rss_kib: u64,
    pub hwm_kib: u64,
}

/// Cumulative CPU time of a process (user + system).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    pub seconds: f64,
}

impl Service {
    /// Writes the configuration, starts `tunnus dev`, waits for its banner and for `/readyz`.
    pub async fn start(options: ServiceOptions) -> Result<Service> {
        let dir = std::env::temp_dir().join(format!("tunnus-loadgen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (service_port, mock_port) = (free_port()?, free_port()?);
        let audit_path = dir.join("audit.jsonl");
        let config_path = dir.join("tunnus.toml");
        let config = config_text(&ConfigValues {
            repo: Path::new(env!("CARGO_MANIFEST_DIR")),
            service_port,
            mock_port,
            audit_path: &audit_path,
            store: &options.store,
            signing_alg: options.signing_alg,
        });
        std::fs::write(&config_path, config)
            .with_context(|| format!("writing {}", config_path.display()))?;

        let mut child = Command::new(&options.binary)
            .arg("dev")
            .arg("--config")
            .arg(&config_path)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", options.binary.display()))?;
        let pid = child.id().context("the service exited at once")?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            tokio::spawn(keep_tail(err, stderr.clone()));
        }
        let stdout = child.stdout.take().context("no stdout of the service")?;
        let banner = tokio::time::timeout(START_TIMEOUT, read_banner(stdout)).await;
        let (url, issuer) = match banner {
            Ok(Ok(found)) => found,
            Ok(Err(error)) => {
                let _ = child.wait().await;
                bail!(
                    "{error:#}\nthe service's stderr:\n{}\n(its configuration is kept at {})",
                    tail_text(&stderr),
                    config_path.display()
                );
            }
            Err(_) => bail!(
                "the service printed no banner within {START_TIMEOUT:?}\nits stderr:\n{}",
                tail_text(&stderr)
            ),
        };
        let memory = Arc::new(Mutex::new(MemoryPeak::default()));
        let sampler = tokio::spawn(sample_memory(pid, memory.clone()));
        let service = Service {
            child: Mutex::new(Some(child)),
            pid,
            url,
            issuer,
            config_path,
            audit_path,
            dir,
            stderr,
            memory,
            sampler,
        };
        service.wait_ready().await?;
        Ok(service)
    }

    async fn wait_ready(&self) -> Result<()> {
        let client = reqwest::Client::new();
        let ready = self.url.join("/readyz")?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(answer) = client.get(ready.clone()).send().await
                && answer.status().is_success()
            {
                return Ok(());
            }
            if self.exited() {
                bail!(
                    "the service stopped while starting; its stderr:\n{}",
                    self.stderr_tail()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "/readyz did not answer 200 within {START_TIMEOUT:?}; the service's stderr:\n{}",
                    self.stderr_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the child process has ended.
    pub fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// The last part of what the service wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        tail_text(&self.stderr)
    }

    /// Peak memory so far; `VmHWM` is read now.
    pub fn memory(&self) -> MemoryPeak {
        let status = proc_status(self.pid);
        let mut peak = *self.memory.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(status) = status {
            peak.hwm_kib = peak.hwm_kib.max(status.hwm_kib);
            peak.sampled_rss_kib = peak.sampled_rss_kib.max(status.rss_kib);
        }
        peak
    }

    /// Resident memory right now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status(self.pid).map_or(0, |s| s.rss_kib)
    }

    /// The service process's CPU time so far.
    pub fn cpu(&self) -> CpuTime {
        process_cpu(&format!("/proc/{}/stat", self.pid))
    }

    /// How long the service's threads have waited, runnable, for a CPU.
    pub fn cpu_wait(&self) -> f64 {
        run_queue_wait(&format!("/proc/{}/task", self.pid))
    }

    /// How many audit events the service has written.
    pub fn audit_events(&self) -> usize {
        std::fs::read(&self.audit_path)
            .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0)
    }

    /// The service's `/metrics`.
    pub async fn metrics(&self) -> Result<String> {
        let url = self.url.join("/metrics")?;
        let answer = reqwest::get(url).await?.error_for_status()?;
        Ok(answer.text().await?)
    }

    /// Stops the service and removes the run's files.
    pub async fn stop(self) {
        self.sampler.abort();
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let _ = child.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The CPU time of this process (the load generator).
pub fn own_cpu() -> CpuTime {
    process_cpu("/proc/self/stat")
}

/// How long the load generator's threads have waited, runnable, for a CPU.
pub fn own_cpu_wait() -> f64 {
    run_queue_wait("/proc/self/task")
}

/// Seconds the threads under `tasks` (a `/proc/<pid>/task` folder) have spent runnable but waiting
/// for a CPU: the second field of each thread's `schedstat`. Threads that have ended are not counted.
fn run_queue_wait(tasks: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir(tasks) else {
        return 0.0;
    };
    let nanos: u64 = entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

/// CPU seconds all processes of the machine have used since boot (from `/proc/stat`: every state but
/// idle and iowait, steal included since it is time the machine did not have).
pub fn machine_busy() -> CpuTime {
    let ticks = std::fs::read_to_string("/proc/stat").ok().and_then(|text| {
        let line = text.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user already)
        let busy: u64 = fields.iter().take(8).sum::<u64>() - fields.get(3)? - fields.get(4)?;
        Some(busy)
    });
    CpuTime {
        seconds: ticks.unwrap_or(0) as f64 / TICKS_PER_SECOND,
    }
}

/// A port that was free a moment ago: bound to 127.0.0.1:0 and released.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

struct ConfigValues<'a> {
    repo: &'a Path,
    service_port: u16,
    mock_port: u16,
    audit_path: &'a Path,
    store: &'a StoreChoice,
    signing_alg: SigningAlg,
}

/// The dev configuration of the run: `config/dev.toml` with free ports, `warn` logs, audit events to a
/// file, every rate limit off, and the store asked for.
fn config_text(values: &ConfigValues<'_>) -> String {
    let repo = values.repo.display();
    let store = match values.store {
        StoreChoice::Memory => "kind = \"memory\"".to_owned(),
        StoreChoice::Redis { url } => format!("kind = \"redis\"\nurl = {}", toml_string(url)),
    };
    format!(
        r#"[server]
listen = "127.0.0.1:{service_port}"

[broker]
client_id = "tunnus"
preset = "keycloak"
scopes = []
test_identities = true
signing_alg = "{alg}"

[broker.id_token_encryption]
alg = "RSA-OAEP"
enc = "A128CBC-HS256"

[store]
{store}

[directory]
kind = "memory"
seed = "{repo}/config/dev-accounts.toml"

[accounts]
eligible_categories = ["student", "staff", "partner"]
refused_groups = ["it-admins"]

[password]
min_length = 12
deny_list = "{repo}/config/common-passwords.txt"

[audit]
sink = "file"
path = {audit}

[limits]
login_starts_per_ip = 0
identifications_per_person = 0
password_attempts_per_grant = 0
broker_redirects_per_minute = 0

[ui]
login_url = "http://127.0.0.1:{service_port}/"
default_language = "fi"
return_to_allowlist = ["http://127.0.0.1:{service_port}/"]

[log]
format = "json"
level = "warn"

[mock_idp]
listen = "127.0.0.1:{mock_port}"
realm = "ftn"
preset = "keycloak"
persons = "{repo}/config/mock-persons.toml"
acr = "http://ftn.ficora.fi/2017/loa2"
token_lifetime_secs = 120
"#,
        service_port = values.service_port,
        mock_port = values.mock_port,
        alg = values.signing_alg.as_str(),
        audit = toml_string(&values.audit_path.display().to_string()),
    )
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Reads the dev banner (`service: URL`, `mock broker: URL`) and then keeps draining stdout so the
/// service never blocks on a full pipe.
async fn read_banner(stdout: tokio::process::ChildStdout) -> Result<(Url, String)> {
    let mut lines = BufReader::new(stdout).lines();
    let (mut service, mut issuer) = (None, None);
    while service.is_none() || issuer.is_none() {
        let Some(line) = lines.next_line().await? else {
            bail!("the service ended before printing its addresses");
        };
        let line = line.trim();
        if let Some(url) = line.strip_prefix("service:") {
            service = Some(Url::parse(url.trim()).context("the banner's service URL")?);
        } else if let Some(url) = line.strip_prefix("mock broker:") {
            issuer = Some(url.trim().to_owned());
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    match (service, issuer) {
        (Some(service), Some(issuer)) => Ok((service, issuer)),
        _ => bail!("the banner lacks an address"),
    }
}

/// Keeps the last [`STDERR_KEPT`] bytes of a stream.
async fn keep_tail(mut stream: impl AsyncRead + Unpin, kept: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0u8; 8192];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.extend_from_slice(&buffer[..read]);
        if kept.len() > STDERR_KEPT {
            let excess = kept.len() - STDERR_KEPT;
            kept.drain(..excess);
        }
    }
}

fn tail_text(kept: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&kept.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

struct ProcStatus {
    rss_kib: u64,
    hwm_kib: u64,
}

fn proc_status(pid: u32) -> Option<ProcStatus> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some(ProcStatus {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Samples the service's resident memory every 100 ms.
async fn sample_memory(pid: u32, peak: Arc<Mutex<MemoryPeak>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let Some(status) = proc_status(pid) else {
            return;
        };
        let mut peak = peak.lock().unwrap_or_else(|p| p.into_inner());
        peak.sampled_rss_kib = peak.sampled_rss_kib.max(status.rss_kib);
        peak.hwm_kib = peak.hwm_kib.max(status.hwm_kib);
    }
}

/// User + system time from a `/proc/*/stat` file.
fn process_cpu(path: &str) -> CpuTime {
    let ticks = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| stat_ticks(&text));
    CpuTime {
        seconds: ticks.unwrap_or(0) as f64 / TICKS_PER_SECOND,
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/*/stat` line; the command before them is in
/// parentheses and may itself hold spaces and parentheses.
fn stat_ticks(stat: &str) -> Option<u64> {
    let after_command = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    // After the command, field 3 (state) is index 0, so utime (14) is index 11, stime (15) 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunnus::config::Settings;

    fn config(store: &StoreChoice) -> String {
        config_text(&ConfigValues {
            repo: Path::new(env!("CARGO_MANIFEST_DIR")),
            service_port: 18080,
            mock_port: 18081,
            audit_path: Path::new("/tmp/a \"quoted\" dir/audit.jsonl"),
            store,
            signing_alg: SigningAlg::ES256,
        })
    }

    #[test]
    fn the_generated_configuration_is_read_with_every_limit_off() {
        let settings = Settings::from_toml(&config(&StoreChoice::Memory)).unwrap();
        assert_eq!(settings.server.listen.port(), 18080);
        assert_eq!(settings.mock_idp.listen.port(), 18081);
        assert_eq!(settings.broker.signing_alg, SigningAlg::ES256);
        assert_eq!(settings.log.level, "warn");
        let limits = &settings.limits;
        assert_eq!(
            [
                limits.login_starts_per_ip,
                limits.identifications_per_person,
                limits.password_attempts_per_grant,
                limits.broker_redirects_per_minute,
            ],
            [0, 0, 0, 0]
        );
        assert_eq!(
            settings.audit.path.as_deref(),
            Some(Path::new("/tmp/a \"quoted\" dir/audit.jsonl"))
        );
    }

    #[test]
    fn the_redis_store_gets_its_url() {
        let url = "redis://127.0.0.1:6379/0";
        let settings = Settings::from_toml(&config(&StoreChoice::Redis {
            url: url.to_owned(),
        }))
        .unwrap();
        assert_eq!(settings.store.kind, tunnus::config::StoreKind::Redis);
        assert_eq!(settings.store.url.as_deref(), Some(url));
    }

    #[test]
    fn cpu_ticks_are_read_after_a_command_with_spaces_and_parentheses() {
        let stat = "4242 (tunnus (dev) x) S 1 2 3 4 5 6 7 8 9 10 250 37 0 0 20 0 3 0";
        assert_eq!(stat_ticks(stat), Some(287));
        assert_eq!(stat_ticks("4242 (short) S 1 2"), None);
    }
}
