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

    let callback_id = answer.headers["x-request-id"].to_str().unwrap().to_owned();

    // Refusals log their causes too, and never what was refused: a password the rules refuse, a
    // form with a forged CSRF token, and a token the broker made with a wrong nonce.
    let weak = "Tunturi-010170";
    browser
        .post_form(
            app.at("/account"),
            &[("csrf", &csrf), ("password", weak), ("confirmation", weak)],
        )
        .await;
    let forged_csrf = "forged-csrf-value-that-must-not-be-logged";
    let forged = browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", forged_csrf),
                ("password", password),
                ("confirmation", password),
            ],
        )
        .await;
    forged.assert_status(StatusCode::FORBIDDEN);
    let forged_id = forged.headers["x-request-id"].to_str().unwrap().to_owned();
    app.mock.set_faults([tunnus::mock_idp::Fault::WrongNonce]);
    let refused_browser = app.browser();
    let authorize = refused_browser.start_login().await;
    let refused_callback = refused_browser
        .at_broker(authorize, Choice::Person(app.person("010170-999R")))
        .await;
    let refused_code = refused_callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let refused = refused_browser.get(refused_callback).await;
    refused.assert_status(StatusCode::BAD_GATEWAY);
    let refused_id = refused.headers["x-request-id"].to_str().unwrap().to_owned();

    let logs = captured_logs();
    // This test's own requests were logged (other tests share the buffer; these ids are ours).
    for (what, id) in [
        ("callback", &callback_id),
        ("forged form", &forged_id),
        ("refused token", &refused_id),
    ] {
        assert!(
            logs.lines().any(|line| line.contains(id.as_str())),
            "the {what} request was not logged"
        );
    }
    assert!(
        crate::faults::logged_reason(&refused).contains("nonce"),
        "the refusal's cause was not logged"
    );
    let secrets = [
        ("authorization code", code.as_str()),
        ("state", state.as_str()),
        ("session id", session.as_str()),
        ("request object", &request_object[..40]),
        ("password", password),
        ("refused password", weak),
        ("account CSRF token", &csrf),
        ("forged CSRF token", forged_csrf),
        ("refused callback's code", refused_code.as_str()),
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
    if let Some(token) = compact_jose_token(&logs) {
        panic!("a token was logged: {token}…");
    }
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

/// The start of the first compact JWS or JWE in `text`: a base64url JSON header (`eyJ…`) followed by
/// a dot. Random identifiers in the logs (request ids) may contain `eyJ` by chance but never a dot.
fn compact_jose_token(text: &str) -> Option<&str> {
    let is_base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices("eyJ").find_map(|(start, _)| {
        let rest = &text[start..];
        let header = rest.find(|c: char| !is_base64url(c)).unwrap_or(rest.len());
        (header >= 16 && rest[header..].starts_with('.')).then(|| &rest[..header.min(24)])
    })
}

#[test]
fn compact_tokens_are_found_and_request_ids_are_not() {
    let token = "{\"url\":\"/x?request=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln\"}";
    assert_eq!(compact_jose_token(token), Some("eyJhbGciOiJSUzI1NiJ9"));
    let request_id = "{\"request_id\":\"WJH4eyJP_gNkW_43\",\"path\":\"/a.b\"}";
    assert_eq!(compact_jose_token(request_id), None);
}
