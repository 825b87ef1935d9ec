//! JSON Web Encryption (RFC 7516) in compact form, with the algorithms Finnish brokers use for
//! encrypted ID tokens: key management `RSA-OAEP` and `RSA-OAEP-256` (RFC 7518 §4.3), content
//! encryption `A128CBC-HS256`, `A256CBC-HS512` (§5.2) and `A128GCM`, `A256GCM` (§5.3), on aws-lc
//! primitives. Everything else (`RSA1_5`, `dir`, `none`, key wrapping, compression) is refused.

use aws_lc_rs::rsa::{PrivateDecryptingKey, PublicEncryptingKey};

/// Key management algorithm (`alg` of a JWE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeyManagementAlg {
    #[serde(rename = "RSA-OAEP")]
    RsaOaep,
    #[serde(rename = "RSA-OAEP-256")]
    RsaOaep256,
}

/// Content encryption algorithm (`enc` of a JWE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ContentEncryption {
    #[serde(rename = "A128CBC-HS256")]
    A128CbcHs256,
    #[serde(rename = "A256CBC-HS512")]
    A256CbcHs512,
    #[serde(rename = "A128GCM")]
    A128Gcm,
    #[serde(rename = "A256GCM")]
    A256Gcm,
}

/// Why a JWE could not be decrypted or produced. Messages never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    // variants: written with the implementation
}

/// The protected header of a decrypted JWE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JweHeader {
    pub alg: KeyManagementAlg,
    pub enc: ContentEncryption,
    pub kid: Option<String>,
    pub cty: Option<String>,
    pub typ: Option<String>,
}

/// A private key that may decrypt, with the `kid` under which its public half was published.
pub struct DecryptionKeyRef<'a> {
    pub kid: &'a str,
    pub key: &'a PrivateDecryptingKey,
}

/// True when `token` has the five dot-separated parts of a compact JWE (a JWS has three).
pub fn is_compact_jwe(token: &str) -> bool {
    todo!()
}

/// Decrypts a compact JWE.
///
/// The header's `alg` and `enc` must be in `allowed_algs` / `allowed_encs`. The key is chosen by the
/// header's `kid`; a `kid` that matches no key is an error. Without a `kid`, each key is tried in order.
/// Returns the header and the plaintext.
pub fn decrypt(
    token: &str,
    keys: &[DecryptionKeyRef<'_>],
    allowed_algs: &[KeyManagementAlg],
    allowed_encs: &[ContentEncryption],
) -> Result<(JweHeader, Vec<u8>), JweError> {
    todo!()
}

/// Encrypts `plaintext` to `recipient` as a compact JWE with header `{alg, enc, kid?, cty?}`.
/// Used by the mock broker to encrypt ID tokens the way real brokers do.
pub fn encrypt(
    plaintext: &[u8],
    recipient: &PublicEncryptingKey,
    kid: Option<&str>,
    alg: KeyManagementAlg,
    enc: ContentEncryption,
    cty: Option<&str>,
) -> Result<String, JweError> {
    todo!()
}

/// The RSA public key of a JWK's base64url `n` and `e`, for [`encrypt`].
pub fn rsa_public_key_from_jwk(n: &str, e: &str) -> Result<PublicEncryptingKey, JweError> {
    todo!()
}
