//! `[broker]`: the identification broker and how the service is registered there.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::claims::{ClaimOverrides, Preset};
use super::jwe::{ContentEncryption, KeyManagementAlg};
use crate::config::{ConfigError, HumanDuration, Mode, require_https_unless_loopback};
use crate::keys::SigningAlg;

/// Assurance level "substantial" (bank credentials, mobile certificate).
pub const ACR_SUBSTANTIAL: &str = "http://ftn.ficora.fi/2017/loa2";
/// Assurance level "high".
pub const ACR_HIGH: &str = "http://ftn.ficora.fi/2017/loa3";

/// `[broker]`: the identification broker and how the service is registered there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// The broker's issuer identifier; discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: Option<Url>,
    /// The client id the broker gave this service.
    pub client_id: String,
    /// Which broker's claim names to expect.
    pub preset: Preset,
    /// Scopes besides `openid` (OP needs `weak` for services that hand out passwords).
    pub scopes: Vec<String>,
    /// Assurance levels asked for.
    pub acr_values: Vec<String>,
    /// Assurance levels accepted in the ID token.
    pub accepted_acr: Vec<String>,
    /// Send the authorization request as a signed request object (RFC 9101).
    pub request_object: bool,
    /// Tell the broker the person's language.
    pub ui_locales: bool,
    /// Send a PKCE challenge (S256).
    pub pkce: bool,
    /// `prompt` sent to the broker; empty for none.
    pub prompt: String,
    /// Algorithm of request objects and client assertions.
    pub signing_alg: SigningAlg,
    /// The `aud` of client assertions: the token endpoint URL (most brokers) or the issuer (Idura).
    pub client_assertion_audience: AssertionAudience,
    /// How the broker encrypts ID tokens to this service.
    pub id_token_encryption: IdTokenEncryption,
    /// Clock difference tolerated in token times.
    pub clock_skew: HumanDuration,
    /// Oldest ID token (by `iat`) accepted.
    pub max_token_age: HumanDuration,
    /// Accept temporary and test identity codes (individual numbers 900–999). Test environments only.
    pub test_identities: bool,
    /// Timeout of every call to the broker.
    pub http_timeout: HumanDuration,
    /// How long discovery is cached before it is read again.
    pub discovery_refresh: HumanDuration,
    /// How long the broker's keys (JWKS) are trusted before they are read again, so a key the
    /// broker withdraws stops being accepted. Between 1 minute and 24 hours.
    pub jwks_refresh: HumanDuration,
    /// Claim names that override the preset.
    pub claims: ClaimOverrides,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: String::new(),
            preset: Preset::Keycloak,
            scopes: Vec::new(),
            acr_values: vec![ACR_SUBSTANTIAL.to_owned()],
            accepted_acr: vec![ACR_SUBSTANTIAL.to_owned(), ACR_HIGH.to_owned()],
            request_object: true,
            ui_locales: true,
            pkce: true,
            prompt: "login".to_owned(),
            signing_alg: SigningAlg::RS256,
            client_assertion_audience: AssertionAudience::TokenEndpoint,
            id_token_encryption: IdTokenEncryption::default(),
            clock_skew: HumanDuration(Duration::from_secs(60)),
            max_token_age: HumanDuration(Duration::from_secs(600)),
            test_identities: false,
            http_timeout: HumanDuration(Duration::from_secs(10)),
            discovery_refresh: HumanDuration(Duration::from_secs(3600)),
            jwks_refresh: HumanDuration(Duration::from_secs(3600)),
            claims: ClaimOverrides::default(),
        }
    }
}

/// `[broker.id_token_encryption]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdTokenEncryption {
    /// Refuse ID tokens that are not encrypted. Leave on for every real broker.
    pub required: bool,
    /// Key management algorithm registered at the broker.
    pub alg: KeyManagementAlg,
    /// Content encryption registered at the broker.
    pub enc: ContentEncryption,
}

impl Default for IdTokenEncryption {
    fn default() -> Self {
        Self {
            required: true,
            alg: KeyManagementAlg::RsaOaep,
            enc: ContentEncryption::A128CbcHs256,
        }
    }
}

/// What client assertions name as their audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionAudience {
    TokenEndpoint,
    Issuer,
}

impl BrokerSettings {
    /// Rejects broker settings that cannot work, naming the key.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        let issuer = self
            .issuer
            .as_ref()
            .ok_or_else(|| ConfigError::invalid("broker.issuer", "is required"))?;
        require_https_unless_loopback("broker.issuer", issuer)?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::invalid(
                "broker.issuer",
                "must not have a query or fragment",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::invalid("broker.client_id", "is required"));
        }
        if self.accepted_acr.is_empty() {
            return Err(ConfigError::invalid(
                "broker.accepted_acr",
                "must list at least one assurance level",
            ));
        }
        if self.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            return Err(ConfigError::invalid(
                "broker.scopes",
                "each scope must be one word",
            ));
        }
        if self.clock_skew.get() > Duration::from_secs(300) {
            return Err(ConfigError::invalid(
                "broker.clock_skew",
                "must be at most 5 minutes",
            ));
        }
        if self.http_timeout.get().is_zero() {
            return Err(ConfigError::invalid(
                "broker.http_timeout",
                "must be more than zero",
            ));
        }
        let jwks_refresh = self.jwks_refresh.get();
        if jwks_refresh < Duration::from_secs(60) || jwks_refresh > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::invalid(
                "broker.jwks_refresh",
                "must be between 1 minute and 24 hours",
            ));
        }
        if !matches!(self.prompt.as_str(), "" | "login" | "consent" | "none") {
            return Err(ConfigError::invalid(
                "broker.prompt",
                "must be \"\", \"login\", \"consent\" or \"none\"",
            ));
        }
        if mode == Mode::Serve && !self.id_token_encryption.required {
            return Err(ConfigError::invalid(
                "broker.id_token_encryption.required",
                "must be true outside development: FTN brokers encrypt ID tokens",
            ));
        }
        Ok(())
    }
}
