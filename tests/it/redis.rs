//! Real `redis-server` processes for the store tests: one shared server and one shared three-node
//! Redis Cluster per test binary, and servers of a test's own that it may stop and start again.
//!
//! Every server runs under a small `sh` watchdog whose stdin is a pipe held by this process: when
//! the pipe closes (the test binary ends, however it ends, or [`RedisServer::stop`] drops it), the
//! watchdog stops the server. So servers in statics, which are never dropped, do not outlive the
//! tests either.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::ports::{Ports, StartFailure, start_retrying};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// What redis-server logs when it cannot bind a port (its own or a cluster bus port).
const PORT_TAKEN: &str = "Address already in use";
/// What it logs once it serves clients.
const READY: &str = "Ready to accept connections";

/// How long a server may take to answer after it was started.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// How long the cluster's nodes may take to agree that every slot is served.
const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two readiness probes.
const POLL: Duration = Duration::from_millis(20);

/// Starts the server with stdin closed, stops it when this shell's stdin (the pipe) closes, and
/// ends when the server ends. `$REMOVE_DIR` set: the server's directory goes with it, its log
/// first copied to the shell's stderr so that a failed start can still be told apart.
/// (Background jobs of a non-interactive shell read /dev/null, so the pipe is kept as fd 3.)
const WATCHDOG: &str = r#"
exec 3<&0
"$REDIS_SERVER" "$@" </dev/null >/dev/null 2>&1 3<&- &
server=$!
(cat <&3 >/dev/null; kill -TERM "$server" 2>/dev/null) 2>/dev/null &
guard=$!
wait "$server"
kill "$guard" 2>/dev/null
if [ -n "$REMOVE_DIR" ]; then tail -c 4096 "$REMOVE_DIR/redis.log" >&2 2>/dev/null; rm -rf "$REMOVE_DIR"; fi
"#;

/// A directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "tunnus-it-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Leaves the directory in place; the caller arranges its removal.
    fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A port on 127.0.0.1 that nothing listened on a moment ago. With `bus`, the port 10000 above it
/// (a cluster node's bus port) is free too.
pub fn free_port(bus: bool) -> u16 {
    if bus {
        Ports::free_with_cluster_bus().next()
    } else {
        Ports::free().next()
    }
}

fn redis_server_binary() -> &'static str {
    assert!(
        Path::new(REDIS_SERVER).exists(),
        "{REDIS_SERVER} is missing: install the Debian package `redis-server` \
         (scripts/test installs it)"
    );
    REDIS_SERVER
}

/// One `redis-server` on 127.0.0.1, plain TCP on [`RedisServer::port`], with its own directory.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    process: Option<Watchdog>,
    /// Removed on drop; `None` when the watchdog removes it (servers in statics, never dropped).
    owned_dir: Option<TempDir>,
}

struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl RedisServer {
    /// A plain server on a free port.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A server with extra command line arguments (`--user ...`, `--tls-port ...`).
    pub fn start_with(extra: &[String]) -> RedisServer {
        Self::start_on_free_port(extra, Role::Own)
    }

    fn start_on_free_port(extra: &[String], role: Role) -> RedisServer {
        let ports = if role.cluster() {
            Ports::free_with_cluster_bus()
        } else {
            Ports::free()
        };
        Self::start_from(ports, extra, role)
    }

    /// A plain server that is offered `port` first, and free ports after it if `port` is taken.
    pub fn start_trying_first(port: u16) -> RedisServer {
        Self::start_from(Ports::free().trying_first(&[port]), &[], Role::Own)
    }

    /// Another process may take a chosen port before the server binds it: then another is tried.
    fn start_from(ports: Ports, extra: &[String], role: Role) -> RedisServer {
        start_retrying("redis-server", ports, |ports| {
            Self::try_start(ports.next(), extra, role)
        })
    }

    /// A server on `port`, which the caller chose (to build a store before the server exists), so
    /// no other port will do: the caller starts again with another port when this one was taken.
    pub fn try_start_on(port: u16) -> Result<RedisServer, StartFailure> {
        Self::try_start(port, &[], Role::Own)
    }

    /// A server with a plain port (for the harness) and a TLS port with `tls_args` (certificate
    /// files); both ports are chosen anew whenever either was taken. Returns the TLS port too.
    pub fn start_with_tls(tls_args: &[String]) -> (RedisServer, u16) {
        start_retrying("redis-server", Ports::free(), |ports| {
            let tls_port = ports.next();
            let mut extra = vec!["--tls-port".to_owned(), tls_port.to_string()];
            extra.extend_from_slice(tls_args);
            Self::try_start(ports.next(), &extra, Role::Own).map(|server| (server, tls_port))
        })
    }

    fn try_start(port: u16, extra: &[String], role: Role) -> Result<RedisServer, StartFailure> {
        let dir = TempDir::new("redis");
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        args.extend(["--dir".to_owned(), dir.path().display().to_string()]);
        if role.cluster() {
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-announce-ip",
                    "127.0.0.1",
                    "--cluster-node-timeout",
                    "2000",
                ]
                .map(str::to_owned),
            );
        }
        args.extend_from_slice(extra);
        let path = dir.path().to_owned();
        let owned_dir = if role.shared() {
            dir.keep();
            None
        } else {
            Some(dir)
        };
        let mut server = RedisServer {
            port,
            dir: path,
            args,
            process: None,
            owned_dir,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> Result<(), StartFailure> {
        // A restarted server appends to its log: only what this start writes counts.
        let logged_before = self.log().len();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("redis-watchdog")
            .args(&self.args)
            .env("REDIS_SERVER", redis_server_binary())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.owned_dir.is_none() {
            command.env("REMOVE_DIR", &self.dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| StartFailure::Other(format!("cannot run sh: {e}")))?;
        let stdin = child.stdin.take();
        self.process = Some(Watchdog { child, stdin });
        self.wait_ready(logged_before)
    }

    /// Polls until this server's log says it is ready and the port answers a PING (any reply, also
    /// "NOAUTH"), or the watchdog ends. The log decides whose the port is: another server that took
    /// it would answer a PING too.
    fn wait_ready(&mut self, logged_before: usize) -> Result<(), StartFailure> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(process) = &mut self.process
                && let Ok(Some(status)) = process.child.try_wait()
            {
                let log = self.log_after_exit(logged_before);
                let detail = format!(
                    "redis-server on port {} exited ({status}); its log:\n{log}",
                    self.port
                );
                return Err(if log.contains(PORT_TAKEN) {
                    StartFailure::PortTaken(detail)
                } else {
                    StartFailure::Other(detail)
                });
            }
            let log = self.log();
            let log = log.get(logged_before..).unwrap_or_default();
            if log.contains(READY) && ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartFailure::Other(format!(
                    "redis-server on port {} did not answer in time; its log:\n{log}",
                    self.port
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// What the server logged since `logged_before`, once its watchdog has ended: from the log
    /// file, or from the watchdog's stderr when the watchdog removed the file with the folder.
    fn log_after_exit(&mut self, logged_before: usize) -> String {
        let mut copied = String::new();
        if let Some(mut process) = self.process.take() {
            drop(process.stdin.take());
            if let Some(mut stderr) = process.child.stderr.take() {
                let _ = stderr.read_to_string(&mut copied);
            }
        }
        if !copied.is_empty() {
            return copied;
        }
        self.log()
            .get(logged_before..)
            .unwrap_or_default()
            .to_owned()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server and waits until it has exited; its port and directory stay.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            drop(process.stdin.take());
            let _ = process.child.wait();
        }
    }

    /// Starts the server again on the same port, with the same directory and arguments.
    pub fn start_again(&mut self) {
        self.stop();
        self.launch()
            .unwrap_or_else(|failure| panic!("{failure:?}"));
    }
}

/// Whether a server belongs to one test or to the whole binary, and whether it is a cluster node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Own,
    Shared,
    OwnClusterNode,
    SharedClusterNode,
}

impl Role {
    fn cluster(self) -> bool {
        matches!(self, Role::OwnClusterNode | Role::SharedClusterNode)
    }

    fn shared(self) -> bool {
        matches!(self, Role::Shared | Role::SharedClusterNode)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when something on `port` answers a PING with a RESP reply.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut first = [0u8; 1];
    matches!(stream.read(&mut first), Ok(1) if first[0] == b'+' || first[0] == b'-')
}

/// The server every single-node store test shares; each test uses its own key prefix.
pub fn shared_server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start_on_free_port(&[], Role::Shared))
}

/// The cluster every cluster store test shares.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::start_as(Role::SharedClusterNode))
}

/// Three cluster-enabled servers sharing the 16384 slots, no replicas.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes, gives each a third of the slots, introduces them, and waits until every
    /// node says `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        Self::start_as(Role::OwnClusterNode)
    }

    fn start_as(role: Role) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_on_free_port(&[], role))
            .collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (node, (first, last)) in nodes.iter().zip(ranges) {
            let mut conn = connect(node.port);
            let () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query(&mut conn)
                .unwrap();
        }
        let mut first = connect(nodes[0].port);
        for other in &nodes[1..] {
            let () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(other.port)
                .query(&mut first)
                .unwrap();
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Seed URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Waits until every node knows all three and serves all slots.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        loop {
            let infos: Vec<String> = self
                .nodes
                .iter()
                .map(|node| {
                    redis::Client::open(node.url())
                        .and_then(|client| client.get_connection_with_timeout(POLL * 10))
                        .and_then(|mut conn| redis::cmd("CLUSTER").arg("INFO").query(&mut conn))
                        .unwrap_or_default()
                })
                .collect();
            if infos.iter().all(|info| {
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            }) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become ready: {infos:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Stops every node.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::stop);
    }

    /// Starts every node again (their `nodes.conf` keeps the cluster) and waits until it is ready.
    pub fn start_again(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::start_again);
        self.wait_ok();
    }
}

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
        .unwrap()
}
