//! Reading and writing the service's cookies.
//!
//! Over https every cookie gets the `__Host-` prefix, which browsers accept only with `Secure`,
//! `Path=/` and no `Domain`, so a sibling subdomain cannot plant or overwrite them.

use axum::http::{HeaderMap, HeaderValue, header};

/// The session after identification.
pub const SESSION: &str = "tunnus_session";
/// Binds a login transaction to the browser that started it.
pub const LOGIN: &str = "tunnus_login";
/// The double-submit CSRF token of forms shown before identification.
pub const CSRF: &str = "tunnus_csrf";
/// The chosen language (not secret).
pub const LANG: &str = "tunnus_lang";
/// A helpdesk staff member's session after signing in through the campus SSO.
pub const STAFF: &str = "tunnus_staff";
/// Binds a staff sign-in at the campus SSO to the browser that started it.
pub const STAFF_LOGIN: &str = "tunnus_staff_login";

/// How the service's cookies are written.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// The name as sent to the browser (`__Host-` prefixed over https).
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// The value of cookie `base` in the request, if present once and well-formed.
    pub fn read(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.name(base);
        let mut found = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                let Some((key, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if key == name {
                    if found.is_some() {
                        // Two cookies of one name mean one was planted: trust neither.
                        return None;
                    }
                    found = Some(value.to_owned());
                }
            }
        }
        found.filter(|v| !v.is_empty() && v.len() <= 256 && v.bytes().all(is_token_char))
    }

    /// A `Set-Cookie` value: `HttpOnly` unless `script_readable`, `SameSite=Lax`, `Path=/`, `Secure`
    /// over https, living `max_age_secs` (0 deletes).
    pub fn set(&self, base: &str, value: &str, max_age_secs: u64) -> HeaderValue {
        let mut cookie = format!(
            "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if self.secure {
            cookie.push_str("; Secure");
        }
        // Values are our own base64url tokens or language codes, so the header is always valid.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value for a cookie that lives only until the browser is closed (no `Max-Age`):
    /// on a shared computer, closing the browser ends what it carried.
    pub fn set_for_browser_session(&self, base: &str, value: &str) -> HeaderValue {
        let mut cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if self.secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub fn clear(&self, base: &str) -> HeaderValue {
        self.set(base, "", 0)
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn secure_cookies_get_the_host_prefix() {
        let policy = CookiePolicy { secure: true };
        let cookie = policy.set(SESSION, "abc", 600);
        let text = cookie.to_str().unwrap();
        assert!(text.starts_with("__Host-tunnus_session=abc;"));
        assert!(
            text.contains("Secure") && text.contains("HttpOnly") && text.contains("SameSite=Lax")
        );
        assert_eq!(
            policy
                .read(&headers("__Host-tunnus_session=abc"), SESSION)
                .as_deref(),
            Some("abc")
        );
        assert_eq!(policy.read(&headers("tunnus_session=abc"), SESSION), None);
    }

    #[test]
    fn browser_session_cookies_carry_no_lifetime() {
        let cookie = CookiePolicy { secure: true }.set_for_browser_session(SESSION, "abc");
        let text = cookie.to_str().unwrap();
        assert!(text.starts_with("__Host-tunnus_session=abc;"), "{text}");
        assert!(
            !text.contains("Max-Age") && !text.contains("Expires"),
            "{text}"
        );
        assert!(
            text.contains("HttpOnly") && text.contains("Secure"),
            "{text}"
        );
    }

    #[test]
    fn duplicate_or_odd_cookies_are_not_trusted() {
        let policy = CookiePolicy { secure: false };
        assert_eq!(
            policy.read(&headers("tunnus_login=a; tunnus_login=b"), LOGIN),
            None
        );
        assert_eq!(policy.read(&headers("tunnus_login=a b"), LOGIN), None);
        assert_eq!(
            policy
                .read(&headers("x=1; tunnus_login=Ab-_9"), LOGIN)
                .as_deref(),
            Some("Ab-_9")
        );
    }
}
