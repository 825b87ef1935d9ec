//! The campus realm over real sockets, judged by code other than the mock's: tokens are checked with
//! jsonwebtoken against the realm's published keys.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::*;
use crate::clock::ManualClock;
use crate::keys::{SigningAlg, SigningKey};

const FTN_REDIRECT: &str = "http://127.0.0.1:9/callback";
const REDIRECT: &str = "http://127.0.0.1:9/helpdesk/callback";
const CLIENT: &str = "tunnus-helpdesk";
const SECRET: &str = "campus secret: with % and + and &";

struct Campus {
    ftn_issuer: String,
    issuer: String,
    controls: MockControls,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Campus {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn settings(configure: impl FnOnce(&mut CampusSettings)) -> MockIdpSettings {
    let mut campus = CampusSettings::default();
    campus.client.client_secret = Some(SECRET.to_owned());
    campus.client.redirect_uris = vec![REDIRECT.to_owned()];
    configure(&mut campus);
    MockIdpSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        clients: vec![MockClientSettings {
            redirect_uris: vec![FTN_REDIRECT.to_owned()],
            jwks: Some(json!({"keys": []})),
            ..MockClientSettings::default()
        }],
        campus: Some(campus),
        ..MockIdpSettings::default()
    }
}

impl Campus {
    async fn start(configure: impl FnOnce(&mut CampusSettings)) -> Campus {
        let clock = Arc::new(ManualClock::new());
        let persons = built_in_persons().expect("built-in persons");
        let idp = MockIdp::bind(settings(configure), persons, clock.clone())
            .await
            .expect("binds");
        let (stop, stopped) = oneshot::channel::<()>();
        let campus = Campus {
            ftn_issuer: idp.issuer(),
            issuer: idp.campus_issuer().expect("a campus realm"),
            controls: idp.campus_controls().expect("campus controls"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            clock,
            stop: Some(stop),
        };
        tokio::spawn(idp.serve(async {
            let _ = stopped.await;
        }));
        campus
    }

    fn endpoint(&self, name: &str) -> String {
        format!("{}/protocol/openid-connect/{name}", self.issuer)
    }

    /// `auth` with the usual parameters and `extra`; the response.
    async fn authorize(&self, flow: &Flow, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut url = url::Url::parse(&self.endpoint("auth")).expect("URL");
        url.query_pairs_mut().extend_pairs([
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("redirect_uri", REDIRECT),
            ("state", flow.state.as_str()),
            ("nonce", flow.nonce.as_str()),
            ("code_challenge", flow.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        url.query_pairs_mut().extend_pairs(extra);
        self.http.get(url).send().await.expect("auth answers")
    }

    /// Logs `username` in by `login_hint`; the redirect's parameters.
    async fn login(&self, flow: &Flow, username: &str) -> HashMap<String, String> {
        redirect_params(&self.authorize(flow, &[("login_hint", username)]).await)
    }

    async fn token(
        &self,
        code: &str,
        verifier: &str,
        basic: Option<(&str, &str)>,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        form.extend_from_slice(extra);
        let mut request = self.http.post(self.endpoint("token")).form(&form);
        if let Some((id, secret)) = basic {
            let encode = |text: &str| {
                url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
            };
            let credentials = STANDARD.encode(format!("{}:{}", encode(id), encode(secret)));
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {credentials}"),
            );
        }
        request.send().await.expect("token answers")
    }

    /// Checks the ID token's signature against the realm's published keys and returns its claims.
    async fn verified(&self, jws: &str) -> Map<String, Value> {
        let header = jsonwebtoken::decode_header(jws).expect("a JWS header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let certs: Value = self
            .http
            .get(self.endpoint("certs"))
            .send()
            .await
            .expect("certs")
            .json()
            .await
            .expect("JWKS");
        let key = certs["keys"]
            .as_array()
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k["kid"] == header.kid.as_deref().unwrap_or_default())
            })
            .expect("the signing key is published");
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap_or_default(),
            key["e"].as_str().unwrap_or_default(),
        )
        .expect("an RSA key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&[CLIENT]);
        validation.set_issuer(&[self.issuer.as_str()]);
        jsonwebtoken::decode::<Map<String, Value>>(jws, &decoding, &validation)
            .expect("the ID token verifies")
            .claims
    }
}

struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    challenge: String,
}

impl Flow {
    fn new() -> Flow {
        let verifier = crate::random::token();
        Flow {
            state: crate::random::token(),
            nonce: crate::random::token(),
            challenge: URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes())),
            verifier,
        }
    }
}

fn redirect_params(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("a Location");
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    url::Url::parse(location)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_staff_member_logs_in_with_the_client_secret_and_gets_a_plain_signed_id_token() {
    let campus = Campus::start(|_| {}).await;
    let flow = Flow::new();
    let answer = campus.login(&flow, "HD-Ilkka").await;
    assert_eq!(answer["state"], flow.state);
    assert_eq!(answer["iss"], campus.issuer);
    let response = campus
        .token(&answer["code"], &flow.verifier, Some((CLIENT, SECRET)), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    let id_token = body["id_token"].as_str().expect("an ID token");
    assert_eq!(id_token.split('.').count(), 3, "signed, not encrypted");
    let claims = campus.verified(id_token).await;
    assert_eq!(claims["preferred_username"], "hd-ilkka");
    assert_eq!(claims["name"], "Ilkka Varmanen");
    assert_eq!(claims["groups"], json!(["helpdesk", "hr", "it-security"]));
    assert_eq!(claims["nonce"], flow.nonce.as_str());
    assert_eq!(claims["azp"], CLIENT);
    assert_eq!(claims["aud"], CLIENT);
    assert!(claims.get("hetu").is_none());
    let exp = claims["exp"].as_i64().unwrap_or_default();
    assert!(exp > campus.clock.now().unix_timestamp());

    let userinfo: Value = campus
        .http
        .get(campus.endpoint("userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("JSON");
    assert_eq!(userinfo["preferred_username"], "hd-ilkka");
    assert_eq!(userinfo["sub"], claims["sub"]);
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_an_unauthorized_client_and_uses_no_code() {
    let campus = Campus::start(|_| {}).await;
    let flow = Flow::new();
    let code = campus.login(&flow, "hd-anna").await["code"].clone();
    for basic in [
        Some((CLIENT, "wrong")),
        Some(("tunnus", SECRET)),
        Some((CLIENT, "")),
        None,
    ] {
        let (status, error) = error_of(campus.token(&code, &flow.verifier, basic, &[]).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_client"),
            "{basic:?}"
        );
    }
    let refused = campus
        .token(
            &code,
            &flow.verifier,
            Some((CLIENT, SECRET)),
            &[("client_id", "tunnus")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let accepted = campus
        .token(&code, &flow.verifier, Some((CLIENT, SECRET)), &[])
        .await;
    assert_eq!(
        accepted.status(),
        StatusCode::OK,
        "the code survived the refusals"
    );
}

#[tokio::test]
async fn the_ftn_realm_beside_it_accepts_no_client_secret() {
    let campus = Campus::start(|_| {}).await;
    let response = campus
        .http
        .post(format!(
            "{}/protocol/openid-connect/token",
            campus.ftn_issuer
        ))
        .basic_auth("tunnus", Some(SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("answers");
    assert_eq!(
        error_of(response).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".to_owned())
    );
}

#[tokio::test]
async fn each_realm_publishes_its_own_metadata_and_keys() {
    let campus = Campus::start(|_| {}).await;
    let metadata = |issuer: String| {
        let http = campus.http.clone();
        async move {
            http.get(format!("{issuer}/.well-known/openid-configuration"))
                .send()
                .await
                .expect("discovery")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };
    let staff = metadata(campus.issuer.clone()).await;
    assert_eq!(staff["issuer"], campus.issuer);
    assert!(campus.issuer.ends_with("/realms/campus"));
    assert_eq!(
        staff["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert!(
        staff
            .get("id_token_encryption_alg_values_supported")
            .is_none()
    );
    assert!(
        staff["claims_supported"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("groups")))
    );
    let ftn = metadata(campus.ftn_issuer.clone()).await;
    assert_eq!(
        ftn["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_ne!(ftn["jwks_uri"], staff["jwks_uri"]);
    let keys = |url: &Value| {
        let http = campus.http.clone();
        let url = url.as_str().unwrap_or_default().to_owned();
        async move {
            http.get(url)
                .send()
                .await
                .expect("certs")
                .json::<Value>()
                .await
                .expect("JWKS")
        }
    };
    assert_ne!(
        keys(&ftn["jwks_uri"]).await["keys"][0]["kid"],
        keys(&staff["jwks_uri"]).await["keys"][0]["kid"]
    );
}

#[tokio::test]
async fn the_login_page_lists_the_staff_and_pkce_is_required() {
    let campus = Campus::start(|_| {}).await;
    let page = campus
        .authorize(&Flow::new(), &[("ui_locales", "fi")])
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.expect("page");
    for label in [
        "Anna Palvelu <span class=\"code\">hd-anna</span>",
        "Ilkka Varmanen <span class=\"code\">hd-ilkka</span>",
        "Kalle Lukkari <span class=\"code\">kalle</span>",
    ] {
        assert!(body.contains(label), "{label} in {body}");
    }
    assert!(body.contains("Kampuskirjautuminen"), "{body}");
    assert!(!body.contains("010170"), "no test persons of the FTN realm");
    assert!(
        !body.contains("other_national_id"),
        "no typed identity at the campus realm"
    );

    let mut url = url::Url::parse(&campus.endpoint("auth")).expect("URL");
    url.query_pairs_mut().extend_pairs([
        ("client_id", CLIENT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("state", "s"),
        ("login_hint", "hd-anna"),
    ]);
    let refused = redirect_params(&campus.http.get(url).send().await.expect("answers"));
    assert_eq!(refused["error"], "invalid_request");
    assert!(!refused.contains_key("code"));
}

#[tokio::test]
async fn private_key_jwt_works_where_the_clients_keys_are_registered() {
    let key = SigningKey::generate(SigningAlg::ES256).expect("key");
    let jwks = json!({"keys": [key.public_jwk()]});
    let campus = Campus::start(|campus| {
        campus.client.client_secret = None;
        campus.client.jwks = Some(jwks);
    })
    .await;
    let flow = Flow::new();
    let code = campus.login(&flow, "hd-anna").await["code"].clone();
    let now = campus.clock.now().unix_timestamp();
    let assertion = key
        .sign_jwt(
            "JWT",
            &json!({"iss": CLIENT, "sub": CLIENT, "aud": campus.endpoint("token"),
                    "jti": crate::random::token(), "iat": now, "exp": now + 60}),
        )
        .expect("signs");
    let response = campus
        .token(
            &code,
            &flow.verifier,
            None,
            &[
                ("client_assertion_type", super::token::JWT_BEARER),
                ("client_assertion", &assertion),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_wrong_authorized_party_fault_names_another_client_in_azp_only() {
    let campus = Campus::start(|_| {}).await;
    campus.controls.fault_once(Fault::WrongAuthorizedParty);
    let flow = Flow::new();
    let code = campus.login(&flow, "hd-anna").await["code"].clone();
    let body: Value = campus
        .token(&code, &flow.verifier, Some((CLIENT, SECRET)), &[])
        .await
        .json()
        .await
        .expect("JSON");
    let claims = campus
        .verified(body["id_token"].as_str().unwrap_or_default())
        .await;
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["azp"], format!("{CLIENT}-other"));
}

#[tokio::test]
async fn campus_settings_that_cannot_work_name_their_key() {
    let key_of = |configure: fn(&mut CampusSettings)| {
        let settings = settings(configure);
        async move {
            match MockIdp::bind(
                settings,
                built_in_persons().unwrap_or_default(),
                Arc::new(ManualClock::new()),
            )
            .await
            {
                Err(MockIdpError::InvalidSetting { key, .. }) => Some(key),
                _ => None,
            }
        }
    };
    assert_eq!(key_of(|_| {}).await, None);
    assert_eq!(
        key_of(|c| c.realm = "ftn".to_owned()).await.as_deref(),
        Some("campus.realm")
    );
    assert_eq!(
        key_of(|c| c.realm = "a/b".to_owned()).await.as_deref(),
        Some("campus.realm")
    );
    assert_eq!(
        key_of(|c| c.client.redirect_uris.clear()).await.as_deref(),
        Some("campus.client.redirect_uris")
    );
    assert_eq!(
        key_of(|c| c.client.client_secret = None).await.as_deref(),
        Some("campus.client")
    );
    assert_eq!(
        key_of(|c| c.staff = Some("/nonexistent/staff.toml".into()))
            .await
            .as_deref(),
        Some("campus.staff")
    );
}

#[test]
fn the_campus_table_turns_the_realm_on_with_its_defaults() {
    let settings = parse_settings(
        "[mock_idp.campus.client]\nclient_secret = \"x\"\nredirect_uris = [\"http://127.0.0.1:8080/helpdesk/callback\"]\n",
    )
    .expect("parses");
    let campus = settings.campus.expect("on");
    assert_eq!(campus.realm, "campus");
    assert_eq!(campus.client.client_id, "tunnus-helpdesk");
    assert!(campus.client.require_pkce);
    assert!(
        parse_settings("[mock_idp]\n")
            .expect("parses")
            .campus
            .is_none()
    );
}
