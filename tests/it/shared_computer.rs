//! Library and service-point computers: cookies that end with the browser, "cancel and sign out", a
//! session that ends after its success and when left idle; and two tabs of one session submitting
//! two passwords.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use tunnus::directory::memory::WriteFault;

use crate::harness::{Browser, Options, Page, TestApp};

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";
const OTHER: &str = "sade-Lumi-tunturi-75-kahvi";
const TERO: &str = "010170-999R";

async fn identified(app: &TestApp) -> (Browser, Page, Page) {
    let browser = app.browser();
    let callback = browser.identify(app.person(TERO)).await;
    callback.assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK);
    (browser, form, callback)
}

async fn submit(app: &TestApp, browser: &Browser, form: &Page, password: &str) -> Page {
    browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &form.field("csrf")),
                ("password", password),
                ("confirmation", password),
            ],
        )
        .await
}

fn set_cookies(page: &Page) -> Vec<String> {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn session_and_login_cookies_end_with_the_browser() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let landing = browser.get_path("/").await;
    let started = browser
        .post_form(app.at("/login"), &[("csrf", &landing.field("csrf"))])
        .await;
    let login_cookie = set_cookies(&started)
        .into_iter()
        .find(|c| c.starts_with("tunnus_login="))
        .expect("the start sets the login binding");
    assert!(!login_cookie.contains("Max-Age"), "{login_cookie}");
    let back = browser
        .at_broker(
            started.location(),
            crate::harness::Choice::Person(app.person(TERO)),
        )
        .await;
    let callback = browser.get(back).await;
    let session_cookie = set_cookies(&callback)
        .into_iter()
        .find(|c| c.starts_with("tunnus_session="))
        .expect("the callback sets the session");
    assert!(
        !session_cookie.contains("Max-Age") && !session_cookie.contains("Expires"),
        "{session_cookie}"
    );
}

#[tokio::test]
async fn cancel_and_sign_out_ends_the_session_and_its_grant() {
    let app = TestApp::spawn().await;
    let (browser, form, _) = identified(&app).await;
    form.assert_contains("Peruuta ja kirjaudu ulos")
        .assert_contains("action=\"/logout\"");
    let signed_out = browser
        .post_form(app.at("/logout"), &[("csrf", &form.field("csrf"))])
        .await;
    signed_out
        .assert_status(StatusCode::OK)
        .assert_contains("Olet kirjautunut ulos");
    assert!(
        set_cookies(&signed_out)
            .iter()
            .any(|c| c.starts_with("tunnus_session=;") && c.contains("Max-Age=0")),
        "the session cookie is removed"
    );
    app.assert_no_state();
    // The page left open in the browser cannot be used any more.
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert!(app.audit_log().contains("\"event\":\"sign_out\""));
}

#[tokio::test]
async fn a_sign_out_without_the_session_s_token_or_from_another_site_changes_nothing() {
    let app = TestApp::spawn().await;
    let (browser, form, _) = identified(&app).await;
    browser
        .post_form(app.at("/logout"), &[("csrf", "not-the-token")])
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let other_site = browser
        .client
        .post(app.at("/logout"))
        .header("origin", "https://elsewhere.example")
        .form(&[("csrf", form.field("csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(other_site.status(), StatusCode::FORBIDDEN);
    // The session is still there and still works.
    submit(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert!(!app.audit_log().contains("\"event\":\"sign_out\""));
}

#[tokio::test]
async fn an_idle_session_ends_before_its_ten_minutes() {
    let app = TestApp::spawn().await;
    let (walked_away, form, _) = identified(&app).await;
    let (busy, _, _) = identified(&app).await;
    // Used within the idle time, a session goes on past the first five minutes.
    app.clock.advance(time::Duration::minutes(4));
    busy.get_path("/account")
        .await
        .assert_status(StatusCode::OK);
    app.clock.advance(time::Duration::minutes(4));
    busy.get_path("/account")
        .await
        .assert_status(StatusCode::OK);
    // Left alone for five minutes, the other one ended, and its grant writes nothing.
    walked_away
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    submit(&app, &walked_away, &form, GOOD)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.directory.writes(), 0);
}

#[tokio::test]
async fn the_idle_time_is_a_setting_and_the_absolute_end_still_holds() {
    let app = TestApp::spawn_with(Options {
        service_toml: "[session]\nidle_timeout = \"2m\"".into(),
        ..Options::default()
    })
    .await;
    let (browser, form, _) = identified(&app).await;
    for _ in 0..5 {
        app.clock.advance(time::Duration::seconds(110));
        browser
            .get_path("/account")
            .await
            .assert_status(StatusCode::OK);
    }
    // Used all along (last a minute ago), but ten minutes after identification it ends all the same.
    app.clock.advance(time::Duration::seconds(60));
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    submit(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.directory.writes(), 0);
}

/// Waits (with a generous deadline) until `n` submissions have waited for another one.
async fn until_submissions_waited(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let line = format!("tunnus_submissions_waited_total {n}");
    while !app
        .browser()
        .get_path("/metrics")
        .await
        .body
        .contains(&line)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no submission waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (with a generous deadline) until a write is waiting behind the test's hold.
async fn until_a_write_waits(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.directory.writes_waiting() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no write started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tab_is_told_another_password_was_set_and_when() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (browser, form, _) = identified(&app).await;
    let browser = std::sync::Arc::new(browser);
    let form = std::sync::Arc::new(form);
    let hold = app.directory.hold_writes().unwrap();
    let first = tokio::spawn({
        let (app, browser, form) = (app.clone(), browser.clone(), form.clone());
        async move { submit(&app, &browser, &form, GOOD).await }
    });
    until_a_write_waits(&app).await;
    let second = tokio::spawn({
        let (app, browser, form) = (app.clone(), browser.clone(), form.clone());
        async move { submit(&app, &browser, &form, OTHER).await }
    });
    until_submissions_waited(&app, 1).await;
    drop(hold);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    first
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    second
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("asetettiin juuri toisessa ikkunassa");
    let local = tunnus::clock::finnish_time(tunnus::clock::Clock::now(app.clock.as_ref()));
    second.assert_contains(&format!("kello {:02}.{:02}", local.hour(), local.minute()));
    assert!(!second.body.contains("Salasana on vaihdettu"));
    assert_eq!(app.directory.writes(), 1);
    assert!(app.directory.verify_password("tetyra", GOOD));
    assert!(!app.directory.verify_password("tetyra", OTHER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_first_tab_s_write_fails_the_waiting_tab_writes_its_own() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (browser, form, _) = identified(&app).await;
    let browser = std::sync::Arc::new(browser);
    let form = std::sync::Arc::new(form);
    app.directory.fail_next_write_with(WriteFault::Unavailable);
    let hold = app.directory.hold_writes().unwrap();
    let first = tokio::spawn({
        let (app, browser, form) = (app.clone(), browser.clone(), form.clone());
        async move { submit(&app, &browser, &form, GOOD).await }
    });
    until_a_write_waits(&app).await;
    let second = tokio::spawn({
        let (app, browser, form) = (app.clone(), browser.clone(), form.clone());
        async move { submit(&app, &browser, &form, OTHER).await }
    });
    until_submissions_waited(&app, 1).await;
    drop(hold);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    first.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    second
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
    assert!(app.directory.verify_password("tetyra", OTHER));
}

/// The person identified on a phone and on a laptop, and submits a password on each while the first
/// is being written: one write, one audit event, and the second device is told the truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_of_one_account_write_once_and_the_second_is_told() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (phone, phone_form, _) = identified(&app).await;
    let (laptop, laptop_form, _) = identified(&app).await;
    let hold = app.directory.hold_writes().unwrap();
    let first = tokio::spawn({
        let app = app.clone();
        async move { submit(&app, &phone, &phone_form, GOOD).await }
    });
    until_a_write_waits(&app).await;
    let second = tokio::spawn({
        let app = app.clone();
        async move { submit(&app, &laptop, &laptop_form, OTHER).await }
    });
    // The laptop's submission waits for the phone's write (it cannot be seen waiting from outside,
    // so the hold is kept a moment: either way the outcome below must hold).
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(hold);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    first
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    second
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("toisessa ikkunassa, välilehdessä tai laitteessa");
    assert_eq!(app.directory.writes(), 1);
    assert!(app.directory.verify_password("tetyra", GOOD));
    let audit = app.audit_log();
    let successes = audit
        .lines()
        .filter(|line| {
            line.contains("\"event\":\"reset\"") && line.contains("\"outcome\":\"success\"")
        })
        .count();
    assert_eq!(successes, 1, "{audit}");
    assert!(
        audit.contains("\"reason\":\"written_in_another_session\""),
        "{audit}"
    );
}

/// After one device set the password, the other device (identified before that) is told so and
/// writes nothing; a new identification may set a password again.
#[tokio::test]
async fn a_session_opened_before_another_one_wrote_does_not_write_over_it() {
    let app = TestApp::spawn().await;
    let (phone, phone_form, _) = identified(&app).await;
    let (laptop, laptop_form, _) = identified(&app).await;
    submit(&app, &phone, &phone_form, GOOD)
        .await
        .assert_status(StatusCode::OK);
    submit(&app, &laptop, &laptop_form, OTHER)
        .await
        .assert_status(StatusCode::CONFLICT);
    assert_eq!(app.directory.writes(), 1);
    assert!(app.directory.verify_password("tetyra", GOOD));
    app.clock.advance(time::Duration::seconds(1));
    let (again, again_form, _) = identified(&app).await;
    submit(&app, &again, &again_form, OTHER)
        .await
        .assert_status(StatusCode::OK);
    assert!(app.directory.verify_password("tetyra", OTHER));
}
