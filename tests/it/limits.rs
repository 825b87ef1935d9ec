//! Rate limits and operations endpoints.

use reqwest::StatusCode;

use crate::harness::{Options, TestApp};

fn with(toml: &str) -> Options {
    Options {
        service_toml: toml.to_owned(),
        ..Options::default()
    }
}

/// Posts the start form; returns the answer.
async fn start(app: &TestApp, browser: &crate::harness::Browser) -> crate::harness::Page {
    let csrf = browser.get_path("/").await.field("csrf");
    browser
        .post_form(app.at("/login"), &[("csrf", &csrf)])
        .await
}

#[tokio::test]
async fn login_starts_per_address_are_limited_before_the_broker_is_involved() {
    let app = TestApp::spawn_with(with(
        "[limits]\nlogin_starts_per_ip = 2\nlogin_window = \"10m\"",
    ))
    .await;
    let browser = app.browser();
    for _ in 0..2 {
        start(&app, &browser)
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    let refused = start(&app, &browser).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Liian monta yritystä");
    assert_eq!(refused.headers["retry-after"], "600");
    assert!(refused.headers.get("location").is_none());
    let audit = app.audit_log();
    assert!(
        audit.contains("\"reason\":\"login_starts_per_ip\""),
        "{audit}"
    );
    let metrics = app.browser().get_path("/metrics").await;
    metrics.assert_contains("tunnus_rate_limited_total{limit=\"login_starts_per_ip\"} 1");
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let app = TestApp::spawn_with(with(
        "[limits]\nlogin_starts_per_ip = 1\n[server]\ntrusted_proxies = [\"127.0.0.1\"]",
    ))
    .await;
    assert_eq!(from(&app, "198.51.100.1").await, StatusCode::SEE_OTHER);
    assert_eq!(from(&app, "198.51.100.2").await, StatusCode::SEE_OTHER);
    assert_eq!(
        from(&app, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Starts a login as a proxy would pass it on for `ip`.
async fn from(app: &TestApp, ip: &str) -> StatusCode {
    let browser = app.browser();
    let csrf = browser.get_path("/").await.field("csrf");
    browser
        .client
        .post(app.at("/login"))
        .header("origin", app.url.origin().ascii_serialization())
        .header("x-forwarded-for", ip)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_ipv6_client_is_its_whole_slash_64() {
    let app = TestApp::spawn_with(with(
        "[limits]\nlogin_starts_per_ip = 1\n[server]\ntrusted_proxies = [\"127.0.0.1\"]",
    ))
    .await;
    assert_eq!(from(&app, "2001:db8:1:2::1").await, StatusCode::SEE_OTHER);
    assert_eq!(
        from(&app, "2001:db8:1:2:ffff:ffff:ffff:fffe").await,
        StatusCode::TOO_MANY_REQUESTS,
        "another address of the same /64 is the same client"
    );
    assert_eq!(from(&app, "2001:db8:1:3::1").await, StatusCode::SEE_OTHER);
    let audit = app.audit_log();
    assert!(
        audit.contains("\"reason\":\"login_starts_per_ip\""),
        "{audit}"
    );
}

#[tokio::test]
async fn a_flood_from_many_addresses_leaves_room_for_an_ordinary_person() {
    let app = TestApp::spawn_with(with(
        "[limits]\nbroker_redirects_per_minute = 40\nbroker_reserve_percent = 25\n\
         reserve_for_networks_under = 2\n[server]\ntrusted_proxies = [\"127.0.0.1\"]",
    ))
    .await;
    // 300 addresses in three networks, taking turns, each address starting once.
    let mut sent = 0;
    let mut redirected = 0;
    for host in 1..=100 {
        for network in ["203.0.113", "198.51.100", "192.0.2"] {
            sent += 1;
            if from(&app, &format!("{network}.{host}")).await == StatusCode::SEE_OTHER {
                redirected += 1;
            }
        }
    }
    assert_eq!(sent, 300);
    assert!(
        redirected <= 40,
        "the budget was passed: {redirected} redirects"
    );
    assert!(
        redirected >= 30,
        "the general share was not used: {redirected}"
    );
    // Someone from elsewhere, starting once, still reaches the broker.
    assert_eq!(from(&app, "100.64.5.9").await, StatusCode::SEE_OTHER);
    let audit = app.audit_log();
    assert!(
        audit.contains("\"reason\":\"broker_redirects_per_minute\""),
        "{audit}"
    );
    let metrics = app.browser().get_path("/metrics").await;
    metrics.assert_contains("tunnus_broker_reserve_used_total");
}

#[tokio::test]
async fn starts_from_one_network_are_limited_together() {
    let app = TestApp::spawn_with(with(
        "[limits]\nlogin_starts_per_network = 3\n[server]\ntrusted_proxies = [\"127.0.0.1\"]",
    ))
    .await;
    for host in 1..=3 {
        assert_eq!(
            from(&app, &format!("198.51.100.{host}")).await,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        from(&app, "198.51.100.200").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(from(&app, "198.51.101.1").await, StatusCode::SEE_OTHER);
    assert!(
        app.audit_log()
            .contains("\"reason\":\"login_starts_per_network\"")
    );
}

#[tokio::test]
async fn forwarded_addresses_are_ignored_from_untrusted_peers() {
    let app = TestApp::spawn_with(with("[limits]\nlogin_starts_per_ip = 1")).await;
    let browser = app.browser();
    let csrf = browser.get_path("/").await.field("csrf");
    for (ip, expected) in [
        ("198.51.100.1", StatusCode::SEE_OTHER),
        ("198.51.100.2", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let status = browser
            .client
            .post(app.at("/login"))
            .header("origin", app.url.origin().ascii_serialization())
            .header("x-forwarded-for", ip)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected, "{ip}");
    }
}

#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_warned_about_once() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for ip in ["198.51.100.1", "198.51.100.2:5678", "[2001:db8::1]:443"] {
        let status = browser
            .client
            .get(app.at("/"))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK, "{ip}");
    }
    // Requests without the header are no reason to warn.
    browser.get_path("/").await.assert_status(StatusCode::OK);
    let warnings = untrusted_forwarding_warnings(&app);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("server.trusted_proxies"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("127.0.0.1"), "{}", warnings[0]);
    // Once the hour has passed, the next such request reminds again.
    app.clock.advance(time::Duration::minutes(61));
    from(&app, "198.51.100.3").await;
    assert_eq!(untrusted_forwarding_warnings(&app).len(), 2);
}

#[tokio::test]
async fn forwarded_addresses_from_a_trusted_proxy_raise_no_warning() {
    let app = TestApp::spawn_with(with("[server]\ntrusted_proxies = [\"127.0.0.1\"]")).await;
    assert_eq!(from(&app, "198.51.100.1").await, StatusCode::SEE_OTHER);
    assert!(untrusted_forwarding_warnings(&app).is_empty());
}

/// The log lines of `app` warning about `X-Forwarded-For` from a peer it does not trust (the log is
/// shared by every test of the binary; the service's address tells its lines apart).
fn untrusted_forwarding_warnings(app: &TestApp) -> Vec<String> {
    let public_url = format!("\"public_url\":\"{}\"", app.url);
    crate::harness::captured_logs()
        .lines()
        .filter(|line| line.contains("not in server.trusted_proxies") && line.contains(&public_url))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_global_broker_budget_caps_redirects() {
    let app = TestApp::spawn_with(with("[limits]\nbroker_redirects_per_minute = 1")).await;
    start(&app, &app.browser())
        .await
        .assert_status(StatusCode::SEE_OTHER);
    start(&app, &app.browser())
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn identifications_of_one_person_are_limited_and_create_no_session() {
    let app = TestApp::spawn_with(with("[limits]\nidentifications_per_person = 1")).await;
    let person = app.person("010170-999R");
    app.browser()
        .identify(person)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let browser = app.browser();
    let refused = browser.identify(person).await;
    refused.assert_status(StatusCode::TOO_MANY_REQUESTS);
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert!(
        app.audit_log()
            .contains("\"reason\":\"identifications_per_person\"")
    );
    // Another person is not affected.
    app.browser()
        .identify(app.person("291292-918R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn password_attempts_per_identification_are_limited() {
    let app = TestApp::spawn_with(with("[limits]\npassword_attempts_per_grant = 2")).await;
    let browser = app.browser();
    browser
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    let csrf = form.field("csrf");
    let attempt = |password: &'static str| {
        let csrf = csrf.clone();
        let browser = &browser;
        let url = app.at("/account");
        async move {
            browser
                .post_form(
                    url,
                    &[
                        ("csrf", &csrf),
                        ("password", password),
                        ("confirmation", password),
                    ],
                )
                .await
        }
    };
    attempt("lyhyt")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    attempt("lyhyt2")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    attempt("kahvi-Tunturi-lumi-57-sade")
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.directory.writes(), 0);
}

#[tokio::test]
async fn metrics_count_the_flow_stages() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.identify(app.person("010170-999R")).await;
    app.browser().identify(app.person("170677-924F")).await;
    let metrics = app.browser().get_path("/metrics").await;
    metrics
        .assert_status(StatusCode::OK)
        .assert_contains("tunnus_flows_total{stage=\"started\"} 2")
        .assert_contains("tunnus_flows_total{stage=\"identified\"} 2")
        .assert_contains("tunnus_flows_total{stage=\"refused\"} 1")
        .assert_contains("tunnus_refusals_total{reason=\"category\"} 1")
        .assert_contains("tunnus_broker_call_duration_seconds_count{step=\"finish\"} 2")
        .assert_contains("tunnus_directory_call_duration_seconds_count{operation=\"find\"} 2")
        .assert_contains(
            "tunnus_http_request_duration_seconds_bucket{route=\"/callback\",le=\"+Inf\"} 2",
        );
    // The Prometheus text format 0.0.4, as the Content-Type says (OpenMetrics would end in `# EOF`).
    assert_eq!(
        metrics.headers[reqwest::header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!metrics.body.contains("# EOF"));
}

#[tokio::test]
async fn the_service_starts_without_the_broker_and_becomes_ready_when_it_answers() {
    // The broker's address exists but nothing answers yet: the service must still start.
    let app = TestApp::spawn_with(Options {
        service_toml: "[broker]\nhttp_timeout = \"1s\"".into(),
        delay_broker: true,
        ..Options::default()
    })
    .await;
    let ready = app.browser().get_path("/readyz").await;
    ready
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("\"broker\":\"unavailable\"");
    app.start_broker();
    let ready = app.browser().get_path("/readyz").await;
    ready.assert_status(StatusCode::OK);
    app.browser()
        .identify(app.person("010170-999R"))
        .await
        .assert_status(StatusCode::SEE_OTHER);
}
