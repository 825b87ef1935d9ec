//! Staff sign-in through the campus SSO: the sign-in page, the start and the callback of the
//! sign-in, sign-out, and what every staff page uses to find its staff member ([`staff`],
//! [`SignedInStaff`]) and to check its forms ([`check_csrf`]).

use askama::Template;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::StaffSession;
use crate::account::Context;
use crate::app::AppState;
use crate::helpdesk::sso::session::StaffSessionId;
use crate::helpdesk::sso::{AuthorizationResponse, SignedIn, StaffSignIn};
use crate::http::KeepBody;
use crate::http::callback::CallbackParams;
use crate::http::client_ip::ClientIp;
use crate::http::cookies;
use crate::http::error::{AppError, ErrorKind};
use crate::http::landing::CSRF_COOKIE_SECS;
use crate::http::middleware::{RequestId, same_origin};
use crate::http::pages::{MessagePage, PageContext, render};
use crate::i18n::Lang;
use crate::secret::same_secret;

/// The staff sign-in, when the helpdesk channel is on; else 404.
fn staff_sign_in(state: &AppState) -> Result<&StaffSignIn, AppError> {
    if state.helpdesk.is_none() {
        return Err(AppError::new(
            ErrorKind::NotFound,
            "the helpdesk channel is off",
        ));
    }
    state.staff_sign_in.as_deref().ok_or_else(|| {
        AppError::new(
            ErrorKind::NotFound,
            "staff sign-in is not configured ([helpdesk.sso])",
        )
    })
}

fn session_ended(detail: &'static str) -> AppError {
    AppError::new(ErrorKind::StaffSessionExpired, detail)
}

/// The signed-in staff member of this request, from the staff session cookie. Every use keeps the
/// session alive for another `helpdesk.sso.session_idle_timeout`, up to its
/// `helpdesk.sso.session_lifetime`.
///
/// Errors: 404 while the helpdesk channel is off; [`ErrorKind::StaffSessionExpired`] (403, a page
/// leading to the sign-in) without a live session; 503 when the store is down.
pub async fn staff(state: &AppState, headers: &HeaderMap) -> Result<StaffSession, AppError> {
    let sign_in = staff_sign_in(state)?;
    let id = state
        .cookies
        .read(headers, cookies::STAFF)
        .map(StaffSessionId::new)
        .ok_or_else(|| session_ended("no staff session cookie"))?;
    sign_in
        .sessions()
        .use_session(&id)
        .await?
        .ok_or_else(|| session_ended("staff session unknown, idle too long or over"))
}

/// Refuses a staff form post that did not come from this service's own page (`Origin`), or whose
/// `csrf` field (`token`) is not the staff session's token (compared in constant time):
/// [`ErrorKind::Forbidden`], and nothing may be changed.
pub fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    session: &StaffSession,
    token: &str,
) -> Result<(), AppError> {
    same_origin(headers, &state.origin)?;
    if same_secret(&session.csrf, token) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorKind::Forbidden,
            "staff form without the staff session's CSRF token",
        ))
    }
}

/// The signed-in staff member, as an extractor: `SignedInStaff(session)` in a handler's arguments
/// does what [`staff`] does, and rejects the request the same way.
pub struct SignedInStaff(pub StaffSession);

impl FromRequestParts<AppState> for SignedInStaff {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        staff(state, &parts.headers).await.map(SignedInStaff)
    }
}

#[derive(Template)]
#[template(path = "helpdesk/sign_in.html")]
pub struct SignInPage<'a> {
    pub page: PageContext<'a>,
    pub csrf: String,
}

/// `GET /helpdesk`: the staff home page when signed in, else the sign-in page.
pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let sign_in = staff_sign_in(&state)?;
    let stale = match state.cookies.read(&headers, cookies::STAFF) {
        Some(id) => match sign_in
            .sessions()
            .use_session(&StaffSessionId::new(id))
            .await?
        {
            Some(session) => return Ok(super::accounts::home(&state, lang, &session).await),
            None => true,
        },
        None => false,
    };
    let existing = state.cookies.read(&headers, cookies::CSRF);
    let csrf = existing.clone().unwrap_or_else(crate::random::token);
    let page = SignInPage {
        page: state.page_context(lang, "/helpdesk"),
        csrf: csrf.clone(),
    };
    let mut response = render(StatusCode::OK, &page);
    if existing.is_none() {
        response.headers_mut().append(
            header::SET_COOKIE,
            state.cookies.set(cookies::CSRF, &csrf, CSRF_COOKIE_SECS),
        );
    }
    if stale {
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.cookies.clear(cookies::STAFF));
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /helpdesk/login`: to the campus SSO.
pub async fn start(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let sign_in = staff_sign_in(&state)?;
    same_origin(&headers, &state.origin)?;
    let cookie = state.cookies.read(&headers, cookies::CSRF);
    if !cookie.is_some_and(|c| same_secret(&c, &form.csrf)) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "staff sign-in form without a matching CSRF token",
        ));
    }
    // Each start writes a sign-in record: a client may start only so many.
    let ip = client_ip.to_string();
    let event = crate::audit::Event {
        client_ip: Some(&ip),
        request_id: Some(&request_id.0),
        channel: Some("helpdesk_staff"),
        ..crate::audit::Event::default()
    };
    state.limiter.admit_staff_sign_in(client_ip, event).await?;
    // One binding value per browser, so sign-ins started in two tabs can both finish.
    let binding = state
        .cookies
        .read(&headers, cookies::STAFF_LOGIN)
        .unwrap_or_else(crate::random::token);
    let url = sign_in.start(&binding, lang).await?;
    tracing::info!(event = "staff_sign_in_started", "staff sign-in started");
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, url.as_str())]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state
            .cookies
            .set_for_browser_session(cookies::STAFF_LOGIN, &binding),
    );
    Ok(response)
}

/// `GET /helpdesk/callback`: the campus SSO sends the staff member back here.
pub async fn finish(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let sign_in = staff_sign_in(&state)?;
    let params = CallbackParams::parse(query.as_deref().unwrap_or_default())?;
    let Some(state_param) = params.state.as_deref() else {
        return Err(AppError::new(
            ErrorKind::BadRequest,
            "staff sign-in callback without state",
        ));
    };
    let answer = AuthorizationResponse {
        state: state_param,
        code: params.code.as_deref(),
        iss: params.iss.as_deref(),
        error: params.error.as_deref(),
    };
    let client_ip = client_ip.to_string();
    let context = Context {
        client_ip: &client_ip,
        request_id: &request_id.0,
        lang,
    };
    let binding = state.cookies.read(&headers, cookies::STAFF_LOGIN);
    let session = match sign_in.finish(&answer, binding.as_deref(), context).await? {
        SignedIn::Cancelled => {
            return Ok(message(
                &state,
                lang,
                StatusCode::OK,
                Message::Cancelled,
                None,
            ));
        }
        SignedIn::NotStaff => None,
        SignedIn::Session(session) => Some(session),
    };
    // A finished sign-in ends whatever staff session this browser held before: one browser, one
    // staff member, and no session id chosen before the sign-in lives on after it.
    if let Some(old) = state.cookies.read(&headers, cookies::STAFF) {
        sign_in.sessions().end(&StaffSessionId::new(old)).await?;
    }
    let Some(session) = session else {
        let mut response = message(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Message::Refused,
            Some(&request_id.0),
        );
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.cookies.clear(cookies::STAFF));
        return Ok(response);
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/helpdesk")]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state
            .cookies
            .set_for_browser_session(cookies::STAFF, session.id.expose()),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /helpdesk/logout`: ends the staff session and says so.
pub async fn sign_out(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, AppError> {
    let sign_in = staff_sign_in(&state)?;
    same_origin(&headers, &state.origin)?;
    if let Some(id) = state.cookies.read(&headers, cookies::STAFF)
        && let Some(session) = sign_in
            .sessions()
            .use_session(&StaffSessionId::new(id))
            .await?
    {
        check_csrf(&state, &headers, &session, &form.csrf)?;
        let client_ip = client_ip.to_string();
        let context = Context {
            client_ip: &client_ip,
            request_id: &request_id.0,
            lang,
        };
        sign_in.sign_out(&session, context).await?;
    }
    let mut response = message(&state, lang, StatusCode::OK, Message::SignedOut, None);
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.cookies.clear(cookies::STAFF));
    Ok(response)
}

/// The messages of the sign-in.
#[derive(Clone, Copy)]
enum Message {
    Cancelled,
    Refused,
    SignedOut,
}

fn message(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    which: Message,
    request_id: Option<&str>,
) -> Response {
    let t = state.catalog.texts(lang);
    let (title, text) = match which {
        Message::Cancelled => (&t.staff_cancelled_title, &t.staff_cancelled_text),
        Message::Refused => (&t.staff_refused_title, &t.staff_refused_text),
        Message::SignedOut => (&t.staff_signed_out_title, &t.staff_signed_out_text),
    };
    let page = MessagePage {
        page: state.page_context(lang, "/helpdesk"),
        title,
        text,
        request_id,
        again_href: format!("/helpdesk?lang={}", lang.code()),
    };
    let mut response = render(status, &page);
    response.extensions_mut().insert(KeepBody);
    response
}
