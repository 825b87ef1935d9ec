//! `GET /account`: the identified person's page.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::cookies;
use super::error::{AppError, ErrorKind};
use super::pages::{IdentifiedPage, render};
use super::session;
use crate::app::AppState;
use crate::config::{ACR_HIGH, ACR_SUBSTANTIAL};
use crate::i18n::{Lang, Texts};

pub async fn show(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let expired = || AppError::new(ErrorKind::SessionExpired, "no live session");
    let id = state
        .cookies
        .read(&headers, cookies::SESSION)
        .ok_or_else(expired)?;
    let session = session::load_session(state.store.as_ref(), &id)
        .await?
        .ok_or_else(expired)?;
    let t = state.catalog.texts(lang);
    let page = IdentifiedPage {
        page: state.page_context(lang, "/account"),
        name: format!("{} {}", session.given_name, session.family_name)
            .trim()
            .to_owned(),
        masked_id: session.masked_national_id.clone(),
        assurance: assurance_name(t, &session.acr),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The assurance level in words; unknown levels are shown as they came.
fn assurance_name<'a>(t: &'a Texts, acr: &'a str) -> &'a str {
    match acr {
        ACR_SUBSTANTIAL => &t.assurance_substantial,
        ACR_HIGH => &t.assurance_high,
        other if other.starts_with("http://ftn.ficora.fi/2017/loatest") => &t.assurance_test,
        other => other,
    }
}
