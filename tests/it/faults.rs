//! One test per fault switch of the mock broker: the service refuses with a clear page and creates no
//! session (or, for a rotated signing key, copes; for a withdrawn one, refuses once it reads the
//! broker's keys again).

use reqwest::StatusCode;
use tunnus::mock_idp::Fault;

use crate::harness::{Options, TestApp};

const IDENTIFICATION_FAILED: &str = "Tunnistautuminen ei onnistunut";

/// The `detail` the service logged for the request whose answer was `page`: what refused it.
pub fn logged_reason(page: &crate::harness::Page) -> String {
    let id = page.headers["x-request-id"].to_str().unwrap().to_owned();
    crate::harness::captured_logs()
        .lines()
        .filter(|line| line.contains(&id))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|line| {
            let fields = if line["fields"].is_object() {
                &line["fields"]
            } else {
                &line
            };
            (fields["request_id"] == id.as_str())
                .then(|| fields["detail"].as_str().map(str::to_owned))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no refusal was logged for request {id}"))
}

/// Runs one identification with `fault` on, expects `status` and `text` on the callback's answer and
/// `reason` in what the service logged as the cause, and checks that nothing about the login is
/// left: no session, no transaction, no account page.
async fn refused(app: &TestApp, fault: Fault, status: StatusCode, text: &str, reason: &str) {
    app.mock.set_faults([fault]);
    let browser = app.browser();
    let page = browser.identify(app.person("010170-999R")).await;
    page.assert_status(status).assert_contains(text);
    let logged = logged_reason(&page);
    assert!(
        logged.to_lowercase().contains(&reason.to_lowercase()),
        "{fault:?} was refused for another reason: {logged}"
    );
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
    ($($name:ident: $fault:expr => $reason:expr,)*) => {$(
        #[tokio::test]
        async fn $name() {
            let app = TestApp::spawn().await;
            refused(&app, $fault, StatusCode::BAD_GATEWAY, IDENTIFICATION_FAILED, $reason).await;
        }
    )*};
}

refusal_tests! {
    token_with_wrong_nonce_is_refused: Fault::WrongNonce => "nonce mismatch",
    token_for_another_audience_is_refused: Fault::WrongAudience => "Invalid audiences",
    token_from_another_issuer_is_refused: Fault::WrongIssuer => "Invalid issuer",
    expired_token_is_refused: Fault::ExpiredToken => "ID token expired at",
    token_issued_in_the_future_is_refused: Fault::FutureToken => "iat is in the future",
    token_with_a_bad_signature_is_refused: Fault::BadSignature => "signature does not verify",
    token_signed_with_an_unpublished_key_is_refused: Fault::UnknownKid => "key the broker does not publish",
    unsigned_token_is_refused: Fault::AlgNone => "not a signed JWT with a known algorithm",
    unencrypted_token_is_refused: Fault::Unencrypted => "the ID token is not encrypted",
    token_encrypted_to_another_key_is_refused: Fault::EncryptedToWrongKey => "could not be decrypted",
    token_with_too_low_assurance_is_refused: Fault::AcrTooLow => "loa1` is not accepted",
    token_without_identity_code_is_refused: Fault::MissingNationalId => "claim `hetu`: is missing",
    token_with_malformed_identity_code_is_refused: Fault::MalformedNationalId => "check character does not match",
    token_for_another_authorized_party_is_refused: Fault::WrongAuthorizedParty => "azp is not this client",
}

#[tokio::test]
async fn broker_error_redirect_shows_the_broker_error_page_without_a_token_request() {
    let app = TestApp::spawn().await;
    refused(
        &app,
        Fault::ErrorRedirect,
        StatusCode::BAD_GATEWAY,
        "Tunnistuspalvelu ilmoitti virheestä",
        "broker returned error",
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
        "openid-connect/token: timed out",
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
        "openid-connect/token: HTTP 500",
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
        "key the broker does not publish",
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
        "openid-connect/certs: HTTP 500",
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
        "openid-connect/certs: timed out",
    )
    .await;
}

/// The broker and the service on clocks of their own: `exp`, `iat` and the accepted age are each
/// checked up to the configured skew (60 s) and no further.
mod clocks {
    use super::*;

    /// The broker on a clock of its own, `offset_secs` ahead of the service's.
    async fn with_broker_clock(offset_secs: i64, lifetime_secs: u64) -> TestApp {
        TestApp::spawn_with(Options {
            broker_clock_offset: Some(time::Duration::seconds(offset_secs)),
            token_lifetime_secs: Some(lifetime_secs),
            ..Options::default()
        })
        .await
    }

    /// A broker whose ID-token clock is `offset_secs` off (behind when negative). A broker whose
    /// whole clock is that far behind refuses the service's request objects as not yet valid, so
    /// only its token times are moved.
    async fn with_token_clock(offset_secs: i64, lifetime_secs: u64) -> TestApp {
        TestApp::spawn_with(Options {
            token_clock_offset_secs: Some(offset_secs),
            token_lifetime_secs: Some(lifetime_secs),
            ..Options::default()
        })
        .await
    }

    async fn accepted(app: &TestApp) {
        app.browser()
            .identify(app.person("010170-999R"))
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }

    async fn refused_for(app: &TestApp, reason: &str) {
        let page = app.browser().identify(app.person("010170-999R")).await;
        page.assert_status(StatusCode::BAD_GATEWAY);
        let logged = logged_reason(&page);
        assert!(
            logged.contains(reason),
            "refused for another reason: {logged}"
        );
        app.assert_no_state();
    }

    #[tokio::test]
    async fn a_broker_clock_ahead_by_less_than_the_skew_is_accepted_and_by_more_refused() {
        accepted(&with_broker_clock(50, 600).await).await;
        refused_for(&with_broker_clock(70, 600).await, "iat is in the future").await;
    }

    #[tokio::test]
    async fn an_expiry_passed_by_less_than_the_skew_is_accepted_and_by_more_refused() {
        // Tokens live two minutes; the broker's clock is behind, so they arrive nearly expired.
        accepted(&with_token_clock(-170, 120).await).await;
        refused_for(&with_token_clock(-190, 120).await, "ID token expired at").await;
    }

    #[tokio::test]
    async fn a_token_older_than_the_accepted_age_is_refused_even_when_not_expired() {
        // Tokens live an hour; the accepted age is ten minutes (and the skew).
        accepted(&with_token_clock(-650, 3600).await).await;
        refused_for(&with_token_clock(-670, 3600).await, "iat is too old").await;
    }
}
