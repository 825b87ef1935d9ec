//! Middleware: request ids, the person's language, security headers, and turning errors into pages.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::cookies;
use super::error::{AppError, ErrorKind};
use super::pages::{MessagePage, render};
use crate::app::AppState;
use crate::i18n::Lang;

/// The id of one request, shown on error pages and written in every log line about it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Assigns a request id, picks the language, logs the request once (path only: queries carry codes),
/// and renders any error as a page. Also notices `X-Forwarded-For` from an untrusted peer.
pub async fn pages(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    super::client_ip::notice_untrusted_forwarding(&state, &request);
    let request_id = RequestId(crate::random::short_id());
    let (lang, chosen) = language(&state, &request);
    request.extensions_mut().insert(request_id.clone());
    request.extensions_mut().insert(lang);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = route_label(&path);
    let timer = std::time::Instant::now();

    let mut response = next.run(request).await;

    let status = response.status();
    let for_machines = response.extensions().get::<super::KeepBody>().is_some();
    if (status.is_client_error() || status.is_server_error()) && !for_machines {
        let error = response
            .extensions_mut()
            .remove::<AppError>()
            .unwrap_or_else(|| {
                AppError::new(
                    ErrorKind::from_status(status),
                    "rejected by routing or limits",
                )
            });
        if error.kind.status().is_server_error() {
            tracing::error!(request_id = %request_id.0, %method, %path, kind = ?error.kind, detail = %error.detail, "request failed");
        } else {
            tracing::warn!(request_id = %request_id.0, %method, %path, kind = ?error.kind, detail = %error.detail, "request refused");
        }
        let headers = std::mem::take(response.headers_mut());
        // A staff page's "start again" leads back to the staff sign-in, not to the person's start.
        let start = if path == "/helpdesk" || path.starts_with("/helpdesk/") {
            "/helpdesk"
        } else {
            "/"
        };
        response = error_page(&state, lang, error.kind, &request_id.0, start);
        *response.status_mut() = status;
        keep_headers(&headers, response.headers_mut());
    }
    if let Some(lang) = chosen {
        response.headers_mut().append(
            header::SET_COOKIE,
            state
                .cookies
                .set(cookies::LANG, lang.code(), 365 * 24 * 3600),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    let class = match response.status().as_u16() {
        200..=399 => "ok",
        400..=499 => "client_error",
        _ => "server_error",
    };
    state.metrics.count(
        "tunnus_http_requests_total",
        &[("route", route), ("class", class)],
    );
    state.metrics.observe(
        "tunnus_http_request_duration_seconds",
        &[("route", route)],
        timer.elapsed(),
    );
    tracing::info!(
        request_id = %request_id.0,
        %method,
        %path,
        status = response.status().as_u16(),
        millis = timer.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// The route a path belongs to, for metric labels (paths people invent are not labels).
fn route_label(path: &str) -> &'static str {
    const ROUTES: [&str; 18] = [
        "/",
        "/login",
        "/callback",
        "/account",
        "/logout",
        "/code",
        "/helpdesk",
        "/helpdesk/login",
        "/helpdesk/callback",
        "/helpdesk/logout",
        "/.well-known/jwks.json",
        "/.well-known/signed-jwks.jwt",
        "/.well-known/openid-federation",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/style.css",
        "/favicon.ico",
    ];
    ROUTES
        .into_iter()
        .find(|route| *route == path)
        .unwrap_or("other")
}

/// Headers of an error response that survive its replacement by a page (cookies set or cleared,
/// `Retry-After`, `Allow`).
fn keep_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for name in [header::SET_COOKIE, header::RETRY_AFTER, header::ALLOW] {
        for value in from.get_all(&name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The page for an error of `kind`, whose "start again" leads to `start`.
pub fn error_page(
    state: &AppState,
    lang: Lang,
    kind: ErrorKind,
    request_id: &str,
    start: &str,
) -> Response {
    let t = state.catalog.texts(lang);
    let (title, text) = kind.texts(t);
    let page = MessagePage {
        page: state.page_context(lang, start),
        title,
        text,
        request_id: Some(request_id),
        again_href: format!("{start}?lang={}", lang.code()),
    };
    render(kind.status(), &page)
}

/// The language from `?lang=` (remembered in a cookie), else the cookie, else `Accept-Language`,
/// else the configured default. The second value is set when `?lang=` chose it.
fn language(state: &AppState, request: &Request) -> (Lang, Option<Lang>) {
    let from_query = request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "lang")
            .and_then(|(_, value)| Lang::from_code(&value))
    });
    if let Some(lang) = from_query {
        return (lang, Some(lang));
    }
    let headers = request.headers();
    let from_cookie = state
        .cookies
        .read(headers, cookies::LANG)
        .and_then(|code| Lang::from_code(&code));
    let from_header = || {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
    };
    (
        from_cookie
            .or_else(from_header)
            .unwrap_or(state.default_lang),
        None,
    )
}

/// Security headers on every response.
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: HeaderValue| {
        headers.insert(name, value);
    };
    set("content-security-policy", state.csp.clone());
    set("referrer-policy", HeaderValue::from_static("no-referrer"));
    set(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    set("x-frame-options", HeaderValue::from_static("DENY"));
    set(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    set(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    set(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if state.cookies.secure {
        set(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !is_static || !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses a cross-site form post. The `Origin` must be this service. Under the pages'
/// `Referrer-Policy: no-referrer` browsers send `Origin: null` with their form posts, so then the
/// browser-set `Sec-Fetch-Site` decides, which no page can forge; a client that sends neither passes
/// on to the CSRF token check alone.
pub fn same_origin(headers: &HeaderMap, origin: &str) -> Result<(), AppError> {
    let cross_site = || AppError::new(ErrorKind::Forbidden, "form posted from another site");
    match headers.get(header::ORIGIN).map(|v| v.as_bytes()) {
        Some(b"null") | None => {}
        Some(sent) if sent == origin.as_bytes() => return Ok(()),
        Some(_) => return Err(cross_site()),
    }
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        None | Some(b"same-origin") => Ok(()),
        Some(_) => Err(cross_site()),
    }
}

/// Reads a request's body within `server.body_read_timeout` (and `server.max_body_bytes`) before
/// any handler runs, so a client that drips its body cannot hold a connection and a task: it gets
/// 408 and the connection is closed. Requests without a body pass as they are.
pub async fn body_in_time(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(request).await;
    }
    let server = &state.settings.server;
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, server.max_body_bytes);
    match tokio::time::timeout(server.body_read_timeout.get(), read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        // Too large: the body limit's own answer.
        Ok(Err(_)) => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Err(_) => {
            tracing::info!(
                "request refused: its body did not arrive within server.body_read_timeout"
            );
            (StatusCode::REQUEST_TIMEOUT, [(header::CONNECTION, "close")]).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    axum::http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    const OURS: &str = "https://tunnus.example.fi";

    #[test]
    fn posts_from_this_origin_pass() {
        assert!(same_origin(&headers(&[("origin", OURS)]), OURS).is_ok());
        assert!(
            same_origin(
                &headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
                OURS
            )
            .is_ok()
        );
        assert!(same_origin(&headers(&[]), OURS).is_ok());
    }

    #[test]
    fn posts_from_elsewhere_are_refused() {
        assert!(same_origin(&headers(&[("origin", "https://evil.example")]), OURS).is_err());
        assert!(
            same_origin(
                &headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]),
                OURS
            )
            .is_err()
        );
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")]), OURS).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "none")]), OURS).is_err());
        assert!(
            same_origin(
                &headers(&[
                    ("origin", "https://evil.example"),
                    ("sec-fetch-site", "same-origin")
                ]),
                OURS
            )
            .is_err(),
            "a wrong Origin is never overruled"
        );
    }
}
