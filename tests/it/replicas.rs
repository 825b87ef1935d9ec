//! Several `tunnus serve` processes sharing one Redis and one directory, as behind a load balancer:
//! a flow begun on one replica finishes on another, also when the first is stopped mid-flow, and a
//! stopped replica finishes the requests it was serving.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::oneshot;
use tunnus::clock::SystemClock;
use tunnus::keys::{ServiceKeys, SigningAlg};
use tunnus::mock_idp::{self, MockControls, MockIdp, MockIdpSettings};
use url::Url;

use crate::harness::{Browser, Choice, repo_path};
use crate::redis::{TempDir, shared_server};
use crate::slapd;

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";
const OLD: &str = "vanha salasana 2019";

/// One `tunnus serve` process.
struct Replica {
    child: Child,
    url: Url,
    log: PathBuf,
}

impl Replica {
    /// Starts `tunnus serve` with `config` (listening on port 0: the process binds a free port
    /// itself, so no other process can take it first), learns the port from its "serving" log
    /// line, and waits until it answers `/healthz`.
    async fn start(config: &Path, log: PathBuf) -> Replica {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tunnus"))
            .args(["serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut replica = Replica {
            child,
            url: Url::parse("http://127.0.0.1/").unwrap(),
            log,
        };
        let addr = loop {
            let bound = replica.log_text().lines().find_map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).ok()?;
                (entry["message"] == "serving")
                    .then(|| entry["address"].as_str().map(str::to_owned))
                    .flatten()
            });
            if let Some(addr) = bound {
                break addr;
            }
            assert!(
                Instant::now() < deadline && replica.child.try_wait().unwrap().is_none(),
                "replica did not start:\n{}",
                replica.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        replica.url = Url::parse(&format!("http://{addr}/")).unwrap();
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client
                .get(replica.url.join("/healthz").unwrap())
                .send()
                .await
                && response.status() == StatusCode::OK
            {
                return replica;
            }
            assert!(
                Instant::now() < deadline,
                "replica did not start:\n{}",
                replica.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (through `kill`, to stay free of unsafe code).
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, with a deadline.
    async fn exit_status(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "replica did not exit:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `url` with this replica's address: what a load balancer does.
    fn route(&self, url: &Url) -> Url {
        let mut routed = url.clone();
        routed.set_port(self.url.port()).unwrap();
        routed
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two replicas, the broker, Redis and OpenLDAP, wired together.
struct Cluster {
    replicas: Vec<Replica>,
    /// Each replica's settings file and log, to start it again.
    starts: Vec<(PathBuf, PathBuf)>,
    /// The load balancer's address, held so that no other process takes it.
    _balancer: std::net::TcpListener,
    keys_dir: PathBuf,
    broker: MockControls,
    public: Url,
    dn: String,
    _dir: TempDir,
    _stop_broker: oneshot::Sender<()>,
}

impl Cluster {
    async fn start(slow_token_secs: u64) -> Cluster {
        let dir = TempDir::new("replicas");
        let keys_dir = dir.path().join("keys");
        let keys = ServiceKeys::write_new(&keys_dir, SigningAlg::RS256).unwrap();
        // Every replica answers to one public name, the load balancer's: an address the test holds
        // (nothing is ever sent to it; requests are routed to a replica's own port, see
        // `Replica::route`).
        let balancer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let public = Url::parse(&format!("http://{}/", balancer.local_addr().unwrap())).unwrap();

        let mut settings = MockIdpSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            clients: vec![mock_idp::MockClientSettings {
                client_id: "tunnus-replicas".into(),
                redirect_uris: vec![public.join("/callback").unwrap().to_string()],
                jwks: Some(keys.public_jwks(tunnus::oidc::jwe::KeyManagementAlg::RsaOaep)),
                ..mock_idp::MockClientSettings::default()
            }],
            ..MockIdpSettings::default()
        };
        settings.faults.slow_token_secs = slow_token_secs;
        let persons = mock_idp::load_persons(&repo_path("config/mock-persons.toml")).unwrap();
        let broker = MockIdp::bind(settings, persons, Arc::new(SystemClock))
            .await
            .unwrap();
        let issuer = broker.issuer();
        let controls = broker.controls();
        let (stop_broker, stopped) = oneshot::channel::<()>();
        tokio::spawn(broker.serve(async move {
            let _ = stopped.await;
        }));

        let ldap = slapd::shared();
        let base = ldap.subtree().await;
        let dn = ldap.add_tero(&base, OLD).await;
        let ldap_settings = ldap.settings(&base);
        let prefix = format!("replicas-{}:", tunnus::random::short_id());

        // Every replica reads the same keys: a session sealed by one opens on the other, and a
        // person has one pseudonym on both.
        let session_key = dir.path().join("session-key");
        crate::harness::write_secret(&session_key, tunnus::random::token());
        let audit_key = dir.path().join("audit-key");
        crate::harness::write_secret(&audit_key, tunnus::random::token());
        let mut replicas = Vec::new();
        let mut starts = Vec::new();
        for index in 0..2 {
            let config = dir.path().join(format!("replica{index}.toml"));
            std::fs::write(
                &config,
                format!(
                    r#"
                    [server]
                    listen = "127.0.0.1:0"
                    public_url = "{public}"
                    shutdown_grace = "20s"
                    environment = "test"
                    [session]
                    key_file = "{session_key}"
                    [broker]
                    issuer = "{issuer}"
                    client_id = "tunnus-replicas"
                    test_identities = true
                    http_timeout = "10s"
                    [broker.id_token_encryption]
                    required = true
                    [keys]
                    dir = "{keys}"
                    [store]
                    kind = "redis"
                    url = "{redis}"
                    key_prefix = "{prefix}"
                    [directory]
                    kind = "ldap"
                    [directory.ldap]
                    url = "{ldap_url}"
                    ca_file = "{ca}"
                    bind_dn = "{bind_dn}"
                    bind_password_file = "{password_file}"
                    base_dn = "{base}"
                    state_attribute = "tunnusAccountState"
                    terms_accepted_attribute = "tunnusTermsAccepted"
                    [password]
                    deny_list = "{deny}"
                    [audit]
                    sink = "file"
                    path = "{audit}"
                    pseudonym_key_file = "{audit_key}"
                    [log]
                    format = "json"
                    level = "info"
                    "#,
                    keys = keys_dir.display(),
                    redis = shared_server().url(),
                    ldap_url = ldap_settings.url.as_ref().unwrap(),
                    ca = ldap_settings.ca_file.as_ref().unwrap().display(),
                    bind_dn = ldap_settings.bind_dn,
                    password_file = ldap_settings.bind_password_file.as_ref().unwrap().display(),
                    deny = repo_path("config/common-passwords.txt").display(),
                    audit = dir.path().join(format!("audit{index}.jsonl")).display(),
                    session_key = session_key.display(),
                    audit_key = audit_key.display(),
                ),
            )
            .unwrap();
            let log = dir.path().join(format!("replica{index}.log"));
            replicas.push(Replica::start(&config, log.clone()).await);
            starts.push((config, log));
        }
        Cluster {
            replicas,
            starts,
            keys_dir,
            broker: controls,
            public,
            dn,
            _dir: dir,
            _stop_broker: stop_broker,
            _balancer: balancer,
        }
    }

    fn browser(&self) -> Browser {
        Browser::new(self.public.clone())
    }

    /// Stops replica `index` (SIGTERM) and starts it again with the same settings: it reads its
    /// keys anew.
    async fn restart(&mut self, index: usize) {
        self.replicas[index].terminate();
        assert!(self.replicas[index].exit_status().await.success());
        let (config, log) = self.starts[index].clone();
        self.replicas[index] = Replica::start(&config, log).await;
    }

    /// The JWKS replica `index` publishes.
    async fn jwks(&self, index: usize) -> serde_json::Value {
        reqwest::get(
            self.replicas[index]
                .url
                .join("/.well-known/jwks.json")
                .unwrap(),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    }

    /// The landing page and start form on `replica`; returns the broker's authorization URL.
    async fn start_login(&self, browser: &Browser, replica: usize) -> Url {
        let on = &self.replicas[replica];
        let landing = browser.get(on.route(&self.public)).await;
        landing.assert_status(StatusCode::OK);
        let csrf = landing.field("csrf");
        let started = browser
            .post_form(
                on.route(&self.public.join("/login").unwrap()),
                &[("csrf", &csrf)],
            )
            .await;
        started.assert_status(StatusCode::SEE_OTHER);
        started.location()
    }
}

fn tero() -> Choice {
    Choice::Person(0)
}

#[tokio::test]
async fn a_flow_begun_on_one_replica_finishes_on_another() {
    let cluster = Cluster::start(30).await;
    let browser = cluster.browser();
    let authorize = cluster.start_login(&browser, 0).await;
    let callback = browser.at_broker(authorize, tero()).await;
    let on_b = &cluster.replicas[1];
    let answer = browser.get(on_b.route(&callback)).await;
    answer.assert_status(StatusCode::SEE_OTHER);
    let form = browser
        .get(cluster.replicas[0].route(&cluster.public.join("/account").unwrap()))
        .await;
    form.assert_status(StatusCode::OK).assert_contains("tetyra");
    let csrf = form.field("csrf");
    let done = browser
        .post_form(
            on_b.route(&cluster.public.join("/account").unwrap()),
            &[("csrf", &csrf), ("password", GOOD), ("confirmation", GOOD)],
        )
        .await;
    done.assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    let ldap = slapd::shared();
    assert!(ldap.can_bind(&cluster.dn, GOOD).await);
    assert!(!ldap.can_bind(&cluster.dn, OLD).await);
    // The other replica knows the grant is used: a repeat shows the success and writes nothing,
    // and another password is told that it was not the one set.
    let on_a = cluster.replicas[0].route(&cluster.public.join("/account").unwrap());
    let again = browser
        .post_form(
            on_a.clone(),
            &[("csrf", &csrf), ("password", GOOD), ("confirmation", GOOD)],
        )
        .await;
    again
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    let other = browser
        .post_form(
            on_a,
            &[
                ("csrf", &csrf),
                ("password", "toinen-Kahvi-tunturi-99"),
                ("confirmation", "toinen-Kahvi-tunturi-99"),
            ],
        )
        .await;
    other
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("asetettiin juuri toisessa ikkunassa");
    assert!(ldap.can_bind(&cluster.dn, GOOD).await);
}

#[tokio::test]
async fn a_flow_survives_its_first_replica_stopping() {
    let mut cluster = Cluster::start(30).await;
    let browser = cluster.browser();
    let authorize = cluster.start_login(&browser, 0).await;
    cluster.replicas[0].terminate();
    assert!(cluster.replicas[0].exit_status().await.success());
    let callback = browser.at_broker(authorize, tero()).await;
    let on_b = &cluster.replicas[1];
    browser
        .get(on_b.route(&callback))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser
        .get(on_b.route(&cluster.public.join("/account").unwrap()))
        .await;
    form.assert_status(StatusCode::OK);
    let done = browser
        .post_form(
            on_b.route(&cluster.public.join("/account").unwrap()),
            &[
                ("csrf", &form.field("csrf")),
                ("password", GOOD),
                ("confirmation", GOOD),
            ],
        )
        .await;
    done.assert_status(StatusCode::OK);
    assert!(slapd::shared().can_bind(&cluster.dn, GOOD).await);
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_exits_cleanly() {
    let mut cluster = Cluster::start(2).await;
    let browser = cluster.browser();
    let authorize = cluster.start_login(&browser, 0).await;
    let callback = browser.at_broker(authorize, tero()).await;
    // The token endpoint now takes two seconds: the callback will be in flight when SIGTERM comes.
    cluster
        .broker
        .fault_once(tunnus::mock_idp::Fault::SlowToken);
    let routed = cluster.replicas[0].route(&callback);
    let in_flight = {
        let client = browser.client.clone();
        tokio::spawn(async move { client.get(routed).send().await.map(|r| r.status()) })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.broker.token_requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the callback never reached the broker"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.replicas[0].terminate();
    // The broker has not answered yet: the callback was in flight when SIGTERM came.
    assert_eq!(
        cluster.broker.tokens_issued(),
        0,
        "the token was issued before SIGTERM: nothing was in flight"
    );
    let status = in_flight.await.unwrap().unwrap();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the request in flight was cut off"
    );
    let exit = cluster.replicas[0].exit_status().await;
    assert!(
        exit.success(),
        "exit {exit:?}:\n{}",
        cluster.replicas[0].log_text()
    );
    // Stopped means not accepting: the address no longer answers.
    assert!(
        reqwest::get(cluster.replicas[0].url.join("/healthz").unwrap())
            .await
            .is_err()
    );
}

/// `tunnus keys rotate {step}` on the cluster's keys.
fn rotate(cluster: &Cluster, step: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_tunnus"))
        .args(["keys", "rotate", step, "--keys"])
        .arg(&cluster.keys_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A whole key rotation with a broker that caches the service's JWKS (registered statically here:
/// it knows only what it last read) and a login in flight across the switch.
#[tokio::test]
async fn keys_rotate_while_a_login_is_in_flight_and_the_broker_caches_the_jwks() {
    let mut cluster = Cluster::start(0).await;
    let cached_at_start = cluster.jwks(0).await;
    assert_eq!(cached_at_start["keys"].as_array().unwrap().len(), 2);

    // Prepared: the next keys are published; the broker reads the JWKS again (its daily refresh).
    rotate(&cluster, "prepare");
    cluster.restart(0).await;
    cluster.restart(1).await;
    let published = cluster.jwks(1).await;
    assert_eq!(
        published["keys"].as_array().unwrap().len(),
        4,
        "{published}"
    );
    cluster
        .broker
        .client("tunnus-replicas")
        .unwrap()
        .set_jwks(published);

    // A login starts on the first replica with the keys in use...
    let browser = cluster.browser();
    let authorize = cluster.start_login(&browser, 0).await;
    let callback = browser.at_broker(authorize, tero()).await;
    // ...the prepared keys are put into use and the second replica restarted; the login finishes
    // there: the broker encrypted to the key it had cached, now retired, which still decrypts.
    rotate(&cluster, "activate");
    cluster.restart(1).await;
    let on_b = &cluster.replicas[1];
    browser
        .get(on_b.route(&callback))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    browser
        .get(on_b.route(&cluster.public.join("/account").unwrap()))
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("tetyra");

    // A new login on the restarted replica signs with the new key, which the broker knew in time.
    let fresh = cluster.browser();
    let authorize = cluster.start_login(&fresh, 1).await;
    let callback = fresh.at_broker(authorize, tero()).await;
    fresh
        .get(on_b.route(&callback))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // The retired keys are still published, after the current ones.
    let after = cluster.jwks(1).await;
    assert_eq!(after["keys"].as_array().unwrap().len(), 4, "{after}");

    // Control: a broker that never read the JWKS again does not know the new signing key and
    // refuses the replica's request object; without the prepared step that is every broker.
    cluster
        .broker
        .client("tunnus-replicas")
        .unwrap()
        .set_jwks(cached_at_start);
    let stale = cluster.browser();
    let authorize = cluster.start_login(&stale, 1).await;
    let refused = stale.get(authorize).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
}
