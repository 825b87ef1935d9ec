//! The mock broker's login page as testers use it, in a real browser: the persons grouped by what
//! they are for, with their full test codes; "someone else" for any typed identity code, which
//! reaches tunnus's account page for an account of the tester's own directory, and a malformed one,
//! which tunnus refuses with its usual page; the page in each language through its switcher, each
//! with the accessibility audit of the service's pages.

use std::sync::Arc;

use fantoccini::Client;
use tunnus::directory::memory::{DEV_ACCOUNTS, MemoryDirectory};
use tunnus::i18n::Lang;

use crate::browser::{
    BrowserOptions, DESKTOP, Visit, WCAG_21_AA, audit, back_at_service, campus_ui, click, find,
    in_browser, script, set_viewport, text_of, texts, to_broker, type_into, wait_for_heading,
    wait_for_text,
};
use crate::harness::{Options, TestApp};

/// An account of a tester's own directory whose owner is no person of the mock's list.
const OWN_ACCOUNT: &str = r#"
[[account]]
username = "tytesti"
national_id = "150575-987W"
given_name = "Tyyne"
family_name = "Testaaja"
category = "student"
state = "active"
groups = []
"#;

async fn app() -> TestApp {
    let directory = MemoryDirectory::from_toml(&format!("{DEV_ACCOUNTS}\n{OWN_ACCOUNT}"))
        .expect("the accounts load");
    TestApp::spawn_with(Options {
        service_toml: campus_ui(),
        directory: Some(Arc::new(directory)),
        ..Options::default()
    })
    .await
}

/// Types `code` (and nothing else) into the "someone else" form and sends it.
async fn identify_as_typed(client: &Client, code: &str) {
    type_into(client, "#other_national_id", code).await;
    click(client, "form.someone-else button[type=submit]").await;
}

#[tokio::test]
async fn a_tester_picks_a_grouped_person_then_types_a_code_of_their_own_directory() {
    in_browser(BrowserOptions::default(), |client| async move {
        let app = app().await;
        let visit = Visit {
            client: &client,
            lang: Lang::Fi,
            viewport: DESKTOP,
        };
        let t = texts(Lang::Fi);
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;

        // Tero is in the "reset" group, shown with his whole test code.
        to_broker(&visit, &app).await;
        let reset = "fieldset:first-of-type ul.persons";
        let groups = script(
            &client,
            "return Array.from(document.querySelectorAll('legend')).map(l => l.textContent);",
        )
        .await;
        let groups: Vec<String> = serde_json::from_value(groups).unwrap();
        assert_eq!(groups[0], "reset", "{groups:?}");
        assert!(
            groups.contains(&"refused: external".to_owned()),
            "{groups:?}"
        );
        assert!(groups.contains(&"activation".to_owned()), "{groups:?}");
        let tero = format!("{reset} button[value=\"{}\"]", app.person("010170-999R"));
        assert!(text_of(&client, &tero).await.contains("010170-999R"));
        assert!(
            text_of(&client, "p.test").await.contains("TESTIPALVELU"),
            "the page does not say it is a test service"
        );
        click(&client, &tero).await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.reset_title).await;
        assert_eq!(text_of(&client, ".username").await, "tetyra");
        click(&client, "form.sign-out button[type=submit]").await;
        wait_for_heading(&client, &t.signed_out_title).await;

        // Someone of the tester's own directory, by the code typed.
        to_broker(&visit, &app).await;
        identify_as_typed(&client, "150575-987W").await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.reset_title).await;
        assert_eq!(text_of(&client, ".username").await, "tytesti");
        click(&client, "form.sign-out button[type=submit]").await;
        wait_for_heading(&client, &t.signed_out_title).await;

        // A malformed code goes through the mock; tunnus refuses it with its usual page.
        to_broker(&visit, &app).await;
        identify_as_typed(&client, "150575-987X").await;
        back_at_service(&client, &app).await;
        wait_for_heading(&client, &t.error_identification_title).await;
        visit.check("mock-malformed-refused").await;
        assert!(
            !app.audit_log().contains("\"event\":\"reset\""),
            "a password was set"
        );
    })
    .await;
}

#[tokio::test]
async fn the_mock_s_login_page_passes_the_audit_in_each_language_of_its_switcher() {
    in_browser(BrowserOptions::default(), |client| async move {
        let app = app().await;
        let visit = Visit {
            client: &client,
            lang: Lang::En,
            viewport: DESKTOP,
        };
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;
        to_broker(&visit, &app).await;
        let session_code = find(&client, "input[name=session_code]")
            .await
            .prop("value")
            .await
            .expect("the session code")
            .expect("a session code");
        for (lang, banner) in [
            ("fi", "TESTIPALVELU"),
            ("sv", "TESTTJÄNST"),
            ("en", "TEST SERVICE"),
        ] {
            let page = format!(
                "{}/login-actions/language?session_code={session_code}&lang={lang}",
                app.issuer
            );
            client.goto(&page).await.expect("open the page");
            wait_for_text(&client, "p.test", banner).await;
            assert_eq!(
                script(&client, "return document.documentElement.lang;").await,
                lang
            );
            assert_eq!(
                text_of(&client, "nav.lang a[aria-current=true]").await,
                match lang {
                    "fi" => "Suomi",
                    "sv" => "Svenska",
                    _ => "English",
                }
            );
            audit(&client, "the mock broker's login page", WCAG_21_AA).await;
            visit.screenshot(&format!("mock-login-{lang}")).await;
        }
        // The page still logs in after switching.
        click(
            &client,
            &format!(
                "button[name=person][value=\"{}\"]",
                app.person("010170-999R")
            ),
        )
        .await;
        back_at_service(&client, &app).await;
    })
    .await;
}
