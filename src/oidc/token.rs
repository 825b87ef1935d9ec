//! The token request: the authorization code for an ID token, authenticated with `private_key_jwt`.

use serde::Deserialize;

use super::OidcError;
use super::http::{FetchError, send};
use super::request::JWT_BEARER_ASSERTION;

/// What the token request needs besides the client's key.
pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub client_id: &'a str,
    pub code_verifier: Option<&'a str>,
    pub client_assertion: &'a str,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Exchanges the code; returns the ID token as sent (a JWE or a JWS).
pub async fn exchange(
    http: &reqwest::Client,
    request: &TokenRequest<'_>,
) -> Result<String, OidcError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", request.code),
        ("redirect_uri", request.redirect_uri),
        ("client_id", request.client_id),
        ("client_assertion_type", JWT_BEARER_ASSERTION),
        ("client_assertion", request.client_assertion),
    ];
    if let Some(verifier) = request.code_verifier {
        form.push(("code_verifier", verifier));
    }
    let post = http
        .post(request.token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    match send(post, request.token_endpoint).await {
        Ok(body) => {
            let response: TokenResponse =
                serde_json::from_slice(&body).map_err(|error| OidcError::BrokerMisbehaved {
                    step: "token",
                    detail: format!("token response is not valid JSON: {error}"),
                })?;
            response
                .id_token
                .ok_or_else(|| OidcError::BrokerMisbehaved {
                    step: "token",
                    detail: "token response has no id_token".to_owned(),
                })
        }
        Err(FetchError::Status { status, body, .. }) if status.is_client_error() => {
            // The broker refused the code or the client: a stale or replayed code, or a
            // registration problem. Its error code and description are safe to log.
            let refusal: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
            Err(OidcError::TokenRefused {
                status: status.as_u16(),
                error: refusal
                    .as_ref()
                    .map(|r| truncate(&r.error))
                    .unwrap_or_default(),
                description: refusal
                    .and_then(|r| r.error_description)
                    .map(|d| truncate(&d))
                    .unwrap_or_default(),
            })
        }
        Err(error) => Err(OidcError::BrokerUnavailable {
            step: "token",
            detail: error.to_string(),
        }),
    }
}

fn truncate(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}
