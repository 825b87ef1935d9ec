//! What every page carries: languages, security headers, friendly error pages.

use reqwest::StatusCode;

use crate::harness::{Options, TestApp};

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let page = app.browser().get_path("/").await;
    page.assert_status(StatusCode::OK);
    let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Script only from the service itself, never inline: the CSP would block it anyway.
    for script in page.body.split("<script").skip(1) {
        assert!(
            script.starts_with(" src=\"/static/"),
            "inline script: <script{script}"
        );
    }
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let cookie = header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
}

#[tokio::test]
async fn the_language_comes_from_the_link_then_the_cookie_then_the_browser() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser
        .get_path("/")
        .await
        .assert_contains("<html lang=\"fi\">");
    browser
        .get_path("/?lang=en")
        .await
        .assert_contains("<html lang=\"en\">");
    // Remembered without the parameter.
    browser
        .get_path("/")
        .await
        .assert_contains("<html lang=\"en\">");
    let swede = app
        .browser()
        .client
        .get(app.at("/"))
        .header("accept-language", "sv-FI, en;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(swede.contains("<html lang=\"sv\">"));
}

#[tokio::test]
async fn unknown_pages_get_a_friendly_page_in_the_persons_language() {
    let app = TestApp::spawn().await;
    let page = app.browser().get_path("/no-such-page?lang=sv").await;
    page.assert_status(StatusCode::NOT_FOUND)
        .assert_contains("Sidan hittades inte")
        .assert_contains("<html lang=\"sv\">");
}

#[tokio::test]
async fn the_account_page_needs_an_identified_session() {
    let app = TestApp::spawn().await;
    app.browser()
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Istunto on päättynyt");
}

#[tokio::test]
async fn the_identified_session_expires_after_ten_minutes() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::OK);
    app.clock.advance(time::Duration::minutes(10));
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn return_to_is_kept_only_when_allow_listed() {
    let app = TestApp::spawn_with(Options {
        service_toml: "[ui]\nreturn_to_allowlist = [\"https://sso.example.fi/idp/\"]".into(),
        ..Options::default()
    })
    .await;
    let browser = app.browser();
    let allowed = browser
        .get_path("/?return_to=https%3A%2F%2Fsso.example.fi%2Fidp%2Flogin")
        .await;
    assert_eq!(
        allowed.field("return_to"),
        "https://sso.example.fi/idp/login"
    );
    for refused in [
        "https://sso.example.fi.evil.example/idp/",
        "https://sso.example.fi:8443/idp/",
        "http://sso.example.fi/idp/",
        "https://sso.example.fi/other/",
        "https://user@sso.example.fi/idp/",
        "javascript:alert(1)",
    ] {
        let page = browser
            .get(app.at(&format!("/?return_to={}", urlencode(refused))))
            .await;
        assert!(
            !page.body.contains("name=\"return_to\""),
            "{refused} was kept"
        );
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn readiness_reports_the_broker() {
    let app = TestApp::spawn().await;
    let ready = app.browser().get_path("/readyz").await;
    ready
        .assert_status(StatusCode::OK)
        .assert_contains("\"broker\":\"ok\"");
    app.browser()
        .get_path("/healthz")
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_broker_gives_the_unavailable_page_and_not_ready() {
    // A port nobody listens on: bind one, note it, and close it again.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = TestApp::spawn_with(Options {
        service_toml: format!("[broker]\nissuer = \"http://{closed}/realms/none\""),
        ..Options::default()
    })
    .await;
    let browser = app.browser();
    let csrf = browser.get_path("/").await.field("csrf");
    browser
        .post_form(app.at("/login"), &[("csrf", &csrf)])
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("Palvelu ei ole juuri nyt käytettävissä");
    let ready = browser.get_path("/readyz").await;
    ready.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        ready.body.starts_with('{'),
        "readiness must stay machine-readable"
    );
    app.assert_no_state();
}

#[tokio::test]
async fn the_landing_page_shows_the_configured_ways_and_links() {
    let app = TestApp::spawn_with(Options {
        service_toml: r##"
            [ui]
            hr_url = "https://intra.example.fi/hr"
            service_points_url = "https://www.example.fi/service-points"
            service_request_url = "https://requests.example.fi/"
            [ui.texts.en]
            landing_title = "Forgot your password at Example UAS?"
            [ui.colours]
            primary = "#00539b"
        "##
        .into(),
        ..Options::default()
    })
    .await;
    let page = app.browser().get_path("/?lang=en").await;
    page.assert_status(StatusCode::OK)
        .assert_contains("Forgot your password at Example UAS?")
        .assert_contains("href=\"https://intra.example.fi/hr\"")
        .assert_contains("href=\"https://www.example.fi/service-points\"")
        .assert_contains("href=\"https://requests.example.fi/\"")
        .assert_contains("registered letter")
        .assert_contains("identity document")
        .assert_contains("never sent by e-mail or text message");
    let theme = app.browser().get_path("/static/theme.css").await;
    theme
        .assert_status(StatusCode::OK)
        .assert_contains("--accent: #00539b");
    // No logo configured: none linked, and its address is a plain 404 page.
    assert!(!page.body.contains("/static/logo"));
    app.browser()
        .get_path("/static/logo")
        .await
        .assert_status(StatusCode::NOT_FOUND);
}
