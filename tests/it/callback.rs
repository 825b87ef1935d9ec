//! Callbacks and forms that must be refused: each gets a clear page and leaves nothing behind.

use reqwest::StatusCode;

use crate::harness::{Browser, Choice, TestApp};

async fn back_from_broker(app: &TestApp, browser: &Browser) -> url::Url {
    let authorize = browser.start_login().await;
    browser
        .at_broker(authorize, Choice::Person(app.person("010170-999R")))
        .await
}

#[tokio::test]
async fn a_callback_can_be_used_only_once() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = back_from_broker(&app, &browser).await;
    browser
        .get(callback.clone())
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let replay = browser.get(callback).await;
    replay
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("Tunnistautuminen vanheni");
    assert_eq!(
        app.mock.token_requests(),
        1,
        "the replay reached the broker"
    );
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_and_the_rightful_browser_still_finishes() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = back_from_broker(&app, &browser).await;
    // Someone who learnt the callback URL: once without any binding cookie, once from a browser
    // with a login of its own (and so a binding cookie, but another one).
    let stranger = app.browser();
    let other = app.browser();
    other.start_login().await;
    for attacker in [&stranger, &other] {
        attacker
            .get(callback.clone())
            .await
            .assert_status(StatusCode::BAD_REQUEST)
            .assert_contains("toisessa selaimessa");
        attacker
            .get_path("/account")
            .await
            .assert_status(StatusCode::FORBIDDEN);
    }
    assert_eq!(app.mock.token_requests(), 0);
    assert_eq!(app.directory.writes(), 0);
    // The refusals did not use up the login: its own browser finishes it.
    let finished = browser.get(callback.clone()).await;
    finished.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(finished.location().path(), "/account");
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("tetyra");
    assert_eq!(app.mock.token_requests(), 1);
    // And once finished, the callback is used up for everyone.
    stranger
        .get(callback)
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("Tunnistautuminen vanheni");
}

#[tokio::test]
async fn racing_callbacks_of_one_login_finish_it_once() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = back_from_broker(&app, &browser).await;
    let (first, second) = tokio::join!(browser.get(callback.clone()), browser.get(callback));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::BAD_REQUEST],
        "{}\n{}",
        first.body,
        second.body
    );
    assert_eq!(app.mock.token_requests(), 1);
}

#[tokio::test]
async fn a_callback_naming_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let mut callback = back_from_broker(&app, &browser).await;
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "iss" {
                (k, "https://evil.example/realms/ftn".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);
    browser
        .get(callback)
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("Pyyntöä ei voitu käsitellä");
    app.assert_no_state();
    assert_eq!(app.mock.token_requests(), 0);
}

#[tokio::test]
async fn a_callback_without_iss_is_refused_when_the_broker_promises_it() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let mut callback = back_from_broker(&app, &browser).await;
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "iss")
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);
    browser
        .get(callback)
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    app.assert_no_state();
    assert_eq!(app.mock.token_requests(), 0);
}

#[tokio::test]
async fn a_login_not_finished_in_ten_minutes_expires() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let callback = back_from_broker(&app, &browser).await;
    app.clock.advance(time::Duration::minutes(10));
    browser
        .get(callback)
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("Tunnistautuminen vanheni");
    app.assert_no_state();
    assert_eq!(app.mock.token_requests(), 0);
}

#[tokio::test]
async fn malformed_callbacks_get_a_clear_page_and_change_nothing() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let long = "x".repeat(5000);
    let cases = [
        String::new(),
        "?code=abc".to_owned(),
        "?state=".to_owned(),
        "?state=unknown&code=abc".to_owned(),
        "?state=a&state=b&code=c".to_owned(),
        format!("?state={long}&code=abc"),
        "?state=%FF%FE&code=%00".to_owned(),
        "?error=access_denied".to_owned(),
        "?state=abc&code=x&unknown=1&session_state=2".to_owned(),
    ];
    for query in cases {
        let page = browser.get_path(&format!("/callback{query}")).await;
        assert!(page.status.is_client_error(), "{query}: {}", page.status);
        assert!(
            page.body.contains("<html lang=\"fi\">"),
            "{query}: not a page"
        );
        assert!(page.headers.contains_key("x-request-id"));
        assert!(
            page.body
                .contains(page.headers["x-request-id"].to_str().unwrap()),
            "{query}: no reference on the page"
        );
    }
    app.assert_no_state();
    assert_eq!(app.mock.token_requests(), 0);
}

#[tokio::test]
async fn the_login_form_needs_its_csrf_token() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get_path("/").await.assert_status(StatusCode::OK);
    let page = browser
        .post_form(app.at("/login"), &[("csrf", "not-the-token")])
        .await;
    page.assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Lomaketta ei hyväksytty");
    let without_field = browser.post_form(app.at("/login"), &[]).await;
    assert!(without_field.status.is_client_error());
    assert!(
        without_field.body.contains("<html"),
        "an extractor message reached the browser"
    );
    app.assert_no_state();
    assert_eq!(app.mock.authorization_requests(), 0);
}

#[tokio::test]
async fn the_login_form_is_refused_from_another_origin() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = browser.get_path("/").await.field("csrf");
    let page = browser
        .client
        .post(app.at("/login"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    app.assert_no_state();
}

#[tokio::test]
async fn a_huge_form_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = browser.get_path("/").await.field("csrf");
    let huge = "x".repeat(100_000);
    let page = browser
        .post_form(app.at("/login"), &[("csrf", &csrf), ("return_to", &huge)])
        .await;
    page.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains("<html"));
    app.assert_no_state();
}
