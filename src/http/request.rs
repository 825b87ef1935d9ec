//! `GET /request` and `POST /request`: a person without strong electronic identification asks for
//! an activation code by janitor or registered letter. The answer gives a request number and says
//! what happens next; it never says whether the username or the person exists.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;

use super::KeepBody;
use super::client_ip::Caller;
use super::error::{AppError, ErrorKind};
use super::landing::FormCsrf;
use super::pages::{PageContext, render};
use crate::app::AppState;
use crate::helpdesk::Helpdesk;
use crate::helpdesk::requests::settings::{RequestSettings, localized};
use crate::helpdesk::requests::{Field, Problem, Typed, Wanted};
use crate::helpdesk::service_requests::Sent;
use crate::i18n::{Lang, Texts};

/// The helpdesk channel with service requests on; else 404.
fn channel(state: &AppState) -> Result<(&Helpdesk, &RequestSettings), AppError> {
    state
        .helpdesk
        .as_deref()
        .and_then(|helpdesk| Some((helpdesk, helpdesk.request_settings()?)))
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "service requests are off"))
}

/// One text field of the form.
pub struct FieldView<'a> {
    id: &'static str,
    kind: &'static str,
    label: &'a str,
    hint: Option<&'a str>,
    value: String,
    max: usize,
    autocomplete: &'static str,
    error: Option<String>,
}

/// A campus in the form's choice.
pub struct CampusView {
    id: String,
    name: String,
    hours: String,
}

#[derive(Template)]
#[template(path = "request.html")]
pub struct RequestPage<'a> {
    page: PageContext<'a>,
    csrf: &'a str,
    token: String,
    /// The summary: each problem's field id and its text.
    problems: Vec<(&'static str, String)>,
    person: Vec<FieldView<'a>>,
    address: Vec<FieldView<'a>>,
    delivery: String,
    delivery_error: Option<String>,
    campuses: Vec<CampusView>,
    chosen_campus: String,
    campus_error: Option<String>,
}

#[derive(Template)]
#[template(path = "request_sent.html")]
pub struct SentPage<'a> {
    page: PageContext<'a>,
    number: String,
    next: String,
    how: String,
}

fn label(t: &Texts, field: Field) -> &str {
    match field {
        Field::Username => &t.request_username,
        Field::GivenName => &t.request_given_name,
        Field::FamilyName => &t.request_family_name,
        Field::BirthDate => &t.request_birth_date,
        Field::Email => &t.request_email,
        Field::Delivery => &t.request_delivery,
        Field::Campus => &t.request_campus,
        Field::Street => &t.request_street,
        Field::PostalCode => &t.request_postal_code,
        Field::Town => &t.request_town,
        Field::Country => &t.request_country,
    }
}

/// What a problem says beside its field.
fn problem_text(t: &Texts, problem: Problem) -> &str {
    match problem {
        Problem::Required(Field::Delivery) => &t.request_problem_delivery,
        Problem::Required(Field::Campus) => &t.request_problem_campus,
        Problem::Required(_) => &t.request_problem_required,
        Problem::Invalid(_) => &t.request_problem_invalid,
        Problem::BirthDate => &t.request_problem_birth_date,
        Problem::Email => &t.request_problem_email,
        Problem::PostalCode => &t.request_problem_postal_code,
        Problem::CapitalRegion => &t.request_problem_capital_region,
        Problem::Abroad => &t.request_problem_abroad,
    }
}

/// The first letter in upper case, for a message that starts a sentence.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The form, empty or as typed, with its problems (or `general`, a problem of the whole form).
#[allow(clippy::too_many_arguments)]
fn form_page<'a>(
    state: &'a AppState,
    helpdesk: &Helpdesk,
    settings: &RequestSettings,
    lang: Lang,
    csrf: &str,
    typed: &Typed,
    problems: &[Problem],
    general: Option<&str>,
) -> Response {
    let t = state.catalog.texts(lang);
    let error = |field: Field| {
        problems
            .iter()
            .find(|problem| problem.field() == field)
            .map(|problem| sentence(problem_text(t, *problem)))
    };
    let short = |text: &str, max: usize| text.chars().take(max).collect::<String>();
    let field = |id: Field,
                 kind: &'static str,
                 hint: Option<&'a str>,
                 value: &str,
                 max: usize,
                 autocomplete: &'static str|
     -> FieldView<'a> {
        FieldView {
            id: id.id(),
            kind,
            label: label(t, id),
            hint,
            value: short(value, max),
            max,
            autocomplete,
            error: error(id),
        }
    };
    let person = vec![
        field(
            Field::Username,
            "text",
            None,
            &typed.username,
            64,
            "username",
        ),
        field(
            Field::GivenName,
            "text",
            None,
            &typed.given_name,
            100,
            "given-name",
        ),
        field(
            Field::FamilyName,
            "text",
            None,
            &typed.family_name,
            100,
            "family-name",
        ),
        field(
            Field::BirthDate,
            "text",
            Some(&t.request_birth_date_hint),
            &typed.birth_date,
            10,
            "bday",
        ),
        field(
            Field::Email,
            "email",
            Some(&t.request_email_only_status),
            &typed.email,
            254,
            "email",
        ),
    ];
    let address = vec![
        field(
            Field::Street,
            "text",
            None,
            &typed.street,
            100,
            "street-address",
        ),
        field(
            Field::PostalCode,
            "text",
            None,
            &typed.postal_code,
            16,
            "postal-code",
        ),
        field(Field::Town, "text", None, &typed.town, 60, "address-level2"),
        field(
            Field::Country,
            "text",
            Some(&t.request_country_hint),
            &typed.country,
            60,
            "country-name",
        ),
    ];
    let mut summary: Vec<(&'static str, String)> = problems
        .iter()
        .map(|problem| {
            let field = problem.field();
            let label = label(t, field);
            // A question needs no label before its answer's problem.
            let text = if label.ends_with('?') {
                sentence(problem_text(t, *problem))
            } else {
                format!("{label}: {}", problem_text(t, *problem))
            };
            (field.id(), text)
        })
        .collect();
    if let Some(general) = general {
        summary.insert(0, (Field::GivenName.id(), general.to_owned()));
    }
    let page = RequestPage {
        page: state.page_context(lang, "/request"),
        csrf,
        token: helpdesk.request_form_token().unwrap_or_default(),
        problems: summary,
        person,
        address,
        delivery: short(&typed.delivery, 16),
        delivery_error: error(Field::Delivery),
        campuses: settings
            .campus
            .iter()
            .map(|campus| CampusView {
                id: campus.id.clone(),
                name: localized(&campus.name, lang).to_owned(),
                hours: t
                    .request_campus_hours
                    .replace("{campus}", localized(&campus.name, lang))
                    .replace("{pick_up_point}", localized(&campus.pick_up_point, lang))
                    .replace("{opening_hours}", localized(&campus.opening_hours, lang)),
            })
            .collect(),
        chosen_campus: short(&typed.campus, 32),
        campus_error: error(Field::Campus),
    };
    let status = if problems.is_empty() && general.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut response = render(status, &page);
    // A form with problems is its own page, not the error page of its status.
    response.extensions_mut().insert(KeepBody);
    response
}

/// `GET /request`: the form.
pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (helpdesk, settings) = channel(&state)?;
    let csrf = FormCsrf::read(&state, &headers);
    let response = form_page(
        &state,
        helpdesk,
        settings,
        lang,
        &csrf.token,
        &Typed::default(),
        &[],
        None,
    );
    Ok(csrf.set_cookie(&state, response))
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    /// The field people never see.
    #[serde(default)]
    website: String,
    #[serde(flatten)]
    typed: Typed,
}

/// `POST /request`: stores the request and answers with its number, or shows the form again.
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Form(form): Form<RequestForm>,
) -> Result<Response, AppError> {
    let lang = caller.lang;
    let (helpdesk, settings) = channel(&state)?;
    FormCsrf::check(
        &state,
        &headers,
        &form.csrf,
        "service request form without a matching CSRF token",
    )?;
    let t = state.catalog.texts(lang);
    let sent = helpdesk
        .send_request(
            caller.ip,
            &form.typed,
            &form.token,
            &form.website,
            caller.context(),
        )
        .await?;
    let again = |problems: &[Problem], general: Option<&str>| {
        form_page(
            &state,
            helpdesk,
            settings,
            lang,
            &form.csrf,
            &form.typed,
            problems,
            general,
        )
    };
    let request = match sent {
        Sent::Sent(request) => *request,
        Sent::Problems(problems) => return Ok(again(&problems, None)),
        Sent::TooFast | Sent::BotField => return Ok(again(&[], Some(&t.request_check_again))),
    };
    let how = match &request.wanted {
        Wanted::Janitor { campus } => {
            let campus = settings.campus(campus);
            let text = |pick: fn(&crate::helpdesk::requests::settings::Campus) -> &_| {
                campus
                    .map(|campus| localized(pick(campus), lang))
                    .unwrap_or_default()
            };
            t.request_sent_janitor
                .replace("{campus}", text(|campus| &campus.name))
                .replace("{pick_up_point}", text(|campus| &campus.pick_up_point))
                .replace("{opening_hours}", text(|campus| &campus.opening_hours))
        }
        Wanted::Letter { .. } => t.request_sent_letter.clone(),
    };
    let page = SentPage {
        page: state.page_context(lang, "/request"),
        number: request.number,
        next: t
            .request_sent_next
            .replace("{days}", &settings.usual_days.to_string()),
        how,
    };
    Ok(render(StatusCode::OK, &page))
}
