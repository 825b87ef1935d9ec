//! A Redis primary with a replica, failed over (`REPLICAOF NO ONE`) right after a take. Redis
//! replicates asynchronously: a `GETDEL` the primary acknowledged may never reach the replica, which
//! then hands the same login transaction or grant out again once promoted. With
//! `store.min_replicas_acked` a take counts only once a replica has it: these tests prove that a
//! value is used at most once across the failover, that a grant writes to the directory at most
//! once, and that the person always gets a page saying what to do next.
//!
//! The store reaches Redis through a [`Relay`], as through a load balancer or a virtual address that
//! follows the primary; the replica replicates through another relay that the test can hold, so
//! "the deletion has not reached the replica yet" is a fact the test arranges, not a race it hopes
//! to win.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tunnus::clock::ManualClock;
use tunnus::config::HumanDuration;
use tunnus::store::{self, Store, StoreError, StoreKind, StoreSettings};

use crate::harness::{Browser, Options, Page, TestApp};
use crate::redis::RedisServer;

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";
/// How long replication may take to catch up, and the store to answer after the failover.
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

// ---- A TCP relay that can be pointed elsewhere and held ----

/// Forwards connections on its own port (bound here, so no other process can take it) to a
/// server's port on 127.0.0.1.
struct Relay {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<RelayState>,
    changed: Condvar,
}

struct RelayState {
    /// Where new connections go; `None` refuses them.
    target: Option<u16>,
    /// While held, bytes are read but not passed on in either direction.
    held: bool,
    /// Bumped by [`Relay::cut`]: connections of an older generation end, dropping what they hold.
    generation: u64,
    closed: bool,
    streams: Vec<TcpStream>,
}

impl Relay {
    fn to(target: u16) -> Relay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: Mutex::new(RelayState {
                target: Some(target),
                held: false,
                generation: 0,
                closed: false,
                streams: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let mut state = accepting.lock();
                if state.closed {
                    return;
                }
                let Some(upstream) = state
                    .target
                    .and_then(|port| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok())
                else {
                    continue;
                };
                let generation = state.generation;
                for stream in [&client, &upstream] {
                    state.streams.push(stream.try_clone().unwrap());
                }
                drop(state);
                for (from, to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    let shared = accepting.clone();
                    std::thread::spawn(move || shared.pump(from, to, generation));
                }
            }
        });
        Relay { port, shared }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// From now on nothing passes in either direction until the connections are cut.
    fn hold(&self) {
        self.shared.lock().held = true;
    }

    /// Ends every connection, dropping whatever is held, and sends new ones to `target`.
    fn cut(&self, target: Option<u16>) {
        let mut state = self.shared.lock();
        state.target = target;
        state.held = false;
        state.generation += 1;
        for stream in state.streams.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.shared.changed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, RelayState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pump(&self, mut from: TcpStream, mut to: TcpStream, generation: u64) {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let mut state = self.lock();
            while state.held && state.generation == generation && !state.closed {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.generation != generation || state.closed {
                break;
            }
            drop(state);
            if to.write_all(&buffer[..read]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.cut(None);
        // Wakes the accepting thread, which then sees `closed` and ends.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

// ---- A primary, its replica, and the failover ----

/// A primary and a replica replicating through a relay; the store's relay points at the primary.
struct Replicated {
    primary: RedisServer,
    replica: RedisServer,
    link: Relay,
    front: Relay,
    /// The promoted replica's own replica, started by the failover.
    spare: Option<RedisServer>,
}

impl Replicated {
    fn start() -> Replicated {
        let primary = RedisServer::start();
        let link = Relay::to(primary.port());
        let replica = RedisServer::start_with(&[
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            link.port.to_string(),
        ]);
        let front = Relay::to(primary.port());
        let replicated = Replicated {
            primary,
            replica,
            link,
            front,
            spare: None,
        };
        replicated.in_sync(replicated.primary.port(), replicated.replica.port());
        replicated
    }

    /// Waits until the replica on `replica` has everything its primary on `primary` has written.
    fn in_sync(&self, primary: u16, replica: u16) {
        let deadline = Instant::now() + DEADLINE;
        let written = info_field(primary, "master_repl_offset");
        loop {
            let up = info(replica).contains("master_link_status:up");
            if up && info_field(replica, "slave_repl_offset") >= written {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica on {replica} did not catch up:\n{}",
                info(replica)
            );
            std::thread::sleep(POLL);
        }
    }

    /// What the replica has is all it will get: nothing more crosses the link.
    fn hold_replication(&self) {
        self.in_sync(self.primary.port(), self.replica.port());
        self.link.hold();
    }

    /// The primary dies before the held replication reaches the replica; the replica is promoted
    /// (`REPLICAOF NO ONE`), the store's relay follows it, and a new replica joins it so that
    /// takes can be acknowledged again.
    fn fail_over(&mut self) {
        self.primary.stop();
        self.link.cut(None);
        let () = redis::cmd("REPLICAOF")
            .arg("NO")
            .arg("ONE")
            .query(&mut connect(self.replica.port()))
            .unwrap();
        self.front.cut(Some(self.replica.port()));
        let spare = RedisServer::start_with(&[
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            self.replica.port().to_string(),
        ]);
        self.in_sync(self.replica.port(), spare.port());
        self.spare = Some(spare);
    }

    /// A store through the front relay that trusts a take once one replica has it.
    fn store(&self) -> Arc<dyn Store> {
        let settings = StoreSettings {
            kind: StoreKind::Redis,
            url: Some(self.front.url()),
            key_prefix: "failover:".to_owned(),
            // Generous, so that a loaded machine never misses a healthy replica's answer; a held
            // replica never answers, however long the wait.
            timeout: HumanDuration(Duration::from_secs(6)),
            replica_ack_timeout: HumanDuration(Duration::from_secs(2)),
            min_replicas_acked: 1,
            ..StoreSettings::default()
        };
        store::build(&settings, Arc::new(ManualClock::new())).unwrap()
    }
}

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
        .unwrap()
}

fn info(port: u16) -> String {
    redis::cmd("INFO")
        .arg("replication")
        .query(&mut connect(port))
        .unwrap()
}

fn info_field(port: u16, name: &str) -> u64 {
    let info = info(port);
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Polls the store until it answers through the relay again.
async fn wait_healthy(store: &dyn Store) {
    let deadline = Instant::now() + DEADLINE;
    while let Err(error) = store.health().await {
        assert!(
            Instant::now() < deadline,
            "the store did not recover: {error}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn assert_unavailable<T: std::fmt::Debug>(result: &Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "expected the take to be refused as unavailable, got {result:?}"
    );
}

// ---- The store ----

/// A login transaction and a grant, each taken just before the primary dies with the deletion not
/// yet replicated, are each handed out once: the take the replica never saw is refused, and the
/// promoted replica hands the value out instead.
#[tokio::test]
async fn a_value_taken_right_before_a_failover_is_handed_out_once() {
    let mut redis = Replicated::start();
    let store = redis.store();
    let keys = ["login:transaction", "grant:session"];
    for key in keys {
        assert!(
            store
                .put_new(key, key.as_bytes(), Duration::from_secs(600))
                .await
                .unwrap()
        );
    }
    redis.hold_replication();
    let before: Vec<_> = take_each(&*store, &keys).await;

    redis.fail_over();
    wait_healthy(&*store).await;
    let after: Vec<_> = take_each(&*store, &keys).await;
    let again: Vec<_> = take_each(&*store, &keys).await;

    for (i, key) in keys.iter().enumerate() {
        let handed_out = [&before[i], &after[i], &again[i]]
            .iter()
            .filter(|taken| matches!(taken, Ok(Some(_))))
            .count();
        assert_eq!(handed_out, 1, "{key} was handed out {handed_out} times");
        assert_unavailable(&before[i]);
        assert_eq!(after[i].as_ref().unwrap().as_deref(), Some(key.as_bytes()));
        assert_eq!(again[i].as_ref().unwrap(), &None);
    }
}

/// Takes every key in turn.
async fn take_each(store: &dyn Store, keys: &[&str]) -> Vec<Result<Option<Vec<u8>>, StoreError>> {
    let mut taken = Vec::new();
    for key in keys {
        taken.push(store.take(key).await);
    }
    taken
}

/// With the replica stopped, a take is refused and the value put back: once the replica is back,
/// the value is handed out, once.
#[tokio::test]
async fn without_its_replica_a_take_is_refused_and_the_value_kept_for_a_retry() {
    let mut redis = Replicated::start();
    let store = redis.store();
    assert!(
        store
            .put_new("grant:kept", b"grant", Duration::from_secs(600))
            .await
            .unwrap()
    );
    redis.replica.stop();
    let refused = store.take("grant:kept").await;
    assert_unavailable(&refused);
    if let Err(error) = &refused {
        assert!(error.to_string().contains("put back"), "{error}");
    }
    assert!(
        store.get("grant:kept").await.unwrap().is_some(),
        "the value was lost"
    );

    redis.replica.start_again();
    redis.in_sync(redis.primary.port(), redis.replica.port());
    assert_eq!(
        store.take("grant:kept").await.unwrap().as_deref(),
        Some(&b"grant"[..])
    );
    assert_eq!(store.take("grant:kept").await.unwrap(), None);
}

// ---- The service ----

async fn service(redis: &Replicated) -> (TestApp, Arc<dyn Store>) {
    let store = redis.store();
    let app = TestApp::spawn_with(Options {
        store: Some(store.clone()),
        ..Options::default()
    })
    .await;
    (app, store)
}

async fn submit(app: &TestApp, browser: &Browser, form: &Page) -> Page {
    crate::harness::set_password(app, browser, form, GOOD).await
}

fn assert_try_again(page: &Page) {
    page.assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("ei ole juuri nyt käytettävissä")
        .assert_contains("Yritä muutaman minuutin kuluttua uudelleen");
}

/// The grant is taken for a submission just before the primary dies, the deletion not replicated.
/// That submission is told to try again and writes nothing; after the failover the retry writes,
/// once, and a further retry does not write again.
#[tokio::test]
async fn a_grant_taken_right_before_a_failover_writes_to_the_directory_once() {
    let mut redis = Replicated::start();
    let (app, store) = service(&redis).await;
    let browser = app.browser();
    browser
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);

    redis.hold_replication();
    let first = submit(&app, &browser, &form).await;
    let written_by_first = app.directory.writes();
    redis.fail_over();
    wait_healthy(&*store).await;
    let retry = submit(&app, &browser, &form).await;
    let again = submit(&app, &browser, &form).await;

    assert_eq!(app.directory.writes(), 1, "one grant wrote more than once");
    assert_try_again(&first);
    assert_eq!(written_by_first, 0, "the refused submission wrote");
    retry
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    // The success was recorded after the failover: a repeat shows it again.
    again
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
}

/// The login transaction is taken by a callback just before the primary dies. That callback is
/// told to try again and starts no session; after the failover the same callback finishes the
/// login (the transaction was never used), and a replay of it is refused.
#[tokio::test]
async fn a_login_transaction_taken_right_before_a_failover_is_used_once() {
    let mut redis = Replicated::start();
    let (app, store) = service(&redis).await;
    let browser = app.browser();
    let authorize = browser.start_login().await;
    let callback = browser
        .at_broker(
            authorize,
            crate::harness::Choice::Person(app.person("010170-999R")),
        )
        .await;

    redis.hold_replication();
    let first = browser.get(callback.clone()).await;
    let session_after_first = browser.get_path("/account").await;
    redis.fail_over();
    wait_healthy(&*store).await;
    let retry = browser.get(callback.clone()).await;
    let replay = browser.get(callback).await;

    assert_try_again(&first);
    assert_ne!(
        session_after_first.status,
        StatusCode::OK,
        "a session was opened"
    );
    retry.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(retry.location().path(), "/account");
    assert_ne!(replay.status, StatusCode::SEE_OTHER, "{}", replay.body);
    replay.assert_status(StatusCode::BAD_REQUEST);
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(app.directory.writes(), 0);
}

/// With the replica stopped, a submission is told to try again and writes nothing; once the
/// replica is back, the retry writes, once.
#[tokio::test]
async fn without_its_replica_a_submission_is_told_to_try_again_and_a_retry_writes_once() {
    let mut redis = Replicated::start();
    let (app, _store) = service(&redis).await;
    let browser = app.browser();
    browser
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);

    redis.replica.stop();
    let first = submit(&app, &browser, &form).await;
    assert_try_again(&first);
    assert_eq!(app.directory.writes(), 0);

    redis.replica.start_again();
    redis.in_sync(redis.primary.port(), redis.replica.port());
    submit(&app, &browser, &form)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
}
