//! A mock Finnish Trust Network broker: an OpenID provider shaped like a Keycloak realm that is set up
//! the way FTN brokers behave.
//!
//! It is a tool for testers (`tunnus mock-idp --config config/mock-idp.toml`), the broker of
//! `tunnus dev`, and the broker of the service's integration tests (in-process, port 0). It holds
//! a relying party to what real brokers demand: a signed request object, PKCE, `private_key_jwt`
//! client authentication, and an ID token that is signed by the realm key and then encrypted to
//! the client's encryption key.
//!
//! - [`MockIdp`] binds the listener ([`MockIdp::bind`]) and serves the realm ([`MockIdp::serve`]);
//! - [`MockControls`] switches [`Fault`]s on and off while it serves and counts what happened;
//! - [`MockIdpSettings`] is the `[mock_idp]` table of the configuration;
//! - [`Person`] is one test person offered on the login page ([`load_persons`]).
//!
//! The realm lives under `{public_url}/realms/{realm}` with Keycloak's paths: discovery at
//! `/.well-known/openid-configuration`, the endpoints under `/protocol/openid-connect/` (`auth`,
//! `token`, `certs`, `userinfo`, `logout`), the login form's target at
//! `/login-actions/authenticate`, the fault switches at `{public_url}/admin/realms/{realm}/faults`
//! (and `…/clients/{client_id}/faults` for one client) and the activity page at
//! `{public_url}/admin/realms/{realm}/activity`. The admin endpoints have no authentication and answer
//! loopback clients only.
//!
//! The realm has one or more registered clients (`[[mock_idp.client]]`), each with its own redirect
//! URIs, keys or client secret, ID-token encryption, claim preset and faults.
//!
//! With `[mock_idp.campus]` ([`CampusSettings`]) a second realm is served beside it, shaped like a
//! campus SSO that helpdesk staff sign in with: the same paths under its own realm name, its staff
//! persons ([`StaffPerson`], [`load_staff`]) on the login page, plain RS256-signed ID tokens with
//! `preferred_username`, `name` and `groups`, PKCE, and client authentication with a client secret
//! (`client_secret_basic` or `client_secret_post`) or `private_key_jwt`.

mod admin;
mod authorize;
mod claims;
mod client;
mod faults;
mod html;
mod persons;
mod realm;
mod token;

#[cfg(test)]
mod campus_tests;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer};
use tokio::net::TcpListener;
use url::Url;

use crate::clock::Clock;
use crate::keys::KeyError;
use crate::oidc::claims::Preset;
use crate::oidc::jwe::{ContentEncryption, KeyManagementAlg};

pub use faults::{Fault, FaultSettings};
pub use persons::{
    BUILT_IN_PERSONS, BUILT_IN_STAFF, Person, StaffPerson, built_in_persons, built_in_staff,
    load_persons, load_staff,
};

use realm::{Flavour, Realm, Someone};

/// The `acr` the mock puts in ID tokens unless configured otherwise (FTN "substantial").
pub const DEFAULT_ACR: &str = "http://ftn.ficora.fi/2017/loa2";

/// The `[mock_idp]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockIdpSettings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The base URL browsers and the relying party use; `http://{bound address}` when unset. A path
    /// in it (e.g. `/auth`) prefixes every route.
    pub public_url: Option<Url>,
    /// The realm name: the issuer is `{public_url}/realms/{realm}`.
    pub realm: String,
    /// Which broker's claim names the ID token uses.
    pub preset: Preset,
    /// The `[[person]]` file of test persons; `None` (the key left out) is the built-in ones,
    /// [`BUILT_IN_PERSONS`].
    pub persons: Option<PathBuf>,
    /// The `acr` put in ID tokens.
    pub acr: String,
    /// How long an authorization code can be exchanged, in seconds.
    pub code_lifetime_secs: u64,
    /// How long ID and access tokens live, in seconds.
    pub token_lifetime_secs: u64,
    /// Seconds added to the times written into ID tokens (`iat`, `exp`, `auth_time`): a broker
    /// whose token clock is off, for testing how a relying party copes with clock skew. Negative
    /// for a clock behind. Nothing else (request objects, codes) is affected.
    pub token_clock_offset_secs: i64,
    /// The registered clients: `[[mock_idp.client]]`, one table per client (a single
    /// `[mock_idp.client]` table is one client).
    #[serde(rename = "client", deserialize_with = "one_or_many")]
    pub clients: Vec<MockClientSettings>,
    /// Faults switched on for the whole realm from the start.
    pub faults: FaultSettings,
    /// A second realm shaped like a campus SSO (`[mock_idp.campus]`); `None` serves the FTN realm
    /// alone.
    pub campus: Option<CampusSettings>,
}

impl Default for MockIdpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8081)),
            public_url: None,
            realm: "ftn".to_owned(),
            preset: Preset::Keycloak,
            persons: None,
            acr: DEFAULT_ACR.to_owned(),
            code_lifetime_secs: 60,
            token_lifetime_secs: 600,
            token_clock_offset_secs: 0,
            clients: vec![MockClientSettings::default()],
            faults: FaultSettings::default(),
            campus: None,
        }
    }
}

impl MockIdpSettings {
    /// The test persons: those of the `persons` file, or the built-in ones when it is not given. A
    /// problem with the file names the key.
    pub fn test_persons(&self) -> Result<Vec<Person>, MockIdpError> {
        let Some(path) = &self.persons else {
            return built_in_persons();
        };
        load_persons(path).map_err(|error| MockIdpError::InvalidSetting {
            key: "persons".to_owned(),
            problem: error.to_string(),
        })
    }
}

/// One table, or an array of tables, as a list. A visitor rather than an untagged enum, so that a
/// mistake inside a table is reported as itself (an unknown key, a wrong type) rather than as "no
/// variant matched".
fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<MockClientSettings>, D::Error> {
    use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};

    struct OneOrMany;

    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Vec<MockClientSettings>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a client table, or an array of client tables")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            MockClientSettings::deserialize(MapAccessDeserializer::new(map)).map(|one| vec![one])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(SeqAccessDeserializer::new(seq))
        }
    }

    deserializer.deserialize_any(OneOrMany)
}

/// A registered client (`[[mock_idp.client]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockClientSettings {
    /// The client's `client_id`.
    pub client_id: String,
    /// Redirect URIs the client may use, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where the client publishes its JWKS; fetched on first use and again on an unknown `kid`.
    pub jwks_url: Option<Url>,
    /// The client's JWKS, registered statically; takes precedence over `jwks_url`.
    pub jwks: Option<serde_json::Value>,
    /// Refuse authorization requests without PKCE (`S256`).
    pub require_pkce: bool,
    /// How ID tokens are encrypted to the client; `None` (`false` in TOML) sends them signed only.
    #[serde(deserialize_with = "encryption_switch")]
    pub id_token_encryption: Option<IdTokenEncryption>,
    /// A client secret the client may authenticate with instead (`client_secret_basic` or
    /// `client_secret_post`); `None` accepts `private_key_jwt` only, as FTN brokers do.
    pub client_secret: Option<String>,
    /// Which broker's claim names this client's ID tokens use; `None` is the realm's `preset`.
    pub preset: Option<Preset>,
    /// Faults switched on for this client alone from the start, besides the realm's.
    pub faults: Vec<Fault>,
}

impl Default for MockClientSettings {
    fn default() -> Self {
        Self {
            client_id: "tunnus".to_owned(),
            redirect_uris: Vec::new(),
            jwks_url: None,
            jwks: None,
            require_pkce: true,
            id_token_encryption: Some(IdTokenEncryption::default()),
            client_secret: None,
            preset: None,
            faults: Vec::new(),
        }
    }
}

/// `[mock_idp.campus]`: a second realm shaped like a campus SSO (a Keycloak realm with a group
/// mapper), for the helpdesk staff's sign-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampusSettings {
    /// The realm name: the issuer is `{public_url}/realms/{realm}`. Must differ from `realm`.
    pub realm: String,
    /// The `[[staff]]` file; `None` (the key left out) is the built-in ones, [`BUILT_IN_STAFF`].
    pub staff: Option<PathBuf>,
    /// The one registered client: the service's staff sign-in.
    pub client: CampusClientSettings,
}

impl Default for CampusSettings {
    fn default() -> Self {
        Self {
            realm: "campus".to_owned(),
            staff: None,
            client: CampusClientSettings::default(),
        }
    }
}

impl CampusSettings {
    /// The staff persons: those of the `staff` file, or the built-in ones. A problem with the file
    /// names the key.
    pub fn staff_persons(&self) -> Result<Vec<StaffPerson>, MockIdpError> {
        let Some(path) = &self.staff else {
            return built_in_staff();
        };
        load_staff(path).map_err(|error| MockIdpError::InvalidSetting {
            key: "campus.staff".to_owned(),
            problem: error.to_string(),
        })
    }

    /// The realm's settings in the shape of the FTN realm's: `mock_idp`'s address and lifetimes,
    /// Keycloak's claim shape, `acr` "1" (Keycloak's for a password login), plain ID tokens.
    fn realm_settings(&self, ftn: &MockIdpSettings) -> MockIdpSettings {
        let client = &self.client;
        MockIdpSettings {
            realm: self.realm.clone(),
            preset: Preset::Keycloak,
            persons: None,
            acr: "1".to_owned(),
            clients: vec![MockClientSettings {
                client_id: client.client_id.clone(),
                redirect_uris: client.redirect_uris.clone(),
                jwks_url: client.jwks_url.clone(),
                jwks: client.jwks.clone(),
                require_pkce: client.require_pkce,
                id_token_encryption: None,
                client_secret: client.client_secret.clone(),
                preset: None,
                faults: Vec::new(),
            }],
            faults: FaultSettings::default(),
            campus: None,
            ..ftn.clone()
        }
    }
}

/// The campus realm's registered client (`[mock_idp.campus.client]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampusClientSettings {
    /// The client's `client_id`.
    pub client_id: String,
    /// The client secret for `client_secret_basic` or `client_secret_post`.
    pub client_secret: Option<String>,
    /// Redirect URIs the client may use, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where the client publishes its JWKS, for `private_key_jwt`.
    pub jwks_url: Option<Url>,
    /// The client's JWKS, registered statically; takes precedence over `jwks_url`.
    pub jwks: Option<serde_json::Value>,
    /// Refuse authorization requests without PKCE (`S256`).
    pub require_pkce: bool,
}

impl Default for CampusClientSettings {
    fn default() -> Self {
        Self {
            client_id: "tunnus-helpdesk".to_owned(),
            client_secret: None,
            redirect_uris: Vec::new(),
            jwks_url: None,
            jwks: None,
            require_pkce: true,
        }
    }
}

/// The JWE algorithms of encrypted ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdTokenEncryption {
    /// Key management algorithm (`RSA-OAEP` or `RSA-OAEP-256`).
    pub alg: KeyManagementAlg,
    /// Content encryption algorithm.
    pub enc: ContentEncryption,
}

impl Default for IdTokenEncryption {
    fn default() -> Self {
        Self {
            alg: KeyManagementAlg::RsaOaep,
            enc: ContentEncryption::A128CbcHs256,
        }
    }
}

/// `id_token_encryption` is a table `{ alg, enc }`, or `false` for signed-only tokens (`true` keeps
/// the default algorithms).
fn encryption_switch<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<IdTokenEncryption>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Switch {
        OnOff(bool),
        Algorithms(IdTokenEncryption),
    }
    Ok(match Switch::deserialize(deserializer)? {
        Switch::OnOff(true) => Some(IdTokenEncryption::default()),
        Switch::OnOff(false) => None,
        Switch::Algorithms(algorithms) => Some(algorithms),
    })
}

/// Why the mock broker could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum MockIdpError {
    /// A file could not be read: check that the path exists and is readable.
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file is not valid TOML of the expected shape: fix it at the line given.
    #[error("{path} is not valid (line {line}): {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The persons file has an unusable entry: fix the entry named.
    #[error("{path}: {problem}")]
    InvalidPersons { path: PathBuf, problem: String },
    /// A setting is unusable: fix the key named.
    #[error("mock_idp.{key}: {problem}")]
    InvalidSetting { key: String, problem: String },
    /// The listen address could not be bound: pick a free port or another address.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The realm signing key could not be made: the machine's cryptography failed; report it.
    #[error("cannot generate the realm signing key: {error}")]
    SigningKey { error: KeyError },
    /// The HTTP client for the client's JWKS could not be built: the TLS setup failed; report it.
    #[error("cannot build the HTTP client: {reason}")]
    HttpClient { reason: String },
}

/// Reads the `[mock_idp]` table of a TOML file (other tables, such as a full service
/// configuration's, are ignored).
pub fn load_settings(path: &Path) -> Result<MockIdpSettings, MockIdpError> {
    let text = std::fs::read_to_string(path).map_err(|error| MockIdpError::Read {
        path: path.to_owned(),
        error,
    })?;
    parse_settings(&text).map_err(|(line, message)| MockIdpError::Parse {
        path: path.to_owned(),
        line,
        message,
    })
}

/// The `[mock_idp]` table of a TOML document, or the line and message of the problem.
fn parse_settings(text: &str) -> Result<MockIdpSettings, (usize, String)> {
    #[derive(Deserialize)]
    struct Document {
        mock_idp: Option<MockIdpSettings>,
    }
    let document: Document = toml::from_str(text)
        .map_err(|error| (line_of(text, &error), error.message().to_owned()))?;
    document
        .mock_idp
        .ok_or((1, "there is no [mock_idp] table".to_owned()))
}

/// The 1-based line a TOML error points at (1 when it points nowhere).
fn line_of(text: &str, error: &toml::de::Error) -> usize {
    let offset = error.span().map_or(0, |span| span.start.min(text.len()));
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The mock broker, bound to its address but not serving yet.
pub struct MockIdp {
    listener: TcpListener,
    realm: Arc<Realm>,
    /// The campus realm, with `[mock_idp.campus]`.
    campus: Option<Arc<Realm>>,
}

impl MockIdp {
    /// Binds `settings.listen` (port 0 allowed) and prepares the realm: a fresh RS256 signing key,
    /// a random `sub` per person, the faults from `settings.faults`; and the campus realm the same
    /// way, with its staff persons, when `settings.campus` is set. Does not serve yet.
    pub async fn bind(
        settings: MockIdpSettings,
        persons: Vec<Person>,
        clock: Arc<dyn Clock>,
    ) -> Result<MockIdp, MockIdpError> {
        validate(&settings)?;
        persons::validate(&persons).map_err(|problem| MockIdpError::InvalidSetting {
            key: "persons".to_owned(),
            problem,
        })?;
        let campus = match &settings.campus {
            Some(campus) => {
                validate_campus(campus, &settings)?;
                Some((campus.realm_settings(&settings), campus.staff_persons()?))
            }
            None => None,
        };
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|error| MockIdpError::Bind {
                    addr: settings.listen,
                    error,
                })?;
        let local = listener.local_addr().map_err(|error| MockIdpError::Bind {
            addr: settings.listen,
            error,
        })?;
        let base = public_base(settings.public_url.as_ref(), local);
        let campus = match campus {
            Some((campus_settings, staff)) => {
                let staff = staff.into_iter().map(Someone::Staff).collect();
                let realm = Realm::new(
                    Flavour::Campus,
                    campus_settings,
                    base.clone(),
                    staff,
                    clock.clone(),
                )?;
                tracing::debug!(issuer = %realm.issuer, "mock campus realm bound");
                Some(Arc::new(realm))
            }
            None => None,
        };
        let persons = persons.into_iter().map(Someone::Citizen).collect();
        let realm = Realm::new(Flavour::Ftn, settings, base, persons, clock)?;
        tracing::debug!(issuer = %realm.issuer, "mock broker bound");
        Ok(MockIdp {
            listener,
            realm: Arc::new(realm),
            campus,
        })
    }

    /// The issuer, `{public_url}/realms/{realm}`.
    pub fn issuer(&self) -> String {
        self.realm.issuer.clone()
    }

    /// The `client_id`s registered at the FTN realm, in the order of the settings.
    pub fn client_ids(&self) -> Vec<String> {
        self.realm
            .clients
            .iter()
            .map(|client| client.id().to_owned())
            .collect()
    }

    /// The page of the FTN realm's latest authorizations and tokens.
    pub fn activity_url(&self) -> String {
        format!(
            "{}/admin/realms/{}/activity",
            self.realm.base, self.realm.settings.realm
        )
    }

    /// The campus realm's issuer, `{public_url}/realms/{campus.realm}`, when it is served.
    pub fn campus_issuer(&self) -> Option<String> {
        self.campus.as_ref().map(|realm| realm.issuer.clone())
    }

    /// A handle on the campus realm's faults and counters, when it is served.
    pub fn campus_controls(&self) -> Option<MockControls> {
        self.campus.as_ref().map(|realm| MockControls {
            realm: Arc::clone(realm),
        })
    }

    /// The staff persons the campus realm offers (none when it is not served).
    pub fn campus_staff(&self) -> Vec<StaffPerson> {
        let Some(realm) = &self.campus else {
            return Vec::new();
        };
        realm
            .persons
            .iter()
            .filter_map(|entry| match &entry.person {
                Someone::Staff(staff) => Some(staff.clone()),
                Someone::Citizen(_) => None,
            })
            .collect()
    }

    /// The address actually bound (the port chosen when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.realm.settings.listen)
    }

    /// A handle to switch faults and read counters while the broker serves.
    pub fn controls(&self) -> MockControls {
        MockControls {
            realm: Arc::clone(&self.realm),
        }
    }

    /// Serves until `shutdown` resolves, then finishes the requests under way.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let realms: Vec<Arc<Realm>> = std::iter::once(self.realm).chain(self.campus).collect();
        let app = router(&realms);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// Switches faults and reads counters of a running [`MockIdp`]; cheap to clone.
#[derive(Clone)]
pub struct MockControls {
    realm: Arc<Realm>,
}

impl MockControls {
    /// The issuer of the realm.
    pub fn issuer(&self) -> String {
        self.realm.issuer.clone()
    }

    /// Replaces the realm-wide faults; they stay on until changed.
    pub fn set_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.realm.faults().set(faults);
    }

    /// Applies `fault` to the next authorization ([`Fault::ErrorRedirect`]) or the next token
    /// request (every other fault) only.
    pub fn fault_once(&self, fault: Fault) {
        self.realm.faults().add_once(fault);
    }

    /// Switches every fault off, realm-wide and pending single-use ones.
    pub fn clear_faults(&self) {
        self.realm.faults().clear();
    }

    /// The realm-wide faults now on.
    pub fn faults(&self) -> Vec<Fault> {
        self.realm.faults().realm_wide()
    }

    /// The single-use faults not yet applied.
    pub fn pending_once_faults(&self) -> Vec<Fault> {
        self.realm.faults().pending_once()
    }

    /// A handle on the client registered as `client_id`: its own faults and keys.
    pub fn client(&self, client_id: &str) -> Option<ClientControls> {
        self.realm.client(client_id).map(|client| ClientControls {
            client: Arc::clone(client),
        })
    }

    /// Requests seen at the authorization endpoint.
    pub fn authorization_requests(&self) -> usize {
        self.realm
            .counters
            .authorization_requests
            .load(Ordering::Relaxed)
    }

    /// Authorization codes issued.
    pub fn issued_codes(&self) -> usize {
        self.realm.counters.issued_codes.load(Ordering::Relaxed)
    }

    /// Requests seen at the token endpoint.
    pub fn token_requests(&self) -> usize {
        self.realm.counters.token_requests.load(Ordering::Relaxed)
    }

    /// Successful token responses.
    pub fn tokens_issued(&self) -> usize {
        self.realm.counters.tokens_issued.load(Ordering::Relaxed)
    }
}

/// Switches the faults of one registered client, on top of the realm's; cheap to clone.
#[derive(Clone)]
pub struct ClientControls {
    client: Arc<realm::RegisteredClient>,
}

impl ClientControls {
    /// Replaces this client's faults; they stay on until changed. Faults of the realm's metadata
    /// (discovery, certs) are not the client's to have and are left out.
    pub fn set_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.client
            .faults()
            .set(faults.into_iter().filter(|fault| fault.acts_per_client()));
    }

    /// Applies `fault` to this client's next authorization or token request only.
    pub fn fault_once(&self, fault: Fault) {
        if fault.acts_per_client() {
            self.client.faults().add_once(fault);
        }
    }

    /// Switches this client's faults off.
    pub fn clear_faults(&self) {
        self.client.faults().clear();
    }

    /// This client's faults now on.
    pub fn faults(&self) -> Vec<Fault> {
        self.client.faults().realm_wide()
    }

    /// Registers this client's keys statically from now on (instead of `jwks_url`).
    pub fn set_jwks(&self, jwks: serde_json::Value) {
        self.client.keys.set_static(jwks);
    }

    /// Times this client's JWKS was fetched from `jwks_url`.
    pub fn jwks_fetches(&self) -> usize {
        self.client.keys.fetches()
    }
}

/// A setting that cannot work, named by its key under `mock_idp.`.
fn invalid(key: impl Into<String>, problem: impl Into<String>) -> MockIdpError {
    MockIdpError::InvalidSetting {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Checks what serde cannot: names, URLs, lifetimes and the clients.
fn validate(settings: &MockIdpSettings) -> Result<(), MockIdpError> {
    if !is_realm_name(&settings.realm) {
        return Err(invalid(
            "realm",
            "must be letters, digits, '-', '_' or '.', and not empty",
        ));
    }
    if let Some(url) = &settings.public_url
        && (!matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some())
    {
        return Err(invalid(
            "public_url",
            "must be an http(s) URL without query or fragment",
        ));
    }
    if settings.acr.is_empty() {
        return Err(invalid("acr", "must not be empty"));
    }
    if settings.code_lifetime_secs == 0 || settings.token_lifetime_secs == 0 {
        return Err(invalid(
            "code_lifetime_secs",
            "lifetimes must be at least one second",
        ));
    }
    if settings.clients.is_empty() {
        return Err(invalid("client", "register at least one client"));
    }
    let one = settings.clients.len() == 1;
    for (index, client) in settings.clients.iter().enumerate() {
        // A single `[mock_idp.client]` table is named as it is written.
        let prefix = if one {
            "client".to_owned()
        } else {
            format!("client[{index}]")
        };
        validate_client(
            &client.client_id,
            &client.redirect_uris,
            client.jwks.as_ref(),
            client.client_secret.as_deref(),
            &prefix,
        )?;
        if let Some(fault) = client.faults.iter().find(|fault| !fault.acts_per_client()) {
            return Err(invalid(
                format!("{prefix}.faults"),
                format!(
                    "{}: switch it on in [mock_idp.faults]",
                    fault.not_per_client()
                ),
            ));
        }
        let earlier = &settings.clients[..index];
        if earlier.iter().any(|c| c.client_id == client.client_id) {
            return Err(invalid(
                format!("{prefix}.client_id"),
                format!(
                    "{:?} is registered twice: each client needs its own client_id",
                    client.client_id
                ),
            ));
        }
    }
    Ok(())
}

/// Checks one client's id, redirect URIs, keys and secret; `prefix` names its table in messages.
fn validate_client(
    client_id: &str,
    redirect_uris: &[String],
    jwks: Option<&serde_json::Value>,
    client_secret: Option<&str>,
    prefix: &str,
) -> Result<(), MockIdpError> {
    if client_id.is_empty() {
        return Err(invalid(format!("{prefix}.client_id"), "must not be empty"));
    }
    if redirect_uris.is_empty() {
        return Err(invalid(
            format!("{prefix}.redirect_uris"),
            format!("list at least one URI (client {client_id:?})"),
        ));
    }
    for uri in redirect_uris {
        let usable = Url::parse(uri)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.fragment().is_none());
        if !usable {
            return Err(invalid(
                format!("{prefix}.redirect_uris"),
                format!("{uri:?} is not an absolute http(s) URL without fragment"),
            ));
        }
    }
    if let Some(jwks) = jwks
        && !client::is_jwks(jwks)
    {
        return Err(invalid(
            format!("{prefix}.jwks"),
            "must be a JWKS: a table with a `keys` array",
        ));
    }
    if client_secret.is_some_and(str::is_empty) {
        return Err(invalid(
            format!("{prefix}.client_secret"),
            "must not be empty",
        ));
    }
    Ok(())
}

/// Checks `[mock_idp.campus]`: a realm name of its own and a client that can authenticate.
fn validate_campus(campus: &CampusSettings, ftn: &MockIdpSettings) -> Result<(), MockIdpError> {
    if !is_realm_name(&campus.realm) {
        return Err(invalid(
            "campus.realm",
            "must be letters, digits, '-', '_' or '.', and not empty",
        ));
    }
    if campus.realm == ftn.realm {
        return Err(invalid(
            "campus.realm",
            "must differ from `realm`: the two realms are served side by side",
        ));
    }
    let client = &campus.client;
    validate_client(
        &client.client_id,
        &client.redirect_uris,
        client.jwks.as_ref(),
        client.client_secret.as_deref(),
        "campus.client",
    )?;
    if client.client_secret.is_none() && client.jwks.is_none() && client.jwks_url.is_none() {
        return Err(invalid(
            "campus.client",
            "needs a client_secret (client_secret_basic) or the client's keys (jwks or jwks_url, \
             for private_key_jwt)",
        ));
    }
    Ok(())
}

/// A realm name as it may appear in a path.
fn is_realm_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The public base URL without a trailing slash. A wildcard bind address is reached over loopback.
fn public_base(public_url: Option<&Url>, local: SocketAddr) -> String {
    match public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            let ip = match local.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            format!("http://{}", SocketAddr::new(ip, local.port()))
        }
    }
}

/// All routes of the realms, under the path of the public URL.
fn router(realms: &[Arc<Realm>]) -> Router {
    let prefix = realms
        .first()
        .and_then(|realm| Url::parse(&realm.base).ok())
        .map(|url| url.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let routes = realms
        .iter()
        .fold(Router::new(), |routes, realm| {
            routes.merge(realm_routes(Arc::clone(realm)))
        })
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(64 * 1024));
    if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(&prefix, routes).fallback(not_found)
    }
}

/// The routes of one realm.
fn realm_routes(realm: Arc<Realm>) -> Router {
    let realm_path = format!("/realms/{}", realm.settings.realm);
    let oidc = format!("{realm_path}/protocol/openid-connect");
    Router::new()
        .route(
            &format!("{realm_path}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(&format!("{oidc}/auth"), get(authorize::authorize))
        .route(&format!("{oidc}/token"), post(token::token))
        .route(&format!("{oidc}/certs"), get(certs))
        .route(
            &format!("{oidc}/userinfo"),
            get(token::userinfo).post(token::userinfo),
        )
        .route(
            &format!("{oidc}/logout"),
            get(authorize::logout).post(authorize::logout),
        )
        .route(
            &format!("{realm_path}/login-actions/authenticate"),
            post(authorize::authenticate),
        )
        .route(
            &format!("{realm_path}/login-actions/language"),
            get(authorize::language),
        )
        .route(
            &format!("/admin/realms/{}/faults", realm.settings.realm),
            get(admin::show).put(admin::update).delete(admin::clear),
        )
        .route(
            &format!(
                "/admin/realms/{}/clients/{{client_id}}/faults",
                realm.settings.realm
            ),
            get(admin::show_client)
                .put(admin::update_client)
                .delete(admin::clear_client),
        )
        .route(
            &format!("/admin/realms/{}/activity", realm.settings.realm),
            get(admin::activity),
        )
        .with_state(realm)
}

async fn not_found() -> Response {
    html::error_page(StatusCode::NOT_FOUND, "Page not found")
}

/// The provider metadata, with the fields Keycloak publishes.
async fn discovery(State(realm): State<Arc<Realm>>) -> Response {
    if realm
        .take_faults(faults::Phase::Metadata, None)
        .has(Fault::DiscoveryServerError)
    {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "unknown_error"}),
        );
    }
    if realm.flavour == Flavour::Campus {
        return json_response(StatusCode::OK, &campus_metadata(&realm));
    }
    // The claims of every client's preset, the realm's first.
    let mut claims_supported: Vec<&str> = vec![
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "azp",
        "sid",
        "at_hash",
        "typ",
    ];
    let presets = std::iter::once(realm.settings.preset)
        .chain(realm.clients.iter().map(|client| client.preset));
    for preset in presets {
        let names = claims::claim_names(preset);
        for name in [
            names.national_id,
            names.given_name,
            names.family_name,
            names.birthdate,
        ] {
            if !claims_supported.contains(&name) {
                claims_supported.push(name);
            }
        }
    }
    let mut auth_methods = vec!["private_key_jwt"];
    if realm
        .clients
        .iter()
        .any(|client| client.settings.client_secret.is_some())
    {
        auth_methods.extend(["client_secret_basic", "client_secret_post"]);
    }
    let mut acr_values = vec![
        "http://ftn.ficora.fi/2017/loa2".to_owned(),
        "http://ftn.ficora.fi/2017/loa3".to_owned(),
    ];
    if !acr_values.contains(&realm.settings.acr) {
        acr_values.push(realm.settings.acr.clone());
    }
    let signing_algs = client::ALLOWED_CLIENT_ALGS;
    let metadata = serde_json::json!({
        "issuer": realm.issuer,
        "authorization_endpoint": realm.endpoint("auth"),
        "token_endpoint": realm.endpoint("token"),
        "userinfo_endpoint": realm.endpoint("userinfo"),
        "jwks_uri": realm.endpoint("certs"),
        "end_session_endpoint": realm.endpoint("logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "id_token_encryption_enc_values_supported":
            ["A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"],
        "userinfo_signing_alg_values_supported": ["none"],
        "request_object_signing_alg_values_supported": signing_algs,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": true,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "authorization_response_iss_parameter_supported": true,
        "acr_values_supported": acr_values,
        "scopes_supported": ["openid", "profile"],
        "claims_supported": claims_supported,
        "claims_parameter_supported": false,
        "grant_types_supported": ["authorization_code"],
        "ui_locales_supported": ["fi", "sv", "en"],
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    });
    json_response(StatusCode::OK, &metadata)
}

/// The campus realm's provider metadata: a Keycloak realm used for staff logins, with no request
/// objects or encryption asked of the client.
fn campus_metadata(realm: &Realm) -> serde_json::Value {
    let signing_algs = client::ALLOWED_CLIENT_ALGS;
    serde_json::json!({
        "issuer": realm.issuer,
        "authorization_endpoint": realm.endpoint("auth"),
        "token_endpoint": realm.endpoint("token"),
        "userinfo_endpoint": realm.endpoint("userinfo"),
        "jwks_uri": realm.endpoint("certs"),
        "end_session_endpoint": realm.endpoint("logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "authorization_response_iss_parameter_supported": true,
        "acr_values_supported": ["0", "1"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "azp", "sid",
            "at_hash", "typ", "preferred_username", "name", "given_name", "family_name", "email",
            "groups",
        ],
        "claims_parameter_supported": false,
        "grant_types_supported": ["authorization_code"],
        "ui_locales_supported": ["fi", "sv", "en"],
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

/// The realm's public signing keys.
async fn certs(State(realm): State<Arc<Realm>>) -> Response {
    let faults = realm.take_faults(faults::Phase::Metadata, None);
    if faults.has(Fault::SlowJwks) {
        let wait = std::time::Duration::from_secs(realm.settings.faults.slow_token_secs);
        tokio::time::sleep(wait).await;
    }
    if faults.has(Fault::JwksServerError) {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "unknown_error"}),
        );
    }
    json_response(StatusCode::OK, &realm.public_jwks())
}

/// A JSON response that no cache keeps.
fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
