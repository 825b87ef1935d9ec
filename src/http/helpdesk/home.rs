//! The page a signed-in staff member lands on at `GET /helpdesk`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::StaffSession;
use crate::app::AppState;
use crate::http::KeepBody;
use crate::http::pages::{PageContext, render};
use crate::i18n::Lang;

#[derive(Template)]
#[template(path = "helpdesk/home.html")]
pub struct HomePage<'a> {
    pub page: PageContext<'a>,
    pub greeting: String,
    /// The staff session's CSRF token, for the sign-out form.
    pub csrf: &'a str,
}

/// The staff home page of `session`.
pub fn page(state: &AppState, lang: Lang, session: &StaffSession) -> Response {
    let t = state.catalog.texts(lang);
    let page = HomePage {
        page: state.page_context(lang, "/helpdesk"),
        greeting: t.staff_greeting.replace("{name}", &session.staff.name),
        csrf: &session.csrf,
    };
    let mut response = render(StatusCode::OK, &page);
    response.extensions_mut().insert(KeepBody);
    response
}
