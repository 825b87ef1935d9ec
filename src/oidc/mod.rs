//! The relying party: everything the service says to and checks of the identification broker.
//!
//! [`RelyingParty::start`] prepares an authorization request (state, nonce, PKCE, signed request
//! object); [`RelyingParty::finish`] takes the code from the callback through the token request
//! (`private_key_jwt`) and the ID token checks to a [`VerifiedIdentity`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::config::{AssertionAudience, BrokerSettings};
use crate::i18n::Lang;
use crate::identity::VerifiedIdentity;
use crate::keys::{KeyError, ServiceKeys};
use crate::metrics::Metrics;

pub mod broker_keys;
pub mod claims;
pub mod discovery;
pub mod http;
pub mod id_token;
pub mod jwe;
pub mod request;
pub mod settings;
pub mod token;
pub mod transaction;

use claims::ClaimNames;
use discovery::{Provider, ProviderCache, same_issuer};
use id_token::{Expectations, IdTokenError};
use request::{AuthorizationParams, Pkce};

/// Something went wrong between the service and the broker. Each variant says what to show.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The broker did not answer, timed out or answered 5xx: "temporarily unavailable, try again".
    #[error("broker unavailable at {step}: {detail}")]
    BrokerUnavailable { step: &'static str, detail: String },
    /// The broker answered something unusable (bad metadata, bad JSON): "identification failed".
    #[error("broker answer unusable at {step}: {detail}")]
    BrokerMisbehaved { step: &'static str, detail: String },
    /// The token endpoint refused the code or the client: "identification failed, start again".
    #[error("token request refused (HTTP {status}): {error} {description}")]
    TokenRefused {
        status: u16,
        error: String,
        description: String,
    },
    /// The callback's `iss` is not our broker (RFC 9207 mix-up defence), or is missing although the
    /// broker promised it: refuse the callback.
    #[error("callback issuer check failed: {0}")]
    CallbackIssuer(&'static str),
    /// The ID token was refused: "identification failed".
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// The service's own key could not sign: a deployment problem, "internal error".
    #[error("signing failed: {0}")]
    Signing(KeyError),
    /// The HTTP client could not be built: a deployment problem.
    #[error("HTTP client: {0}")]
    Client(String),
}

// By hand rather than `#[from]`, which would also make the key error the `source` and so print its
// text twice under `{:#}`: the message above already includes it.
impl From<KeyError> for OidcError {
    fn from(error: KeyError) -> Self {
        OidcError::Signing(error)
    }
}

/// What the callback needs to finish a login; stored in the login transaction, never shown.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: Option<String>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingLogin(..)")
    }
}

/// A prepared authorization request.
#[derive(Debug)]
pub struct LoginStart {
    /// Where to send the browser.
    pub url: Url,
    pub pending: PendingLogin,
}

/// The service as an OpenID Connect client of one broker.
pub struct RelyingParty {
    settings: BrokerSettings,
    issuer: Url,
    redirect_uri: String,
    claim_names: ClaimNames,
    keys: Arc<ServiceKeys>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cache: ProviderCache,
    metrics: Arc<Metrics>,
}

impl RelyingParty {
    /// A relying party for `settings.issuer` that receives codes at `redirect_uri`.
    pub fn new(
        settings: &BrokerSettings,
        issuer: Url,
        redirect_uri: Url,
        keys: Arc<ServiceKeys>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<RelyingParty, OidcError> {
        let http = http::client(settings.http_timeout.get())
            .map_err(|error| OidcError::Client(error.to_string()))?;
        Ok(RelyingParty {
            claim_names: ClaimNames::resolve(settings.preset, &settings.claims),
            cache: ProviderCache::new(
                issuer.clone(),
                http.clone(),
                clock.clone(),
                settings.discovery_refresh.get(),
                settings.jwks_refresh.get(),
            ),
            settings: settings.clone(),
            issuer,
            redirect_uri: redirect_uri.to_string(),
            keys,
            http,
            clock,
            metrics,
        })
    }

    /// Runs one step with the broker, timed in `tunnus_broker_call_duration_seconds{step}` and its
    /// failures counted in `tunnus_broker_errors_total{step,kind}`.
    async fn timed<T>(
        &self,
        step: &'static str,
        call: impl std::future::Future<Output = Result<T, OidcError>>,
    ) -> Result<T, OidcError> {
        let started = std::time::Instant::now();
        let result = call.await;
        self.metrics.observe(
            "tunnus_broker_call_duration_seconds",
            &[("step", step)],
            started.elapsed(),
        );
        if let Err(error) = &result {
            let kind = match error {
                OidcError::BrokerUnavailable { .. } => "unavailable",
                _ => "refused",
            };
            self.metrics.count(
                "tunnus_broker_errors_total",
                &[("step", step), ("kind", kind)],
            );
        }
        result
    }

    /// Whether the broker's discovery document can be read (for readiness).
    pub async fn ready(&self) -> Result<(), OidcError> {
        self.cache.provider().await.map(|_| ())
    }

    /// The broker's origin, for the pages' `form-action` policy.
    pub fn broker_origin(&self) -> String {
        self.issuer.origin().ascii_serialization()
    }

    /// Prepares an authorization request in the person's language.
    pub async fn start(&self, lang: Lang) -> Result<LoginStart, OidcError> {
        self.timed("start", self.prepare(lang)).await
    }

    async fn prepare(&self, lang: Lang) -> Result<LoginStart, OidcError> {
        let provider = self.cache.provider().await?;
        let pkce = self.settings.pkce.then(Pkce::new);
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
            acr_values: (!self.settings.acr_values.is_empty())
                .then(|| self.settings.acr_values.join(" ")),
            ui_locales: self.settings.ui_locales.then(|| lang.code().to_owned()),
            prompt: (!self.settings.prompt.is_empty()).then(|| self.settings.prompt.clone()),
            code_challenge: pkce.as_ref().map(|p| p.challenge.clone()),
            code_challenge_method: pkce.as_ref().map(|_| "S256"),
        };
        let request_object = if self.settings.request_object {
            Some(request::request_object(
                &self.keys.signing,
                &params,
                &provider.issuer,
                self.clock.now(),
            )?)
        } else {
            None
        };
        let url = request::authorization_url(
            &provider.authorization_endpoint,
            &params,
            request_object.as_deref(),
        );
        Ok(LoginStart {
            url,
            pending: PendingLogin {
                state: params.state,
                nonce: params.nonce,
                pkce_verifier: pkce.map(|p| p.verifier),
            },
        })
    }

    /// RFC 9207: an `iss` in the authorization response must be our broker's; when the broker says it
    /// always sends one, it must be there.
    pub async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), OidcError> {
        let provider = self.cache.provider().await?;
        match iss {
            Some(iss) if same_issuer(iss, &provider.issuer) => Ok(()),
            Some(_) => Err(OidcError::CallbackIssuer(
                "iss is not the configured broker",
            )),
            None if provider.iss_parameter_supported => Err(OidcError::CallbackIssuer(
                "iss is missing although the broker sends it",
            )),
            None => Ok(()),
        }
    }

    /// Exchanges `code` and validates the ID token against `pending`.
    pub async fn finish(
        &self,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<VerifiedIdentity, OidcError> {
        self.timed("finish", self.identify(code, pending)).await
    }

    async fn identify(
        &self,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<VerifiedIdentity, OidcError> {
        let provider = self.cache.provider().await?;
        let raw = self.exchange(&provider, code, pending).await?;
        let jws = id_token::decrypt(
            &raw,
            &self.keys.decryption_keys(),
            &self.settings.id_token_encryption,
        )?;
        let jwks = self.cache.jwks().await?;
        match self.verify(&jws, &jwks, &provider, pending) {
            Err(OidcError::IdToken(IdTokenError::UnknownKey)) => {
                // The broker may have rotated its signing key since we read its JWKS.
                match self.cache.refetch_jwks().await? {
                    Some(fresh) => self.verify(&jws, &fresh, &provider, pending),
                    None => Err(IdTokenError::UnknownKey.into()),
                }
            }
            other => other,
        }
    }

    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<String, OidcError> {
        let audience = match self.settings.client_assertion_audience {
            AssertionAudience::TokenEndpoint => provider.token_endpoint.as_str(),
            AssertionAudience::Issuer => provider.issuer.as_str(),
        };
        let assertion = request::client_assertion(
            &self.keys.signing,
            &self.settings.client_id,
            audience,
            self.clock.now(),
        )?;
        token::exchange(
            &self.http,
            &token::TokenRequest {
                token_endpoint: provider.token_endpoint.as_str(),
                code,
                redirect_uri: &self.redirect_uri,
                client_id: &self.settings.client_id,
                code_verifier: pending.pkce_verifier.as_deref(),
                client_auth: token::ClientAuthentication::PrivateKeyJwt {
                    assertion: &assertion,
                },
            },
        )
        .await
    }

    fn verify(
        &self,
        jws: &str,
        jwks: &broker_keys::BrokerKeys,
        provider: &Provider,
        pending: &PendingLogin,
    ) -> Result<VerifiedIdentity, OidcError> {
        let expect = Expectations {
            issuer: &provider.issuer,
            client_id: &self.settings.client_id,
            nonce: &pending.nonce,
            accepted_acr: &self.settings.accepted_acr,
            clock_skew: time::Duration::try_from(self.settings.clock_skew.get())
                .unwrap_or(time::Duration::ZERO),
            max_age: time::Duration::try_from(self.settings.max_token_age.get())
                .unwrap_or(time::Duration::ZERO),
            now: self.clock.now(),
            claim_names: &self.claim_names,
            test_identities: self.settings.test_identities,
        };
        Ok(id_token::verify(jws, jwks, &expect)?)
    }
}
