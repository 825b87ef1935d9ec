//! The whole identification, end to end, for every preset, JWE pair and signing algorithm.

use reqwest::StatusCode;
use tunnus::keys::SigningAlg;
use tunnus::oidc::claims::Preset;
use tunnus::oidc::jwe::{ContentEncryption, KeyManagementAlg};

use crate::harness::{Choice, Options, TestApp};

/// Identifies Tero Testi Äyrämö and checks that his account page follows.
async fn identify_and_check(app: &TestApp) {
    let browser = app.browser();
    let callback = browser.identify(app.person("010170-999R")).await;
    callback.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(callback.location().path(), "/account");
    let account = browser.get_path("/account").await;
    account
        .assert_status(StatusCode::OK)
        .assert_contains("Tero Testi Äyrämö")
        .assert_contains("tetyra");
    assert!(
        !account.body.contains("010170-999R"),
        "the plain identity code was shown"
    );
}

#[tokio::test]
async fn a_person_is_identified_with_each_preset() {
    for preset in Preset::ALL {
        let app = TestApp::spawn_with(Options {
            preset,
            ..Options::default()
        })
        .await;
        identify_and_check(&app).await;
        assert_eq!(app.mock.tokens_issued(), 1, "{preset:?}");
    }
}

#[tokio::test]
async fn a_person_is_identified_with_each_jwe_algorithm_pair() {
    for alg in KeyManagementAlg::ALL {
        for enc in ContentEncryption::ALL {
            let app = TestApp::spawn_with(Options {
                alg,
                enc,
                ..Options::default()
            })
            .await;
            identify_and_check(&app).await;
        }
    }
}

#[tokio::test]
async fn a_person_is_identified_with_each_request_object_algorithm() {
    for signing_alg in [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256] {
        let app = TestApp::spawn_with(Options {
            signing_alg,
            ..Options::default()
        })
        .await;
        identify_and_check(&app).await;
    }
}

#[tokio::test]
async fn the_broker_can_fetch_the_service_keys_from_its_jwks_url() {
    let app = TestApp::spawn_with(Options {
        jwks_by_url: true,
        ..Options::default()
    })
    .await;
    identify_and_check(&app).await;
    assert!(app.mock.client("tunnus-test").unwrap().jwks_fetches() >= 1);
}

#[tokio::test]
async fn the_authorization_request_is_a_signed_request_object() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let authorize = browser.start_login().await;
    assert!(authorize.as_str().starts_with(&app.issuer));
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "tunnus-test");
    assert!(query.contains_key("request"));
    for inside in ["state", "nonce", "redirect_uri", "code_challenge"] {
        assert!(
            !query.contains_key(inside),
            "{inside} leaked outside the request object"
        );
    }
    let parts: Vec<&str> = query["request"].split('.').collect();
    assert_eq!(parts.len(), 3);
}

#[tokio::test]
async fn the_language_reaches_the_broker_as_ui_locales() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser
        .get_path("/?lang=sv")
        .await
        .assert_status(StatusCode::OK);
    let authorize = browser.start_login().await;
    let login = browser.get(authorize).await;
    login
        .assert_contains("lang=\"sv\"")
        .assert_contains("Välj en testperson");
}

#[tokio::test]
async fn cancelling_at_the_broker_shows_a_calm_page_and_creates_no_session() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let authorize = browser.start_login().await;
    let callback = browser.at_broker(authorize, Choice::Cancel).await;
    let page = browser.get(callback).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("Tunnistautuminen keskeytettiin");
    app.assert_no_state();
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.mock.token_requests(), 0);
}

#[tokio::test]
async fn two_logins_started_in_two_tabs_can_both_finish() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let first = browser.start_login().await;
    let second = browser.start_login().await;
    let person = app.person("010170-999R");
    let second_back = browser.at_broker(second, Choice::Person(person)).await;
    let first_back = browser.at_broker(first, Choice::Person(person)).await;
    browser
        .get(first_back)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    browser
        .get(second_back)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_token_encrypted_to_a_retired_key_still_decrypts() {
    use std::sync::Arc;
    use tunnus::keys::{DecryptionKey, ServiceKeys};
    // The broker still holds last week's JWKS; the service has rotated its encryption key since.
    let mut rotated = ServiceKeys::generate(SigningAlg::RS256).unwrap();
    let broker_jwks = rotated.public_jwks(KeyManagementAlg::RsaOaep);
    rotated
        .encryption
        .insert(0, DecryptionKey::generate().unwrap());
    let app = TestApp::spawn_with(Options {
        keys: Some(Arc::new(rotated)),
        broker_jwks: Some(broker_jwks),
        ..Options::default()
    })
    .await;
    identify_and_check(&app).await;
}
