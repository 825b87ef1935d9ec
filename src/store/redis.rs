//! A store in Redis, shared by every replica: one server or a Redis Cluster.
//!
//! Each trait method is one Redis command (or one Lua script), so each is atomic on the server:
//! `put_new` is `SET NX PX`, `take` is `GETDEL` (Redis 6.2 or newer), `incr` increments and sets the
//! window's expiry in one script. Every key gets the configured prefix. Every call is bounded by the
//! configured timeout, and errors never carry keys or values: keys hold hashes of secrets.
//!
//! Redis replicates asynchronously, so a take the primary acknowledged can be lost when a replica
//! that had not seen it is promoted: the value would be handed out a second time. With
//! `store.min_replicas_acked` set, a take is followed by `WAIT` in the same pipeline, and a value
//! is used only once that many replicas have the deletion; otherwise it is put back and the take
//! reported unavailable, so the person is told to try again and nothing is used twice.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{
    Client, Cmd, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, Pipeline,
    RedisError, RedisFuture, RedisResult, Script, ServerErrorKind, TlsCertificates, Value,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{Store, StoreError, StoreSettings};

/// Makes sure a counter has an expiry: set when the first increment creates it, and repaired if
/// something ever left the key without one, so a counter can never count forever.
const INCR_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
";

/// Attempts per reconnection of a single-server connection, and the first and longest pause between
/// them. Calls give up at the store's timeout whatever these say.
const RECONNECT_ATTEMPTS: usize = 3;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// Retries of one cluster request (redirections, reconnections) before it fails.
const CLUSTER_RETRIES: u32 = 3;

/// A [`super::Store`] in Redis. Connects lazily and reconnects by itself, so it can be built while
/// Redis is down; [`Store::health`] tells whether Redis answers.
pub struct RedisStore {
    backend: Backend,
    prefix: String,
    timeout: Duration,
    incr: Script,
    /// Replicas that must acknowledge a take, and how long to wait for them (`WAIT`).
    min_replicas_acked: u32,
    replica_ack_timeout: Duration,
}

enum Backend {
    Single(Box<Single>),
    Cluster(ClusterConnection),
}

/// One server through a [`ConnectionManager`], which reconnects after I/O errors. It keeps returning
/// the other errors met while connecting (a refused login, a server still loading its data), so
/// after one of those the manager is replaced by a fresh one: the next call connects anew.
struct Single {
    client: Client,
    config: ConnectionManagerConfig,
    current: Mutex<Generation>,
}

struct Generation {
    number: u64,
    manager: ConnectionManager,
}

/// The connection one call uses.
enum Conn {
    Single {
        generation: u64,
        manager: ConnectionManager,
    },
    Cluster(ClusterConnection),
}

impl RedisStore {
    /// A store for `settings` (`kind = "redis"`). Reads the password and CA files now; connects on
    /// first use. Fails only for settings the client refuses or files that cannot be read.
    pub fn new(settings: &StoreSettings) -> Result<Self, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::Unavailable(
                "a Redis store must be built inside a Tokio runtime".to_owned(),
            ));
        }
        let timeout = settings.timeout.get();
        let password = read_password(settings)?;
        let tls = read_ca(settings)?;
        let (key, urls) = settings
            .urls()
            .map_err(|(key, problem)| StoreError::Config { key, problem })?;
        let mut infos = urls
            .into_iter()
            .map(|url| connection_info(key, url, settings, password.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let backend = if settings.nodes.is_empty() {
            Backend::Single(Box::new(Single::new(infos.remove(0), tls, timeout)?))
        } else {
            Backend::Cluster(cluster(infos, tls, timeout)?)
        };
        Ok(Self {
            backend,
            prefix: settings.key_prefix.clone(),
            timeout,
            incr: Script::new(INCR_SCRIPT),
            min_replicas_acked: settings.min_replicas_acked,
            replica_ack_timeout: settings.replica_ack_timeout.get(),
        })
    }

    /// `GETDEL`, trusted only once `min_replicas_acked` replicas have it. The key's time to live,
    /// the `GETDEL` and a `WAIT` go in one pipeline, on one connection to the key's primary, so
    /// `WAIT` counts the replicas that have the deletion. Without enough of them the value is put
    /// back for the rest of its time to live: nobody has used it, and a retry after the replicas
    /// are back (or after a failover to one that never saw the deletion) finds it.
    async fn take_acknowledged(&self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("PTTL")
            .arg(&key)
            .cmd("GETDEL")
            .arg(&key)
            .cmd("WAIT")
            .arg(self.min_replicas_acked)
            .arg(millis(self.replica_ack_timeout));
        let (ttl, value, acked): (i64, Option<Vec<u8>>, u64) = self
            .run("GETDEL", async |conn| pipe.query_async(conn).await)
            .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        if acked >= u64::from(self.min_replicas_acked) {
            return Ok(Some(value));
        }
        let mut put_back = redis::cmd("SET");
        put_back.arg(&key).arg(&value);
        if ttl > 0 {
            put_back.arg("PX").arg(ttl);
        }
        put_back.arg("NX");
        let restored = match self.query::<Value>("SET NX", &put_back).await {
            Ok(_) => "it was put back",
            Err(_) => "putting it back failed too",
        };
        Err(StoreError::Unavailable(format!(
            "GETDEL was acknowledged by {acked} of the {} replicas required within {:?}; \
             the value was not used and {restored}",
            self.min_replicas_acked, self.replica_ack_timeout
        )))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs one command within the timeout.
    async fn query<T: FromRedisValue>(&self, op: &'static str, cmd: &Cmd) -> Result<T, StoreError> {
        self.run(op, async |conn| cmd.query_async(conn).await).await
    }

    /// Runs `call` on a connection within the timeout, turns its outcome into the store's result,
    /// and lets the backend recover from an error.
    async fn run<T>(
        &self,
        op: &'static str,
        call: impl AsyncFnOnce(&mut Conn) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.backend.conn();
        let result = tokio::time::timeout(self.timeout, call(&mut conn)).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                self.backend.recover(&conn, &error);
                Err(StoreError::Unavailable(format!(
                    "{op} failed: {}",
                    describe(&error)
                )))
            }
            Err(_) => Err(StoreError::Unavailable(format!("{op} failed: timed out"))),
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .arg("NX");
        match self.query::<Value>("SET NX", &cmd).await? {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            _ => Err(StoreError::Unavailable(
                "SET NX failed: unexpected reply".to_owned(),
            )),
        }
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl));
        self.query("SET", &cmd).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if self.min_replicas_acked > 0 {
            return self.take_acknowledged(self.key(key)).await;
        }
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.query("GETDEL", &cmd).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        self.query("GET", &cmd).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.query("DEL", &cmd).await
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let mut invocation = self.incr.key(self.key(key));
        invocation.arg(millis(window));
        let count: i64 = self
            .run("INCR", async |conn| invocation.invoke_async(conn).await)
            .await?;
        u64::try_from(count)
            .map_err(|_| StoreError::Corrupt("a counter holds a negative number".to_owned()))
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.query("PING", &redis::cmd("PING")).await
    }

    async fn persistent(&self) -> Option<bool> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg("appendonly");
        match self.query::<Vec<String>>("CONFIG GET", &cmd).await {
            Ok(reply) => reply
                .chunks(2)
                .find(|pair| pair.first().is_some_and(|name| name == "appendonly"))
                .and_then(|pair| pair.get(1))
                .map(|value| value.eq_ignore_ascii_case("yes")),
            Err(error) => {
                tracing::debug!(%error, "cannot read whether Redis persists to its append-only file");
                None
            }
        }
    }

    async fn schedule(&self, key: &str, member: &str, due: i64) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(self.key(key)).arg(due).arg(member);
        self.query::<i64>("ZADD", &cmd).await.map(|_| ())
    }

    async fn due(&self, key: &str, now: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(self.key(key))
            .arg("-inf")
            .arg(now)
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        self.query("ZRANGE", &cmd).await
    }

    async fn unschedule(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.key(key)).arg(member);
        self.query::<i64>("ZREM", &cmd).await.map(|_| ())
    }

    async fn schedule_size(&self, key: &str) -> Result<(u64, Option<i64>), StoreError> {
        let mut count = redis::cmd("ZCARD");
        count.arg(self.key(key));
        let size: u64 = self.query("ZCARD", &count).await?;
        let mut first = redis::cmd("ZRANGE");
        first.arg(self.key(key)).arg(0).arg(0).arg("WITHSCORES");
        let earliest: Vec<(String, f64)> = self.query("ZRANGE", &first).await?;
        Ok((size, earliest.first().map(|(_, score)| *score as i64)))
    }
}

impl Single {
    fn new(
        info: ConnectionInfo,
        tls: Option<TlsCertificates>,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let client = match tls {
            Some(certificates) => Client::build_with_tls(info, certificates),
            None => Client::open(info),
        }
        .map_err(|error| refused("store.url", &error))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(RECONNECT_ATTEMPTS)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|error| refused("store.url", &error))?;
        Ok(Self {
            client,
            config,
            current: Mutex::new(Generation { number: 0, manager }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Generation> {
        // The guarded value is replaced whole, so a panic elsewhere cannot leave it half-changed.
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the manager a failed call used, unless another call has already done so.
    fn replace(&self, failed: u64) {
        let mut current = self.lock();
        if current.number != failed {
            return;
        }
        if let Ok(manager) =
            ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
        {
            *current = Generation {
                number: failed.wrapping_add(1),
                manager,
            };
        }
    }
}

fn cluster(
    nodes: Vec<ConnectionInfo>,
    tls: Option<TlsCertificates>,
    timeout: Duration,
) -> Result<ClusterConnection, StoreError> {
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .overall_response_timeout(Some(timeout))
        .retries(CLUSTER_RETRIES);
    if let Some(certificates) = tls {
        builder = builder.certs(certificates);
    }
    let client = builder
        .build()
        .map_err(|error| refused("store.nodes", &error))?;
    // The connection task connects in the background and reconnects to the seed nodes whenever it
    // has no node to send to, so this works while the cluster is down.
    let config = ClusterConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    Ok(client.get_pending_async_connection_with_config(config))
}

impl Backend {
    fn conn(&self) -> Conn {
        match self {
            Backend::Single(single) => {
                let current = single.lock();
                Conn::Single {
                    generation: current.number,
                    manager: current.manager.clone(),
                }
            }
            Backend::Cluster(cluster) => Conn::Cluster(cluster.clone()),
        }
    }

    fn recover(&self, conn: &Conn, error: &RedisError) {
        let stuck = matches!(
            error.kind(),
            ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::BusyLoading)
        );
        if let (Backend::Single(single), Conn::Single { generation, .. }) = (self, conn)
            && stuck
        {
            single.replace(*generation);
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single { manager, .. } => manager.req_packed_command(cmd),
            Conn::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single { manager, .. } => manager.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single { manager, .. } => manager.get_db(),
            Conn::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// The server's connection details with the configured user and password applied.
fn connection_info(
    key: &'static str,
    url: Url,
    settings: &StoreSettings,
    password: Option<&SecretString>,
) -> Result<ConnectionInfo, StoreError> {
    let info = url
        .into_connection_info()
        .map_err(|error| refused(key, &error))?;
    let mut redis = info.redis_settings().clone();
    if let Some(username) = &settings.username {
        redis = redis.set_username(username);
    }
    if let Some(password) = password {
        redis = redis.set_password(password.expose_secret());
    }
    Ok(info.set_redis_settings(redis))
}

fn read_password(settings: &StoreSettings) -> Result<Option<SecretString>, StoreError> {
    let Some(path) = &settings.password_file else {
        return Ok(None);
    };
    crate::config::read_secret_file(path)
        .map(Some)
        .map_err(|problem| StoreError::Config {
            key: "store.password_file",
            problem,
        })
}

fn read_ca(settings: &StoreSettings) -> Result<Option<TlsCertificates>, StoreError> {
    let Some(path) = &settings.tls_ca_file else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|error| StoreError::Config {
        key: "store.tls_ca_file",
        problem: format!("cannot read {}: {error}", path.display()),
    })?;
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

/// The client refused the settings. Its messages can quote the URL, so only the kind is kept.
fn refused(key: &'static str, error: &RedisError) -> StoreError {
    StoreError::Config {
        key,
        problem: format!("the Redis client refuses it ({})", error.category()),
    }
}

/// What went wrong, without the server's detail text: a server error can quote the command, and so
/// a key. I/O errors come from the socket or TLS layer, which never sees a key in the clear.
fn describe(error: &RedisError) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    if error.is_connection_refusal() {
        return "connection refused".to_owned();
    }
    if error.kind() == ErrorKind::Io {
        return error.to_string();
    }
    match error.code() {
        Some(code) if !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()) => {
            format!("server replied {code}")
        }
        _ if error.category().is_empty() => "refused".to_owned(),
        _ => error.category().to_owned(),
    }
}

/// A duration as whole milliseconds, rounded up so a short TTL never becomes none, and at least one
/// (Redis refuses an expiry of zero).
fn millis(duration: Duration) -> u64 {
    let whole = duration.as_millis();
    let rounded = whole + u128::from(!duration.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(rounded).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_milliseconds() {
        assert_eq!(millis(Duration::from_millis(300)), 300);
        assert_eq!(millis(Duration::from_micros(300_001)), 301);
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    fn server_error(reply: &[u8]) -> RedisError {
        redis::parse_redis_value(reply)
            .and_then(Value::extract_error)
            .expect_err("an error reply")
    }

    #[test]
    fn server_errors_are_described_by_their_code_only() {
        let error = server_error(
            b"-ERR unknown command 'GETDEL', with args beginning with: 'tunnus:hashed-secret'\r\n",
        );
        assert!(error.to_string().contains("hashed-secret"));
        assert_eq!(describe(&error), "server replied ERR");
        let error = server_error(b"-WRONGPASS invalid username-password pair\r\n");
        assert_eq!(describe(&error), "server replied WRONGPASS");
    }

    #[test]
    fn refused_connections_are_named() {
        let error = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(describe(&error), "connection refused");
    }

    #[tokio::test]
    async fn an_unreadable_password_file_names_the_key() {
        let settings = StoreSettings {
            kind: super::super::StoreKind::Redis,
            url: Some("redis://127.0.0.1:1".to_owned()),
            password_file: Some("/nonexistent/tunnus-redis-password".into()),
            ..StoreSettings::default()
        };
        match RedisStore::new(&settings) {
            Err(StoreError::Config { key, .. }) => assert_eq!(key, "store.password_file"),
            Err(other) => panic!("expected a settings error, got {other}"),
            Ok(_) => panic!("expected a settings error"),
        }
    }
}
