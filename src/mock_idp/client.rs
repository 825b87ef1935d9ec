//! The registered client's keys: where they come from, and checking what the client signed with them
//! (request objects, client assertions).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lc_rs::rsa::PublicEncryptingKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use url::Url;

use super::realm::lock;
use crate::oidc::jwe::{self, KeyManagementAlg};

/// JWS algorithms accepted for what the client signs. Never `none`, never HMAC with a public key.
pub(crate) const ALLOWED_CLIENT_ALGS: [&str; 3] = ["RS256", "PS256", "ES256"];

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// Why something the client signed is not accepted, or its keys are not at hand. The messages are
/// safe to show to testers: they never contain token contents or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientJwtError {
    /// Not a compact JWS with a JSON header and payload: the client must send a signed JWT.
    #[error("the JWT is malformed")]
    Malformed,
    /// The header names an algorithm outside RS256/PS256/ES256: the client must sign with one of them.
    #[error("the JWT is signed with a refused algorithm ({alg})")]
    AlgorithmRefused { alg: String },
    /// The header carries `crit`: the client must not require extensions.
    #[error("the JWT header has unsupported critical parameters")]
    CriticalHeader,
    /// No client key fits the header's `kid` and `alg`: the client must publish or register its key.
    #[error("no key of the client matches the JWT's kid and alg")]
    NoMatchingKey,
    /// A client key fits but the signature does not verify.
    #[error("signature on the JWT does not verify with the client's key")]
    BadSignature,
    /// No keys are registered for the client: configure `jwks` or `jwks_url`.
    #[error("the client has no registered keys")]
    NoKeys,
    /// The client's JWKS could not be fetched: check that `jwks_url` serves a JWKS.
    #[error("the client's JWKS could not be fetched: {reason}")]
    Fetch { reason: String },
}

/// True for a JSON object with a `keys` array.
pub(crate) fn is_jwks(value: &Value) -> bool {
    value.get("keys").is_some_and(Value::is_array)
}

/// The client's keys: registered statically, or fetched from its JWKS URL and cached.
pub(crate) struct ClientKeys {
    url: Option<Url>,
    registered: Mutex<Option<Value>>,
    fetched: tokio::sync::Mutex<Option<Value>>,
    http: reqwest::Client,
    fetches: AtomicUsize,
}

/// Keys at hand, and whether fetching again could find others.
struct KeySet {
    keys: Vec<Value>,
    refetchable: bool,
}

impl ClientKeys {
    pub(crate) fn new(url: Option<Url>, registered: Option<Value>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url,
            registered: Mutex::new(registered),
            fetched: tokio::sync::Mutex::new(None),
            http,
            fetches: AtomicUsize::new(0),
        })
    }

    /// Registers keys statically from now on.
    pub(crate) fn set_static(&self, jwks: Value) {
        *lock(&self.registered) = Some(jwks);
    }

    /// How many times the JWKS URL was fetched.
    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The keys: static ones if registered, else the cached JWKS (fetched now when missing or when
    /// `refresh` asks for it).
    async fn key_set(&self, refresh: bool) -> Result<KeySet, ClientJwtError> {
        if let Some(jwks) = lock(&self.registered).as_ref() {
            return Ok(KeySet {
                keys: keys_of(jwks),
                refetchable: false,
            });
        }
        let url = self.url.as_ref().ok_or(ClientJwtError::NoKeys)?;
        let mut cache = self.fetched.lock().await;
        if !refresh && let Some(jwks) = cache.as_ref() {
            return Ok(KeySet {
                keys: keys_of(jwks),
                refetchable: true,
            });
        }
        let jwks = self.fetch(url).await?;
        let keys = keys_of(&jwks);
        *cache = Some(jwks);
        Ok(KeySet {
            keys,
            refetchable: true,
        })
    }

    async fn fetch(&self, url: &Url) -> Result<Value, ClientJwtError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%url, "fetching the client's JWKS");
        let failed = |reason: String| ClientJwtError::Fetch { reason };
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| failed(error.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP status {}", response.status())));
        }
        let jwks: Value = response
            .json()
            .await
            .map_err(|_| failed("the response is not JSON".to_owned()))?;
        if !is_jwks(&jwks) {
            return Err(failed("the response is not a JWKS".to_owned()));
        }
        Ok(jwks)
    }

    /// Verifies a JWT the client signed and returns its claims, without judging them. An unknown
    /// `kid` makes a fetched JWKS be fetched again once.
    pub(crate) async fn verify(&self, token: &str) -> Result<Map<String, Value>, ClientJwtError> {
        let header = JwsHeader::parse(token)?;
        let set = self.key_set(false).await?;
        match verify_with(token, &header, &set.keys) {
            Err(ClientJwtError::NoMatchingKey) if set.refetchable => {
                let fresh = self.key_set(true).await?;
                verify_with(token, &header, &fresh.keys)
            }
            outcome => outcome,
        }
    }

    /// The client's RSA encryption key for `alg`: the first `use: "enc"` RSA key whose `alg` is
    /// `alg` or unset. Returns its `kid` and the public key.
    pub(crate) async fn encryption_key(
        &self,
        alg: KeyManagementAlg,
    ) -> Result<(Option<String>, PublicEncryptingKey), String> {
        let set = self
            .key_set(false)
            .await
            .map_err(|error| error.to_string())?;
        let alg_name = key_management_name(alg);
        let key = set
            .keys
            .iter()
            .find(|key| {
                str_of(key, "kty") == Some("RSA")
                    && str_of(key, "use") == Some("enc")
                    && str_of(key, "alg").is_none_or(|name| name == alg_name)
            })
            .ok_or_else(|| format!("the client publishes no RSA encryption key for {alg_name}"))?;
        let (Some(n), Some(e)) = (str_of(key, "n"), str_of(key, "e")) else {
            return Err("the client's encryption key has no n or e".to_owned());
        };
        let public = jwe::rsa_public_key_from_jwk(n, e)
            .map_err(|_| "the client's encryption key is not a usable RSA key".to_owned())?;
        Ok((str_of(key, "kid").map(str::to_owned), public))
    }
}

/// The name of a key management algorithm in JOSE headers and JWKs.
pub(crate) fn key_management_name(alg: KeyManagementAlg) -> &'static str {
    match alg {
        KeyManagementAlg::RsaOaep => "RSA-OAEP",
        KeyManagementAlg::RsaOaep256 => "RSA-OAEP-256",
    }
}

fn keys_of(jwks: &Value) -> Vec<Value> {
    jwks.get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn str_of<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// The protected header fields that choose the key.
pub(crate) struct JwsHeader {
    alg: Algorithm,
    alg_name: &'static str,
    kid: Option<String>,
}

impl JwsHeader {
    /// Reads the header of a compact JWS and refuses algorithms outside the allow-list.
    pub(crate) fn parse(token: &str) -> Result<Self, ClientJwtError> {
        let mut parts = token.split('.');
        let (Some(encoded), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ClientJwtError::Malformed);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| ClientJwtError::Malformed)?;
        let header: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|_| ClientJwtError::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(ClientJwtError::Malformed)?;
        let (alg, alg_name) = match alg {
            "RS256" => (Algorithm::RS256, "RS256"),
            "PS256" => (Algorithm::PS256, "PS256"),
            "ES256" => (Algorithm::ES256, "ES256"),
            other => {
                return Err(ClientJwtError::AlgorithmRefused {
                    alg: other.chars().take(20).collect(),
                });
            }
        };
        if header.contains_key("crit") {
            return Err(ClientJwtError::CriticalHeader);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(ClientJwtError::Malformed),
        };
        Ok(Self { alg, alg_name, kid })
    }
}

/// Verifies `token` with the first of `keys` that fits its header and returns the claims.
pub(crate) fn verify_with(
    token: &str,
    header: &JwsHeader,
    keys: &[Value],
) -> Result<Map<String, Value>, ClientJwtError> {
    let candidates: Vec<DecodingKey> = keys
        .iter()
        .filter(|key| fits(key, header))
        .filter_map(|key| decoding_key(key, header.alg))
        .collect();
    if candidates.is_empty() {
        return Err(ClientJwtError::NoMatchingKey);
    }
    let mut validation = Validation::new(header.alg);
    // Time and audience are judged by the caller against the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let mut outcome = Err(ClientJwtError::BadSignature);
    for key in &candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(error) => {
                if !matches!(
                    error.kind(),
                    jsonwebtoken::errors::ErrorKind::InvalidSignature
                ) {
                    outcome = Err(ClientJwtError::Malformed);
                }
            }
        }
    }
    outcome
}

/// A key fits when it may sign (`use` is absent or `sig`), its `kid` and `alg` agree with the
/// header's, and its type is the algorithm's.
fn fits(key: &Value, header: &JwsHeader) -> bool {
    let use_ok = str_of(key, "use").is_none_or(|u| u == "sig");
    let kid_ok = header
        .kid
        .as_deref()
        .is_none_or(|kid| str_of(key, "kid") == Some(kid));
    let alg_ok = str_of(key, "alg").is_none_or(|alg| alg == header.alg_name);
    let kty_ok = match header.alg {
        Algorithm::ES256 => str_of(key, "kty") == Some("EC") && str_of(key, "crv") == Some("P-256"),
        _ => str_of(key, "kty") == Some("RSA"),
    };
    use_ok && kid_ok && alg_ok && kty_ok
}

fn decoding_key(key: &Value, alg: Algorithm) -> Option<DecodingKey> {
    match alg {
        Algorithm::ES256 => {
            DecodingKey::from_ec_components(str_of(key, "x")?, str_of(key, "y")?).ok()
        }
        _ => {
            let n = str_of(key, "n")?;
            let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
            let significant = modulus.iter().skip_while(|&&b| b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return None;
            }
            DecodingKey::from_rsa_components(n, str_of(key, "e")?).ok()
        }
    }
}

/// The value of `aud` is `expected`, or an array containing it.
pub(crate) fn audience_contains(claims: &Map<String, Value>, expected: &[&str]) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => expected.contains(&aud.as_str()),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| expected.contains(&aud)),
        _ => false,
    }
}

/// An integer claim (NumericDate), if present and an integer.
pub(crate) fn time_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims
        .get(name)
        .and_then(|value| value.as_i64().or_else(|| value.as_f64().map(|f| f as i64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn unsigned_and_hmac_headers_are_refused() {
        for alg in ["none", "HS256", "RS512"] {
            let token = format!(
                "{}.{}.",
                encode(&serde_json::json!({"alg": alg})),
                encode(&serde_json::json!({}))
            );
            let refused = JwsHeader::parse(&token).err();
            assert_eq!(
                refused,
                Some(ClientJwtError::AlgorithmRefused {
                    alg: alg.to_owned()
                })
            );
        }
    }

    #[test]
    fn header_with_crit_is_refused() {
        let header = serde_json::json!({"alg": "RS256", "crit": ["exp"]});
        let token = format!("{}.e30.c2ln", encode(&header));
        assert_eq!(
            JwsHeader::parse(&token).err(),
            Some(ClientJwtError::CriticalHeader)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for token in ["", "a.b", "a.b.c.d", "!!!.e30.c2ln", "e30.e30.c2ln"] {
            assert_eq!(
                JwsHeader::parse(token).err(),
                Some(ClientJwtError::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn encryption_keys_and_mismatched_keys_do_not_verify_signatures() {
        let header = JwsHeader {
            alg: Algorithm::RS256,
            alg_name: "RS256",
            kid: Some("k1".to_owned()),
        };
        let rsa = |extra: Value| {
            let mut key = serde_json::json!({"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"});
            if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
                key.extend(extra.clone());
            }
            key
        };
        assert!(fits(&rsa(serde_json::json!({})), &header));
        assert!(!fits(&rsa(serde_json::json!({"use": "enc"})), &header));
        assert!(!fits(&rsa(serde_json::json!({"alg": "PS256"})), &header));
        assert!(!fits(&rsa(serde_json::json!({"kid": "k2"})), &header));
        assert!(!fits(
            &serde_json::json!({"kty": "oct", "kid": "k1", "k": "AQAB"}),
            &header
        ));
    }

    #[test]
    fn short_rsa_keys_are_not_used() {
        let short = serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"});
        assert!(decoding_key(&short, Algorithm::RS256).is_none());
        let long = serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xffu8; 256]), "e": "AQAB"});
        assert!(decoding_key(&long, Algorithm::RS256).is_some());
    }

    #[test]
    fn audience_is_a_string_or_an_array_member() {
        let claims = |aud: Value| {
            let mut map = Map::new();
            map.insert("aud".to_owned(), aud);
            map
        };
        assert!(audience_contains(&claims(serde_json::json!("a")), &["a"]));
        assert!(audience_contains(
            &claims(serde_json::json!(["b", "a"])),
            &["x", "a"]
        ));
        assert!(!audience_contains(
            &claims(serde_json::json!(["b"])),
            &["a"]
        ));
        assert!(!audience_contains(&Map::new(), &["a"]));
    }
}
