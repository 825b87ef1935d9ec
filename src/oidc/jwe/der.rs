//! Just enough DER to write an RSA `SubjectPublicKeyInfo` (RFC 5280 §4.1, RFC 8017 A.1.1), which is
//! what aws-lc loads a public key from.

use super::JweError;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_SEQUENCE: u8 = 0x30;

/// `AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }`.
const RSA_ENCRYPTION_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// `SubjectPublicKeyInfo` of the RSA key with big-endian unsigned modulus `n` and exponent `e`.
pub(super) fn rsa_subject_public_key_info(n: &[u8], e: &[u8]) -> Result<Vec<u8>, JweError> {
    let modulus = unsigned_integer(n).ok_or(JweError::InvalidPublicKey {
        reason: "n is zero",
    })?;
    let exponent = unsigned_integer(e).ok_or(JweError::InvalidPublicKey {
        reason: "e is zero",
    })?;
    let rsa_public_key = tlv(TAG_SEQUENCE, &[modulus, exponent].concat());
    // The key sits in a BIT STRING whose first content byte counts unused bits: none.
    let bit_string = tlv(TAG_BIT_STRING, &[&[0u8][..], &rsa_public_key].concat());
    Ok(tlv(
        TAG_SEQUENCE,
        &[&RSA_ENCRYPTION_ALGORITHM[..], &bit_string].concat(),
    ))
}

/// A DER INTEGER of a big-endian unsigned number: minimal bytes, with a leading zero when the top
/// bit is set so that it does not read as negative. `None` for zero, which no RSA parameter is.
fn unsigned_integer(bytes: &[u8]) -> Option<Vec<u8>> {
    let first = bytes.iter().position(|&b| b != 0)?;
    let digits = &bytes[first..];
    let content = if digits[0] & 0x80 != 0 {
        [&[0u8][..], digits].concat()
    } else {
        digits.to_vec()
    };
    Some(tlv(TAG_INTEGER, &content))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    out.extend(length(content.len()));
    out.extend_from_slice(content);
    out
}

/// Definite length: one byte below 128, else 0x80 + the count of big-endian length bytes.
fn length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = &bytes[skip..];
    let mut out = vec![0x80 | significant.len() as u8];
    out.extend_from_slice(significant);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths_are_encoded_minimally() {
        assert_eq!(length(0), [0x00]);
        assert_eq!(length(0x7f), [0x7f]);
        assert_eq!(length(0x80), [0x81, 0x80]);
        assert_eq!(length(0xff), [0x81, 0xff]);
        assert_eq!(length(0x100), [0x82, 0x01, 0x00]);
        assert_eq!(length(0x1_0000), [0x83, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn integers_drop_leading_zeros_and_keep_the_sign_bit_clear() {
        assert_eq!(
            unsigned_integer(&[0x00, 0x00, 0x01]),
            Some(vec![0x02, 0x01, 0x01])
        );
        assert_eq!(
            unsigned_integer(&[0x80, 0x01]),
            Some(vec![0x02, 0x03, 0x00, 0x80, 0x01])
        );
        assert_eq!(
            unsigned_integer(&[0x01, 0x00, 0x01]),
            Some(vec![0x02, 0x03, 0x01, 0x00, 0x01])
        );
    }

    #[test]
    fn zero_is_not_an_rsa_parameter() {
        assert_eq!(unsigned_integer(&[]), None);
        assert_eq!(unsigned_integer(&[0, 0]), None);
        assert_eq!(
            rsa_subject_public_key_info(&[0], &[1, 0, 1]),
            Err(JweError::InvalidPublicKey {
                reason: "n is zero"
            })
        );
        assert_eq!(
            rsa_subject_public_key_info(&[0xc1], &[]),
            Err(JweError::InvalidPublicKey {
                reason: "e is zero"
            })
        );
    }
}
