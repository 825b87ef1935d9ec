//! The service-request queue: `GET /helpdesk/requests` (open requests, oldest first),
//! `GET /helpdesk/requests/{number}` (one request beside its candidate accounts),
//! `POST /helpdesk/requests/{number}/issue` (a code for the chosen candidate, delivered the way the
//! person asked) and `POST /helpdesk/requests/{number}/refuse` (with a reason the person is told).
//! Only members of `helpdesk.requests.staff_groups` see any of it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::StaffSession;
use super::accounts::{Printing, date, delivery_name, issued_page, not_allowed_text};
use super::sign_in::{SignedInStaff, check_csrf};
use crate::account::Context;
use crate::app::AppState;
use crate::helpdesk::requests::settings::localized;
use crate::helpdesk::requests::{ServiceRequest, Status, Wanted, is_number};
use crate::helpdesk::service_requests::{Candidate, OnRequest};
use crate::helpdesk::{Helpdesk, HelpdeskError, NotAllowed};
use crate::http::KeepBody;
use crate::http::client_ip::Caller;
use crate::http::error::{AppError, ErrorKind};
use crate::http::pages::{MessagePage, PageContext, render};
use crate::i18n::{Lang, Texts};

/// The helpdesk channel with service requests on; else 404.
fn channel(state: &AppState) -> Result<&Helpdesk, AppError> {
    state
        .helpdesk
        .as_deref()
        .filter(|helpdesk| helpdesk.request_settings().is_some())
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "service requests are off"))
}

/// The page a staff member outside `helpdesk.requests.staff_groups` gets: 403, no queue.
fn not_request_staff(state: &AppState, lang: Lang) -> Response {
    let t = state.catalog.texts(lang);
    let page = MessagePage {
        page: state.page_context(lang, "/helpdesk"),
        title: &t.staff_requests_title,
        text: &t.staff_not_allowed_requests,
        request_id: None,
        again_href: format!("/helpdesk?lang={}", lang.code()),
    };
    let mut response = render(StatusCode::FORBIDDEN, &page);
    response.extensions_mut().insert(KeepBody);
    response
}

/// One row of the queue.
pub struct Row {
    number: String,
    sent: String,
    name: String,
    delivery: String,
}

#[derive(Template)]
#[template(path = "helpdesk/requests.html")]
pub struct QueuePage<'a> {
    page: PageContext<'a>,
    csrf: &'a str,
    note: Option<&'a str>,
    requests: Vec<Row>,
}

/// One candidate account on a request's page.
pub struct CandidateView {
    name: String,
    username: String,
    category: String,
    state: String,
    open_code: String,
    /// How it agrees with what was typed: a class (`agrees` or `differs`) and a text.
    marks: Vec<(&'static str, String)>,
    refusal: Option<String>,
}

/// A request on its page.
pub struct RequestView {
    number: String,
    /// What the person typed, label and lines.
    facts: Vec<(String, Vec<String>)>,
    /// What became of it, when it is closed.
    closed: Option<String>,
    candidates: Vec<CandidateView>,
}

#[derive(Template)]
#[template(path = "helpdesk/request.html")]
pub struct RequestPage<'a> {
    page: PageContext<'a>,
    csrf: &'a str,
    title: String,
    note: Option<&'a str>,
    problem: Option<&'a str>,
    /// The id the problem summary links to: the candidates, or the refusal's reasons.
    problem_at: &'static str,
    request: Option<RequestView>,
    /// The refusal reasons: id and text in the staff member's language.
    reasons: Vec<(String, String)>,
}

fn wanted_text(
    t: &Texts,
    helpdesk: &Helpdesk,
    request: &ServiceRequest,
    lang: Lang,
) -> Vec<String> {
    let Some(settings) = helpdesk.request_settings() else {
        return Vec::new();
    };
    match &request.wanted {
        Wanted::Janitor { campus } => {
            let name = settings
                .campus(campus)
                .map_or(campus.as_str(), |campus| localized(&campus.name, lang));
            vec![
                t.staff_delivery_janitor.clone(),
                format!("{}: {name}", t.request_campus),
            ]
        }
        Wanted::Letter { address } => std::iter::once(t.staff_delivery_letter.clone())
            .chain(address.iter().cloned())
            .collect(),
    }
}

fn person_name(request: &ServiceRequest) -> String {
    format!("{} {}", request.given_name, request.family_name)
}

fn candidate_view(t: &Texts, candidate: Candidate) -> CandidateView {
    let mut marks = Vec::new();
    if candidate.by_username {
        marks.push(("agrees", t.staff_request_by_username.clone()));
    }
    marks.push(if candidate.names_match {
        ("agrees", t.staff_request_names_match.clone())
    } else {
        ("differs", t.staff_request_names_differ.clone())
    });
    marks.push(match candidate.birth_date_matches {
        Some(true) => ("agrees", t.staff_request_birth_matches.clone()),
        Some(false) => ("differs", t.staff_request_birth_differs.clone()),
        None => ("unknown", t.staff_request_birth_unknown.clone()),
    });
    let state = super::accounts::standing_text(t, &candidate.found);
    let found = candidate.found;
    CandidateView {
        name: format!("{} {}", found.account.given_name, found.account.family_name)
            .trim()
            .to_owned(),
        username: found.account.username.clone(),
        category: found.account.category.clone(),
        state,
        open_code: found.open_code.as_ref().map_or_else(
            || t.staff_no_open_code.clone(),
            |code| super::accounts::open_code_text(t, code),
        ),
        marks,
        refusal: found
            .may_issue
            .err()
            .map(|reason| not_allowed_text(t, reason).to_owned()),
    }
}

fn closed_text(
    t: &Texts,
    helpdesk: &Helpdesk,
    request: &ServiceRequest,
    lang: Lang,
) -> Option<String> {
    match &request.status {
        Status::Open => None,
        Status::Issued {
            by, at, account, ..
        } => Some(
            t.staff_request_closed_issued
                .replace("{staff}", by)
                .replace("{account}", account)
                .replace("{date}", &date(t, *at)),
        ),
        Status::Refused { at, reason, .. } => {
            let text = if reason == "expired" {
                t.staff_expired_reason.clone()
            } else {
                helpdesk
                    .request_settings()
                    .and_then(|settings| {
                        settings
                            .refusals()
                            .into_iter()
                            .find(|known| known.id == *reason)
                            .map(|known| localized(&known.text, lang).to_owned())
                    })
                    .unwrap_or_else(|| reason.clone())
            };
            Some(
                t.staff_request_closed_refused
                    .replace("{date}", &date(t, *at))
                    .replace("{reason}", text.trim_end_matches('.')),
            )
        }
    }
}

/// What a request's page shows besides the request.
struct Shown<'a> {
    status: StatusCode,
    note: Option<&'a str>,
    problem: Option<&'a str>,
    /// The problem is the refusal's (no reason chosen), not the candidates'.
    refusal_problem: bool,
}

/// The page of request `number` (read again, with its candidates), or "no such request".
async fn request_page(
    state: &AppState,
    helpdesk: &Helpdesk,
    lang: Lang,
    session: &StaffSession,
    number: &str,
    shown: Shown<'_>,
    context: Context<'_>,
) -> Result<Response, AppError> {
    let t = state.catalog.texts(lang);
    let found = if is_number(number) {
        helpdesk.request(&session.staff, number, context).await?
    } else {
        None
    };
    let (status, note) = match &found {
        Some(_) => (shown.status, shown.note),
        None => (StatusCode::NOT_FOUND, Some(t.staff_request_gone.as_str())),
    };
    let request = found.map(|(request, candidates)| {
        let not_given = || vec![t.staff_request_not_given.clone()];
        let birth_date = request.birth_date().map_or_else(not_given, |born| {
            vec![format!(
                "{}.{}.{}",
                born.day(),
                u8::from(born.month()),
                born.year()
            )]
        });
        RequestView {
            number: request.number.clone(),
            facts: vec![
                (
                    t.staff_requests_sent.clone(),
                    vec![date(t, request.sent_at)],
                ),
                (
                    t.account_username.clone(),
                    request.username.clone().map_or_else(not_given, |u| vec![u]),
                ),
                (
                    t.request_given_name.clone(),
                    vec![request.given_name.clone()],
                ),
                (
                    t.request_family_name.clone(),
                    vec![request.family_name.clone()],
                ),
                (t.request_birth_date.clone(), birth_date),
                (t.request_email.clone(), vec![request.email.clone()]),
                (
                    t.staff_requests_delivery.clone(),
                    wanted_text(t, helpdesk, &request, lang),
                ),
                (
                    t.staff_request_language.clone(),
                    vec![state.catalog.texts(request.lang).language_name.clone()],
                ),
            ],
            closed: closed_text(t, helpdesk, &request, lang),
            candidates: candidates
                .into_iter()
                .map(|candidate| candidate_view(t, candidate))
                .collect(),
        }
    });
    let page = RequestPage {
        page: state.page_context(lang, "/helpdesk/requests"),
        csrf: &session.csrf,
        title: t.staff_request_title.replace(
            "{number}",
            request.as_ref().map_or("", |r| r.number.as_str()),
        ),
        note,
        problem: shown.problem,
        problem_at: if shown.refusal_problem {
            "refuse"
        } else {
            "candidates"
        },
        request,
        reasons: helpdesk
            .request_settings()
            .map(|settings| {
                settings
                    .refusals()
                    .into_iter()
                    .map(|reason| {
                        let text = localized(&reason.text, lang).to_owned();
                        (reason.id, text)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut response = render(status, &page);
    response.extensions_mut().insert(KeepBody);
    Ok(response)
}

/// The queue page, with `note` on top.
async fn queue_page(
    state: &AppState,
    helpdesk: &Helpdesk,
    lang: Lang,
    session: &StaffSession,
    note: Option<&str>,
) -> Result<Response, AppError> {
    let t = state.catalog.texts(lang);
    let requests = match helpdesk.request_queue(&session.staff).await {
        Ok(requests) => requests,
        Err(HelpdeskError::NotAllowed(NotAllowed::RequestStaff)) => {
            return Ok(not_request_staff(state, lang));
        }
        Err(other) => return Err(other.into()),
    };
    let page = QueuePage {
        page: state.page_context(lang, "/helpdesk/requests"),
        csrf: &session.csrf,
        note,
        requests: requests
            .iter()
            .map(|request| Row {
                number: request.number.clone(),
                sent: date(t, request.sent_at),
                name: person_name(request),
                delivery: match request.wanted {
                    Wanted::Janitor { .. } => {
                        delivery_name(t, crate::helpdesk::codes::Delivery::Janitor).to_owned()
                    }
                    Wanted::Letter { .. } => {
                        delivery_name(t, crate::helpdesk::codes::Delivery::Letter).to_owned()
                    }
                },
            })
            .collect(),
    };
    let mut response = render(StatusCode::OK, &page);
    response.extensions_mut().insert(KeepBody);
    Ok(response)
}

/// `GET /helpdesk/requests`
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    SignedInStaff(session): SignedInStaff,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    queue_page(&state, helpdesk, caller.lang, &session, None).await
}

/// `GET /helpdesk/requests/{number}`
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    SignedInStaff(session): SignedInStaff,
    Path(number): Path<String>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    let (lang, context) = (caller.lang, caller.context());
    if !helpdesk.handles_requests(&session.staff) {
        return Ok(not_request_staff(&state, lang));
    }
    let shown = Shown {
        status: StatusCode::OK,
        note: None,
        problem: None,
        refusal_problem: false,
    };
    request_page(&state, helpdesk, lang, &session, &number, shown, context).await
}

#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

/// `POST /helpdesk/requests/{number}/issue`: the code for the chosen candidate, shown once with
/// its document to print (the letter to the typed address, or the janitor slip of the campus).
pub async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    SignedInStaff(session): SignedInStaff,
    Path(number): Path<String>,
    headers: HeaderMap,
    Form(form): Form<IssueForm>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    check_csrf(&state, &headers, &session, &form.csrf)?;
    let (lang, context) = (caller.lang, caller.context());
    if !helpdesk.handles_requests(&session.staff) {
        return Ok(not_request_staff(&state, lang));
    }
    let t = state.catalog.texts(lang);
    let outcome = if is_number(&number) {
        helpdesk
            .issue_from_request(&session.staff, &number, &form.username, context)
            .await
    } else {
        Ok(OnRequest::Gone)
    };
    let (status, problem) = match outcome {
        Ok(OnRequest::Done(done)) => {
            let lang_of = done.request.lang;
            let settings = helpdesk.request_settings();
            let printing = match &done.request.wanted {
                Wanted::Janitor { campus } => {
                    let campus = settings.and_then(|settings| settings.campus(campus));
                    Printing {
                        person_lang: lang_of,
                        campus: campus
                            .map(|c| localized(&c.name, lang_of).to_owned())
                            .unwrap_or_default(),
                        pick_up: campus
                            .map(|c| localized(&c.pick_up_point, lang_of).to_owned())
                            .unwrap_or_default(),
                        address: Vec::new(),
                    }
                }
                Wanted::Letter { address } => Printing {
                    person_lang: lang_of,
                    campus: String::new(),
                    pick_up: String::new(),
                    address: address.clone(),
                },
            };
            return Ok(issued_page(
                &state,
                lang,
                &session,
                &done.code,
                &done.issued,
                printing,
            ));
        }
        Ok(OnRequest::Gone | OnRequest::Closed(_)) => (StatusCode::CONFLICT, None),
        Ok(OnRequest::Busy) => (StatusCode::CONFLICT, Some(t.staff_request_busy.as_str())),
        Ok(OnRequest::NotACandidate) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(t.staff_request_not_candidate.as_str()),
        ),
        Err(HelpdeskError::NotAllowed(reason)) => {
            (StatusCode::FORBIDDEN, Some(not_allowed_text(t, reason)))
        }
        Err(other) => return Err(other.into()),
    };
    let shown = Shown {
        status,
        note: None,
        problem,
        refusal_problem: false,
    };
    request_page(&state, helpdesk, lang, &session, &number, shown, context).await
}

#[derive(Deserialize)]
pub struct RefuseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /helpdesk/requests/{number}/refuse`
pub async fn refuse(
    State(state): State<AppState>,
    caller: Caller,
    SignedInStaff(session): SignedInStaff,
    Path(number): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RefuseForm>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    check_csrf(&state, &headers, &session, &form.csrf)?;
    let (lang, context) = (caller.lang, caller.context());
    if !helpdesk.handles_requests(&session.staff) {
        return Ok(not_request_staff(&state, lang));
    }
    let t = state.catalog.texts(lang);
    let outcome = if is_number(&number) {
        helpdesk
            .refuse_request(&session.staff, &number, &form.reason, context)
            .await?
    } else {
        Some(OnRequest::Gone)
    };
    let (status, problem) = match outcome {
        Some(OnRequest::Done(_)) => {
            return queue_page(
                &state,
                helpdesk,
                lang,
                &session,
                Some(&t.staff_request_refused_done),
            )
            .await;
        }
        None => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(t.staff_request_choose_reason.as_str()),
        ),
        Some(OnRequest::Busy) => (StatusCode::CONFLICT, Some(t.staff_request_busy.as_str())),
        Some(OnRequest::Gone | OnRequest::Closed(_) | OnRequest::NotACandidate) => {
            (StatusCode::CONFLICT, None)
        }
    };
    let shown = Shown {
        status,
        note: None,
        refusal_problem: problem.is_some(),
        problem,
    };
    request_page(&state, helpdesk, lang, &session, &number, shown, context).await
}
