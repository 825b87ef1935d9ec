//! Records in the shared store that only this service can have written.
//!
//! Whoever can write to the store (a Redis shared with other services, a leaked Redis password) could
//! otherwise put a grant naming any account under their own session, or copy another person's grant
//! under theirs. Every session record is therefore stored with an HMAC-SHA-256 tag, keyed by the
//! service's secret (`session.key_file`), over the record's kind, the store key it lives under, and
//! its bytes: a record that was forged, altered, or moved to another key does not open.

use std::path::Path;

use aws_lc_rs::hmac;

/// Length of the tag put before each sealed record.
const TAG_LEN: usize = 32;

/// The key records are sealed with.
pub struct SealKey(hmac::Key);

impl SealKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from secret bytes; `None` when the secret is shorter than [`SealKey::MIN_LEN`].
    pub fn new(secret: &[u8]) -> Option<SealKey> {
        (secret.len() >= Self::MIN_LEN).then(|| SealKey(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// A key made at start (development and tests): records do not survive a restart and replicas
    /// cannot read each other's.
    pub fn random() -> SealKey {
        SealKey(hmac::Key::new(
            hmac::HMAC_SHA256,
            &crate::random::bytes::<32>(),
        ))
    }

    /// The key in the file at `path`. The problem is returned for the caller to name its key.
    pub fn from_file(path: &Path) -> Result<SealKey, String> {
        let secret = crate::config::read_key_file(path, Self::MIN_LEN)?;
        Self::new(&secret).ok_or_else(|| {
            format!(
                "{} must hold at least {} bytes",
                path.display(),
                Self::MIN_LEN
            )
        })
    }

    fn tag(&self, kind: &str, key: &str, payload: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.0);
        // Lengths first, so that no two (kind, key, payload) triples share their input.
        context.update(&(kind.len() as u64).to_be_bytes());
        context.update(kind.as_bytes());
        context.update(&(key.len() as u64).to_be_bytes());
        context.update(key.as_bytes());
        context.update(payload);
        context.sign()
    }

    /// The tag of `payload` as `kind` under `key`: a keyed fingerprint of it.
    pub fn tag_of(&self, kind: &str, key: &str, payload: &[u8]) -> Vec<u8> {
        self.tag(kind, key, payload).as_ref().to_vec()
    }

    /// `payload` with its tag in front, for storing under `key`.
    pub fn seal(&self, kind: &str, key: &str, payload: &[u8]) -> Vec<u8> {
        let tag = self.tag(kind, key, payload);
        let mut sealed = Vec::with_capacity(TAG_LEN + payload.len());
        sealed.extend_from_slice(tag.as_ref());
        sealed.extend_from_slice(payload);
        sealed
    }

    /// The payload of a record read from `key`, if this service sealed it as `kind` for that key.
    /// The tag is compared in constant time.
    pub fn open<'a>(&self, kind: &str, key: &str, sealed: &'a [u8]) -> Option<&'a [u8]> {
        if sealed.len() < TAG_LEN {
            return None;
        }
        let (tag, payload) = sealed.split_at(TAG_LEN);
        let expected = self.tag(kind, key, payload);
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), tag)
            .ok()
            .map(|()| payload)
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_sealed_record_opens_under_its_kind_and_key_only() {
        let sealed = key().seal("grant", "grant:abc", b"{\"account\":\"x\"}");
        assert_eq!(
            key().open("grant", "grant:abc", &sealed),
            Some(&b"{\"account\":\"x\"}"[..])
        );
        assert_eq!(key().open("grant", "grant:abd", &sealed), None, "moved");
        assert_eq!(key().open("session", "grant:abc", &sealed), None, "kind");
        let other = SealKey::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open("grant", "grant:abc", &sealed), None, "key");
    }

    #[test]
    fn an_altered_or_unsealed_record_does_not_open() {
        let mut sealed = key().seal("grant", "k", b"{\"account\":\"x\"}");
        let last = sealed.len() - 2;
        sealed[last] ^= 1;
        assert_eq!(key().open("grant", "k", &sealed), None);
        assert_eq!(key().open("grant", "k", b"{\"account\":\"x\"}"), None);
        assert_eq!(key().open("grant", "k", b""), None);
    }

    #[test]
    fn kind_and_key_boundaries_cannot_be_shifted() {
        let sealed = key().seal("ab", "c", b"x");
        assert_eq!(key().open("a", "bc", &sealed), None);
    }

    #[test]
    fn short_secrets_are_refused_and_debug_hides_the_key() {
        assert!(SealKey::new(&[1u8; 31]).is_none());
        assert_eq!(format!("{:?}", key()), "SealKey(***)");
    }
}
