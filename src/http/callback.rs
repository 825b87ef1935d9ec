//! `GET /callback`: the broker sends the person back here with a code, or with an error.

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::account::refusal_response;
use super::client_ip::ClientIp;
use super::cookies;
use super::error::{AppError, ErrorKind};
use super::middleware::RequestId;
use super::pages::{MessagePage, render};
use crate::account::{Context, Opened, Proof};
use crate::app::AppState;
use crate::i18n::Lang;
use crate::oidc::transaction::LoginTransaction;
use crate::secret::fingerprint;

/// Longest accepted `state`, `iss` or `error` value.
const MAX_SHORT: usize = 512;
/// Longest accepted authorization code.
const MAX_CODE: usize = 4096;

/// The authorization response (RFC 6749 §4.1.2, RFC 9207). Other parameters (Keycloak's
/// `session_state`) are ignored.
#[derive(Default)]
pub(crate) struct CallbackParams {
    pub(crate) code: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) iss: Option<String>,
    pub(crate) error: Option<String>,
}

impl CallbackParams {
    /// The parameters of `query`; a repeated or overlong one is a bad request.
    pub(crate) fn parse(query: &str) -> Result<CallbackParams, AppError> {
        let mut params = CallbackParams::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (slot, limit) = match key.as_ref() {
                "code" => (&mut params.code, MAX_CODE),
                "state" => (&mut params.state, MAX_SHORT),
                "iss" => (&mut params.iss, MAX_SHORT),
                "error" => (&mut params.error, MAX_SHORT),
                _ => continue,
            };
            if slot.is_some() {
                return Err(bad(format!("callback parameter `{key}` repeated")));
            }
            if value.len() > limit {
                return Err(bad(format!("callback parameter `{key}` too long")));
            }
            *slot = Some(value.into_owned());
        }
        Ok(params)
    }
}

fn bad(detail: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::BadRequest, detail)
}

pub async fn finish(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let params = CallbackParams::parse(query.as_deref().unwrap_or_default())?;
    let Some(state_param) = params.state.as_deref() else {
        return Err(bad("callback without state"));
    };
    let expired = || {
        AppError::new(
            ErrorKind::Expired,
            "unknown, used or expired login transaction",
        )
    };
    // Read first and taken only from its own browser: whoever learns a `state` (from a log or a
    // shared link) must not be able to cancel someone else's login by calling back first.
    let binding = state.cookies.read(&headers, cookies::LOGIN);
    let Some(unused) = state.transactions.get(state_param).await? else {
        return Err(expired());
    };
    if !bound_to(binding.as_deref(), &unused) {
        return Err(other_browser());
    }
    // Then taken: a transaction finishes at most once, also when callbacks race, since of racing
    // takes only one gets it. What is taken is what was read: a transaction is stored under its
    // fresh random `state` with `put_new` and never replaced.
    let Some(tx) = state.transactions.take(state_param).await? else {
        return Err(expired());
    };
    state
        .rp
        .check_response_issuer(params.iss.as_deref())
        .await?;

    if let Some(error) = params.error.as_deref() {
        return Ok(broker_error(&state, lang, error));
    }
    let Some(code) = params.code.as_deref() else {
        return Err(bad("callback without code or error"));
    };

    let identity = state.rp.finish(code, &tx.pending).await?;

    let client_ip = client_ip.to_string();
    let context = Context {
        client_ip: &client_ip,
        request_id: &request_id.0,
        lang,
    };
    let opened = state
        .accounts
        .open(Proof::Strong(identity), tx.return_to, context)
        .await?;
    let id = match opened {
        Opened::Session(id) => id,
        Opened::Refused(refusal) => {
            return Ok(refusal_response(&state, lang, &refusal, &request_id.0));
        }
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/account")]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state
            .cookies
            .set_for_browser_session(cookies::SESSION, id.expose()),
    );
    Ok(response)
}

/// Whether the browser's binding cookie is the one its login transaction was started with.
fn bound_to(binding: Option<&str>, tx: &LoginTransaction) -> bool {
    binding.is_some_and(|value| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            fingerprint(value).as_bytes(),
            tx.binding.as_bytes(),
        )
        .is_ok()
    })
}

fn other_browser() -> AppError {
    AppError::new(
        ErrorKind::OtherBrowser,
        "callback without the browser-binding cookie of its transaction",
    )
}

/// The broker sent `error` instead of a code. Cancelling is the person's choice, not a fault: it
/// gets a calm page with a way back, and anything else the broker-error page.
fn broker_error(state: &AppState, lang: Lang, error: &str) -> Response {
    if matches!(error, "access_denied" | "cancel" | "user_cancelled") {
        tracing::info!(
            event = "login_cancelled",
            "identification cancelled at the broker"
        );
        let t = state.catalog.texts(lang);
        let page = MessagePage {
            page: state.page_context(lang, "/"),
            title: &t.cancelled_title,
            text: &t.cancelled_text,
            request_id: None,
            again_href: format!("/?lang={}", lang.code()),
        };
        return render(StatusCode::OK, &page);
    }
    let code: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    AppError::new(
        ErrorKind::BrokerError,
        format!("broker returned error `{code}`"),
    )
    .into_response()
}
