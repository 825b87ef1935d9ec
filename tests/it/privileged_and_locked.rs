//! Privileged and locked accounts through the pages, over a real slapd: a member of a refused group
//! through groups in groups, or of one whose DN is spelled with escapes or in another case, is
//! refused at identification; a locked account is refused unless `accounts.reset_unlocks` lets the
//! reset unlock it, and then the person can log in with the new password. Every refusal also shows
//! that nothing was written; the memory directory shows the same for accounts changed after
//! identification.

use std::sync::Arc;

use reqwest::StatusCode;
use tunnus::clock::ManualClock;
use tunnus::directory::{Directory, LdapDirectory};

use crate::harness::{Browser, Options, Page, TestApp};
use crate::slapd::{Slapd, shared};

const TERO: &str = "010170-999R";
const OLD_PASSWORD: &str = "vanha salasana 2019";
const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";

/// The service with its accounts in `base` of the shared slapd, and `toml` over the harness's
/// settings (which refuse the group `it-admins`).
async fn app_over(slapd: &Slapd, base: &str, toml: &str) -> TestApp {
    let directory: Arc<dyn Directory> =
        Arc::new(LdapDirectory::new(&slapd.settings(base), Arc::new(ManualClock::new())).unwrap());
    TestApp::spawn_with(Options {
        directory: Some(directory),
        service_toml: toml.to_owned(),
        ..Options::default()
    })
    .await
}

/// Tero identifies and is refused with `text`; the audit says `reason`, no session is left and his
/// entry is as it was: not written, his old password still his.
async fn refused_at_identification(
    slapd: &Slapd,
    app: &TestApp,
    tero: &str,
    text: &str,
    reason: &str,
) {
    let before = slapd.read(tero, "entryCSN").await;
    let browser = app.browser();
    browser
        .identify(app.person(TERO))
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(text);
    app.assert_no_state();
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(slapd.read(tero, "entryCSN").await, before, "written");
    let audit = app.audit_log();
    assert!(
        audit.contains("\"event\":\"refusal\"")
            && audit.contains(&format!("\"reason\":\"{reason}\""))
            && !audit.contains("\"event\":\"reset\""),
        "{audit}"
    );
}

#[tokio::test]
async fn a_member_of_a_nested_privileged_group_is_refused_at_identification_and_nothing_is_written()
{
    let slapd = shared();
    let base = slapd.subtree().await;
    let tero = slapd.add_tero(&base, OLD_PASSWORD).await;
    // lab-admins ⊂ tier1 ⊂ it-admins: Tero is in none of the refused groups directly.
    let group = |cn: &str| format!("cn={cn},{base}");
    slapd
        .add_group(&group("lab-admins"), "lab-admins", &[&tero])
        .await;
    slapd
        .add_group(&group("tier1"), "tier1", &[&group("lab-admins")])
        .await;
    slapd
        .add_group(&group("it-admins"), "it-admins", &[&group("tier1")])
        .await;
    assert_eq!(slapd.read(&tero, "memberOf").await, [group("lab-admins")]);

    let app = app_over(slapd, &base, "").await;
    refused_at_identification(
        slapd,
        &app,
        &tero,
        "Ylläpitotunnusten salasanat",
        "privileged",
    )
    .await;
    assert!(slapd.can_bind(&tero, OLD_PASSWORD).await);
}

#[tokio::test]
async fn group_dns_with_escapes_or_in_another_case_are_refused_by_their_names() {
    for (dn, cn) in [
        (r"cn=admins\, tier 0", "admins, tier 0"),
        (r"cn=Yll\C3\A4pit\C3\A4j\C3\A4t", "Ylläpitäjät"),
    ] {
        let slapd = shared();
        let base = slapd.subtree().await;
        let tero = slapd.add_tero(&base, OLD_PASSWORD).await;
        slapd.add_group(&format!("{dn},{base}"), cn, &[&tero]).await;
        let app = app_over(
            slapd,
            &base,
            "[accounts]\nrefused_groups = [\"ADMINS, TIER 0\", \"YLLÄPITÄJÄT\"]",
        )
        .await;
        refused_at_identification(
            slapd,
            &app,
            &tero,
            "Ylläpitotunnusten salasanat",
            "privileged",
        )
        .await;
        assert!(slapd.can_bind(&tero, OLD_PASSWORD).await);
    }
}

#[tokio::test]
async fn a_locked_account_is_refused_and_stays_locked() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let tero = slapd.add_tero(&base, OLD_PASSWORD).await;
    slapd.lock(&tero, "20240101000000Z").await;
    let app = app_over(slapd, &base, "").await;
    refused_at_identification(
        slapd,
        &app,
        &tero,
        "Käyttäjätunnuksesi on lukittu",
        "locked",
    )
    .await;
    assert_eq!(
        slapd.read(&tero, "pwdAccountLockedTime").await,
        ["20240101000000Z"]
    );
    assert!(!slapd.can_bind(&tero, OLD_PASSWORD).await);
}

#[tokio::test]
async fn with_reset_unlocks_a_reset_unlocks_the_account_and_the_person_can_log_in() {
    let slapd = shared();
    let base = slapd.subtree().await;
    let tero = slapd.add_tero(&base, OLD_PASSWORD).await;
    slapd.lock(&tero, "20240101000000Z").await;
    assert!(!slapd.can_bind(&tero, OLD_PASSWORD).await, "the lock holds");
    let app = app_over(slapd, &base, "[accounts]\nreset_unlocks = true").await;

    let (browser, form) = identified(&app).await;
    submit(&app, &browser, &form)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Salasana on vaihdettu");
    assert!(slapd.read(&tero, "pwdAccountLockedTime").await.is_empty());
    assert!(slapd.can_bind(&tero, GOOD).await);
    assert!(!slapd.can_bind(&tero, OLD_PASSWORD).await);
    let audit = app.audit_log();
    assert!(
        audit
            .lines()
            .any(|line| line.contains("\"event\":\"reset\"")
                && line.contains("\"outcome\":\"success\"")
                && line.contains("\"reason\":\"unlocked\"")),
        "{audit}"
    );
}

async fn identified(app: &TestApp) -> (Browser, Page) {
    crate::harness::identified(app, TERO).await
}

async fn submit(app: &TestApp, browser: &Browser, form: &Page) -> Page {
    crate::harness::set_password(app, browser, form, GOOD).await
}

/// Identifies Tero (memory directory), lets `change` happen to the directory, submits, and expects
/// the refusal page with `text`, nothing written and the audit naming `reason`.
async fn changed_before_the_write(
    change: impl FnOnce(&tunnus::directory::MemoryDirectory),
    text: &str,
    reason: &str,
) {
    let app = TestApp::spawn().await;
    let (browser, form) = identified(&app).await;
    change(&app.directory);
    submit(&app, &browser, &form)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(text);
    assert_eq!(app.directory.writes(), 0);
    assert!(!app.directory.verify_password("tetyra", GOOD));
    app.assert_no_state();
    let audit = app.audit_log();
    assert!(
        audit
            .lines()
            .any(|line| line.contains("\"event\":\"reset\"")
                && line.contains("\"outcome\":\"refused\"")
                && line.contains(&format!("\"reason\":\"{reason}\""))),
        "{audit}"
    );
}

#[tokio::test]
async fn an_account_whose_group_is_nested_into_a_privileged_one_after_identification_is_not_written()
 {
    changed_before_the_write(
        |directory| {
            assert!(directory.change("tetyra", |a| a.groups.push("lab-admins".into())));
            directory.nest_group("lab-admins", "IT-Admins");
        },
        "Ylläpitotunnusten",
        "privileged",
    )
    .await;
}

#[tokio::test]
async fn an_account_locked_after_identification_is_not_written() {
    changed_before_the_write(
        |directory| assert!(directory.change("tetyra", |a| a.locked = true)),
        "Käyttäjätunnuksesi on lukittu",
        "locked",
    )
    .await;
}
