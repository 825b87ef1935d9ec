//! The service's public keys and its entity statement, for brokers.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{AppError, ErrorKind};
use crate::app::AppState;

/// How long signed key sets and entity statements are valid; brokers cache them up to a day.
const STATEMENT_LIFETIME: time::Duration = time::Duration::days(1);

fn with_type(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Public material that brokers poll: cacheable for a while.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/jwks.json`: the plain public JWKS.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let jwks = state.keys.published_jwks(
        state.settings.broker.id_token_encryption.alg,
        state.clock.now(),
        state.settings.keys.retired_published_for.get(),
    );
    with_type(jwks.to_string(), "application/jwk-set+json")
}

/// `GET /.well-known/signed-jwks.jwt`: the same keys signed by the entity key.
pub async fn signed_jwks(State(state): State<AppState>) -> Result<Response, AppError> {
    let jwt = state
        .keys
        .signed_jwks(
            &state.entity_id(),
            state.settings.broker.id_token_encryption.alg,
            state.clock.now(),
            STATEMENT_LIFETIME,
            state.settings.keys.retired_published_for.get(),
        )
        .map_err(|error| AppError::new(ErrorKind::Internal, format!("signed JWKS: {error}")))?;
    Ok(with_type(jwt, "application/jwk-set+jwt"))
}

/// `GET /.well-known/openid-federation`: the entity statement describing this relying party.
pub async fn entity_statement(State(state): State<AppState>) -> Result<Response, AppError> {
    let broker = &state.settings.broker;
    let base = state.entity_id();
    let metadata = json!({
        "openid_relying_party": {
            "client_name": state.organisation_name(crate::i18n::Lang::Fi),
            "application_type": "web",
            "redirect_uris": [state.redirect_uri().as_str()],
            "response_types": ["code"],
            "grant_types": ["authorization_code"],
            "signed_jwks_uri": state.url("/.well-known/signed-jwks.jwt").as_str(),
            "jwks_uri": state.url("/.well-known/jwks.json").as_str(),
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": broker.signing_alg.as_str(),
            "request_object_signing_alg": broker.signing_alg.as_str(),
            "id_token_signed_response_alg": "RS256",
            "id_token_encrypted_response_alg": broker.id_token_encryption.alg,
            "id_token_encrypted_response_enc": broker.id_token_encryption.enc,
        }
    });
    let jwt = state
        .keys
        .entity_statement(&base, metadata, state.clock.now(), STATEMENT_LIFETIME)
        .map_err(|error| {
            AppError::new(ErrorKind::Internal, format!("entity statement: {error}"))
        })?;
    Ok(with_type(jwt, "application/entity-statement+jwt"))
}
