//! Service requests in a real browser, with the checks of [`crate::browser`]: the person's form
//! (empty, with its problems, refused for the capital region), the answer with its number, and the
//! staff queue, a request beside its candidates, the code issued from it and the closed request;
//! in Finnish, Swedish and English at a phone and a desktop viewport. Beside them, the whole walk
//! against a real OpenLDAP and a real SMTP server: a registered letter asked for from Jyväskylä,
//! its PDF with the typed address in the envelope window, the status e-mail, and the person's new
//! password binding at the directory. Screenshots are named `{lang}-{viewport}-request-….png`.

use std::sync::{Arc, Mutex};

use fantoccini::Client;
use tunnus::clock::SystemClock;
use tunnus::directory::LdapDirectory;
use tunnus::i18n::Lang;

use crate::browser::{
    BrowserOptions, DESKTOP, GOOD_PASSWORD, PHONE, Viewport, Visit, assert_problem_summary,
    at_each_viewport, campus_ui, click, find, in_browser, set_viewport, text_of, texts, type_into,
    wait_for_heading, wait_for_text,
};
use crate::browser_helpdesk::{
    add_ake, redeem_and_activate, sign_in_staff, submit_outside_the_browser,
};
use crate::harness::{HelpdeskSso, Options, TestApp};

/// Types each `(field id, text)` into the form, replacing what is there.
async fn fill(client: &Client, fields: &[(&str, &str)]) {
    for (id, text) in fields {
        let css = format!("#{id}");
        find(client, &css)
            .await
            .clear()
            .await
            .expect("clear the field");
        type_into(client, &css, text).await;
    }
}

/// Sends the form as a person does, who took a while to fill it in.
async fn send(client: &Client, app: &TestApp) {
    app.clock.advance(time::Duration::seconds(20));
    click(client, "form.request button[type=submit]").await;
}

/// The person's side and the staff's side of one request in `lang`.
async fn request_pages(client: Client, lang: Lang, viewport: Viewport) {
    let app = TestApp::spawn_with(Options {
        service_toml: campus_ui(),
        helpdesk: Some(HelpdeskSso::default()),
        ..Options::default()
    })
    .await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    let mut landing = app.at("/");
    landing.set_query(Some(&format!("lang={}", lang.code())));
    client.goto(landing.as_str()).await.expect("open landing");
    wait_for_heading(&client, &t.landing_title).await;
    assert_eq!(
        text_of(&client, "h2#ask-delivery").await,
        t.request_link_title
    );
    click(&client, "section a.button[href=\"/request\"]").await;
    wait_for_heading(&client, &t.request_title).await;
    visit.check("request-form").await;

    // Sent empty: every missing field is listed, the first one first.
    send(&client, &app).await;
    wait_for_text(&client, "#form-problem h2", &t.code_problem_title).await;
    visit.check("request-problems").await;
    // A question's problem stands alone, as a sentence of its own.
    let delivery: String = t.request_problem_delivery.chars().skip(1).collect();
    assert_problem_summary(
        &client,
        &[
            ("#given_name", t.request_given_name.as_str()),
            ("#delivery-janitor", delivery.as_str()),
        ],
    )
    .await;

    // A registered letter to Helsinki is not sent: the capital region has campuses near.
    fill(
        &client,
        &[
            ("given_name", "Åsa"),
            ("family_name", "Lindqvist"),
            ("birth_date", "17.6.1977"),
            ("email", "asa.lindqvist@example.com"),
            ("street", "Mannerheimintie 5 A 3"),
            ("postal_code", "00100"),
            ("town", "Helsinki"),
        ],
    )
    .await;
    click(&client, "label[for=delivery-letter]").await;
    send(&client, &app).await;
    wait_for_text(&client, "#form-problem", &t.request_problem_capital_region).await;
    visit.check("request-capital-region").await;
    assert_problem_summary(
        &client,
        &[("#postal_code", t.request_problem_capital_region.as_str())],
    )
    .await;

    fill(
        &client,
        &[
            ("street", "Hämeenkatu 10 B 7"),
            ("postal_code", "33100"),
            ("town", "Tampere"),
        ],
    )
    .await;
    send(&client, &app).await;
    wait_for_heading(&client, &t.request_sent_title).await;
    let number = text_of(&client, "#request-number").await;
    visit.check("request-sent").await;

    // The helpdesk's side.
    sign_in_staff(&visit, &app, "hd-anna", false).await;
    wait_for_heading(&client, &t.staff_home_title).await;
    click(&client, "main a[href=\"/helpdesk/requests\"]").await;
    wait_for_heading(&client, &t.staff_requests_title).await;
    visit.check("request-queue").await;
    click(&client, &format!("a[href=\"/helpdesk/requests/{number}\"]")).await;
    let title = t.staff_request_title.replace("{number}", &number);
    wait_for_heading(&client, &title).await;
    assert_eq!(
        text_of(&client, "section.candidate .username").await,
        "aslind"
    );
    visit.check("request-view").await;
    click(&client, "section.candidate form.issue button[type=submit]").await;
    wait_for_heading(&client, &t.staff_issued_title).await;
    visit.check("request-issued").await;
    client
        .goto(app.at(&format!("/helpdesk/requests/{number}")).as_str())
        .await
        .expect("open the request again");
    wait_for_text(&client, "p.closed", "aslind").await;
    visit.check("request-closed").await;
    click(&client, "main a[href=\"/helpdesk/requests\"]").await;
    wait_for_text(&client, "main", &t.staff_requests_none).await;
}

crate::browser::in_each_language! {
    the_service_request_pages_are_accessible => request_pages,
}

/// The whole way of a service request against the real OpenLDAP and SMTP server: Åke, at home in
/// Jyväskylä without bank credentials, asks for a registered letter; `hd-anna` sees his request
/// with his account as the candidate that agrees, issues the code from it and prints the letter,
/// whose window shows the address Åke typed; Åke hears by e-mail that the letter is on its way, and
/// with the code activates his account, whose password then binds at the directory.
#[tokio::test]
async fn a_letter_asked_for_from_outside_the_capital_region_activates_an_account_in_a_real_openldap()
 {
    let slapd = crate::slapd::shared();
    let base = slapd.subtree().await;
    let dn = add_ake(slapd, &base).await;
    let directory = LdapDirectory::new(&slapd.settings(&base), Arc::new(SystemClock))
        .expect("the LDAP directory is set up");
    let smtp = crate::notify::Smtp::started();
    let app = Arc::new(
        TestApp::spawn_with(Options {
            service_toml: format!(
                "{}\n{}\n[notify]\npoll_interval = \"50ms\"\n",
                campus_ui(),
                smtp.toml()
            ),
            helpdesk: Some(HelpdeskSso::default()),
            directory: Some(Arc::new(directory)),
            ..Options::default()
        })
        .await,
    );
    let shared = Arc::new(Mutex::new(String::new()));

    let (home, number) = (app.clone(), shared.clone());
    in_browser(BrowserOptions::default(), move |client| async move {
        let app = home;
        let visit = Visit {
            client: &client,
            lang: Lang::Fi,
            viewport: PHONE,
        };
        let t = texts(Lang::Fi);
        set_viewport(&client, PHONE.width, PHONE.height).await;
        client
            .goto(app.at("/request?lang=fi").as_str())
            .await
            .expect("open the request form");
        wait_for_heading(&client, &t.request_title).await;
        fill(
            &client,
            &[
                ("given_name", "Åke"),
                ("family_name", "Väänänen"),
                ("birth_date", "2.3.1965"),
                ("email", "ake.vaananen@example.org"),
                ("street", "Kauppakatu 12 B 7"),
                ("postal_code", "40100"),
                ("town", "Jyväskylä"),
            ],
        )
        .await;
        click(&client, "label[for=delivery-letter]").await;
        visit.screenshot("request-walk-1-filled").await;
        send(&client, &app).await;
        wait_for_heading(&client, &t.request_sent_title).await;
        *number.lock().unwrap() = text_of(&client, "#request-number").await;
        visit.check("request-walk-2-sent").await;
    })
    .await;
    let number = shared.lock().unwrap().clone();

    let (desk, issued) = (app.clone(), shared.clone());
    let asked = number.clone();
    in_browser(BrowserOptions::default(), move |client| async move {
        let app = desk;
        let visit = Visit {
            client: &client,
            lang: Lang::Fi,
            viewport: DESKTOP,
        };
        let t = texts(Lang::Fi);
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;
        sign_in_staff(&visit, &app, "hd-anna", false).await;
        wait_for_heading(&client, &t.staff_home_title).await;
        click(&client, "main a[href=\"/helpdesk/requests\"]").await;
        wait_for_heading(&client, &t.staff_requests_title).await;
        click(&client, &format!("a[href=\"/helpdesk/requests/{asked}\"]")).await;
        wait_for_heading(&client, &t.staff_request_title.replace("{number}", &asked)).await;
        assert_eq!(
            text_of(&client, "section.candidate .username").await,
            "akvaan"
        );
        let marks = text_of(&client, "section.candidate ul.matches").await;
        assert!(marks.contains(&t.staff_request_names_match), "{marks}");
        assert!(marks.contains(&t.staff_request_birth_matches), "{marks}");
        visit.check("request-walk-3-request").await;
        click(&client, "section.candidate form.issue button[type=submit]").await;
        wait_for_heading(&client, &t.staff_issued_title).await;
        let shown = text_of(&client, "p.code").await;
        let code = shown
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned();
        visit.check("request-walk-4-issued").await;

        let printed =
            submit_outside_the_browser(&client, &app, "form[action=\"/helpdesk/print\"]").await;
        assert_eq!(printed.status(), reqwest::StatusCode::OK);
        let pdf = printed.bytes().await.expect("the PDF");
        let dir = crate::redis::TempDir::new("request-letter");
        let file = dir.path().join("letter.pdf");
        std::fs::write(&file, &pdf).expect("write the PDF");
        crate::letters::assert_in_window(
            &file,
            &["Åke Örjan Väänänen", "Kauppakatu 12 B 7", "40100 JYVÄSKYLÄ"],
        );
        assert!(crate::letters::text(&file).contains(&code));
        *issued.lock().unwrap() = code;
    })
    .await;
    let code = shared.lock().unwrap().clone();

    // The status e-mail reaches the address Åke typed, and carries no code.
    let messages = smtp.wait_for(1).await;
    let status = messages
        .iter()
        .find(|message| message["to"] == "ake.vaananen@example.org")
        .expect("the status e-mail");
    assert_eq!(status["subject"], format!("Palvelupyyntösi {number}"));
    let text = status["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("kirjattuna kirjeenä"), "{text}");
    for secret in [code.as_str(), &code.replace('-', "")] {
        assert!(!status["raw"].as_str().unwrap().contains(secret));
    }

    let (home, letter) = (app.clone(), code.clone());
    in_browser(BrowserOptions::default(), move |client| async move {
        let app = home;
        let visit = Visit {
            client: &client,
            lang: Lang::Fi,
            viewport: PHONE,
        };
        let t = texts(Lang::Fi);
        set_viewport(&client, PHONE.width, PHONE.height).await;
        client
            .goto(app.at("/code?lang=fi").as_str())
            .await
            .expect("open the code page");
        wait_for_heading(&client, &t.code_title).await;
        redeem_and_activate(&visit, "akvaan", &letter, "request-walk").await;
    })
    .await;

    assert!(slapd.can_bind(&dn, GOOD_PASSWORD).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["active"]);
    let audit = app.audit_log();
    for event in [
        "request_created",
        "request_viewed",
        "request_issued",
        "code_issued",
        "code_printed",
        "code_redeemed",
        "activation",
    ] {
        assert!(
            audit.contains(&format!("\"event\":\"{event}\"")),
            "{event} is not in the audit trail: {audit}"
        );
    }
}
