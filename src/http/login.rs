//! `POST /login`: start identification at the broker.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::client_ip::ClientIp;
use super::cookies;
use super::error::AppError;
use super::landing::FormCsrf;
use super::middleware::RequestId;
use crate::app::AppState;
use crate::audit::Event;
use crate::i18n::Lang;
use crate::oidc::transaction::LoginTransaction;
use crate::secret::fingerprint;

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    return_to: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    FormCsrf::check(
        &state,
        &headers,
        &form.csrf,
        "login form without a matching CSRF token",
    )?;
    let return_to = form.return_to.filter(|url| state.return_to_allowed(url));

    // Limits before anything reaches the broker: each identification costs money.
    let ip = client_ip.to_string();
    let event = Event {
        client_ip: Some(&ip),
        request_id: Some(&request_id.0),
        ..Event::default()
    };
    state.limiter.admit_login(client_ip, event).await?;

    let start = state.rp.start(lang).await?;
    // One binding value per browser, so logins started in two tabs can both finish.
    let existing_binding = state.cookies.read(&headers, cookies::LOGIN);
    let binding = existing_binding
        .clone()
        .unwrap_or_else(crate::random::token);
    let tx = LoginTransaction {
        pending: start.pending,
        binding: fingerprint(&binding),
        return_to,
    };
    state.transactions.put(&tx).await?;
    tracing::info!(event = "login_started", "identification started");
    state
        .metrics
        .count("tunnus_flows_total", &[("stage", "started")]);

    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, start.url.as_str())],
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state
            .cookies
            .set_for_browser_session(cookies::LOGIN, &binding),
    );
    Ok(response)
}
