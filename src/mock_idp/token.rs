//! The back-channel endpoints: `token` (code exchange with `private_key_jwt`, or with the client's
//! secret in `client_secret_basic` or `client_secret_post` where one is registered; ID token
//! issuance) and `userinfo`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use super::authorize::{CLOCK_SKEW, is_pkce_value};
use super::claims::claim_names;
use super::client::{audience_contains, time_claim};
use super::faults::{ActiveFaults, Fault, Phase};
use super::persons::with_wrong_check_character;
use super::realm::{
    AccessGrant, IssuedCode, Realm, RegisteredClient, Someone, generate_key, insert_record, lock,
};
use crate::keys::SigningAlg;
use crate::oidc::claims::Preset;
use crate::oidc::jwe;

/// The only client assertion type accepted (RFC 7523).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest a client assertion may live, from `iat` to `exp`.
const MAX_ASSERTION_LIFETIME: i64 = 300;

/// The `acr` of [`Fault::AcrTooLow`]: below every FTN level.
const LOW_ACR: &str = "http://ftn.ficora.fi/2017/loa1";

/// An OAuth error response (RFC 6749 §5.2), worded as Keycloak words it.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn invalid_client(reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("Client authentication with signed JWT failed: {reason}"),
        )
    }

    fn unknown_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        )
    }

    fn server(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unknown_error",
            description,
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        no_store_json(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        )
    }
}

fn no_store_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// `POST {issuer}/protocol/openid-connect/token`.
pub(crate) async fn token(
    State(realm): State<Arc<Realm>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    realm
        .counters
        .token_requests
        .fetch_add(1, Ordering::Relaxed);
    match exchange(&realm, &headers, &body).await {
        Ok(response) => {
            realm.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
            no_store_json(StatusCode::OK, &response)
        }
        Err(error) => {
            tracing::debug!(error = error.error, description = %error.description, "token request refused");
            error.into_response()
        }
    }
}

/// Reads the form, applies the faults of the realm and of the client the request names,
/// authenticates that client, takes the code and issues the tokens.
async fn exchange(realm: &Realm, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !form_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let form = parse_form(body)?;
    let credentials = secret_credentials(headers, &form)?;
    let claimed = match &credentials {
        Some((client_id, _)) => Some(client_id.clone()),
        None => claimed_client_id(&form),
    };
    let client = claimed.as_deref().and_then(|id| realm.client(id));
    let faults = realm.take_faults(Phase::Token, client.map(|client| &**client));
    if faults.has(Fault::SlowToken) {
        let wait = std::time::Duration::from_secs(realm.settings.faults.slow_token_secs);
        tokio::time::sleep(wait).await;
    }
    if faults.has(Fault::TokenServerError) {
        return Err(OAuthError::server(
            "Mock broker failure (fault token_server_error)",
        ));
    }
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("Missing form parameter: grant_type"))?;
    let client = client.ok_or_else(OAuthError::unknown_client)?;
    match &credentials {
        Some((_, secret)) => authenticate_with_secret(client, secret, &form)?,
        None => authenticate_client(realm, client, &form).await?,
    }
    if grant_type != "authorization_code" {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        ));
    }
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("Missing parameter: code"))?;
    let issued = take_code(realm, client, code, &form)?;
    issue_tokens(realm, client, &issued, &faults).await
}

/// The client a request without Basic credentials says it is: its `client_id`, else the `sub` of its
/// client assertion, read before the assertion is verified.
fn claimed_client_id(form: &HashMap<String, String>) -> Option<String> {
    if let Some(client_id) = form.get("client_id") {
        return Some(client_id.clone());
    }
    let assertion = form.get("client_assertion")?;
    jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(assertion)
        .ok()?
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The form's parameters; one given twice is refused.
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut form = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if value.is_empty() {
            continue;
        }
        if form.contains_key(name.as_ref()) {
            return Err(OAuthError::invalid_request("Duplicated form parameter"));
        }
        form.insert(name.into_owned(), value.into_owned());
    }
    Ok(form)
}

/// The client id and secret of an `Authorization: Basic` header (RFC 6749 §2.3.1: each
/// form-urlencoded, then joined by `:` and base64-encoded); `None` without such a header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || OAuthError::invalid_request("Malformed Authorization header");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |text: &str| -> String {
        url::form_urlencoded::parse(format!("v={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The client id and secret the request authenticates with: `client_secret_basic` (an
/// `Authorization: Basic` header) or `client_secret_post` (`client_id` and `client_secret` in the
/// form), as Keycloak's identity brokering sends by default; `None` for neither. Both at once is
/// refused (RFC 6749 §2.3).
fn secret_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Option<(String, String)>, OAuthError> {
    let basic = basic_credentials(headers)?;
    let posted = form.get("client_secret").map(|secret| {
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        (client_id, secret.clone())
    });
    match (basic, posted) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "The client used more than one authentication method",
        )),
        (basic, posted) => Ok(basic.or(posted)),
    }
}

/// `client_secret_basic` or `client_secret_post`: the client's secret, compared in constant time.
fn authenticate_with_secret(
    client: &RegisteredClient,
    secret: &str,
    form: &HashMap<String, String>,
) -> Result<(), OAuthError> {
    if form.get("client_id").is_some_and(|id| id != client.id()) {
        return Err(OAuthError::unknown_client());
    }
    let Some(registered) = &client.settings.client_secret else {
        return Err(OAuthError::unknown_client());
    };
    let fingerprint = |text: &str| digest(&SHA256, text.as_bytes());
    if verify_slices_are_equal(
        fingerprint(secret).as_ref(),
        fingerprint(registered).as_ref(),
    )
    .is_err()
    {
        return Err(OAuthError::unknown_client());
    }
    Ok(())
}

/// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9).
async fn authenticate_client(
    realm: &Realm,
    client: &RegisteredClient,
    form: &HashMap<String, String>,
) -> Result<(), OAuthError> {
    match form.get("client_assertion_type").map(String::as_str) {
        None => {
            return Err(OAuthError::invalid_client(
                "Parameter client_assertion_type is missing",
            ));
        }
        Some(JWT_BEARER) => {}
        Some(_) => {
            return Err(OAuthError::invalid_client(format!(
                "Parameter client_assertion_type has a value other than {JWT_BEARER}"
            )));
        }
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| OAuthError::invalid_client("client_assertion parameter missing"))?;
    let claims = client
        .keys
        .verify(assertion)
        .await
        .map_err(OAuthError::invalid_client)?;
    check_assertion_claims(realm, client.id(), &claims)
}

fn check_assertion_claims(
    realm: &Realm,
    client_id: &str,
    claims: &Map<String, Value>,
) -> Result<(), OAuthError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("sub") != Some(client_id) {
        return Err(OAuthError::invalid_client("sub is not the client"));
    }
    if text("iss") != Some(client_id) {
        return Err(OAuthError::invalid_client("iss is not the client"));
    }
    let token_endpoint = realm.endpoint("token");
    if !audience_contains(claims, &[token_endpoint.as_str(), realm.issuer.as_str()]) {
        return Err(OAuthError::invalid_client("Invalid token audience"));
    }
    let now = realm.now();
    let now_secs = now.unix_timestamp();
    let exp = time_claim(claims, "exp")
        .ok_or_else(|| OAuthError::invalid_client("Token exp claim is required"))?;
    let iat = time_claim(claims, "iat")
        .ok_or_else(|| OAuthError::invalid_client("Token iat claim is required"))?;
    if exp <= now_secs || iat > now_secs + CLOCK_SKEW.whole_seconds() {
        return Err(OAuthError::invalid_client("Token is not active"));
    }
    if exp - iat > MAX_ASSERTION_LIFETIME {
        return Err(OAuthError::invalid_client(
            "Token lifetime (exp - iat) is longer than 5 minutes",
        ));
    }
    if time_claim(claims, "nbf").is_some_and(|nbf| nbf > now_secs + CLOCK_SKEW.whole_seconds()) {
        return Err(OAuthError::invalid_client("Token is not active"));
    }
    let jti =
        text("jti").ok_or_else(|| OAuthError::invalid_client("Token jti claim is required"))?;
    let expires = OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now);
    let mut used = lock(&realm.used_jtis);
    if used.get(jti).is_some_and(|until| *until > now) {
        return Err(OAuthError::invalid_client("Token reuse detected"));
    }
    if !super::realm::has_room(&mut used, now, |until| *until) {
        return Err(OAuthError::server("Too many client assertions outstanding"));
    }
    used.insert(jti.to_owned(), expires);
    Ok(())
}

/// Takes the code (any outcome uses it up) and checks its client, redirect URI and PKCE.
fn take_code(
    realm: &Realm,
    client: &RegisteredClient,
    code: &str,
    form: &HashMap<String, String>,
) -> Result<IssuedCode, OAuthError> {
    let issued = lock(&realm.codes)
        .remove(code)
        .ok_or_else(|| OAuthError::invalid_grant("Code not valid"))?;
    if issued.request.client_id != client.id() {
        return Err(OAuthError::invalid_grant(
            "Code not valid: it was issued to another client",
        ));
    }
    if realm.now() > issued.expires {
        return Err(OAuthError::invalid_grant("Code is expired"));
    }
    if form.get("redirect_uri") != Some(&issued.request.redirect_uri) {
        return Err(OAuthError::invalid_grant("Incorrect redirect_uri"));
    }
    let verifier = form.get("code_verifier");
    match (&issued.request.code_challenge, verifier) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "PKCE verification failed: no code_challenge was sent",
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "PKCE code verifier not specified",
            ));
        }
        (Some(challenge), Some(verifier)) => {
            if !is_pkce_value(verifier) {
                return Err(OAuthError::invalid_grant(
                    "PKCE verification failed: Invalid code verifier",
                ));
            }
            let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
            if verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_err() {
                return Err(OAuthError::invalid_grant(
                    "PKCE verification failed: Code mismatch",
                ));
            }
        }
    }
    Ok(issued)
}

/// The token response: an opaque access token and the ID token.
async fn issue_tokens(
    realm: &Realm,
    client: &Arc<RegisteredClient>,
    issued: &IssuedCode,
    faults: &ActiveFaults,
) -> Result<Value, OAuthError> {
    let now = realm.now();
    let lifetime = token_lifetime(realm);
    let grant = AccessGrant {
        client: Arc::clone(client),
        person: issued.person.clone(),
        sid: issued.sid.clone(),
        expires: now + Duration::seconds(lifetime),
    };
    let access_token = insert_record(&realm.access_tokens, grant, now, |g| g.expires)
        .ok_or_else(|| OAuthError::server("Too many access tokens outstanding"))?;
    let claims = id_token_claims(realm, client, issued, &access_token, faults, now);
    let signed = sign_id_token(realm, &claims, faults).await?;
    realm.note(super::realm::Activity::Tokens {
        at: now,
        client_id: client.id().to_owned(),
        claims: claims.clone(),
    });
    let id_token = match client.settings.id_token_encryption {
        Some(encryption) if !faults.has(Fault::Unencrypted) => {
            let (kid, recipient) = client
                .keys
                .encryption_key(encryption.alg)
                .await
                .map_err(OAuthError::server)?;
            let recipient = if faults.has(Fault::EncryptedToWrongKey) {
                fresh_encryption_key().await?
            } else {
                recipient
            };
            jwe::encrypt(
                signed.as_bytes(),
                &recipient,
                kid.as_deref(),
                encryption.alg,
                encryption.enc,
                Some("JWT"),
            )
            .map_err(|_| OAuthError::server("Encrypting the ID token failed"))?
        }
        _ => signed,
    };
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "id_token": id_token,
        "scope": issued.request.scope,
        "session_state": issued.sid,
        "not-before-policy": 0,
    }))
}

fn token_lifetime(realm: &Realm) -> i64 {
    i64::try_from(realm.settings.token_lifetime_secs).unwrap_or(i64::MAX / 2)
}

/// The ID token's claims, bent by the faults that concern claims.
fn id_token_claims(
    realm: &Realm,
    client: &RegisteredClient,
    issued: &IssuedCode,
    access_token: &str,
    faults: &ActiveFaults,
    now: OffsetDateTime,
) -> Map<String, Value> {
    let settings = &realm.settings;
    let lifetime = Duration::seconds(token_lifetime(realm));
    let now = now + Duration::seconds(settings.token_clock_offset_secs);
    let (iat, exp) = if faults.has(Fault::ExpiredToken) {
        // Expired, and only that: issued six minutes ago, well within any accepted age, for a
        // minute.
        let exp = now - Duration::minutes(5);
        (exp - Duration::minutes(1), exp)
    } else if faults.has(Fault::FutureToken) {
        let iat = now + Duration::hours(1);
        (iat, iat + lifetime)
    } else {
        (now, now + lifetime)
    };
    let auth_time = issued.auth_time.min(iat);
    let issuer = if faults.has(Fault::WrongIssuer) {
        format!("{}/realms/{}-other", realm.base, settings.realm)
    } else {
        realm.issuer.clone()
    };
    let audience = if faults.has(Fault::WrongAudience) {
        format!("{}-other", client.id())
    } else {
        client.id().to_owned()
    };
    let aud = match client.preset {
        Preset::Telia => json!([audience]),
        _ => json!(audience),
    };
    let nonce = if faults.has(Fault::WrongNonce) {
        Some(crate::random::token())
    } else {
        issued.request.nonce.clone()
    };
    let acr = if faults.has(Fault::AcrTooLow) {
        LOW_ACR
    } else {
        settings.acr.as_str()
    };
    let access_token_hash = digest(&SHA256, access_token.as_bytes());
    let half_hash = &access_token_hash.as_ref()[..16];
    let person = &issued.person;

    let mut claims = Map::new();
    let mut put = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    put("iss", json!(issuer));
    put("sub", json!(person.sub));
    put("aud", aud);
    put("exp", json!(exp.unix_timestamp()));
    put("iat", json!(iat.unix_timestamp()));
    put("auth_time", json!(auth_time.unix_timestamp()));
    put("jti", json!(super::realm::random_uuid()));
    if let Some(nonce) = nonce {
        put("nonce", json!(nonce));
    }
    put("acr", json!(acr));
    if faults.has(Fault::WrongAuthorizedParty) {
        put("azp", json!(format!("{}-other", client.id())));
    } else {
        put("azp", json!(client.id()));
    }
    put("sid", json!(issued.sid));
    put("at_hash", json!(URL_SAFE_NO_PAD.encode(half_hash)));
    put("typ", json!("ID"));
    for (name, value) in person_claims(client.preset, &person.person) {
        put(&name, value);
    }
    if let Someone::Citizen(citizen) = &person.person {
        let national_id_claim = claim_names(client.preset).national_id;
        if faults.has(Fault::MissingNationalId) {
            claims.remove(national_id_claim);
        } else if faults.has(Fault::MalformedNationalId) {
            let malformed = with_wrong_check_character(&citizen.national_id);
            claims.insert(national_id_claim.to_owned(), json!(malformed));
        }
    }
    claims
}

/// The person's details: a test person's under the preset's claim names, a staff member's as a
/// Keycloak realm with a group mapper sends them.
fn person_claims(preset: Preset, person: &Someone) -> Vec<(String, Value)> {
    match person {
        Someone::Citizen(person) => {
            let names = claim_names(preset);
            vec![
                (names.national_id.to_owned(), json!(person.national_id)),
                (names.given_name.to_owned(), json!(person.given_name)),
                (names.family_name.to_owned(), json!(person.family_name)),
                (names.birthdate.to_owned(), json!(person.birthdate)),
            ]
        }
        Someone::Staff(staff) => {
            let mut claims = vec![
                ("preferred_username".to_owned(), json!(staff.username)),
                ("name".to_owned(), json!(staff.full_name())),
                ("given_name".to_owned(), json!(staff.given_name)),
                ("family_name".to_owned(), json!(staff.family_name)),
                ("groups".to_owned(), json!(staff.groups)),
            ];
            if let Some(email) = &staff.email {
                claims.push(("email".to_owned(), json!(email)));
            }
            claims
        }
    }
}

/// Signs the claims with the realm key, or misbehaves as the faults say.
async fn sign_id_token(
    realm: &Realm,
    claims: &Map<String, Value>,
    faults: &ActiveFaults,
) -> Result<String, OAuthError> {
    if faults.has(Fault::AlgNone) {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
        return Ok(format!("{header}.{payload}."));
    }
    let key = if faults.has(Fault::UnknownKid) {
        Arc::new(
            generate_key(SigningAlg::RS256)
                .await
                .map_err(OAuthError::server)?,
        )
    } else if faults.has(Fault::RotatedSigningKey) {
        let fresh = generate_key(SigningAlg::RS256)
            .await
            .map_err(OAuthError::server)?;
        realm.rotate_signing_key(fresh)
    } else if faults.has(Fault::WithdrawnSigningKey) {
        match realm.withdrawn_signing_key() {
            Some(withdrawn) => withdrawn,
            None => {
                let fresh = generate_key(SigningAlg::RS256)
                    .await
                    .map_err(OAuthError::server)?;
                realm.withdraw_signing_key(fresh)
            }
        }
    } else {
        realm.signing_key()
    };
    let signed = key
        .sign_jwt("JWT", claims)
        .map_err(|_| OAuthError::server("Signing the ID token failed"))?;
    if faults.has(Fault::BadSignature) {
        return Ok(tamper_signature(&signed));
    }
    Ok(signed)
}

/// The same JWS with every byte of its signature inverted.
fn tamper_signature(jws: &str) -> String {
    let (signing_input, signature) = jws.rsplit_once('.').unwrap_or((jws, ""));
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    for byte in &mut bytes {
        *byte = !*byte;
    }
    if bytes.is_empty() {
        bytes.push(0);
    }
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The public half of a throwaway RSA key, for [`Fault::EncryptedToWrongKey`].
async fn fresh_encryption_key() -> Result<aws_lc_rs::rsa::PublicEncryptingKey, OAuthError> {
    tokio::task::spawn_blocking(|| PrivateDecryptingKey::generate(KeySize::Rsa2048))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|key| key.public_key())
        .ok_or_else(|| OAuthError::server("Generating a key failed"))
}

/// `GET`/`POST {issuer}/protocol/openid-connect/userinfo` with `Authorization: Bearer`.
pub(crate) async fn userinfo(State(realm): State<Arc<Realm>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return bearer_error(
            "Bearer realm=\"mock\"",
            "invalid_request",
            "Missing bearer token",
        );
    };
    let now = realm.now();
    let granted = lock(&realm.access_tokens)
        .get(token)
        .filter(|grant| grant.expires > now)
        .map(|grant| (grant.person.clone(), grant.client.preset));
    let Some((person, preset)) = granted else {
        return bearer_error(
            "Bearer realm=\"mock\", error=\"invalid_token\"",
            "invalid_token",
            "Token verification failed",
        );
    };
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), json!(person.sub));
    claims.extend(person_claims(preset, &person.person));
    no_store_json(StatusCode::OK, &Value::Object(claims))
}

fn bearer_error(challenge: &'static str, error: &'static str, description: &str) -> Response {
    let mut response = no_store_json(
        StatusCode::UNAUTHORIZED,
        &json!({"error": error, "error_description": description}),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_signature_differs_and_keeps_the_signing_input() {
        let jws = format!("aGVhZA.Ym9keQ.{}", URL_SAFE_NO_PAD.encode([1u8, 2, 3]));
        let tampered = tamper_signature(&jws);
        assert!(tampered.starts_with("aGVhZA.Ym9keQ."));
        assert_ne!(tampered, jws);
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(tampered.rsplit('.').next().unwrap_or_default())
                .ok(),
            Some(vec![!1u8, !2, !3])
        );
    }
}
