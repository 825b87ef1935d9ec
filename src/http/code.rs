//! `GET /code` and `POST /code`: a person redeems a helpdesk activation code (username + code),
//! which opens the same account page as strong identification.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::KeepBody;
use super::account::refusal_response;
use super::client_ip::ClientIp;
use super::cookies;
use super::error::{AppError, ErrorKind};
use super::landing::FormCsrf;
use super::middleware::RequestId;
use super::pages::{CodePage, render};
use crate::account::{Context, Opened};
use crate::app::AppState;
use crate::helpdesk::{Helpdesk, Redemption};
use crate::i18n::Lang;

fn channel(state: &AppState) -> Result<&Helpdesk, AppError> {
    state
        .helpdesk
        .as_deref()
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "the helpdesk channel is off"))
}

#[derive(Deserialize)]
pub struct CodeQuery {
    return_to: Option<String>,
}

/// What the page says is wrong, if anything.
#[derive(Clone, Copy)]
enum Problem {
    Required,
    Wrong,
    Expired,
}

fn page(
    state: &AppState,
    lang: Lang,
    csrf: &str,
    return_to: Option<String>,
    username: &str,
    problem: Option<Problem>,
) -> Response {
    let t = state.catalog.texts(lang);
    let text = problem.map(|problem| match problem {
        Problem::Required => t.code_required.as_str(),
        Problem::Wrong => t.code_wrong.as_str(),
        Problem::Expired => t.code_expired.as_str(),
    });
    let page = CodePage {
        page: state.page_context(lang, "/code"),
        csrf: csrf.to_owned(),
        return_to,
        username: username.chars().take(128).collect(),
        problem: text,
        // A missing username is the username's problem; anything else is the code's (a wrong
        // code never says whether the username exists).
        problem_field: if username.trim().is_empty() {
            "username"
        } else {
            "code"
        },
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = render(status, &page);
    response.extensions_mut().insert(KeepBody);
    response
}

/// `GET /code`: the form.
pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    Query(query): Query<CodeQuery>,
) -> Result<Response, AppError> {
    channel(&state)?;
    let return_to = query.return_to.filter(|url| state.return_to_allowed(url));
    let csrf = FormCsrf::read(&state, &headers);
    let response = page(&state, lang, &csrf.token, return_to, "", None);
    Ok(csrf.set_cookie(&state, response))
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    code: String,
    return_to: Option<String>,
}

/// `POST /code`: a right code opens the account page; anything else shows the form again.
pub async fn redeem(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    FormCsrf::check(
        &state,
        &headers,
        &form.csrf,
        "code form without a matching CSRF token",
    )?;
    let return_to = form.return_to.filter(|url| state.return_to_allowed(url));
    if form.username.trim().is_empty() || form.code.trim().is_empty() {
        return Ok(page(
            &state,
            lang,
            &form.csrf,
            return_to,
            &form.username,
            Some(Problem::Required),
        ));
    }
    let client = client_ip.to_string();
    let context = Context {
        client_ip: &client,
        request_id: &request_id.0,
        lang,
    };
    let redemption = helpdesk
        .redeem(
            client_ip,
            &form.username,
            &form.code,
            return_to.clone(),
            context,
        )
        .await?;
    let problem = match redemption {
        Redemption::Opened(Opened::Session(id)) => {
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/account")]).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                state
                    .cookies
                    .set_for_browser_session(cookies::SESSION, id.expose()),
            );
            return Ok(response);
        }
        Redemption::Opened(Opened::Refused(refusal)) => {
            return Ok(refusal_response(&state, lang, &refusal, &request_id.0));
        }
        Redemption::Wrong => Problem::Wrong,
        Redemption::Expired => Problem::Expired,
    };
    Ok(page(
        &state,
        lang,
        &form.csrf,
        return_to,
        &form.username,
        Some(problem),
    ))
}
