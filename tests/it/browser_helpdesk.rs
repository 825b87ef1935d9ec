//! The helpdesk channel in a real browser, with the helpers and checks of [`crate::browser`].
//!
//! Every staff page (the sign-in, the search with its problems and results, the code shown once,
//! the revoke note, the refusal, the sign-out and the ended session) and every page of the person's
//! code path (the landing page's code section, `/code` with each of its problems, the account page
//! a code opens) gets every check in Finnish, Swedish and English, at a phone and at a desktop
//! viewport, and in Finnish at 200 % zoom. Beside them: keyboard focus on the staff and code forms;
//! the whole walk from the staff sign-in to a registered letter, its PDF and the person's new
//! password binding at a real OpenLDAP; and both sides with JavaScript turned off. Screenshots are
//! named `{lang}-{viewport}-helpdesk-….png`.

use std::sync::{Arc, Mutex};

use fantoccini::{Client, Locator};
use tunnus::account::Context;
use tunnus::clock::SystemClock;
use tunnus::directory::memory::{DEV_ACCOUNTS, MemoryDirectory};
use tunnus::directory::{AccountId, AccountState, Directory, LdapDirectory};
use tunnus::helpdesk::Staff;
use tunnus::helpdesk::codes::{Delivery, Document, DocumentCheck, IdentityCheck};
use tunnus::i18n::Lang;

use crate::browser::{
    BrowserOptions, DESKTOP, GOOD_PASSWORD, PHONE, Viewport, Visit, ZOOMED, assert_problem_summary,
    assert_visible_focus, at_each_viewport, audit, back_at_service, campus_ui, click, find,
    in_browser, in_each_language, script, set_viewport, tab_to, text_of, texts, type_into,
    wait_for_heading, wait_for_text, wait_for_url,
};
use crate::harness::{HelpdeskSso, Options, TestApp};
use crate::slapd::Slapd;

/// A third account of Päivi Helena Nieminen's beside `paniem` (a student) and `paniem2` (staff): one
/// search by her identity code then finds an account the helpdesk may issue a code for, one it may
/// not, and one that gets an open code.
const PAIVI_EXTERNAL: &str = r#"
[[account]]
username = "pnieminen"
national_id = "210281-9988"
given_name = "Päivi Helena"
family_name = "Nieminen"
category = "external"
state = "active"
groups = []
# The address the directory holds, offered in the letter form (and audited there).
postal_address = ["Pohjoisesplanadi 11 C 4", "00100 HELSINKI"]
"#;

const PAIVI: &str = "210281-9988";

/// The service as a campus runs it with the helpdesk channel on, over the development accounts and
/// [`PAIVI_EXTERNAL`]; also returns that directory, for looking inside.
async fn helpdesk_app() -> (TestApp, Arc<MemoryDirectory>) {
    let directory = Arc::new(
        MemoryDirectory::from_toml(&format!("{DEV_ACCOUNTS}\n{PAIVI_EXTERNAL}"))
            .expect("the helpdesk journeys' accounts load"),
    );
    let app = TestApp::spawn_with(Options {
        service_toml: campus_ui(),
        helpdesk: Some(HelpdeskSso::default()),
        directory: Some(directory.clone()),
        ..Options::default()
    })
    .await;
    (app, directory)
}

/// The issue form of the account `username` on a results page.
fn issue_form(username: &str) -> String {
    format!("form.issue:has(input[name=username][value=\"{username}\"])")
}

/// Opens the staff sign-in page in the visit's language, presses its button and signs `username`
/// in on the campus realm's login page; returns at the page the service answers with. With
/// `check`, the sign-in page gets every check and the campus realm's page the audit the mock
/// broker's page gets.
pub(crate) async fn sign_in_staff(visit: &Visit<'_>, app: &TestApp, username: &str, check: bool) {
    let client = visit.client;
    let t = texts(visit.lang);
    let mut start = app.at("/helpdesk");
    start.set_query(Some(&format!("lang={}", visit.lang.code())));
    client
        .goto(start.as_str())
        .await
        .expect("open the staff sign-in");
    wait_for_heading(client, &t.staff_sign_in_title).await;
    if check {
        visit.check("helpdesk-sign-in").await;
    }
    click(client, "form.start button[type=submit]").await;
    let service = app.url.origin();
    wait_for_url(client, "the campus login", |url| {
        url.origin() != service && url.path().starts_with("/realms/campus/")
    })
    .await;
    if check {
        let lang = script(client, "return document.documentElement.lang;").await;
        assert_eq!(
            lang,
            visit.lang.code(),
            "the campus login page is not in the chosen language"
        );
        audit(
            client,
            "the campus realm's login page",
            crate::browser::WCAG_21_AA,
        )
        .await;
        visit.screenshot("helpdesk-campus-login").await;
    }
    let index = app.staff_person(username);
    click(client, &format!("button[name=person][value=\"{index}\"]")).await;
    back_at_service(client, app).await;
}

/// Types `query` into the staff search (replacing what is there) and searches.
async fn search(client: &Client, query: &str) {
    find(client, "#q")
        .await
        .clear()
        .await
        .expect("clear the search");
    type_into(client, "#q", query).await;
    click(client, "form.search button[type=submit]").await;
}

/// Whether the element `css` is checked.
async fn checked(client: &Client, css: &str) -> bool {
    script(
        client,
        &format!("return document.querySelector({css:?}).checked;"),
    )
    .await
        == true
}

/// Clicks the label of `input` (as people do) and checks that it ticked that very input.
async fn tick_by_label(client: &Client, input: &str) {
    click(client, &format!("{input} + label")).await;
    assert!(
        checked(client, input).await,
        "clicking the label of {input} did not tick it"
    );
}

/// Records the identity check in `form`: the document, the issuing country typed as staff type it,
/// and the photo compared.
async fn fill_identity_check(client: &Client, form: &str, document: &str, country: &str) {
    find(client, &format!("{form} select[name=document]"))
        .await
        .select_by_value(document)
        .await
        .expect("choose the document");
    type_into(client, &format!("{form} input[name=country]"), country).await;
    tick_by_label(client, &format!("{form} input[name=photo_compared]")).await;
}

/// The code on the page that shows it once.
async fn shown_code(client: &Client) -> String {
    // The text a reader sees, after the label only screen readers read.
    let shown = text_of(client, "p.code").await;
    let code = shown
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(code.len(), 19, "not a grouped code: {shown:?}");
    code
}

/// Every staff page: sign-in, the campus login, search (empty, with a problem, with results), the
/// code issued, the results with an open code, the revoke note, the ended session, the sign-out and
/// the refusal of someone outside the staff groups.
async fn staff_pages(client: Client, lang: Lang, viewport: Viewport) {
    let (app, _) = helpdesk_app().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    sign_in_staff(&visit, &app, "hd-anna", true).await;
    wait_for_heading(&client, &t.staff_home_title).await;
    assert!(
        text_of(&client, "p.lead").await.contains("Anna Palvelu"),
        "the staff member is not greeted by name"
    );
    visit.check("helpdesk-search").await;

    // A mistyped identity code: its check character is wrong.
    search(&client, "170677-924G").await;
    assert_eq!(
        text_of(&client, "#form-problem h2").await,
        t.staff_problem_title
    );
    visit.check("helpdesk-search-invalid").await;
    assert_problem_summary(&client, &[("#q", t.staff_search_invalid_id.as_str())]).await;

    // Päivi's three accounts: a student (may issue), staff (may not), external (may issue).
    search(&client, PAIVI).await;
    find(&client, "section.account").await;
    let sections = client
        .find_all(Locator::Css("section.account"))
        .await
        .expect("find the results");
    assert_eq!(sections.len(), 3, "Päivi's accounts are not all found");
    assert_eq!(
        text_of(&client, "section.account:not(:has(form.issue)) p.note").await,
        t.staff_not_allowed_category,
        "the staff account does not say why no code may be issued"
    );
    assert_eq!(
        client
            .find_all(Locator::Css("form.issue"))
            .await
            .expect("find issue forms")
            .len(),
        2
    );
    visit.check("helpdesk-results").await;

    // Through a janitor, but without saying where: the form comes back with the problem.
    let form = issue_form("pnieminen");
    fill_identity_check(&client, &form, "passport", "fi").await;
    tick_by_label(
        &client,
        &format!("{form} input[name=delivery][value=janitor]"),
    )
    .await;
    click(&client, &format!("{form} button[type=submit]")).await;
    assert_eq!(
        text_of(&client, "#form-problem h2").await,
        t.staff_problem_title
    );
    visit.check("helpdesk-issue-problem").await;
    assert_problem_summary(&client, &[("#campus-1", t.staff_janitor_needs.as_str())]).await;

    // What staff typed came back with the form: nothing has to be typed again.
    assert_eq!(
        script(
            &client,
            &format!(
                "const form = document.querySelector({form:?}); \
                 return [form.document.value, form.country.value].join(' ');"
            ),
        )
        .await,
        "passport fi"
    );
    assert!(checked(&client, &format!("{form} input[name=photo_compared]")).await);
    assert!(
        checked(
            &client,
            &format!("{form} input[name=delivery][value=janitor]")
        )
        .await
    );

    // A code for the external account, through a janitor, its document in English: the document
    // seen was another one after all.
    find(&client, &format!("{form} select[name=document]"))
        .await
        .select_by_value("identity_card")
        .await
        .expect("choose the document");
    let country = format!("{form} input[name=country]");
    find(&client, &country)
        .await
        .clear()
        .await
        .expect("clear the country");
    type_into(&client, &country, "se").await;
    tick_by_label(&client, &format!("{form} input[name=lang][value=en]")).await;
    type_into(&client, &format!("{form} input[name=campus]"), "Kumpula").await;
    type_into(
        &client,
        &format!("{form} input[name=pick_up]"),
        "Exactum, aula",
    )
    .await;
    click(&client, &format!("{form} button[type=submit]")).await;
    wait_for_heading(&client, &t.staff_issued_title).await;
    assert_eq!(text_of(&client, ".username").await, "pnieminen");
    shown_code(&client).await;
    visit.check("helpdesk-issued").await;

    // Back to the search: the account now shows its open code and a way to revoke it.
    click(&client, "main a[href=\"/helpdesk\"]").await;
    wait_for_heading(&client, &t.staff_home_title).await;
    search(&client, PAIVI).await;
    let revoke = "form[action=\"/helpdesk/revoke\"]:has(input[name=username][value=\"pnieminen\"])";
    find(&client, revoke).await;
    visit.check("helpdesk-results-open-code").await;
    click(&client, &format!("{revoke} button[type=submit]")).await;
    wait_for_heading(&client, &t.staff_home_title).await;
    assert_eq!(
        text_of(&client, "p.note[role=status]").await,
        t.staff_revoked
    );
    visit.check("helpdesk-revoked").await;

    // Away from the desk for longer than a staff session stays idle.
    app.clock.advance(time::Duration::minutes(31));
    search(&client, "paniem").await;
    wait_for_heading(&client, &t.error_staff_session_title).await;
    visit.check("helpdesk-session-ended").await;
    click(&client, "main a.button").await;
    wait_for_heading(&client, &t.staff_sign_in_title).await;

    sign_in_staff(&visit, &app, "hd-anna", false).await;
    wait_for_heading(&client, &t.staff_home_title).await;
    click(&client, "form.sign-out button[type=submit]").await;
    wait_for_heading(&client, &t.staff_signed_out_title).await;
    visit.check("helpdesk-signed-out").await;

    // Someone on the campus login who is not in a staff group.
    sign_in_staff(&visit, &app, "kalle", false).await;
    wait_for_heading(&client, &t.staff_refused_title).await;
    visit.check("helpdesk-refused").await;
}

/// Issues a code for `username` as `hd-anna` would at the desk, and returns it as printed.
async fn issue_code(
    app: &TestApp,
    directory: &MemoryDirectory,
    username: &str,
    delivery: Delivery,
) -> String {
    let account = directory
        .account(&AccountId::new(username))
        .await
        .expect("the memory directory answers")
        .expect("a development account");
    let staff = Staff {
        username: "hd-anna".into(),
        name: "Anna Palvelu".into(),
        groups: vec!["helpdesk".into()],
    };
    let check = IdentityCheck::Document(DocumentCheck {
        document: Document::Passport,
        country: "FI".into(),
        photo_compared: true,
    });
    let context = Context {
        client_ip: "192.0.2.10",
        request_id: "browser",
        lang: Lang::Fi,
    };
    let (code, _) = app
        .state
        .helpdesk
        .as_ref()
        .expect("the helpdesk channel is on")
        .issue(&staff, &account, delivery, check, context)
        .await
        .expect("the code is issued");
    code.grouped()
}

/// A code typed the way people type one: lower case, spaces for the dashes.
fn as_typed(code: &str) -> String {
    code.to_lowercase().replace('-', " ")
}

/// The person's pages of the channel: the landing page's code section, the code page empty and
/// with each of its problems (nothing typed, a wrong code, an expired code), and the account page a
/// right code opens, up to the activated account.
async fn code_pages(client: Client, lang: Lang, viewport: Viewport) {
    let (app, directory) = helpdesk_app().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    // A letter code lives 30 days; Åsa's is past that when she types it.
    let expired = issue_code(&app, &directory, "aslind", Delivery::Letter).await;
    app.clock.advance(time::Duration::days(30));
    let code = issue_code(&app, &directory, "eemake", Delivery::InPerson).await;

    let mut landing = app.at("/");
    landing.set_query(Some(&format!("lang={}", lang.code())));
    client.goto(landing.as_str()).await.expect("open landing");
    wait_for_heading(&client, &t.landing_title).await;
    assert_eq!(text_of(&client, "h2#have-code").await, t.code_link);
    visit.check("helpdesk-landing").await;
    click(&client, "section a.button[href=\"/code\"]").await;
    wait_for_heading(&client, &t.code_title).await;
    visit.check("helpdesk-code").await;

    click(&client, "form button.primary").await;
    assert_eq!(
        text_of(&client, "#form-problem h2").await,
        t.code_problem_title
    );
    visit.check("helpdesk-code-required").await;
    assert_problem_summary(&client, &[("#username", t.code_required.as_str())]).await;

    type_into(&client, "#username", "aslind").await;
    type_into(&client, "#code", "7kqm 2xrd 9tpa f4wn").await;
    click(&client, "form button.primary").await;
    wait_for_text(&client, "#form-problem", &t.code_wrong).await;
    visit.check("helpdesk-code-wrong").await;
    assert_problem_summary(&client, &[("#code", t.code_wrong.as_str())]).await;

    assert_eq!(
        find(&client, "#username")
            .await
            .prop("value")
            .await
            .expect("the username")
            .as_deref(),
        Some("aslind"),
        "the username typed is not kept"
    );
    type_into(&client, "#code", &as_typed(&expired)).await;
    click(&client, "form button.primary").await;
    wait_for_text(&client, "#form-problem", &t.code_expired).await;
    visit.check("helpdesk-code-expired").await;

    find(&client, "#username")
        .await
        .clear()
        .await
        .expect("clear the username");
    type_into(&client, "#username", "eemake").await;
    type_into(&client, "#code", &as_typed(&code)).await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.activate_title).await;
    assert_eq!(text_of(&client, ".username").await, "eemake");
    visit.check("helpdesk-code-activation").await;
    click(&client, "#accept_terms").await;
    type_into(&client, "#password", GOOD_PASSWORD).await;
    type_into(&client, "#confirmation", GOOD_PASSWORD).await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.activated_title).await;
    visit.check("helpdesk-code-activated").await;
    assert!(directory.verify_password("eemake", GOOD_PASSWORD));
    assert_eq!(directory.state_of("eemake"), Some(AccountState::Active));
}

in_each_language! {
    the_helpdesk_staff_pages_are_accessible => staff_pages,
    the_activation_code_pages_are_accessible => code_pages,
}

/// At 200 % zoom a 1280-px desktop lays out in 640 CSS pixels: no page of the channel may scroll
/// sideways. In Finnish, whose words are the longest; every language is checked at 320 px.
#[tokio::test]
async fn no_helpdesk_page_scrolls_sideways_at_200_percent_zoom() {
    let options = BrowserOptions {
        device_scale: Some(2),
        ..BrowserOptions::default()
    };
    in_browser(options, |client| async move {
        set_viewport(&client, ZOOMED.width, ZOOMED.height).await;
        staff_pages(client.clone(), Lang::Fi, ZOOMED).await;
        client.delete_all_cookies().await.expect("delete cookies");
        code_pages(client.clone(), Lang::Fi, ZOOMED).await;
    })
    .await;
}

#[tokio::test]
async fn the_staff_and_code_forms_are_reached_with_tab_and_show_focus() {
    in_browser(BrowserOptions::default(), |client| async move {
        let (app, _) = helpdesk_app().await;
        let visit = Visit {
            client: &client,
            lang: Lang::En,
            viewport: DESKTOP,
        };
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;
        let t = texts(Lang::En);
        client
            .goto(app.at("/helpdesk?lang=en").as_str())
            .await
            .expect("open the staff sign-in");
        tab_to(&client, "form.start button", 10).await;
        assert_visible_focus(&client, "the staff sign-in button").await;

        sign_in_staff(&visit, &app, "hd-anna", false).await;
        wait_for_heading(&client, &t.staff_home_title).await;
        search(&client, "aslind").await;
        wait_for_heading(&client, &t.staff_home_title).await;
        find(&client, "form.issue").await;
        script(
            &client,
            "document.activeElement.blur(); window.scrollTo(0, 0);",
        )
        .await;
        let form = issue_form("aslind");
        for (css, what) in [
            ("#q".to_owned(), "the search field"),
            (
                "form.search button[type=submit]".to_owned(),
                "the search button",
            ),
            (format!("{form} select[name=document]"), "the document"),
            (format!("{form} input[name=country]"), "the country"),
            (
                format!("{form} input[name=photo_compared]"),
                "the photo checkbox",
            ),
            (
                format!("{form} input[name=delivery]:checked"),
                "the delivery choice",
            ),
            (
                format!("{form} input[name=lang]:checked"),
                "the language choice",
            ),
            (format!("{form} input[name=campus]"), "the campus"),
            (format!("{form} input[name=pick_up]"), "the pick-up point"),
            (format!("{form} textarea[name=address]"), "the address"),
            (format!("{form} button[type=submit]"), "the issue button"),
            (
                "form.sign-out button[type=submit]".to_owned(),
                "the sign-out button",
            ),
        ] {
            tab_to(&client, &css, 20).await;
            assert_visible_focus(&client, what).await;
        }

        client
            .goto(app.at("/code?lang=en").as_str())
            .await
            .expect("open the code page");
        for (css, what) in [
            ("#username", "the username field"),
            ("#code", "the code field"),
            ("form button.primary", "the continue button"),
        ] {
            tab_to(&client, css, 20).await;
            assert_visible_focus(&client, what).await;
        }
    })
    .await;
}

/// Åke Örjan Väänänen: an external account waiting for activation, without a password, under `base`
/// in the real OpenLDAP; returns its DN.
pub(crate) async fn add_ake(slapd: &Slapd, base: &str) -> String {
    let dn = format!("uid=akvaan,{base}");
    crate::slapd::add(
        &mut slapd.admin().await,
        &dn,
        &[
            (
                "objectClass",
                &["inetOrgPerson", "schacLinkageIdentifiers", "tunnusAccount"],
            ),
            ("uid", &["akvaan"]),
            ("cn", &["Åke Örjan Väänänen"]),
            ("givenName", &["Åke Örjan"]),
            ("sn", &["Väänänen"]),
            ("employeeType", &["external"]),
            (
                "schacPersonalUniqueID",
                &["urn:schac:personalUniqueID:fi:FIC:020365-999P"],
            ),
            ("tunnusAccountState", &["pending"]),
        ],
    )
    .await;
    dn
}

/// On the code page of `visit`, types `username` and `code` as people type codes, accepts the terms
/// and chooses [`GOOD_PASSWORD`]; every page is checked, screenshots named `{walk}-6-code` on.
pub(crate) async fn redeem_and_activate(visit: &Visit<'_>, username: &str, code: &str, walk: &str) {
    let client = visit.client;
    let t = texts(visit.lang);
    type_into(client, "#username", username).await;
    type_into(client, "#code", &as_typed(code)).await;
    visit.screenshot(&format!("{walk}-6-code")).await;
    click(client, "form button.primary").await;
    wait_for_heading(client, &t.activate_title).await;
    assert_eq!(text_of(client, ".username").await, username);
    visit.check(&format!("{walk}-7-activation")).await;
    click(client, "#accept_terms").await;
    type_into(client, "#password", GOOD_PASSWORD).await;
    type_into(client, "#confirmation", GOOD_PASSWORD).await;
    click(client, "form button.primary").await;
    wait_for_heading(client, &t.activated_title).await;
    visit.check(&format!("{walk}-8-activated")).await;
}

/// Posts the form `form` of the current page as the browser would, with its cookies and origin, and
/// returns the answer: how a test gets what a button downloads.
pub(crate) async fn submit_outside_the_browser(
    client: &Client,
    app: &TestApp,
    form: &str,
) -> reqwest::Response {
    let submitted = script(
        client,
        &format!(
            r#"const form = document.querySelector({form:?});
            const button = form.querySelector("button[type=submit]");
            return {{
                action: form.action,
                method: form.method,
                button: button !== null && button.offsetParent !== null,
                fields: Array.from(new FormData(form).entries())
            }};"#
        ),
    )
    .await;
    assert_eq!(submitted["method"], "post", "{form} is not posted");
    assert_eq!(submitted["button"], true, "{form} has no visible button");
    let fields: Vec<(String, String)> =
        serde_json::from_value(submitted["fields"].clone()).expect("the form's fields");
    let cookies = client
        .get_all_cookies()
        .await
        .expect("the browser's cookies")
        .iter()
        .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
        .collect::<Vec<_>>()
        .join("; ");
    reqwest::Client::new()
        .post(submitted["action"].as_str().expect("the form's action"))
        .header("origin", app.url.origin().ascii_serialization())
        .header("cookie", cookies)
        .form(&fields)
        .send()
        .await
        .expect("the service answers")
}

/// The whole channel against the real OpenLDAP: `hd-anna` signs in at her desk, finds Åke's
/// account, records his passport, issues a registered-letter code and prints the letter; Åke, at
/// home on his phone, follows "I have an activation code", types the code as people type, accepts
/// the terms and chooses his password, which then binds at the directory.
#[tokio::test]
async fn a_registered_letter_from_the_helpdesk_activates_an_account_in_a_real_openldap() {
    let slapd = crate::slapd::shared();
    let base = slapd.subtree().await;
    let dn = add_ake(slapd, &base).await;
    let directory = LdapDirectory::new(&slapd.settings(&base), Arc::new(SystemClock))
        .expect("the LDAP directory is set up");
    let app = Arc::new(
        TestApp::spawn_with(Options {
            service_toml: campus_ui(),
            helpdesk: Some(HelpdeskSso::default()),
            directory: Some(Arc::new(directory)),
            ..Options::default()
        })
        .await,
    );
    let letter = Arc::new(Mutex::new(None::<String>));

    let (desk, issued) = (app.clone(), letter.clone());
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
        visit.screenshot("helpdesk-walk-1-signed-in").await;
        search(&client, "akvaan").await;
        let form = issue_form("akvaan");
        find(&client, &form).await;
        assert_eq!(
            text_of(&client, "section.account h3").await,
            "Åke Örjan Väänänen"
        );
        visit.check("helpdesk-walk-2-found").await;

        fill_identity_check(&client, &form, "passport", "se").await;
        tick_by_label(
            &client,
            &format!("{form} input[name=delivery][value=letter]"),
        )
        .await;
        type_into(
            &client,
            &format!("{form} textarea[name=address]"),
            "Sörnäisten rantatie 1 A 2\n00530 HELSINKI",
        )
        .await;
        visit.screenshot("helpdesk-walk-3-filled").await;
        click(&client, &format!("{form} button[type=submit]")).await;
        wait_for_heading(&client, &t.staff_issued_title).await;
        let code = shown_code(&client).await;
        assert!(
            text_of(&client, "dl.facts")
                .await
                .contains(&t.staff_delivery_letter),
            "the issued page does not name the delivery"
        );
        visit.check("helpdesk-walk-4-issued").await;

        let printed =
            submit_outside_the_browser(&client, &app, "form[action=\"/helpdesk/print\"]").await;
        assert_eq!(printed.status(), reqwest::StatusCode::OK);
        assert_eq!(printed.headers()["content-type"], "application/pdf");
        let pdf = printed.bytes().await.expect("the PDF");
        let dir = crate::redis::TempDir::new("browser-letter");
        let file = dir.path().join("letter.pdf");
        std::fs::write(&file, &pdf).expect("write the PDF");
        let text = crate::letters::text(&file);
        for expected in [
            code.as_str(),
            "Åke Örjan Väänänen",
            "Sörnäisten rantatie 1 A 2",
            "00530 HELSINKI",
        ] {
            assert!(
                text.contains(expected),
                "{expected} is not in the letter:\n{text}"
            );
        }
        *issued.lock().unwrap() = Some(code);
    })
    .await;
    let code = letter
        .lock()
        .unwrap()
        .take()
        .expect("the desk issued a code");

    let home = app.clone();
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
            .goto(app.at("/?lang=fi").as_str())
            .await
            .expect("open landing");
        wait_for_heading(&client, &t.landing_title).await;
        visit.screenshot("helpdesk-walk-5-landing").await;
        click(&client, "section a.button[href=\"/code\"]").await;
        wait_for_heading(&client, &t.code_title).await;
        redeem_and_activate(&visit, "akvaan", &code, "helpdesk-walk").await;
    })
    .await;

    assert!(slapd.can_bind(&dn, GOOD_PASSWORD).await);
    assert_eq!(slapd.read(&dn, "tunnusAccountState").await, ["active"]);
    let audit = app.audit_log();
    for event in ["code_issued", "code_printed", "code_redeemed", "activation"] {
        assert!(
            audit.contains(&format!("\"event\":\"{event}\"")),
            "{event} is not in the audit trail: {audit}"
        );
    }
}

/// Both sides of the channel with JavaScript turned off: staff issue a code in person, and the
/// person redeems it and sets a new password.
#[tokio::test]
async fn the_staff_issue_and_the_code_path_work_without_javascript() {
    let options = BrowserOptions {
        javascript_off: true,
        ..BrowserOptions::default()
    };
    in_browser(options, |client| async move {
        let (app, directory) = helpdesk_app().await;
        let visit = Visit {
            client: &client,
            lang: Lang::Fi,
            viewport: DESKTOP,
        };
        let t = texts(Lang::Fi);
        sign_in_staff(&visit, &app, "hd-anna", false).await;
        wait_for_heading(&client, &t.staff_home_title).await;
        search(&client, "aslind").await;
        let form = issue_form("aslind");
        find(&client, &form).await;
        fill_identity_check(&client, &form, "residence_permit", "de").await;
        assert!(
            checked(
                &client,
                &format!("{form} input[name=delivery][value=in_person]")
            )
            .await
        );
        click(&client, &format!("{form} button[type=submit]")).await;
        wait_for_heading(&client, &t.staff_issued_title).await;
        let code = shown_code(&client).await;
        click(&client, "form.sign-out button[type=submit]").await;
        wait_for_heading(&client, &t.staff_signed_out_title).await;
        client.delete_all_cookies().await.expect("delete cookies");

        client
            .goto(app.at("/?lang=fi").as_str())
            .await
            .expect("open landing");
        click(&client, "section a.button[href=\"/code\"]").await;
        wait_for_heading(&client, &t.code_title).await;
        type_into(&client, "#username", "aslind").await;
        type_into(&client, "#code", &as_typed(&code)).await;
        click(&client, "form button.primary").await;
        wait_for_heading(&client, &t.reset_title).await;
        let toggles = client
            .find_all(Locator::Css("button.toggle"))
            .await
            .expect("find toggles");
        assert!(
            toggles.is_empty(),
            "the script ran although JavaScript is off"
        );
        type_into(&client, "#password", GOOD_PASSWORD).await;
        type_into(&client, "#confirmation", GOOD_PASSWORD).await;
        click(&client, "form button.primary").await;
        wait_for_heading(&client, &t.reset_done_title).await;
        assert_eq!(text_of(&client, ".username").await, "aslind");
        assert!(directory.verify_password("aslind", GOOD_PASSWORD));
    })
    .await;
}
