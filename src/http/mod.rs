//! HTTP: one module per page, the middleware, and [`AppError`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::app::AppState;

pub mod account;
pub mod assets;
pub mod callback;
pub mod client_ip;
pub mod code;
pub mod cookies;
pub mod error;
pub mod health;
pub mod helpdesk;
pub mod landing;
pub mod login;
pub mod middleware;
pub mod pages;
pub mod request;
pub mod server;
pub mod settings;
pub mod wellknown;

pub use error::{AppError, ErrorKind};

/// Every route of the service. The routes are a contract: brokers register `/callback`, campus SSOs
/// `/helpdesk/callback`, and campuses link to `/`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::show))
        .route("/login", post(login::start))
        .route("/callback", get(callback::finish))
        .route("/account", get(account::show).post(account::submit))
        .route("/logout", post(account::sign_out))
        .route("/code", get(code::show).post(code::redeem))
        .route("/request", get(request::show).post(request::send))
        .route("/helpdesk", get(helpdesk::sign_in::show))
        .route("/helpdesk/login", post(helpdesk::sign_in::start))
        .route("/helpdesk/callback", get(helpdesk::sign_in::finish))
        .route("/helpdesk/logout", post(helpdesk::sign_in::sign_out))
        .route("/helpdesk/search", post(helpdesk::accounts::search))
        .route("/helpdesk/issue", post(helpdesk::accounts::issue))
        .route("/helpdesk/print", post(helpdesk::accounts::print))
        .route("/helpdesk/revoke", post(helpdesk::accounts::revoke))
        .route("/helpdesk/requests", get(helpdesk::requests::queue))
        .route("/helpdesk/requests/{number}", get(helpdesk::requests::show))
        .route(
            "/helpdesk/requests/{number}/issue",
            post(helpdesk::requests::issue),
        )
        .route(
            "/helpdesk/requests/{number}/refuse",
            post(helpdesk::requests::refuse),
        )
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route("/.well-known/signed-jwks.jwt", get(wellknown::signed_jwks))
        .route(
            "/.well-known/openid-federation",
            get(wellknown::entity_statement),
        )
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/static/style.css", get(assets::stylesheet))
        .route("/static/theme.css", get(assets::theme))
        .route("/static/app.js", get(assets::script))
        .route("/static/logo", get(assets::logo))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.settings.server.max_body_bytes))
        .layer(from_fn_with_state(state.clone(), middleware::body_in_time))
        .layer(from_fn_with_state(state.clone(), middleware::pages))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::new(ErrorKind::NotFound, "no such route")
}

/// Marks a response whose error status already carries its own body (readiness for machines, a form
/// shown again with its problems, a refusal page), so the page middleware leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct KeepBody;
