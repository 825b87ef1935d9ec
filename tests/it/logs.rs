//! Nothing secret or personal is ever logged.

use reqwest::StatusCode;

use crate::harness::{Choice, TestApp, captured_logs};

#[tokio::test]
async fn logs_never_contain_codes_tokens_or_identity_codes() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let authorize = browser.start_login().await;
    let request_object = authorize
        .query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let callback = browser
        .at_broker(authorize, Choice::Person(app.person("010170-999R")))
        .await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let answer = browser.get(callback).await;
    answer.assert_status(StatusCode::SEE_OTHER);
    let session_cookie = answer.headers["set-cookie"].to_str().unwrap().to_owned();
    let session = session_cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);
    let password = "kahvi-Tunturi-lumi-57-sade";
    let csrf = form.field("csrf");
    browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &csrf),
                ("password", password),
                ("confirmation", password),
            ],
        )
        .await
        .assert_status(StatusCode::OK);

    let logs = captured_logs();
    assert!(
        logs.contains("\"identified\""),
        "the flow was not logged at all"
    );
    let secrets = [
        ("authorization code", code.as_str()),
        ("state", state.as_str()),
        ("session id", session.as_str()),
        ("request object", &request_object[..40]),
        ("password", password),
        ("account CSRF token", &csrf),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(secret), "the {what} was logged");
    }
    for person in &app.persons {
        assert!(
            !logs.contains(&person.national_id),
            "an identity code was logged"
        );
    }
    // JWTs and JWEs start with a base64url JSON header.
    assert!(!logs.contains("eyJ"), "a token was logged");
    let audit = app.audit_log();
    assert!(audit.contains("\"event\":\"reset\""), "{audit}");
    for person in &app.persons {
        assert!(
            !audit.contains(&person.national_id),
            "an identity code reached the audit trail"
        );
    }
    assert!(
        !audit.contains(password) && !audit.contains(&code),
        "a secret reached the audit trail"
    );
}
