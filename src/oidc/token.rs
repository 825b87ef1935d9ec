//! The token request: the authorization code for an ID token, authenticated with `private_key_jwt`
//! (the broker) or a client secret in HTTP Basic (a campus SSO may want that).

use serde::Deserialize;

use super::OidcError;
use super::http::{FetchError, send};
use super::request::JWT_BEARER_ASSERTION;

/// What the token request needs.
pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub client_id: &'a str,
    pub code_verifier: Option<&'a str>,
    pub client_auth: ClientAuthentication<'a>,
}

/// How the client proves who it is at the token endpoint.
pub enum ClientAuthentication<'a> {
    /// `private_key_jwt`: a client assertion signed with the service's key, in the form.
    PrivateKeyJwt { assertion: &'a str },
    /// `client_secret_basic`: the client id and secret in an `Authorization: Basic` header, each
    /// form-urlencoded first (RFC 6749 §2.3.1).
    SecretBasic { secret: &'a str },
}

/// The `Authorization` value of `client_secret_basic`.
fn basic_authorization(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
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
    ];
    if let Some(verifier) = request.code_verifier {
        form.push(("code_verifier", verifier));
    }
    let mut post = http
        .post(request.token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json");
    match request.client_auth {
        ClientAuthentication::PrivateKeyJwt { assertion } => {
            form.extend([
                ("client_id", request.client_id),
                ("client_assertion_type", JWT_BEARER_ASSERTION),
                ("client_assertion", assertion),
            ]);
        }
        ClientAuthentication::SecretBasic { secret } => {
            post = post.header(
                reqwest::header::AUTHORIZATION,
                basic_authorization(request.client_id, secret),
            );
        }
    }
    let post = post.form(&form);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        use base64::Engine;
        let header = basic_authorization("tunnus helpdesk", "a:b%c+d&e");
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "tunnus+helpdesk:a%3Ab%25c%2Bd%26e"
        );
    }
}
