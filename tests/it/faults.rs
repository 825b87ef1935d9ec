//! One test per fault switch of the mock broker: the service refuses with a clear page and creates no
//! session (or, for a rotated signing key, copes; for a withdrawn one, refuses once it reads the
//! broker's keys again).

use reqwest::StatusCode;
use tunnus::mock_idp::Fault;

use crate::harness::{Options, TestApp};

const IDENTIFICATION_FAILED: &str = "Tunnistautuminen ei onnistunut";

/// Runs one identification with `fault` on, expects `status` and `text` on the callback's answer, and
/// checks that nothing about the login is left: no session, no transaction, no account page.
async fn refused(app: &TestApp, fault: Fault, status: StatusCode, text: &str) {
    app.mock.set_faults([fault]);
    let browser = app.browser();
    let page = browser.identify(app.person("010170-999R")).await;
    page.assert_status(status).assert_contains(text);
    assert!(
        page.headers
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("tunnus_session")),
        "{fault:?}: a session cookie was set"
    );
    app.assert_no_state();
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
}

macro_rules! refusal_tests {
    ($($name:ident: $fault:expr,)*) => {$(
        #[tokio::test]
        async fn $name() {
            let app = TestApp::spawn().await;
            refused(&app, $fault, StatusCode::BAD_GATEWAY, IDENTIFICATION_FAILED).await;
        }
    )*};
}

refusal_tests! {
    token_with_wrong_nonce_is_refused: Fault::WrongNonce,
    token_for_another_audience_is_refused: Fault::WrongAudience,
    token_from_another_issuer_is_refused: Fault::WrongIssuer,
    expired_token_is_refused: Fault::ExpiredToken,
    token_issued_in_the_future_is_refused: Fault::FutureToken,
    token_with_a_bad_signature_is_refused: Fault::BadSignature,
    token_signed_with_an_unpublished_key_is_refused: Fault::UnknownKid,
    unsigned_token_is_refused: Fault::AlgNone,
    unencrypted_token_is_refused: Fault::Unencrypted,
    token_encrypted_to_another_key_is_refused: Fault::EncryptedToWrongKey,
    token_with_too_low_assurance_is_refused: Fault::AcrTooLow,
    token_without_identity_code_is_refused: Fault::MissingNationalId,
    token_with_malformed_identity_code_is_refused: Fault::MalformedNationalId,
    token_for_another_authorized_party_is_refused: Fault::WrongAuthorizedParty,
}

#[tokio::test]
async fn broker_error_redirect_shows_the_broker_error_page_without_a_token_request() {
    let app = TestApp::spawn().await;
    refused(
        &app,
        Fault::ErrorRedirect,
        StatusCode::BAD_GATEWAY,
        "Tunnistuspalvelu ilmoitti virheestä",
    )
    .await;
    assert_eq!(app.mock.token_requests(), 0);
}

#[tokio::test]
async fn slow_token_endpoint_times_out_into_the_unavailable_page() {
    let app = TestApp::spawn_with(Options {
        service_toml: "[broker]\nhttp_timeout = \"1s\"".into(),
        ..Options::default()
    })
    .await;
    refused(
        &app,
        Fault::SlowToken,
        StatusCode::SERVICE_UNAVAILABLE,
        "ei ole juuri nyt käytettävissä",
    )
    .await;
}

#[tokio::test]
async fn token_endpoint_server_error_shows_the_unavailable_page() {
    let app = TestApp::spawn().await;
    refused(
        &app,
        Fault::TokenServerError,
        StatusCode::SERVICE_UNAVAILABLE,
        "ei ole juuri nyt käytettävissä",
    )
    .await;
}

#[tokio::test]
async fn a_rotated_broker_signing_key_is_fetched_and_accepted() {
    let app = TestApp::spawn().await;
    let person = app.person("010170-999R");
    // The first login makes the service read the broker's keys; then the broker rotates.
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    app.mock.set_faults([Fault::RotatedSigningKey]);
    let browser = app.browser();
    browser
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn unknown_key_ids_make_the_service_refetch_the_broker_keys_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let person = app.person("010170-999R");
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // A rotation right after an unknown kid: the keys were just read again, so this one waits.
    app.mock.set_faults([Fault::UnknownKid]);
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::BAD_GATEWAY);
    app.mock.set_faults([Fault::RotatedSigningKey]);
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::BAD_GATEWAY);
    app.clock.advance(time::Duration::seconds(61));
    app.mock.set_faults([Fault::RotatedSigningKey]);
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_broker_key_withdrawn_stops_being_trusted_when_the_keys_are_read_again() {
    let app = TestApp::spawn().await;
    let person = app.person("010170-999R");
    // The first login makes the service read the broker's keys.
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // The broker withdraws that key, and someone holding it goes on signing ID tokens with it. The
    // service's copy of the keys still holds it: the refusal below comes from reading them again.
    app.mock.set_faults([Fault::WithdrawnSigningKey]);
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // After `broker.jwks_refresh` (an hour by default) the keys are read again, without the
    // withdrawn one.
    app.clock.advance(time::Duration::minutes(61));
    refused(
        &app,
        Fault::WithdrawnSigningKey,
        StatusCode::BAD_GATEWAY,
        IDENTIFICATION_FAILED,
    )
    .await;
    // The key that replaced it is trusted.
    app.mock.clear_faults();
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn encryption_can_be_made_optional_for_development_brokers() {
    let app = TestApp::spawn_with(Options {
        broker_encrypts: false,
        service_requires_encryption: false,
        ..Options::default()
    })
    .await;
    app.browser()
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn broker_discovery_failing_gives_the_unavailable_page_before_any_redirect() {
    let app = TestApp::spawn().await;
    app.mock.set_faults([Fault::DiscoveryServerError]);
    let browser = app.browser();
    let csrf = browser.get_path("/").await.field("csrf");
    browser
        .post_form(app.at("/login"), &[("csrf", &csrf)])
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("ei ole juuri nyt käytettävissä");
    app.assert_no_state();
    browser
        .get_path("/readyz")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE);
    // When the broker answers again, so does the service, without a restart.
    app.mock.clear_faults();
    browser
        .get_path("/readyz")
        .await
        .assert_status(StatusCode::OK);
    browser.start_login().await;
}

#[tokio::test]
async fn broker_keys_failing_gives_the_unavailable_page_and_no_session() {
    let app = TestApp::spawn().await;
    refused(
        &app,
        Fault::JwksServerError,
        StatusCode::SERVICE_UNAVAILABLE,
        "ei ole juuri nyt käytettävissä",
    )
    .await;
}

#[tokio::test]
async fn slow_broker_keys_time_out_into_the_unavailable_page() {
    let app = TestApp::spawn_with(Options {
        service_toml: "[broker]\nhttp_timeout = \"1s\"".into(),
        ..Options::default()
    })
    .await;
    refused(
        &app,
        Fault::SlowJwks,
        StatusCode::SERVICE_UNAVAILABLE,
        "ei ole juuri nyt käytettävissä",
    )
    .await;
}
