//! One contract for every store backend, run against the memory store (with a hand-moved clock), a
//! single Redis server and a three-node Redis Cluster; then what only Redis has: outages and
//! recovery, ACL users, TLS.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Cmd, FromRedisValue};
use tunnus::clock::ManualClock;
use tunnus::config::HumanDuration;
use tunnus::store::{self, Store, StoreError, StoreKind, StoreSettings};

use crate::redis::{RedisCluster, RedisServer, TempDir, free_port, shared_cluster, shared_server};

const MINUTE: Duration = Duration::from_secs(60);
/// A time to live short enough to wait out in real time.
const SHORT: Duration = Duration::from_millis(300);
/// How long past its time to live a Redis key may take to disappear before a test fails.
const EXPIRY_SLACK: Duration = Duration::from_secs(10);
/// How long a test waits for a restarted Redis to be used again.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// A store under test and what the contract needs around it.
struct Subject {
    store: Arc<dyn Store>,
    /// The memory store's clock; `None` for Redis, where time is real.
    clock: Option<Arc<ManualClock>>,
    /// A direct connection to Redis, to look behind the store.
    raw: Option<Raw>,
    prefix: String,
}

/// Where to connect directly: one server's URL or the cluster's seed URLs.
enum Raw {
    Single(String),
    Cluster(Vec<String>),
}

impl Subject {
    fn memory() -> Subject {
        let clock = Arc::new(ManualClock::new());
        Subject {
            store: Arc::new(store::MemoryStore::new(clock.clone())),
            clock: Some(clock),
            raw: None,
            prefix: String::new(),
        }
    }

    fn single(test: &str) -> Subject {
        let server = shared_server();
        let prefix = prefix(test);
        let settings = redis_settings(Some(server.url()), Vec::new(), &prefix);
        Subject {
            store: build(&settings),
            clock: None,
            raw: Some(Raw::Single(server.url())),
            prefix,
        }
    }

    fn cluster(test: &str) -> Subject {
        let cluster = shared_cluster();
        let prefix = prefix(test);
        let settings = redis_settings(None, cluster.urls(), &prefix);
        Subject {
            store: build(&settings),
            clock: None,
            raw: Some(Raw::Cluster(cluster.urls())),
            prefix,
        }
    }

    /// Runs `cmd` on a direct connection to Redis.
    async fn raw<T: FromRedisValue>(&self, cmd: &Cmd) -> T {
        match self.raw.as_ref().expect("a Redis subject") {
            Raw::Single(url) => {
                let client = redis::Client::open(url.as_str()).unwrap();
                let mut conn = client.get_multiplexed_async_connection().await.unwrap();
                cmd.query_async(&mut conn).await.unwrap()
            }
            Raw::Cluster(urls) => {
                let client = redis::cluster::ClusterClient::new(urls.clone()).unwrap();
                let mut conn = client.get_async_connection().await.unwrap();
                cmd.query_async(&mut conn).await.unwrap()
            }
        }
    }

    /// Checks that `key` (what `alive` looks at) lives for `ttl` and then disappears. Memory: the
    /// clock moves to just before and to the end of `ttl`. Redis: the key carries a time to live of
    /// at most `ttl` (read with PTTL, so no wall-clock threshold decides), and it disappears within
    /// a generous deadline.
    async fn assert_lives_for(
        &self,
        key: &str,
        ttl: Duration,
        mut alive: impl AsyncFnMut() -> bool,
    ) {
        match &self.clock {
            Some(clock) => {
                let ttl = time::Duration::try_from(ttl).unwrap();
                clock.advance(ttl - time::Duration::milliseconds(1));
                assert!(alive().await, "gone before its time to live ended");
                clock.advance(time::Duration::milliseconds(1));
                assert!(!alive().await, "still there when its time to live ended");
            }
            None => {
                let pttl: i64 = self
                    .raw(redis::cmd("PTTL").arg(format!("{}{key}", self.prefix)))
                    .await;
                let ttl_ms = i64::try_from(ttl.as_millis()).unwrap();
                assert!(
                    pttl > 0 && pttl <= ttl_ms,
                    "time to live {pttl} ms, not within (0, {ttl_ms}] ms"
                );
                let deadline = Instant::now() + ttl + EXPIRY_SLACK;
                while alive().await {
                    assert!(
                        Instant::now() < deadline,
                        "still there {EXPIRY_SLACK:?} after its time to live"
                    );
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Lets the counter `key` (with a window of `window`) run out.
    async fn wait_out_counter(&self, key: &str, window: Duration) {
        match &self.clock {
            Some(clock) => clock.advance(time::Duration::try_from(window).unwrap()),
            None => {
                let deadline = Instant::now() + window + EXPIRY_SLACK;
                while self
                    .raw::<bool>(redis::cmd("EXISTS").arg(format!("{}{key}", self.prefix)))
                    .await
                {
                    assert!(Instant::now() < deadline, "the counter never expired");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
}

/// A key prefix of this test's own, so tests sharing a server never see each other's keys.
fn prefix(test: &str) -> String {
    format!("it:{}:{test}:", std::process::id())
}

fn redis_settings(url: Option<String>, nodes: Vec<String>, prefix: &str) -> StoreSettings {
    StoreSettings {
        kind: StoreKind::Redis,
        url,
        nodes,
        key_prefix: prefix.to_owned(),
        ..StoreSettings::default()
    }
}

fn build(settings: &StoreSettings) -> Arc<dyn Store> {
    store::build(settings, Arc::new(ManualClock::new())).unwrap()
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

// ---- The contract ----

async fn put_new_refuses_a_live_key(s: &Subject) {
    let store = &s.store;
    assert!(store.put_new("k", b"first", MINUTE).await.unwrap());
    assert!(!store.put_new("k", b"second", MINUTE).await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), Some(b"first".to_vec()));
}

async fn put_replaces_a_value(s: &Subject) {
    let store = &s.store;
    store.put("k", b"first", MINUTE).await.unwrap();
    store.put("k", b"second", MINUTE).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"second".to_vec()));
}

async fn take_returns_a_value_once(s: &Subject) {
    let store = &s.store;
    store.put("k", b"v", MINUTE).await.unwrap();
    assert_eq!(store.take("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.take("k").await.unwrap(), None);
    assert_eq!(store.get("k").await.unwrap(), None);
    assert!(store.put_new("k", b"again", MINUTE).await.unwrap());
}

async fn racing_takers_get_a_value_once(s: &Subject) {
    for round in 0..5 {
        let key = format!("race-{round}");
        s.store.put(&key, b"v", MINUTE).await.unwrap();
        let takers: Vec<_> = (0..16)
            .map(|_| {
                let store = s.store.clone();
                let key = key.clone();
                tokio::spawn(async move { store.take(&key).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for taker in takers {
            if let Some(value) = taker.await.unwrap() {
                assert_eq!(value, b"v");
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn racing_put_new_has_one_winner(s: &Subject) {
    let writers: Vec<_> = (0..16u8)
        .map(|i| {
            let store = s.store.clone();
            tokio::spawn(async move { (i, store.put_new("k", &[i], MINUTE).await.unwrap()) })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        let (i, won) = writer.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(s.store.get("k").await.unwrap(), Some(winners));
}

async fn get_does_not_consume(s: &Subject) {
    let store = &s.store;
    store.put("k", b"v", MINUTE).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.take("k").await.unwrap(), Some(b"v".to_vec()));
}

async fn missing_keys_read_as_absent(s: &Subject) {
    let store = &s.store;
    assert_eq!(store.get("never").await.unwrap(), None);
    assert_eq!(store.take("never").await.unwrap(), None);
    store.delete("never").await.unwrap();
}

async fn delete_removes_values_and_counters(s: &Subject) {
    let store = &s.store;
    store.put("k", b"v", MINUTE).await.unwrap();
    store.delete("k").await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);
    assert!(store.put_new("k", b"again", MINUTE).await.unwrap());
    assert_eq!(store.incr("c", MINUTE).await.unwrap(), 1);
    assert_eq!(store.incr("c", MINUTE).await.unwrap(), 2);
    store.delete("c").await.unwrap();
    assert_eq!(store.incr("c", MINUTE).await.unwrap(), 1);
}

async fn values_expire_after_their_ttl(s: &Subject) {
    let store = &s.store;
    store.put("short", b"v", SHORT).await.unwrap();
    store.put("long", b"v", MINUTE).await.unwrap();
    s.assert_lives_for("short", SHORT, async || {
        store.get("short").await.unwrap().is_some()
    })
    .await;
    assert_eq!(store.take("short").await.unwrap(), None);
    assert!(store.put_new("short", b"again", MINUTE).await.unwrap());
    assert_eq!(store.get("long").await.unwrap(), Some(b"v".to_vec()));
}

async fn put_new_values_expire_too(s: &Subject) {
    let store = &s.store;
    assert!(store.put_new("short", b"v", SHORT).await.unwrap());
    s.assert_lives_for("short", SHORT, async || {
        !store.put_new("short", b"again", MINUTE).await.unwrap()
    })
    .await;
    assert_eq!(store.take("short").await.unwrap(), Some(b"again".to_vec()));
}

async fn counters_count_and_restart_after_their_window(s: &Subject) {
    let store = &s.store;
    for expected in 1..=3 {
        assert_eq!(store.incr("minute", MINUTE).await.unwrap(), expected);
    }
    assert_eq!(store.incr("short", SHORT).await.unwrap(), 1);
    s.wait_out_counter("short", SHORT).await;
    assert_eq!(store.incr("short", SHORT).await.unwrap(), 1);
    assert_eq!(store.incr("minute", MINUTE).await.unwrap(), 4);
}

async fn concurrent_increments_are_all_counted(s: &Subject) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = s.store.clone();
            tokio::spawn(async move { store.incr("c", MINUTE).await.unwrap() })
        })
        .collect();
    let mut counts = BTreeSet::new();
    for task in tasks {
        counts.insert(task.await.unwrap());
    }
    assert_eq!(counts, (1..=16).collect());
}

async fn any_bytes_round_trip(s: &Subject) {
    let store = &s.store;
    let every_byte: Vec<u8> = (0..=255).collect();
    let large: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let values: [&[u8]; 5] = [
        b"",
        &every_byte,
        b"\r\n$-1\r\n*3\r\n",
        &[0xff, 0xfe, 0x00, 0xc3],
        &large,
    ];
    for (i, value) in values.iter().enumerate() {
        let key = format!("bytes-{i}");
        store.put(&key, value, MINUTE).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(*value));
        assert_eq!(store.take(&key).await.unwrap().as_deref(), Some(*value));
    }
    for key in ["with space", "rivi\nvaihto", "{tag}x", "äö€", "*?[a]"] {
        store.put(key, key.as_bytes(), MINUTE).await.unwrap();
    }
    for key in ["with space", "rivi\nvaihto", "{tag}x", "äö€", "*?[a]"] {
        assert_eq!(
            store.take(key).await.unwrap().as_deref(),
            Some(key.as_bytes())
        );
    }
}

async fn many_keys_work(s: &Subject) {
    let store = &s.store;
    for i in 0..200 {
        store
            .put(&format!("many-{i}"), i.to_string().as_bytes(), MINUTE)
            .await
            .unwrap();
    }
    for i in 0..200 {
        let key = format!("many-{i}");
        assert_eq!(
            store.get(&key).await.unwrap(),
            Some(i.to_string().into_bytes())
        );
        assert_eq!(
            store.take(&key).await.unwrap(),
            Some(i.to_string().into_bytes())
        );
        assert_eq!(store.incr(&key, MINUTE).await.unwrap(), 1);
    }
}

async fn schedules_hand_out_what_is_due_earliest_first(s: &Subject) {
    let store = &s.store;
    assert_eq!(store.schedule_size("sched").await.unwrap(), (0, None));
    store.schedule("sched", "late", 3_000).await.unwrap();
    store.schedule("sched", "early", 1_000).await.unwrap();
    store.schedule("sched", "middle", 2_000).await.unwrap();
    assert_eq!(
        store.due("sched", 999, 10).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.due("sched", 2_000, 10).await.unwrap(),
        ["early", "middle"]
    );
    assert_eq!(
        store.due("sched", 9_000, 2).await.unwrap(),
        ["early", "middle"]
    );
    assert_eq!(
        store.schedule_size("sched").await.unwrap(),
        (3, Some(1_000))
    );
    // Scheduling again moves a member; taking it out leaves the others.
    store.schedule("sched", "early", 5_000).await.unwrap();
    assert_eq!(
        store.due("sched", 4_000, 10).await.unwrap(),
        ["middle", "late"]
    );
    store.unschedule("sched", "middle").await.unwrap();
    store.unschedule("sched", "never-there").await.unwrap();
    assert_eq!(
        store.due("sched", 9_000, 10).await.unwrap(),
        ["late", "early"]
    );
    assert_eq!(
        store.schedule_size("sched").await.unwrap(),
        (2, Some(3_000))
    );
    assert_eq!(
        store.due("other", 9_000, 10).await.unwrap(),
        Vec::<String>::new()
    );
}

/// Runs every contract function against the memory store, the single server and the cluster.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Subject::memory()).await;
                }
            )*
        }
        mod single {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Subject::single(stringify!($name))).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Subject::cluster(stringify!($name))).await;
                }
            )*
        }
    };
}

contract!(
    put_new_refuses_a_live_key,
    put_replaces_a_value,
    take_returns_a_value_once,
    racing_takers_get_a_value_once,
    racing_put_new_has_one_winner,
    get_does_not_consume,
    missing_keys_read_as_absent,
    delete_removes_values_and_counters,
    values_expire_after_their_ttl,
    put_new_values_expire_too,
    counters_count_and_restart_after_their_window,
    concurrent_increments_are_all_counted,
    any_bytes_round_trip,
    many_keys_work,
    schedules_hand_out_what_is_due_earliest_first,
);

// ---- What only Redis has: keys, TTLs and errors seen from behind the store ----

async fn keys_land_under_the_prefix(s: &Subject) {
    s.store.put("k", b"v", MINUTE).await.unwrap();
    let prefixed: Option<Vec<u8>> = s.raw(redis::cmd("GET").arg(format!("{}k", s.prefix))).await;
    assert_eq!(prefixed, Some(b"v".to_vec()));
    assert!(!s.raw::<bool>(redis::cmd("EXISTS").arg("k")).await);
    let pttl: i64 = s
        .raw(redis::cmd("PTTL").arg(format!("{}k", s.prefix)))
        .await;
    assert!(0 < pttl && pttl <= 60_000, "PTTL {pttl}");
}

async fn counters_always_have_a_ttl(s: &Subject) {
    let key = format!("{}c", s.prefix);
    for _ in 0..3 {
        s.store.incr("c", MINUTE).await.unwrap();
        let pttl: i64 = s.raw(redis::cmd("PTTL").arg(&key)).await;
        assert!(0 < pttl && pttl <= 60_000, "PTTL {pttl}");
    }
    // A counter left without an expiry (by hand, or by an older version) gets one back.
    let () = s.raw(redis::cmd("SET").arg(&key).arg("5")).await;
    assert_eq!(s.raw::<i64>(redis::cmd("PTTL").arg(&key)).await, -1);
    assert_eq!(s.store.incr("c", MINUTE).await.unwrap(), 6);
    let pttl: i64 = s.raw(redis::cmd("PTTL").arg(&key)).await;
    assert!(0 < pttl && pttl <= 60_000, "PTTL {pttl}");
}

async fn errors_name_the_operation_but_no_key_or_value(s: &Subject) {
    let key = format!("{}hashed-secret", s.prefix);
    let () = s
        .raw(redis::cmd("SET").arg(&key).arg("value-not-a-number"))
        .await;
    match s.store.incr("hashed-secret", MINUTE).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.starts_with("INCR failed"), "{message}");
            for secret in ["hashed-secret", "value-not-a-number", &s.prefix] {
                assert!(!message.contains(secret), "{message}");
            }
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The refused increment left the value and its lack of a TTL as they were.
    let value: String = s.raw(redis::cmd("GET").arg(&key)).await;
    assert_eq!(value, "value-not-a-number");
    assert_eq!(s.raw::<i64>(redis::cmd("PTTL").arg(&key)).await, -1);
}

macro_rules! redis_only {
    ($($name:ident),* $(,)?) => {
        mod single_behind {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Subject::single(stringify!($name))).await;
                }
            )*
        }
        mod cluster_behind {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Subject::cluster(stringify!($name))).await;
                }
            )*
        }
    };
}

redis_only!(
    keys_land_under_the_prefix,
    counters_always_have_a_ttl,
    errors_name_the_operation_but_no_key_or_value,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_keys_spread_over_every_node() {
    let s = Subject::cluster("spread");
    for i in 0..100 {
        s.store
            .put(&format!("spread-{i}"), b"v", MINUTE)
            .await
            .unwrap();
    }
    for node in &shared_cluster().nodes {
        let mut conn = redis::Client::open(node.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{}*", s.prefix))
            .arg("COUNT")
            .arg(100_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            !keys.is_empty(),
            "node {} holds none of the keys",
            node.port()
        );
    }
}

// ---- Outages and recovery ----

/// Every operation of `store`, each expected to report the store unavailable.
async fn assert_every_call_unavailable(store: &dyn Store) {
    assert_unavailable(store.put_new("k", b"v", MINUTE).await, "put_new");
    assert_unavailable(store.put("k", b"v", MINUTE).await, "put");
    assert_unavailable(store.take("k").await, "take");
    assert_unavailable(store.get("k").await, "get");
    assert_unavailable(store.delete("k").await, "delete");
    assert_unavailable(store.incr("c", MINUTE).await, "incr");
    assert_unavailable(store.health().await, "health");
}

/// The keys under `prefix` on the server at `url`, read on a direct connection.
async fn keys_under(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Polls `health` until it passes, failing the test after a deadline.
async fn wait_healthy(store: &dyn Store) {
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    loop {
        match store.health().await {
            Ok(()) => return,
            Err(error) => assert!(
                Instant::now() < deadline,
                "the store did not recover: {error}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

fn fast_settings(url: Option<String>, nodes: Vec<String>) -> StoreSettings {
    StoreSettings {
        timeout: HumanDuration(Duration::from_millis(500)),
        ..redis_settings(url, nodes, "it:outage:")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_makes_every_call_unavailable_and_the_same_store_recovers() {
    let mut server = RedisServer::start();
    let store = build(&fast_settings(Some(server.url()), Vec::new()));
    store.put("k", b"before", MINUTE).await.unwrap();

    server.stop();
    assert_every_call_unavailable(store.as_ref()).await;
    // Still unavailable when asked again: failures do not wedge or panic the client.
    assert_every_call_unavailable(store.as_ref()).await;

    server.start_again();
    wait_healthy(store.as_ref()).await;
    store.put("k", b"after", MINUTE).await.unwrap();
    assert_eq!(store.take("k").await.unwrap(), Some(b"after".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_built_while_redis_is_down_becomes_healthy_when_it_starts() {
    // The store is built for a port before anything listens there; if another process takes the
    // port before the server does, the whole start is done again with another port.
    let mut taken = Vec::new();
    let (store, _server) = loop {
        assert!(taken.len() < 5, "every port chosen was taken: {taken:?}");
        let port = free_port(false);
        let store = build(&fast_settings(
            Some(format!("redis://127.0.0.1:{port}")),
            Vec::new(),
        ));
        assert_every_call_unavailable(store.as_ref()).await;
        match RedisServer::try_start_on(port) {
            Ok(server) => break (store, server),
            Err(crate::ports::StartFailure::PortTaken(detail)) => taken.push(detail),
            Err(other) => panic!("redis-server did not start: {other:?}"),
        }
    };
    wait_healthy(store.as_ref()).await;
    assert!(store.put_new("k", b"v", MINUTE).await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_makes_every_call_unavailable() {
    // The kernel accepts connections into the backlog, but nothing ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let store = build(&fast_settings(Some(url), Vec::new()));
    assert_every_call_unavailable(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_built_while_the_cluster_is_down_reports_unavailable() {
    let port = free_port(true);
    let store = build(&fast_settings(
        None,
        vec![format!("redis://127.0.0.1:{port}")],
    ));
    assert_every_call_unavailable(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_recovers_after_every_node_restarts() {
    let mut cluster = RedisCluster::start();
    let store = build(&fast_settings(None, cluster.urls()));
    for i in 0..20 {
        store.put(&format!("k{i}"), b"v", MINUTE).await.unwrap();
    }

    cluster.stop();
    assert_every_call_unavailable(store.as_ref()).await;

    cluster.start_again();
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    for i in 0..20 {
        // Every slot must be reachable again, not only the node `health` happens to ask.
        loop {
            match store.put(&format!("k{i}"), b"after", MINUTE).await {
                Ok(()) => break,
                Err(error) => assert!(
                    Instant::now() < deadline,
                    "the cluster store did not recover: {error}"
                ),
            }
            tokio::time::sleep(POLL).await;
        }
        assert_eq!(
            store.take(&format!("k{i}")).await.unwrap(),
            Some(b"after".to_vec())
        );
    }
}

// ---- ACL users ----

const ACL_USER: &str = "tunnus-it";
const ACL_PASSWORD: &str = "correct horse battery staple";

/// A server where the default user is off and only [`ACL_USER`] may log in.
fn acl_server() -> RedisServer {
    RedisServer::start_with(
        &[
            "--user",
            "default",
            "off",
            "--user",
            ACL_USER,
            "on",
            &format!(">{ACL_PASSWORD}"),
            "~*",
            "&*",
            "+@all",
        ]
        .map(str::to_owned),
    )
}

/// Settings whose timeout outlasts the client's own connection attempts, so that a refused login
/// is reported as such rather than as a timeout.
fn patient_settings(server: &RedisServer) -> StoreSettings {
    StoreSettings {
        timeout: HumanDuration(Duration::from_secs(5)),
        ..redis_settings(Some(server.url()), Vec::new(), "it:acl:")
    }
}

/// The store is unavailable because the server refused the login, and says so without the password.
fn assert_login_refused<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("authentication failed"), "{message}");
            assert!(!message.contains("password"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn password_file(dir: &TempDir, password: &str) -> std::path::PathBuf {
    let path = dir.path().join("redis-password");
    crate::harness::write_secret(&path, format!("{password}\n"));
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_with_a_password_file_works() {
    let server = acl_server();
    let dir = TempDir::new("acl");
    let settings = StoreSettings {
        username: Some(ACL_USER.to_owned()),
        password_file: Some(password_file(&dir, ACL_PASSWORD)),
        ..fast_settings(Some(server.url()), Vec::new())
    };
    let store = build(&settings);
    store.health().await.unwrap();
    store.put("k", b"v", MINUTE).await.unwrap();
    assert_eq!(store.take("k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_work_and_the_password_file_overrides_them() {
    let server = acl_server();
    let with_user = |password: &str| {
        format!(
            "redis://{ACL_USER}:{}@127.0.0.1:{}",
            password.replace(' ', "%20"),
            server.port()
        )
    };
    let store = build(&fast_settings(Some(with_user(ACL_PASSWORD)), Vec::new()));
    store.health().await.unwrap();

    let dir = TempDir::new("acl-override");
    let settings = StoreSettings {
        password_file: Some(password_file(&dir, ACL_PASSWORD)),
        ..fast_settings(Some(with_user("stale")), Vec::new())
    };
    build(&settings).health().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_none_makes_calls_unavailable_without_showing_it() {
    let server = acl_server();
    let dir = TempDir::new("acl-wrong");
    let settings = StoreSettings {
        username: Some(ACL_USER.to_owned()),
        password_file: Some(password_file(&dir, "wrong password")),
        ..patient_settings(&server)
    };
    let wrong = build(&settings);
    assert_login_refused(wrong.put("k", b"v", MINUTE).await);
    assert_every_call_unavailable(wrong.as_ref()).await;

    let anonymous = build(&fast_settings(Some(server.url()), Vec::new()));
    assert_every_call_unavailable(anonymous.as_ref()).await;

    let admin = format!(
        "redis://{ACL_USER}:{}@127.0.0.1:{}",
        ACL_PASSWORD.replace(' ', "%20"),
        server.port()
    );
    for prefix in ["it:acl:", "it:outage:"] {
        assert_eq!(keys_under(&admin, prefix).await, Vec::<String>::new());
    }
}

// ---- TLS ----

/// A server with a plain port (for the harness) and a TLS port signed by a test CA in `dir`.
fn tls_server(dir: &TempDir) -> (RedisServer, u16) {
    crate::slapd::write_certificates(dir.path());
    let file = |name: &str| dir.path().join(name).display().to_string();
    RedisServer::start_with_tls(&[
        "--tls-cert-file".to_owned(),
        file("server.pem"),
        "--tls-key-file".to_owned(),
        file("server.key"),
        "--tls-ca-cert-file".to_owned(),
        file("ca.pem"),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_the_test_ca_works() {
    let dir = TempDir::new("tls");
    let (_server, tls_port) = tls_server(&dir);
    let settings = StoreSettings {
        tls_ca_file: Some(dir.path().join("ca.pem")),
        ..fast_settings(Some(format!("rediss://127.0.0.1:{tls_port}")), Vec::new())
    };
    let store = build(&settings);
    store.health().await.unwrap();
    store.put("k", b"over tls", MINUTE).await.unwrap();
    assert_eq!(store.take("k").await.unwrap(), Some(b"over tls".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_refuses_a_server_its_ca_does_not_sign_and_plain_redis_gets_no_answer() {
    let dir = TempDir::new("tls-untrusted");
    let (server, tls_port) = tls_server(&dir);
    // Without the CA file the system's roots are used, and they do not know the test CA.
    let untrusted = build(&fast_settings(
        Some(format!("rediss://127.0.0.1:{tls_port}")),
        Vec::new(),
    ));
    assert_every_call_unavailable(untrusted.as_ref()).await;

    let plain = build(&fast_settings(
        Some(format!("redis://127.0.0.1:{tls_port}")),
        Vec::new(),
    ));
    assert_every_call_unavailable(plain.as_ref()).await;
    assert_eq!(
        keys_under(&server.url(), "it:outage:").await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_tried_again_once_the_server_accepts_it() {
    let server = acl_server();
    let dir = TempDir::new("acl-later");
    let settings = StoreSettings {
        username: Some("late-user".to_owned()),
        password_file: Some(password_file(&dir, ACL_PASSWORD)),
        ..patient_settings(&server)
    };
    let store = build(&settings);
    assert_login_refused(store.health().await);

    let admin = format!(
        "redis://{ACL_USER}:{}@127.0.0.1:{}",
        ACL_PASSWORD.replace(' ', "%20"),
        server.port()
    );
    let mut conn = redis::Client::open(admin)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("late-user")
        .arg("on")
        .arg(format!(">{ACL_PASSWORD}"))
        .arg("~*")
        .arg("+@all")
        .query_async(&mut conn)
        .await
        .unwrap();
    wait_healthy(store.as_ref()).await;
}

// ---- The service itself ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_starts_with_a_redis_store_while_redis_is_down_and_uses_it_later() {
    // The service is built for a Redis port before anything listens there; if another process
    // takes the port before Redis does, the whole start is done again with another port.
    let mut taken = Vec::new();
    let (store, _server, _app) = loop {
        assert!(taken.len() < 5, "every port chosen was taken: {taken:?}");
        let port = free_port(false);
        let settings = tunnus::config::Settings::from_toml(&format!(
            r#"
            [broker]
            issuer = "https://broker.example.fi/oidc"
            client_id = "tunnus-test"
            [store]
            kind = "redis"
            url = "redis://127.0.0.1:{port}"
            timeout = "500ms"
            "#
        ))
        .unwrap();
        settings.validate(tunnus::config::Mode::Dev).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = tunnus::app::App::build_on(
            listener,
            settings,
            tunnus::app::Dependencies {
                clock: Arc::new(ManualClock::new()),
                keys: Arc::new(
                    tunnus::keys::ServiceKeys::generate(tunnus::keys::SigningAlg::ES256).unwrap(),
                ),
                store: None,
                directory: None,
                audit: None,
            },
        )
        .await
        .unwrap();
        let store = app.state().store.clone();
        assert_eq!(store.kind(), "redis");
        assert_unavailable(store.health().await, "health before Redis starts");
        match RedisServer::try_start_on(port) {
            Ok(server) => break (store, server, app),
            Err(crate::ports::StartFailure::PortTaken(detail)) => taken.push(detail),
            Err(other) => panic!("redis-server did not start: {other:?}"),
        }
    };
    wait_healthy(store.as_ref()).await;
}

/// The service over Redis: when Redis stops, people get the unavailable page and nothing reaches the
/// directory; when it is back, the service works again without a restart.
#[tokio::test]
async fn the_service_survives_redis_going_away_and_coming_back() {
    use crate::harness::{Options, TestApp};
    use reqwest::StatusCode;

    let mut server = RedisServer::start();
    let store = build(&redis_settings(Some(server.url()), Vec::new(), "outage:"));
    let app = TestApp::spawn_with(Options {
        store: Some(store),
        ..Options::default()
    })
    .await;
    let browser = app.browser();
    browser
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);

    server.stop();
    let password = "kahvi-Tunturi-lumi-57-sade";
    browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &form.field("csrf")),
                ("password", password),
                ("confirmation", password),
            ],
        )
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("ei ole juuri nyt käytettävissä");
    assert_eq!(app.directory.writes(), 0);
    let other = app.browser();
    let csrf = other.get_path("/?lang=sv").await.field("csrf");
    other
        .post_form(app.at("/login"), &[("csrf", &csrf)])
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("Tjänsten är inte tillgänglig just nu");
    other
        .get_path("/readyz")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE);

    server.start_again();
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    loop {
        if other.get_path("/readyz").await.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other
        .identify(app.person("291292-918R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
}
