//! The account half: activation, reset, every refusal, the password rules, and what happens when the
//! directory fails. Every refusal also checks that the directory was not written.

use reqwest::StatusCode;

use crate::harness::{Browser, Page, TestApp, identified, set_password};

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";

async fn submit(app: &TestApp, browser: &Browser, form: &Page, fields: &[(&str, &str)]) -> Page {
    let csrf = form.field("csrf");
    let mut body = vec![("csrf", csrf.as_str())];
    body.extend_from_slice(fields);
    browser.post_form(app.at("/account"), &body).await
}

#[tokio::test]
async fn an_active_student_resets_the_password() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    form.assert_contains("tetyra")
        .assert_contains("Vaihda salasana")
        .assert_contains("vähintään 12 merkkiä");
    assert!(
        !form.body.contains("accept_terms"),
        "a reset does not ask for the terms"
    );
    let done = set_password(&app, &browser, &form, GOOD).await;
    done.assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu")
        .assert_contains("tetyra");
    assert!(app.directory.verify_password("tetyra", GOOD));
    assert_eq!(app.directory.writes(), 1);
    let audit = app.audit_log();
    assert!(
        audit.contains("\"event\":\"reset\"") && audit.contains("\"outcome\":\"success\""),
        "{audit}"
    );
    assert!(
        !audit.contains("010170"),
        "the identity code reached the audit trail"
    );
    assert!(
        !audit.contains(GOOD),
        "the password reached the audit trail"
    );
}

#[tokio::test]
async fn a_pending_account_is_activated_only_with_the_terms_accepted() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010200A9618").await;
    form.assert_contains("eemake")
        .assert_contains("Ota käyttäjätunnus käyttöön")
        .assert_contains("accept_terms");
    let refused = set_password(&app, &browser, &form, GOOD).await;
    refused
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Hyväksy käyttösäännöt");
    assert_eq!(app.directory.writes(), 0);
    assert_eq!(
        app.directory.state_of("eemake"),
        Some(tunnus::directory::AccountState::PendingActivation)
    );

    let done = submit(
        &app,
        &browser,
        &form,
        &[
            ("password", GOOD),
            ("confirmation", GOOD),
            ("accept_terms", "yes"),
        ],
    )
    .await;
    done.assert_status(StatusCode::OK)
        .assert_contains("Käyttäjätunnus on otettu käyttöön");
    assert_eq!(
        app.directory.state_of("eemake"),
        Some(tunnus::directory::AccountState::Active)
    );
    assert!(app.directory.verify_password("eemake", GOOD));
    assert!(app.audit_log().contains("\"event\":\"activation\""));
}

/// Identifies `hetu`, expects a refusal page with `text`, and checks nothing was written or kept.
async fn refused(hetu: &str, text: &str, reason: &str) -> TestApp {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let page = browser.identify(app.person(hetu)).await;
    page.assert_status(StatusCode::FORBIDDEN)
        .assert_contains(text);
    page.assert_contains(page.headers["x-request-id"].to_str().unwrap());
    app.assert_no_state();
    assert_eq!(app.directory.writes(), 0);
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let audit = app.audit_log();
    assert!(
        audit.contains("\"event\":\"refusal\"")
            && audit.contains(&format!("\"reason\":\"{reason}\"")),
        "{audit}"
    );
    app
}

#[tokio::test]
async fn a_person_without_an_account_is_sent_to_the_helpdesk() {
    refused("020365-999P", "Käyttäjätunnusta ei löytynyt", "no_account").await;
}

#[tokio::test]
async fn two_accounts_for_one_person_are_refused() {
    refused(
        "210281-9988",
        "useampi kuin yksi käyttäjätunnus",
        "ambiguous",
    )
    .await;
}

#[tokio::test]
async fn an_external_account_is_refused_with_the_other_ways() {
    refused("170677-924F", "Tämä palvelu on opiskelijoille", "category").await;
}

#[tokio::test]
async fn the_refusal_page_lists_the_other_ways_for_students_and_partners() {
    let app = TestApp::spawn().await;
    let page = app.browser().identify(app.person("170677-924F")).await;
    page.assert_contains("palvelupisteestä")
        .assert_contains("vahtimestarille")
        .assert_contains("Kirjattuna kirjeenä")
        .assert_contains("henkilöllisyystodistus")
        .assert_contains("ei koskaan lähetetä sähköpostilla");
}

#[tokio::test]
async fn a_disabled_account_is_refused() {
    refused("070770-905D", "Käyttäjätunnuksesi on suljettu", "disabled").await;
}

#[tokio::test]
async fn a_privileged_staff_account_is_refused_and_sent_to_hr_services() {
    let app = TestApp::spawn().await;
    let page = app.browser().identify(app.person("010280-952L")).await;
    page.assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Ylläpitotunnusten salasanat")
        .assert_contains("henkilöstöpalveluista");
    assert_eq!(app.directory.writes(), 0);
    app.assert_no_state();
}

#[tokio::test]
async fn each_password_rule_is_explained_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    let cases = [
        ("Lyhyt-1", "liian lyhyt"),
        ("salasana123456", "yleisesti käytetty"),
        ("tetyra-kahvi-Tunturi-57", "käyttäjätunnuksesi"),
        ("Ayramo-kahvi-Tunturi-57", "nimesi"),
        ("kahvi-Tunturi-01011970", "syntymäaikasi"),
        ("kahvi-Tunturi-010170999R", "syntymäaikasi"),
        ("aaaaaaaaaaaaaaaa", "liian helppo arvata"),
    ];
    for (password, text) in cases {
        let page = set_password(&app, &browser, &form, password).await;
        page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(text)
            .assert_contains("aria-describedby=\"password-error");
        assert!(
            !page.body.contains(password),
            "the password was echoed back"
        );
    }
    let mismatch = submit(
        &app,
        &browser,
        &form,
        &[
            ("password", GOOD),
            ("confirmation", "kahvi-Tunturi-lumi-57-sadx"),
        ],
    )
    .await;
    mismatch
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Salasanat eivät ole samat");
    assert_eq!(app.directory.writes(), 0);
    assert!(!app.directory.verify_password("tetyra", GOOD));
    // The grant is still there: a good password now works.
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn a_grant_writes_once_and_a_repeated_submission_shows_the_success() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK);
    // The answer was lost and the browser submits the same form again.
    let again = set_password(&app, &browser, &form, GOOD).await;
    again
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    // A submission with another password is not told that its password was set.
    let other = set_password(&app, &browser, &form, "toinen-Kahvi-tunturi-99").await;
    other
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("asetettiin juuri toisessa ikkunassa");
    assert!(
        !other.body.contains("Salasana on vaihdettu"),
        "{}",
        other.body
    );
    assert_eq!(app.directory.writes(), 1);
    assert!(app.directory.verify_password("tetyra", GOOD));
    // The account page itself now says the session is over.
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Istunto on päättynyt");
}

#[tokio::test]
async fn a_double_click_writes_once_and_both_answers_show_the_success() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    let (first, second) = tokio::join!(
        set_password(&app, &browser, &form, GOOD),
        set_password(&app, &browser, &form, GOOD)
    );
    first
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    second
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert_eq!(app.directory.writes(), 1);
}

#[tokio::test]
async fn an_expired_grant_writes_nothing() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    app.clock.advance(time::Duration::minutes(10));
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Istunto on päättynyt");
    assert_eq!(app.directory.writes(), 0);
}

#[tokio::test]
async fn the_account_form_needs_the_session_csrf_token() {
    let app = TestApp::spawn().await;
    let (browser, _) = identified(&app, "010170-999R").await;
    browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", "forged"),
                ("password", GOOD),
                ("confirmation", GOOD),
            ],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.directory.writes(), 0);
}

#[tokio::test]
async fn an_unavailable_directory_gives_a_503_and_keeps_the_grant() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    app.directory
        .fail_writes_with(Some(tunnus::directory::memory::WriteFault::Unavailable));
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("ei ole juuri nyt käytettävissä");
    assert_eq!(app.directory.writes(), 0);
    assert!(!app.directory.verify_password("tetyra", GOOD));
    app.directory.fail_writes_with(None);
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK);
    assert!(app.directory.verify_password("tetyra", GOOD));
}

#[tokio::test]
async fn a_directory_policy_refusal_is_shown_in_safe_words() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    app.directory
        .fail_writes_with(Some(tunnus::directory::memory::WriteFault::PolicyRejected(
            tunnus::directory::PolicyRefusal::RecentlyUsed,
        )));
    let page = set_password(&app, &browser, &form, GOOD).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Olet käyttänyt tätä salasanaa aiemmin");
    // The directory's own words reached the log, for the operator, and not the page.
    assert!(
        crate::harness::captured_logs().contains("injected by a test"),
        "the directory's text was not produced at all"
    );
    assert!(!page.body.contains("injected by a test"), "{}", page.body);
    assert_eq!(app.directory.writes(), 0);
    app.directory.fail_writes_with(None);
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_write_that_succeeded_but_reported_failure_succeeds_on_retry() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    app.directory.lose_answer_once();
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE);
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert!(app.directory.verify_password("tetyra", GOOD));
}

#[tokio::test]
async fn an_account_that_vanished_before_the_write_is_sent_to_the_helpdesk() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    app.directory
        .fail_writes_with(Some(tunnus::directory::memory::WriteFault::AccountNotFound));
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Käyttäjätunnusta ei enää löytynyt");
    assert_eq!(app.directory.writes(), 0);
    app.assert_no_state();
}

#[tokio::test]
async fn the_success_page_leads_back_to_the_allow_listed_return_address() {
    let app = TestApp::spawn_with(crate::harness::Options {
        service_toml: "[ui]\nreturn_to_allowlist = [\"https://sso.example.fi/idp/\"]".into(),
        ..Default::default()
    })
    .await;
    let browser = app.browser();
    let landing = browser
        .get_path("/?return_to=https%3A%2F%2Fsso.example.fi%2Fidp%2Flogin")
        .await;
    let started = browser
        .post_form(
            app.at("/login"),
            &[
                ("csrf", &landing.field("csrf")),
                ("return_to", &landing.field("return_to")),
            ],
        )
        .await;
    let back = browser
        .at_broker(
            started.location(),
            crate::harness::Choice::Person(app.person("010170-999R")),
        )
        .await;
    browser.get(back).await.assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_contains("href=\"https://sso.example.fi/idp/login\"");
}

/// The whole reset through the web pages, with the real OpenLDAP as the directory.
#[tokio::test]
async fn a_reset_through_the_pages_reaches_a_real_openldap() {
    use std::sync::Arc;
    let slapd = crate::slapd::shared();
    let base = slapd.subtree().await;
    let dn = slapd.add_tero(&base, "vanha salasana 2019").await;
    let directory = tunnus::directory::LdapDirectory::new(
        &slapd.settings(&base),
        Arc::new(tunnus::clock::SystemClock),
    )
    .unwrap();
    let app = TestApp::spawn_with(crate::harness::Options {
        directory: Some(Arc::new(directory)),
        ..Default::default()
    })
    .await;
    let (browser, form) = identified(&app, "010170-999R").await;
    form.assert_contains("tetyra");
    // A refusal by the service's own policy leaves the directory untouched.
    set_password(&app, &browser, &form, "Lyhyt-1")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(slapd.can_bind(&dn, "vanha salasana 2019").await);
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert!(slapd.can_bind(&dn, GOOD).await);
    assert!(!slapd.can_bind(&dn, "vanha salasana 2019").await);
    let stored = slapd.read(&dn, "userPassword").await;
    assert!(stored.iter().all(|v| v.starts_with("{SSHA}")), "{stored:?}");
}

/// Settings that point at a base whose accounts live on another server: the person gets the
/// "try again later" page, never "no account found", and the operator's log names the reference.
#[tokio::test]
async fn a_directory_that_refers_elsewhere_gives_the_unavailable_page_not_no_account() {
    use std::sync::Arc;
    let slapd = crate::slapd::shared();
    let base = slapd.subtree().await;
    let elsewhere = "ldap://moved.example.fi/ou=people,dc=moved,dc=example,dc=fi";
    crate::directory::add_referral(slapd, &base, "people", elsewhere).await;
    let directory = tunnus::directory::LdapDirectory::new(
        &slapd.settings(&base),
        Arc::new(tunnus::clock::SystemClock),
    )
    .unwrap();
    let app = TestApp::spawn_with(crate::harness::Options {
        directory: Some(Arc::new(directory)),
        ..Default::default()
    })
    .await;
    let page = app.browser().identify(app.person("010170-999R")).await;
    page.assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("ei ole juuri nyt käytettävissä")
        .assert_not_contains("moved.example.fi");
    assert!(
        !page.body.contains("Käyttäjätunnusta ei löytynyt"),
        "{}",
        page.body
    );
    let logs = crate::harness::captured_logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("misconfigured") && line.contains(elsewhere)),
        "no log names the reference"
    );
    app.assert_no_state();
    let audit = app.audit_log();
    assert!(!audit.contains("\"account\":"), "{audit}");
}

#[tokio::test]
async fn a_directory_down_at_lookup_gives_the_unavailable_page_and_no_session() {
    let app = TestApp::spawn().await;
    app.directory.set_unavailable(true);
    let page = app.browser().identify(app.person("010170-999R")).await;
    page.assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("ei ole juuri nyt käytettävissä");
    app.assert_no_state();
    assert_eq!(app.directory.writes(), 0);
}

#[tokio::test]
async fn a_finished_session_shows_the_success_for_two_minutes_and_then_ends() {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app, "010170-999R").await;
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK);
    // Shown once; a new visit to the account page is told the session is over.
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Istunto on päättynyt");
    // A repeated submission (a reload) still shows the success for two minutes.
    app.clock.advance(time::Duration::seconds(119));
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    app.clock.advance(time::Duration::seconds(1));
    set_password(&app, &browser, &form, GOOD)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.directory.writes(), 1);
    app.assert_no_state();
}

/// A password typed with combining diacritics (as some keyboards and password managers send it)
/// and confirmed in the composed form is one password: the real OpenLDAP stores the composed form.
#[tokio::test]
async fn a_password_is_written_in_one_unicode_form_whatever_the_keyboard_sent() {
    use std::sync::Arc;
    const COMPOSED: &str = "P\u{e4}iv\u{e4}-kahvi-Tunturi-\u{e5}-57";
    const DECOMPOSED: &str = "Pa\u{308}iva\u{308}-kahvi-Tunturi-a\u{30a}-57";
    let slapd = crate::slapd::shared();
    let base = slapd.subtree().await;
    let dn = slapd.add_tero(&base, "vanha salasana 2019").await;
    let directory = tunnus::directory::LdapDirectory::new(
        &slapd.settings(&base),
        Arc::new(tunnus::clock::SystemClock),
    )
    .unwrap();
    let app = TestApp::spawn_with(crate::harness::Options {
        directory: Some(Arc::new(directory)),
        ..Default::default()
    })
    .await;
    let (browser, form) = identified(&app, "010170-999R").await;
    form.assert_contains("ä, ö ja å lasketaan samoiksi");
    submit(
        &app,
        &browser,
        &form,
        &[("password", DECOMPOSED), ("confirmation", COMPOSED)],
    )
    .await
    .assert_status(StatusCode::OK)
    .assert_contains("Salasana on vaihdettu");
    assert!(slapd.can_bind(&dn, COMPOSED).await);
    assert!(!slapd.can_bind(&dn, DECOMPOSED).await);
}

/// `return_to` is checked again where the form sends it: a return address added to the start form
/// by hand, not on the allow-list, is not where the success page leads.
#[tokio::test]
async fn a_return_address_posted_to_the_start_form_is_checked_there_too() {
    let app = TestApp::spawn_with(crate::harness::Options {
        service_toml: "[ui]\nreturn_to_allowlist = [\"https://sso.example.fi/idp/\"]\n\
                       login_url = \"https://login.example.fi/\""
            .into(),
        ..Default::default()
    })
    .await;
    let browser = app.browser();
    let landing = browser.get_path("/").await;
    let started = browser
        .post_form(
            app.at("/login"),
            &[
                ("csrf", &landing.field("csrf")),
                ("return_to", "https://evil.example/collect"),
            ],
        )
        .await;
    started.assert_status(StatusCode::SEE_OTHER);
    let back = browser
        .at_broker(
            started.location(),
            crate::harness::Choice::Person(app.person("010170-999R")),
        )
        .await;
    browser.get(back).await.assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    let done = set_password(&app, &browser, &form, GOOD).await;
    done.assert_status(StatusCode::OK)
        .assert_contains("href=\"https://login.example.fi/\"");
    assert!(!done.body.contains("evil.example"), "{}", done.body);
}
