//! Staff sign-in through the campus SSO.
//!
//! The service is an OpenID Connect client of the campus SSO (a plain OP such as Keycloak, a
//! Shibboleth OP or Entra ID), apart from its relying party of the identification broker: the
//! authorization code flow with PKCE (S256), a fresh `state` and `nonce` of 256 bits each, and the
//! sign-in bound to the browser that started it by a cookie. [`StaffSignIn::start`] stores the
//! sign-in (sealed, single use, ten minutes) and gives the SSO's authorization URL;
//! [`StaffSignIn::finish`] checks the callback (binding, RFC 9207 `iss`), exchanges the code
//! (`client_secret_basic` or `private_key_jwt`), verifies the ID token (RS256, PS256 or ES256 only,
//! against the SSO's published keys; `iss`, `aud`, `azp`, `exp`, `iat` with the configured skew,
//! `nonce`), reads the staff member's username, name and groups (from the token or the directory),
//! and opens a staff session ([`session::StaffSessions`]) for members of
//! `helpdesk.sso.staff_groups` only.

pub mod session;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use url::Url;

use self::session::{StaffSession, StaffSessionError, StaffSessions};
use self::settings::{ClientAuth, GroupsFrom, SsoSettings};
use super::Staff;
use crate::account::eligibility::same_group;
use crate::account::{Context, SealKey};
use crate::audit::{Audit, Event, EventKind, Outcome};
use crate::clock::Clock;
use crate::directory::{Directory, DirectoryError};
use crate::i18n::Lang;
use crate::keys::ServiceKeys;
use crate::oidc::broker_keys::BrokerKeys;
use crate::oidc::discovery::{Provider, ProviderCache, same_issuer};
use crate::oidc::id_token::{IdTokenError, check_authorized_party, chrono_time, raw_payload};
use crate::oidc::request::{AuthorizationParams, Pkce, authorization_url, client_assertion};
use crate::oidc::token::{ClientAuthentication, TokenRequest, exchange};
use crate::oidc::{OidcError, jwe};
use crate::secret::fingerprint;
use crate::store::{Store, StoreError};

/// How long a sign-in at the campus SSO may take.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(10 * 60);

/// The oldest ID token accepted, by its `iat`.
const MAX_TOKEN_AGE: time::Duration = time::Duration::minutes(10);

/// Signature algorithms accepted on the campus SSO's ID tokens. Never `none`, never HMAC.
const ALLOWED_ALGS: [jsonwebtoken::Algorithm; 3] = [
    jsonwebtoken::Algorithm::RS256,
    jsonwebtoken::Algorithm::PS256,
    jsonwebtoken::Algorithm::ES256,
];

/// The kind sign-in records are sealed as, and the prefix of their store keys.
const KIND: &str = "staff_login";

/// The longest username, name or group name taken from the SSO.
const MAX_CLAIM_LEN: usize = 256;

/// A sign-in started in one browser and not yet finished.
#[derive(Serialize, Deserialize)]
struct PendingSignIn {
    nonce: String,
    pkce_verifier: String,
    /// Fingerprint of the browser-binding cookie's value.
    binding: String,
    /// Unix time after which the record is void whatever the store says.
    expires_at: i64,
}

/// The campus SSO's answer at the redirect URI, as the callback read it.
pub struct AuthorizationResponse<'a> {
    pub state: &'a str,
    pub code: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// How a sign-in ended, when nothing went wrong.
#[derive(Debug)]
pub enum SignedIn {
    /// A staff member of `staff_groups`: a new staff session is open, for the cookie.
    Session(StaffSession),
    /// Signed in at the SSO, but not a member of `staff_groups` (or, with groups from the
    /// directory, without exactly one account): no session. Shown a refusal, recorded in the audit.
    NotStaff,
    /// The person cancelled at the SSO.
    Cancelled,
}

/// Why a sign-in failed. Each variant says what to show; nothing was opened.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The sign-in is unknown, used or expired: "sign in again".
    #[error("unknown, used or expired staff sign-in")]
    Expired,
    /// The callback came to another browser than the one that started the sign-in: "sign in again
    /// in this browser".
    #[error("staff sign-in callback without the browser-binding cookie of its transaction")]
    OtherBrowser,
    /// The callback carried neither a code nor an error: a bad request.
    #[error("staff sign-in callback without code or error")]
    NoCode,
    /// The SSO sent an error other than a cancel: "sign-in failed, try again".
    #[error("campus SSO returned error `{0}`")]
    Provider(String),
    /// The SSO was unreachable (503) or its answer unacceptable (sign-in failed).
    #[error("campus SSO: {0}")]
    Sso(OidcError),
    /// The directory could not say the staff member's groups: "try again later" when it was
    /// unavailable, else a failure of the service.
    #[error("directory: {detail}")]
    Directory { unavailable: bool, detail: String },
    /// The store is down (503), or a record could not be written.
    #[error(transparent)]
    Session(#[from] StaffSessionError),
}

impl From<OidcError> for SignInError {
    fn from(error: OidcError) -> Self {
        SignInError::Sso(error)
    }
}

impl From<IdTokenError> for SignInError {
    fn from(error: IdTokenError) -> Self {
        SignInError::Sso(OidcError::IdToken(error))
    }
}

impl From<StoreError> for SignInError {
    fn from(error: StoreError) -> Self {
        SignInError::Session(StaffSessionError::Store(error))
    }
}

/// How the service proves itself at the token endpoint.
enum Credentials {
    Secret(SecretString),
    Key(Arc<ServiceKeys>),
}

/// What [`StaffSignIn`] is built from.
pub struct StaffSignInParts {
    pub settings: SsoSettings,
    /// `{public_url}helpdesk/callback`, registered at the SSO.
    pub redirect_uri: Url,
    /// The client secret read from `client_secret_file` (with `client_secret_basic`).
    pub client_secret: Option<SecretString>,
    /// The service's keys; the signing key signs `private_key_jwt` assertions.
    pub keys: Arc<ServiceKeys>,
    pub store: Arc<dyn Store>,
    /// Seals the sign-in and session records.
    pub seal: Arc<SealKey>,
    /// For the staff member's groups with `groups_from = "directory"`.
    pub directory: Arc<dyn Directory>,
    pub audit: Arc<Audit>,
    pub clock: Arc<dyn Clock>,
}

/// Staff sign-in: the client of the campus SSO, and the staff sessions it opens.
pub struct StaffSignIn {
    settings: SsoSettings,
    issuer: Url,
    redirect_uri: String,
    credentials: Credentials,
    cache: ProviderCache,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    seal: Arc<SealKey>,
    sessions: StaffSessions,
    directory: Arc<dyn Directory>,
    audit: Arc<Audit>,
    clock: Arc<dyn Clock>,
}

/// The settings' problem, for a start-up error naming the key.
#[derive(Debug, thiserror::Error)]
#[error("`{key}`: {problem}")]
pub struct SignInSetupError {
    pub key: &'static str,
    pub problem: String,
}

impl StaffSignIn {
    pub fn new(parts: StaffSignInParts) -> Result<StaffSignIn, SignInSetupError> {
        let StaffSignInParts {
            settings,
            redirect_uri,
            client_secret,
            keys,
            store,
            seal,
            directory,
            audit,
            clock,
        } = parts;
        let issuer = settings.issuer.clone().ok_or_else(|| SignInSetupError {
            key: "helpdesk.sso.issuer",
            problem: "is required".to_owned(),
        })?;
        let credentials = match settings.client_auth {
            ClientAuth::PrivateKeyJwt => Credentials::Key(keys),
            ClientAuth::ClientSecretBasic => {
                Credentials::Secret(client_secret.ok_or_else(|| SignInSetupError {
                    key: "helpdesk.sso.client_secret_file",
                    problem: "is required with client_auth = \"client_secret_basic\"".to_owned(),
                })?)
            }
        };
        let http = crate::oidc::http::client(settings.http_timeout.get()).map_err(|error| {
            SignInSetupError {
                key: "helpdesk.sso",
                problem: format!("HTTP client: {error}"),
            }
        })?;
        let hour = Duration::from_secs(3600);
        Ok(StaffSignIn {
            cache: ProviderCache::new(issuer.clone(), http.clone(), clock.clone(), hour, hour),
            sessions: StaffSessions::new(
                store.clone(),
                seal.clone(),
                clock.clone(),
                settings.session_idle_timeout.get(),
                settings.session_lifetime.get(),
            ),
            redirect_uri: redirect_uri.to_string(),
            settings,
            issuer,
            credentials,
            http,
            store,
            seal,
            directory,
            audit,
            clock,
        })
    }

    /// The SSO's origin, for the pages' `form-action` policy.
    pub fn origin(&self) -> String {
        self.issuer.origin().ascii_serialization()
    }

    /// The staff sessions this sign-in opens.
    pub fn sessions(&self) -> &StaffSessions {
        &self.sessions
    }

    fn key(state: &str) -> String {
        format!("{KIND}:{}", fingerprint(state))
    }

    /// Starts a sign-in for the browser whose binding cookie holds `binding`, with the SSO's page
    /// in `lang` where it can; returns the authorization URL to send the browser to.
    pub async fn start(&self, binding: &str, lang: Lang) -> Result<Url, SignInError> {
        let provider = self.cache.provider().await?;
        let pkce = Pkce::new();
        let mut scope = vec!["openid".to_owned()];
        scope.extend(
            self.settings
                .scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .cloned(),
        );
        let params = AuthorizationParams {
            client_id: self.settings.client_id.clone(),
            response_type: "code",
            scope: scope.join(" "),
            redirect_uri: self.redirect_uri.clone(),
            state: crate::random::token(),
            nonce: crate::random::token(),
            acr_values: None,
            ui_locales: Some(lang.code().to_owned()),
            prompt: None,
            code_challenge: Some(pkce.challenge.clone()),
            code_challenge_method: Some("S256"),
        };
        let pending = PendingSignIn {
            nonce: params.nonce.clone(),
            pkce_verifier: pkce.verifier,
            binding: fingerprint(binding),
            expires_at: self.expiry(SIGN_IN_TTL),
        };
        let key = Self::key(&params.state);
        let payload = serde_json::to_vec(&pending)
            .map_err(|_| StaffSessionError::Internal("cannot encode the sign-in"))?;
        let fresh = self
            .store
            .put_new(&key, &self.seal.seal(KIND, &key, &payload), SIGN_IN_TTL)
            .await?;
        if !fresh {
            return Err(StaffSessionError::Internal("state value collided").into());
        }
        Ok(authorization_url(
            &provider.authorization_endpoint,
            &params,
            None,
        ))
    }

    fn expiry(&self, ttl: Duration) -> i64 {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        self.clock.now().unix_timestamp().saturating_add(ttl)
    }

    /// The sign-in in `bytes` read from `key`, if this service sealed it there and it is not over.
    fn open(&self, key: &str, bytes: &[u8]) -> Option<PendingSignIn> {
        let payload = self.seal.open(KIND, key, bytes)?;
        let pending: PendingSignIn = serde_json::from_slice(payload).ok()?;
        (pending.expires_at > self.clock.now().unix_timestamp()).then_some(pending)
    }

    /// Finishes a sign-in with the SSO's answer, in the browser whose binding cookie holds
    /// `binding`. A staff member of `staff_groups` gets a new session; anyone else nothing.
    pub async fn finish(
        &self,
        answer: &AuthorizationResponse<'_>,
        binding: Option<&str>,
        context: Context<'_>,
    ) -> Result<SignedIn, SignInError> {
        // Read first and taken only from its own browser: whoever learns a `state` must not be able
        // to end someone else's sign-in by calling back first.
        let key = Self::key(answer.state);
        let unused = self
            .store
            .get(&key)
            .await?
            .and_then(|bytes| self.open(&key, &bytes))
            .ok_or(SignInError::Expired)?;
        if !bound_to(binding, &unused.binding) {
            return Err(SignInError::OtherBrowser);
        }
        let pending = self
            .store
            .take(&key)
            .await?
            .and_then(|bytes| self.open(&key, &bytes))
            .ok_or(SignInError::Expired)?;
        let provider = self.cache.provider().await?;
        check_response_issuer(&provider, answer.iss)?;
        if let Some(error) = answer.error {
            if matches!(error, "access_denied" | "cancel" | "user_cancelled") {
                return Ok(SignedIn::Cancelled);
            }
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return Err(SignInError::Provider(code));
        }
        let code = answer.code.ok_or(SignInError::NoCode)?;
        let claims = self.identify(&provider, code, &pending).await?;
        let username = username(&claims, &self.settings.username_claim)?;
        let name = display_name(&claims, &self.settings.name_claim, &username);
        let groups = match self.settings.groups_from {
            GroupsFrom::Claim => groups_claim(&claims, &self.settings.groups_claim)?,
            GroupsFrom::Directory => {
                let accounts =
                    self.directory
                        .find_by_username(&username)
                        .await
                        .map_err(|error| SignInError::Directory {
                            unavailable: matches!(error, DirectoryError::Unavailable { .. }),
                            detail: error.to_string(),
                        })?;
                match accounts.as_slice() {
                    [account] => account.groups.clone(),
                    [] => return Ok(self.refuse(&username, "no_directory_account", context)),
                    _ => return Ok(self.refuse(&username, "ambiguous_directory_account", context)),
                }
            }
        };
        let staff = Staff {
            username,
            name,
            groups,
        };
        if !self.may_sign_in(&staff) {
            return Ok(self.refuse(&staff.username, "not_in_staff_groups", context));
        }
        let session = self.sessions.create(staff).await?;
        self.record(
            EventKind::StaffSignIn,
            Outcome::Success,
            &session.staff.username,
            None,
            context,
        );
        tracing::info!(event = "staff_signed_in", "a staff member signed in");
        Ok(SignedIn::Session(session))
    }

    /// Whether `staff` is a member of one of `staff_groups`.
    pub fn may_sign_in(&self, staff: &Staff) -> bool {
        self.settings
            .staff_groups
            .iter()
            .any(|allowed| staff.groups.iter().any(|group| same_group(group, allowed)))
    }

    fn refuse(&self, username: &str, reason: &str, context: Context<'_>) -> SignedIn {
        self.record(
            EventKind::StaffSignIn,
            Outcome::Refused,
            username,
            Some(reason),
            context,
        );
        tracing::info!(
            event = "staff_refused",
            reason,
            "a signed-in person is not helpdesk staff"
        );
        SignedIn::NotStaff
    }

    fn record(
        &self,
        kind: EventKind,
        outcome: Outcome,
        username: &str,
        reason: Option<&str>,
        context: Context<'_>,
    ) {
        let event = Event {
            staff: Some(username),
            reason,
            client_ip: Some(context.client_ip),
            request_id: Some(context.request_id),
            ..Event::default()
        };
        self.audit.record(kind, outcome, event, self.clock.now());
    }

    /// Ends a staff session at sign-out and records it.
    pub async fn sign_out(
        &self,
        session: &StaffSession,
        context: Context<'_>,
    ) -> Result<(), StaffSessionError> {
        self.sessions.end(&session.id).await?;
        self.record(
            EventKind::StaffSignOut,
            Outcome::Success,
            &session.staff.username,
            None,
            context,
        );
        Ok(())
    }

    /// Exchanges the code and verifies the ID token; returns its claims.
    async fn identify(
        &self,
        provider: &Provider,
        code: &str,
        pending: &PendingSignIn,
    ) -> Result<Map<String, Value>, SignInError> {
        let raw = self.exchange(provider, code, pending).await?;
        if jwe::is_compact_jwe(&raw) {
            return Err(IdTokenError::Invalid(
                "the ID token is encrypted; staff sign-in takes signed ID tokens".to_owned(),
            )
            .into());
        }
        let keys = self.cache.jwks().await?;
        match self.verify(&raw, &keys, provider, &pending.nonce) {
            Err(IdTokenError::UnknownKey) => match self.cache.refetch_jwks().await? {
                // The SSO may have rotated its signing key since its keys were read.
                Some(fresh) => Ok(self.verify(&raw, &fresh, provider, &pending.nonce)?),
                None => Err(IdTokenError::UnknownKey.into()),
            },
            other => Ok(other?),
        }
    }

    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        pending: &PendingSignIn,
    ) -> Result<String, OidcError> {
        let assertion;
        let client_auth = match &self.credentials {
            Credentials::Secret(secret) => ClientAuthentication::SecretBasic {
                secret: secret.expose_secret(),
            },
            Credentials::Key(keys) => {
                assertion = client_assertion(
                    &keys.signing,
                    &self.settings.client_id,
                    provider.token_endpoint.as_str(),
                    self.clock.now(),
                )?;
                ClientAuthentication::PrivateKeyJwt {
                    assertion: &assertion,
                }
            }
        };
        exchange(
            &self.http,
            &TokenRequest {
                token_endpoint: provider.token_endpoint.as_str(),
                code,
                redirect_uri: &self.redirect_uri,
                client_id: &self.settings.client_id,
                code_verifier: Some(&pending.pkce_verifier),
                client_auth,
            },
        )
        .await
    }

    /// Checks the ID token's signature (allowed algorithms only) and claims; returns the claims.
    fn verify(
        &self,
        jws: &str,
        keys: &BrokerKeys,
        provider: &Provider,
        nonce: &str,
    ) -> Result<Map<String, Value>, IdTokenError> {
        let header = jsonwebtoken::decode_header(jws)
            .map_err(|_| IdTokenError::Invalid("not a signed JWT with a known algorithm".into()))?;
        if !ALLOWED_ALGS.contains(&header.alg) {
            return Err(IdTokenError::Invalid(format!(
                "algorithm {:?} is not allowed",
                header.alg
            )));
        }
        keys.verify(jws)?;
        let token: CoreIdToken = jws
            .parse()
            .map_err(|error| IdTokenError::Invalid(format!("not a signed JWT: {error}")))?;
        let issuer = IssuerUrl::new(provider.issuer.clone())
            .map_err(|error| IdTokenError::Invalid(format!("issuer is not a URL: {error}")))?;
        let now = self.clock.now();
        let skew = time::Duration::try_from(self.settings.clock_skew.get())
            .unwrap_or(time::Duration::ZERO);
        // A token is refused at `exp` exactly; looking at it `skew` in the past gives the tolerance
        // for an SSO whose clock runs ahead of ours.
        let skewed_now = chrono_time(now - skew);
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.settings.client_id.clone()),
            issuer,
            CoreJsonWebKeySet::new(Vec::new()),
        )
        // The signature was checked above, with the allow-list and the SSO's published keys.
        .insecure_disable_signature_check()
        .set_time_fn(move || skewed_now)
        .set_issue_time_verifier_fn(move |iat| {
            let iat = OffsetDateTime::from_unix_timestamp(iat.timestamp())
                .map_err(|_| "iat is out of range".to_owned())?;
            if iat > now + skew {
                Err("iat is in the future".to_owned())
            } else if iat < now - MAX_TOKEN_AGE - skew {
                Err("iat is too old".to_owned())
            } else {
                Ok(())
            }
        });
        token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|error| IdTokenError::Invalid(error.to_string()))?;
        // The signature covered exactly these bytes, so reading claims by configurable names from
        // the raw payload is as trustworthy as openidconnect's typed view.
        let payload = raw_payload(jws)?;
        check_authorized_party(&payload, &self.settings.client_id)?;
        Ok(payload)
    }
}

/// RFC 9207: an `iss` in the authorization response must be the SSO's; when the SSO says it always
/// sends one, it must be there.
fn check_response_issuer(provider: &Provider, iss: Option<&str>) -> Result<(), OidcError> {
    match iss {
        Some(iss) if same_issuer(iss, &provider.issuer) => Ok(()),
        Some(_) => Err(OidcError::CallbackIssuer("iss is not the campus SSO")),
        None if provider.iss_parameter_supported => Err(OidcError::CallbackIssuer(
            "iss is missing although the campus SSO sends it",
        )),
        None => Ok(()),
    }
}

/// Whether the browser's binding cookie is the one its sign-in was started with.
fn bound_to(binding: Option<&str>, expected: &str) -> bool {
    binding.is_some_and(|value| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            fingerprint(value).as_bytes(),
            expected.as_bytes(),
        )
        .is_ok()
    })
}

/// A claim's text, trimmed; `None` when missing, empty or null. Another type or an overlong or
/// control-character value is an error naming the claim.
fn text_claim(claims: &Map<String, Value>, claim: &str) -> Result<Option<String>, IdTokenError> {
    let problem = |problem: &str| IdTokenError::Claim {
        claim: claim.to_owned(),
        problem: problem.to_owned(),
    };
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let text = text.trim();
            if text.chars().count() > MAX_CLAIM_LEN || text.chars().any(char::is_control) {
                return Err(problem("is too long or has control characters"));
            }
            Ok((!text.is_empty()).then(|| text.to_owned()))
        }
        Some(_) => Err(problem("is not a string")),
    }
}

fn username(claims: &Map<String, Value>, claim: &str) -> Result<String, IdTokenError> {
    text_claim(claims, claim)?.ok_or_else(|| IdTokenError::Claim {
        claim: claim.to_owned(),
        problem: "is missing".to_owned(),
    })
}

/// The name to greet the staff member by: the name claim, else given and family name, else the
/// username. A malformed name is not worth refusing a sign-in for.
fn display_name(claims: &Map<String, Value>, claim: &str, username: &str) -> String {
    if let Ok(Some(name)) = text_claim(claims, claim) {
        return name;
    }
    let part = |claim: &str| text_claim(claims, claim).ok().flatten();
    let joined = [part("given_name"), part("family_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if joined.is_empty() {
        username.to_owned()
    } else {
        joined
    }
}

/// The groups claim: an array of names (other members are ignored), or one name; none when it is
/// missing.
fn groups_claim(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, IdTokenError> {
    let usable = |group: &str| {
        let group = group.trim();
        (!group.is_empty() && group.len() <= 1024).then(|| group.to_owned())
    };
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(group)) => Ok(usable(group).into_iter().collect()),
        Some(Value::Array(groups)) => Ok(groups
            .iter()
            .filter_map(Value::as_str)
            .filter_map(usable)
            .collect()),
        Some(_) => Err(IdTokenError::Claim {
            claim: claim.to_owned(),
            problem: "is not a list of group names".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn groups_come_as_an_array_or_one_name() {
        let read = |value: Value| groups_claim(&claims(json!({ "groups": value })), "groups");
        assert_eq!(
            read(json!(["helpdesk", " hr ", "", 7])).unwrap(),
            ["helpdesk", "hr"]
        );
        assert_eq!(read(json!("helpdesk")).unwrap(), ["helpdesk"]);
        assert!(read(json!({"a": 1})).is_err());
        assert!(
            groups_claim(&claims(json!({})), "groups")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_username_must_be_a_short_string() {
        let read = |value: Value| {
            username(
                &claims(json!({ "preferred_username": value })),
                "preferred_username",
            )
        };
        assert_eq!(read(json!(" hd-anna ")).unwrap(), "hd-anna");
        assert!(read(json!("")).is_err());
        assert!(read(json!(["hd-anna"])).is_err());
        assert!(read(json!("a\nb")).is_err());
        assert!(read(json!("x".repeat(300))).is_err());
        assert!(username(&claims(json!({})), "preferred_username").is_err());
    }

    #[test]
    fn the_name_falls_back_to_given_and_family_name_then_the_username() {
        let name = |value: Value| display_name(&claims(value), "name", "hd-anna");
        assert_eq!(name(json!({"name": "Anna Palvelu"})), "Anna Palvelu");
        assert_eq!(
            name(json!({"given_name": "Anna", "family_name": "Palvelu"})),
            "Anna Palvelu"
        );
        assert_eq!(name(json!({"name": 5})), "hd-anna");
    }

    #[test]
    fn the_binding_must_be_the_one_the_sign_in_started_with() {
        let expected = fingerprint("cookie value");
        assert!(bound_to(Some("cookie value"), &expected));
        assert!(!bound_to(Some("other value"), &expected));
        assert!(!bound_to(None, &expected));
    }
}
