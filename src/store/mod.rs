//! Short-lived shared state: login transactions, sessions, grants, counters, replay caches.
//!
//! Every value has a time to live. [`Store::take`] reads and deletes in one step, so a value meant for
//! one use (a login transaction, a grant) can be used once even when replicas race for it.
//!
//! Two backends keep the same contract: [`MemoryStore`] (one replica, time from the injected clock)
//! and [`RedisStore`] (shared by every replica: one server or a Redis Cluster). [`build`] makes the
//! one `[store]` names.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::config::{ConfigError, HumanDuration, Mode};

pub mod memory;
pub mod redis;

pub use memory::MemoryStore;
pub use redis::RedisStore;

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer or refused: show "temporarily unavailable" and let the person retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be read back (written by an incompatible version): treat as absent.
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
    /// The `[store]` settings cannot work (an unreadable password or CA file, a URL the client
    /// refuses): fix the named key and start again.
    #[error("`{key}`: {problem}")]
    Config { key: &'static str, problem: String },
}

/// Short-lived state with TTLs. Keys are chosen by the caller; values are opaque bytes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The backend's name for logs and readiness (`memory`, `redis`).
    fn kind(&self) -> &'static str;

    /// Stores `value` under `key` for `ttl` only if `key` is free. Returns false if it was taken.
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;

    /// Stores `value` under `key` for `ttl`, replacing any value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Reads and deletes `key` in one atomic step: of racing callers, at most one gets the value.
    /// A value is returned only once its deletion would survive a failover of the store (Redis:
    /// `store.min_replicas_acked`); a deletion that might not is reported as
    /// [`StoreError::Unavailable`], with the value kept for a retry where the store can.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads `key` without removing it.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Adds one to the counter `key` and returns the new count. The counter starts its `window` at
    /// its first increment and disappears when the window ends (a fixed window rate limit).
    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError>;

    /// Whether the store answers.
    async fn health(&self) -> Result<(), StoreError>;

    /// Whether what is stored survives a restart of the store: `Some(true)` for a Redis with
    /// append-only persistence, `Some(false)` for the memory store or a Redis without it, `None`
    /// when the store cannot tell (its user may not read the configuration). Activation codes live
    /// for weeks and depend on it.
    async fn persistent(&self) -> Option<bool>;

    /// Puts `member` into the schedule `key`, due at `due` (unix milliseconds), or moves it there.
    /// Schedules do not expire.
    async fn schedule(&self, key: &str, member: &str, due: i64) -> Result<(), StoreError>;

    /// Up to `limit` members of the schedule `key` due at or before `now`, the earliest first.
    async fn due(&self, key: &str, now: i64, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Takes `member` out of the schedule `key`; a member not there is not an error.
    async fn unschedule(&self, key: &str, member: &str) -> Result<(), StoreError>;

    /// How many members the schedule `key` has, and the earliest due time among them.
    async fn schedule_size(&self, key: &str) -> Result<(u64, Option<i64>), StoreError>;
}

/// Builds the store `settings` name.
///
/// Nothing is connected here: a Redis store connects on first use and reconnects by itself, so the
/// service starts (and reports itself not ready through [`Store::health`]) while Redis is down. Only
/// settings that can never work fail: invalid keys, an unreadable password or CA file. Must be called
/// inside a Tokio runtime, which runs the Redis client's background tasks.
pub fn build(
    settings: &StoreSettings,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, StoreError> {
    settings
        .values_work()
        .map_err(|(key, problem)| StoreError::Config { key, problem })?;
    match settings.kind {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new(clock))),
        StoreKind::Redis => Ok(Arc::new(RedisStore::new(settings)?)),
    }
}

/// `[store]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `memory` (the default; one replica) or `redis`.
    pub kind: StoreKind,
    /// `redis://` or `rediss://` URL of one server, for `kind = "redis"`; may carry `user:password@`.
    pub url: Option<String>,
    /// Seed node URLs of a Redis Cluster; when not empty the cluster client is used instead of `url`.
    pub nodes: Vec<String>,
    /// File holding the password (read at start); overrides a password in the URLs.
    pub password_file: Option<PathBuf>,
    /// ACL user; overrides a user in the URLs.
    pub username: Option<String>,
    /// Put before every key, so other users of the same Redis keep their own key space.
    pub key_prefix: String,
    /// Longest wait for connecting and for every command.
    pub timeout: HumanDuration,
    /// PEM file with the CA certificates that sign the server's certificate (`rediss://` only);
    /// without it the system's trusted roots are used.
    pub tls_ca_file: Option<PathBuf>,
    /// Allow `redis://` (no TLS) to a Redis that is not on this machine. Off by default: `serve`
    /// refuses plain text over the network unless this says the path is protected otherwise.
    pub allow_plaintext: bool,
    /// How many replicas must acknowledge a take (`GETDEL`) before the taken value is used. Redis
    /// replicates asynchronously: a replica promoted after a failover may not have seen the take,
    /// and would hand the same grant or login transaction out again. 0 (the default) trusts the
    /// primary alone, for a Redis without replicas.
    pub min_replicas_acked: u32,
    /// How long a take waits for those acknowledgements before it is refused (and the value put
    /// back); shorter than `timeout`.
    pub replica_ack_timeout: HumanDuration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            kind: StoreKind::Memory,
            url: None,
            nodes: Vec::new(),
            password_file: None,
            username: None,
            key_prefix: "tunnus:".to_owned(),
            timeout: HumanDuration(Duration::from_secs(2)),
            tls_ca_file: None,
            allow_plaintext: false,
            min_replicas_acked: 0,
            replica_ack_timeout: HumanDuration(Duration::from_millis(500)),
        }
    }
}

/// Passwords in the URLs are shown as `***`.
impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redacted_url))
            .field(
                "nodes",
                &self
                    .nodes
                    .iter()
                    .map(|node| redacted_url(node))
                    .collect::<Vec<_>>(),
            )
            .field("password_file", &self.password_file)
            .field("username", &self.username)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("min_replicas_acked", &self.min_replicas_acked)
            .field("replica_ack_timeout", &self.replica_ack_timeout)
            .finish()
    }
}

fn redacted_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) => {
            if url.password().is_some() {
                // Only fails for URLs that cannot have a password, and this one has one.
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// Where short-lived state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In this process: one replica only.
    Memory,
    /// Shared by all replicas.
    Redis,
}

impl StoreSettings {
    /// Rejects settings that cannot work, naming the key. Messages never repeat a URL, which may
    /// carry a password.
    /// Rejects store settings that cannot work, naming the key. `serve` also refuses to send
    /// sessions in plain text to a Redis on another machine unless `allow_plaintext` says so.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        self.values_work()
            .map_err(|(key, problem)| ConfigError::invalid(key, problem))?;
        if mode == Mode::Serve && self.kind == StoreKind::Redis && !self.allow_plaintext {
            let (key, urls) = self
                .urls()
                .map_err(|(key, problem)| ConfigError::invalid(key, problem))?;
            if let Some(url) = urls
                .iter()
                .find(|url| url.scheme() == "redis" && !crate::config::is_loopback(url))
            {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "`{}` sends sessions and grants unencrypted to another machine: use \
                         rediss://, or set store.allow_plaintext = true if the network path is \
                         protected otherwise",
                        redacted_url(url.as_str())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The checks that make a store impossible to build, as (key, problem).
    pub(crate) fn values_work(&self) -> Result<(), (&'static str, String)> {
        if self.timeout.get().is_zero() {
            return Err(("store.timeout", "must be more than zero".to_owned()));
        }
        if self.kind == StoreKind::Memory {
            if self.min_replicas_acked > 0 {
                return Err((
                    "store.min_replicas_acked",
                    "is only used with kind = \"redis\"".to_owned(),
                ));
            }
            if self.url.is_some() || !self.nodes.is_empty() {
                return Err((
                    "store.kind",
                    "is \"memory\" but a Redis URL is set; use kind = \"redis\" to share state"
                        .to_owned(),
                ));
            }
            return Ok(());
        }
        let (_, urls) = self.urls()?;
        let tls = urls[0].scheme() == "rediss";
        if urls.iter().any(|url| (url.scheme() == "rediss") != tls) {
            return Err((
                "store.nodes",
                "must all use the same scheme (redis:// or rediss://)".to_owned(),
            ));
        }
        if self.tls_ca_file.is_some() && !tls {
            return Err((
                "store.tls_ca_file",
                "is only used with rediss:// URLs".to_owned(),
            ));
        }
        if self.username.as_deref().is_some_and(str::is_empty) {
            return Err(("store.username", "must not be empty when set".to_owned()));
        }
        if self.key_prefix.is_empty() {
            return Err((
                "store.key_prefix",
                "must not be empty: it keeps this service's keys apart from others'".to_owned(),
            ));
        }
        if self.min_replicas_acked > 0 {
            let wait = self.replica_ack_timeout.get();
            if wait.is_zero() || wait >= self.timeout.get() {
                return Err((
                    "store.replica_ack_timeout",
                    "must be more than zero and shorter than store.timeout, which bounds the \
                     whole take"
                        .to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// The server URLs (one, or the cluster's seed nodes) with the key they came from.
    fn urls(&self) -> Result<(&'static str, Vec<Url>), (&'static str, String)> {
        let (key, texts) = match (&self.url, self.nodes.is_empty()) {
            (Some(_), false) => {
                return Err((
                    "store.nodes",
                    "set either store.url (one server) or store.nodes (a cluster), not both"
                        .to_owned(),
                ));
            }
            (Some(url), true) => ("store.url", std::slice::from_ref(url)),
            (None, false) => ("store.nodes", self.nodes.as_slice()),
            (None, true) => {
                return Err((
                    "store.url",
                    "is required with kind = \"redis\" (or list cluster seed nodes in store.nodes)"
                        .to_owned(),
                ));
            }
        };
        let urls = texts
            .iter()
            .map(|text| redis_url(key, text))
            .collect::<Result<_, _>>()?;
        Ok((key, urls))
    }
}

fn redis_url(key: &'static str, text: &str) -> Result<Url, (&'static str, String)> {
    let url = Url::parse(text).map_err(|_| (key, "is not a URL".to_owned()))?;
    if !matches!(url.scheme(), "redis" | "rediss") {
        return Err((
            key,
            format!("has scheme `{}`; use redis:// or rediss://", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err((key, "has no host".to_owned()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn settings(toml: &str) -> StoreSettings {
        #[derive(Deserialize)]
        struct File {
            store: StoreSettings,
        }
        toml::from_str::<File>(toml).unwrap().store
    }

    fn problem_key(toml: &str) -> &'static str {
        match settings(toml).values_work() {
            Err((key, _)) => key,
            Ok(()) => panic!("expected {toml} to be refused"),
        }
    }

    #[test]
    fn defaults_are_a_memory_store_with_a_prefix_and_a_timeout() {
        let store = StoreSettings::default();
        assert_eq!(store.kind, StoreKind::Memory);
        assert_eq!(store.key_prefix, "tunnus:");
        assert_eq!(store.timeout.get(), Duration::from_secs(2));
        store.validate(Mode::Serve).unwrap();
    }

    #[test]
    fn a_full_redis_section_is_read() {
        let store = settings(
            r#"[store]
            kind = "redis"
            url = "rediss://tunnus@redis.example.fi:6380/2"
            password_file = "/run/secrets/redis"
            username = "tunnus"
            key_prefix = "t1:"
            timeout = "500ms"
            tls_ca_file = "/etc/tunnus/redis-ca.pem""#,
        );
        store.validate(Mode::Serve).unwrap();
        assert_eq!(store.timeout.get(), Duration::from_millis(500));
        assert_eq!(store.key_prefix, "t1:");
        assert_eq!(store.username.as_deref(), Some("tunnus"));
    }

    #[test]
    fn cluster_nodes_validate() {
        settings(
            r#"[store]
            kind = "redis"
            nodes = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]"#,
        )
        .validate(Mode::Dev)
        .unwrap();
    }

    #[test]
    fn serve_refuses_plain_redis_to_another_machine_unless_allowed() {
        let plain = "[store]\nkind = \"redis\"\nurl = \"redis://:hunter2@redis.example.fi:6379\"";
        match settings(plain).validate(Mode::Serve) {
            Err(ConfigError::Invalid { key, problem }) => {
                assert_eq!(key, "store.url");
                assert!(problem.contains("store.allow_plaintext"), "{problem}");
                assert!(!problem.contains("hunter2"), "{problem}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        settings(plain).validate(Mode::Dev).unwrap();
        settings(&format!("{plain}\nallow_plaintext = true"))
            .validate(Mode::Serve)
            .unwrap();
        let nodes = "[store]\nkind = \"redis\"\nnodes = [\"redis://127.0.0.1:7000\", \"redis://10.0.0.2:7000\"]";
        assert!(matches!(
            settings(nodes).validate(Mode::Serve),
            Err(ConfigError::Invalid {
                key: "store.nodes",
                ..
            })
        ));
        for local in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://[::1]:6379",
        ] {
            settings(&format!("[store]\nkind = \"redis\"\nurl = \"{local}\""))
                .validate(Mode::Serve)
                .unwrap();
        }
        settings("[store]\nkind = \"redis\"\nurl = \"rediss://redis.example.fi\"")
            .validate(Mode::Serve)
            .unwrap();
    }

    #[test]
    fn redis_without_an_address_names_the_url() {
        assert_eq!(problem_key("[store]\nkind = \"redis\""), "store.url");
    }

    #[test]
    fn redis_with_both_url_and_nodes_is_refused() {
        let toml = "[store]\nkind = \"redis\"\nurl = \"redis://a\"\nnodes = [\"redis://b\"]";
        assert_eq!(problem_key(toml), "store.nodes");
    }

    #[test]
    fn another_scheme_is_refused_without_repeating_the_url() {
        let toml = "[store]\nkind = \"redis\"\nurl = \"http://user:hunter2@redis.example.fi\"";
        let (key, problem) = settings(toml).values_work().unwrap_err();
        assert_eq!(key, "store.url");
        assert!(problem.contains("http"), "{problem}");
        assert!(!problem.contains("hunter2"), "{problem}");
    }

    #[test]
    fn mixed_tls_among_cluster_nodes_is_refused() {
        let toml = "[store]\nkind = \"redis\"\nnodes = [\"redis://a:7000\", \"rediss://b:7000\"]";
        assert_eq!(problem_key(toml), "store.nodes");
    }

    #[test]
    fn a_ca_file_without_tls_is_refused() {
        let toml = "[store]\nkind = \"redis\"\nurl = \"redis://a\"\ntls_ca_file = \"/ca.pem\"";
        assert_eq!(problem_key(toml), "store.tls_ca_file");
    }

    #[test]
    fn a_url_with_kind_memory_is_refused() {
        assert_eq!(problem_key("[store]\nurl = \"redis://a\""), "store.kind");
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let toml = "[store]\nkind = \"redis\"\nurl = \"redis://a\"\ntimeout = 0";
        assert_eq!(problem_key(toml), "store.timeout");
    }

    #[test]
    fn replica_acknowledgements_are_read_and_checked() {
        let store = settings(
            "[store]\nkind = \"redis\"\nurl = \"rediss://a\"\nmin_replicas_acked = 1\n\
             replica_ack_timeout = \"250ms\"",
        );
        store.validate(Mode::Serve).unwrap();
        assert_eq!(store.min_replicas_acked, 1);
        assert_eq!(store.replica_ack_timeout.get(), Duration::from_millis(250));
        let base = "[store]\nkind = \"redis\"\nurl = \"redis://a\"\nmin_replicas_acked = 1";
        for wait in ["0", "\"2s\"", "\"3s\""] {
            let toml = format!("{base}\nreplica_ack_timeout = {wait}");
            assert_eq!(problem_key(&toml), "store.replica_ack_timeout", "{wait}");
        }
        // Without replicas to wait for, the timeout is not used and not checked.
        settings("[store]\nkind = \"redis\"\nurl = \"redis://a\"\nreplica_ack_timeout = 0")
            .values_work()
            .unwrap();
        assert_eq!(
            problem_key("[store]\nmin_replicas_acked = 1"),
            "store.min_replicas_acked"
        );
    }

    #[test]
    fn an_empty_prefix_is_refused() {
        let toml = "[store]\nkind = \"redis\"\nurl = \"redis://a\"\nkey_prefix = \"\"";
        assert_eq!(problem_key(toml), "store.key_prefix");
    }

    #[test]
    fn unknown_store_keys_are_refused() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct File {
            store: StoreSettings,
        }
        let error = toml::from_str::<File>("[store]\npasword = \"x\"").unwrap_err();
        assert!(error.to_string().contains("pasword"), "{error}");
    }

    #[test]
    fn debug_output_hides_url_passwords() {
        let mut store = StoreSettings {
            kind: StoreKind::Redis,
            url: Some("redis://tunnus:hunter2@redis.example.fi:6379".to_owned()),
            ..StoreSettings::default()
        };
        store.nodes = vec!["redis://:hunter3@10.0.0.1:7000".to_owned()];
        let debug = format!("{store:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("hunter3"),
            "{debug}"
        );
        assert!(debug.contains("redis.example.fi"), "{debug}");
    }

    #[tokio::test]
    async fn build_makes_a_memory_store_by_default() {
        let store = build(&StoreSettings::default(), Arc::new(ManualClock::new())).unwrap();
        assert_eq!(store.kind(), "memory");
    }

    #[tokio::test]
    async fn build_refuses_invalid_settings_with_the_key() {
        let settings = StoreSettings {
            kind: StoreKind::Redis,
            ..StoreSettings::default()
        };
        match build(&settings, Arc::new(ManualClock::new())) {
            Err(StoreError::Config { key, .. }) => assert_eq!(key, "store.url"),
            Err(other) => panic!("expected a settings error, got {other}"),
            Ok(_) => panic!("expected a settings error"),
        }
    }

    #[tokio::test]
    async fn build_does_not_need_redis_to_be_up() {
        // Port 1 on loopback has no server: building succeeds, using it reports unavailability.
        let settings = StoreSettings {
            kind: StoreKind::Redis,
            url: Some("redis://127.0.0.1:1".to_owned()),
            timeout: HumanDuration(Duration::from_millis(300)),
            ..StoreSettings::default()
        };
        let store = build(&settings, Arc::new(ManualClock::new())).unwrap();
        assert_eq!(store.kind(), "redis");
        assert!(matches!(
            store.health().await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
