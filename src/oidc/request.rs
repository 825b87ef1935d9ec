//! What the service signs for the broker: the authorization request object (RFC 9101) and the
//! `private_key_jwt` client assertion (RFC 7523, OpenID Connect Core §9).

use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use crate::keys::{KeyError, SigningKey};

/// How long a request object is valid (FTN brokers accept at most 10 minutes).
pub const REQUEST_OBJECT_LIFETIME: time::Duration = time::Duration::minutes(5);
/// How long a client assertion is valid (at most 5 minutes).
pub const CLIENT_ASSERTION_LIFETIME: time::Duration = time::Duration::minutes(2);

/// The value of `client_assertion_type` for `private_key_jwt`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A PKCE pair: the verifier stays in the login transaction, the S256 challenge goes to the broker.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier of 256 random bits and its S256 challenge.
    pub fn new() -> Pkce {
        let verifier = crate::random::token();
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()))
                .as_str()
                .to_owned();
        Pkce {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The parameters of one authorization request.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationParams {
    pub client_id: String,
    pub response_type: &'static str,
    pub scope: String,
    pub redirect_uri: String,
    pub state: String,
    pub nonce: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_locales: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<&'static str>,
}

#[derive(Serialize)]
struct RequestObjectClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(flatten)]
    params: &'a AuthorizationParams,
}

/// The signed request object carrying `params`, addressed to `issuer`.
pub fn request_object(
    key: &SigningKey,
    params: &AuthorizationParams,
    issuer: &str,
    now: OffsetDateTime,
) -> Result<String, KeyError> {
    let claims = RequestObjectClaims {
        iss: &params.client_id,
        aud: issuer,
        jti: crate::random::token(),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: (now + REQUEST_OBJECT_LIFETIME).unix_timestamp(),
        params,
    };
    key.sign_jwt("JWT", &claims)
}

/// The URL the browser is sent to.
///
/// With a request object, everything is inside the signed JWT and the query repeats only what OAuth
/// and OpenID Connect Core §6.1 require outside it (`client_id`, `response_type`, `scope`); brokers
/// that read only the request object ignore those. Without one, the parameters go in the query.
pub fn authorization_url(
    endpoint: &Url,
    params: &AuthorizationParams,
    request_object: Option<&str>,
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("client_id", &params.client_id);
        query.append_pair("response_type", params.response_type);
        query.append_pair("scope", &params.scope);
        match request_object {
            Some(jwt) => {
                query.append_pair("request", jwt);
            }
            None => {
                query.append_pair("redirect_uri", &params.redirect_uri);
                query.append_pair("state", &params.state);
                query.append_pair("nonce", &params.nonce);
                let optional = [
                    ("acr_values", &params.acr_values),
                    ("ui_locales", &params.ui_locales),
                    ("prompt", &params.prompt),
                    ("code_challenge", &params.code_challenge),
                ];
                for (name, value) in optional {
                    if let Some(value) = value {
                        query.append_pair(name, value);
                    }
                }
                if let Some(method) = params.code_challenge_method {
                    query.append_pair("code_challenge_method", method);
                }
            }
        }
    }
    url
}

#[derive(Serialize)]
struct ClientAssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

/// A `private_key_jwt` client assertion: `iss = sub = client_id`, a unique `jti`, short `exp`.
pub fn client_assertion(
    key: &SigningKey,
    client_id: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<String, KeyError> {
    let claims = ClientAssertionClaims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        jti: crate::random::token(),
        iat: now.unix_timestamp(),
        exp: (now + CLIENT_ASSERTION_LIFETIME).unix_timestamp(),
    };
    key.sign_jwt("JWT", &claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningAlg;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    fn params() -> AuthorizationParams {
        let pkce = Pkce::new();
        AuthorizationParams {
            client_id: "tunnus".into(),
            response_type: "code",
            scope: "openid weak".into(),
            redirect_uri: "https://tunnus.example/callback".into(),
            state: crate::random::token(),
            nonce: crate::random::token(),
            acr_values: Some("http://ftn.ficora.fi/2017/loa2".into()),
            ui_locales: Some("sv".into()),
            prompt: Some("login".into()),
            code_challenge: Some(pkce.challenge),
            code_challenge_method: Some("S256"),
        }
    }

    fn decode_part(jwt: &str, index: usize) -> Value {
        let part = jwt.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn verify(jwt: &str, key: &SigningKey) -> Value {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(jwt, &decoding, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn request_object_carries_every_parameter_and_is_signed() {
        for alg in [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256] {
            let key = SigningKey::generate(alg).unwrap();
            let params = params();
            let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
            let jwt = request_object(&key, &params, "https://broker.example/r", now).unwrap();
            let header = decode_part(&jwt, 0);
            assert_eq!(header["alg"], key.alg().as_str());
            assert_eq!(header["kid"], key.kid());
            assert_eq!(header["typ"], "JWT");
            let claims = verify(&jwt, &key);
            assert_eq!(claims["iss"], "tunnus");
            assert_eq!(claims["aud"], "https://broker.example/r");
            assert_eq!(claims["client_id"], "tunnus");
            assert_eq!(claims["response_type"], "code");
            assert_eq!(claims["redirect_uri"], params.redirect_uri);
            assert_eq!(claims["state"], params.state);
            assert_eq!(claims["nonce"], params.nonce);
            assert_eq!(claims["acr_values"], "http://ftn.ficora.fi/2017/loa2");
            assert_eq!(claims["ui_locales"], "sv");
            assert_eq!(claims["code_challenge_method"], "S256");
            assert_eq!(
                claims["code_challenge"],
                params.code_challenge.clone().unwrap()
            );
            assert_eq!(claims["iat"], 1_800_000_000);
            let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
            assert!(lifetime > 0 && lifetime <= 600, "{lifetime}");
            assert!(claims["jti"].as_str().unwrap().len() >= 22);
        }
    }

    #[test]
    fn request_object_url_keeps_parameters_out_of_the_query() {
        let params = params();
        let endpoint = Url::parse("https://broker.example/auth?x=1").unwrap();
        let url = authorization_url(&endpoint, &params, Some("a.b.c"));
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["x", "client_id", "response_type", "scope", "request"]
        );
        assert!(!url.as_str().contains(&params.nonce));
    }

    #[test]
    fn plain_url_carries_the_parameters() {
        let params = params();
        let endpoint = Url::parse("https://broker.example/auth").unwrap();
        let url = authorization_url(&endpoint, &params, None);
        let query: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(query["state"], params.state);
        assert_eq!(query["nonce"], params.nonce);
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["ui_locales"], "sv");
    }

    #[test]
    fn client_assertion_names_the_client_and_expires_soon() {
        let key = SigningKey::generate(SigningAlg::RS256).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let first = client_assertion(&key, "tunnus", "https://broker.example/token", now).unwrap();
        let second = client_assertion(&key, "tunnus", "https://broker.example/token", now).unwrap();
        let claims = verify(&first, &key);
        assert_eq!(claims["iss"], "tunnus");
        assert_eq!(claims["sub"], "tunnus");
        assert_eq!(claims["aud"], "https://broker.example/token");
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime > 0 && lifetime <= 300, "{lifetime}");
        assert_ne!(claims["jti"], verify(&second, &key)["jti"]);
        assert_eq!(decode_part(&first, 0)["kid"], key.kid());
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let pkce = Pkce::new();
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pkce.verifier.as_bytes());
        assert_eq!(pkce.challenge, URL_SAFE_NO_PAD.encode(digest.as_ref()));
        assert_eq!(pkce.verifier.len(), 43);
    }
}
