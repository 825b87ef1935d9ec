//! [`AppError`]: the one thing that becomes an error response.
//!
//! A handler returns an `AppError`; its `IntoResponse` only records the kind and the log text in the
//! response. The `pages` middleware then logs it once, with the request id, and renders the friendly
//! page in the person's language. Internal text never reaches the browser.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::account::AccountError;
use crate::i18n::Texts;
use crate::limits::LimitError;
use crate::oidc::OidcError;
use crate::oidc::transaction::TransactionError;

/// What went wrong, as far as the person is concerned. Each kind has its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or incomplete request.
    BadRequest,
    /// The login transaction is unknown, used or expired.
    Expired,
    /// The callback came to a different browser than the one that started the login.
    OtherBrowser,
    /// A form failed the CSRF or Origin check.
    Forbidden,
    /// No session (or it expired) where one is needed.
    SessionExpired,
    /// The broker's answer could not be accepted.
    IdentificationFailed,
    /// The broker sent an error other than a cancel.
    BrokerError,
    /// A service this one depends on is down.
    Unavailable,
    /// Too many attempts: try again after a while.
    RateLimited,
    NotFound,
    Internal,
    /// A staff sign-in at the campus SSO is unknown, used, expired, or finished in another browser.
    StaffSignInExpired,
    /// The campus SSO's answer could not be accepted, or it reported an error.
    StaffSignInFailed,
    /// A staff page without a staff session (none, idle too long, or past its end).
    StaffSessionExpired,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest
            | ErrorKind::Expired
            | ErrorKind::OtherBrowser
            | ErrorKind::StaffSignInExpired => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden | ErrorKind::SessionExpired | ErrorKind::StaffSessionExpired => {
                StatusCode::FORBIDDEN
            }
            ErrorKind::IdentificationFailed
            | ErrorKind::BrokerError
            | ErrorKind::StaffSignInFailed => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The kind of page for a bare error status (from routing or a body limit).
    pub fn from_status(status: StatusCode) -> ErrorKind {
        match status {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::SERVICE_UNAVAILABLE => ErrorKind::Unavailable,
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited,
            s if s.is_server_error() => ErrorKind::Internal,
            _ => ErrorKind::BadRequest,
        }
    }

    /// Title and text of the page.
    pub fn texts(self, t: &Texts) -> (&str, &str) {
        match self {
            ErrorKind::BadRequest => (&t.error_bad_request_title, &t.error_bad_request),
            ErrorKind::Expired => (&t.error_expired_title, &t.error_expired),
            ErrorKind::OtherBrowser => (&t.error_other_browser_title, &t.error_other_browser),
            ErrorKind::Forbidden => (&t.error_forbidden_title, &t.error_forbidden),
            ErrorKind::SessionExpired => (&t.error_session_title, &t.error_session),
            ErrorKind::IdentificationFailed => {
                (&t.error_identification_title, &t.error_identification)
            }
            ErrorKind::BrokerError => (&t.error_broker_title, &t.error_broker),
            ErrorKind::Unavailable => (&t.error_unavailable_title, &t.error_unavailable),
            ErrorKind::RateLimited => (&t.error_rate_limited_title, &t.error_rate_limited),
            ErrorKind::NotFound => (&t.error_not_found_title, &t.error_not_found),
            ErrorKind::Internal => (&t.error_internal_title, &t.error_internal),
            ErrorKind::StaffSignInExpired => (
                &t.error_staff_sign_in_expired_title,
                &t.error_staff_sign_in_expired,
            ),
            ErrorKind::StaffSignInFailed => (
                &t.error_staff_sign_in_failed_title,
                &t.error_staff_sign_in_failed,
            ),
            ErrorKind::StaffSessionExpired => {
                (&t.error_staff_session_title, &t.error_staff_session)
            }
        }
    }
}

/// An error on its way to becoming a page: what to show and what to log.
#[derive(Debug, Clone)]
pub struct AppError {
    pub kind: ErrorKind,
    /// For the log only; must not contain secrets or plain identity codes.
    pub detail: String,
    /// Seconds to put in `Retry-After`.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

impl AppError {
    /// Too many attempts: 429 with `Retry-After: seconds`.
    pub fn rate_limited(detail: impl Into<String>, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(ErrorKind::RateLimited, detail)
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = self.kind.status().into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<AccountError> for AppError {
    fn from(error: AccountError) -> Self {
        let detail = error.to_string();
        match error {
            AccountError::NoSession(_) => AppError::new(ErrorKind::SessionExpired, detail),
            AccountError::Forbidden => AppError::new(ErrorKind::Forbidden, detail),
            AccountError::RateLimited { retry_after, .. } => {
                AppError::rate_limited(detail, retry_after)
            }
            AccountError::Unavailable(_) => AppError::new(ErrorKind::Unavailable, detail),
            AccountError::Internal(_) => AppError::new(ErrorKind::Internal, detail),
        }
    }
}

impl From<crate::helpdesk::HelpdeskError> for AppError {
    fn from(error: crate::helpdesk::HelpdeskError) -> Self {
        use crate::helpdesk::HelpdeskError;
        let detail = error.to_string();
        match error {
            HelpdeskError::RateLimited { retry_after, .. } => {
                AppError::rate_limited(detail, retry_after)
            }
            HelpdeskError::Unavailable(_) => AppError::new(ErrorKind::Unavailable, detail),
            HelpdeskError::Internal(_) => AppError::new(ErrorKind::Internal, detail),
            HelpdeskError::NotAllowed(_) => AppError::new(ErrorKind::Forbidden, detail),
            HelpdeskError::Document(_) => AppError::new(ErrorKind::BadRequest, detail),
            HelpdeskError::Account(error) => error.into(),
        }
    }
}

impl From<crate::helpdesk::sso::SignInError> for AppError {
    fn from(error: crate::helpdesk::sso::SignInError) -> Self {
        use crate::helpdesk::sso::SignInError;
        use crate::helpdesk::sso::session::StaffSessionError;
        let detail = error.to_string();
        let kind = match &error {
            SignInError::Expired | SignInError::OtherBrowser => ErrorKind::StaffSignInExpired,
            SignInError::NoCode => ErrorKind::BadRequest,
            SignInError::Provider(_) => ErrorKind::StaffSignInFailed,
            SignInError::Sso(OidcError::BrokerUnavailable { .. }) => ErrorKind::Unavailable,
            SignInError::Sso(OidcError::CallbackIssuer(_)) => ErrorKind::BadRequest,
            SignInError::Sso(OidcError::Signing(_) | OidcError::Client(_)) => ErrorKind::Internal,
            SignInError::Sso(_) => ErrorKind::StaffSignInFailed,
            SignInError::Directory {
                unavailable: true, ..
            }
            | SignInError::Session(StaffSessionError::Store(_)) => ErrorKind::Unavailable,
            SignInError::Directory { .. }
            | SignInError::Session(StaffSessionError::Internal(_)) => ErrorKind::Internal,
        };
        AppError::new(kind, detail)
    }
}

impl From<crate::helpdesk::sso::session::StaffSessionError> for AppError {
    fn from(error: crate::helpdesk::sso::session::StaffSessionError) -> Self {
        use crate::helpdesk::sso::session::StaffSessionError;
        let kind = match error {
            StaffSessionError::Store(_) => ErrorKind::Unavailable,
            StaffSessionError::Internal(_) => ErrorKind::Internal,
        };
        AppError::new(kind, error.to_string())
    }
}

impl From<LimitError> for AppError {
    fn from(error: LimitError) -> Self {
        let detail = error.to_string();
        match error {
            LimitError::Exceeded { retry_after, .. } => AppError::rate_limited(detail, retry_after),
            LimitError::Store(_) => AppError::new(ErrorKind::Unavailable, detail),
        }
    }
}

impl From<TransactionError> for AppError {
    fn from(error: TransactionError) -> Self {
        let kind = match error {
            TransactionError::Store(_) => ErrorKind::Unavailable,
            TransactionError::Internal(_) => ErrorKind::Internal,
        };
        AppError::new(kind, error.to_string())
    }
}

impl From<OidcError> for AppError {
    fn from(error: OidcError) -> Self {
        let kind = match &error {
            OidcError::BrokerUnavailable { .. } => ErrorKind::Unavailable,
            OidcError::BrokerMisbehaved { .. }
            | OidcError::TokenRefused { .. }
            | OidcError::IdToken(_) => ErrorKind::IdentificationFailed,
            OidcError::CallbackIssuer(_) => ErrorKind::BadRequest,
            OidcError::Signing(_) | OidcError::Client(_) => ErrorKind::Internal,
        };
        let detail = error.to_string();
        AppError::new(kind, detail)
    }
}
