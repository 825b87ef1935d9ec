//! Starting the service and the mock broker on free ports, and a browser-like client to drive them.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, Once, OnceLock};

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tunnus::app::{App, Dependencies};
use tunnus::audit::Audit;
use tunnus::clock::ManualClock;
use tunnus::config::Settings;
use tunnus::directory::Directory;
use tunnus::directory::memory::MemoryDirectory;
use tunnus::helpdesk::sso::settings::ClientAuth;
use tunnus::keys::{ServiceKeys, SigningAlg};
use tunnus::mock_idp::{
    self, CampusSettings, IdTokenEncryption, MockClientSettings, MockControls, MockIdp,
    MockIdpSettings, Person, StaffPerson,
};
use tunnus::oidc::claims::Preset;
use tunnus::oidc::jwe::{ContentEncryption, KeyManagementAlg};
use tunnus::store::MemoryStore;
use url::Url;

/// How one test wants the pair set up.
#[derive(Clone)]
pub struct Options {
    pub preset: Preset,
    pub signing_alg: SigningAlg,
    pub alg: KeyManagementAlg,
    pub enc: ContentEncryption,
    /// Whether the mock encrypts ID tokens at all.
    pub broker_encrypts: bool,
    /// Whether the service demands encrypted ID tokens.
    pub service_requires_encryption: bool,
    /// Extra TOML for the service's settings, applied over the defaults the harness sets.
    pub service_toml: String,
    /// Publish the service's JWKS to the mock through its URL instead of statically.
    pub jwks_by_url: bool,
    /// A directory to use instead of the in-memory development accounts.
    pub directory: Option<Arc<dyn Directory>>,
    /// Bind the broker's port but answer nothing until [`TestApp::start_broker`].
    pub delay_broker: bool,
    /// A store to use instead of the in-memory one.
    pub store: Option<Arc<dyn tunnus::store::Store>>,
    /// The service's keys, instead of fresh ones for `signing_alg`.
    pub keys: Option<Arc<ServiceKeys>>,
    /// The keys the broker has registered for the service, instead of the service's public JWKS.
    pub broker_jwks: Option<serde_json::Value>,
    /// The broker's clock runs this far ahead of the service's (behind, when negative): the two
    /// have clocks of their own, as on two machines.
    pub broker_clock_offset: Option<time::Duration>,
    /// How long the broker's ID tokens live, instead of the mock's default.
    pub token_lifetime_secs: Option<u64>,
    /// Seconds the broker's ID-token clock is off (`iat`, `exp`), its other checks unchanged.
    pub token_clock_offset_secs: Option<i64>,
    /// Turns the helpdesk channel on, with the mock broker's campus realm as the campus SSO staff
    /// sign in with.
    pub helpdesk: Option<HelpdeskSso>,
    /// Clients registered at the mock broker's FTN realm besides the service (`tunnus-test`).
    pub other_clients: Vec<MockClientSettings>,
}

/// How the helpdesk channel's staff sign-in is set up (see [`Options::helpdesk`]). The channel's
/// rules are those of the development settings: `helpdesk` issues for students, partners and
/// external accounts, `hr` for staff, `it-security` also for privileged accounts; `helpdesk` and
/// `hr` members may sign in.
#[derive(Clone)]
pub struct HelpdeskSso {
    /// How the service authenticates at the campus realm: a client secret (in a file readable by
    /// its owner only) or the service's signing key.
    pub client_auth: ClientAuth,
    /// Staff groups from the directory (`groups_from = "directory"`) rather than the ID token.
    pub groups_from_directory: bool,
}

impl Default for HelpdeskSso {
    fn default() -> Self {
        Self {
            client_auth: ClientAuth::ClientSecretBasic,
            groups_from_directory: false,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            preset: Preset::Keycloak,
            signing_alg: SigningAlg::RS256,
            alg: KeyManagementAlg::RsaOaep,
            enc: ContentEncryption::A128CbcHs256,
            broker_encrypts: true,
            service_requires_encryption: true,
            service_toml: String::new(),
            jwks_by_url: false,
            directory: None,
            delay_broker: false,
            store: None,
            keys: None,
            broker_jwks: None,
            broker_clock_offset: None,
            token_lifetime_secs: None,
            token_clock_offset_secs: None,
            helpdesk: None,
            other_clients: Vec::new(),
        }
    }
}

/// A running service and mock broker; both stop when this is dropped.
pub struct TestApp {
    pub url: Url,
    pub issuer: String,
    pub mock: MockControls,
    /// The harness's own store; `None` when the test gave the app another one.
    pub store: Option<Arc<MemoryStore>>,
    pub clock: Arc<ManualClock>,
    pub keys: Arc<ServiceKeys>,
    pub persons: Vec<Person>,
    pub directory: Arc<MemoryDirectory>,
    /// The running service's state, for reaching its use cases directly (e.g. issuing a code as
    /// staff would).
    pub state: tunnus::app::AppState,
    /// The campus realm's faults and counters, with [`Options::helpdesk`].
    pub campus: Option<MockControls>,
    /// The campus realm's staff persons, with [`Options::helpdesk`].
    pub staff: Vec<StaffPerson>,
    _files: Option<crate::redis::TempDir>,
    audit: Arc<Mutex<Vec<u8>>>,
    waiting_broker: Mutex<Option<(MockIdp, oneshot::Receiver<()>)>>,
    _stop: Vec<oneshot::Sender<()>>,
}

/// Keys are slow to make, so each signing algorithm's are made once per test binary.
fn keys_for(alg: SigningAlg) -> Arc<ServiceKeys> {
    static KEYS: OnceLock<Mutex<HashMap<&'static str, Arc<ServiceKeys>>>> = OnceLock::new();
    let mut cache = KEYS.get_or_init(Default::default).lock().unwrap();
    cache
        .entry(alg.as_str())
        .or_insert_with(|| Arc::new(ServiceKeys::generate(alg).unwrap()))
        .clone()
}

/// Writes a file holding a secret as an operator must: readable by its owner only (the service
/// refuses secret files its group or others may read).
pub fn write_secret(path: &std::path::Path, contents: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn repo_path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        capture_logs();
        let clock = Arc::new(ManualClock::new());
        let keys = options
            .keys
            .clone()
            .unwrap_or_else(|| keys_for(options.signing_alg));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service_url =
            Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();

        let persons = mock_idp::load_persons(&repo_path("config/mock-persons.toml")).unwrap();
        let mut mock_settings = MockIdpSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            preset: options.preset,
            ..MockIdpSettings::default()
        };
        let mut client = MockClientSettings {
            client_id: "tunnus-test".to_owned(),
            redirect_uris: vec![service_url.join("/callback").unwrap().to_string()],
            ..MockClientSettings::default()
        };
        if let Some(secs) = options.token_lifetime_secs {
            mock_settings.token_lifetime_secs = secs;
        }
        if let Some(secs) = options.token_clock_offset_secs {
            mock_settings.token_clock_offset_secs = secs;
        }
        if options.jwks_by_url {
            client.jwks_url = Some(service_url.join("/.well-known/jwks.json").unwrap());
        } else {
            client.jwks = Some(
                options
                    .broker_jwks
                    .clone()
                    .unwrap_or_else(|| keys.public_jwks(options.alg)),
            );
        }
        client.id_token_encryption = options.broker_encrypts.then_some(IdTokenEncryption {
            alg: options.alg,
            enc: options.enc,
        });
        mock_settings.clients = std::iter::once(client)
            .chain(options.other_clients.iter().cloned())
            .collect();
        let secret = tunnus::random::token();
        if options.helpdesk.is_some() {
            let mut campus = CampusSettings::default();
            campus.client.client_id = "tunnus-helpdesk-test".to_owned();
            campus.client.redirect_uris =
                vec![service_url.join("/helpdesk/callback").unwrap().to_string()];
            campus.client.client_secret = Some(secret.clone());
            campus.client.jwks = Some(keys.public_jwks(options.alg));
            mock_settings.campus = Some(campus);
        }
        let broker_clock: Arc<dyn tunnus::clock::Clock> = match options.broker_clock_offset {
            Some(offset) => {
                let broker = Arc::new(ManualClock::at(tunnus::clock::Clock::now(clock.as_ref())));
                broker.advance(offset);
                broker
            }
            None => clock.clone(),
        };
        let mock = MockIdp::bind(mock_settings, persons.clone(), broker_clock)
            .await
            .unwrap();
        let issuer = mock.issuer();
        let controls = mock.controls();
        let (helpdesk_toml, files) = match &options.helpdesk {
            Some(sso) => {
                let files = crate::redis::TempDir::new("sso");
                let secret_file = files.path().join("campus-secret");
                write_secret(&secret_file, format!("{secret}\n"));
                (
                    helpdesk_toml(sso, &mock.campus_issuer().unwrap(), &secret_file),
                    Some(files),
                )
            }
            None => (String::new(), None),
        };
        let campus = mock.campus_controls();
        let staff = mock.campus_staff();

        let toml = format!(
            r#"
            [broker]
            issuer = "{issuer}"
            client_id = "tunnus-test"
            preset = "{preset}"
            signing_alg = "{signing}"
            test_identities = true
            http_timeout = "5s"
            [broker.id_token_encryption]
            required = {required}
            alg = "{alg}"
            enc = "{enc}"
            [accounts]
            refused_groups = ["it-admins"]
            [password]
            deny_list = "{deny_list}"
            [log]
            format = "json"
            level = "debug"
            "#,
            deny_list = repo_path("config/common-passwords.txt").display(),
            preset = options.preset.as_str(),
            signing = options.signing_alg.as_str(),
            required = options.service_requires_encryption,
            alg = options.alg.as_str(),
            enc = options.enc.as_str(),
        );
        let settings = merge_toml(&format!("{toml}\n{helpdesk_toml}"), &options.service_toml);
        let (store, memory): (Arc<dyn tunnus::store::Store>, _) = match options.store.clone() {
            Some(given) => (given, None),
            None => {
                let memory = Arc::new(MemoryStore::new(clock.clone()));
                (memory.clone(), Some(memory))
            }
        };
        let directory = Arc::new(
            MemoryDirectory::from_seed_file(&repo_path("config/dev-accounts.toml")).unwrap(),
        );
        let (audit, audit_log) = Audit::in_memory();
        let app = App::build_on(
            listener,
            settings,
            Dependencies {
                clock: clock.clone(),
                keys: keys.clone(),
                store: Some(store),
                directory: Some(
                    options
                        .directory
                        .clone()
                        .unwrap_or_else(|| directory.clone()),
                ),
                audit: Some(Arc::new(audit)),
            },
        )
        .await
        .unwrap();

        let (stop_mock, mock_stopped) = oneshot::channel::<()>();
        let (stop_app, app_stopped) = oneshot::channel::<()>();
        let waiting_broker = if options.delay_broker {
            Some((mock, mock_stopped))
        } else {
            serve_broker(mock, mock_stopped);
            None
        };
        let state = app.state().clone();
        tokio::spawn(app.serve(async move {
            let _ = app_stopped.await;
        }));
        TestApp {
            url: service_url,
            issuer,
            mock: controls,
            store: memory,
            clock,
            keys,
            persons,
            directory,
            state,
            campus,
            staff,
            _files: files,
            audit: audit_log,
            waiting_broker: Mutex::new(waiting_broker),
            _stop: vec![stop_mock, stop_app],
        }
    }

    pub fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }

    /// A new browser: its own cookies, no redirects followed.
    pub fn browser(&self) -> Browser {
        Browser::new(self.url.clone())
    }

    /// The index of the person with `hetu` on the mock's login page.
    pub fn person(&self, hetu: &str) -> usize {
        self.persons
            .iter()
            .position(|p| p.national_id == hetu)
            .unwrap_or_else(|| panic!("{hetu} is not in config/mock-persons.toml"))
    }

    /// The index of the staff person `username` on the campus realm's login page.
    pub fn staff_person(&self, username: &str) -> usize {
        self.staff
            .iter()
            .position(|p| p.username == username)
            .unwrap_or_else(|| panic!("{username} is not a staff person of the campus realm"))
    }

    /// Signs `username` in at `/helpdesk` in `browser` through the campus realm's login page;
    /// returns the service's answer to the callback.
    pub async fn sign_in_staff(&self, browser: &Browser, username: &str) -> Page {
        let authorize = browser.start_staff_sign_in().await;
        let callback = browser
            .at_broker(authorize, Choice::Person(self.staff_person(username)))
            .await;
        browser.get(callback).await
    }

    /// A new browser with `username` signed in at `/helpdesk`.
    pub async fn staff_browser(&self, username: &str) -> Browser {
        let browser = self.browser();
        let answer = self.sign_in_staff(&browser, username).await;
        answer.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(answer.location().path(), "/helpdesk");
        browser
    }

    /// Starts answering at the broker's address (see [`Options::delay_broker`]).
    pub fn start_broker(&self) {
        if let Some((mock, stopped)) = self.waiting_broker.lock().unwrap().take() {
            serve_broker(mock, stopped);
        }
    }

    /// Every audit event written so far, one JSON object per line.
    pub fn audit_log(&self) -> String {
        String::from_utf8_lossy(&self.audit.lock().unwrap()).into_owned()
    }

    /// Nothing about a session, a grant or a login is left in the store (rate-limit counters and the
    /// note of an account's last write may be).
    pub fn assert_no_state(&self) {
        let store = self
            .store
            .as_ref()
            .expect("assert_no_state reads the harness's memory store, not one the test gave");
        // The note of an account's last write is the account's, not a session's: it outlives the
        // session that wrote, for as long as a session opened before the write could.
        let keys: Vec<String> = store
            .keys()
            .into_iter()
            .filter(|key| !key.starts_with("account-written:"))
            .collect();
        assert!(keys.is_empty(), "the store still holds {keys:?}");
    }
}

/// The `[helpdesk]` settings of [`Options::helpdesk`].
fn helpdesk_toml(sso: &HelpdeskSso, issuer: &str, secret_file: &std::path::Path) -> String {
    let client_auth = match sso.client_auth {
        ClientAuth::ClientSecretBasic => format!(
            "client_auth = \"client_secret_basic\"\nclient_secret_file = \"{}\"",
            secret_file.display()
        ),
        ClientAuth::PrivateKeyJwt => "client_auth = \"private_key_jwt\"".to_owned(),
    };
    let groups_from = if sso.groups_from_directory {
        "directory"
    } else {
        "claim"
    };
    format!(
        r#"
        [helpdesk]
        enabled = true
        privileged_staff_groups = ["it-security"]
        [helpdesk.letters]
        sender = ["Esimerkin yliopisto", "Käyttäjätuki", "PL 1", "00014 ESIMERKIN YLIOPISTO"]
        [[helpdesk.rules]]
        staff_group = "helpdesk"
        categories = ["student", "partner", "external"]
        [[helpdesk.rules]]
        staff_group = "hr"
        categories = ["staff"]
        [helpdesk.requests]
        enabled = true
        staff_groups = ["helpdesk"]
        [[helpdesk.requests.campus]]
        id = "hervanta"
        name = {{ fi = "Hervannan kampus", sv = "Campus Hervanta", en = "Hervanta campus" }}
        pick_up_point = {{ fi = "Tietotalo, vahtimestari", sv = "Tietotalo, vaktmästaren", en = "Tietotalo, janitor" }}
        opening_hours = {{ fi = "ma–pe 8–16", sv = "mån–fre 8–16", en = "Mon–Fri 8–16" }}
        [[helpdesk.requests.campus]]
        id = "keskusta"
        name = {{ fi = "Keskustakampus" }}
        pick_up_point = {{ fi = "Päärakennus, aula" }}
        opening_hours = {{ fi = "ma–pe 9–15" }}
        [helpdesk.sso]
        issuer = "{issuer}"
        client_id = "tunnus-helpdesk-test"
        {client_auth}
        groups_from = "{groups_from}"
        staff_groups = ["helpdesk", "hr"]
        http_timeout = "5s"
        "#
    )
}

fn serve_broker(mock: MockIdp, stopped: oneshot::Receiver<()>) {
    tokio::spawn(mock.serve(async move {
        let _ = stopped.await;
    }));
}

/// Two TOML documents merged table by table (the second wins), read as settings.
fn merge_toml(base: &str, overlay: &str) -> Settings {
    fn merge(into: &mut toml::Table, from: toml::Table) {
        for (key, value) in from {
            match (into.get_mut(&key), value) {
                (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
                (_, value) => {
                    into.insert(key, value);
                }
            }
        }
    }
    let mut table: toml::Table = toml::from_str(base).unwrap();
    merge(&mut table, toml::from_str(overlay).unwrap());
    Settings::from_toml(&toml::to_string(&table).unwrap()).unwrap()
}

/// A client that keeps cookies and stops at every redirect, like a browser stepping through.
pub struct Browser {
    pub client: reqwest::Client,
    base: Url,
}

/// What a page answered.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Url {
        let location = self.headers[header::LOCATION].to_str().unwrap();
        Url::parse(location)
            .or_else(|_| {
                Url::parse("http://relative.invalid/")
                    .unwrap()
                    .join(location)
            })
            .unwrap()
    }

    /// The `value` of the form field `name` on this page.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].replace("&amp;", "&")
    }

    pub fn form_action(&self) -> String {
        let start = self.body.find("action=\"").unwrap() + "action=\"".len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].replace("&amp;", "&")
    }

    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        self
    }

    pub fn assert_not_contains(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "page has {text:?}:\n{}",
            self.body
        );
        self
    }

    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "page lacks {text:?}:\n{}",
            self.body
        );
        self
    }
}

impl Browser {
    pub fn new(base: Url) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { client, base }
    }

    async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: impl reqwest::IntoUrl) -> Page {
        Self::page(self.client.get(url).send().await.unwrap()).await
    }

    pub async fn get_path(&self, path: &str) -> Page {
        self.get(self.base.join(path).unwrap()).await
    }

    /// Posts a form from one of the service's own pages (with its `Origin`).
    pub async fn post_form(&self, url: impl reqwest::IntoUrl, form: &[(&str, &str)]) -> Page {
        let origin = self.base.origin().ascii_serialization();
        Self::page(
            self.client
                .post(url)
                .header(header::ORIGIN, origin)
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Landing page → start button → the broker's authorization URL.
    pub async fn start_login(&self) -> Url {
        let landing = self.get_path("/").await;
        landing.assert_status(StatusCode::OK);
        let csrf = landing.field("csrf");
        let started = self
            .post_form(self.base.join("/login").unwrap(), &[("csrf", &csrf)])
            .await;
        started.assert_status(StatusCode::SEE_OTHER);
        started.location()
    }

    /// At the broker: show the login page, pick person `index` (or cancel), and return the
    /// redirect back to the service.
    pub async fn at_broker(&self, authorize: Url, choice: Choice) -> Url {
        let login = self.get(authorize).await;
        if login.status.is_redirection() {
            // The broker answered at once (an error redirect), without a login page.
            return login.location();
        }
        login.assert_status(StatusCode::OK);
        let session_code = login.field("session_code");
        let index;
        let form: Vec<(&str, &str)> = match choice {
            Choice::Person(i) => {
                index = i.to_string();
                vec![("session_code", &session_code), ("person", &index)]
            }
            Choice::Cancel => vec![("session_code", &session_code), ("cancel", "cancel")],
        };
        let answer = Self::page(
            self.client
                .post(login.form_action())
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            answer.status.is_redirection(),
            "broker answered {}: {}",
            answer.status,
            answer.body
        );
        answer.location()
    }

    /// The staff sign-in page → its button → the campus SSO's authorization URL.
    pub async fn start_staff_sign_in(&self) -> Url {
        let page = self.get_path("/helpdesk").await;
        page.assert_status(StatusCode::OK);
        let csrf = page.field("csrf");
        let started = self
            .post_form(
                self.base.join("/helpdesk/login").unwrap(),
                &[("csrf", &csrf)],
            )
            .await;
        started.assert_status(StatusCode::SEE_OTHER);
        started.location()
    }

    /// The whole identification as person `index`, ending with the service's answer to the callback.
    pub async fn identify(&self, index: usize) -> Page {
        let authorize = self.start_login().await;
        let callback = self.at_broker(authorize, Choice::Person(index)).await;
        self.get(callback).await
    }
}

pub enum Choice {
    Person(usize),
    Cancel,
}

/// Everything the service and the mock log, for the test that no secret is ever written.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(Default::default)
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of the test binary, at debug level, into one buffer (`TEST_LOG=1` also
/// prints them). The test client's cookie jar logs the cookies it stores, so it is left out.
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let sink = logs().clone();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("debug,cookie_store=off,hyper=info,reqwest=info,h2=info")
            .with_writer(move || LogWriter(sink.clone()))
            .init();
    });
}

/// Identifies as the test person `hetu` at the mock broker; the browser and its account page.
pub async fn identified(app: &TestApp, hetu: &str) -> (Browser, Page) {
    let browser = app.browser();
    browser
        .identify(app.person(hetu))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);
    (browser, form)
}

/// Sends the account page `form` with `password` typed twice.
pub async fn set_password(app: &TestApp, browser: &Browser, form: &Page, password: &str) -> Page {
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
}
