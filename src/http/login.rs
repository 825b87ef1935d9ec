//! `POST /login`: start identification at the broker.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::cookies;
use super::error::{AppError, ErrorKind};
use super::middleware::same_origin;
use super::session::{self, LoginTransaction, fingerprint, same_secret};
use crate::app::AppState;
use crate::i18n::Lang;

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    return_to: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    same_origin(&state, &Method::POST, &headers)?;
    let cookie = state.cookies.read(&headers, cookies::CSRF);
    if !cookie.is_some_and(|c| same_secret(&c, &form.csrf)) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "login form without a matching CSRF token",
        ));
    }
    let return_to = form.return_to.filter(|url| state.return_to_allowed(url));

    let start = state.rp.start(lang).await?;
    // One binding value per browser, so logins started in two tabs can both finish.
    let existing_binding = state.cookies.read(&headers, cookies::LOGIN);
    let binding = existing_binding
        .clone()
        .unwrap_or_else(crate::random::token);
    let tx = LoginTransaction {
        pending: start.pending,
        binding: fingerprint(&binding),
        lang,
        return_to,
    };
    session::put_login(state.store.as_ref(), &tx).await?;
    tracing::info!(event = "login_started", "identification started");

    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, start.url.as_str())],
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state
            .cookies
            .set(cookies::LOGIN, &binding, session::LOGIN_TTL.as_secs()),
    );
    Ok(response)
}
