//! Content encryption: AES-CBC with HMAC-SHA-2 (RFC 7518 §5.2) and AES-GCM (§5.3).

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::{ContentEncryption, JweError};
use crate::random;

/// A fresh random content encryption key of the length `enc` needs.
pub(super) fn random_cek(enc: ContentEncryption) -> Vec<u8> {
    match enc {
        ContentEncryption::A128Gcm => random::bytes::<16>().to_vec(),
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256Gcm => {
            random::bytes::<32>().to_vec()
        }
        ContentEncryption::A256CbcHs512 => random::bytes::<64>().to_vec(),
    }
}

/// A fresh random initialization vector of the length `enc` needs.
pub(super) fn random_iv(enc: ContentEncryption) -> Vec<u8> {
    match enc {
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => random::bytes::<12>().to_vec(),
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            random::bytes::<16>().to_vec()
        }
    }
}

/// Refuses an IV or tag whose length does not fit `enc`.
pub(super) fn check_iv_and_tag(
    enc: ContentEncryption,
    iv: &[u8],
    tag: &[u8],
) -> Result<(), JweError> {
    if iv.len() != enc.iv_len() {
        return Err(JweError::IvLength {
            enc,
            expected: enc.iv_len(),
            actual: iv.len(),
        });
    }
    if tag.len() != enc.tag_len() {
        return Err(JweError::TagLength {
            enc,
            expected: enc.tag_len(),
            actual: tag.len(),
        });
    }
    Ok(())
}

/// Encrypts `plaintext` under `cek` and `iv`, authenticating `aad`. Returns ciphertext and tag.
pub(super) fn encrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), JweError> {
    check_cek(enc, cek)?;
    if iv.len() != enc.iv_len() {
        return Err(JweError::IvLength {
            enc,
            expected: enc.iv_len(),
            actual: iv.len(),
        });
    }
    match enc {
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            cbc_hmac_encrypt(enc, cek, iv, aad, plaintext)
        }
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => {
            gcm_encrypt(enc, cek, iv, aad, plaintext)
        }
    }
}

/// Checks the tag over `aad` and the ciphertext, then decrypts. Every failure after the length
/// checks is [`JweError::Authentication`].
pub(super) fn decrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, JweError> {
    check_cek(enc, cek)?;
    check_iv_and_tag(enc, iv, tag)?;
    match enc {
        ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => {
            cbc_hmac_decrypt(enc, cek, iv, aad, ciphertext, tag)
        }
        ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => {
            gcm_decrypt(enc, cek, iv, aad, ciphertext, tag)
        }
    }
}

fn check_cek(enc: ContentEncryption, cek: &[u8]) -> Result<(), JweError> {
    if cek.len() == enc.cek_len() {
        Ok(())
    } else {
        Err(JweError::CekLength {
            enc,
            expected: enc.cek_len(),
            actual: cek.len(),
        })
    }
}

/// The two halves of a CBC-HS key: MAC key first, encryption key second (§5.2.2.1), with the
/// matching HMAC and AES.
pub(super) fn cbc_hmac_parts(
    enc: ContentEncryption,
    cek: &[u8],
) -> (hmac::Key, &'static aws_lc_rs::cipher::Algorithm, &[u8]) {
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    let (mac_alg, aes) = match enc {
        ContentEncryption::A256CbcHs512 => (hmac::HMAC_SHA512, &AES_256),
        _ => (hmac::HMAC_SHA256, &AES_128),
    };
    (hmac::Key::new(mac_alg, mac_key), aes, enc_key)
}

/// HMAC over AAD || IV || ciphertext || AL, where AL is the AAD length in bits as a 64-bit
/// big-endian number, truncated to the first half (the tag length).
pub(super) fn cbc_hmac_tag(
    enc: ContentEncryption,
    mac_key: &hmac::Key,
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    let aad_bits = (aad.len() as u64).wrapping_mul(8);
    let mut mac = hmac::Context::with_key(mac_key);
    mac.update(aad);
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(&aad_bits.to_be_bytes());
    mac.sign().as_ref()[..enc.tag_len()].to_vec()
}

fn cbc_iv(enc: ContentEncryption, iv: &[u8]) -> Result<[u8; 16], JweError> {
    <[u8; 16]>::try_from(iv).map_err(|_| JweError::IvLength {
        enc,
        expected: 16,
        actual: iv.len(),
    })
}

fn cbc_hmac_encrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), JweError> {
    let (mac_key, aes, enc_key) = cbc_hmac_parts(enc, cek);
    let key = UnboundCipherKey::new(aes, enc_key)
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| JweError::EncryptionFailed)?;
    let mut ciphertext = plaintext.to_vec();
    key.less_safe_encrypt(
        &mut ciphertext,
        EncryptionContext::Iv128(FixedLength::from(cbc_iv(enc, iv)?)),
    )
    .map_err(|_| JweError::EncryptionFailed)?;
    let tag = cbc_hmac_tag(enc, &mac_key, aad, iv, &ciphertext);
    Ok((ciphertext, tag))
}

fn cbc_hmac_decrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, JweError> {
    let (mac_key, aes, enc_key) = cbc_hmac_parts(enc, cek);
    // MAC first, over the ciphertext: nothing is decrypted (so no padding is looked at) unless the
    // tag is right, which leaves no padding oracle.
    let expected = cbc_hmac_tag(enc, &mac_key, aad, iv, ciphertext);
    verify_slices_are_equal(&expected, tag).map_err(|_| JweError::Authentication)?;

    let key = UnboundCipherKey::new(aes, enc_key)
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| JweError::Authentication)?;
    let mut buffer = ciphertext.to_vec();
    let plaintext = key
        .decrypt(
            &mut buffer,
            DecryptionContext::Iv128(FixedLength::from(cbc_iv(enc, iv)?)),
        )
        .map_err(|_| JweError::Authentication)?;
    Ok(plaintext.to_vec())
}

fn gcm_key(
    enc: ContentEncryption,
    cek: &[u8],
) -> Result<LessSafeKey, aws_lc_rs::error::Unspecified> {
    let alg = match enc {
        ContentEncryption::A256Gcm => &AES_256_GCM,
        _ => &AES_128_GCM,
    };
    Ok(LessSafeKey::new(UnboundKey::new(alg, cek)?))
}

fn gcm_encrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), JweError> {
    let key = gcm_key(enc, cek).map_err(|_| JweError::EncryptionFailed)?;
    let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| JweError::EncryptionFailed)?;
    let mut ciphertext = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut ciphertext)
        .map_err(|_| JweError::EncryptionFailed)?;
    Ok((ciphertext, tag.as_ref().to_vec()))
}

fn gcm_decrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, JweError> {
    let key = gcm_key(enc, cek).map_err(|_| JweError::Authentication)?;
    let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| JweError::Authentication)?;
    let mut buffer = [ciphertext, tag].concat();
    let plaintext = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| JweError::Authentication)?;
    Ok(plaintext.to_vec())
}
