//! `GET /account` and `POST /account`: activate the account or set a new password.
//!
//! The session carries what the page shows; a separate grant carries the right to write, once. A
//! submission takes the grant, writes, and then either records the success (so a retried submission
//! shows the success again) or, when the write failed and may be retried, puts the grant back.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;

use super::KeepBody;
use super::client_ip::ClientIp;
use super::cookies;
use super::error::{AppError, ErrorKind};
use super::limits::{self, Limit};
use super::middleware::{RequestId, same_origin};
use super::pages::{AccountPage, DonePage, RefusalPage, render};
use super::session::{self, Done, Session, same_secret};
use crate::account::eligibility::Purpose;
use crate::account::password::{PersonContext, Violation};
use crate::app::AppState;
use crate::audit::{Event, EventKind, Outcome};
use crate::directory::{DirectoryError, NewPassword, PolicyRefusal};
use crate::i18n::{Lang, Texts};

fn session_expired() -> AppError {
    AppError::new(ErrorKind::SessionExpired, "no live session")
}

async fn current(state: &AppState, headers: &HeaderMap) -> Result<(String, Session), AppError> {
    let id = state
        .cookies
        .read(headers, cookies::SESSION)
        .ok_or_else(session_expired)?;
    let session = session::load_session(state.store.as_ref(), &id)
        .await?
        .ok_or_else(session_expired)?;
    Ok((id, session))
}

/// `GET /account`: the form, or the success page when the password was already set.
pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (id, session) = current(&state, &headers).await?;
    if let Some(done) = session::load_done(state.store.as_ref(), &id).await? {
        return Ok(done_page(&state, lang, &session, &done));
    }
    Ok(form_page(&state, lang, &session, FormProblems::default()))
}

#[derive(Deserialize)]
pub struct AccountForm {
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    accept_terms: Option<String>,
}

/// `POST /account`: check the password and write it.
pub async fn submit(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, AppError> {
    same_origin(&headers, &state.origin)?;
    let (id, session) = current(&state, &headers).await?;
    if !same_secret(&session.csrf, &form.csrf) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "account form without the session's CSRF token",
        ));
    }
    if let Some(done) = session::load_done(state.store.as_ref(), &id).await? {
        // A repeated submission after a success (a lost answer, a double click) shows the success.
        return Ok(done_page(&state, lang, &session, &done));
    }
    let client_ip = client_ip.to_string();
    let event = |reason: Option<&'static str>| Event {
        account: Some(&session.username),
        subject: Some(&session.subject),
        acr: Some(&session.acr),
        reason,
        client_ip: Some(&client_ip),
        request_id: Some(&request_id.0),
    };
    // A refusal over the limit is recorded without the assurance level.
    limits::enforce(
        &state,
        Limit::PasswordAttempts,
        &session::fingerprint(&id),
        Event {
            acr: None,
            ..event(None)
        },
    )
    .await?;

    let mut problems = FormProblems {
        terms: session.purpose == Purpose::Activate && form.accept_terms.as_deref() != Some("yes"),
        ..FormProblems::default()
    };
    let person = PersonContext {
        username: &session.username,
        given_name: &session.given_name,
        family_name: &session.family_name,
        birth_date: session.birth_date,
        // The plain code is not kept after identification; every form of it contains the birth
        // date, which the birth-date rule refuses.
        national_id: "",
    };
    if let Err(violations) =
        state
            .password_policy
            .check(&form.password, &form.confirmation, &person)
    {
        problems.violations = violations;
    }
    if !problems.is_empty() {
        let mut response = form_page(&state, lang, &session, problems);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(response);
    }

    let Some(grant) = session::take_grant(state.store.as_ref(), &id).await? else {
        // Another submission of this session holds the grant (a double click): its outcome is this
        // one's too. Without one, the grant expired with the session.
        return match session::wait_for_done(state.store.as_ref(), &id).await? {
            Some(done) => Ok(done_page(&state, lang, &session, &done)),
            None => Err(AppError::new(
                ErrorKind::SessionExpired,
                "no grant to write with",
            )),
        };
    };
    let password = NewPassword::new(form.password);
    let timer = std::time::Instant::now();
    let (written, operation) = match grant.purpose {
        Purpose::Activate => (
            state.directory.activate(&grant.account, &password).await,
            "activate",
        ),
        Purpose::Reset => (
            state
                .directory
                .reset_password(&grant.account, &password)
                .await,
            "reset",
        ),
    };
    state.metrics.observe(
        "tunnus_directory_call_duration_seconds",
        &[("operation", operation)],
        timer.elapsed(),
    );
    let event_kind = match grant.purpose {
        Purpose::Activate => EventKind::Activation,
        Purpose::Reset => EventKind::Reset,
    };
    match written {
        Ok(()) => {
            let done = Done {
                username: session.username.clone(),
                purpose: grant.purpose,
            };
            if let Err(error) =
                session::record_done(state.store.as_ref(), &id, &session, &done).await
            {
                // The password is written; failing to remember that must not turn success into an error.
                tracing::error!(detail = %error.detail, "could not record a successful write");
            }
            state
                .audit
                .record(event_kind, Outcome::Success, event(None), state.clock.now());
            tracing::info!(event = "password_written", purpose = ?grant.purpose, "password written");
            state
                .metrics
                .count("tunnus_flows_total", &[("stage", "completed")]);
            Ok(done_page(&state, lang, &session, &done))
        }
        Err(error) => {
            if matches!(error, DirectoryError::AccountNotFound) {
                // Nothing more can be done with this account here.
                session::end(state.store.as_ref(), &id).await?;
            } else {
                session::return_grant(state.store.as_ref(), &id, &grant).await?;
            }
            state
                .metrics
                .count("tunnus_directory_errors_total", &[("operation", operation)]);
            let (reason, outcome) = match &error {
                DirectoryError::PolicyRejected { .. } => ("directory_policy", Outcome::Refused),
                DirectoryError::Unavailable { .. } => ("directory_unavailable", Outcome::Failed),
                DirectoryError::AccountNotFound => ("account_gone", Outcome::Failed),
                DirectoryError::Misconfigured { .. } => {
                    ("directory_misconfigured", Outcome::Failed)
                }
            };
            state
                .audit
                .record(event_kind, outcome, event(Some(reason)), state.clock.now());
            match error {
                DirectoryError::PolicyRejected { refusal, detail } => {
                    tracing::warn!(%detail, "the directory refused the password");
                    let t = state.catalog.texts(lang);
                    let problems = FormProblems {
                        directory: Some(directory_text(t, refusal)),
                        ..FormProblems::default()
                    };
                    let mut response = form_page(&state, lang, &session, problems);
                    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                    Ok(response)
                }
                DirectoryError::AccountNotFound => {
                    let t = state.catalog.texts(lang);
                    Ok(refusal_page(
                        &state,
                        lang,
                        &t.account_gone_title,
                        &t.account_gone_text,
                        false,
                        &request_id.0,
                    ))
                }
                DirectoryError::Unavailable { detail } => Err(AppError::new(
                    ErrorKind::Unavailable,
                    format!("directory write: {detail}"),
                )),
                DirectoryError::Misconfigured { detail } => Err(AppError::new(
                    ErrorKind::Internal,
                    format!("directory write: {detail}"),
                )),
            }
        }
    }
}

/// What to point out when the form is shown again.
#[derive(Default)]
struct FormProblems<'a> {
    violations: Vec<Violation>,
    terms: bool,
    directory: Option<&'a str>,
}

impl FormProblems<'_> {
    fn is_empty(&self) -> bool {
        self.violations.is_empty() && !self.terms && self.directory.is_none()
    }
}

fn form_page(
    state: &AppState,
    lang: Lang,
    session: &Session,
    problems: FormProblems<'_>,
) -> Response {
    let t = state.catalog.texts(lang);
    let policy = &state.password_policy;
    let fill = |text: &str, n: usize| text.replace("{n}", &n.to_string());
    let rules = vec![
        fill(&t.rule_min_length, policy.min_length()),
        t.rule_not_personal.clone(),
        t.rule_not_common.clone(),
        t.rule_strength.clone(),
    ];
    let password_errors = problems
        .violations
        .iter()
        .filter(|v| **v != Violation::Mismatch)
        .map(|v| violation_text(t, *v, policy.min_length(), policy.max_length()))
        .collect();
    let page = AccountPage {
        page: state.page_context(lang, "/account"),
        activation: session.purpose == Purpose::Activate,
        name: format!("{} {}", session.given_name, session.family_name)
            .trim()
            .to_owned(),
        username: &session.username,
        csrf: &session.csrf,
        terms_url: state.settings.ui.terms_url.as_ref().map(url::Url::as_str),
        rules,
        min_length: policy.min_length(),
        max_length: policy.max_length(),
        password_errors,
        confirmation_error: problems.violations.contains(&Violation::Mismatch),
        terms_error: problems.terms,
        form_problem: problems.directory,
    };
    let mut response = render(StatusCode::OK, &page);
    response.extensions_mut().insert(KeepBody);
    response
}

fn violation_text(t: &Texts, violation: Violation, min: usize, max: usize) -> String {
    match violation {
        Violation::TooShort => t.violation_too_short.replace("{n}", &min.to_string()),
        Violation::TooLong => t.violation_too_long.replace("{n}", &max.to_string()),
        Violation::TooWeak => t.violation_too_weak.clone(),
        Violation::ContainsUsername => t.violation_username.clone(),
        Violation::ContainsName => t.violation_name.clone(),
        Violation::ContainsBirthDate => t.violation_birth_date.clone(),
        Violation::ContainsNationalId => t.violation_national_id.clone(),
        Violation::Common => t.violation_common.clone(),
        Violation::ControlCharacters => t.violation_control.clone(),
        Violation::Mismatch => t.password_mismatch.clone(),
    }
}

fn directory_text(t: &Texts, refusal: PolicyRefusal) -> &str {
    match refusal {
        PolicyRefusal::TooShort => &t.directory_too_short,
        PolicyRefusal::TooSimple => &t.directory_too_simple,
        PolicyRefusal::RecentlyUsed => &t.directory_recent,
        PolicyRefusal::ChangedTooRecently => &t.directory_too_soon,
        PolicyRefusal::Other => &t.directory_other,
    }
}

fn done_page(state: &AppState, lang: Lang, session: &Session, done: &Done) -> Response {
    let t = state.catalog.texts(lang);
    let (title, text) = match done.purpose {
        Purpose::Activate => (&t.activated_title, &t.activated_text),
        Purpose::Reset => (&t.reset_done_title, &t.reset_done_text),
    };
    let continue_url =
        session
            .return_to
            .as_deref()
            .or(state.settings.ui.login_url.as_ref().map(url::Url::as_str));
    let page = DonePage {
        page: state.page_context(lang, "/account"),
        title,
        text,
        username: &done.username,
        continue_url,
    };
    render(StatusCode::OK, &page)
}

/// A page that refuses self-service and explains the other ways.
pub fn refusal_page(
    state: &AppState,
    lang: Lang,
    title: &str,
    text: &str,
    staff: bool,
    request_id: &str,
) -> Response {
    let page = RefusalPage {
        page: state.page_context(lang, "/"),
        title,
        text,
        staff,
        request_id,
    };
    let mut response = render(StatusCode::FORBIDDEN, &page);
    response.extensions_mut().insert(KeepBody);
    response
}
