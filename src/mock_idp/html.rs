//! The few HTML pages of the mock broker: plain, valid, no script, everything escaped.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `text` safe to put into HTML content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The look of the login pages: a test broker's plain page, readable at any size. Allowed by its
/// hash in the pages' `Content-Security-Policy`; nothing else is.
const STYLE: &str = "body{margin:0;font-family:system-ui,sans-serif;line-height:1.5;color:#1b1b1b;\
background:#f4f5f7}main{max-width:40rem;margin:0 auto;padding:1rem}\
.test{background:#7a2e00;color:#fff;padding:.5rem 1rem;font-weight:600;margin:0}\
nav.lang{display:flex;gap:1rem;padding:.5rem 1rem;background:#fff;border-bottom:1px solid #ccd}\
nav.lang a{color:#0b3d91}h1{font-size:1.6rem}fieldset{border:1px solid #ccd;border-radius:.4rem;\
background:#fff;margin:1rem 0;padding:.75rem 1rem}legend{font-weight:700;padding:0 .25rem}\
ul.persons{list-style:none;margin:0;padding:0}ul.persons li{margin:.4rem 0}\
button{font:inherit;cursor:pointer;border-radius:.3rem;padding:.5rem .9rem}\
ul.persons button{width:100%;text-align:left;background:#fff;border:2px solid #0b3d91;color:#0b3d91}\
ul.persons button:hover,ul.persons button:focus{background:#e8eefb}\
.code{font-family:monospace;font-size:1.05em;white-space:nowrap}\
label{display:block;font-weight:600;margin-top:.6rem}input{font:inherit;width:100%;\
max-width:20rem;padding:.4rem;border:2px solid #555;border-radius:.25rem;box-sizing:border-box}\
.hint{color:#444;margin:.2rem 0}.primary{background:#0b3d91;color:#fff;border:2px solid #0b3d91;\
margin-top:.8rem;display:block}.cancel{background:#fff;border:2px solid #555;color:#1b1b1b}\
:focus-visible{outline:3px solid #c25100;outline-offset:2px}";

/// The `Content-Security-Policy` source of [`STYLE`].
fn style_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        use base64::Engine;
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(hash.as_ref())
        )
    })
}

/// A whole page; `title` is plain text, `body` is HTML the caller has escaped.
pub(crate) fn page(status: StatusCode, lang: &str, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        lang = escape(lang),
        title = escape(title),
    );
    let policy = format!(
        "default-src 'none'; style-src {}; base-uri 'none'; frame-ancestors 'none'",
        style_source()
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, policy.as_str()),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

/// Keycloak's error page: the request cannot continue and nothing is sent back to the client.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<main>\n<h1>We are sorry...</h1>\n<p id=\"error-message\">{}</p>\n</main>\n",
        escape(message)
    );
    page(status, "en", "Mock FTN broker: error", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("Äyrämö"), "Äyrämö");
    }
}
