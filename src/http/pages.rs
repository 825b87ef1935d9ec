//! The server-rendered pages and what every page shares.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::i18n::{Lang, Texts};

/// What the layout needs on every page.
pub struct PageContext<'a> {
    pub t: &'a Texts,
    pub lang: Lang,
    pub organisation: &'a str,
    pub helpdesk_url: Option<&'a str>,
    pub languages: Vec<LanguageLink>,
}

/// One entry of the language menu.
pub struct LanguageLink {
    pub code: &'static str,
    pub name: String,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage<'a> {
    pub page: PageContext<'a>,
    pub csrf: String,
    pub return_to: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub page: PageContext<'a>,
    pub title: &'a str,
    pub text: &'a str,
    pub request_id: Option<&'a str>,
    pub again_href: String,
}

#[derive(Template)]
#[template(path = "identified.html")]
pub struct IdentifiedPage<'a> {
    pub page: PageContext<'a>,
    pub name: String,
    pub masked_id: String,
    pub assurance: &'a str,
}

/// Renders `template` as an HTML response with `status`. A template that fails to render (which the
/// compile-time checks make unlikely) becomes a bare 500 rather than a panic.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "page could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
