//! `GET /account` and `POST /account`: activate the account or set a new password.
//!
//! The handlers read the session cookie and the form, call the account use case
//! ([`crate::account::AccountService`]) and render what it answers.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;

use super::KeepBody;
use super::client_ip::ClientIp;
use super::cookies;
use super::error::{AppError, ErrorKind};
use super::middleware::{RequestId, same_origin};
use super::pages::{AccountPage, DonePage, MessagePage, RefusalPage, render};
use crate::account::password::Violation;
use crate::account::session::Session;
use crate::account::{
    Context, Done, Ineligible, PasswordForm, PolicyRefusal, Problems, Purpose, Refusal, SessionId,
    Submitted,
};
use crate::app::AppState;
use crate::i18n::{Lang, Texts};

/// The session id in the request's cookie.
fn session_id(state: &AppState, headers: &HeaderMap) -> Result<SessionId, AppError> {
    state
        .cookies
        .read(headers, cookies::SESSION)
        .map(SessionId::new)
        .ok_or_else(|| AppError::new(ErrorKind::SessionExpired, "no session cookie"))
}

/// `GET /account`: the form, or the success page when the password was already set.
pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = session_id(&state, &headers)?;
    let view = state.accounts.view(&id).await?;
    Ok(form_page(&state, lang, &view.session, &Problems::default()))
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
    let id = session_id(&state, &headers)?;
    let client_ip = client_ip.to_string();
    let context = Context {
        client_ip: &client_ip,
        request_id: &request_id.0,
        lang,
    };
    let form = PasswordForm {
        csrf: form.csrf,
        password: form.password,
        confirmation: form.confirmation,
        accept_terms: form.accept_terms.as_deref() == Some("yes"),
    };
    Ok(
        match state.accounts.set_password(&id, form, context).await? {
            Submitted::Done { session, done } => done_page(&state, lang, &session, &done, false),
            Submitted::SetElsewhere { session, done } => {
                done_page(&state, lang, &session, &done, true)
            }
            Submitted::Invalid { session, problems } => {
                let mut response = form_page(&state, lang, &session, &problems);
                *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                response
            }
            Submitted::Refused(refusal) => refusal_response(&state, lang, &refusal, &request_id.0),
        },
    )
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: "cancel and sign out" ends the session and its grant, and says so.
pub async fn sign_out(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, AppError> {
    same_origin(&headers, &state.origin)?;
    if let Ok(id) = session_id(&state, &headers) {
        let client_ip = client_ip.to_string();
        let context = Context {
            client_ip: &client_ip,
            request_id: &request_id.0,
            lang,
        };
        state.accounts.sign_out(&id, &form.csrf, context).await?;
    }
    let t = state.catalog.texts(lang);
    let page = MessagePage {
        page: state.page_context(lang, "/"),
        title: &t.signed_out_title,
        text: &t.signed_out_text,
        request_id: None,
        again_href: format!("/?lang={}", lang.code()),
    };
    let mut response = render(StatusCode::OK, &page);
    response.headers_mut().append(
        axum::http::header::SET_COOKIE,
        state.cookies.clear(cookies::SESSION),
    );
    Ok(response)
}

fn form_page(state: &AppState, lang: Lang, session: &Session, problems: &Problems) -> Response {
    let t = state.catalog.texts(lang);
    let policy = state.accounts.policy();
    let fill = |text: &str, n: usize| text.replace("{n}", &n.to_string());
    let rules = vec![
        fill(&t.rule_min_length, policy.min_length()),
        t.rule_not_personal.clone(),
        t.rule_not_common.clone(),
        t.rule_strength.clone(),
        t.rule_unicode.clone(),
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
        username: session.login_name.as_deref().unwrap_or(&session.username),
        csrf: &session.csrf,
        terms_url: state.settings.ui.terms_url.as_ref().map(url::Url::as_str),
        rules,
        min_length: policy.min_length(),
        max_length: policy.max_length(),
        password_errors,
        confirmation_error: problems.violations.contains(&Violation::Mismatch),
        terms_error: problems.terms,
        form_problem: problems.directory.map(|refusal| directory_text(t, refusal)),
    };
    let mut response = render(StatusCode::OK, &page);
    response.extensions_mut().insert(KeepBody);
    response
}

/// The page for a refusal of self-service.
pub fn refusal_response(
    state: &AppState,
    lang: Lang,
    refusal: &Refusal,
    request_id: &str,
) -> Response {
    let t = state.catalog.texts(lang);
    let (title, text, staff) = match refusal {
        Refusal::NoAccount => (&t.no_account_title, &t.no_account_text, false),
        Refusal::Ambiguous { .. } => (&t.ambiguous_title, &t.ambiguous_text, false),
        Refusal::NotEligible { reason, staff, .. } => {
            let (title, text) = match reason {
                Ineligible::Category => (&t.ineligible_category_title, &t.ineligible_category_text),
                Ineligible::Disabled => (&t.ineligible_disabled_title, &t.ineligible_disabled_text),
                Ineligible::Locked => (&t.ineligible_locked_title, &t.ineligible_locked_text),
                Ineligible::Privileged => (
                    &t.ineligible_privileged_title,
                    &t.ineligible_privileged_text,
                ),
            };
            (title, text, *staff)
        }
        Refusal::AccountGone => (&t.account_gone_title, &t.account_gone_text, false),
    };
    refusal_page(state, lang, title, text, staff, request_id)
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
        PolicyRefusal::LengthComplexityOrHistory => &t.directory_rules,
        PolicyRefusal::Other => &t.directory_other,
    }
}

/// The success page, or (with `elsewhere`) the page saying another window set a different password.
/// The session cookie stays: a reload that submits the form again shows this page again, while
/// the account page itself now says the session is over.
fn done_page(
    state: &AppState,
    lang: Lang,
    session: &Session,
    done: &Done,
    elsewhere: bool,
) -> Response {
    let t = state.catalog.texts(lang);
    let time = crate::clock::finnish_time(
        time::OffsetDateTime::from_unix_timestamp(done.at)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    );
    let elsewhere_text = t.set_elsewhere_text.replace(
        "{time}",
        &format!("{:02}.{:02}", time.hour(), time.minute()),
    );
    let (title, text, status) = match (elsewhere, done.purpose) {
        (true, _) => (
            t.set_elsewhere_title.as_str(),
            elsewhere_text.as_str(),
            StatusCode::CONFLICT,
        ),
        (false, Purpose::Activate) => (
            t.activated_title.as_str(),
            t.activated_text.as_str(),
            StatusCode::OK,
        ),
        (false, Purpose::Reset) => (
            t.reset_done_title.as_str(),
            t.reset_done_text.as_str(),
            StatusCode::OK,
        ),
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
        next: &t.done_next,
        username: done.login_name.as_deref().unwrap_or(&done.username),
        continue_url,
    };
    let mut response = render(status, &page);
    response.extensions_mut().insert(KeepBody);
    response
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
