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
    pub links: Links<'a>,
    pub has_logo: bool,
    pub languages: Vec<LanguageLink>,
}

/// Where the other ways and more help are, from the configuration.
pub struct Links<'a> {
    pub hr: Option<&'a str>,
    pub service_points: Option<&'a str>,
    pub service_request: Option<&'a str>,
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
    /// The helpdesk channel is on: show the way to the code page.
    pub codes: bool,
    /// Service requests are on: show the way to the request form.
    pub requests: bool,
}

#[derive(Template)]
#[template(path = "code.html")]
pub struct CodePage<'a> {
    pub page: PageContext<'a>,
    pub csrf: String,
    pub return_to: Option<String>,
    pub username: String,
    pub problem: Option<&'a str>,
    /// The field the problem is about (`username` or `code`).
    pub problem_field: &'static str,
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

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub page: PageContext<'a>,
    pub activation: bool,
    pub name: String,
    pub username: &'a str,
    pub csrf: &'a str,
    pub terms_url: Option<&'a str>,
    pub rules: Vec<String>,
    pub min_length: usize,
    pub max_length: usize,
    pub password_errors: Vec<String>,
    pub confirmation_error: bool,
    pub terms_error: bool,
    pub form_problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "done.html")]
pub struct DonePage<'a> {
    pub page: PageContext<'a>,
    pub title: &'a str,
    pub text: &'a str,
    /// What the person should know next.
    pub next: &'a str,
    pub username: &'a str,
    pub continue_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "refusal.html")]
pub struct RefusalPage<'a> {
    pub page: PageContext<'a>,
    pub title: &'a str,
    pub text: &'a str,
    pub staff: bool,
    pub request_id: &'a str,
}
