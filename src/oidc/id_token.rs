//! From the token endpoint's `id_token` to a [`VerifiedIdentity`].
//!
//! 1. An encrypted token (JWE) is decrypted with the service's encryption keys; a plain one is refused
//!    when encryption is required.
//! 2. The signature is checked against the broker's JWKS with an algorithm allow-list
//!    ([`super::broker_keys`]); openidconnect checks `iss`, `aud`, `exp`, `iat`, `nonce` and `acr`,
//!    with time from the injected clock.
//! 3. `azp` is checked here (openidconnect leaves it to the client), then the person's claims are read
//!    by the configured names and the identity code is fully validated.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime};

use super::broker_keys::BrokerKeys;
use super::claims::ClaimNames;
use super::jwe;
use crate::config::IdTokenEncryption;
use crate::identity::{NationalId, VerifiedIdentity};

/// Why an ID token was refused. The texts are for the log and carry no token contents beyond claim
/// names and public values such as `iss` or `aud`.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    /// Encryption is required and the token is a plain JWS.
    #[error("the ID token is not encrypted")]
    NotEncrypted,
    /// The JWE could not be decrypted (wrong key, tampered, disallowed algorithm).
    #[error("the ID token could not be decrypted: {0}")]
    Decryption(jwe::JweError),
    /// The token names a signing key the broker's JWKS does not have: refetch the JWKS once.
    #[error("the ID token is signed with a key the broker does not publish")]
    UnknownKey,
    /// Signature, issuer, audience, times, nonce or assurance level failed.
    #[error("the ID token is not valid: {0}")]
    Invalid(String),
    /// A claim the service needs is missing or malformed.
    #[error("claim `{claim}`: {problem}")]
    Claim { claim: String, problem: String },
}

// By hand rather than `#[from]`, which would also make the JWE error the `source` and so print its
// text twice under `{:#}`: the message above already includes it.
impl From<jwe::JweError> for IdTokenError {
    fn from(error: jwe::JweError) -> Self {
        IdTokenError::Decryption(error)
    }
}

/// What an ID token must satisfy.
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub accepted_acr: &'a [String],
    pub clock_skew: time::Duration,
    pub max_age: time::Duration,
    pub now: OffsetDateTime,
    pub claim_names: &'a ClaimNames,
    pub test_identities: bool,
}

/// Decrypts `raw` if it is a JWE, returning the inner JWS. A plain JWS passes only when encryption is
/// not required.
pub fn decrypt(
    raw: &str,
    keys: &[jwe::DecryptionKeyRef<'_>],
    encryption: &IdTokenEncryption,
) -> Result<String, IdTokenError> {
    if !jwe::is_compact_jwe(raw) {
        return if encryption.required {
            Err(IdTokenError::NotEncrypted)
        } else {
            Ok(raw.to_owned())
        };
    }
    let (_, plaintext) = jwe::decrypt(raw, keys, &[encryption.alg], &[encryption.enc])?;
    String::from_utf8(plaintext)
        .map_err(|_| IdTokenError::Invalid("the decrypted ID token is not text".to_owned()))
}

/// Verifies the signed ID token `jws` and maps it to the person it identifies.
pub fn verify(
    jws: &str,
    keys: &BrokerKeys,
    expect: &Expectations<'_>,
) -> Result<VerifiedIdentity, IdTokenError> {
    keys.verify(jws)?;
    let token: CoreIdToken = jws
        .parse()
        .map_err(|error| IdTokenError::Invalid(format!("not a signed JWT: {error}")))?;
    let issuer = IssuerUrl::new(expect.issuer.to_owned())
        .map_err(|error| IdTokenError::Invalid(format!("issuer is not a URL: {error}")))?;
    // openidconnect refuses a token at `exp` exactly; looking at it `clock_skew` in the past gives
    // the tolerance for a broker whose clock runs ahead of ours.
    let skewed_now = chrono_time(expect.now - expect.clock_skew);
    let now = expect.now;
    let (skew, max_age) = (expect.clock_skew, expect.max_age);
    let accepted: Vec<String> = expect.accepted_acr.to_vec();
    // The signature was checked above on aws-lc with keys parsed once; openidconnect checks the
    // claims: `iss`, `aud`, `exp`, `iat`, `nonce`, `acr`.
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(expect.client_id.to_owned()),
        issuer,
        CoreJsonWebKeySet::new(Vec::new()),
    )
    .insecure_disable_signature_check()
    .set_time_fn(move || skewed_now)
    .set_issue_time_verifier_fn(move |iat| {
        let iat = OffsetDateTime::from_unix_timestamp(iat.timestamp())
            .map_err(|_| "iat is out of range".to_owned())?;
        if iat > now + skew {
            Err("iat is in the future".to_owned())
        } else if iat < now - max_age - skew {
            Err("iat is too old".to_owned())
        } else {
            Ok(())
        }
    })
    .set_auth_context_verifier_fn(move |acr| match acr {
        Some(acr) if accepted.iter().any(|a| a == acr.as_str()) => Ok(()),
        Some(acr) => Err(format!("acr `{}` is not accepted", acr.as_str())),
        None => Err("acr is missing".to_owned()),
    });
    let nonce = Nonce::new(expect.nonce.to_owned());
    let claims = token
        .claims(&verifier, &nonce)
        .map_err(|error| IdTokenError::Invalid(error.to_string()))?;
    let auth_time = claims
        .auth_time()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.timestamp()).ok());
    let acr = claims
        .auth_context_ref()
        .map(|acr| acr.as_str().to_owned())
        .unwrap_or_default();

    // The signature covered exactly these bytes, so reading claims by configurable names from the
    // raw payload is as trustworthy as openidconnect's typed view.
    let payload = raw_payload(jws)?;
    check_authorized_party(&payload, expect.client_id)?;
    person(&payload, expect, acr, auth_time)
}

pub(crate) fn chrono_time(time: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

pub(crate) fn raw_payload(jws: &str) -> Result<Map<String, Value>, IdTokenError> {
    let payload = jws
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    payload.ok_or_else(|| IdTokenError::Invalid("payload is not a JSON object".to_owned()))
}

/// OpenID Connect Core §3.1.3.7 steps 4–5: with several audiences `azp` must be present, and when
/// present it must be this client.
pub(crate) fn check_authorized_party(
    payload: &Map<String, Value>,
    client_id: &str,
) -> Result<(), IdTokenError> {
    let audiences = match payload.get("aud") {
        Some(Value::Array(list)) => list.len(),
        _ => 1,
    };
    match payload.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(IdTokenError::Invalid("azp is not this client".to_owned())),
        None if audiences > 1 => Err(IdTokenError::Invalid(
            "azp is missing although there are several audiences".to_owned(),
        )),
        None => Ok(()),
    }
}

fn person(
    payload: &Map<String, Value>,
    expect: &Expectations<'_>,
    acr: String,
    auth_time: Option<OffsetDateTime>,
) -> Result<VerifiedIdentity, IdTokenError> {
    let names = expect.claim_names;
    let text = |claim: &str| -> Result<Option<String>, IdTokenError> {
        match payload.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.trim().to_owned())),
            Some(_) => Err(IdTokenError::Claim {
                claim: claim.to_owned(),
                problem: "is not a string".to_owned(),
            }),
        }
    };
    let code = text(&names.national_id)?.ok_or_else(|| IdTokenError::Claim {
        claim: names.national_id.clone(),
        problem: "is missing".to_owned(),
    })?;
    let national_id =
        NationalId::parse(&code, expect.test_identities).map_err(|error| IdTokenError::Claim {
            claim: names.national_id.clone(),
            problem: error.to_string(),
        })?;
    let birthdate = match text(&names.birthdate)? {
        Some(date) => Date::parse(
            &date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| IdTokenError::Claim {
            claim: names.birthdate.clone(),
            problem: "is not a date YYYY-MM-DD".to_owned(),
        })?,
        None => national_id.birth_date(),
    };
    Ok(VerifiedIdentity {
        given_name: text(&names.given_name)?.unwrap_or_default(),
        family_name: text(&names.family_name)?.unwrap_or_default(),
        birthdate,
        national_id,
        acr,
        issuer: expect.issuer.to_owned(),
        auth_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_audiences_need_an_authorized_party() {
        let payload = |json: Value| json.as_object().unwrap().clone();
        let many = payload(serde_json::json!({"aud": ["tunnus", "other"]}));
        assert!(check_authorized_party(&many, "tunnus").is_err());
        let many_ok = payload(serde_json::json!({"aud": ["tunnus", "other"], "azp": "tunnus"}));
        assert!(check_authorized_party(&many_ok, "tunnus").is_ok());
        let wrong = payload(serde_json::json!({"aud": "tunnus", "azp": "other"}));
        assert!(check_authorized_party(&wrong, "tunnus").is_err());
        let single = payload(serde_json::json!({"aud": ["tunnus"]}));
        assert!(check_authorized_party(&single, "tunnus").is_ok());
    }
}
