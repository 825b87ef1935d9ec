//! The HTTP client for calls to the broker: no redirects, bounded time, bounded answers.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};

/// Largest answer read from the broker (discovery, JWKS, token response).
const MAX_BODY: usize = 512 * 1024;

/// A failed call, described for the log. None of these carry tokens or codes.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The broker could not be reached or did not answer in time: retry later.
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The broker answered with a status that is not success.
    #[error("{url}: HTTP {status}")]
    Status {
        url: String,
        status: StatusCode,
        body: Vec<u8>,
    },
    /// The answer was larger than the limit.
    #[error("{url}: answer larger than {MAX_BODY} bytes")]
    TooLarge { url: String },
}

/// A client that never follows redirects (a redirect from the broker's API is an error, not an
/// instruction) and gives up after `timeout`.
pub fn client(timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("tunnus/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends `request` and reads a successful answer's body, at most [`MAX_BODY`] bytes.
pub async fn send(request: reqwest::RequestBuilder, url: &str) -> Result<Vec<u8>, FetchError> {
    let response = request
        .send()
        .await
        .map_err(|error| FetchError::Unreachable {
            url: url.to_owned(),
            reason: describe(&error),
        })?;
    let status = response.status();
    let body = read_body(response, url).await?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(FetchError::Status {
            url: url.to_owned(),
            status,
            body,
        })
    }
}

async fn read_body(mut response: Response, url: &str) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(FetchError::TooLarge {
            url: url.to_owned(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| FetchError::Unreachable {
            url: url.to_owned(),
            reason: describe(&error),
        })?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A short reason; the caller adds the URL. Request bodies (codes, assertions) are never included.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "reading the answer failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}
