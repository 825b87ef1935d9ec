//! Comparing and storing the browser's secret values (cookies, CSRF tokens, `state`) safely.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// base64url SHA-256 of `secret`: what the store keeps instead of a cookie's value, so whoever can
/// read the store cannot use what they read as a cookie.
pub fn fingerprint(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Constant-time equality of two strings' SHA-256 fingerprints.
pub fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(
        fingerprint(a).as_bytes(),
        fingerprint(b).as_bytes(),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_compare_equal_and_others_do_not() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", ""));
        assert_eq!(fingerprint("abc").len(), 43);
        assert_ne!(fingerprint("abc"), "abc");
    }
}
