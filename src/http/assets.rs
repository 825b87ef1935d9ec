//! Static assets, all served by the service itself: the stylesheet, the theme from the configured
//! colours, the organisation's logo, and the small script that adds a show/hide button to password
//! fields (the pages work without it).

use std::path::Path;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{AppError, ErrorKind};
use crate::app::AppState;

fn asset(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// `GET /static/style.css`
pub async fn stylesheet() -> Response {
    asset(
        include_str!("../../static/style.css"),
        "text/css; charset=utf-8",
    )
}

/// `GET /static/app.js`
pub async fn script() -> Response {
    asset(
        include_str!("../../static/app.js"),
        "text/javascript; charset=utf-8",
    )
}

/// `GET /static/theme.css`: the configured colours as CSS variables (no inline styles, so the
/// content security policy can forbid them).
pub async fn theme(State(state): State<AppState>) -> Response {
    let colours = &state.settings.ui.colours;
    let css = format!(
        ":root {{ --accent: {}; --band: {}; --band-ink: {}; }}\n",
        colours.primary, colours.header_background, colours.header_text
    );
    asset(css, "text/css; charset=utf-8")
}

/// The content type of a logo file, by its extension.
pub fn logo_type(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "svg" => Some("image/svg+xml"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// `GET /static/logo`
pub async fn logo(State(state): State<AppState>) -> Result<Response, AppError> {
    let not_found = || AppError::new(ErrorKind::NotFound, "no logo configured");
    let path = state.settings.ui.logo.as_ref().ok_or_else(not_found)?;
    let content_type = logo_type(path).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(path).await.map_err(|error| {
        AppError::new(
            ErrorKind::Internal,
            format!("ui.logo {}: {error}", path.display()),
        )
    })?;
    let mut response = asset(bytes, content_type);
    if content_type == "image/svg+xml" {
        // An SVG can carry script; as an image it never runs, and this keeps it so if opened alone.
        response.headers_mut().insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
    }
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}
