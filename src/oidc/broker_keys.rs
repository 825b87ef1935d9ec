//! The broker's signing keys, read once from its JWKS, and the signature check of its ID tokens.
//!
//! The JWKS is read and its keys decoded once; each signature is then checked on aws-lc (through
//! jsonwebtoken), and openidconnect checks the claims. Only the algorithms in [`ALLOWED`] are
//! accepted — never `none`, never HMAC — and a key is used only for the algorithm family it belongs to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::id_token::IdTokenError;

/// Signature algorithms accepted on ID tokens: each with its name in a JWK's `alg` and the family of
/// key it needs.
const ALLOWED: [(Algorithm, KeyAlgorithm, Family); 8] = [
    (Algorithm::RS256, KeyAlgorithm::RS256, Family::Rsa),
    (Algorithm::RS384, KeyAlgorithm::RS384, Family::Rsa),
    (Algorithm::RS512, KeyAlgorithm::RS512, Family::Rsa),
    (Algorithm::PS256, KeyAlgorithm::PS256, Family::Rsa),
    (Algorithm::PS384, KeyAlgorithm::PS384, Family::Rsa),
    (Algorithm::PS512, KeyAlgorithm::PS512, Family::Rsa),
    (Algorithm::ES256, KeyAlgorithm::ES256, Family::P256),
    (Algorithm::ES384, KeyAlgorithm::ES384, Family::P384),
];

/// The JWK `alg` and key family of an accepted algorithm; `None` for any other.
fn allowed(alg: Algorithm) -> Option<(KeyAlgorithm, Family)> {
    ALLOWED
        .iter()
        .find(|(allowed, _, _)| *allowed == alg)
        .map(|&(_, key_alg, family)| (key_alg, family))
}

/// Smallest RSA modulus accepted from a broker, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    P256,
    P384,
}

struct BrokerKey {
    kid: Option<String>,
    /// The algorithm the JWK is restricted to, if it says.
    alg: Option<KeyAlgorithm>,
    family: Family,
    key: DecodingKey,
}

/// The usable signing keys of a broker's JWKS.
pub struct BrokerKeys {
    keys: Vec<BrokerKey>,
}

impl BrokerKeys {
    /// Reads a JWKS. Keys for encryption, of other types, or too small are left out: a broker may
    /// publish keys that are not for us.
    pub fn from_jwks(json: &[u8]) -> Result<BrokerKeys, String> {
        let document: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no `keys` array")?;
        let keys = entries.iter().filter_map(read_key).collect();
        Ok(BrokerKeys { keys })
    }

    /// How many signing keys could be used.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the JWKS had no usable signing key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the signature of the compact JWS `jws`. [`IdTokenError::UnknownKey`] means no key
    /// of the set fits its `kid` and algorithm: the caller may read the JWKS again.
    pub fn verify(&self, jws: &str) -> Result<(), IdTokenError> {
        let header = jsonwebtoken::decode_header(jws)
            .map_err(|_| IdTokenError::Invalid("not a signed JWT with a known algorithm".into()))?;
        let (wanted, family) = allowed(header.alg).ok_or_else(|| {
            IdTokenError::Invalid(format!("algorithm {:?} is not allowed", header.alg))
        })?;
        let mut candidates = self.keys.iter().filter(|key| {
            key.family == family
                && key.alg.is_none_or(|alg| alg == wanted)
                && header
                    .kid
                    .as_deref()
                    .is_none_or(|kid| key.kid.as_deref() == Some(kid))
        });
        let key = candidates.next().ok_or(IdTokenError::UnknownKey)?;
        if header.kid.is_none() && candidates.next().is_some() {
            return Err(IdTokenError::Invalid(
                "the token names no key and several could have signed it".into(),
            ));
        }
        // Only the signature here; openidconnect checks the claims with the injected clock.
        let (signed, signature) = jws
            .rsplit_once('.')
            .ok_or_else(|| IdTokenError::Invalid("not a compact JWS".into()))?;
        match jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key.key, header.alg) {
            Ok(true) => Ok(()),
            _ => Err(IdTokenError::Invalid(
                "the signature does not verify".into(),
            )),
        }
    }
}

fn read_key(entry: &Value) -> Option<BrokerKey> {
    if entry.get("use").and_then(Value::as_str) == Some("enc") {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).ok()?;
            let bytes = modulus.iter().skip_while(|b| **b == 0).count();
            if bytes < MIN_RSA_MODULUS {
                return None;
            }
            Family::Rsa
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Family::P256,
            EllipticCurve::P384 => Family::P384,
            _ => return None,
        },
        _ => return None,
    };
    let alg = jwk.common.key_algorithm;
    if alg.is_some_and(|alg| !ALLOWED.iter().any(|(_, allowed, _)| *allowed == alg)) {
        return None;
    }
    Some(BrokerKey {
        kid: jwk.common.key_id.clone(),
        alg,
        family,
        key: DecodingKey::from_jwk(&jwk).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SigningAlg, SigningKey};
    use serde_json::json;

    fn set(keys: &[&SigningKey]) -> BrokerKeys {
        let jwks = json!({"keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>()});
        BrokerKeys::from_jwks(jwks.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_token_verifies_with_its_key_and_not_with_another() {
        for alg in [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256] {
            let key = SigningKey::generate(alg).unwrap();
            let other = SigningKey::generate(alg).unwrap();
            let jwt = key.sign_jwt("JWT", &json!({"sub": "x"})).unwrap();
            set(&[&key, &other]).verify(&jwt).unwrap();
            assert!(matches!(
                set(&[&other]).verify(&jwt),
                Err(IdTokenError::UnknownKey)
            ));
        }
    }

    #[test]
    fn a_forged_signature_and_an_unsigned_token_are_refused() {
        let key = SigningKey::generate(SigningAlg::RS256).unwrap();
        let keys = set(&[&key]);
        let jwt = key.sign_jwt("JWT", &json!({"sub": "x"})).unwrap();
        let (signed, _) = jwt.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
        assert!(matches!(
            keys.verify(&forged),
            Err(IdTokenError::Invalid(_))
        ));
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()));
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#);
        let unsigned = format!("{header}.{payload}.");
        assert!(matches!(
            keys.verify(&unsigned),
            Err(IdTokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_key_is_used_only_for_its_own_family_and_algorithm() {
        let rsa = SigningKey::generate(SigningAlg::RS256).unwrap();
        // The same RSA key published as a PS256 key does not verify an RS256 token.
        let mut jwk = rsa.public_jwk();
        jwk["alg"] = json!("PS256");
        let keys = BrokerKeys::from_jwks(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
        let jwt = rsa.sign_jwt("JWT", &json!({})).unwrap();
        assert!(matches!(keys.verify(&jwt), Err(IdTokenError::UnknownKey)));
    }

    #[test]
    fn encryption_keys_and_small_keys_are_left_out() {
        let keys = crate::keys::ServiceKeys::generate(SigningAlg::RS256).unwrap();
        let jwks = keys.public_jwks(crate::oidc::jwe::KeyManagementAlg::RsaOaep);
        let read = BrokerKeys::from_jwks(jwks.to_string().as_bytes()).unwrap();
        assert_eq!(read.len(), 1, "only the signing key");
        let small = json!({"keys": [{"kty": "RSA", "kid": "s", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 128]), "e": "AQAB"}]});
        assert!(
            BrokerKeys::from_jwks(small.to_string().as_bytes())
                .unwrap()
                .is_empty()
        );
        assert!(BrokerKeys::from_jwks(b"[]").is_err());
    }

    #[test]
    fn without_a_kid_several_fitting_keys_are_ambiguous() {
        let a = SigningKey::generate(SigningAlg::ES256).unwrap();
        let b = SigningKey::generate(SigningAlg::ES256).unwrap();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
        let payload = URL_SAFE_NO_PAD.encode("{}");
        let signed = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(a.sign(signed.as_bytes()).unwrap());
        let token = format!("{signed}.{signature}");
        // The token is well signed by `a`: alone, `a` verifies it.
        set(&[&a]).verify(&token).unwrap();
        assert!(matches!(
            set(&[&a, &b]).verify(&token),
            Err(IdTokenError::Invalid(message)) if message.contains("several")
        ));
    }
}
