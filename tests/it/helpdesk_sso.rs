//! Staff sign-in at `/helpdesk` through the campus SSO (the mock broker's campus realm): members of
//! the staff groups get a staff session and are greeted; everyone and everything else — outsiders,
//! forged or missing `state`, a callback in another browser, tokens with a wrong nonce or for
//! another client — gets no session, and the store proves it.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use tunnus::directory::memory::MemoryDirectory;
use tunnus::helpdesk::sso::settings::ClientAuth;
use tunnus::mock_idp::Fault;

use crate::harness::{Browser, Choice, HelpdeskSso, Options, Page, TestApp};

async fn spawn() -> TestApp {
    spawn_with(HelpdeskSso::default(), Options::default()).await
}

async fn spawn_with(sso: HelpdeskSso, options: Options) -> TestApp {
    TestApp::spawn_with(Options {
        helpdesk: Some(sso),
        ..options
    })
    .await
}

/// The staff session records and sign-ins in the store.
fn staff_records(app: &TestApp, prefix: &str) -> Vec<String> {
    app.store
        .as_ref()
        .expect("the harness's store")
        .keys()
        .into_iter()
        .filter(|key| key.starts_with(prefix))
        .collect()
}

fn staff_sessions(app: &TestApp) -> usize {
    staff_records(app, "staff_session:").len()
}

fn set_cookies(page: &Page) -> Vec<String> {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The staff session cookie `answer` set, as a request would carry it.
fn staff_cookie(answer: &Page) -> reqwest::header::HeaderMap {
    let cookie = set_cookies(answer)
        .into_iter()
        .find(|c| c.starts_with("tunnus_staff="))
        .expect("a staff session cookie");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        cookie.split(';').next().unwrap().parse().unwrap(),
    );
    headers
}

/// No staff session: none in the store, none set in `answer`, and `/helpdesk` offers the sign-in.
async fn assert_not_signed_in(app: &TestApp, browser: &Browser, answer: &Page) {
    assert_eq!(staff_sessions(app), 0, "a staff session was stored");
    assert!(
        set_cookies(answer)
            .iter()
            .all(|c| !c.starts_with("tunnus_staff=") || c.starts_with("tunnus_staff=;")),
        "a staff session cookie was set: {:?}",
        set_cookies(answer)
    );
    browser
        .get_path("/helpdesk")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("action=\"/helpdesk/login\"");
}

fn audit_lines(app: &TestApp, event: &str) -> Vec<serde_json::Value> {
    app.audit_log()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["event"] == event)
        .collect()
}

#[tokio::test]
async fn a_helpdesk_member_signs_in_through_the_campus_sso_and_is_greeted_by_name() {
    let app = spawn().await;
    let campus = app.campus.as_ref().unwrap();
    let browser = app.browser();
    let page = browser.get_path("/helpdesk").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("Kirjaudu kampuksen kirjautumisella");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    let sso_origin = url::Url::parse(&campus.issuer()).unwrap().origin();
    assert!(
        csp.contains(&format!(
            "form-action 'self' {}",
            sso_origin.ascii_serialization()
        )),
        "{csp}"
    );

    let authorize = browser.start_staff_sign_in().await;
    assert!(
        authorize.as_str().starts_with(&format!(
            "{}/protocol/openid-connect/auth?",
            campus.issuer()
        )),
        "{authorize}"
    );
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "tunnus-helpdesk-test");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "openid profile");
    assert_eq!(query["redirect_uri"], app.at("/helpdesk/callback").as_str());
    for secret in ["state", "nonce"] {
        assert!(query[secret].len() >= 43, "{secret} carries 256 bits");
    }
    assert_eq!(staff_records(&app, "staff_login:").len(), 1);

    let callback = browser
        .at_broker(authorize, Choice::Person(app.staff_person("hd-anna")))
        .await;
    let answer = browser.get(callback).await;
    answer.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(answer.location().path(), "/helpdesk");
    let cookie = set_cookies(&answer)
        .into_iter()
        .find(|c| c.starts_with("tunnus_staff="))
        .expect("a staff session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Max-Age"),
        "a browser-session cookie: {cookie}"
    );
    assert_eq!(staff_sessions(&app), 1);
    assert!(
        staff_records(&app, "staff_login:").is_empty(),
        "the sign-in was used up"
    );
    assert_eq!(campus.token_requests(), 1);

    let home = browser.get_path("/helpdesk").await;
    home.assert_status(StatusCode::OK)
        .assert_contains("Hei, Anna Palvelu!")
        .assert_contains("action=\"/helpdesk/logout\"");
    assert_eq!(home.field("csrf").len(), 43);
    let signed_in = audit_lines(&app, "staff_sign_in");
    assert_eq!(signed_in.len(), 1);
    assert_eq!(signed_in[0]["outcome"], "success");
    assert_eq!(signed_in[0]["staff"], "hd-anna");

    // The staff pages' entry point sees the same staff member.
    let session = tunnus::http::helpdesk::staff(&app.state, &staff_cookie(&answer))
        .await
        .unwrap();
    assert_eq!(session.staff.username, "hd-anna");
    assert_eq!(session.staff.groups, ["helpdesk"]);
    assert_eq!(session.csrf, home.field("csrf"));
}

#[tokio::test]
async fn with_private_key_jwt_a_member_of_several_groups_keeps_them_all_for_the_rules() {
    let app = spawn_with(
        HelpdeskSso {
            client_auth: ClientAuth::PrivateKeyJwt,
            ..HelpdeskSso::default()
        },
        Options::default(),
    )
    .await;
    let browser = app.browser();
    browser.get_path("/helpdesk?lang=en").await;
    let answer = app.sign_in_staff(&browser, "hd-ilkka").await;
    answer.assert_status(StatusCode::SEE_OTHER);
    browser
        .get_path("/helpdesk")
        .await
        .assert_contains("Hello, Ilkka Varmanen!");
    let session = tunnus::http::helpdesk::staff(&app.state, &staff_cookie(&answer))
        .await
        .unwrap();
    assert_eq!(session.staff.groups, ["helpdesk", "hr", "it-security"]);
}

#[tokio::test]
async fn a_non_member_is_refused_in_their_language_without_a_staff_session() {
    let app = spawn().await;
    let browser = app.browser();
    browser
        .get_path("/helpdesk?lang=en")
        .await
        .assert_status(StatusCode::OK);
    let answer = app.sign_in_staff(&browser, "kalle").await;
    answer
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("You do not have access to the helpdesk pages")
        .assert_contains("href=\"/helpdesk?lang=en\"");
    assert_not_signed_in(&app, &browser, &answer).await;
    let refused = audit_lines(&app, "staff_sign_in");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["outcome"], "refused");
    assert_eq!(refused[0]["staff"], "kalle");
    assert_eq!(refused[0]["reason"], "not_in_staff_groups");

    let finnish = app.browser();
    let answer = app.sign_in_staff(&finnish, "kalle").await;
    answer
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Sinulla ei ole pääsyä tukipalvelun sivuille");
    assert_eq!(staff_sessions(&app), 0);
}

#[tokio::test]
async fn a_forged_or_missing_state_is_refused_and_exchanges_no_code() {
    let app = spawn().await;
    let campus = app.campus.as_ref().unwrap();
    let browser = app.browser();
    let authorize = browser.start_staff_sign_in().await;
    let callback = browser
        .at_broker(authorize, Choice::Person(app.staff_person("hd-anna")))
        .await;
    let params: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    let with_state = |state: Option<&str>| {
        let mut url = callback.clone();
        url.query_pairs_mut().clear();
        for (key, value) in &params {
            if key != "state" {
                url.query_pairs_mut().append_pair(key, value);
            }
        }
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        url
    };
    let forged = browser
        .get(with_state(Some(&tunnus::random::token())))
        .await;
    forged
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("Kirjautuminen on vanhentunut")
        .assert_contains("href=\"/helpdesk?lang=fi\"");
    assert_not_signed_in(&app, &browser, &forged).await;
    let missing = browser.get(with_state(None)).await;
    missing.assert_status(StatusCode::BAD_REQUEST);
    assert_not_signed_in(&app, &browser, &missing).await;
    assert_eq!(campus.token_requests(), 0, "no code was exchanged");
    assert!(audit_lines(&app, "staff_sign_in").is_empty());
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_and_leaves_the_sign_in_to_its_own() {
    let app = spawn().await;
    let campus = app.campus.as_ref().unwrap();
    let browser = app.browser();
    let authorize = browser.start_staff_sign_in().await;
    let callback = browser
        .at_broker(authorize, Choice::Person(app.staff_person("hd-anna")))
        .await;
    let other = app.browser();
    let answer = other.get(callback.clone()).await;
    answer
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("Kirjautuminen on vanhentunut");
    assert_not_signed_in(&app, &other, &answer).await;
    assert_eq!(campus.token_requests(), 0);

    // The sign-in is still there for the browser that started it.
    browser
        .get(callback)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(staff_sessions(&app), 1);
}

#[tokio::test]
async fn a_used_callback_cannot_be_replayed() {
    let app = spawn().await;
    let browser = app.browser();
    let authorize = browser.start_staff_sign_in().await;
    let callback = browser
        .at_broker(authorize, Choice::Person(app.staff_person("hd-anna")))
        .await;
    browser
        .get(callback.clone())
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let again = browser.get(callback).await;
    again.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(staff_sessions(&app), 1, "no second session");
}

#[tokio::test]
async fn tokens_the_sign_in_must_not_trust_open_no_session() {
    let app = spawn().await;
    let campus = app.campus.as_ref().unwrap();
    for fault in [
        Fault::WrongNonce,
        Fault::WrongAudience,
        Fault::WrongAuthorizedParty,
        Fault::WrongIssuer,
        Fault::ExpiredToken,
        Fault::FutureToken,
        Fault::BadSignature,
        Fault::AlgNone,
        Fault::UnknownKid,
    ] {
        campus.set_faults([fault]);
        let browser = app.browser();
        let answer = app.sign_in_staff(&browser, "hd-anna").await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_GATEWAY,
            "{fault:?}: {}",
            answer.body
        );
        answer.assert_contains("Kirjautuminen ei onnistunut");
        assert_not_signed_in(&app, &browser, &answer).await;
    }
    assert!(audit_lines(&app, "staff_sign_in").is_empty());
    campus.clear_faults();
    app.staff_browser("hd-anna").await;
    assert_eq!(
        staff_sessions(&app),
        1,
        "the same sign-in works without the faults"
    );
}

#[tokio::test]
async fn a_cancelled_sign_in_opens_nothing() {
    let app = spawn().await;
    let browser = app.browser();
    let authorize = browser.start_staff_sign_in().await;
    let callback = browser.at_broker(authorize, Choice::Cancel).await;
    let answer = browser.get(callback).await;
    answer
        .assert_status(StatusCode::OK)
        .assert_contains("Kirjautuminen peruttiin");
    assert_not_signed_in(&app, &browser, &answer).await;
}

#[tokio::test]
async fn sign_out_ends_the_staff_session() {
    let app = spawn().await;
    let browser = app.staff_browser("hd-anna").await;
    let home = browser.get_path("/helpdesk").await;
    let out = browser
        .post_form(app.at("/helpdesk/logout"), &[("csrf", &home.field("csrf"))])
        .await;
    out.assert_status(StatusCode::OK)
        .assert_contains("Olet kirjautunut ulos tukipalvelun sivuilta");
    assert!(
        set_cookies(&out)
            .iter()
            .any(|c| c.starts_with("tunnus_staff=;") && c.contains("Max-Age=0")),
        "{:?}",
        set_cookies(&out)
    );
    assert_not_signed_in(&app, &browser, &out).await;
    let signed_out = audit_lines(&app, "staff_sign_out");
    assert_eq!(signed_out.len(), 1);
    assert_eq!(signed_out[0]["staff"], "hd-anna");
}

#[tokio::test]
async fn sign_out_without_the_sessions_csrf_token_or_from_elsewhere_is_refused() {
    let app = spawn().await;
    let browser = app.staff_browser("hd-anna").await;
    let home = browser.get_path("/helpdesk").await;
    for form in [vec![], vec![("csrf", "")], vec![("csrf", "not-the-token")]] {
        browser
            .post_form(app.at("/helpdesk/logout"), &form)
            .await
            .assert_status(StatusCode::FORBIDDEN);
    }
    let cross_site = browser
        .client
        .post(app.at("/helpdesk/logout"))
        .header(reqwest::header::ORIGIN, "https://evil.example")
        .form(&[("csrf", home.field("csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(staff_sessions(&app), 1);
    browser
        .get_path("/helpdesk")
        .await
        .assert_contains("Hei, Anna Palvelu!");
    assert!(audit_lines(&app, "staff_sign_out").is_empty());
}

#[tokio::test]
async fn an_idle_staff_session_ends() {
    let app = spawn().await;
    let browser = app.staff_browser("hd-anna").await;
    app.clock.advance(time::Duration::minutes(29));
    browser
        .get_path("/helpdesk")
        .await
        .assert_contains("Hei, Anna Palvelu!");
    app.clock.advance(time::Duration::minutes(31));
    let page = browser.get_path("/helpdesk").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("action=\"/helpdesk/login\"");
    assert_eq!(staff_sessions(&app), 0);
}

/// Two sign-ins started in two tabs: whichever finishes last decides, and the session of the first
/// does not outlive it.
#[tokio::test]
async fn a_new_sign_in_ends_the_session_the_browser_held() {
    let app = spawn().await;
    let browser = app.browser();
    let first = browser.start_staff_sign_in().await;
    let second = browser.start_staff_sign_in().await;
    let anna = browser
        .at_broker(first, Choice::Person(app.staff_person("hd-anna")))
        .await;
    browser.get(anna).await.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(staff_sessions(&app), 1);
    let kalle = browser
        .at_broker(second, Choice::Person(app.staff_person("kalle")))
        .await;
    let answer = browser.get(kalle).await;
    answer.assert_status(StatusCode::FORBIDDEN);
    assert_not_signed_in(&app, &browser, &answer).await;
}

const DIRECTORY: &str = r#"
[[account]]
username = "kalle"
national_id = "010170-999R"
given_name = "Kalle"
family_name = "Lukkari"
category = "staff"
state = "active"
groups = ["helpdesk"]
"#;

#[tokio::test]
async fn groups_can_come_from_the_directory_instead_of_the_token() {
    let directory = Arc::new(MemoryDirectory::from_toml(DIRECTORY).unwrap());
    let app = spawn_with(
        HelpdeskSso {
            groups_from_directory: true,
            ..HelpdeskSso::default()
        },
        Options {
            directory: Some(directory),
            ..Options::default()
        },
    )
    .await;
    // kalle's token says `library`, the directory `helpdesk`: the directory decides.
    let browser = app.staff_browser("kalle").await;
    browser
        .get_path("/helpdesk")
        .await
        .assert_contains("Hei, Kalle Lukkari!");
    assert_eq!(staff_sessions(&app), 1);

    // hd-anna's token says `helpdesk`, but she has no account in this directory.
    let other = app.browser();
    let answer = app.sign_in_staff(&other, "hd-anna").await;
    answer.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(staff_sessions(&app), 1, "no session for hd-anna");
    let refused = audit_lines(&app, "staff_sign_in")
        .into_iter()
        .find(|line| line["outcome"] == "refused")
        .unwrap();
    assert_eq!(refused["reason"], "no_directory_account");
}

#[tokio::test]
async fn the_staff_routes_are_not_found_while_the_channel_is_off() {
    // Everything of the staff sign-in configured, but the channel switched off.
    let app = spawn_with(
        HelpdeskSso::default(),
        Options {
            service_toml: "[helpdesk]\nenabled = false\n".to_owned(),
            ..Options::default()
        },
    )
    .await;
    let browser = app.browser();
    for path in ["/helpdesk", "/helpdesk/callback?state=x&code=y"] {
        browser
            .get_path(path)
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }
    for path in ["/helpdesk/login", "/helpdesk/logout"] {
        browser
            .post_form(app.at(path), &[("csrf", "x")])
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }
    assert_eq!(app.campus.as_ref().unwrap().authorization_requests(), 0);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, "tunnus_staff=x".parse().unwrap());
    let refused = tunnus::http::helpdesk::staff(&app.state, &headers)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, tunnus::http::ErrorKind::NotFound);
}

#[tokio::test]
async fn nothing_secret_of_a_staff_sign_in_is_logged() {
    let app = spawn().await;
    let browser = app.browser();
    let authorize = browser.start_staff_sign_in().await;
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    let callback = browser
        .at_broker(authorize, Choice::Person(app.staff_person("hd-anna")))
        .await;
    let code = callback
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap();
    let answer = browser.get(callback).await;
    answer.assert_status(StatusCode::SEE_OTHER);
    let session = staff_cookie(&answer);
    let session = session[reqwest::header::COOKIE].to_str().unwrap();
    let session = session.trim_start_matches("tunnus_staff=");
    let logs = crate::harness::captured_logs();
    assert!(logs.contains("staff_signed_in"), "the sign-in was logged");
    for secret in [&query["state"], &query["nonce"], &code, &session.to_owned()] {
        assert!(!logs.contains(secret.as_str()), "a secret was logged");
    }
}

/// Each staff sign-in started writes a record: one client may start only
/// `limits.staff_sign_ins_per_ip` per window, and the refused start writes nothing.
#[tokio::test]
async fn a_client_starting_too_many_staff_sign_ins_is_limited_and_nothing_is_stored() {
    let app = spawn_with(
        HelpdeskSso::default(),
        Options {
            service_toml: "[limits]\nstaff_sign_ins_per_ip = 2\n".to_owned(),
            ..Options::default()
        },
    )
    .await;
    let browser = app.browser();
    for _ in 0..2 {
        browser.start_staff_sign_in().await;
    }
    let stored = staff_records(&app, "staff_login:").len();
    assert_eq!(stored, 2);
    let page = browser.get_path("/helpdesk").await;
    let refused = browser
        .post_form(app.at("/helpdesk/login"), &[("csrf", &page.field("csrf"))])
        .await;
    refused.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(staff_records(&app, "staff_login:").len(), stored);
    assert!(
        app.audit_log()
            .contains("\"reason\":\"staff_sign_ins_per_ip\"")
    );
}
