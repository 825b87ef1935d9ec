//! `GET /`: what the service is, who may use it, and the button to start.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::{Extension, http::HeaderMap};
use serde::Deserialize;

use super::cookies;
use super::error::{AppError, ErrorKind};
use super::pages::{LandingPage, render};
use crate::app::AppState;
use crate::i18n::Lang;

#[derive(Deserialize)]
pub struct LandingQuery {
    return_to: Option<String>,
}

/// How long the CSRF cookie of the landing and code forms lives.
pub const CSRF_COOKIE_SECS: u64 = 2 * 3600;

/// The CSRF token of the person's forms (landing, code, request): the one their cookie holds, or a
/// new one, whose cookie [`FormCsrf::set_cookie`] then sets.
pub struct FormCsrf {
    pub token: String,
    new: bool,
}

impl FormCsrf {
    pub fn read(state: &AppState, headers: &HeaderMap) -> Self {
        match state.cookies.read(headers, cookies::CSRF) {
            Some(token) => Self { token, new: false },
            None => Self {
                token: crate::random::token(),
                new: true,
            },
        }
    }

    /// Refuses a form post of the person's pages (`what`, for the log) that did not come from this
    /// service's own page (`Origin`) or whose `csrf` field is not the cookie's token (compared in
    /// constant time): [`ErrorKind::Forbidden`], and nothing may be changed.
    pub fn check(
        state: &AppState,
        headers: &HeaderMap,
        token: &str,
        what: &'static str,
    ) -> Result<(), AppError> {
        super::middleware::same_origin(headers, &state.origin)?;
        let cookie = state.cookies.read(headers, cookies::CSRF);
        if cookie.is_some_and(|c| crate::secret::same_secret(&c, token)) {
            Ok(())
        } else {
            Err(AppError::new(ErrorKind::Forbidden, what))
        }
    }

    /// Sets the cookie of a new token on `response`.
    pub fn set_cookie(&self, state: &AppState, mut response: Response) -> Response {
        if self.new {
            response.headers_mut().append(
                header::SET_COOKIE,
                state
                    .cookies
                    .set(cookies::CSRF, &self.token, CSRF_COOKIE_SECS),
            );
        }
        response
    }
}

pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
    Query(query): Query<LandingQuery>,
) -> Response {
    // A return address that is not on the allow-list is ignored, not refused: the person can still
    // use the service, they just are not sent anywhere afterwards.
    let return_to = query.return_to.filter(|url| state.return_to_allowed(url));
    let csrf = FormCsrf::read(&state, &headers);
    let page = LandingPage {
        page: state.page_context(lang, "/"),
        csrf: csrf.token.clone(),
        return_to,
        codes: state.helpdesk.is_some(),
        requests: state
            .helpdesk
            .as_ref()
            .is_some_and(|helpdesk| helpdesk.request_settings().is_some()),
    };
    csrf.set_cookie(&state, render(StatusCode::OK, &page))
}
