//! The broker's metadata (OpenID Connect Discovery) and signing keys, cached.
//!
//! Discovery is read on first use and again after `broker.discovery_refresh`; if a refresh fails the
//! previous metadata stays in use. The broker's JWKS is read on first use, again when it is older
//! than `broker.jwks_refresh` (so a key the broker withdraws stops being trusted without a restart),
//! and again when an ID token names a key we do not know, at most once a minute, so a forged `kid`
//! cannot make the service hammer the broker. If a scheduled read of the JWKS fails, the keys read
//! before stay in use and the next token tries again.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

use super::OidcError;
use super::broker_keys::BrokerKeys;
use super::http::{FetchError, send};
use crate::clock::Clock;

/// The shortest time between two JWKS reads caused by unknown key ids.
const JWKS_REFETCH_INTERVAL: time::Duration = time::Duration::minutes(1);

/// Discovery fields openidconnect's core metadata does not carry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraMetadata {
    /// RFC 9207: the broker puts `iss` in its authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// The broker's discovery document.
pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What the relying party needs from discovery, checked once when read.
#[derive(Debug, Clone)]
pub struct Provider {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub iss_parameter_supported: bool,
}

struct Cached<T> {
    value: Arc<T>,
    fetched: OffsetDateTime,
}

/// Cached discovery and JWKS of one broker.
pub struct ProviderCache {
    issuer: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    refresh: Duration,
    jwks_refresh: Duration,
    provider: Mutex<Option<Cached<Provider>>>,
    jwks: Mutex<Option<Cached<BrokerKeys>>>,
    last_refetch: Mutex<Option<OffsetDateTime>>,
}

impl ProviderCache {
    /// A cache that reads discovery again after `refresh` and the JWKS again after `jwks_refresh`.
    pub fn new(
        issuer: Url,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        refresh: Duration,
        jwks_refresh: Duration,
    ) -> Self {
        Self {
            issuer,
            http,
            clock,
            refresh,
            jwks_refresh,
            provider: Mutex::new(None),
            jwks: Mutex::new(None),
            last_refetch: Mutex::new(None),
        }
    }

    /// The broker's metadata, read again when older than the refresh interval.
    pub async fn provider(&self) -> Result<Arc<Provider>, OidcError> {
        let mut cached = self.provider.lock().await;
        let now = self.clock.now();
        if let Some(entry) = cached.as_ref()
            && now - entry.fetched < self.refresh
        {
            return Ok(entry.value.clone());
        }
        match self.discover().await {
            Ok(provider) => {
                let provider = Arc::new(provider);
                *cached = Some(Cached {
                    value: provider.clone(),
                    fetched: now,
                });
                Ok(provider)
            }
            Err(error) => match cached.as_ref() {
                Some(stale) => {
                    tracing::warn!(%error, "broker discovery refresh failed; keeping the previous metadata");
                    Ok(stale.value.clone())
                }
                None => Err(error),
            },
        }
    }

    /// The broker's signing keys, read on first use and again when older than `jwks_refresh`. A
    /// failed refresh keeps the keys read before (the broker is more likely down than rotated) and
    /// is tried again on the next call.
    pub async fn jwks(&self) -> Result<Arc<BrokerKeys>, OidcError> {
        let mut cached = self.jwks.lock().await;
        let now = self.clock.now();
        if let Some(entry) = cached.as_ref()
            && now - entry.fetched < self.jwks_refresh
        {
            return Ok(entry.value.clone());
        }
        match self.fetch_jwks().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *cached = Some(Cached {
                    value: keys.clone(),
                    fetched: now,
                });
                Ok(keys)
            }
            Err(error) => match cached.as_ref() {
                Some(stale) => {
                    tracing::warn!(%error, "broker keys refresh failed; keeping the keys read before");
                    Ok(stale.value.clone())
                }
                None => Err(error),
            },
        }
    }

    /// Reads the JWKS again because a token named an unknown key. Returns `None` when an unknown key
    /// already caused a read less than a minute ago, so the caller gives up instead of asking again.
    pub async fn refetch_jwks(&self) -> Result<Option<Arc<BrokerKeys>>, OidcError> {
        let now = self.clock.now();
        {
            let mut last = self.last_refetch.lock().await;
            if last.is_some_and(|at| now - at < JWKS_REFETCH_INTERVAL) {
                return Ok(None);
            }
            *last = Some(now);
        }
        let mut cached = self.jwks.lock().await;
        let keys = Arc::new(self.fetch_jwks().await?);
        *cached = Some(Cached {
            value: keys.clone(),
            fetched: now,
        });
        Ok(Some(keys))
    }

    async fn discover(&self) -> Result<Provider, OidcError> {
        let url = discovery_url(&self.issuer);
        let body = send(self.http.get(url.clone()), url.as_str())
            .await
            .map_err(|error| unavailable("discovery", error))?;
        let metadata: Metadata =
            serde_json::from_slice(&body).map_err(|error| OidcError::BrokerMisbehaved {
                step: "discovery",
                detail: format!("metadata is not valid: {error}"),
            })?;
        provider_from(&self.issuer, &metadata)
    }

    async fn fetch_jwks(&self) -> Result<BrokerKeys, OidcError> {
        let provider = self.provider().await?;
        let url = provider.jwks_uri.as_str();
        let body = send(self.http.get(url), url)
            .await
            .map_err(|error| unavailable("jwks", error))?;
        BrokerKeys::from_jwks(&body).map_err(|problem| OidcError::BrokerMisbehaved {
            step: "jwks",
            detail: format!("key set is not valid: {problem}"),
        })
    }
}

fn unavailable(step: &'static str, error: FetchError) -> OidcError {
    OidcError::BrokerUnavailable {
        step,
        detail: error.to_string(),
    }
}

/// `{issuer}/.well-known/openid-configuration`, keeping the issuer's path (OpenID Connect Discovery §4).
pub fn discovery_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = format!(
        "{}/.well-known/openid-configuration",
        issuer.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url
}

fn provider_from(expected_issuer: &Url, metadata: &Metadata) -> Result<Provider, OidcError> {
    let misbehaved = |detail: String| OidcError::BrokerMisbehaved {
        step: "discovery",
        detail,
    };
    let issuer = metadata.issuer().as_str();
    // The issuer must be exactly the configured one (OpenID Connect Discovery §4.3), else a
    // compromised or mistyped endpoint could stand in for another broker.
    if !same_issuer(issuer, expected_issuer.as_str()) {
        return Err(misbehaved(format!(
            "metadata names issuer `{issuer}`, configured is `{expected_issuer}`"
        )));
    }
    let token_endpoint = metadata
        .token_endpoint()
        .ok_or_else(|| misbehaved("metadata has no token_endpoint".to_owned()))?;
    Ok(Provider {
        issuer: issuer.to_owned(),
        authorization_endpoint: metadata.authorization_endpoint().url().clone(),
        token_endpoint: token_endpoint.url().clone(),
        jwks_uri: metadata.jwks_uri().url().clone(),
        iss_parameter_supported: metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported,
    })
}

/// Issuers compare as strings; the URL parser adds a trailing `/` to bare origins, so that one
/// difference is forgiven.
pub fn same_issuer(a: &str, b: &str) -> bool {
    a == b || a.trim_end_matches('/') == b.trim_end_matches('/') && (a.len().abs_diff(b.len()) == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_keeps_the_issuer_path() {
        let issuer = Url::parse("https://broker.example/realms/ftn").unwrap();
        assert_eq!(
            discovery_url(&issuer).as_str(),
            "https://broker.example/realms/ftn/.well-known/openid-configuration"
        );
        let bare = Url::parse("https://broker.example").unwrap();
        assert_eq!(
            discovery_url(&bare).as_str(),
            "https://broker.example/.well-known/openid-configuration"
        );
    }

    #[test]
    fn issuers_must_match_exactly_but_for_a_trailing_slash() {
        assert!(same_issuer("https://a.example", "https://a.example/"));
        assert!(same_issuer("https://a.example/r", "https://a.example/r"));
        assert!(!same_issuer("https://a.example/r", "https://a.example/r2"));
        assert!(!same_issuer("https://a.example/r//", "https://a.example/r"));
    }
}
