//! End-to-end tests of the mock broker over real sockets. A minimal relying party ([`TestRp`]) signs
//! request objects and client assertions with its own keys; ID tokens are decrypted with josekit and
//! their signatures checked with jsonwebtoken against the realm's published keys, so the mock's
//! output is judged by code other than its own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::keys::{DecryptionKey, SigningAlg, SigningKey};
use crate::oidc::jwe::{ContentEncryption, KeyManagementAlg};

const CLIENT_ID: &str = "tunnus";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const TERO: &str = "010170-999R";

fn bundled_persons() -> Vec<Person> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mock-persons.toml");
    load_persons(&path).expect("the bundled persons file loads")
}

/// The relying party's side: its signing key and the key ID tokens are encrypted to.
struct TestRp {
    signing: SigningKey,
    encryption: DecryptionKey,
    enc_alg: KeyManagementAlg,
}

impl TestRp {
    fn new(alg: SigningAlg) -> Self {
        Self {
            signing: SigningKey::generate(alg).expect("signing key"),
            encryption: DecryptionKey::generate().expect("encryption key"),
            enc_alg: KeyManagementAlg::RsaOaep,
        }
    }

    fn jwks(&self) -> Value {
        json!({"keys": [self.signing.public_jwk(), self.encryption.public_jwk(self.enc_alg)]})
    }
}

/// One authorization's secrets, as a relying party keeps them.
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    challenge: String,
}

impl Flow {
    fn new() -> Self {
        let verifier = crate::random::token();
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
        Self {
            state: crate::random::token(),
            nonce: crate::random::token(),
            verifier,
            challenge,
        }
    }
}

/// An ID token taken apart: the JWE header (when encrypted), the JWS, its header and claims.
struct Opened {
    jwe_header: Option<josekit::jwe::JweHeader>,
    jws: String,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

/// A running mock broker, the relying party registered at it, and a browser-like client that does
/// not follow redirects.
struct Broker {
    issuer: String,
    addr: SocketAddr,
    controls: MockControls,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    rp: TestRp,
    persons: Vec<Person>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Settings for a broker on a free loopback port with `rp` registered statically.
fn settings_for(rp: &TestRp) -> MockIdpSettings {
    MockIdpSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        clients: vec![MockClientSettings {
            client_id: CLIENT_ID.to_owned(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            jwks: Some(rp.jwks()),
            ..MockClientSettings::default()
        }],
        ..MockIdpSettings::default()
    }
}

/// `base` with the members of `changes` replaced; a `null` change removes the member.
fn changed(base: Value, changes: Value) -> Value {
    let mut base = base.as_object().cloned().unwrap_or_default();
    for (name, value) in changes.as_object().cloned().unwrap_or_default() {
        if value.is_null() {
            base.remove(&name);
        } else {
            base.insert(name, value);
        }
    }
    Value::Object(base)
}

fn decode_part(part: &str) -> Map<String, Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url part");
    serde_json::from_slice(&bytes).expect("JSON part")
}

impl Broker {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(configure: impl FnOnce(&mut MockIdpSettings)) -> Self {
        Self::launch(TestRp::new(SigningAlg::RS256), bundled_persons(), configure).await
    }

    async fn launch(
        rp: TestRp,
        persons: Vec<Person>,
        configure: impl FnOnce(&mut MockIdpSettings),
    ) -> Self {
        let mut settings = settings_for(&rp);
        configure(&mut settings);
        let clock = Arc::new(ManualClock::new());
        let idp = MockIdp::bind(settings, persons.clone(), clock.clone())
            .await
            .expect("the mock binds");
        let (shutdown, stop) = oneshot::channel::<()>();
        let broker = Broker {
            issuer: idp.issuer(),
            addr: idp.local_addr(),
            controls: idp.controls(),
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            rp,
            persons,
            shutdown: Some(shutdown),
        };
        tokio::spawn(idp.serve(async {
            let _ = stop.await;
        }));
        broker
    }

    fn endpoint(&self, name: &str) -> String {
        format!("{}/protocol/openid-connect/{name}", self.issuer)
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// The claims of a well-formed request object for `flow`, with `changes` applied.
    fn request_claims(&self, flow: &Flow, changes: Value) -> Value {
        let now = self.now();
        let base = json!({
            "iss": CLIENT_ID,
            "aud": self.issuer,
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            "state": flow.state,
            "nonce": flow.nonce,
            "acr_values": DEFAULT_ACR,
            "ui_locales": "fi",
            "code_challenge": flow.challenge,
            "code_challenge_method": "S256",
            "jti": crate::random::token(),
            "iat": now,
            "exp": now + 300,
        });
        changed(base, changes)
    }

    fn request_object(&self, flow: &Flow, changes: Value) -> String {
        let claims = self.request_claims(flow, changes);
        self.rp
            .signing
            .sign_jwt("oauth-authz-req+jwt", &claims)
            .expect("signs")
    }

    /// `GET auth` with exactly these query parameters.
    async fn authorize_query(&self, query: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(with_query(&self.endpoint("auth"), query))
            .send()
            .await
            .expect("auth answers")
    }

    /// `GET auth?client_id=…&request=…` as an FTN relying party sends it.
    async fn authorize(&self, flow: &Flow, changes: Value) -> reqwest::Response {
        let request = self.request_object(flow, changes);
        self.authorize_query(&[("client_id", CLIENT_ID), ("request", &request)])
            .await
    }

    /// Logs Tero in by `login_hint` and returns the code.
    async fn login(&self, flow: &Flow) -> String {
        let response = self.authorize(flow, json!({"login_hint": TERO})).await;
        let params = redirect_params(&response);
        params.get("code").cloned().expect("a code")
    }

    fn assertion(&self, changes: Value) -> String {
        let now = self.now();
        let base = json!({
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": self.endpoint("token"),
            "jti": crate::random::token(),
            "iat": now,
            "exp": now + 60,
        });
        self.rp
            .signing
            .sign_jwt("JWT", &changed(base, changes))
            .expect("signs")
    }

    async fn token_form(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.endpoint("token"))
            .form(form)
            .send()
            .await
            .expect("token answers")
    }

    /// The code exchange with a fresh assertion.
    async fn exchange(&self, code: &str, verifier: &str) -> reqwest::Response {
        self.exchange_with(code, verifier, &self.assertion(json!({})))
            .await
    }

    async fn exchange_with(
        &self,
        code: &str,
        verifier: &str,
        assertion: &str,
    ) -> reqwest::Response {
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .await
    }

    /// The whole flow for Tero; the token response.
    async fn tokens(&self) -> (Flow, Value) {
        let flow = Flow::new();
        let code = self.login(&flow).await;
        let response = self.exchange(&code, &flow.verifier).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("JSON token response");
        (flow, body)
    }

    fn decrypt(
        &self,
        token: &str,
    ) -> Result<(josekit::jwe::JweHeader, String), josekit::JoseError> {
        let algorithm = match self.rp.enc_alg {
            KeyManagementAlg::RsaOaep => josekit::jwe::RSA_OAEP,
            KeyManagementAlg::RsaOaep256 => josekit::jwe::RSA_OAEP_256,
        };
        let decrypter = algorithm.decrypter_from_pem(self.rp.encryption.to_pem())?;
        let (payload, header) = josekit::jwe::deserialize_compact(token, &decrypter)?;
        Ok((header, String::from_utf8(payload).expect("UTF-8 JWS")))
    }

    /// Decrypts (when encrypted) and parses an ID token without judging its signature.
    fn open(&self, token: &str) -> Opened {
        let (jwe_header, jws) = if token.split('.').count() == 5 {
            let (header, jws) = self.decrypt(token).expect("decrypts");
            (Some(header), jws)
        } else {
            (None, token.to_owned())
        };
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3, "a compact JWS");
        Opened {
            jwe_header,
            header: decode_part(parts[0]),
            claims: decode_part(parts[1]),
            jws,
        }
    }

    async fn certs(&self) -> Value {
        self.http
            .get(self.endpoint("certs"))
            .send()
            .await
            .expect("certs answers")
            .json()
            .await
            .expect("JWKS")
    }

    /// Checks a JWS against the realm's published keys, as a relying party would.
    async fn verify(&self, jws: &str) -> Result<Map<String, Value>, String> {
        self.verify_for(jws, CLIENT_ID).await
    }

    /// Checks a JWS issued to `audience` against the realm's published keys.
    async fn verify_for(&self, jws: &str, audience: &str) -> Result<Map<String, Value>, String> {
        let header = jsonwebtoken::decode_header(jws).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("no kid")?;
        let certs = self.certs().await;
        let key = certs["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
            .ok_or("unknown kid")?;
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap_or_default(),
            key["e"].as_str().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&[audience]);
        jsonwebtoken::decode::<Map<String, Value>>(jws, &decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| format!("{:?}", e.kind()))
    }

    /// The ID token of a whole flow with `fault` on for the realm.
    async fn id_token_under(&self, fault: Fault) -> (Flow, Value) {
        self.controls.set_faults([fault]);
        self.tokens().await
    }
}

/// `url` with `pairs` as its query (form-encoded).
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(url).expect("a URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

/// The query of a redirect to the client's redirect URI.
fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    assert!(
        matches!(response.status(), StatusCode::FOUND | StatusCode::SEE_OTHER),
        "a redirect, got {}",
        response.status()
    );
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location");
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?")),
        "to the redirect URI: {location}"
    );
    url::Url::parse(location)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// A 400 error page showing `message`, and no redirect.
async fn assert_error_page(response: reqwest::Response, message: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].clone();
    assert_eq!(content_type, "text/html; charset=utf-8");
    let body = response.text().await.expect("body");
    let shown = format!("<p id=\"error-message\">{}</p>", html::escape(message));
    assert!(body.contains(&shown), "expected {shown} in {body}");
}

/// An OAuth error with exactly this status, code and description, not cached.
async fn assert_oauth_error(
    response: reqwest::Response,
    status: StatusCode,
    error: &str,
    description: &str,
) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[reqwest::header::CACHE_CONTROL],
        "no-store"
    );
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
}

fn jwt_failure(reason: impl std::fmt::Display) -> String {
    format!("Client authentication with signed JWT failed: {reason}")
}

// ---- discovery and keys ----

#[tokio::test]
async fn discovery_publishes_keycloak_fields_under_the_issuer() {
    let broker = Broker::start().await;
    let url = format!("{}/.well-known/openid-configuration", broker.issuer);
    let response = broker.http.get(url).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let metadata: Value = response.json().await.expect("JSON");

    assert_eq!(broker.issuer, format!("http://{}/realms/ftn", broker.addr));
    assert_eq!(metadata["issuer"], broker.issuer.as_str());
    for (field, name) in [
        ("authorization_endpoint", "auth"),
        ("token_endpoint", "token"),
        ("userinfo_endpoint", "userinfo"),
        ("jwks_uri", "certs"),
        ("end_session_endpoint", "logout"),
    ] {
        assert_eq!(metadata[field], broker.endpoint(name).as_str(), "{field}");
    }
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["request_parameter_supported"], true);
    assert_eq!(metadata["request_uri_parameter_supported"], false);
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["authorization_code"])
    );
    assert_eq!(metadata["ui_locales_supported"], json!(["fi", "sv", "en"]));
    for (field, member) in [
        ("id_token_encryption_alg_values_supported", "RSA-OAEP-256"),
        ("id_token_encryption_enc_values_supported", "A128CBC-HS256"),
        ("id_token_encryption_enc_values_supported", "A256GCM"),
        ("request_object_signing_alg_values_supported", "PS256"),
        ("token_endpoint_auth_signing_alg_values_supported", "ES256"),
        ("acr_values_supported", DEFAULT_ACR),
        ("scopes_supported", "openid"),
        ("claims_supported", "hetu"),
        ("response_types_supported", "code"),
        ("subject_types_supported", "public"),
    ] {
        let values = metadata[field].as_array().expect(field);
        assert!(values.contains(&json!(member)), "{field} lists {member}");
    }
    let signing = metadata["request_object_signing_alg_values_supported"]
        .as_array()
        .expect("algs");
    assert!(!signing.contains(&json!("none")));
}

#[tokio::test]
async fn certs_publish_one_rs256_signing_key() {
    let broker = Broker::start().await;
    let certs = broker.certs().await;
    let keys = certs["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(keys[0]["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
}

#[tokio::test]
async fn a_path_in_the_public_url_prefixes_every_route() {
    let broker = Broker::start_with(|s| {
        s.public_url = Some(url::Url::parse("http://broker.test/auth/").expect("URL"));
    })
    .await;
    assert_eq!(broker.issuer, "http://broker.test/auth/realms/ftn");
    let local = format!(
        "http://{}/auth/realms/ftn/.well-known/openid-configuration",
        broker.addr
    );
    let metadata: Value = broker
        .http
        .get(local)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metadata["issuer"], "http://broker.test/auth/realms/ftn");
    let unprefixed = format!(
        "http://{}/realms/ftn/.well-known/openid-configuration",
        broker.addr
    );
    let response = broker.http.get(unprefixed).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

// ---- successful logins ----

#[tokio::test]
async fn each_preset_issues_an_encrypted_id_token_with_its_claim_names() {
    use crate::oidc::claims::Preset;
    for preset in Preset::ALL {
        let broker = Broker::start_with(|s| s.preset = preset).await;
        let (flow, body) = broker.tokens().await;

        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "openid");
        let access_token = body["access_token"].as_str().expect("access token");
        let token = body["id_token"].as_str().expect("id token");
        assert_eq!(token.split('.').count(), 5, "{preset:?}: encrypted");

        let opened = broker.open(token);
        let jwe = opened.jwe_header.as_ref().expect("JWE header");
        assert_eq!(jwe.algorithm(), Some("RSA-OAEP"));
        assert_eq!(jwe.content_encryption(), Some("A128CBC-HS256"));
        assert_eq!(jwe.key_id(), Some(broker.rp.encryption.kid()));
        assert_eq!(jwe.content_type(), Some("JWT"));
        assert_eq!(opened.header["alg"], "RS256");
        let claims = broker
            .verify(&opened.jws)
            .await
            .expect("signed by the realm key");

        let now = broker.now();
        assert_eq!(claims["iss"], broker.issuer.as_str());
        let aud = match preset {
            Preset::Telia => json!([CLIENT_ID]),
            _ => json!(CLIENT_ID),
        };
        assert_eq!(claims["aud"], aud, "{preset:?}");
        assert_eq!(claims["iat"], now);
        assert_eq!(claims["exp"], now + 600);
        assert_eq!(claims["auth_time"], now);
        assert_eq!(claims["nonce"], flow.nonce.as_str());
        assert_eq!(claims["acr"], DEFAULT_ACR);
        assert_eq!(claims["azp"], CLIENT_ID);
        assert_eq!(claims["typ"], "ID");
        assert_eq!(claims["sid"], body["session_state"]);
        let hash = digest(&SHA256, access_token.as_bytes());
        assert_eq!(
            claims["at_hash"],
            URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]).as_str()
        );
        assert!(claims["sub"].as_str().is_some_and(|sub| sub.len() == 36));

        // The names as FTN.md's table gives them, written out: not taken from any table in the code.
        let [national_id, given_name, family_name, birthdate] = match preset {
            Preset::Keycloak => ["hetu", "given_name", "family_name", "birthdate"],
            Preset::Telia => [
                "urn:oid:1.2.246.21",
                "urn:oid:1.2.246.575.1.14",
                "urn:oid:2.5.4.4",
                "urn:oid:1.3.6.1.5.5.7.9.1",
            ],
            Preset::Op => [
                "personal_identity_code",
                "given_name",
                "family_name",
                "birthdate",
            ],
            Preset::Idura => ["hetu", "given_name", "family_name", "birthdate"],
            Preset::Signicat => ["nin", "given_name", "family_name", "birthdate"],
        };
        assert_eq!(claims[national_id], TERO, "{preset:?}");
        assert_eq!(claims[given_name], "Tero Testi", "{preset:?}");
        assert_eq!(claims[family_name], "Äyrämö", "{preset:?}");
        assert_eq!(claims[birthdate], "1970-01-01", "{preset:?}");
        let mut sent: Vec<&str> = claims.keys().map(String::as_str).collect();
        sent.sort_unstable();
        let mut expected = vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "jti",
            "nonce",
            "acr",
            "azp",
            "sid",
            "at_hash",
            "typ",
            national_id,
            given_name,
            family_name,
            birthdate,
        ];
        expected.sort_unstable();
        assert_eq!(sent, expected, "{preset:?}: no claim under another name");

        let url = format!("{}/.well-known/openid-configuration", broker.issuer);
        let metadata: Value = broker
            .http
            .get(url)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        for name in [national_id, given_name, family_name, birthdate] {
            let supported = metadata["claims_supported"].as_array().expect("claims");
            assert!(supported.contains(&json!(name)), "{preset:?}: {name}");
        }
    }
}

#[tokio::test]
async fn token_response_is_json_that_no_cache_keeps() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let response = broker.exchange(&code, &flow.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "application/json"
    );
    assert_eq!(
        response.headers()[reqwest::header::CACHE_CONTROL],
        "no-store"
    );
    assert_eq!(broker.controls.issued_codes(), 1);
    assert_eq!(broker.controls.token_requests(), 1);
    assert_eq!(broker.controls.tokens_issued(), 1);
    assert_eq!(broker.controls.authorization_requests(), 1);
}

#[tokio::test]
async fn subject_is_stable_for_a_person_and_differs_between_persons() {
    let broker = Broker::start().await;
    let (_, first) = broker.tokens().await;
    let (_, second) = broker.tokens().await;
    let sub = |body: &Value| {
        broker
            .open(body["id_token"].as_str().unwrap_or_default())
            .claims["sub"]
            .clone()
    };
    assert_eq!(sub(&first), sub(&second));

    let flow = Flow::new();
    let other = broker.persons[1].national_id.clone();
    let response = broker.authorize(&flow, json!({"login_hint": other})).await;
    let code = redirect_params(&response)["code"].clone();
    let body: Value = broker
        .exchange(&code, &flow.verifier)
        .await
        .json()
        .await
        .expect("JSON");
    assert_ne!(sub(&body), sub(&first));
}

#[tokio::test]
async fn oaep_256_with_gcm_is_used_when_configured() {
    let mut rp = TestRp::new(SigningAlg::RS256);
    rp.enc_alg = KeyManagementAlg::RsaOaep256;
    let broker = Broker::launch(rp, bundled_persons(), |s| {
        s.clients[0].id_token_encryption = Some(IdTokenEncryption {
            alg: KeyManagementAlg::RsaOaep256,
            enc: ContentEncryption::A256Gcm,
        });
    })
    .await;
    let (_, body) = broker.tokens().await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    let jwe = opened.jwe_header.expect("encrypted");
    assert_eq!(jwe.algorithm(), Some("RSA-OAEP-256"));
    assert_eq!(jwe.content_encryption(), Some("A256GCM"));
    assert_eq!(opened.claims["hetu"], TERO);
}

#[tokio::test]
async fn tokens_are_signed_only_when_encryption_is_off() {
    let broker = Broker::start_with(|s| s.clients[0].id_token_encryption = None).await;
    let (_, body) = broker.tokens().await;
    let token = body["id_token"].as_str().expect("id token");
    assert_eq!(token.split('.').count(), 3);
    let claims = broker.verify(token).await.expect("verifies");
    assert_eq!(claims["hetu"], TERO);
}

#[tokio::test]
async fn request_objects_and_assertions_signed_with_ps256_or_es256_are_accepted() {
    for alg in [SigningAlg::PS256, SigningAlg::ES256] {
        let broker = Broker::launch(TestRp::new(alg), bundled_persons(), |_| {}).await;
        let (_, body) = broker.tokens().await;
        assert!(body["id_token"].is_string(), "{alg:?}");
    }
}

#[tokio::test]
async fn login_page_lists_every_person_and_logs_in_the_chosen_one() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let response = broker
        .authorize(&flow, json!({"ui_locales": "sv fi"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[reqwest::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .is_ok_and(|csp| csp.contains("default-src 'none'"))
    );
    let page = response.text().await.expect("page");
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"sv\">"));
    assert!(page.contains("<title>Välj en testperson</title>"));
    assert!(!page.contains("<script"));
    let action = format!("action=\"{}/login-actions/authenticate\"", broker.issuer);
    assert!(page.contains(&action));
    // Test codes, not personal data: shown in full, so testers see whom they pick.
    for (index, person) in broker.persons.iter().enumerate() {
        let button = format!(
            "<button type=\"submit\" name=\"person\" value=\"{index}\">{} \
             <span class=\"code\">{}</span></button>",
            person.full_name(),
            person.national_id
        );
        assert!(page.contains(&button), "{button}");
    }
    assert!(
        page.contains("TESTTJÄNST"),
        "the page does not say it is a test service"
    );
    assert!(
        page.contains("name=\"other_national_id\""),
        "no form for someone else"
    );
    assert!(page.contains("name=\"cancel\""));

    let session_code = session_code_of(&page);
    let response = broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&[("session_code", session_code.as_str()), ("person", "3")])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let params = redirect_params(&response);
    assert_eq!(params["state"], flow.state);
    assert_eq!(params["iss"], broker.issuer);
    assert!(params.contains_key("session_state"));
    let body: Value = broker
        .exchange(&params["code"], &flow.verifier)
        .await
        .json()
        .await
        .expect("JSON");
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert_eq!(claims["hetu"], broker.persons[3].national_id.as_str());
    assert_eq!(
        claims["family_name"],
        broker.persons[3].family_name.as_str()
    );

    let again = broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&[("session_code", session_code.as_str()), ("person", "0")])
        .send()
        .await
        .expect("answers");
    assert_error_page(
        again,
        "Your login attempt timed out. Login will start from the beginning.",
    )
    .await;
}

fn session_code_of(page: &str) -> String {
    let marker = "name=\"session_code\" value=\"";
    let start = page.find(marker).expect("a session code") + marker.len();
    let end = page[start..].find('"').expect("end of the value") + start;
    page[start..end].to_owned()
}

#[tokio::test]
async fn login_page_escapes_what_it_shows() {
    let persons = vec![Person {
        national_id: TERO.to_owned(),
        given_name: "<script>alert(1)</script>".to_owned(),
        family_name: "O'Brien & \"Sons\"".to_owned(),
        birthdate: "1970-01-01".to_owned(),
        group: None,
    }];
    let broker = Broker::launch(TestRp::new(SigningAlg::RS256), persons, |_| {}).await;
    let page = broker
        .authorize(&Flow::new(), json!({}))
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("<script>"));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Brien &amp; &quot;Sons&quot;")
    );
}

#[tokio::test]
async fn cancel_redirects_with_access_denied() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let page = broker
        .authorize(&flow, json!({}))
        .await
        .text()
        .await
        .expect("page");
    let response = broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&[
            ("session_code", session_code_of(&page).as_str()),
            ("cancel", "cancel"),
        ])
        .send()
        .await
        .expect("answers");
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert!(params.contains_key("error_description"));
    assert_eq!(params["state"], flow.state);
    assert_eq!(params["iss"], broker.issuer);
    assert!(!params.contains_key("code"));
    assert_eq!(broker.controls.issued_codes(), 0);
}

#[tokio::test]
async fn login_hint_logs_the_person_in_without_a_page() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let response = broker.authorize(&flow, json!({"login_hint": TERO})).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let params = redirect_params(&response);
    assert!(params["code"].len() >= 43);
    assert_eq!(params["state"], flow.state);
    assert_eq!(params["iss"], broker.issuer);
    assert!(params.contains_key("session_state"));
}

#[tokio::test]
async fn unknown_login_hint_shows_the_login_page() {
    let broker = Broker::start().await;
    let response = broker
        .authorize(&Flow::new(), json!({"login_hint": "010101-123N"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(broker.controls.issued_codes(), 0);
}

#[tokio::test]
async fn login_page_answered_too_late_is_refused() {
    let broker = Broker::start().await;
    let page = broker
        .authorize(&Flow::new(), json!({}))
        .await
        .text()
        .await
        .expect("page");
    broker.clock.advance(time::Duration::minutes(11));
    let response = broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&[
            ("session_code", session_code_of(&page).as_str()),
            ("person", "0"),
        ])
        .send()
        .await
        .expect("answers");
    assert_error_page(
        response,
        "Your login attempt timed out. Login will start from the beginning.",
    )
    .await;
    assert_eq!(broker.controls.issued_codes(), 0);
}

#[tokio::test]
async fn request_object_values_override_the_query() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let request = broker.request_object(&flow, json!({"login_hint": TERO}));
    let response = broker
        .authorize_query(&[
            ("client_id", CLIENT_ID),
            ("request", &request),
            ("state", "from-the-query"),
            ("redirect_uri", "http://evil.test/callback"),
            ("response_type", "token"),
        ])
        .await;
    let params = redirect_params(&response);
    assert_eq!(params["state"], flow.state);
    assert!(params.contains_key("code"));
}

#[tokio::test]
async fn pkce_is_optional_when_the_client_does_not_require_it() {
    let broker = Broker::start_with(|s| s.clients[0].require_pkce = false).await;
    let flow = Flow::new();
    let changes =
        json!({"login_hint": TERO, "code_challenge": null, "code_challenge_method": null});
    let code = redirect_params(&broker.authorize(&flow, changes).await)["code"].clone();
    let assertion = broker.assertion(json!({}));
    let response = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

// ---- authorization refusals ----

#[tokio::test]
async fn missing_client_id_is_an_error_page() {
    let broker = Broker::start().await;
    let request = broker.request_object(&Flow::new(), json!({}));
    let response = broker.authorize_query(&[("request", &request)]).await;
    assert_error_page(response, "Missing parameter: client_id").await;
}

#[tokio::test]
async fn unknown_client_is_an_error_page() {
    let broker = Broker::start().await;
    let request = broker.request_object(&Flow::new(), json!({"client_id": "other"}));
    let response = broker
        .authorize_query(&[("client_id", "other"), ("request", &request)])
        .await;
    assert_error_page(response, "Client not found.").await;
}

#[tokio::test]
async fn unregistered_redirect_uri_is_an_error_page_not_a_redirect() {
    let broker = Broker::start().await;
    let in_object = broker
        .authorize(
            &Flow::new(),
            json!({"redirect_uri": "http://127.0.0.1:9/callback/"}),
        )
        .await;
    assert_error_page(in_object, "Invalid parameter: redirect_uri").await;
    let in_query = broker
        .authorize_query(&[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "http://evil.test/callback"),
        ])
        .await;
    assert_error_page(in_query, "Invalid parameter: redirect_uri").await;
}

#[tokio::test]
async fn request_object_with_a_bad_signature_is_an_error_page() {
    let broker = Broker::start().await;
    let request = broker.request_object(&Flow::new(), json!({}));
    let (input, _) = request.rsplit_once('.').expect("a JWS");
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    let response = broker
        .authorize_query(&[("client_id", CLIENT_ID), ("request", &forged)])
        .await;
    let reason = client::ClientJwtError::BadSignature;
    assert_error_page(response, &format!("Invalid Request: {reason}")).await;
}

#[tokio::test]
async fn request_object_signed_by_an_unregistered_key_is_an_error_page() {
    let broker = Broker::start().await;
    let stranger = SigningKey::generate(SigningAlg::RS256).expect("key");
    let claims = broker.request_claims(&Flow::new(), json!({}));
    let request = stranger.sign_jwt("JWT", &claims).expect("signs");
    let response = broker
        .authorize_query(&[("client_id", CLIENT_ID), ("request", &request)])
        .await;
    let reason = client::ClientJwtError::NoMatchingKey;
    assert_error_page(response, &format!("Invalid Request: {reason}")).await;
}

#[tokio::test]
async fn unsigned_request_object_is_an_error_page() {
    let broker = Broker::start().await;
    let claims = broker.request_claims(&Flow::new(), json!({"login_hint": TERO}));
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string());
    let request = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let response = broker
        .authorize_query(&[("client_id", CLIENT_ID), ("request", &request)])
        .await;
    let reason = client::ClientJwtError::AlgorithmRefused {
        alg: "none".to_owned(),
    };
    assert_error_page(response, &format!("Invalid Request: {reason}")).await;
    assert_eq!(broker.controls.issued_codes(), 0);
}

#[tokio::test]
async fn request_object_with_wrong_claims_is_an_error_page() {
    let broker = Broker::start().await;
    let now = broker.now();
    let cases = [
        (
            json!({"client_id": "other"}),
            "client_id in the request object does not match the query's",
        ),
        (
            json!({"client_id": null}),
            "client_id in the request object does not match the query's",
        ),
        (
            json!({"iss": "other"}),
            "iss of the request object is not the client",
        ),
        (
            json!({"aud": "http://other.test/realms/ftn"}),
            "aud of the request object is not this realm's issuer",
        ),
        (
            json!({"aud": null}),
            "aud of the request object is not this realm's issuer",
        ),
        (json!({"exp": now - 1}), "the request object has expired"),
        (json!({"exp": null}), "the request object has no exp"),
        (
            json!({"nbf": now + 600}),
            "the request object is not valid yet (nbf)",
        ),
        (
            json!({"prompt": ["login"]}),
            "the request object's prompt is not a string",
        ),
    ];
    for (changes, reason) in cases {
        let response = broker.authorize(&Flow::new(), changes.clone()).await;
        assert_error_page(response, &format!("Invalid Request: {reason}")).await;
    }
    let array_aud = broker
        .authorize(
            &Flow::new(),
            json!({"aud": ["x", broker.issuer], "login_hint": TERO}),
        )
        .await;
    assert!(redirect_params(&array_aud).contains_key("code"));
    assert_eq!(broker.controls.issued_codes(), 1);
}

#[tokio::test]
async fn repeated_parameters_and_request_uri_are_error_pages() {
    let broker = Broker::start().await;
    let response = broker
        .authorize_query(&[("client_id", CLIENT_ID), ("client_id", CLIENT_ID)])
        .await;
    assert_error_page(response, "Invalid Request: duplicate parameter client_id").await;
    let response = broker
        .authorize_query(&[("client_id", CLIENT_ID), ("request_uri", "urn:x")])
        .await;
    assert_error_page(response, "Invalid Request: request_uri is not supported").await;
}

#[tokio::test]
async fn missing_pkce_redirects_with_invalid_request() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let changes = json!({"code_challenge": null, "code_challenge_method": null});
    let params = redirect_params(&broker.authorize(&flow, changes).await);
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(
        params["error_description"],
        "Missing parameter: code_challenge_method"
    );
    assert_eq!(params["state"], flow.state);
    assert_eq!(params["iss"], broker.issuer);
}

#[tokio::test]
async fn pkce_other_than_s256_redirects_with_invalid_request() {
    let broker = Broker::start().await;
    let cases = [
        (
            json!({"code_challenge_method": "plain"}),
            "Invalid parameter: code_challenge_method",
        ),
        (
            json!({"code_challenge": null}),
            "Missing parameter: code_challenge",
        ),
        (
            json!({"code_challenge": "short"}),
            "Invalid parameter: code_challenge",
        ),
    ];
    for (changes, description) in cases {
        let params = redirect_params(&broker.authorize(&Flow::new(), changes).await);
        assert_eq!(params["error"], "invalid_request");
        assert_eq!(params["error_description"], description);
    }
}

#[tokio::test]
async fn other_bad_requests_redirect_with_their_error() {
    let broker = Broker::start().await;
    let cases = [
        (
            json!({"response_type": "token"}),
            "unsupported_response_type",
        ),
        (json!({"response_type": null}), "invalid_request"),
        (json!({"scope": "profile"}), "invalid_scope"),
        (json!({"response_mode": "fragment"}), "invalid_request"),
        (json!({"prompt": "none"}), "login_required"),
    ];
    for (changes, error) in cases {
        let params = redirect_params(&broker.authorize(&Flow::new(), changes.clone()).await);
        assert_eq!(params["error"], error, "{changes}");
    }
    assert_eq!(broker.controls.issued_codes(), 0);
}

// ---- token refusals ----

#[tokio::test]
async fn token_request_for_an_unknown_client_is_unauthorized() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let assertion = broker.assertion(json!({"iss": "other", "sub": "other"}));
    let response = broker
        .exchange_with(&code, &flow.verifier, &assertion)
        .await;
    assert_oauth_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client or Invalid client credentials",
    )
    .await;
}

#[tokio::test]
async fn assertion_with_a_bad_signature_is_refused() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let assertion = broker.assertion(json!({}));
    let (input, _) = assertion.rsplit_once('.').expect("a JWS");
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode([1u8; 256]));
    let response = broker.exchange_with(&code, &flow.verifier, &forged).await;
    let reason = jwt_failure(client::ClientJwtError::BadSignature);
    assert_oauth_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        &reason,
    )
    .await;
    assert_eq!(broker.controls.tokens_issued(), 0);
}

#[tokio::test]
async fn assertion_with_wrong_claims_is_refused() {
    let broker = Broker::start().await;
    let now = broker.now();
    let cases = [
        (
            json!({"aud": "http://other.test/token"}),
            "Invalid token audience",
        ),
        (json!({"iss": "other"}), "iss is not the client"),
        (
            json!({"exp": now - 1, "iat": now - 60}),
            "Token is not active",
        ),
        (
            json!({"iat": now + 3600, "exp": now + 3660}),
            "Token is not active",
        ),
        (
            json!({"exp": now + 301}),
            "Token lifetime (exp - iat) is longer than 5 minutes",
        ),
        (json!({"exp": null}), "Token exp claim is required"),
        (json!({"iat": null}), "Token iat claim is required"),
        (json!({"jti": null}), "Token jti claim is required"),
    ];
    for (changes, reason) in cases {
        let flow = Flow::new();
        let code = broker.login(&flow).await;
        let assertion = broker.assertion(changes.clone());
        let response = broker
            .exchange_with(&code, &flow.verifier, &assertion)
            .await;
        assert_oauth_error(
            response,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            &jwt_failure(reason),
        )
        .await;
    }
    assert_eq!(broker.controls.tokens_issued(), 0);
}

#[tokio::test]
async fn assertion_for_the_issuer_or_in_an_audience_array_is_accepted() {
    let broker = Broker::start().await;
    for aud in [json!(broker.issuer), json!(["x", broker.endpoint("token")])] {
        let flow = Flow::new();
        let code = broker.login(&flow).await;
        let assertion = broker.assertion(json!({"aud": aud, "exp": broker.now() + 300}));
        let response = broker
            .exchange_with(&code, &flow.verifier, &assertion)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{aud}");
    }
}

#[tokio::test]
async fn reused_jti_is_refused_until_the_assertion_would_have_expired() {
    let broker = Broker::start().await;
    let jti = crate::random::token();
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let first = broker
        .exchange_with(
            &code,
            &flow.verifier,
            &broker.assertion(json!({"jti": jti})),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);

    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let replay = broker.assertion(json!({"jti": jti}));
    let response = broker.exchange_with(&code, &flow.verifier, &replay).await;
    let reason = jwt_failure("Token reuse detected");
    assert_oauth_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        &reason,
    )
    .await;

    broker.clock.advance(time::Duration::seconds(61));
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let later = broker.assertion(json!({"jti": jti}));
    let response = broker.exchange_with(&code, &flow.verifier, &later).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_or_wrong_assertion_type_is_refused() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let assertion = broker.assertion(json!({}));
    let response = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("client_assertion", &assertion),
        ])
        .await;
    let reason = jwt_failure("Parameter client_assertion_type is missing");
    assert_oauth_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        &reason,
    )
    .await;
    let response = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reused_code_is_not_valid() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    assert_eq!(
        broker.exchange(&code, &flow.verifier).await.status(),
        StatusCode::OK
    );
    let again = broker.exchange(&code, &flow.verifier).await;
    assert_oauth_error(
        again,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Code not valid",
    )
    .await;
    let unknown = broker.exchange("no-such-code", &flow.verifier).await;
    assert_oauth_error(
        unknown,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Code not valid",
    )
    .await;
}

#[tokio::test]
async fn code_older_than_its_lifetime_is_expired() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    broker.clock.advance(time::Duration::seconds(61));
    let response = broker.exchange(&code, &flow.verifier).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Code is expired",
    )
    .await;

    let flow = Flow::new();
    let code = broker.login(&flow).await;
    broker.clock.advance(time::Duration::seconds(60));
    assert_eq!(
        broker.exchange(&code, &flow.verifier).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn other_redirect_uri_at_the_token_endpoint_is_refused() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let assertion = broker.assertion(json!({}));
    let response = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", &flow.verifier),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Incorrect redirect_uri",
    )
    .await;
}

#[tokio::test]
async fn pkce_mismatch_is_refused_and_uses_up_the_code() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let wrong = Flow::new().verifier;
    let response = broker.exchange(&code, &wrong).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "PKCE verification failed: Code mismatch",
    )
    .await;
    let retry = broker.exchange(&code, &flow.verifier).await;
    assert_oauth_error(
        retry,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Code not valid",
    )
    .await;
}

#[tokio::test]
async fn missing_or_malformed_code_verifier_is_refused() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let assertion = broker.assertion(json!({}));
    let response = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "PKCE code verifier not specified",
    )
    .await;

    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let response = broker.exchange(&code, "short").await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "PKCE verification failed: Invalid code verifier",
    )
    .await;
}

#[tokio::test]
async fn grant_types_other_than_authorization_code_are_refused() {
    let broker = Broker::start().await;
    let assertion = broker.assertion(json!({}));
    let response = broker
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        "Unsupported grant_type",
    )
    .await;
    let response = broker.token_form(&[("code", "x")]).await;
    assert_oauth_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Missing form parameter: grant_type",
    )
    .await;
}

// ---- faults ----

#[tokio::test]
async fn wrong_nonce_fault_changes_only_the_nonce() {
    let broker = Broker::start().await;
    let (flow, body) = broker.id_token_under(Fault::WrongNonce).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert!(
        claims["nonce"]
            .as_str()
            .is_some_and(|nonce| nonce != flow.nonce)
    );
    assert_eq!(claims["iss"], broker.issuer.as_str());
}

#[tokio::test]
async fn wrong_audience_fault_names_another_client() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::WrongAudience).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert!(claims["aud"].as_str().is_some_and(|aud| aud != CLIENT_ID));
}

#[tokio::test]
async fn wrong_issuer_fault_names_another_realm() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::WrongIssuer).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert!(
        claims["iss"]
            .as_str()
            .is_some_and(|iss| iss != broker.issuer)
    );
}

#[tokio::test]
async fn expired_token_fault_puts_exp_in_the_past() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::ExpiredToken).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(exp < broker.now(), "exp {exp} is in the past");
    assert!(claims["iat"].as_i64().is_some_and(|iat| iat < exp));
}

#[tokio::test]
async fn future_token_fault_puts_iat_far_ahead() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::FutureToken).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert!(
        claims["iat"]
            .as_i64()
            .is_some_and(|iat| iat >= broker.now() + 1800)
    );
}

#[tokio::test]
async fn bad_signature_fault_gives_a_signature_that_does_not_verify() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::BadSignature).await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert_eq!(
        broker.verify(&opened.jws).await.err().as_deref(),
        Some("InvalidSignature")
    );
    assert_eq!(opened.claims["hetu"], TERO);
}

#[tokio::test]
async fn unknown_kid_fault_signs_with_an_unpublished_key() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::UnknownKid).await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert!(opened.header["kid"].is_string());
    assert_eq!(
        broker.verify(&opened.jws).await.err().as_deref(),
        Some("unknown kid")
    );
}

#[tokio::test]
async fn alg_none_fault_sends_an_unsigned_token() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::AlgNone).await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert_eq!(opened.header["alg"], "none");
    assert!(opened.jws.ends_with('.'));
    assert_eq!(opened.claims["hetu"], TERO);
}

#[tokio::test]
async fn unencrypted_fault_sends_the_signed_token_as_is() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::Unencrypted).await;
    let token = body["id_token"].as_str().expect("id token");
    assert_eq!(token.split('.').count(), 3);
    assert!(broker.verify(token).await.is_ok());
}

#[tokio::test]
async fn encrypted_to_wrong_key_fault_keeps_the_kid_but_does_not_decrypt() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::EncryptedToWrongKey).await;
    let token = body["id_token"].as_str().expect("id token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5);
    assert_eq!(decode_part(parts[0])["kid"], broker.rp.encryption.kid());
    assert!(broker.decrypt(token).is_err());
}

#[tokio::test]
async fn acr_too_low_fault_sends_loa1() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::AcrTooLow).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert_eq!(claims["acr"], "http://ftn.ficora.fi/2017/loa1");
}

#[tokio::test]
async fn missing_national_id_fault_leaves_out_the_identity_code() {
    let broker = Broker::start_with(|s| s.preset = crate::oidc::claims::Preset::Op).await;
    let (_, body) = broker.id_token_under(Fault::MissingNationalId).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert!(!claims.contains_key("personal_identity_code"));
    assert_eq!(claims["given_name"], "Tero Testi");
}

#[tokio::test]
async fn malformed_national_id_fault_breaks_the_check_character() {
    let broker = Broker::start().await;
    let (_, body) = broker.id_token_under(Fault::MalformedNationalId).await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    let sent = claims["hetu"].as_str().expect("hetu");
    assert_eq!(&sent[..10], &TERO[..10]);
    assert_ne!(sent, TERO);
    assert!(crate::identity::NationalId::parse(sent, true).is_err());
}

#[tokio::test]
async fn error_redirect_fault_answers_server_error() {
    let broker = Broker::start().await;
    broker.controls.set_faults([Fault::ErrorRedirect]);
    let flow = Flow::new();
    let params = redirect_params(&broker.authorize(&flow, json!({"login_hint": TERO})).await);
    assert_eq!(params["error"], "server_error");
    assert_eq!(params["state"], flow.state);
    assert_eq!(params["iss"], broker.issuer);
    assert_eq!(broker.controls.issued_codes(), 0);
}

#[tokio::test]
async fn slow_token_fault_delays_the_answer() {
    let broker = Broker::start_with(|s| s.faults.slow_token_secs = 5).await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    broker.controls.set_faults([Fault::SlowToken]);
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .expect("client");
    let assertion = broker.assertion(json!({}));
    let outcome = impatient
        .post(broker.endpoint("token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &flow.verifier),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .send()
        .await;
    assert!(outcome.is_err_and(|error| error.is_timeout()));
}

#[tokio::test]
async fn token_server_error_fault_answers_500() {
    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    broker.controls.set_faults([Fault::TokenServerError]);
    let response = broker.exchange(&code, &flow.verifier).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "unknown_error");
}

#[tokio::test]
async fn rotated_signing_key_fault_publishes_the_new_key() {
    let broker = Broker::start().await;
    let before = broker.certs().await["keys"][0]["kid"].clone();
    let (_, body) = broker.id_token_under(Fault::RotatedSigningKey).await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert_ne!(opened.header["kid"], before);
    let certs = broker.certs().await;
    assert_eq!(certs["keys"][0]["kid"], opened.header["kid"]);
    assert!(broker.verify(&opened.jws).await.is_ok());
}

#[tokio::test]
async fn withdrawn_signing_key_fault_signs_with_a_key_no_longer_published() {
    let broker = Broker::start().await;
    let before = broker.certs().await["keys"][0]["kid"].clone();
    let (_, body) = broker.id_token_under(Fault::WithdrawnSigningKey).await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert_eq!(opened.header["kid"], before, "signed with the old key");
    let certs = broker.certs().await;
    let published: Vec<&Value> = certs["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| &key["kid"])
        .collect();
    assert_eq!(published.len(), 1, "{certs}");
    assert_ne!(
        published[0], &before,
        "the withdrawn key is still published"
    );
    assert_eq!(
        broker.verify(&opened.jws).await.err().as_deref(),
        Some("unknown kid")
    );
    // The same withdrawn key signs again; without the fault the new key signs.
    let (_, again) = broker.id_token_under(Fault::WithdrawnSigningKey).await;
    let again = broker.open(again["id_token"].as_str().expect("id token"));
    assert_eq!(again.header["kid"], before);
    broker.controls.clear_faults();
    let (_, normal) = broker.tokens().await;
    let normal = broker.open(normal["id_token"].as_str().expect("id token"));
    assert_eq!(&normal.header["kid"], published[0]);
    assert!(broker.verify(&normal.jws).await.is_ok());
}

#[tokio::test]
async fn once_fault_applies_to_the_next_token_only() {
    let broker = Broker::start().await;
    broker.controls.fault_once(Fault::AcrTooLow);
    assert_eq!(
        broker.controls.pending_once_faults(),
        vec![Fault::AcrTooLow]
    );
    let (_, first) = broker.tokens().await;
    let (_, second) = broker.tokens().await;
    let acr = |body: &Value| {
        broker
            .open(body["id_token"].as_str().unwrap_or_default())
            .claims["acr"]
            .clone()
    };
    assert_eq!(acr(&first), "http://ftn.ficora.fi/2017/loa1");
    assert_eq!(acr(&second), DEFAULT_ACR);
    assert!(broker.controls.pending_once_faults().is_empty());
}

#[tokio::test]
async fn faults_from_the_settings_are_on_from_the_start_until_cleared() {
    let broker = Broker::start_with(|s| s.faults.enabled = vec![Fault::WrongIssuer]).await;
    assert_eq!(broker.controls.faults(), vec![Fault::WrongIssuer]);
    let (_, body) = broker.tokens().await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert_ne!(claims["iss"], broker.issuer.as_str());
    broker.controls.clear_faults();
    let (_, body) = broker.tokens().await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert_eq!(claims["iss"], broker.issuer.as_str());
}

#[tokio::test]
async fn admin_endpoint_sets_shows_and_clears_faults() {
    let broker = Broker::start().await;
    let url = format!("http://{}/admin/realms/ftn/faults", broker.addr);
    let put = |body: Value| broker.http.put(&url).json(&body).send();

    let shown: Value = put(json!({"faults": ["wrong_nonce", "acr_too_low"]}))
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        shown,
        json!({
            "faults": ["wrong_nonce", "acr_too_low"],
            "pending_once": [],
            "clients": {CLIENT_ID: {"faults": [], "pending_once": []}},
        })
    );
    assert_eq!(
        broker.controls.faults(),
        vec![Fault::WrongNonce, Fault::AcrTooLow]
    );

    let shown: Value = put(json!({"faults": ["error_redirect"], "once": true}))
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(shown["pending_once"], json!(["error_redirect"]));
    let params = redirect_params(
        &broker
            .authorize(&Flow::new(), json!({"login_hint": TERO}))
            .await,
    );
    assert_eq!(params["error"], "server_error");

    let shown: Value = broker
        .http
        .get(&url)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        shown,
        json!({
            "faults": ["wrong_nonce", "acr_too_low"],
            "pending_once": [],
            "clients": {CLIENT_ID: {"faults": [], "pending_once": []}},
        })
    );

    let shown: Value = broker
        .http
        .delete(&url)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        shown,
        json!({
            "faults": [],
            "pending_once": [],
            "clients": {CLIENT_ID: {"faults": [], "pending_once": []}},
        })
    );
    assert!(broker.controls.faults().is_empty());
}

#[tokio::test]
async fn admin_endpoint_refuses_unknown_fault_names() {
    let broker = Broker::start().await;
    broker.controls.set_faults([Fault::WrongNonce]);
    let url = format!("http://{}/admin/realms/ftn/faults", broker.addr);
    for body in [
        json!({"faults": ["no_such_fault"]}),
        json!({"faults": [], "extra": 1}),
        json!([]),
    ] {
        let response = broker
            .http
            .put(&url)
            .json(&body)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["error"], "invalid_request");
    }
    assert_eq!(broker.controls.faults(), vec![Fault::WrongNonce]);
}

// ---- userinfo, logout, client keys ----

#[tokio::test]
async fn userinfo_answers_the_persons_claims_for_a_live_access_token() {
    let broker = Broker::start_with(|s| s.preset = crate::oidc::claims::Preset::Signicat).await;
    let (_, body) = broker.tokens().await;
    let access_token = body["access_token"].as_str().expect("access token");
    let info: Value = broker
        .http
        .get(broker.endpoint("userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["nin"], TERO);
    assert_eq!(info["family_name"], "Äyrämö");

    broker.clock.advance(time::Duration::seconds(601));
    let expired = broker
        .http
        .get(broker.endpoint("userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("answers");
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let missing = broker
        .http
        .get(broker.endpoint("userinfo"))
        .send()
        .await
        .expect("answers");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(
        missing
            .headers()
            .contains_key(reqwest::header::WWW_AUTHENTICATE)
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_to_a_registered_uri() {
    let broker = Broker::start().await;
    let (_, body) = broker.tokens().await;
    let access_token = body["access_token"].as_str().expect("access token");
    let hint = broker
        .open(body["id_token"].as_str().expect("id token"))
        .jws;
    let response = broker
        .http
        .get(with_query(
            &broker.endpoint("logout"),
            &[
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", REDIRECT_URI),
                ("state", "bye"),
            ],
        ))
        .send()
        .await
        .expect("answers");
    assert_eq!(redirect_params(&response)["state"], "bye");
    let info = broker
        .http
        .get(broker.endpoint("userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("answers");
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);

    let page = broker
        .http
        .get(broker.endpoint("logout"))
        .send()
        .await
        .expect("answers");
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_refuses_unregistered_uris_and_foreign_hints() {
    let broker = Broker::start().await;
    let response = broker
        .http
        .get(with_query(
            &broker.endpoint("logout"),
            &[
                ("client_id", CLIENT_ID),
                ("post_logout_redirect_uri", "http://evil.test/"),
            ],
        ))
        .send()
        .await
        .expect("answers");
    assert_error_page(response, "Invalid redirect uri").await;
    let foreign = broker.assertion(json!({}));
    let response = broker
        .http
        .get(with_query(
            &broker.endpoint("logout"),
            &[("id_token_hint", foreign.as_str())],
        ))
        .send()
        .await
        .expect("answers");
    assert_error_page(response, "Invalid IDToken").await;
}

/// A JWKS served over HTTP on a free port, replaceable while it serves.
async fn serve_jwks(jwks: Arc<Mutex<Value>>) -> (url::Url, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = url::Url::parse(&format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("address")
    ))
    .expect("URL");
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = Arc::clone(&jwks);
            async move { axum::Json(jwks.lock().map(|j| j.clone()).unwrap_or_default()) }
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    (url, stop)
}

#[tokio::test]
async fn client_keys_are_fetched_from_the_jwks_url_and_refetched_on_an_unknown_kid() {
    let rp = TestRp::new(SigningAlg::RS256);
    let published = Arc::new(Mutex::new(rp.jwks()));
    let (url, _stop) = serve_jwks(Arc::clone(&published)).await;
    let mut broker = Broker::launch(rp, bundled_persons(), |s| {
        s.clients[0].jwks = None;
        s.clients[0].jwks_url = Some(url);
    })
    .await;
    broker.tokens().await;
    assert_eq!(
        broker
            .controls
            .client(CLIENT_ID)
            .expect("registered")
            .jwks_fetches(),
        1,
        "fetched once, then cached"
    );

    broker.rp.signing = SigningKey::generate(SigningAlg::RS256).expect("key");
    *published.lock().expect("not poisoned") = broker.rp.jwks();
    broker.tokens().await;
    assert_eq!(
        broker
            .controls
            .client(CLIENT_ID)
            .expect("registered")
            .jwks_fetches(),
        2,
        "refetched for the new kid"
    );
}

#[tokio::test]
async fn client_keys_can_be_replaced_at_run_time() {
    let mut broker = Broker::start().await;
    broker.rp.signing = SigningKey::generate(SigningAlg::ES256).expect("key");
    let response = broker.authorize(&Flow::new(), json!({})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    broker
        .controls
        .client(CLIENT_ID)
        .expect("registered")
        .set_jwks(broker.rp.jwks());
    broker.tokens().await;
}

#[tokio::test]
async fn client_without_keys_cannot_authorize() {
    let broker = Broker::start_with(|s| s.clients[0].jwks = None).await;
    let response = broker.authorize(&Flow::new(), json!({})).await;
    let reason = client::ClientJwtError::NoKeys;
    assert_error_page(response, &format!("Invalid Request: {reason}")).await;
}

// ---- settings ----

#[test]
fn bundled_standalone_config_parses_with_the_documented_values() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mock-idp.toml");
    let settings = load_settings(&path).expect("config/mock-idp.toml loads");
    assert_eq!(settings.listen, SocketAddr::from(([127, 0, 0, 1], 8081)));
    assert_eq!(settings.realm, "ftn");
    assert_eq!(
        settings.clients[0].redirect_uris,
        vec!["http://127.0.0.1:8080/callback"]
    );
    assert_eq!(
        settings.clients[0].jwks_url.as_ref().map(url::Url::as_str),
        Some("http://127.0.0.1:8080/.well-known/jwks.json")
    );
    assert_eq!(
        settings.clients[0].id_token_encryption,
        Some(IdTokenEncryption::default())
    );
    assert_eq!(settings.faults, FaultSettings::default());
    assert!(validate(&settings).is_ok());
}

#[test]
fn encryption_can_be_switched_off_or_chosen() {
    let off = parse_settings("[mock_idp.client]\nid_token_encryption = false\n").expect("parses");
    assert_eq!(off.clients[0].id_token_encryption, None);
    let chosen = parse_settings(
        "[mock_idp.client]\nid_token_encryption = { alg = \"RSA-OAEP-256\", enc = \"A256GCM\" }\n",
    )
    .expect("parses");
    assert_eq!(
        chosen.clients[0].id_token_encryption,
        Some(IdTokenEncryption {
            alg: KeyManagementAlg::RsaOaep256,
            enc: ContentEncryption::A256Gcm
        })
    );
    let defaults = parse_settings("[mock_idp]\n").expect("parses");
    assert_eq!(
        defaults.clients[0].id_token_encryption,
        Some(IdTokenEncryption::default())
    );
    assert_eq!(
        (defaults.code_lifetime_secs, defaults.token_lifetime_secs),
        (60, 600)
    );
    assert_eq!(defaults.faults.slow_token_secs, 30);
}

#[test]
fn unknown_keys_and_missing_table_are_refused_with_a_line() {
    let (line, message) =
        parse_settings("[mock_idp]\nrealm = \"ftn\"\nrelam = \"x\"\n").expect_err("refused");
    assert_eq!(line, 3);
    assert!(message.contains("relam"), "{message}");
    assert!(parse_settings("[server]\n").is_err());
    let (_, message) =
        parse_settings("[mock_idp.faults]\nenabled = [\"no_such\"]\n").expect_err("refused");
    assert!(message.contains("no_such"), "{message}");
}

#[test]
fn unusable_settings_name_their_key() {
    let mut settings = MockIdpSettings::default();
    let key_of = |settings: &MockIdpSettings| match validate(settings) {
        Err(MockIdpError::InvalidSetting { key, .. }) => Some(key),
        _ => None,
    };
    assert_eq!(key_of(&settings).as_deref(), Some("client.redirect_uris"));
    settings.clients[0].redirect_uris = vec!["/relative".to_owned()];
    assert_eq!(key_of(&settings).as_deref(), Some("client.redirect_uris"));
    settings.clients[0].redirect_uris = vec![REDIRECT_URI.to_owned()];
    assert_eq!(key_of(&settings).as_deref(), None);
    settings.realm = "a/b".to_owned();
    assert_eq!(key_of(&settings).as_deref(), Some("realm"));
    settings.realm = "ftn".to_owned();
    settings.clients[0].jwks = Some(json!({"kty": "RSA"}));
    assert_eq!(key_of(&settings).as_deref(), Some("client.jwks"));
}

#[tokio::test]
async fn bind_refuses_an_empty_person_list() {
    let rp = TestRp::new(SigningAlg::RS256);
    let outcome = MockIdp::bind(settings_for(&rp), Vec::new(), Arc::new(ManualClock::new())).await;
    assert!(matches!(
        outcome,
        Err(MockIdpError::InvalidSetting { ref key, .. }) if key == "persons"
    ));
}

// ---- logging ----

/// A log sink shared between the subscriber and the test.
#[derive(Clone, Default)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

/// The process-wide subscriber of this test binary, writing everything into one sink. A thread-local
/// subscriber would miss events: tests on other threads cache "nobody listens" for the same
/// callsites. Every test's logs land here, which only makes the secrecy check stricter.
fn global_log_sink() -> LogSink {
    static SINK: std::sync::OnceLock<LogSink> = std::sync::OnceLock::new();
    SINK.get_or_init(|| {
        let sink = LogSink::default();
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        sink
    })
    .clone()
}

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_logs_carry_no_identity_codes_codes_or_tokens() {
    let sink = global_log_sink();

    let broker = Broker::start().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let refused = broker
        .exchange(&code, "wrong-verifier-wrong-verifier-wrong-verifier")
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let (_, body) = broker.tokens().await;
    let page = broker
        .authorize(&Flow::new(), json!({}))
        .await
        .text()
        .await
        .expect("page");
    broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&[
            ("session_code", session_code_of(&page).as_str()),
            ("cancel", "cancel"),
        ])
        .send()
        .await
        .expect("answers");

    let logs = String::from_utf8(sink.0.lock().expect("not poisoned").clone()).expect("UTF-8");
    assert!(
        logs.contains("mock login succeeded"),
        "the flow was logged: {logs}"
    );
    assert!(logs.contains("010170-***R"), "persons appear masked");
    let secrets = [
        TERO.to_owned(),
        code,
        flow.verifier,
        body["access_token"]
            .as_str()
            .unwrap_or("access token")
            .to_owned(),
        body["id_token"].as_str().unwrap_or("id token").to_owned(),
        session_code_of(&page),
    ];
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret was logged");
    }
}

/// Opens the login page of a new flow; the page and the flow.
async fn login_page_of(broker: &Broker, request: Value) -> (String, Flow) {
    let flow = Flow::new();
    let response = broker.authorize(&flow, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    (response.text().await.expect("page"), flow)
}

/// Answers the login page `page` with `form` (the session code added); the ID token's claims.
async fn claims_after(broker: &Broker, page: &str, flow: &Flow, form: &[(&str, &str)]) -> Value {
    let session_code = session_code_of(page);
    let mut fields = vec![("session_code", session_code.as_str())];
    fields.extend_from_slice(form);
    let response = broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&fields)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let params = redirect_params(&response);
    let body: Value = broker
        .exchange(&params["code"], &flow.verifier)
        .await
        .json()
        .await
        .expect("JSON");
    Value::Object(
        broker
            .open(body["id_token"].as_str().expect("id token"))
            .claims,
    )
}

#[tokio::test]
async fn someone_else_is_identified_by_the_code_typed_with_a_lasting_sub() {
    let broker = Broker::start().await;
    let typed = [
        ("someone_else", "yes"),
        ("other_national_id", "150575-987W"),
        ("other_given_name", ""),
        ("other_family_name", "Törmänen"),
        ("other_birthdate", ""),
    ];
    let (page, flow) = login_page_of(&broker, json!({})).await;
    let first = claims_after(&broker, &page, &flow, &typed).await;
    assert_eq!(first["hetu"], "150575-987W");
    assert_eq!(first["given_name"], "Testi");
    assert_eq!(first["family_name"], "Törmänen");
    assert_eq!(
        first["birthdate"], "1975-05-15",
        "the birth date comes from the code"
    );
    let (page, flow) = login_page_of(&broker, json!({})).await;
    let again = claims_after(&broker, &page, &flow, &typed).await;
    assert_eq!(first["sub"], again["sub"], "one person, one sub");
    assert!(
        broker
            .persons
            .iter()
            .all(|p| p.national_id != "150575-987W"),
        "the typed person is not one of the listed ones"
    );

    // A malformed code goes through as typed: the relying party is the one to refuse it.
    let (page, flow) = login_page_of(&broker, json!({})).await;
    let malformed = claims_after(
        &broker,
        &page,
        &flow,
        &[
            ("someone_else", "yes"),
            ("other_national_id", "010170-999S"),
            ("other_birthdate", "1970-01-01"),
        ],
    )
    .await;
    assert_eq!(malformed["hetu"], "010170-999S");
    assert_eq!(malformed["birthdate"], "1970-01-01");
    assert_ne!(malformed["sub"], first["sub"]);

    // Without a code there is nobody to identify.
    let (page, _) = login_page_of(&broker, json!({})).await;
    let response = broker
        .http
        .post(format!("{}/login-actions/authenticate", broker.issuer))
        .form(&[
            ("session_code", session_code_of(&page).as_str()),
            ("someone_else", "yes"),
            ("other_national_id", " "),
        ])
        .send()
        .await
        .expect("answers");
    assert_error_page(
        response,
        "Choose a person, type an identity code, or cancel.",
    )
    .await;
}

#[tokio::test]
async fn persons_are_grouped_as_their_file_says_and_the_language_can_be_switched() {
    let person = |code: &str, name: &str, group: Option<&str>| Person {
        national_id: code.to_owned(),
        given_name: name.to_owned(),
        family_name: "Testi".to_owned(),
        birthdate: "1970-01-01".to_owned(),
        group: group.map(str::to_owned),
    };
    let persons = vec![
        person(TERO, "Resetoija", Some("reset")),
        person("010200A9618", "Aktivoija", Some("activation")),
        person("291292-918R", "Muu", None),
        person("030883-925M", "Toinen resetoija", Some("reset")),
    ];
    let broker = Broker::launch(TestRp::new(SigningAlg::RS256), persons, |_| {}).await;
    let (page, _) = login_page_of(&broker, json!({"ui_locales": null})).await;
    let legends: Vec<&str> = page
        .split("<legend>")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap_or_default())
        .collect();
    assert_eq!(
        legends,
        ["reset", "activation", "Test persons", "Someone else"],
        "groups in the order they first appear, ungrouped persons last"
    );
    let reset = page.split("<legend>reset</legend>").nth(1).unwrap();
    let reset = reset.split("</fieldset>").next().unwrap();
    assert!(reset.contains("Resetoija") && reset.contains("Toinen resetoija"));
    assert!(!reset.contains("Aktivoija"));

    // No ui_locales: a switcher to the same login in another language.
    assert!(page.contains("<html lang=\"en\">"));
    let marker = "login-actions/language?session_code=";
    let start = page.find(marker).expect("a language switcher");
    let href = &page[page[..start].rfind('"').unwrap() + 1..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let finnish = href
        .replace("lang=en", "lang=fi")
        .replace("lang=sv", "lang=fi");
    let switched = broker.http.get(&finnish).send().await.expect("answers");
    assert_eq!(switched.status(), StatusCode::OK);
    let switched = switched.text().await.unwrap();
    assert!(switched.contains("<html lang=\"fi\">"), "{switched}");
    assert!(switched.contains("TESTIPALVELU"));
    assert_eq!(session_code_of(&switched), session_code_of(&page));
    // A client that asked for a language gets no switcher.
    let (asked, _) = login_page_of(&broker, json!({"ui_locales": "sv"})).await;
    assert!(!asked.contains(marker));
    let stale = broker
        .http
        .get(format!("{}/{marker}unknown&lang=fi", broker.issuer))
        .send()
        .await
        .expect("answers");
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_activity_page_lists_authorizations_and_the_claims_of_issued_tokens() {
    let broker = Broker::start().await;
    let url = format!("http://{}/admin/realms/ftn/activity", broker.addr);
    let empty = broker.http.get(&url).send().await.expect("answers");
    assert_eq!(empty.status(), StatusCode::OK);
    assert!(empty.text().await.unwrap().contains("Nothing yet."));

    let (_, body) = broker.tokens().await;
    let claims = broker
        .open(body["id_token"].as_str().expect("id token"))
        .claims;
    let page = broker
        .http
        .get(&url)
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Authorized <strong>Tero Testi Äyrämö 010170-999R</strong>"),
        "{page}"
    );
    // The claims decoded, as the relying party received them (escaped for HTML).
    for claim in ["hetu", "nonce", "acr", "sub"] {
        assert!(
            page.contains(&format!("&quot;{claim}&quot;")),
            "{claim}: {page}"
        );
    }
    assert!(page.contains(claims["sub"].as_str().unwrap()));
    // Newest first: the tokens after the authorization that led to them.
    assert!(page.find("class=\"tokens\"").unwrap() < page.find("class=\"authorized\"").unwrap());
}

#[test]
fn the_admin_endpoints_answer_loopback_clients_only() {
    use std::net::SocketAddr;
    let refused = |peer: &str| super::admin::refuse_remote(peer.parse::<SocketAddr>().unwrap());
    assert!(refused("127.0.0.1:5000").is_none());
    assert!(refused("[::1]:5000").is_none());
    assert!(refused("[::ffff:127.0.0.1]:5000").is_none());
    assert!(refused("192.0.2.10:5000").is_some());
    assert!(refused("[2001:db8::1]:5000").is_some());
}

// ---- more than one client ----

/// A second client, shaped like a campus SSO brokering to the realm: a client secret, PKCE without a
/// request object, signed-only ID tokens with Telia's claim names.
const SSO_ID: &str = "campus-sso";
const SSO_SECRET: &str = "the-campus-sso-secret-0123456789";
const SSO_REDIRECT: &str = "http://127.0.0.1:9/realms/campus/broker/ftn/endpoint";

fn sso_client() -> MockClientSettings {
    MockClientSettings {
        client_id: SSO_ID.to_owned(),
        redirect_uris: vec![SSO_REDIRECT.to_owned()],
        client_secret: Some(SSO_SECRET.to_owned()),
        id_token_encryption: None,
        preset: Some(crate::oidc::claims::Preset::Telia),
        ..MockClientSettings::default()
    }
}

/// A broker with the service (`tunnus`) and the SSO registered.
async fn two_clients() -> Broker {
    Broker::start_with(|s| s.clients.push(sso_client())).await
}

/// The query of a redirect to `redirect_uri`.
fn params_at(response: &reqwest::Response, redirect_uri: &str) -> HashMap<String, String> {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        location.starts_with(&format!("{redirect_uri}?")),
        "to {redirect_uri}: {location}"
    );
    url::Url::parse(location)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

impl Broker {
    /// The SSO's authorization request for Tero (by `login_hint`), as plain query parameters.
    async fn sso_authorize(&self, flow: &Flow) -> reqwest::Response {
        self.authorize_query(&[
            ("client_id", SSO_ID),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", SSO_REDIRECT),
            ("state", &flow.state),
            ("nonce", &flow.nonce),
            ("code_challenge", &flow.challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", TERO),
        ])
        .await
    }

    /// The SSO's code exchange with `client_secret_basic`.
    async fn sso_exchange(&self, code: &str, verifier: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(self.endpoint("token"))
            .basic_auth(SSO_ID, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", SSO_REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token answers")
    }

    /// The SSO's whole flow for Tero; the token response.
    async fn sso_tokens(&self) -> (Flow, Value) {
        let flow = Flow::new();
        let response = self.sso_authorize(&flow).await;
        let params = params_at(&response, SSO_REDIRECT);
        assert_eq!(params["state"], flow.state);
        let response = self
            .sso_exchange(&params["code"], &flow.verifier, SSO_SECRET)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        (flow, response.json().await.expect("JSON token response"))
    }

    fn client_faults_url(&self, client_id: &str) -> String {
        format!(
            "http://{}/admin/realms/ftn/clients/{client_id}/faults",
            self.addr
        )
    }
}

#[tokio::test]
async fn each_client_gets_tokens_shaped_by_its_own_settings() {
    let broker = two_clients().await;
    let telia = super::claims::claim_names(crate::oidc::claims::Preset::Telia);

    // The SSO: signed only, Telia's names, `aud` an array, with its nonce.
    let (flow, body) = broker.sso_tokens().await;
    let id_token = body["id_token"].as_str().expect("id token");
    assert_eq!(id_token.split('.').count(), 3, "signed only");
    let claims = broker
        .verify_for(id_token, SSO_ID)
        .await
        .expect("verifies with the realm's keys");
    assert_eq!(claims[telia.national_id], TERO);
    assert!(!claims.contains_key("hetu"));
    assert_eq!(claims["aud"], json!([SSO_ID]));
    assert_eq!(claims["azp"], SSO_ID);
    assert_eq!(claims["nonce"], flow.nonce.as_str());
    let info: Value = broker
        .http
        .get(broker.endpoint("userinfo"))
        .bearer_auth(body["access_token"].as_str().expect("access token"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(info[telia.national_id], TERO);

    // The service, as before: encrypted, Keycloak's names, `aud` a string.
    let (_, body) = broker.tokens().await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert!(opened.jwe_header.is_some(), "encrypted");
    assert_eq!(opened.claims["hetu"], TERO);
    assert_eq!(opened.claims["aud"], CLIENT_ID);
    assert_eq!(opened.claims["azp"], CLIENT_ID);

    let metadata: Value = broker
        .http
        .get(format!(
            "{}/.well-known/openid-configuration",
            broker.issuer
        ))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post"
        ])
    );
    let supported = metadata["claims_supported"].as_array().expect("a list");
    assert!(supported.contains(&json!("hetu")) && supported.contains(&json!(telia.national_id)));
}

#[tokio::test]
async fn a_code_is_redeemed_only_by_the_client_it_was_issued_to() {
    let broker = two_clients().await;
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let stolen = broker.sso_exchange(&code, &flow.verifier, SSO_SECRET).await;
    assert_oauth_error(
        stolen,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Code not valid: it was issued to another client",
    )
    .await;
    // The attempt used the code up.
    let late = broker.exchange(&code, &flow.verifier).await;
    assert_oauth_error(
        late,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "Code not valid",
    )
    .await;

    // A wrong secret, and an unknown client, are not authenticated; the code survives them.
    let flow = Flow::new();
    let params = params_at(&broker.sso_authorize(&flow).await, SSO_REDIRECT);
    let wrong = broker
        .sso_exchange(&params["code"], &flow.verifier, "not-the-secret")
        .await;
    assert_oauth_error(
        wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client or Invalid client credentials",
    )
    .await;
    let unknown = broker
        .http
        .post(broker.endpoint("token"))
        .basic_auth("nobody", Some(SSO_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    // The service's own key cannot sign for the SSO.
    let assertion = broker.assertion(json!({"iss": SSO_ID, "sub": SSO_ID}));
    let forged = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", SSO_REDIRECT),
            ("code_verifier", &flow.verifier),
            ("client_assertion_type", super::token::JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .await;
    assert_oauth_error(
        forged,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        &jwt_failure(client::ClientJwtError::NoKeys),
    )
    .await;
    assert_eq!(broker.controls.tokens_issued(), 0, "no tokens were issued");
    let fine = broker
        .sso_exchange(&params["code"], &flow.verifier, SSO_SECRET)
        .await;
    assert_eq!(fine.status(), StatusCode::OK);

    // Neither client may use the other's redirect URI.
    let response = broker
        .authorize(&Flow::new(), json!({"redirect_uri": SSO_REDIRECT}))
        .await;
    assert_error_page(response, "Invalid parameter: redirect_uri").await;
}

#[tokio::test]
async fn the_login_page_names_the_client_that_asked() {
    let broker = two_clients().await;
    let page_for = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("the page")
    };
    let service = page_for(broker.authorize(&Flow::new(), json!({})).await).await;
    assert!(
        service.contains(&format!("(client_id): <code>{CLIENT_ID}</code>")),
        "{service}"
    );
    let flow = Flow::new();
    let sso = page_for(
        broker
            .authorize_query(&[
                ("client_id", SSO_ID),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", SSO_REDIRECT),
                ("code_challenge", &flow.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await,
    )
    .await;
    assert!(
        sso.contains(&format!("(client_id): <code>{SSO_ID}</code>")),
        "{sso}"
    );
    // Through the language switcher too.
    let code = session_code_of(&sso);
    let switched = page_for(
        broker
            .http
            .get(format!(
                "{}/login-actions/language?session_code={code}&lang=fi",
                broker.issuer
            ))
            .send()
            .await
            .expect("answers"),
    )
    .await;
    assert!(
        switched.contains(&format!(
            "Pyytävä palvelu (client_id): <code>{SSO_ID}</code>"
        )),
        "{switched}"
    );
}

#[tokio::test]
async fn a_client_may_post_its_secret_in_the_form_as_keycloak_brokering_does_by_default() {
    let broker = two_clients().await;
    let post = |code: &str, verifier: &str, secret: &str, basic: bool| {
        let mut request = broker.http.post(broker.endpoint("token")).form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", SSO_REDIRECT),
            ("code_verifier", verifier),
            ("client_id", SSO_ID),
            ("client_secret", secret),
        ]);
        if basic {
            request = request.basic_auth(SSO_ID, Some(SSO_SECRET));
        }
        request.send()
    };
    let flow = Flow::new();
    let code = params_at(&broker.sso_authorize(&flow).await, SSO_REDIRECT)["code"].clone();
    // A wrong secret, and a secret sent two ways at once, are refused and leave the code alone.
    let wrong = post(&code, &flow.verifier, "not-the-secret", false)
        .await
        .expect("answers");
    assert_oauth_error(
        wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client or Invalid client credentials",
    )
    .await;
    let twice = post(&code, &flow.verifier, SSO_SECRET, true)
        .await
        .expect("answers");
    assert_oauth_error(
        twice,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "The client used more than one authentication method",
    )
    .await;
    assert_eq!(broker.controls.tokens_issued(), 0);
    let fine = post(&code, &flow.verifier, SSO_SECRET, false)
        .await
        .expect("answers");
    assert_eq!(fine.status(), StatusCode::OK);
    let body: Value = fine.json().await.expect("JSON");
    let claims = broker
        .verify_for(body["id_token"].as_str().expect("id token"), SSO_ID)
        .await
        .expect("verifies");
    assert_eq!(claims["nonce"], flow.nonce.as_str());
    // The service has no secret: posting one for it authenticates nothing.
    let flow = Flow::new();
    let code = broker.login(&flow).await;
    let response = broker
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &flow.verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", SSO_SECRET),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(broker.controls.tokens_issued(), 1, "the SSO's only");
}

#[tokio::test]
async fn faults_switched_for_one_client_leave_the_other_alone() {
    let broker = two_clients().await;
    let sso_url = broker.client_faults_url(SSO_ID);
    let shown: Value = broker
        .http
        .put(&sso_url)
        .json(&json!({"faults": ["wrong_nonce"]}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        shown,
        json!({"faults": ["wrong_nonce"], "pending_once": []})
    );
    let sso = broker.controls.client(SSO_ID).expect("registered");
    assert_eq!(sso.faults(), vec![Fault::WrongNonce]);
    assert!(broker.controls.faults().is_empty(), "not realm-wide");
    let realm_view: Value = broker
        .http
        .get(format!("http://{}/admin/realms/ftn/faults", broker.addr))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        realm_view["clients"][SSO_ID]["faults"],
        json!(["wrong_nonce"])
    );
    assert_eq!(realm_view["clients"][CLIENT_ID]["faults"], json!([]));

    let (flow, body) = broker.sso_tokens().await;
    let claims = broker
        .verify_for(body["id_token"].as_str().expect("id token"), SSO_ID)
        .await
        .expect("verifies");
    assert_ne!(claims["nonce"], flow.nonce.as_str(), "the SSO's fault");
    let (flow, body) = broker.tokens().await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert_eq!(
        opened.claims["nonce"],
        flow.nonce.as_str(),
        "not the service's"
    );

    // A single-use fault of the service's: the SSO's login passes, the service's next one fails,
    // the one after succeeds.
    let once = broker
        .http
        .put(broker.client_faults_url(CLIENT_ID))
        .json(&json!({"faults": ["error_redirect"], "once": true}))
        .send()
        .await
        .expect("answers");
    assert_eq!(once.status(), StatusCode::OK);
    let sso_login = params_at(&broker.sso_authorize(&Flow::new()).await, SSO_REDIRECT);
    assert!(sso_login.contains_key("code"), "{sso_login:?}");
    let failed = redirect_params(
        &broker
            .authorize(&Flow::new(), json!({"login_hint": TERO}))
            .await,
    );
    assert_eq!(failed["error"], "server_error");
    broker.login(&Flow::new()).await;

    // Faults of the realm's metadata are not a client's; an unknown client is not found. Neither
    // changes anything.
    let metadata = broker
        .http
        .put(&sso_url)
        .json(&json!({"faults": ["jwks_server_error"]}))
        .send()
        .await
        .expect("answers");
    assert_eq!(metadata.status(), StatusCode::BAD_REQUEST);
    let unknown = broker
        .http
        .put(broker.client_faults_url("nobody"))
        .json(&json!({"faults": ["wrong_nonce"]}))
        .send()
        .await
        .expect("answers");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(sso.faults(), vec![Fault::WrongNonce]);
    assert!(broker.controls.faults().is_empty());

    let cleared = broker.http.delete(&sso_url).send().await.expect("answers");
    assert_eq!(cleared.status(), StatusCode::OK);
    assert!(sso.faults().is_empty());
    let (flow, body) = broker.sso_tokens().await;
    let claims = broker
        .verify_for(body["id_token"].as_str().expect("id token"), SSO_ID)
        .await
        .expect("verifies");
    assert_eq!(claims["nonce"], flow.nonce.as_str());
}

#[tokio::test]
async fn realm_faults_and_a_client_s_configured_faults_add_up() {
    let broker = Broker::start_with(|s| {
        let mut sso = sso_client();
        sso.faults = vec![Fault::AcrTooLow];
        s.clients.push(sso);
    })
    .await;
    broker.controls.set_faults([Fault::WrongIssuer]);
    let (_, body) = broker.sso_tokens().await;
    let jws = body["id_token"].as_str().expect("id token");
    let claims = broker.verify_for(jws, SSO_ID).await.expect("verifies");
    assert_eq!(claims["acr"], "http://ftn.ficora.fi/2017/loa1");
    assert_ne!(claims["iss"], broker.issuer.as_str());
    let (_, body) = broker.tokens().await;
    let opened = broker.open(body["id_token"].as_str().expect("id token"));
    assert_eq!(opened.claims["acr"], DEFAULT_ACR, "the SSO's fault only");
    assert_ne!(
        opened.claims["iss"],
        broker.issuer.as_str(),
        "the realm's fault"
    );
}

#[tokio::test]
async fn logout_ends_the_session_of_the_client_whose_token_is_the_hint() {
    let broker = two_clients().await;
    let (_, sso) = broker.sso_tokens().await;
    let (_, service) = broker.tokens().await;
    let sso_hint = sso["id_token"].as_str().expect("id token");
    let userinfo = |token: &Value| {
        broker
            .http
            .get(broker.endpoint("userinfo"))
            .bearer_auth(token.as_str().unwrap_or_default())
            .send()
    };
    // The SSO's hint with the service's client_id is refused and ends nothing.
    let mixed = broker
        .http
        .get(with_query(
            &broker.endpoint("logout"),
            &[("client_id", CLIENT_ID), ("id_token_hint", sso_hint)],
        ))
        .send()
        .await
        .expect("answers");
    assert_error_page(mixed, "Invalid IDToken").await;
    assert_eq!(
        userinfo(&sso["access_token"])
            .await
            .expect("answers")
            .status(),
        StatusCode::OK
    );
    // The SSO's hint with its own redirect URI.
    let response = broker
        .http
        .get(with_query(
            &broker.endpoint("logout"),
            &[
                ("id_token_hint", sso_hint),
                ("post_logout_redirect_uri", SSO_REDIRECT),
                ("state", "bye"),
            ],
        ))
        .send()
        .await
        .expect("answers");
    assert_eq!(params_at(&response, SSO_REDIRECT)["state"], "bye");
    assert_eq!(
        userinfo(&sso["access_token"])
            .await
            .expect("answers")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        userinfo(&service["access_token"])
            .await
            .expect("answers")
            .status(),
        StatusCode::OK,
        "the service's session goes on"
    );
}

#[test]
fn clients_are_tables_of_an_array_or_one_table() {
    let two = parse_settings(
        "[[mock_idp.client]]\nclient_id = \"tunnus\"\nredirect_uris = [\"http://a.test/cb\"]\n\
         [[mock_idp.client]]\nclient_id = \"sso\"\nredirect_uris = [\"http://b.test/cb\"]\n\
         client_secret = \"s\"\nid_token_encryption = false\npreset = \"telia\"\n\
         faults = [\"wrong_nonce\"]\n",
    )
    .expect("parses");
    let ids: Vec<&str> = two.clients.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["tunnus", "sso"]);
    assert_eq!(
        two.clients[1].preset,
        Some(crate::oidc::claims::Preset::Telia)
    );
    assert_eq!(two.clients[1].faults, vec![Fault::WrongNonce]);
    assert_eq!(two.clients[1].id_token_encryption, None);
    assert!(validate(&two).is_ok());
    let one = parse_settings("[mock_idp.client]\nclient_id = \"only\"\n").expect("parses");
    assert_eq!(one.clients.len(), 1);
    assert_eq!(one.clients[0].client_id, "only");
    for text in [
        "[[mock_idp.client]]\nclient_idd = \"x\"\n",
        "[mock_idp.client]\nclient_idd = \"x\"\n",
    ] {
        let (line, message) = parse_settings(text).expect_err("an unknown key is refused");
        assert!(message.contains("client_idd"), "{message}");
        assert_eq!(line, 2, "{message}");
    }
    let (_, message) =
        parse_settings("[mock_idp]\nclient = \"tunnus\"\n").expect_err("not a table");
    assert!(message.contains("client table"), "{message}");
}

#[test]
fn clients_that_cannot_work_are_named_by_their_place() {
    let key_of = |clients: Vec<MockClientSettings>| {
        let settings = MockIdpSettings {
            clients,
            ..MockIdpSettings::default()
        };
        match validate(&settings) {
            Err(MockIdpError::InvalidSetting { key, problem }) => Some((key, problem)),
            _ => None,
        }
    };
    let service = MockClientSettings {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..MockClientSettings::default()
    };
    assert_eq!(key_of(vec![service.clone(), sso_client()]), None);
    let (key, _) = key_of(Vec::new()).expect("refused");
    assert_eq!(key, "client");
    let twice = MockClientSettings {
        client_id: CLIENT_ID.to_owned(),
        ..sso_client()
    };
    let (key, problem) = key_of(vec![service.clone(), twice]).expect("refused");
    assert_eq!(key, "client[1].client_id");
    assert!(problem.contains("twice"), "{problem}");
    let no_uris = MockClientSettings {
        redirect_uris: Vec::new(),
        ..sso_client()
    };
    let (key, problem) = key_of(vec![service.clone(), no_uris]).expect("refused");
    assert_eq!(key, "client[1].redirect_uris");
    assert!(problem.contains(SSO_ID), "{problem}");
    let metadata_fault = MockClientSettings {
        faults: vec![Fault::DiscoveryServerError],
        ..sso_client()
    };
    let (key, problem) = key_of(vec![service.clone(), metadata_fault]).expect("refused");
    assert_eq!(key, "client[1].faults");
    assert!(problem.contains("discovery_server_error"), "{problem}");
    let empty_secret = MockClientSettings {
        client_secret: Some(String::new()),
        ..sso_client()
    };
    let (key, _) = key_of(vec![service, empty_secret]).expect("refused");
    assert_eq!(key, "client[1].client_secret");
}
