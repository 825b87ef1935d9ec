//! Assembly: [`App::build`] turns settings and dependencies into a bound, ready-to-serve service.
//! Tests start the service through the same code, on port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::http::HeaderValue;
use tokio::net::TcpListener;
use url::Url;

use crate::account::password::{PasswordPolicy, PolicyError};
use crate::account::session::Sessions;
use crate::account::{AccountParts, AccountService, SealKey};
use crate::audit::{Audit, AuditError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::directory::{Directory, DirectoryError, Metered};
use crate::helpdesk::sso::settings::ClientAuth;
use crate::helpdesk::sso::{StaffSignIn, StaffSignInParts};
use crate::http::client_ip::UntrustedForwarding;
use crate::http::cookies::CookiePolicy;
use crate::http::pages::{LanguageLink, Links, PageContext};
use crate::http::server::ConnectionLimits;
use crate::i18n::{Catalog, Lang};
use crate::keys::ServiceKeys;
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::oidc::transaction::Transactions;
use crate::oidc::{OidcError, RelyingParty};
use crate::store::{Store, StoreError};

/// The service could not start; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Texts(#[from] crate::i18n::CatalogError),
    #[error("relying party: {0}")]
    RelyingParty(OidcError),
    #[error("`{key}`: {problem}")]
    Config { key: &'static str, problem: String },
    #[error("directory: {0}")]
    Directory(DirectoryError),
    #[error("password policy: {0}")]
    Password(PolicyError),
    #[error("audit: {0}")]
    Audit(AuditError),
    /// The `[store]` settings cannot work: fix the named key.
    #[error(transparent)]
    Store(#[from] StoreError),
}

// By hand rather than `#[from]`, which would also make the wrapped error the `source` and so print
// its text twice under `{:#}`: the messages above already include it.
impl From<OidcError> for StartError {
    fn from(error: OidcError) -> Self {
        StartError::RelyingParty(error)
    }
}

impl From<DirectoryError> for StartError {
    fn from(error: DirectoryError) -> Self {
        StartError::Directory(error)
    }
}

impl From<PolicyError> for StartError {
    fn from(error: PolicyError) -> Self {
        StartError::Password(error)
    }
}

impl From<AuditError> for StartError {
    fn from(error: AuditError) -> Self {
        StartError::Audit(error)
    }
}

/// Everything a request handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    pub settings: Settings,
    pub public_url: Url,
    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub origin: String,
    pub store: Arc<dyn Store>,
    /// The account use case: sessions, grants, eligibility, passwords, directory writes.
    pub accounts: Arc<AccountService>,
    /// The helpdesk channel, when `helpdesk.enabled`.
    pub helpdesk: Option<Arc<crate::helpdesk::Helpdesk>>,
    /// Staff sign-in through the campus SSO, when the helpdesk channel is on and `[helpdesk.sso]`
    /// names the SSO.
    pub staff_sign_in: Option<Arc<StaffSignIn>>,
    /// E-mail notices and webhooks after each change, when `[notify]` configures any.
    pub notifier: Option<Arc<crate::notify::Notifier>>,
    /// Login transactions between the start of identification and the callback.
    pub transactions: Transactions,
    pub limiter: Limiter,
    pub metrics: Arc<Metrics>,
    pub rp: RelyingParty,
    pub keys: Arc<ServiceKeys>,
    pub clock: Arc<dyn Clock>,
    pub catalog: Catalog,
    pub cookies: CookiePolicy,
    pub csp: HeaderValue,
    pub default_lang: Lang,
    /// Warns (rarely) about `X-Forwarded-For` from peers outside `server.trusted_proxies`.
    pub untrusted_forwarding: UntrustedForwarding,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// An absolute URL of this service.
    pub fn url(&self, path: &str) -> Url {
        self.public_url
            .join(path)
            .unwrap_or_else(|_| self.public_url.clone())
    }

    /// The redirect URI registered at the broker.
    pub fn redirect_uri(&self) -> Url {
        self.url("/callback")
    }

    /// The entity identifier: the public URL without its trailing slash.
    pub fn entity_id(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The organisation's name in `lang`, falling back to Finnish, then to any name given.
    pub fn organisation_name(&self, lang: Lang) -> &str {
        let names = &self.settings.ui.organisation;
        names
            .get(lang.code())
            .or_else(|| names.get("fi"))
            .or_else(|| names.values().next())
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Whether `url` may be used as a return address: same scheme, host and port as an allow-list
    /// entry, and a path under the entry's path. Anything unusual (credentials, fragments, non-http
    /// schemes, parse failures) is refused.
    pub fn return_to_allowed(&self, url: &str) -> bool {
        let Ok(candidate) = Url::parse(url) else {
            return false;
        };
        if url.len() > 2048
            || !candidate.username().is_empty()
            || candidate.password().is_some()
            || candidate.fragment().is_some()
        {
            return false;
        }
        self.settings.ui.return_to_allowlist.iter().any(|allowed| {
            allowed.scheme() == candidate.scheme()
                && allowed.host() == candidate.host()
                && allowed.port_or_known_default() == candidate.port_or_known_default()
                && path_under(candidate.path(), allowed.path())
        })
    }

    /// The layout's context for a page at `path` in `lang`.
    pub fn page_context(&self, lang: Lang, path: &str) -> PageContext<'_> {
        PageContext {
            t: self.catalog.texts(lang),
            lang,
            organisation: self.organisation_name(lang),
            helpdesk_url: self.settings.ui.helpdesk_url.as_ref().map(Url::as_str),
            links: Links {
                hr: self.settings.ui.hr_url.as_ref().map(Url::as_str),
                service_points: self
                    .settings
                    .ui
                    .service_points_url
                    .as_ref()
                    .map(Url::as_str),
                // The service's own request form, when it takes service requests.
                service_request: if self
                    .helpdesk
                    .as_ref()
                    .is_some_and(|helpdesk| helpdesk.request_settings().is_some())
                {
                    Some("/request")
                } else {
                    self.settings
                        .ui
                        .service_request_url
                        .as_ref()
                        .map(Url::as_str)
                },
            },
            has_logo: self.settings.ui.logo.is_some(),
            languages: Lang::ALL
                .into_iter()
                .map(|other| LanguageLink {
                    code: other.code(),
                    name: self.catalog.texts(other).language_name.clone(),
                    href: format!("{path}?lang={}", other.code()),
                    current: other == lang,
                })
                .collect(),
        }
    }
}

/// The helpdesk channel: its codes keyed by `helpdesk.code_key_file` (a key made at start in
/// development, when codes do not outlive the process anyway).
#[allow(clippy::too_many_arguments)]
fn build_helpdesk(
    settings: &Settings,
    public_url: &Url,
    store: Arc<dyn Store>,
    directory: Arc<dyn Directory>,
    accounts: Arc<AccountService>,
    limiter: Limiter,
    audit: Arc<Audit>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    notifier: Option<Arc<crate::notify::Notifier>>,
) -> Result<crate::helpdesk::Helpdesk, StartError> {
    use crate::helpdesk::code::CodeHasher;
    use crate::helpdesk::codes::Codes;
    let key = match &settings.helpdesk.code_key_file {
        Some(path) => {
            crate::config::read_key_file(path, 32).map_err(|problem| StartError::Config {
                key: "helpdesk.code_key_file",
                problem,
            })?
        }
        None => crate::random::bytes::<32>().to_vec(),
    };
    // Two keys from one secret: one seals the records, one hashes the codes.
    let derive = |purpose: &str| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
        aws_lc_rs::hmac::sign(&key, purpose.as_bytes())
            .as_ref()
            .to_vec()
    };
    let seal = SealKey::new(&derive("tunnus code records")).ok_or(StartError::Config {
        key: "helpdesk.code_key_file",
        problem: "too short".to_owned(),
    })?;
    let seal = Arc::new(seal);
    let requests = settings.helpdesk.requests.enabled.then(|| {
        crate::helpdesk::requests::Requests::new(
            store.clone(),
            seal.clone(),
            clock.clone(),
            settings.helpdesk.requests.expire_after.get(),
        )
    });
    let codes = Codes::new(
        store,
        seal,
        CodeHasher::new(&derive("tunnus code hashes")),
        clock.clone(),
        settings.helpdesk.max_wrong_tries,
    );
    let printer =
        crate::helpdesk::letter::Printer::load(&settings.helpdesk.letters).map_err(|error| {
            StartError::Config {
                key: "helpdesk.letters",
                problem: error.to_string(),
            }
        })?;
    Ok(crate::helpdesk::Helpdesk::new(
        crate::helpdesk::HelpdeskParts {
            settings: settings.helpdesk.clone(),
            printer,
            redeem_url: public_url
                .join("/code")
                .map_err(|error| StartError::Config {
                    key: "server.public_url",
                    problem: error.to_string(),
                })?,
            directory,
            test_identities: settings.broker.test_identities,
            accounts_settings: settings.accounts.clone(),
            codes,
            requests,
            accounts,
            limiter,
            audit,
            metrics,
            clock,
            notifier,
        },
    ))
}

/// The notifier `[notify]` configures, if any, with the organisation's name, helpdesk link and
/// colour from `[ui]`.
fn build_notifier(
    settings: &Settings,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> Result<Option<Arc<crate::notify::Notifier>>, StartError> {
    let names = settings.ui.organisation.clone();
    let branding = crate::notify::mail::Branding {
        organisation: Box::new(move |lang: Lang| {
            names
                .get(lang.code())
                .or_else(|| names.get("fi"))
                .or_else(|| names.values().next())
                .cloned()
                .unwrap_or_default()
        }),
        helpdesk_url: settings.ui.helpdesk_url.as_ref().map(Url::to_string),
        colour: settings.ui.colours.primary.clone(),
    };
    let notifier = crate::notify::Notifier::new(crate::notify::NotifierParts {
        settings: settings.notify.clone(),
        store,
        catalog: Catalog::with_overrides(&settings.ui.texts)?,
        branding,
        metrics,
        clock,
    })
    .map_err(|(key, problem)| StartError::Config { key, problem })?;
    Ok(notifier.map(Arc::new))
}

/// Staff sign-in through the campus SSO of `[helpdesk.sso]`, with the client secret read from its
/// file.
#[allow(clippy::too_many_arguments)]
fn build_staff_sign_in(
    settings: &Settings,
    public_url: &Url,
    keys: Arc<ServiceKeys>,
    store: Arc<dyn Store>,
    seal: Arc<SealKey>,
    directory: Arc<dyn Directory>,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
) -> Result<StaffSignIn, StartError> {
    let sso = &settings.helpdesk.sso;
    let client_secret = match (sso.client_auth, &sso.client_secret_file) {
        (ClientAuth::ClientSecretBasic, Some(path)) => Some(
            crate::config::read_secret_file(path).map_err(|problem| StartError::Config {
                key: "helpdesk.sso.client_secret_file",
                problem,
            })?,
        ),
        _ => None,
    };
    let redirect_uri = public_url
        .join("/helpdesk/callback")
        .map_err(|e| StartError::Config {
            key: "server.public_url",
            problem: e.to_string(),
        })?;
    StaffSignIn::new(StaffSignInParts {
        settings: sso.clone(),
        redirect_uri,
        client_secret,
        keys,
        store,
        seal,
        directory,
        audit,
        clock,
    })
    .map_err(|error| StartError::Config {
        key: error.key,
        problem: error.problem,
    })
}

/// True when `path` equals `prefix` or lies under it as a path segment (`/a` covers `/a/b`, not `/ab`).
fn path_under(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// What the service is built from besides settings; tests pass their own.
pub struct Dependencies {
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<ServiceKeys>,
    /// `None` builds the store the settings name.
    pub store: Option<Arc<dyn Store>>,
    /// `None` builds the directory the settings name.
    pub directory: Option<Arc<dyn Directory>>,
    /// `None` builds the audit trail the settings name.
    pub audit: Option<Arc<Audit>>,
}

/// A bound service, ready to serve.
pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    /// Binds `settings.server.listen` and builds the service.
    pub async fn build(settings: Settings, deps: Dependencies) -> Result<App, StartError> {
        let addr = settings.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| StartError::Listen { addr, error })?;
        Self::build_on(listener, settings, deps).await
    }

    /// Builds the service on an already bound listener. Without `server.public_url`, the public URL
    /// is `http://` + the bound address (development and tests).
    pub async fn build_on(
        listener: TcpListener,
        mut settings: Settings,
        deps: Dependencies,
    ) -> Result<App, StartError> {
        if let Some(mail) = &settings.notify.mail {
            settings.directory.ldap.mail_attributes = mail.address_attributes.clone();
        }
        if settings.helpdesk.enabled {
            settings.directory.ldap.address_lines = settings.helpdesk.letters.address_lines.clone();
        }
        let local = listener.local_addr().map_err(|error| StartError::Listen {
            addr: settings.server.listen,
            error,
        })?;
        let public_url = settings.public_url_on(local);
        let metrics = Arc::new(Metrics::default());
        let issuer = settings.broker.issuer.clone().ok_or(StartError::Config {
            key: "broker.issuer",
            problem: "is required".to_owned(),
        })?;
        let rp = RelyingParty::new(
            &settings.broker,
            issuer,
            public_url
                .join("/callback")
                .map_err(|e| StartError::Config {
                    key: "server.public_url",
                    problem: e.to_string(),
                })?,
            deps.keys.clone(),
            deps.clock.clone(),
            metrics.clone(),
        )?;
        let store = match deps.store {
            Some(store) => store,
            None => crate::store::build(&settings.store, deps.clock.clone())?,
        };
        let default_lang = Lang::from_code(&settings.ui.default_language).unwrap_or(Lang::Fi);
        let directory = match deps.directory {
            Some(directory) => directory,
            None => crate::directory::build(&settings.directory).await?,
        };
        let directory: Arc<dyn Directory> = Arc::new(Metered::new(directory, metrics.clone()));
        let audit = match deps.audit {
            Some(audit) => audit,
            None => Arc::new(Audit::from_settings(&settings.audit)?),
        };
        let seal_key = Arc::new(match &settings.session.key_file {
            Some(path) => SealKey::from_file(path).map_err(|problem| StartError::Config {
                key: "session.key_file",
                problem,
            })?,
            None => SealKey::random(),
        });
        let limiter = Limiter::new(
            settings.limits.clone(),
            store.clone(),
            audit.clone(),
            metrics.clone(),
            deps.clock.clone(),
        );
        let notifier = build_notifier(
            &settings,
            store.clone(),
            metrics.clone(),
            deps.clock.clone(),
        )?;
        let accounts = AccountService::new(AccountParts {
            directory: directory.clone(),
            sessions: Sessions::new(
                store.clone(),
                seal_key.clone(),
                deps.clock.clone(),
                settings.session.idle_timeout.get(),
            ),
            policy: PasswordPolicy::from_settings(&settings.password)?,
            rules: settings.accounts.clone(),
            audit: audit.clone(),
            limiter: limiter.clone(),
            metrics: metrics.clone(),
            clock: deps.clock.clone(),
            code_categories: settings
                .helpdesk
                .rules
                .iter()
                .flat_map(|rule| rule.categories.iter().cloned())
                .collect(),
            notifier: notifier.clone(),
        });
        let accounts = Arc::new(accounts);
        if settings.helpdesk.enabled {
            match store.persistent().await {
                Some(true) => {}
                // Without a key file the codes die with the process whatever the store.
                Some(false)
                    if store.kind() == "memory" && settings.helpdesk.code_key_file.is_none() => {}
                Some(false) if store.kind() == "memory" => tracing::warn!(
                    "activation codes are kept in memory: every open code is lost when the service \
                     stops (use [store] kind = \"redis\" with append-only persistence)"
                ),
                Some(false) => tracing::error!(
                    "Redis does not persist to its append-only file (appendonly no): open \
                     activation codes are lost when Redis restarts; turn on `appendonly yes`"
                ),
                None => tracing::warn!(
                    "cannot tell whether Redis persists activation codes (CONFIG GET appendonly \
                     was not answered); make sure `appendonly yes` is set"
                ),
            }
        }
        let helpdesk = if settings.helpdesk.enabled {
            Some(Arc::new(build_helpdesk(
                &settings,
                &public_url,
                store.clone(),
                directory.clone(),
                accounts.clone(),
                limiter.clone(),
                audit.clone(),
                metrics.clone(),
                deps.clock.clone(),
                notifier.clone(),
            )?))
        } else {
            None
        };
        let staff_sign_in = match (&helpdesk, &settings.helpdesk.sso.issuer) {
            (Some(_), Some(_)) => Some(Arc::new(build_staff_sign_in(
                &settings,
                &public_url,
                deps.keys.clone(),
                store.clone(),
                seal_key,
                directory,
                audit.clone(),
                deps.clock.clone(),
            )?)),
            _ => None,
        };
        // Forms post to this service only; its sign-in buttons redirect to the broker and the
        // campus SSO.
        let mut form_action = format!("'self' {}", rp.broker_origin());
        if let Some(sign_in) = &staff_sign_in {
            let origin = sign_in.origin();
            if origin != rp.broker_origin() {
                form_action.push(' ');
                form_action.push_str(&origin);
            }
        }
        let csp = format!(
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
             form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        );
        let state = AppState(Arc::new(Shared {
            origin: public_url.origin().ascii_serialization(),
            cookies: CookiePolicy {
                secure: public_url.scheme() == "https",
            },
            csp: HeaderValue::from_str(&csp).map_err(|e| StartError::Config {
                key: "broker.issuer",
                problem: e.to_string(),
            })?,
            catalog: Catalog::with_overrides(&settings.ui.texts)?,
            public_url,
            transactions: Transactions::new(store.clone()),
            store,
            accounts,
            helpdesk,
            staff_sign_in,
            notifier,
            limiter,
            metrics,
            rp,
            keys: deps.keys,
            clock: deps.clock,
            default_lang,
            untrusted_forwarding: UntrustedForwarding::default(),
            settings,
        }));
        Ok(App { listener, state })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting connections and lets the requests in
    /// flight finish, for at most `server.shutdown_grace`. At most `server.max_connections` are
    /// open at once, and each must send its request heads within `server.header_read_timeout`.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let server = &self.state.settings.server;
        let limits = ConnectionLimits {
            max_connections: server.max_connections,
            header_read_timeout: server.header_read_timeout.get(),
            shutdown_grace: server.shutdown_grace.get(),
        };
        let router = crate::http::router(self.state.clone());
        // Every replica works the outbox, and closes expired service requests, while it serves;
        // dropping `working` stops both.
        let (working, _) = tokio::sync::broadcast::channel::<()>(1);
        let stopped = |working: &tokio::sync::broadcast::Sender<()>| {
            let mut receiver = working.subscribe();
            async move {
                let _ = receiver.recv().await;
            }
        };
        if let Some(notifier) = &self.state.notifier {
            tokio::spawn(notifier.clone().run(stopped(&working)));
        }
        if let Some(helpdesk) = &self.state.helpdesk
            && let Some(requests) = helpdesk.request_settings()
        {
            let every = requests.sweep_interval.get();
            tokio::spawn(helpdesk.clone().sweep_requests(every, stopped(&working)));
        }
        let served = crate::http::server::serve(self.listener, router, limits, shutdown).await;
        drop(working);
        served
    }
}

#[cfg(test)]
mod tests {
    use super::path_under;

    #[test]
    fn return_paths_must_be_under_the_allowed_path() {
        assert!(path_under("/idp/login", "/idp"));
        assert!(path_under("/idp", "/idp"));
        assert!(!path_under("/idpx", "/idp"));
        assert!(path_under("/idp/x", "/idp/"));
        assert!(path_under("/anything", "/"));
    }
}
