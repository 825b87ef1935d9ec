//! The helpdesk staff pages: a signed-in staff member finds an account, records the identity check,
//! issues a code, prints its document and revokes it; and the person redeems the code. Every refusal
//! also proves that no code was issued.

use reqwest::StatusCode;

use crate::harness::{Browser, HelpdeskSso, Options, Page, TestApp};

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";

async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        helpdesk: Some(HelpdeskSso::default()),
        ..Options::default()
    })
    .await
}

async fn open_code(app: &TestApp, username: &str) -> bool {
    app.state
        .helpdesk
        .as_ref()
        .unwrap()
        .codes_of(username)
        .await
        .unwrap()
        .0
        .is_some()
}

/// The staff home page's CSRF token.
async fn csrf(browser: &Browser) -> String {
    let home = browser.get_path("/helpdesk").await;
    home.assert_status(StatusCode::OK);
    home.field("csrf")
}

async fn search(app: &TestApp, browser: &Browser, query: &str) -> Page {
    let csrf = csrf(browser).await;
    browser
        .post_form(app.at("/helpdesk/search"), &[("csrf", &csrf), ("q", query)])
        .await
}

/// Issues a code for `username` with `fields` over a complete identity check.
async fn issue(app: &TestApp, browser: &Browser, username: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = csrf(browser).await;
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("username", username),
        ("document", "passport"),
        ("country", "se"),
        ("photo_compared", "yes"),
        ("delivery", "in_person"),
        ("lang", "fi"),
        ("campus", ""),
        ("pick_up", ""),
        ("address", ""),
    ];
    for (name, value) in fields {
        if let Some(slot) = form.iter_mut().find(|(field, _)| field == name) {
            slot.1 = value;
        } else {
            form.push((name, value));
        }
    }
    browser.post_form(app.at("/helpdesk/issue"), &form).await
}

/// The code shown on the issued page.
pub(crate) fn shown_code(page: &Page) -> String {
    let start = page.body.find("class=\"code\"").expect("the code is shown");
    let text = &page.body[start..];
    let close = text.find("</p>").unwrap();
    // After the label that only screen readers read.
    let open = text[..close].rfind('>').unwrap() + 1;
    text[open..close].trim().to_owned()
}

#[tokio::test]
async fn staff_find_an_account_issue_a_letter_code_print_it_and_the_person_redeems_it() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    let home = staff.get_path("/helpdesk").await;
    home.assert_contains("action=\"/helpdesk/search\"")
        .assert_contains("action=\"/helpdesk/logout\"");

    let found = search(&app, &staff, "aslind").await;
    found
        .assert_status(StatusCode::OK)
        .assert_contains("Åsa Linnéa Lindqvist")
        .assert_contains("external")
        .assert_contains("ei avointa koodia")
        .assert_contains("action=\"/helpdesk/issue\"");

    let issued = issue(
        &app,
        &staff,
        "aslind",
        &[
            ("delivery", "letter"),
            ("lang", "sv"),
            ("address", "Sörnäisten rantatie 1 A 2\r\n\r\n00530 HELSINKI"),
        ],
    )
    .await;
    issued
        .assert_status(StatusCode::OK)
        .assert_contains("Koodi myönnetty")
        .assert_contains("Kirjattuna kirjeenä");
    let code = shown_code(&issued);
    assert_eq!(code.len(), 19, "{code}");
    assert!(open_code(&app, "aslind").await);

    // The print form carries what was typed; the PDF holds the code, the name and the address.
    let print_form: Vec<(String, String)> = [
        "csrf", "username", "code", "delivery", "lang", "campus", "pick_up", "address",
    ]
    .iter()
    .map(|name| (name.to_string(), issued.field(name)))
    .collect();
    let response = staff
        .client
        .post(app.at("/helpdesk/print"))
        .header("origin", app.url.origin().ascii_serialization())
        .form(&print_form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    let dir = crate::redis::TempDir::new("staff-print");
    let file = dir.path().join("letter.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = crate::letters::text(&file);
    for expected in [
        code.as_str(),
        "Åsa Linnéa Lindqvist",
        "Sörnäisten rantatie 1 A 2",
        "00530 HELSINKI",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    // The staff page now shows the open code.
    search(&app, &staff, "aslind")
        .await
        .assert_contains("Kirjattuna kirjeenä, myönsi hd-anna");

    // The person, at home with the letter.
    let person = app.browser();
    let form = person.get_path("/code").await;
    person
        .post_form(
            app.at("/code"),
            &[
                ("csrf", &form.field("csrf")),
                ("username", "aslind"),
                ("code", &code),
            ],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let account = person.get_path("/account").await;
    person
        .post_form(
            app.at("/account"),
            &[
                ("csrf", &account.field("csrf")),
                ("password", GOOD),
                ("confirmation", GOOD),
            ],
        )
        .await
        .assert_status(StatusCode::OK);
    assert!(app.directory.verify_password("aslind", GOOD));
    let audit = app.audit_log();
    for event in ["code_issued", "code_printed", "code_redeemed", "reset"] {
        assert!(
            audit.contains(&format!("\"event\":\"{event}\"")),
            "{event}: {audit}"
        );
    }
    assert!(audit.contains("\"country\":\"SE\""), "{audit}");
    assert!(!audit.contains(&code), "the code reached the audit trail");
    search(&app, &staff, "aslind")
        .await
        .assert_contains("ei avointa koodia")
        .assert_contains("käytetty");
}

#[tokio::test]
async fn staff_search_by_a_strictly_read_identity_code_that_is_not_shown_back() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    let found = search(&app, &staff, "170677-924f").await;
    found
        .assert_status(StatusCode::OK)
        .assert_contains("aslind");
    assert!(
        !found.body.contains("170677"),
        "the identity code was shown back"
    );
    let typo = search(&app, &staff, "170677-924G").await;
    typo.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Henkilötunnus ei ole kelvollinen");
    assert!(!typo.body.contains("aslind"));
    search(&app, &staff, "nobody-at-all")
        .await
        .assert_contains("Tunnusta ei löytynyt");
}

#[tokio::test]
async fn staff_cannot_issue_outside_their_groups_and_nothing_is_issued() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    // A staff account: the helpdesk group does not cover it.
    search(&app, &staff, "ebsjob")
        .await
        .assert_contains("Sinulla ei ole oikeutta")
        .assert_not_contains("action=\"/helpdesk/issue\"");
    issue(&app, &staff, "ebsjob", &[])
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Sinulla ei ole oikeutta");
    assert!(!open_code(&app, "ebsjob").await);
    // A privileged account needs the stronger group.
    issue(&app, &staff, "maaber", &[]).await;
    assert!(!open_code(&app, "maaber").await);
    let privileged = app.staff_browser("hd-ilkka").await;
    issue(&app, &privileged, "maaber", &[])
        .await
        .assert_status(StatusCode::OK);
    assert!(open_code(&app, "maaber").await);
}

#[tokio::test]
async fn an_incomplete_identity_check_or_delivery_issues_nothing() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    for (fields, text) in [
        (vec![("photo_compared", "")], "vertaa kuvaa henkilöön"),
        (vec![("country", "Sweden")], "kaksikirjaiminen koodi"),
        (
            vec![("delivery", "janitor")],
            "Kirjoita kampus ja noutopaikka",
        ),
        (
            vec![("delivery", "letter"), ("address", "Vain yksi rivi")],
            "vähintään kaksi riviä",
        ),
    ] {
        let answer = issue(&app, &staff, "aslind", &fields).await;
        answer.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            answer.body.contains(text) || answer.body.contains("Tarkista henkilöllisyystodistus"),
            "{fields:?}: {}",
            answer.body
        );
        assert!(!open_code(&app, "aslind").await, "{fields:?} issued a code");
    }
    assert!(
        !app.audit_log()
            .contains("\"outcome\":\"success\",\"account\":\"aslind\"")
    );
}

#[tokio::test]
async fn a_form_that_comes_back_with_a_problem_keeps_what_staff_typed() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    // A letter to a one-line address: everything else is right and must not be typed again.
    let answer = issue(
        &app,
        &staff,
        "aslind",
        &[
            ("document", "identity_card"),
            ("delivery", "letter"),
            ("lang", "sv"),
            ("address", "Storgatan <1>"),
        ],
    )
    .await;
    answer.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer.body.contains("vähintään kaksi riviä"),
        "{}",
        answer.body
    );
    for kept in [
        r#"<option value="identity_card" selected>"#,
        r#"name="country" value="se""#,
        r#"name="photo_compared" value="yes" checked>"#,
        r#"name="delivery" value="letter" checked>"#,
        r#"name="lang" value="sv" checked>"#,
        // Typed text comes back escaped.
        "Storgatan &#60;1&#62;</textarea>",
    ] {
        assert!(
            answer.body.contains(kept),
            "{kept} not kept: {}",
            answer.body
        );
    }
    assert!(
        !answer
            .body
            .contains(r#"name="delivery" value="in_person" checked"#)
    );
    assert!(!open_code(&app, "aslind").await);

    // A new search starts from an empty form.
    let fresh = search(&app, &staff, "aslind").await;
    fresh.assert_status(StatusCode::OK);
    assert!(
        fresh
            .body
            .contains(r#"name="delivery" value="in_person" checked>"#)
    );
    assert!(fresh.body.contains(r#"name="photo_compared" value="yes">"#));
    assert!(!fresh.body.contains("Storgatan"));
}

#[tokio::test]
async fn the_directory_s_postal_address_is_offered_for_a_letter_and_staff_may_correct_it() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    let found = search(&app, &staff, "aslind").await;
    found.assert_status(StatusCode::OK);
    assert!(
        found
            .body
            .contains("aria-describedby=\"address-hint-1 address-source-1\">Kauppakatu 12 A 3\n40100 JYVÄSKYLÄ</textarea>"),
        "{}",
        found.body
    );
    assert!(
        found
            .body
            .contains("Osoite on haettu käyttäjätietokannasta")
    );
    // An account the directory knows no address for gets an empty box and no such note.
    let other = search(&app, &staff, "pehama").await;
    assert!(
        other
            .body
            .contains("aria-describedby=\"address-hint-1\"></textarea>"),
        "{}",
        other.body
    );
    assert!(
        !other
            .body
            .contains("Osoite on haettu käyttäjätietokannasta")
    );

    // Staff correct the flat number; the letter goes to the address as corrected.
    let issued = issue(
        &app,
        &staff,
        "aslind",
        &[
            ("delivery", "letter"),
            ("address", "Kauppakatu 12 A 4\n40100 JYVÄSKYLÄ"),
        ],
    )
    .await;
    issued.assert_status(StatusCode::OK);
    assert!(open_code(&app, "aslind").await);
    // The document is printed with the corrected address.
    assert_eq!(
        issued.field("address"),
        "Kauppakatu 12 A 4\n40100 JYVÄSKYLÄ"
    );
}

#[tokio::test]
async fn staff_forms_without_their_token_or_session_change_nothing() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    let forged = staff
        .post_form(
            app.at("/helpdesk/issue"),
            &[
                ("csrf", "forged"),
                ("username", "aslind"),
                ("document", "passport"),
                ("country", "SE"),
                ("photo_compared", "yes"),
                ("delivery", "in_person"),
                ("lang", "fi"),
            ],
        )
        .await;
    forged.assert_status(StatusCode::FORBIDDEN);
    assert!(!open_code(&app, "aslind").await);
    // No staff session at all (a person's browser).
    let outsider = app.browser();
    outsider
        .post_form(
            app.at("/helpdesk/issue"),
            &[
                ("csrf", "x"),
                ("username", "aslind"),
                ("delivery", "in_person"),
            ],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert!(!open_code(&app, "aslind").await);
}

#[tokio::test]
async fn an_open_code_is_revoked_and_no_longer_prints_or_opens() {
    let app = spawn().await;
    let staff = app.staff_browser("hd-anna").await;
    let issued = issue(&app, &staff, "aslind", &[]).await;
    let code = shown_code(&issued);
    let csrf = csrf(&staff).await;
    staff
        .post_form(
            app.at("/helpdesk/revoke"),
            &[("csrf", &csrf), ("username", "aslind")],
        )
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Avoin koodi peruttiin")
        .assert_contains("peruttu");
    assert!(!open_code(&app, "aslind").await);
    let reprint = staff
        .post_form(
            app.at("/helpdesk/print"),
            &[
                ("csrf", &csrf),
                ("username", "aslind"),
                ("code", &code),
                ("delivery", "in_person"),
                ("lang", "fi"),
            ],
        )
        .await;
    reprint
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Koodi ei ole enää avoin");
    assert!(!app.audit_log().contains("\"event\":\"code_printed\""));
    let person = app.browser();
    let form = person.get_path("/code").await;
    person
        .post_form(
            app.at("/code"),
            &[
                ("csrf", &form.field("csrf")),
                ("username", "aslind"),
                ("code", &code),
            ],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
}
