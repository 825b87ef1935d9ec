//! Service requests over real sockets: a person without strong identification asks at `/request`
//! for a code by janitor or registered letter; helpdesk staff see the request in their queue beside
//! the accounts it may be for, issue a code from it or refuse it. Every refusal also proves that
//! nothing was stored or issued.

use reqwest::StatusCode;

use crate::harness::{Browser, HelpdeskSso, Options, Page, TestApp};
pub(crate) use crate::helpdesk_pages::shown_code;

const GOOD: &str = "kahvi-Tunturi-lumi-57-sade";

async fn spawn_with(toml: &str) -> TestApp {
    TestApp::spawn_with(Options {
        helpdesk: Some(HelpdeskSso::default()),
        service_toml: toml.to_owned(),
        ..Options::default()
    })
    .await
}

async fn spawn() -> TestApp {
    spawn_with("").await
}

fn helpdesk(app: &TestApp) -> &tunnus::helpdesk::Helpdesk {
    app.state
        .helpdesk
        .as_deref()
        .expect("the helpdesk channel is on")
}

/// How many requests wait in the queue.
async fn waiting(app: &TestApp) -> u64 {
    helpdesk(app).requests_waiting().await.unwrap().0
}

/// Åsa Linnéa Lindqvist of the development accounts asks for a registered letter to Tampere.
pub(crate) fn asa_by_letter() -> Vec<(&'static str, &'static str)> {
    vec![
        ("username", ""),
        ("given_name", "Åsa"),
        ("family_name", "Lindqvist"),
        ("birth_date", "17.6.1977"),
        ("email", "asa.lindqvist@example.com"),
        ("delivery", "letter"),
        ("campus", ""),
        ("street", "Hämeenkatu 10 B 7"),
        ("postal_code", "33100"),
        ("town", "Tampere"),
        ("country", ""),
        ("website", ""),
    ]
}

/// `fields` with `changes` made.
pub(crate) fn with<'a>(
    mut fields: Vec<(&'a str, &'a str)>,
    changes: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    for (name, value) in changes {
        match fields.iter_mut().find(|(field, _)| field == name) {
            Some(slot) => slot.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields
}

/// Opens the form in `browser`, lets `seconds` pass, and sends it with `fields`.
pub(crate) async fn send_after(
    app: &TestApp,
    browser: &Browser,
    fields: &[(&str, &str)],
    seconds: i64,
) -> Page {
    let form = browser.get_path("/request").await;
    form.assert_status(StatusCode::OK);
    app.clock.advance(time::Duration::seconds(seconds));
    let (csrf, token) = (form.field("csrf"), form.field("token"));
    let mut all = vec![("csrf", csrf.as_str()), ("token", token.as_str())];
    all.extend_from_slice(fields);
    browser.post_form(app.at("/request"), &all).await
}

/// Sends `fields` as a person would, who takes a while to fill the form.
pub(crate) async fn send(app: &TestApp, browser: &Browser, fields: &[(&str, &str)]) -> Page {
    send_after(app, browser, fields, 30).await
}

/// The request number on the answer page.
pub(crate) fn number(page: &Page) -> String {
    let start = page
        .body
        .find("id=\"request-number\">")
        .expect("the answer shows a request number")
        + "id=\"request-number\">".len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].to_owned()
}

pub(crate) fn audit_events(app: &TestApp, event: &str) -> Vec<serde_json::Value> {
    app.audit_log()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["event"] == event)
        .collect()
}

/// Issues a code from request `number` to `username` as `staff`.
pub(crate) async fn issue(app: &TestApp, staff: &Browser, number: &str, username: &str) -> Page {
    let page = staff
        .get_path(&format!("/helpdesk/requests/{number}"))
        .await;
    page.assert_status(StatusCode::OK);
    staff
        .post_form(
            app.at(&format!("/helpdesk/requests/{number}/issue")),
            &[("csrf", &page.field("csrf")), ("username", username)],
        )
        .await
}

#[tokio::test]
async fn a_letter_request_is_queued_matched_issued_from_and_its_code_sets_the_password() {
    let app = spawn().await;
    let person = app.browser();
    let landing = person.get_path("/?lang=en").await;
    landing.assert_contains("href=\"/request\"");

    let sent = send(&app, &person, &asa_by_letter()).await;
    // The person reads English; the request keeps their language for what follows.
    sent.assert_status(StatusCode::OK)
        .assert_contains("Your request has been sent")
        .assert_contains("usually within 3 working days");
    let number = number(&sent);
    assert_eq!(waiting(&app).await, 1);

    let staff = app.staff_browser("hd-anna").await;
    staff
        .get_path("/helpdesk")
        .await
        .assert_contains("Odottavia palvelupyyntöjä: 1");
    let queue = staff.get_path("/helpdesk/requests").await;
    queue
        .assert_status(StatusCode::OK)
        .assert_contains(&format!("href=\"/helpdesk/requests/{number}\""))
        .assert_contains("Åsa Lindqvist");
    let request = staff
        .get_path(&format!("/helpdesk/requests/{number}"))
        .await;
    request
        .assert_status(StatusCode::OK)
        .assert_contains("Hämeenkatu 10 B 7")
        .assert_contains("33100 TAMPERE")
        .assert_contains("asa.lindqvist@example.com")
        .assert_contains("17.6.1977")
        .assert_contains("<strong class=\"username\" id=\"candidate-username-1\">aslind</strong>")
        .assert_contains("nimet täsmäävät")
        .assert_contains("syntymäaika täsmää");

    let issued = issue(&app, &staff, &number, "aslind").await;
    issued
        .assert_status(StatusCode::OK)
        .assert_contains("Koodi myönnetty")
        .assert_contains("Kirjattuna kirjeenä");
    assert_eq!(issued.field("address"), "Hämeenkatu 10 B 7\n33100 TAMPERE");
    assert_eq!(issued.field("delivery"), "letter");
    assert_eq!(
        issued.field("lang"),
        "en",
        "the letter is printed in English"
    );
    let code = shown_code(&issued);
    assert_eq!(waiting(&app).await, 0);
    staff
        .get_path("/helpdesk/requests")
        .await
        .assert_contains("Palvelupyyntöjä ei odota");
    staff
        .get_path(&format!("/helpdesk/requests/{number}"))
        .await
        .assert_contains("hd-anna myönsi koodin tunnukselle aslind")
        .assert_not_contains("/issue\"");

    let code_record = helpdesk(&app).codes_of("aslind").await.unwrap().0.unwrap();
    assert_eq!(
        code_record.check.service_request(),
        Some(number.as_str()),
        "the code records the request it came from"
    );
    assert_eq!(code_record.delivery.as_str(), "letter");

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
    crate::harness::set_password(&app, &person, &account, GOOD)
        .await
        .assert_status(StatusCode::OK);
    assert!(app.directory.verify_password("aslind", GOOD));

    let created = audit_events(&app, "request_created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["outcome"], "success");
    assert_eq!(created[0]["service_request"], number.as_str());
    let issued = audit_events(&app, "request_issued");
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["staff"], "hd-anna");
    assert_eq!(issued[0]["account"], "aslind");
    assert_eq!(issued[0]["delivery"], "letter");
    assert!(!audit_events(&app, "request_viewed").is_empty());
    let code_issued = audit_events(&app, "code_issued");
    assert_eq!(code_issued[0]["service_request"], number.as_str());
    assert!(code_issued[0].get("document").is_none());
    // What the person typed stays out of the audit trail.
    let audit = app.audit_log();
    for typed in ["asa.lindqvist@example.com", "Hämeenkatu", "1977", &code] {
        assert!(!audit.contains(typed), "{typed} reached the audit trail");
    }
}

#[tokio::test]
async fn a_janitor_request_prints_the_campus_slip_and_names_every_candidate() {
    let app = spawn().await;
    let person = app.browser();
    let fields = with(
        asa_by_letter(),
        &[
            ("given_name", "Päivi"),
            ("family_name", "Nieminen"),
            ("birth_date", "21.2.1981"),
            ("delivery", "janitor"),
            ("campus", "hervanta"),
            ("street", ""),
            ("postal_code", ""),
            ("town", ""),
        ],
    );
    let sent = send(&app, &person, &fields).await;
    sent.assert_status(StatusCode::OK)
        .assert_contains("Hervannan kampus, Tietotalo, vahtimestari, ma–pe 8–16");
    let number = number(&sent);
    let staff = app.staff_browser("hd-anna").await;
    let request = staff
        .get_path(&format!("/helpdesk/requests/{number}"))
        .await;
    // Her student account may be served by the helpdesk; her staff account only by HR.
    request
        .assert_contains(">paniem</strong>")
        .assert_contains(">paniem2</strong>")
        .assert_contains("value=\"paniem\"")
        .assert_not_contains("value=\"paniem2\"");
    let issued = issue(&app, &staff, &number, "paniem").await;
    issued.assert_status(StatusCode::OK);
    assert_eq!(issued.field("delivery"), "janitor");
    assert_eq!(issued.field("campus"), "Hervannan kampus");
    assert_eq!(issued.field("pick_up"), "Tietotalo, vahtimestari");
}

#[tokio::test]
async fn a_capital_region_postal_code_is_refused_for_a_letter_and_nothing_is_stored() {
    let app = spawn().await;
    let person = app.browser();
    for code in ["00530", "01300", "02150"] {
        let refused = send(
            &app,
            &person,
            &with(asa_by_letter(), &[("postal_code", code)]),
        )
        .await;
        refused
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("href=\"#postal_code\"")
            .assert_contains("kirjattuja kirjeitä ei lähetetä pääkaupunkiseudulle")
            .assert_contains(&format!("value=\"{code}\""))
            .assert_not_contains("request-number");
    }
    // A Finnish postal code is five digits.
    send(
        &app,
        &person,
        &with(asa_by_letter(), &[("postal_code", "3310")]),
    )
    .await
    .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
    .assert_contains("viisi numeroa");
    // Abroad only when the settings allow it.
    send(
        &app,
        &person,
        &with(
            asa_by_letter(),
            &[("postal_code", "10115"), ("country", "Deutschland")],
        ),
    )
    .await
    .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
    .assert_contains("vain suomalaisiin osoitteisiin");
    assert_eq!(waiting(&app).await, 0);
    assert!(audit_events(&app, "request_created").is_empty());
}

#[tokio::test]
async fn a_form_sent_at_bot_speed_or_with_the_hidden_field_filled_stores_nothing() {
    let app = spawn().await;
    let person = app.browser();
    let fast = send_after(&app, &person, &asa_by_letter(), 1).await;
    fast.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Lomaketta ei voitu lähettää")
        .assert_contains("value=\"Hämeenkatu 10 B 7\"");
    let trapped = send(
        &app,
        &person,
        &with(asa_by_letter(), &[("website", "https://cheap.example/")]),
    )
    .await;
    trapped
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Lomaketta ei voitu lähettää");
    // A token made up to look older is not one of the service's.
    let form = person.get_path("/request").await;
    let forged = format!("{}.{}", 1_000_000_000, "00".repeat(16));
    let mut fields = vec![("csrf", form.field("csrf")), ("token", forged)];
    fields.extend(
        asa_by_letter()
            .into_iter()
            .map(|(name, value)| (name, value.to_owned())),
    );
    let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    person
        .post_form(app.at("/request"), &fields)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(waiting(&app).await, 0);
    let refused = audit_events(&app, "request_created");
    let reasons: Vec<&str> = refused
        .iter()
        .map(|event| event["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["too_fast", "bot_field", "too_fast"]);
    assert!(refused.iter().all(|event| event["outcome"] == "refused"));
}

#[tokio::test]
async fn a_flood_of_requests_is_limited_per_e_mail_address_and_per_network() {
    let app =
        spawn_with("[limits]\nservice_requests_per_email = 2\nservice_requests_per_network = 5\n")
            .await;
    let person = app.browser();
    for _ in 0..2 {
        send(&app, &person, &asa_by_letter())
            .await
            .assert_status(StatusCode::OK);
    }
    let limited = send(&app, &person, &asa_by_letter()).await;
    limited.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.get("retry-after").is_some());
    assert_eq!(waiting(&app).await, 2, "the limited request was stored");

    for (index, email) in ["b@example.com", "c@example.com", "d@example.com"]
        .into_iter()
        .enumerate()
    {
        let page = send(&app, &person, &with(asa_by_letter(), &[("email", email)])).await;
        let expected = if index < 2 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        page.assert_status(expected);
    }
    assert_eq!(waiting(&app).await, 4);
    let limits: Vec<String> = audit_events(&app, "refusal")
        .iter()
        .map(|event| event["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        limits,
        ["service_requests_per_email", "service_requests_per_network"]
    );
}

/// Everything of the answer page but the request number.
fn without_number(page: &Page) -> String {
    page.body.replace(&number(page), "P-XXXX-XXXX")
}

#[tokio::test]
async fn the_answer_is_the_same_whether_or_not_the_account_or_person_exists() {
    let app = spawn().await;
    let person = app.browser();
    let known = send(
        &app,
        &person,
        &with(asa_by_letter(), &[("username", "aslind")]),
    )
    .await;
    let unknown = send(
        &app,
        &person,
        &with(
            asa_by_letter(),
            &[
                ("username", "nobody"),
                ("given_name", "Ei"),
                ("family_name", "Ketään"),
                ("birth_date", "1.1.1990"),
                ("email", "other@example.com"),
            ],
        ),
    )
    .await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(without_number(&known), without_number(&unknown));
    assert_eq!(waiting(&app).await, 2);
}

#[tokio::test]
async fn staff_outside_the_request_groups_see_no_queue_and_change_nothing() {
    let app = spawn().await;
    let person = app.browser();
    let number = number(&send(&app, &person, &asa_by_letter()).await);

    // HR may use the helpdesk pages, but service requests are the helpdesk group's.
    let hr = app.staff_browser("hr-henna").await;
    hr.get_path("/helpdesk")
        .await
        .assert_status(StatusCode::OK)
        .assert_not_contains("/helpdesk/requests");
    for path in [
        "/helpdesk/requests".to_owned(),
        format!("/helpdesk/requests/{number}"),
    ] {
        hr.get_path(&path)
            .await
            .assert_status(StatusCode::FORBIDDEN)
            .assert_contains("Palvelupyynnöt käsittelee käyttäjätuen ryhmä")
            .assert_not_contains(&number)
            .assert_not_contains("Lindqvist");
    }
    let csrf = hr.get_path("/helpdesk").await.field("csrf");
    hr.post_form(
        app.at(&format!("/helpdesk/requests/{number}/issue")),
        &[("csrf", &csrf), ("username", "aslind")],
    )
    .await
    .assert_status(StatusCode::FORBIDDEN);
    hr.post_form(
        app.at(&format!("/helpdesk/requests/{number}/refuse")),
        &[("csrf", &csrf), ("reason", "no_match")],
    )
    .await
    .assert_status(StatusCode::FORBIDDEN);

    // Without a staff session there is no queue either.
    let stranger = app.browser();
    stranger
        .get_path("/helpdesk/requests")
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_not_contains(&number);

    assert_eq!(waiting(&app).await, 1);
    assert!(helpdesk(&app).codes_of("aslind").await.unwrap().0.is_none());
    assert!(audit_events(&app, "request_viewed").is_empty());
    assert!(audit_events(&app, "request_issued").is_empty());
}

#[tokio::test]
async fn only_a_candidate_of_the_request_is_issued_a_code() {
    let app = spawn().await;
    let number = number(&send(&app, &app.browser(), &asa_by_letter()).await);
    let staff = app.staff_browser("hd-anna").await;
    // Tero's account is not one the request could be for.
    let refused = issue(&app, &staff, &number, "tetyra").await;
    refused
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("ei ole tämän pyynnön ehdokas");
    assert!(helpdesk(&app).codes_of("tetyra").await.unwrap().0.is_none());
    assert_eq!(waiting(&app).await, 1, "the request is still open");
    assert!(audit_events(&app, "code_issued").is_empty());
}

#[tokio::test]
async fn a_refused_request_is_closed_with_its_reason_and_cannot_be_issued_from() {
    let app = spawn().await;
    let number = number(&send(&app, &app.browser(), &asa_by_letter()).await);
    let staff = app.staff_browser("hd-anna").await;
    let page = staff
        .get_path(&format!("/helpdesk/requests/{number}"))
        .await;
    let csrf = page.field("csrf");
    // A reason that is not one of the settings' changes nothing.
    staff
        .post_form(
            app.at(&format!("/helpdesk/requests/{number}/refuse")),
            &[("csrf", &csrf), ("reason", "because")],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(waiting(&app).await, 1);

    staff
        .post_form(
            app.at(&format!("/helpdesk/requests/{number}/refuse")),
            &[("csrf", &csrf), ("reason", "details_differ")],
        )
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Pyyntö hylättiin");
    assert_eq!(waiting(&app).await, 0);
    let refused = audit_events(&app, "request_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "details_differ");
    assert_eq!(refused[0]["staff"], "hd-anna");

    // Issuing from it afterwards (an old tab) issues nothing.
    staff
        .post_form(
            app.at(&format!("/helpdesk/requests/{number}/issue")),
            &[("csrf", &csrf), ("username", "aslind")],
        )
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("Tämä pyyntö hylättiin");
    assert!(helpdesk(&app).codes_of("aslind").await.unwrap().0.is_none());
    // Without the staff session's token nothing is refused either.
    let other = number_of_new_request(&app).await;
    staff
        .post_form(
            app.at(&format!("/helpdesk/requests/{other}/refuse")),
            &[("csrf", "forged"), ("reason", "no_match")],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(waiting(&app).await, 1);
}

async fn number_of_new_request(app: &TestApp) -> String {
    number(
        &send(
            app,
            &app.browser(),
            &with(asa_by_letter(), &[("email", "another@example.com")]),
        )
        .await,
    )
}

#[tokio::test]
async fn a_request_nobody_acts_on_in_time_is_closed_by_the_sweep_with_no_staff_looking() {
    let app =
        spawn_with("[helpdesk.requests]\nexpire_after = \"2d\"\nsweep_interval = \"50ms\"\n").await;
    let number = number(&send(&app, &app.browser(), &asa_by_letter()).await);
    let younger = number_of_new_request(&app).await;
    app.clock.advance(time::Duration::days(1));
    let youngest = number_of_new_request(&app).await;
    app.clock.advance(time::Duration::days(1));
    // Nobody opens the queue: the replica's own sweep closes the first two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while audit_events(&app, "request_refused").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not close the expired requests"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(waiting(&app).await, 1, "the youngest still waits");
    let expired = audit_events(&app, "request_refused");
    let closed: Vec<&str> = expired
        .iter()
        .map(|event| event["service_request"].as_str().unwrap())
        .collect();
    assert!(closed.contains(&number.as_str()) && closed.contains(&younger.as_str()));
    for event in &expired {
        assert_eq!(event["reason"], "expired");
        assert!(event.get("staff").is_none());
    }
    // Each was closed once; another pass finds nothing to close.
    assert_eq!(helpdesk(&app).close_expired_requests().await.unwrap(), 0);
    assert_eq!(audit_events(&app, "request_refused").len(), 2);
    let staff = app.staff_browser("hd-anna").await;
    staff
        .get_path("/helpdesk/requests")
        .await
        .assert_status(StatusCode::OK)
        .assert_not_contains(&number)
        .assert_contains(&youngest);
}

#[tokio::test]
async fn a_request_past_its_time_is_neither_shown_nor_acted_on_before_the_sweep_closes_it() {
    // The sweep runs once at start and then not for a day.
    let app =
        spawn_with("[helpdesk.requests]\nexpire_after = \"2d\"\nsweep_interval = \"1d\"\n").await;
    let number = number(&send(&app, &app.browser(), &asa_by_letter()).await);
    app.clock.advance(time::Duration::days(2));
    let staff = app.staff_browser("hd-anna").await;
    staff
        .get_path("/helpdesk/requests")
        .await
        .assert_status(StatusCode::OK)
        .assert_not_contains(&number);
    // Issuing from it closes it as expired instead; no code is issued.
    issue(&app, &staff, &number, "aslind")
        .await
        .assert_status(StatusCode::CONFLICT);
    assert!(audit_events(&app, "code_issued").is_empty());
    assert!(helpdesk(&app).codes_of("aslind").await.unwrap().0.is_none());
    let expired = audit_events(&app, "request_refused");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["reason"], "expired");
    assert_eq!(waiting(&app).await, 0);
    assert_eq!(helpdesk(&app).close_expired_requests().await.unwrap(), 0);
}

#[tokio::test]
async fn a_request_from_afar_never_gives_a_privileged_account_a_code() {
    let app = spawn().await;
    // Märta Sofia Åberg's staff account is privileged (a member of an administrators' group).
    let fields = with(
        asa_by_letter(),
        &[
            ("given_name", "Märta"),
            ("family_name", "Åberg"),
            ("birth_date", "1.2.1980"),
        ],
    );
    let number = number(&send(&app, &app.browser(), &fields).await);
    let staff = app.staff_browser("hd-ilkka").await;
    let request = staff
        .get_path(&format!("/helpdesk/requests/{number}"))
        .await;
    request
        .assert_contains(">maaber</strong>")
        .assert_contains("Etuoikeutetun tunnuksen koodia ei myönnetä palvelupyynnöstä")
        .assert_not_contains("value=\"maaber\"");
    issue(&app, &staff, &number, "maaber")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert!(helpdesk(&app).codes_of("maaber").await.unwrap().0.is_none());
    assert_eq!(waiting(&app).await, 1);
}
