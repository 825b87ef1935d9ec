//! Notices after a change, delivered to real receivers: an SMTP server (aiosmtpd, Debian's
//! `python3-aiosmtpd`, run by `tests/fixtures/notify/smtp_server.py`) that takes mail only over
//! STARTTLS with the test CA's certificate (and, when a test asks, only after AUTH), and a
//! webhook endpoint that verifies every signature with the PyPI package `standardwebhooks` (an
//! implementation of the specification independent of the service's). Both run as child processes;
//! the messages are read back with Python's own e-mail parser. Outages, retries, restarted replicas
//! and 410 Gone are played out for real; retries are made due by moving the service's clock.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{Browser, Options, TestApp, write_secret};
use crate::ports::{Ports, StartFailure, free_port, start_retrying};
use crate::redis::TempDir;

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";
const TERO: &str = "010170-999R";
/// Debian's Python, where `python3-aiosmtpd` is installed.
const PYTHON: &str = "/usr/bin/python3";
/// How long a test waits for a delivery before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/notify")
        .join(name)
}

/// Where `scripts/test` installs the PyPI package `standardwebhooks`.
fn python_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python");
    assert!(
        path.join("standardwebhooks").exists(),
        "{} lacks the PyPI package standardwebhooks: run scripts/test, which installs it with \
         `python3 -m pip install --target target/python standardwebhooks`",
        path.display()
    );
    path
}

/// A child process that ends with the test binary: it runs under `sh`, which stops it when its
/// standard input (a pipe held here) closes.
struct Watched {
    watchdog: Child,
    /// Where the watchdog writes the process id of what it runs.
    pid_file: PathBuf,
}

impl Watched {
    fn start(command: &[&str], env: &[(&str, &Path)], log: &Path) -> Watched {
        let script = r#""$@" >"$LOG" 2>&1 & child=$!; echo $child >"$LOG.pid"; cat >/dev/null; kill $child 2>/dev/null; wait $child"#;
        // A pid file left by an earlier try must not be read as this one's.
        let pid_file = PathBuf::from(format!("{}.pid", log.display()));
        let _ = std::fs::remove_file(&pid_file);
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(command)
            .env("LOG", log)
            .envs(env.iter().map(|(name, value)| (*name, *value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh must be available");
        Watched { watchdog, pid_file }
    }

    /// Whether what the watchdog runs has ended (gone, or a zombie the watchdog has not reaped).
    fn exited(&mut self) -> bool {
        if self.watchdog.try_wait().ok().flatten().is_some() {
            return true;
        }
        let Ok(pid) = std::fs::read_to_string(&self.pid_file) else {
            return false;
        };
        match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
            // The state follows the command's name in parentheses.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => !pid.trim().is_empty(),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Whether our server answers on `port` in its own protocol (something else may be listening
/// there): the SMTP server greets with `220`, the receiver answers an HTTP request.
fn answers(port: u16, what: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if what != "aiosmtpd" && stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut greeting = [0u8; 8];
    let expected: &[u8] = if what == "aiosmtpd" { b"220" } else { b"HTTP/" };
    stream
        .read(&mut greeting)
        .is_ok_and(|n| greeting[..n].starts_with(expected))
}

/// Waits until `process` listens on `port`. When it ends first because another process took the
/// port (between choosing it free and binding it), that is [`StartFailure::PortTaken`]: the
/// caller starts it again on another port.
fn wait_listening(
    port: u16,
    process: &mut Watched,
    log: &Path,
    what: &str,
) -> Result<(), StartFailure> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers(port, what) {
        if process.exited() || Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            if log.to_lowercase().contains("address already in use") {
                return Err(StartFailure::PortTaken(log));
            }
            return Err(StartFailure::Other(format!(
                "{what} did not start on port {port}:\n{log}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// An SMTP server that requires STARTTLS and keeps what it receives in a Maildir.
pub(crate) struct Smtp {
    dir: TempDir,
    port: u16,
    ca_file: PathBuf,
    /// The user and password the server requires (SMTP AUTH), if any.
    credentials: Option<(String, String)>,
    process: Option<Watched>,
}

impl Smtp {
    /// Chooses the server's port and certificate; [`Smtp::start`] starts it.
    fn new() -> Smtp {
        assert!(
            Command::new(PYTHON)
                .args(["-c", "import aiosmtpd"])
                .status()
                .is_ok_and(|status| status.success()),
            "aiosmtpd is missing: install the Debian package python3-aiosmtpd (scripts/test does)"
        );
        let dir = TempDir::new("smtp");
        let (ca_file, _) = crate::slapd::write_certificates(dir.path());
        Smtp {
            port: free_port(),
            ca_file,
            dir,
            credentials: None,
            process: None,
        }
    }

    /// A server started now, on another port if the first one chosen was taken meanwhile.
    pub(crate) fn started() -> Smtp {
        let mut smtp = Smtp::new();
        start_retrying("aiosmtpd", Ports::free(), |ports| {
            smtp.port = ports.next();
            smtp.try_start()
        });
        smtp
    }

    /// Starts the server on the port the service was given; that port must be it.
    fn start(&mut self) {
        self.try_start()
            .unwrap_or_else(|failure| panic!("aiosmtpd did not start: {failure:?}"));
    }

    fn try_start(&mut self) -> Result<(), StartFailure> {
        let dir = self.dir.path();
        let log = dir.join("smtp.log");
        let maildir = dir.join("maildir");
        let port = self.port.to_string();
        let script = fixture("smtp_server.py");
        let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
        let mut command = vec![
            PYTHON,
            script.to_str().unwrap(),
            &port,
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            maildir.to_str().unwrap(),
        ];
        if let Some((user, password)) = &self.credentials {
            command.extend([user.as_str(), password.as_str()]);
        }
        let mut process = Watched::start(&command, &[], &log);
        wait_listening(self.port, &mut process, &log, "aiosmtpd")?;
        self.process = Some(process);
        Ok(())
    }

    /// The messages received so far, as Python's e-mail parser reads them.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let maildir = self.dir.path().join("maildir");
        if !maildir.join("new").exists() {
            return Vec::new();
        }
        let output = Command::new(PYTHON)
            .arg(fixture("read_mail.py"))
            .arg(&maildir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `[notify.mail]` for this server.
    pub(crate) fn toml(&self) -> String {
        format!(
            r#"
            [notify.mail]
            relay = "localhost"
            port = {port}
            tls = "starttls"
            ca_file = "{ca}"
            from = "Tunnus <tunnus@example.fi>"
            reply_to = "Käyttäjätuki <tuki@example.fi>"
            timeout = "5s"
            "#,
            port = self.port,
            ca = self.ca_file.display(),
        )
    }

    /// [`Smtp::toml`] signing in as `user` with `password`, from a file.
    fn toml_signing_in(&self, user: &str, password: &str) -> String {
        let file = self
            .dir
            .path()
            .join(format!("password-{}", tunnus::random::short_id()));
        write_secret(&file, format!("{password}\n"));
        format!(
            "{}username = \"{user}\"\npassword_file = \"{}\"\n",
            self.toml(),
            file.display()
        )
    }
}

/// A webhook endpoint that verifies each delivery and records it.
struct Receiver {
    dir: TempDir,
    port: u16,
    secret: Vec<u8>,
    secret_file: PathBuf,
    _process: Watched,
}

impl Receiver {
    fn start() -> Receiver {
        let dir = TempDir::new("webhook");
        let secret: Vec<u8> = tunnus::random::bytes::<32>().to_vec();
        let whsec = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&secret)
        );
        let secret_file = dir.path().join("secret");
        write_secret(&secret_file, format!("{whsec}\n"));
        let log = dir.path().join("receiver.log");
        let python_path = python_path();
        let (port, process) = start_retrying("the webhook receiver", Ports::free(), |ports| {
            let port = ports.next();
            let mut process = Watched::start(
                &[
                    PYTHON,
                    fixture("webhook_receiver.py").to_str().unwrap(),
                    &port.to_string(),
                    &whsec,
                    dir.path().join("record.jsonl").to_str().unwrap(),
                    dir.path().join("answers").to_str().unwrap(),
                ],
                &[("PYTHONPATH", &python_path)],
                &log,
            );
            wait_listening(port, &mut process, &log, "the webhook receiver")
                .map(|()| (port, process))
        });
        Receiver {
            dir,
            port,
            secret,
            secret_file,
            _process: process,
        }
    }

    /// The statuses answered to the next deliveries, in turn.
    fn answer_next(&self, statuses: &[u16]) {
        let lines: Vec<String> = statuses.iter().map(u16::to_string).collect();
        std::fs::write(self.dir.path().join("answers"), lines.join("\n")).unwrap();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn deliveries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("record.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    async fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries arrived: {deliveries:?}",
                deliveries.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `[[notify.webhook]]` for this endpoint.
    fn toml(&self) -> String {
        format!(
            r#"
            [[notify.webhook]]
            name = "iam"
            url = "{url}"
            allow_http = true
            secret_file = "{secret}"
            timeout = "5s"
            "#,
            url = self.url(),
            secret = self.secret_file.display(),
        )
    }
}

const NOTIFY: &str = r#"
    [notify]
    first_retry = "1s"
    poll_interval = "50ms"
    [ui]
    helpdesk_url = "https://helpdesk.example.fi/"
    organisation = { fi = "Esimerkin yliopisto", sv = "Exempeluniversitetet", en = "Example University" }
"#;

async fn spawn(receivers: &str, store: Option<Arc<dyn tunnus::store::Store>>) -> TestApp {
    TestApp::spawn_with(Options {
        service_toml: format!("{NOTIFY}\n{receivers}"),
        store,
        ..Options::default()
    })
    .await
}

/// Tero resets his password, with his pages in `lang`.
async fn reset(app: &TestApp, lang: &str) -> Browser {
    let browser = app.browser();
    browser
        .identify(app.person(TERO))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path(&format!("/account?lang={lang}")).await;
    form.assert_status(StatusCode::OK);
    let csrf = form.field("csrf");
    browser
        .post_form(
            app.at("/account"),
            &[("csrf", &csrf), ("password", GOOD), ("confirmation", GOOD)],
        )
        .await
        .assert_status(StatusCode::OK);
    browser
}

/// What no notice may carry: the password, the identity code (whole or its date part).
fn assert_no_secrets(text: &str) {
    for secret in [GOOD, TERO, "010170"] {
        assert!(!text.contains(secret), "a notice carries {secret}: {text}");
    }
}

fn counted(app: &TestApp, outcome: &str, target: &str) -> u64 {
    app.state.metrics.counter(
        "tunnus_notices_total",
        &[("outcome", outcome), ("target", target)],
    )
}

async fn wait_counted(app: &TestApp, outcome: &str, target: &str, count: u64) {
    let deadline = Instant::now() + PATIENCE;
    while counted(app, outcome, target) < count {
        assert!(
            Instant::now() < deadline,
            "never {count} {outcome} {target}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_is_told_by_mail_in_the_person_s_language_and_by_a_signed_webhook() {
    let smtp = Smtp::started();
    let receiver = Receiver::start();
    let app = spawn(&format!("{}\n{}", smtp.toml(), receiver.toml()), None).await;
    reset(&app, "sv").await;

    // One message to each of Tero's two addresses.
    let messages = smtp.wait_for(2).await;
    let mut to: Vec<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["tero.ayramo@example.fi", "tero.private@example.org"]);
    for message in &messages {
        assert_eq!(message["from"], "Tunnus <tunnus@example.fi>");
        assert_eq!(
            message["subject"],
            "Lösenordet för ditt användarkonto tetyra har bytts"
        );
        assert_eq!(message["auto_submitted"], "auto-generated");
        assert!(
            message["message_id"].as_str().unwrap().starts_with("<msg_"),
            "{message}"
        );
        assert!(message["raw"].as_str().unwrap().contains("Reply-To:"));
        assert_eq!(message["content_type"], "multipart/alternative");
        let parts = message["parts"].as_array().unwrap();
        let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["text/plain", "text/html"]);
        for part in parts {
            let text = part["text"].as_str().unwrap();
            for expected in [
                "Hej Tero Testi,",
                "Lösenordet för användarkontot tetyra byttes",
                "stark elektronisk identifiering",
                "https://helpdesk.example.fi/",
                "Exempeluniversitetet",
            ] {
                assert!(text.contains(expected), "{expected} not in {text}");
            }
            assert_no_secrets(text);
        }
        assert_no_secrets(message["raw"].as_str().unwrap());
    }
    assert_ne!(messages[0]["message_id"], messages[1]["message_id"]);

    // One event to the endpoint, verified by the independent implementation.
    let deliveries = receiver.wait_for(1).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery["verified"], true, "{delivery}");
    assert!(delivery["id"].as_str().unwrap().starts_with("msg_"));
    let body: Value = serde_json::from_str(delivery["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "account.password_reset");
    assert_eq!(body["data"]["username"], "tetyra");
    assert_eq!(body["data"]["account_id"], "tetyra");
    assert_eq!(body["data"]["channel"], "strong_identification");
    assert!(
        body["data"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_no_secrets(delivery["body"].as_str().unwrap());

    let status = app.state.notifier.as_ref().unwrap().status().await.unwrap();
    assert_eq!((status.waiting, status.dead), (0, 0));
    assert_eq!(counted(&app, "sent", "mail"), 2);
    assert_eq!(counted(&app, "sent", "webhook"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_down_during_a_reset_gets_the_notice_when_it_is_back() {
    let mut smtp = Smtp::new();
    // The notices' texts are reworded per language like the pages'.
    let reworded = "[ui.texts.fi]\nnotice_subject_reset = \"Tunnuksen {username} salasana vaihdettu ({organisation})\"\n";
    let app = spawn(&format!("{}\n{reworded}", smtp.toml()), None).await;
    // The success page does not wait for the mail server, which is not there.
    reset(&app, "fi").await;
    wait_counted(&app, "retried", "mail", 2).await;
    let readiness = app.browser().get_path("/readyz").await;
    let ready: Value = serde_json::from_str(&readiness.body).unwrap();
    assert_eq!(ready["notices"]["waiting"], 2, "{ready}");
    assert!(smtp.messages().is_empty());

    smtp.start();
    app.clock.advance(time::Duration::seconds(2));
    let messages = smtp.wait_for(2).await;
    // The subject as `[ui.texts.fi]` rewords it.
    assert_eq!(
        messages[0]["subject"],
        "Tunnuksen tetyra salasana vaihdettu (Esimerkin yliopisto)"
    );
    // Each address got its message once, also after more passes over the outbox.
    app.clock.advance(time::Duration::seconds(60));
    wait_counted(&app, "sent", "mail", 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 2);
    let status = app.state.notifier.as_ref().unwrap().status().await.unwrap();
    assert_eq!(status.waiting, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_answering_500_then_200_gets_the_event_once_with_the_same_id() {
    let receiver = Receiver::start();
    receiver.answer_next(&[500]);
    let app = spawn(&receiver.toml(), None).await;
    reset(&app, "fi").await;
    wait_counted(&app, "retried", "webhook", 1).await;
    app.clock.advance(time::Duration::seconds(2));
    let deliveries = receiver.wait_for(2).await;
    wait_counted(&app, "sent", "webhook", 1).await;
    app.clock.advance(time::Duration::seconds(3600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deliveries_after = receiver.deliveries();
    assert_eq!(deliveries_after.len(), 2, "{deliveries_after:?}");
    assert_eq!(deliveries[0]["answered"], 500);
    assert_eq!(deliveries[1]["answered"], 204);
    assert_eq!(deliveries[0]["id"], deliveries[1]["id"]);
    assert!(deliveries.iter().all(|d| d["verified"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_restarted_while_a_notice_waits_still_delivers_it_once() {
    let redis = crate::redis::shared_server();
    let settings = tunnus::config::Settings::from_toml(&format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"notices-restart-{}:\"",
        redis.url(),
        tunnus::random::short_id()
    ))
    .unwrap();
    let store = || -> Arc<dyn tunnus::store::Store> {
        Arc::new(tunnus::store::RedisStore::new(&settings.store).unwrap())
    };
    let receiver = Receiver::start();
    receiver.answer_next(&[503]);
    let first = spawn(&receiver.toml(), Some(store())).await;
    reset(&first, "fi").await;
    wait_counted(&first, "retried", "webhook", 1).await;
    let id = receiver.deliveries()[0]["id"].as_str().unwrap().to_owned();
    // The replica lets go of the notice after its try, then every replica stops.
    let lease = format!("notice-lease:{id}");
    let deadline = Instant::now() + PATIENCE;
    while first.state.store.get(&lease).await.unwrap().is_some() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(first);

    // A new replica on the same store delivers it when it is due.
    let second = spawn(&receiver.toml(), Some(store())).await;
    second.clock.advance(time::Duration::seconds(2));
    let deliveries = receiver.wait_for(2).await;
    wait_counted(&second, "sent", "webhook", 1).await;
    assert_eq!(deliveries[1]["id"], id.as_str());
    assert_eq!(deliveries[1]["answered"], 204);
    second.clock.advance(time::Duration::seconds(3600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 2);
    let status = second
        .state
        .notifier
        .as_ref()
        .unwrap()
        .status()
        .await
        .unwrap();
    assert_eq!((status.waiting, status.dead), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_independent_verifier_refuses_a_tampered_body_and_an_old_timestamp() {
    let receiver = Receiver::start();
    let client = reqwest::Client::new();
    let send = |body: &'static str, timestamp: i64, signed_body: &'static str| {
        let signature = tunnus::notify::webhook::signature(
            &receiver.secret,
            "msg_test",
            timestamp,
            signed_body.as_bytes(),
        );
        client
            .post(receiver.url())
            .header("webhook-id", "msg_test")
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let now = tunnus::clock::Clock::now(&tunnus::clock::SystemClock).unix_timestamp();
    let body = r#"{"type":"account.password_reset"}"#;
    // The service's signature of the body as sent verifies.
    assert_eq!(send(body, now, body).await.unwrap().status(), 204);
    // The same signature over another body does not, nor one made an hour ago.
    let tampered = r#"{"type":"account.activated"}"#;
    assert_eq!(send(tampered, now, body).await.unwrap().status(), 400);
    assert_eq!(send(body, now - 3600, body).await.unwrap().status(), 400);
    let verified: Vec<bool> = receiver
        .deliveries()
        .iter()
        .map(|d| d["verified"].as_bool().unwrap())
        .collect();
    assert_eq!(verified, [true, false, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_answers_410_is_turned_off_and_replay_sends_its_dead_notices() {
    let receiver = Receiver::start();
    receiver.answer_next(&[410]);
    let app = spawn(&receiver.toml(), None).await;
    let notifier = app.state.notifier.clone().unwrap();
    reset(&app, "fi").await;
    wait_counted(&app, "dead", "webhook", 1).await;
    let status = notifier.status().await.unwrap();
    assert_eq!(status.endpoints_off, ["iam"]);
    assert_eq!((status.waiting, status.dead), (0, 1));
    let ready: Value = serde_json::from_str(&app.browser().get_path("/readyz").await.body).unwrap();
    assert_eq!(ready["notices"]["endpoints_off"][0], "iam", "{ready}");

    // Replaying turns the endpoint on and sends the notice again, with its first id.
    let first_id = receiver.deliveries()[0]["id"].clone();
    assert_eq!(notifier.replay_dead().await.unwrap(), 1);
    let deliveries = receiver.wait_for(2).await;
    wait_counted(&app, "sent", "webhook", 1).await;
    assert_eq!(deliveries[1]["id"], first_id);
    assert_eq!(deliveries[1]["answered"], 204);
    assert_eq!(deliveries[1]["verified"], true);
    let status = notifier.status().await.unwrap();
    assert!(status.endpoints_off.is_empty());
    assert_eq!((status.waiting, status.dead), (0, 0));
}

const CHANNEL: &str = r#"
    [helpdesk]
    enabled = true
    [helpdesk.letters]
    sender = ["Esimerkin yliopisto", "Käyttäjätuki", "PL 1", "00014 ESIMERKIN YLIOPISTO"]
    [[helpdesk.rules]]
    staff_group = "helpdesk"
    categories = ["student", "partner", "external"]
"#;

/// A code issued by the helpdesk is told to the owner in the language chosen for them, without the
/// code; its redemption and the activation it leads to are told to the endpoint, and the activation
/// to the owner, naming the code as the way in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helpdesk_code_its_redemption_and_the_activation_are_each_told() {
    use tunnus::directory::{AccountId, Directory};
    use tunnus::helpdesk::Staff;
    use tunnus::helpdesk::codes::{Delivery, Document, DocumentCheck, IdentityCheck};

    let smtp = Smtp::started();
    let receiver = Receiver::start();
    let app = spawn(
        &format!("{CHANNEL}\n{}\n{}", smtp.toml(), receiver.toml()),
        None,
    )
    .await;
    let account = app
        .directory
        .account(&AccountId::new("eemake"))
        .await
        .unwrap()
        .unwrap();
    let (code, _) = app
        .state
        .helpdesk
        .as_ref()
        .unwrap()
        .issue(
            &Staff {
                username: "hd-anna".into(),
                name: "Anna Palvelu".into(),
                groups: vec!["helpdesk".into()],
            },
            &account,
            Delivery::Letter,
            IdentityCheck::Document(DocumentCheck {
                document: Document::Passport,
                country: "FI".into(),
                photo_compared: true,
            }),
            tunnus::account::Context {
                client_ip: "192.0.2.10",
                request_id: "staff-request",
                lang: tunnus::i18n::Lang::En,
            },
        )
        .await
        .unwrap();
    let code = code.grouped();
    let issued = smtp.wait_for(1).await;
    assert_eq!(issued[0]["to"], "eero.makela@example.fi");
    assert_eq!(
        issued[0]["subject"],
        "An activation code has been issued for your user account eemake"
    );
    let text = issued[0]["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("By registered letter"), "{text}");
    assert!(text.contains("identity document"), "{text}");
    for part in [code.as_str(), &code.replace('-', "")] {
        assert!(!issued[0]["raw"].as_str().unwrap().contains(part));
    }

    // Eero redeems the code and activates the account.
    let browser = app.browser();
    let form = browser.get_path("/code").await;
    browser
        .post_form(
            app.at("/code"),
            &[
                ("csrf", &form.field("csrf")),
                ("username", "eemake"),
                ("code", &code),
            ],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &form.field("csrf")),
                ("password", GOOD),
                ("confirmation", GOOD),
                ("accept_terms", "yes"),
            ],
        )
        .await
        .assert_status(StatusCode::OK);

    let deliveries = receiver.wait_for(3).await;
    // Events are not ordered among themselves (each carries its time): compared as a set.
    let events: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            assert_eq!(d["verified"], true);
            assert!(!d["body"].as_str().unwrap().contains(&code));
            let body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
            assert_eq!(body["data"]["username"], "eemake");
            assert_eq!(body["data"]["channel"], "activation_code");
            body
        })
        .collect();
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "account.activated",
            "helpdesk.code_issued",
            "helpdesk.code_redeemed"
        ]
    );
    let issued_event = events
        .iter()
        .find(|e| e["type"] == "helpdesk.code_issued")
        .unwrap();
    assert_eq!(issued_event["data"]["delivery"], "letter");
    assert!(issued_event["data"]["valid_until"].is_string());

    // The activation's message, in Finnish (the person's pages), names the code as the way in.
    let messages = smtp.wait_for(2).await;
    let activated = messages
        .iter()
        .find(|m| m["subject"] == "Käyttäjätunnuksesi eemake on otettu käyttöön")
        .expect("the activation's message");
    let text = activated["parts"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("käyttäjätuen antamalla aktivointikoodilla"),
        "{text}"
    );
    assert_no_secrets(activated["raw"].as_str().unwrap());
    assert!(!activated["raw"].as_str().unwrap().contains(&code));
}

/// `tunnus notices status` and `replay` work on the outbox of the store the settings name: a notice
/// given up on is shown dead, and replaying puts it back to wait for delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notices_command_shows_the_dead_and_replays_them() {
    let redis = crate::redis::shared_server();
    let dir = TempDir::new("notices-cli");
    let secret_file = dir.path().join("secret");
    write_secret(
        &secret_file,
        format!(
            "whsec_{}\n",
            base64::engine::general_purpose::STANDARD.encode([9u8; 32])
        ),
    );
    // An endpoint nobody listens on, and retries over at the first failure.
    let config = dir.path().join("tunnus.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [store]
            kind = "redis"
            url = "{redis}"
            key_prefix = "notices-cli-{id}:"
            [notify]
            first_retry = "1s"
            retry_for = "1s"
            [[notify.webhook]]
            name = "iam"
            url = "http://127.0.0.1:{port}/hooks"
            allow_http = true
            secret_file = "{secret}"
            timeout = "2s"
            "#,
            redis = redis.url(),
            id = tunnus::random::short_id(),
            port = free_port(),
            secret = secret_file.display(),
        ),
    )
    .unwrap();
    let settings = tunnus::config::Settings::load(Some(&config)).unwrap();
    let notifier = tunnus::notify::Notifier::new(tunnus::notify::NotifierParts {
        settings: settings.notify.clone(),
        store: Arc::new(tunnus::store::RedisStore::new(&settings.store).unwrap()),
        catalog: tunnus::i18n::Catalog::load().unwrap(),
        branding: tunnus::notify::mail::Branding {
            organisation: Box::new(|_| String::new()),
            helpdesk_url: None,
            colour: String::new(),
        },
        metrics: Arc::new(tunnus::metrics::Metrics::default()),
        clock: Arc::new(tunnus::clock::SystemClock),
    })
    .unwrap()
    .unwrap();
    notifier
        .changed(tunnus::notify::Change {
            kind: tunnus::notify::ChangeKind::PasswordReset,
            account_id: "tetyra".into(),
            username: "tetyra".into(),
            shown_username: "tetyra".into(),
            given_name: "Tero".into(),
            emails: Vec::new(),
            channel: "strong_identification".into(),
            delivery: None,
            valid_until: None,
            lang: tunnus::i18n::Lang::Fi,
            at: 0,
            request_id: "cli".into(),
            service_request: None,
        })
        .await;
    notifier.work_once().await.unwrap();

    let run = |command: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_tunnus"))
            .args(["notices", command, "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{command}: {text}");
        text
    };
    let status = run("status");
    assert!(
        status.contains("waiting 0") && status.contains("dead 1"),
        "{status}"
    );
    assert!(run("replay").contains("1 dead notices sent again"));
    let status = run("status");
    assert!(
        status.contains("waiting 1") && status.contains("dead 0"),
        "{status}"
    );

    // Without notices configured the command says so, naming the section.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tunnus"))
        .args(["notices", "status", "--config", bare.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("[notify.mail]"));
}

/// The SMTP server and the receiver are started again on another port when the first one chosen
/// was taken between choosing and binding it.
#[test]
fn receivers_offered_a_taken_port_start_on_another() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    let mut smtp = Smtp::new();
    start_retrying("aiosmtpd", Ports::free().trying_first(&[taken]), |ports| {
        smtp.port = ports.next();
        smtp.try_start()
    });
    assert_ne!(smtp.port, taken);
    assert!(TcpStream::connect(("127.0.0.1", smtp.port)).is_ok());
    let mut first = Smtp::new();
    first.port = taken;
    match first.try_start() {
        Err(StartFailure::PortTaken(_)) => {}
        other => panic!("a taken port must read as taken: {other:?}"),
    }
}

/// With SMTP AUTH the relay takes mail only after the service signs in with the password from its
/// file; a wrong password is a failed delivery, retried, and the password is never logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_takes_mail_after_auth_with_the_password_from_its_file() {
    const PASSWORD: &str = "relay-Salasana-8472";
    let mut smtp = Smtp::new();
    smtp.credentials = Some(("tunnus".to_owned(), PASSWORD.to_owned()));
    start_retrying("the SMTP server", Ports::free(), |ports| {
        smtp.port = ports.next();
        smtp.try_start()
    });

    let wrong = spawn(&smtp.toml_signing_in("tunnus", "not-the-password"), None).await;
    reset(&wrong, "fi").await;
    wait_counted(&wrong, "retried", "mail", 2).await;
    assert!(smtp.messages().is_empty());
    drop(wrong);

    let app = spawn(&smtp.toml_signing_in("tunnus", PASSWORD), None).await;
    reset(&app, "en").await;
    let messages = smtp.wait_for(2).await;
    assert_eq!(
        messages[0]["subject"],
        "The password of your user account tetyra has been changed"
    );
    let logs = crate::harness::captured_logs();
    assert!(!logs.contains(PASSWORD) && !logs.contains("not-the-password"));
}

/// A service request reaches the campus ticket system as a signed `helpdesk.request_created` event
/// (the names and the request number, never the birth date or the addresses); when staff act on
/// it, the person hears at the address they typed, which is in no directory, how the code comes or
/// why it does not, in their language and without the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_requests_reach_the_ticket_system_and_their_senders_hear_the_outcome() {
    use crate::requests::{number, send, shown_code, with};

    let smtp = Smtp::started();
    let receiver = Receiver::start();
    let app = TestApp::spawn_with(Options {
        helpdesk: Some(crate::harness::HelpdeskSso::default()),
        service_toml: format!(
            "{NOTIFY}\n{}\n{}events = [\"helpdesk.request_created\", \"helpdesk.request_refused\"]\n",
            smtp.toml(),
            receiver.toml()
        ),
        ..Options::default()
    })
    .await;

    // Eero, reading English, asks for his code at the Hervanta campus.
    let person = app.browser();
    person.get_path("/?lang=en").await;
    let eero = with(
        crate::requests::asa_by_letter(),
        &[
            ("username", "eemake"),
            ("given_name", "Eero"),
            ("family_name", "Mäkelä"),
            ("birth_date", "1.2.2000"),
            ("email", "eero.home@example.org"),
            ("delivery", "janitor"),
            ("campus", "hervanta"),
        ],
    );
    let eero_number = number(&send(&app, &person, &eero).await);
    let created = receiver.wait_for(1).await;
    assert_eq!(created[0]["verified"], true);
    let body = created[0]["body"].as_str().unwrap();
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "helpdesk.request_created");
    assert_eq!(event["data"]["service_request"], eero_number.as_str());
    assert_eq!(event["data"]["family_name"], "Mäkelä");
    assert_eq!(event["data"]["typed_username"], "eemake");
    assert_eq!(event["data"]["campus"], "hervanta");
    assert!(
        event["data"]["staff_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/helpdesk/requests/{eero_number}"))
    );
    for private in ["eero.home@example.org", "2000", "Hämeenkatu"] {
        assert!(
            !body.contains(private),
            "{private} went to the ticket system"
        );
    }
    assert!(smtp.messages().is_empty(), "a new request is not mailed");

    let staff = app.staff_browser("hd-anna").await;
    let issued = crate::requests::issue(&app, &staff, &eero_number, "eemake").await;
    issued.assert_status(StatusCode::OK);
    let code = shown_code(&issued);
    // One message to the account's own address (the code issued), one to the typed address.
    let messages = smtp.wait_for(2).await;
    let status = messages
        .iter()
        .find(|m| m["to"] == "eero.home@example.org")
        .expect("the status message to the typed address");
    assert_eq!(
        status["subject"],
        format!("Your service request {eero_number}")
    );
    let text = status["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("Hello Eero,"), "{text}");
    assert!(
        text.contains("Hervanta campus, Tietotalo, janitor, Mon–Fri 8–16"),
        "{text}"
    );
    assert!(text.contains("valid until"), "{text}");
    let raw = status["raw"].as_str().unwrap();
    for secret in [code.as_str(), &code.replace('-', ""), "eemake"] {
        assert!(!raw.contains(secret), "{secret} is in the status message");
    }
    assert!(
        messages.iter().any(|m| m["to"] == "eero.makela@example.fi"),
        "the account's own address hears of the code"
    );

    // A request that matches nobody is refused; its sender hears why, in Swedish.
    let other = app.browser();
    other.get_path("/?lang=sv").await;
    let nobody = with(
        crate::requests::asa_by_letter(),
        &[
            ("given_name", "Ingen"),
            ("family_name", "Alls"),
            ("email", "ingen@example.org"),
        ],
    );
    let nobody_number = number(&send(&app, &other, &nobody).await);
    receiver.wait_for(2).await;
    let page = staff
        .get_path(&format!("/helpdesk/requests/{nobody_number}"))
        .await;
    page.assert_contains("Hakemistosta ei löytynyt tunnusta");
    staff
        .post_form(
            app.at(&format!("/helpdesk/requests/{nobody_number}/refuse")),
            &[("csrf", &page.field("csrf")), ("reason", "no_match")],
        )
        .await
        .assert_status(StatusCode::OK);
    let messages = smtp.wait_for(3).await;
    let refusal = messages
        .iter()
        .find(|m| m["to"] == "ingen@example.org")
        .expect("the refusal to the typed address");
    assert_eq!(
        refusal["subject"],
        format!("Din servicebegäran {nobody_number}")
    );
    let text = refusal["parts"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("Inget användarnamn hittades med uppgifterna i begäran"),
        "{text}"
    );
    let deliveries = receiver.wait_for(3).await;
    let refused: Value = serde_json::from_str(deliveries[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(refused["type"], "helpdesk.request_refused");
    assert_eq!(refused["data"]["reason"], "no_match");
    assert_eq!(
        deliveries.len(),
        3,
        "the endpoint asked for no other events"
    );
}
