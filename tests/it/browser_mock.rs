//! The mock broker's login page as testers use it, in a real browser: the persons grouped by what
//! they are for, with their full test codes; "someone else" for any typed identity code, which
//! reaches tunnus's account page for an account of the tester's own directory, and a malformed one,
//! which tunnus refuses with its usual page; the page in each language through its switcher, each
//! with the accessibility audit of the service's pages; and a second registered client — a small
//! relying party written here, shaped like a campus SSO brokering to the mock — that logs a person in
//! while the service's own client is configured differently and has a fault of its own switched on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::Client;
use reqwest::StatusCode;
use serde_json::Value;
use tunnus::directory::memory::{DEV_ACCOUNTS, MemoryDirectory};
use tunnus::i18n::Lang;
use tunnus::mock_idp::MockClientSettings;
use tunnus::oidc::claims::Preset;

use crate::browser::{
    BrowserOptions, DESKTOP, Visit, WCAG_21_AA, audit, back_at_service, campus_ui, click, find,
    in_browser, script, set_viewport, text_of, texts, to_broker, type_into, wait_for_heading,
    wait_for_text,
};
use crate::harness::{Options, TestApp};

/// An account of a tester's own directory whose owner is no person of the mock's list.
const OWN_ACCOUNT: &str = r#"
[[account]]
username = "tytesti"
national_id = "150575-987W"
given_name = "Tyyne"
family_name = "Testaaja"
category = "student"
state = "active"
groups = []
"#;

async fn app() -> TestApp {
    let directory = MemoryDirectory::from_toml(&format!("{DEV_ACCOUNTS}\n{OWN_ACCOUNT}"))
        .expect("the accounts load");
    TestApp::spawn_with(Options {
        service_toml: campus_ui(),
        directory: Some(Arc::new(directory)),
        ..Options::default()
    })
    .await
}

/// Types `code` (and nothing else) into the "someone else" form and sends it.
async fn identify_as_typed(client: &Client, code: &str) {
    type_into(client, "#other_national_id", code).await;
    click(client, "form.someone-else button[type=submit]").await;
}

#[tokio::test]
async fn a_tester_picks_a_grouped_person_then_types_a_code_of_their_own_directory() {
    in_browser(BrowserOptions::default(), |client| async move {
        let app = app().await;
        let visit = Visit {
            client: &client,
            lang: Lang::Fi,
            viewport: DESKTOP,
        };
        let t = texts(Lang::Fi);
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;

        // Tero is in the "reset" group, shown with his whole test code.
        to_broker(&visit, &app).await;
        let reset = "fieldset:first-of-type ul.persons";
        let groups = script(
            &client,
            "return Array.from(document.querySelectorAll('legend')).map(l => l.textContent);",
        )
        .await;
        let groups: Vec<String> = serde_json::from_value(groups).unwrap();
        assert_eq!(groups[0], "reset", "{groups:?}");
        assert!(
            groups.contains(&"refused: external".to_owned()),
            "{groups:?}"
        );
        assert!(groups.contains(&"activation".to_owned()), "{groups:?}");
        let tero = format!("{reset} button[value=\"{}\"]", app.person("010170-999R"));
        assert!(text_of(&client, &tero).await.contains("010170-999R"));
        assert!(
            text_of(&client, "p.test").await.contains("TESTIPALVELU"),
            "the page does not say it is a test service"
        );
        click(&client, &tero).await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.reset_title).await;
        assert_eq!(text_of(&client, ".username").await, "tetyra");
        click(&client, "form.sign-out button[type=submit]").await;
        wait_for_heading(&client, &t.signed_out_title).await;

        // Someone of the tester's own directory, by the code typed.
        to_broker(&visit, &app).await;
        identify_as_typed(&client, "150575-987W").await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.reset_title).await;
        assert_eq!(text_of(&client, ".username").await, "tytesti");
        click(&client, "form.sign-out button[type=submit]").await;
        wait_for_heading(&client, &t.signed_out_title).await;

        // A malformed code goes through the mock; tunnus refuses it with its usual page.
        to_broker(&visit, &app).await;
        identify_as_typed(&client, "150575-987X").await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.error_identification_title).await;
        visit.check("mock-malformed-refused").await;
        assert!(
            !app.audit_log().contains("\"event\":\"reset\""),
            "a password was set"
        );
    })
    .await;
}

#[tokio::test]
async fn the_mock_s_login_page_passes_the_audit_in_each_language_of_its_switcher() {
    in_browser(BrowserOptions::default(), |client| async move {
        let app = app().await;
        let visit = Visit {
            client: &client,
            lang: Lang::En,
            viewport: DESKTOP,
        };
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;
        to_broker(&visit, &app).await;
        let session_code = find(&client, "input[name=session_code]")
            .await
            .prop("value")
            .await
            .expect("the session code")
            .expect("a session code");
        for (lang, banner) in [
            ("fi", "TESTIPALVELU"),
            ("sv", "TESTTJÄNST"),
            ("en", "TEST SERVICE"),
        ] {
            let page = format!(
                "{}/login-actions/language?session_code={session_code}&lang={lang}",
                app.issuer
            );
            client.goto(&page).await.expect("open the page");
            wait_for_text(&client, "p.test", banner).await;
            assert_eq!(
                script(&client, "return document.documentElement.lang;").await,
                lang
            );
            assert_eq!(
                text_of(&client, "nav.lang a[aria-current=true]").await,
                match lang {
                    "fi" => "Suomi",
                    "sv" => "Svenska",
                    _ => "English",
                }
            );
            audit(&client, "the mock broker's login page", WCAG_21_AA).await;
            visit.screenshot(&format!("mock-login-{lang}")).await;
        }
        // The page still logs in after switching.
        click(
            &client,
            &format!(
                "button[name=person][value=\"{}\"]",
                app.person("010170-999R")
            ),
        )
        .await;
        back_at_service(&client, &app).await;
    })
    .await;
}

/// The small relying party's registration at the mock: a client secret, no request object, signed-only
/// ID tokens with Telia's claim names — unlike the service's client, which signs request objects and
/// assertions, gets encrypted tokens and Keycloak's names.
const SSO_ID: &str = "campus-sso";
const SSO_SECRET: &str = "campus-sso-secret-for-the-browser-test";

/// A relying party in a few lines, as a campus SSO's broker link would be: a PKCE authorization
/// request, the code exchanged with `client_secret_basic`, the ID token's signature, issuer,
/// audience and nonce checked against the realm's published keys, and a page naming who logged in.
struct SmallRp {
    issuer: String,
    redirect_uri: String,
    http: reqwest::Client,
    /// State → (PKCE verifier, nonce) of the logins under way.
    pending: Mutex<HashMap<String, (String, String)>>,
}

impl SmallRp {
    /// Serves the relying party on `listener` until the test ends.
    fn serve(listener: tokio::net::TcpListener, issuer: String) {
        let redirect_uri = format!("http://{}/callback", listener.local_addr().unwrap());
        let rp = Arc::new(SmallRp {
            issuer,
            redirect_uri,
            http: reqwest::Client::new(),
            pending: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .route("/login", axum::routing::get(rp_login))
            .route("/callback", axum::routing::get(rp_callback))
            .with_state(rp);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }

    async fn discovery(&self) -> Result<Value, String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        response.json().await.map_err(|e| e.to_string())
    }

    /// Exchanges `code` and returns the verified ID token's claims.
    async fn claims_of(&self, code: &str, verifier: &str, nonce: &str) -> Result<Value, String> {
        let metadata = self.discovery().await?;
        let endpoint = metadata["token_endpoint"]
            .as_str()
            .ok_or("no token_endpoint")?;
        let response = self
            .http
            .post(endpoint)
            .basic_auth(SSO_ID, Some(SSO_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        let id_token = body["id_token"]
            .as_str()
            .ok_or(format!("no ID token: {body}"))?;
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| e.to_string())?;
        let jwks_uri = metadata["jwks_uri"].as_str().ok_or("no jwks_uri")?;
        let jwks: Value = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let key = jwks["keys"]
            .as_array()
            .and_then(|keys| {
                keys.iter()
                    .find(|key| key["kid"] == header.kid.as_deref().unwrap_or(""))
            })
            .ok_or("the ID token's key is not published")?;
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap_or_default(),
            key["e"].as_str().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[SSO_ID]);
        validation.set_issuer(&[&self.issuer]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
            .map_err(|e| format!("the ID token does not verify: {e}"))?
            .claims;
        if claims["nonce"] != nonce {
            return Err("the nonce is not ours".to_owned());
        }
        Ok(claims)
    }
}

fn rp_page(status: StatusCode, heading: &str, lines: &[(&str, &str)]) -> Response {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Campus SSO</title>\
         </head><body><main><h1>{}</h1>",
        escape(heading)
    );
    for (class, text) in lines {
        body.push_str(&format!("<p class=\"{class}\">{}</p>", escape(text)));
    }
    body.push_str("</main></body></html>");
    (status, Html(body)).into_response()
}

async fn rp_login(State(rp): State<Arc<SmallRp>>) -> Response {
    let state = tunnus::random::token();
    let nonce = tunnus::random::token();
    let verifier = tunnus::random::token();
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    rp.pending
        .lock()
        .unwrap()
        .insert(state.clone(), (verifier, nonce.clone()));
    let Ok(metadata) = rp.discovery().await else {
        return rp_page(
            StatusCode::BAD_GATEWAY,
            "Refused",
            &[("why", "no discovery")],
        );
    };
    let mut url =
        url::Url::parse(metadata["authorization_endpoint"].as_str().unwrap_or("")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", SSO_ID),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("ui_locales", "en"),
    ]);
    Redirect::to(url.as_str()).into_response()
}

async fn rp_callback(
    State(rp): State<Arc<SmallRp>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let refused = |why: String| rp_page(StatusCode::BAD_REQUEST, "Refused", &[("why", &why)]);
    let pending = query
        .get("state")
        .and_then(|state| rp.pending.lock().unwrap().remove(state));
    let (Some((verifier, nonce)), Some(code)) = (pending, query.get("code")) else {
        return refused(format!("no login under way for {query:?}"));
    };
    if query.get("iss") != Some(&rp.issuer) {
        return refused("the answer is not from the realm".to_owned());
    }
    match rp.claims_of(code, &verifier, &nonce).await {
        Ok(claims) => {
            let names = Preset::Telia.claim_names();
            let text = |name: &str| claims[name].as_str().unwrap_or_default().to_owned();
            let name = format!("{} {}", text(&names.given_name), text(&names.family_name));
            rp_page(
                StatusCode::OK,
                "Signed in",
                &[("name", &name), ("code", &text(&names.national_id))],
            )
        }
        Err(why) => refused(why),
    }
}

#[tokio::test]
async fn a_second_client_logs_in_while_the_service_s_client_has_a_fault_of_its_own() {
    in_browser(BrowserOptions::default(), |client| async move {
        let rp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rp_url = format!("http://{}", rp_listener.local_addr().unwrap());
        let directory = MemoryDirectory::from_toml(DEV_ACCOUNTS).expect("the accounts load");
        let app = TestApp::spawn_with(Options {
            service_toml: campus_ui(),
            directory: Some(Arc::new(directory)),
            other_clients: vec![MockClientSettings {
                client_id: SSO_ID.to_owned(),
                redirect_uris: vec![format!("{rp_url}/callback")],
                client_secret: Some(SSO_SECRET.to_owned()),
                id_token_encryption: None,
                preset: Some(Preset::Telia),
                ..MockClientSettings::default()
            }],
            ..Options::default()
        })
        .await;
        SmallRp::serve(rp_listener, app.issuer.clone());
        let base = app.issuer.trim_end_matches("/realms/ftn").to_owned();
        let visit = Visit {
            client: &client,
            lang: Lang::En,
            viewport: DESKTOP,
        };
        let t = texts(Lang::En);
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;

        // The tester switches a fault on for the service's client only, as at the admin endpoint.
        let switched = reqwest::Client::new()
            .put(format!(
                "{base}/admin/realms/ftn/clients/tunnus-test/faults"
            ))
            .json(&serde_json::json!({"faults": ["wrong_nonce"]}))
            .send()
            .await
            .expect("the admin endpoint answers");
        assert_eq!(switched.status(), StatusCode::OK);

        // The SSO's login: the mock's page, a grouped person, and the SSO's page naming her.
        client
            .goto(&format!("{rp_url}/login"))
            .await
            .expect("open the RP");
        wait_for_text(&client, "p.test", "TEST SERVICE").await;
        let tero = format!(
            "button[name=person][value=\"{}\"]",
            app.person("010170-999R")
        );
        click(&client, &tero).await;
        wait_for_heading(&client, "Signed in").await;
        assert_eq!(text_of(&client, "p.name").await, "Tero Testi Äyrämö");
        assert_eq!(text_of(&client, "p.code").await, "010170-999R");

        // The service's login meanwhile meets its own fault, and tunnus refuses the token.
        to_broker(&visit, &app).await;
        click(&client, &tero).await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.error_identification_title).await;
        let identified = |audit: &str| {
            audit
                .lines()
                .filter(|line| {
                    line.contains("\"event\":\"identification\"")
                        && line.contains("\"outcome\":\"success\"")
                })
                .count()
        };
        assert_eq!(
            identified(&app.audit_log()),
            0,
            "the service took a token with the wrong nonce"
        );

        // With the service's fault off, the service's login succeeds too.
        let cleared = reqwest::Client::new()
            .delete(format!(
                "{base}/admin/realms/ftn/clients/tunnus-test/faults"
            ))
            .send()
            .await
            .expect("the admin endpoint answers");
        assert_eq!(cleared.status(), StatusCode::OK);
        to_broker(&visit, &app).await;
        click(&client, &tero).await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.reset_title).await;
        assert_eq!(text_of(&client, ".username").await, "tetyra");
        assert_eq!(identified(&app.audit_log()), 1);

        // The activity page names each client's tokens; it passes the audit too.
        client
            .goto(&format!("{base}/admin/realms/ftn/activity"))
            .await
            .expect("open the activity page");
        wait_for_heading(&client, "Recent activity of realm ftn").await;
        let listed = text_of(&client, "ol.activity").await;
        assert!(
            listed.contains("Tokens issued to client campus-sso")
                && listed.contains("Tokens issued to client tunnus-test"),
            "{listed}"
        );
        audit(&client, "the mock broker's activity page", WCAG_21_AA).await;
    })
    .await;
}
