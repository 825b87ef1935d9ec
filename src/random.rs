//! Unpredictable values from the operating system's generator (through aws-lc).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` random bytes. The system generator failing means the machine cannot do cryptography at all,
/// so the service must stop rather than hand out predictable values.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random number generator failed");
    out
}

/// A 256-bit random value as unpadded base64url (43 characters): session ids, state, nonce, `jti`.
pub fn token() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// A 96-bit random id for requests, short enough to read out to a helpdesk (16 characters).
pub fn short_id() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<12>())
}
