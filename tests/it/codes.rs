//! The helpdesk channel, from the person's side: a code issued by staff opens the same account page
//! as strong identification; wrong, used, revoked, expired and guessed codes write nothing and never
//! tell whether the username exists.

use reqwest::StatusCode;
use tunnus::account::Context;
use tunnus::directory::{Account, AccountId, Directory};
use tunnus::helpdesk::codes::{Delivery, Document, DocumentCheck, IdentityCheck};
use tunnus::helpdesk::{Helpdesk, HelpdeskError, NotAllowed, Staff};

use crate::harness::{Browser, Options, Page, TestApp};

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";

const CHANNEL: &str = r#"
[helpdesk]
enabled = true
max_wrong_tries = 5
privileged_staff_groups = ["it-security"]
[helpdesk.letters]
sender = ["Esimerkin yliopisto", "Käyttäjätuki", "PL 1", "00014 ESIMERKIN YLIOPISTO"]
[[helpdesk.rules]]
staff_group = "helpdesk"
categories = ["student", "partner", "external"]
[[helpdesk.rules]]
staff_group = "hr"
categories = ["staff"]
"#;

async fn spawn(extra: &str) -> TestApp {
    TestApp::spawn_with(Options {
        service_toml: format!("{CHANNEL}\n{extra}"),
        ..Options::default()
    })
    .await
}

fn helpdesk(app: &TestApp) -> &Helpdesk {
    app.state.helpdesk.as_deref().expect("the channel is on")
}

fn staff(groups: &[&str]) -> Staff {
    Staff {
        username: "hd-anna".into(),
        name: "Anna Palvelu".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn check() -> IdentityCheck {
    IdentityCheck::Document(DocumentCheck {
        document: Document::ResidencePermit,
        country: "SE".into(),
        photo_compared: true,
    })
}

const CONTEXT: Context<'static> = Context {
    client_ip: "192.0.2.10",
    request_id: "test",
    lang: tunnus::i18n::Lang::Fi,
};

async fn account(app: &TestApp, username: &str) -> Account {
    app.directory
        .account(&AccountId::new(username))
        .await
        .unwrap()
        .expect("a dev account")
}

/// Issues a code for `username` as a helpdesk member and returns it as written on paper.
async fn issue(app: &TestApp, username: &str) -> String {
    let account = account(app, username).await;
    let (code, _) = helpdesk(app)
        .issue(
            &staff(&["helpdesk"]),
            &account,
            Delivery::Letter,
            check(),
            CONTEXT,
        )
        .await
        .unwrap();
    code.grouped()
}

/// The code page's form, submitted.
async fn redeem(app: &TestApp, browser: &Browser, username: &str, code: &str) -> Page {
    let form = browser.get_path("/code").await;
    form.assert_status(StatusCode::OK);
    browser
        .post_form(
            app.at("/code"),
            &[
                ("csrf", &form.field("csrf")),
                ("username", username),
                ("code", code),
            ],
        )
        .await
}

#[tokio::test]
async fn a_letter_code_opens_the_account_page_and_sets_the_password() {
    let app = spawn("").await;
    let landing = app.browser().get_path("/").await;
    landing
        .assert_contains("Minulla on aktivointikoodi")
        .assert_contains("href=\"/code\"");
    let code = issue(&app, "aslind").await;
    let browser = app.browser();
    // Typed the way people type: lower case, spaces instead of dashes.
    let typed = code.to_lowercase().replace('-', " ");
    let opened = redeem(&app, &browser, "ASLIND", &typed).await;
    opened.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(opened.location().path(), "/account");
    let form = browser.get_path("/account").await;
    form.assert_status(StatusCode::OK)
        .assert_contains("aslind")
        .assert_contains("Åsa Linnéa");
    let done = browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &form.field("csrf")),
                ("password", GOOD),
                ("confirmation", GOOD),
            ],
        )
        .await;
    done.assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert!(app.directory.verify_password("aslind", GOOD));
    let audit = app.audit_log();
    for expected in [
        "\"event\":\"code_issued\"",
        "\"event\":\"code_redeemed\"",
        "\"event\":\"reset\"",
        "\"channel\":\"activation_code\"",
        "\"delivery\":\"letter\"",
        "\"staff\":\"hd-anna\"",
        "\"document\":\"residence_permit\"",
    ] {
        assert!(audit.contains(expected), "{expected} missing from {audit}");
    }
    let plain = code.replace('-', "");
    for secret in [code.as_str(), plain.as_str(), GOOD] {
        assert!(!audit.contains(secret), "{secret} reached the audit trail");
        assert!(
            !crate::harness::captured_logs().contains(secret),
            "{secret} reached the log"
        );
    }
    // Used once: the same code again opens nothing.
    let again = redeem(&app, &app.browser(), "aslind", &code).await;
    again
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Käyttäjätunnus tai aktivointikoodi ei ole oikein");
}

#[tokio::test]
async fn a_code_for_a_new_account_activates_it_with_the_terms() {
    let app = spawn("").await;
    let code = issue(&app, "eemake").await;
    let browser = app.browser();
    redeem(&app, &browser, "eemake", &code)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = browser.get_path("/account").await;
    form.assert_contains("Ota käyttäjätunnus käyttöön")
        .assert_contains("accept_terms");
    // No birth date is known from a code, and the page and rules work without one.
    browser
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &form.field("csrf")),
                ("password", GOOD),
                ("confirmation", GOOD),
                ("accept_terms", "yes"),
            ],
        )
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Käyttäjätunnus on otettu käyttöön");
    assert_eq!(
        app.directory.state_of("eemake"),
        Some(tunnus::directory::AccountState::Active)
    );
    assert!(app.audit_log().contains("\"event\":\"activation\""));
}

#[tokio::test]
async fn wrong_codes_and_unknown_usernames_get_the_same_answer_and_write_nothing() {
    let app = spawn("").await;
    let code = issue(&app, "aslind").await;
    let wrong_code = redeem(&app, &app.browser(), "aslind", "0000-0000-0000-0000").await;
    let unknown_user = redeem(&app, &app.browser(), "nobody-here", &code).await;
    let other_user = redeem(&app, &app.browser(), "eemake", &code).await;
    let not_a_code = redeem(&app, &app.browser(), "aslind", "hunter2").await;
    for page in [&wrong_code, &unknown_user, &other_user, &not_a_code] {
        page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("Käyttäjätunnus tai aktivointikoodi ei ole oikein");
        assert!(page.headers.get("location").is_none());
    }
    let strip = |page: &Page| {
        page.body
            .lines()
            .filter(|line| !line.contains("csrf") && !line.contains("value=\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&wrong_code), strip(&unknown_user));
    assert_eq!(app.directory.writes(), 0);
    // The right code still works: wrong tries below the limit do not revoke it.
    redeem(&app, &app.browser(), "aslind", &code)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn guessing_revokes_the_code_and_the_helpdesk_sees_why() {
    let app = spawn("").await;
    let code = issue(&app, "aslind").await;
    for _ in 0..5 {
        redeem(&app, &app.browser(), "aslind", "0000-0000-0000-0000")
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    }
    redeem(&app, &app.browser(), "aslind", &code)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    let (open, ended) = helpdesk(&app).codes_of("aslind").await.unwrap();
    assert!(open.is_none());
    assert_eq!(
        ended.unwrap().ending,
        tunnus::helpdesk::codes::Ending::TooManyWrongTries
    );
    assert!(
        app.audit_log()
            .contains("\"reason\":\"too_many_wrong_tries\"")
    );
    assert_eq!(app.directory.writes(), 0);
    // No session, grant or code is left; only the note of why the code ended, for the helpdesk.
    let keys = app.store.as_ref().unwrap().keys();
    assert_eq!(keys, vec!["code-ended:aslind".to_owned()]);
}

#[tokio::test]
async fn revoked_replaced_and_expired_codes_open_nothing() {
    let app = spawn("").await;
    let revoked = issue(&app, "aslind").await;
    helpdesk(&app)
        .revoke(&staff(&["helpdesk"]), "aslind", CONTEXT)
        .await
        .unwrap()
        .expect("an open code");
    redeem(&app, &app.browser(), "aslind", &revoked)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);

    let replaced = issue(&app, "aslind").await;
    let newer = issue(&app, "aslind").await;
    redeem(&app, &app.browser(), "aslind", &replaced)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);

    // A letter code lives 30 days.
    app.clock.advance(time::Duration::days(30));
    redeem(&app, &app.browser(), "aslind", &newer)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Aktivointikoodi on vanhentunut");
    assert_eq!(app.directory.writes(), 0);
    let audit = app.audit_log();
    assert!(audit.contains("\"event\":\"code_expired\""), "{audit}");
    assert!(audit.contains("\"reason\":\"revoked_by_staff\""), "{audit}");
    assert!(audit.contains("\"reason\":\"replaced\""), "{audit}");
}

#[tokio::test]
async fn a_code_form_without_its_csrf_token_is_refused_and_the_code_still_works() {
    let app = spawn("").await;
    let code = issue(&app, "aslind").await;
    let browser = app.browser();
    browser.get_path("/code").await;
    browser
        .post_form(
            app.at("/code"),
            &[("csrf", "forged"), ("username", "aslind"), ("code", &code)],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    redeem(&app, &browser, "aslind", &code)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn code_tries_from_one_network_are_limited() {
    let app = spawn("[limits]\ncode_tries_per_network = 3").await;
    let code = issue(&app, "aslind").await;
    for _ in 0..3 {
        redeem(&app, &app.browser(), "someone", "0000-0000-0000-0000")
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let limited = redeem(&app, &app.browser(), "aslind", &code).await;
    limited.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        app.audit_log()
            .contains("\"reason\":\"code_tries_per_network\"")
    );
    assert_eq!(app.directory.writes(), 0);
}

#[tokio::test]
async fn staff_issue_codes_only_for_the_accounts_their_groups_cover() {
    let app = spawn("").await;
    let refused = |result: Result<_, HelpdeskError>| match result {
        Err(HelpdeskError::NotAllowed(reason)) => reason,
        Ok(_) => panic!("a code was issued"),
        Err(other) => panic!("unexpected {other:?}"),
    };
    let helpdesk = helpdesk(&app);
    let staff_account = account(&app, "ebsjob").await;
    assert_eq!(
        refused(
            helpdesk
                .issue(
                    &staff(&["helpdesk"]),
                    &staff_account,
                    Delivery::InPerson,
                    check(),
                    CONTEXT
                )
                .await
        ),
        NotAllowed::Category
    );
    let privileged = account(&app, "maaber").await;
    assert_eq!(
        refused(
            helpdesk
                .issue(
                    &staff(&["hr"]),
                    &privileged,
                    Delivery::InPerson,
                    check(),
                    CONTEXT
                )
                .await
        ),
        NotAllowed::Privileged
    );
    let disabled = account(&app, "jykark").await;
    assert_eq!(
        refused(
            helpdesk
                .issue(
                    &staff(&["hr"]),
                    &disabled,
                    Delivery::InPerson,
                    check(),
                    CONTEXT
                )
                .await
        ),
        NotAllowed::Disabled
    );
    let unchecked = IdentityCheck::Document(DocumentCheck {
        document: Document::Passport,
        country: "SE".into(),
        photo_compared: false,
    });
    let student = account(&app, "tetyra").await;
    assert_eq!(
        refused(
            helpdesk
                .issue(
                    &staff(&["helpdesk"]),
                    &student,
                    Delivery::InPerson,
                    unchecked,
                    CONTEXT
                )
                .await
        ),
        NotAllowed::Check
    );
    for username in ["ebsjob", "maaber", "jykark", "tetyra"] {
        assert!(helpdesk.codes_of(username).await.unwrap().0.is_none());
    }
    // A member of the stronger group may issue for the privileged account, and its code opens it.
    let (code, issued) = helpdesk
        .issue(
            &staff(&["hr", "it-security"]),
            &privileged,
            Delivery::InPerson,
            check(),
            CONTEXT,
        )
        .await
        .unwrap();
    assert!(issued.privileged);
    redeem(&app, &app.browser(), "maaber", &code.grouped())
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_the_channel_there_is_no_code_page() {
    let app = TestApp::spawn().await;
    app.browser()
        .get_path("/code")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert!(
        !app.browser()
            .get_path("/")
            .await
            .body
            .contains("href=\"/code\"")
    );
}

/// The service on `redis` with a code key from `key_file`, as one replica of a deployment.
async fn on_redis(redis: &crate::redis::RedisServer, key_file: &std::path::Path) -> TestApp {
    use std::sync::Arc;
    let settings = tunnus::config::Settings::from_toml(&format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"durable:\"",
        redis.url()
    ))
    .unwrap();
    let store: Arc<dyn tunnus::store::Store> =
        Arc::new(tunnus::store::RedisStore::new(&settings.store).unwrap());
    TestApp::spawn_with(Options {
        service_toml: CHANNEL.replace(
            "[helpdesk]\nenabled = true\n",
            &format!(
                "[helpdesk]\nenabled = true\ncode_key_file = \"{}\"\n",
                key_file.display()
            ),
        ),
        store: Some(store),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_code_survives_restarts_of_redis_and_of_every_replica() {
    let dir = crate::redis::TempDir::new("code-key");
    let key_file = dir.path().join("code-key");
    crate::harness::write_secret(&key_file, tunnus::random::token());
    let mut redis = crate::redis::RedisServer::start_with(
        &["--appendonly", "yes", "--appendfsync", "always"].map(str::to_owned),
    );
    let first = on_redis(&redis, &key_file).await;
    first
        .browser()
        .get_path("/readyz")
        .await
        .assert_contains("\"codes\":\"durable\"");
    let code = issue(&first, "aslind").await;
    drop(first);

    redis.start_again();
    let second = on_redis(&redis, &key_file).await;
    let opened = redeem(&second, &second.browser(), "aslind", &code).await;
    opened.assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_append_only_persistence_readiness_says_codes_are_not_durable() {
    let dir = crate::redis::TempDir::new("code-key");
    let key_file = dir.path().join("code-key");
    crate::harness::write_secret(&key_file, tunnus::random::token());
    let mut redis = crate::redis::RedisServer::start();
    let first = on_redis(&redis, &key_file).await;
    let ready = first.browser().get_path("/readyz").await;
    ready
        .assert_status(StatusCode::OK)
        .assert_contains("\"codes\":\"not_durable\"");
    let code = issue(&first, "aslind").await;
    drop(first);
    // What readiness warned of: a restart loses the code.
    redis.start_again();
    let second = on_redis(&redis, &key_file).await;
    redeem(&second, &second.browser(), "aslind", &code)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_letter_of_an_open_code_is_printed_and_a_wrong_code_prints_nothing() {
    use tunnus::helpdesk::letter::Delivery as Printed;
    let app = spawn("").await;
    let code = issue(&app, "aslind").await;
    let staff = staff(&["helpdesk"]);
    let letter = Printed::RegisteredLetter {
        address: vec!["Sörnäisten rantatie 1 A 2".into(), "00530 HELSINKI".into()],
    };
    let pdf = helpdesk(&app)
        .print(
            &staff,
            "aslind",
            &code,
            letter.clone(),
            tunnus::i18n::Lang::Sv,
            CONTEXT,
        )
        .await
        .unwrap()
        .expect("the open code prints");
    let dir = crate::redis::TempDir::new("printed");
    let file = dir.path().join("letter.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = crate::letters::text(&file);
    for expected in [
        code.as_str(),
        "Åsa Linnéa Lindqvist",
        "Sörnäisten rantatie 1 A 2",
        "aslind",
    ] {
        assert!(
            text.contains(expected),
            "{expected} not in the letter:\n{text}"
        );
    }
    assert!(app.audit_log().contains("\"event\":\"code_printed\""));
    // Printing does not use the code up.
    let wrong = helpdesk(&app)
        .print(
            &staff,
            "aslind",
            "0000-0000-0000-0000",
            letter,
            tunnus::i18n::Lang::Sv,
            CONTEXT,
        )
        .await
        .unwrap();
    assert!(wrong.is_none());
    redeem(&app, &app.browser(), "aslind", &code)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}
