//! JSON Web Encryption (RFC 7516) in compact form, with the algorithms Finnish brokers use for
//! encrypted ID tokens: key management `RSA-OAEP` and `RSA-OAEP-256` (RFC 7518 §4.3), content
//! encryption `A128CBC-HS256`, `A256CBC-HS512` (§5.2) and `A128GCM`, `A256GCM` (§5.3), on aws-lc
//! primitives. Everything else (`RSA1_5`, `dir`, `none`, key wrapping, compression) is refused.
//!
//! [`decrypt`] opens a token with the service's private keys under allow-lists of algorithms;
//! [`encrypt`] makes one for a recipient's public key (the mock broker's side), and
//! [`rsa_public_key_from_jwk`] turns a JWK's `n`/`e` into such a key.

mod content;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The longest token [`decrypt`] looks at, in bytes. An encrypted ID token is a few kilobytes.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Key management algorithm (`alg` of a JWE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeyManagementAlg {
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1.
    #[serde(rename = "RSA-OAEP")]
    RsaOaep,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
    #[serde(rename = "RSA-OAEP-256")]
    RsaOaep256,
}

impl KeyManagementAlg {
    /// Every supported algorithm.
    pub const ALL: [KeyManagementAlg; 2] =
        [KeyManagementAlg::RsaOaep, KeyManagementAlg::RsaOaep256];

    /// The name used in JOSE headers and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyManagementAlg::RsaOaep => "RSA-OAEP",
            KeyManagementAlg::RsaOaep256 => "RSA-OAEP-256",
        }
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            KeyManagementAlg::RsaOaep => &OAEP_SHA1_MGF1SHA1,
            KeyManagementAlg::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

impl fmt::Display for KeyManagementAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyManagementAlg {
    type Err = JweError;

    /// Parses the JOSE name exactly (case-sensitive, as RFC 7518 registers it).
    fn from_str(name: &str) -> Result<Self, JweError> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == name)
            .ok_or_else(|| JweError::UnsupportedAlg { alg: shown(name) })
    }
}

/// Content encryption algorithm (`enc` of a JWE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ContentEncryption {
    /// AES-128-CBC with HMAC-SHA-256 truncated to 128 bits.
    #[serde(rename = "A128CBC-HS256")]
    A128CbcHs256,
    /// AES-256-CBC with HMAC-SHA-512 truncated to 256 bits.
    #[serde(rename = "A256CBC-HS512")]
    A256CbcHs512,
    /// AES-128-GCM.
    #[serde(rename = "A128GCM")]
    A128Gcm,
    /// AES-256-GCM.
    #[serde(rename = "A256GCM")]
    A256Gcm,
}

impl ContentEncryption {
    /// Every supported content encryption.
    pub const ALL: [ContentEncryption; 4] = [
        ContentEncryption::A128CbcHs256,
        ContentEncryption::A256CbcHs512,
        ContentEncryption::A128Gcm,
        ContentEncryption::A256Gcm,
    ];

    /// The name used in JOSE headers and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncryption::A128CbcHs256 => "A128CBC-HS256",
            ContentEncryption::A256CbcHs512 => "A256CBC-HS512",
            ContentEncryption::A128Gcm => "A128GCM",
            ContentEncryption::A256Gcm => "A256GCM",
        }
    }

    /// Length of the content encryption key in bytes (for CBC-HS: MAC key and AES key together).
    pub fn cek_len(self) -> usize {
        match self {
            ContentEncryption::A128CbcHs256 => 32,
            ContentEncryption::A256CbcHs512 => 64,
            ContentEncryption::A128Gcm => 16,
            ContentEncryption::A256Gcm => 32,
        }
    }

    /// Length of the initialization vector in bytes.
    pub fn iv_len(self) -> usize {
        match self {
            ContentEncryption::A128CbcHs256 | ContentEncryption::A256CbcHs512 => 16,
            ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => 12,
        }
    }

    /// Length of the authentication tag in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            ContentEncryption::A128CbcHs256 => 16,
            ContentEncryption::A256CbcHs512 => 32,
            ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => 16,
        }
    }
}

impl fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentEncryption {
    type Err = JweError;

    /// Parses the JOSE name exactly (case-sensitive, as RFC 7518 registers it).
    fn from_str(name: &str) -> Result<Self, JweError> {
        Self::ALL
            .into_iter()
            .find(|enc| enc.as_str() == name)
            .ok_or_else(|| JweError::UnsupportedEnc { enc: shown(name) })
    }
}

/// Why a JWE could not be decrypted or produced. Messages never contain key material or plaintext.
///
/// Every decryption error means the token must be rejected; the variants tell the log why. Values
/// copied from the token (`alg`, `enc`, `kid`) appear only when short and printable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    /// The token is longer than [`MAX_TOKEN_LEN`] and was not looked at; reject it.
    #[error("the token is {len} bytes long, more than the {max} accepted")]
    TooLarge { len: usize, max: usize },
    /// The token does not have the five dot-separated parts of a compact JWE; reject it (three
    /// parts mean a plain JWS where an encrypted token was required).
    #[error("a compact JWE has five parts, this token has {parts}")]
    NotFiveParts { parts: usize },
    /// A part is not unpadded base64url; reject the token.
    #[error("the {part} of the token is not unpadded base64url")]
    Base64 { part: &'static str },
    /// The protected header is not a JSON object; reject the token.
    #[error("the protected header is not a JSON object")]
    HeaderNotJson,
    /// The protected header lacks `alg` or `enc`; reject the token.
    #[error("the protected header has no `{name}`")]
    MissingHeaderParameter { name: &'static str },
    /// A header parameter that must be a string is not; reject the token.
    #[error("the header parameter `{name}` is not a string")]
    HeaderParameterNotString { name: &'static str },
    /// The `alg` is not RSA-OAEP or RSA-OAEP-256 (e.g. `RSA1_5`, `dir`, `none`); reject the token,
    /// or fix the configuration if this came from a setting.
    #[error("key management algorithm {alg:?} is not supported")]
    UnsupportedAlg { alg: String },
    /// The `enc` is not one of the four supported content encryptions; reject the token, or fix the
    /// configuration if this came from a setting.
    #[error("content encryption {enc:?} is not supported")]
    UnsupportedEnc { enc: String },
    /// The `alg` is supported but not in the caller's allow-list; reject the token (the broker uses
    /// another algorithm than the one registered for this client).
    #[error("key management algorithm {alg} is not allowed here")]
    AlgNotAllowed { alg: KeyManagementAlg },
    /// The `enc` is supported but not in the caller's allow-list; reject the token.
    #[error("content encryption {enc} is not allowed here")]
    EncNotAllowed { enc: ContentEncryption },
    /// The header asks for compressed content (`zip`); reject the token (compression before
    /// encryption leaks plaintext length patterns and is never needed for ID tokens).
    #[error("compressed content (`zip`) is not accepted")]
    Compressed,
    /// The header lists critical extensions (`crit`), none of which this implementation
    /// understands; reject the token as RFC 7516 §4.1.13 requires.
    #[error("the header lists critical extensions (`crit`) that are not understood")]
    CriticalHeader,
    /// The header's `kid` names none of the given keys; reject the token (the broker may be using
    /// a key the service never published, or an old key was removed too early).
    #[error("no decryption key has the kid {kid:?}")]
    UnknownKid { kid: String },
    /// None of the candidate keys could unwrap the content encryption key; reject the token.
    #[error("no decryption key could unwrap the content encryption key")]
    NoKeyDecrypts,
    /// The unwrapped content encryption key has the wrong length for `enc`; reject the token.
    #[error("the content encryption key is {actual} bytes, {enc} needs {expected}")]
    CekLength {
        enc: ContentEncryption,
        expected: usize,
        actual: usize,
    },
    /// The initialization vector has the wrong length for `enc`; reject the token.
    #[error("the initialization vector is {actual} bytes, {enc} needs {expected}")]
    IvLength {
        enc: ContentEncryption,
        expected: usize,
        actual: usize,
    },
    /// The authentication tag has the wrong length for `enc`; reject the token.
    #[error("the authentication tag is {actual} bytes, {enc} needs {expected}")]
    TagLength {
        enc: ContentEncryption,
        expected: usize,
        actual: usize,
    },
    /// The content failed authentication (tag mismatch) or did not decrypt; reject the token. The
    /// two are deliberately not told apart.
    #[error("the encrypted content failed authentication")]
    Authentication,
    /// The recipient's RSA public key could not be built; fix the JWK it came from.
    #[error("the RSA public key is not usable: {reason}")]
    InvalidPublicKey { reason: &'static str },
    /// The cryptographic library refused to encrypt; treat as an internal error.
    #[error("encryption failed in the cryptographic library")]
    EncryptionFailed,
}

/// The protected header of a decrypted JWE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JweHeader {
    /// How the content encryption key was wrapped.
    pub alg: KeyManagementAlg,
    /// How the content was encrypted.
    pub enc: ContentEncryption,
    /// The recipient key the sender chose, if named.
    pub kid: Option<String>,
    /// Content type of the plaintext; `JWT` when it is a nested (signed) token.
    pub cty: Option<String>,
    /// Media type of the whole JWE, if given.
    pub typ: Option<String>,
}

/// A private key that may decrypt, with the `kid` under which its public half was published.
#[derive(Debug, Clone, Copy)]
pub struct DecryptionKeyRef<'a> {
    /// The `kid` of the published public key.
    pub kid: &'a str,
    /// The private key.
    pub key: &'a PrivateDecryptingKey,
}

/// True when `token` has the five dot-separated parts of a compact JWE (a JWS has three).
pub fn is_compact_jwe(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 4
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
    if token.len() > MAX_TOKEN_LEN {
        return Err(JweError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::NotFiveParts { parts: parts.len() });
    };

    let header = parse_header(&decode_part(header_b64, "protected header")?)?;
    if !allowed_algs.contains(&header.alg) {
        return Err(JweError::AlgNotAllowed { alg: header.alg });
    }
    if !allowed_encs.contains(&header.enc) {
        return Err(JweError::EncNotAllowed { enc: header.enc });
    }

    let encrypted_key = decode_part(encrypted_key, "encrypted key")?;
    let iv = decode_part(iv, "initialization vector")?;
    let ciphertext = decode_part(ciphertext, "ciphertext")?;
    let tag = decode_part(tag, "authentication tag")?;
    // Cheap shape checks before any RSA work.
    content::check_iv_and_tag(header.enc, &iv, &tag)?;

    let cek = unwrap_cek(&header, keys, &encrypted_key)?;
    if cek.len() != header.enc.cek_len() {
        return Err(JweError::CekLength {
            enc: header.enc,
            expected: header.enc.cek_len(),
            actual: cek.len(),
        });
    }
    // The AAD is the ASCII of the protected header exactly as it appears in the token.
    let plaintext = content::decrypt(
        header.enc,
        &cek,
        &iv,
        header_b64.as_bytes(),
        &ciphertext,
        &tag,
    )?;
    Ok((header, plaintext))
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
    let header = serde_json::to_vec(&OutgoingHeader { alg, enc, kid, cty })
        .map_err(|_| JweError::EncryptionFailed)?;
    let header_b64 = URL_SAFE_NO_PAD.encode(header);

    let cek = content::random_cek(enc);
    let iv = content::random_iv(enc);
    let encrypted_key = wrap_cek(recipient, alg, &cek)?;
    let (ciphertext, tag) = content::encrypt(enc, &cek, &iv, header_b64.as_bytes(), plaintext)?;

    Ok([
        header_b64,
        URL_SAFE_NO_PAD.encode(encrypted_key),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag),
    ]
    .join("."))
}

/// The RSA public key of a JWK's base64url `n` and `e`, for [`encrypt`].
pub fn rsa_public_key_from_jwk(n: &str, e: &str) -> Result<PublicEncryptingKey, JweError> {
    let n = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| JweError::InvalidPublicKey {
            reason: "n is not unpadded base64url",
        })?;
    let e = URL_SAFE_NO_PAD
        .decode(e)
        .map_err(|_| JweError::InvalidPublicKey {
            reason: "e is not unpadded base64url",
        })?;
    let components = PublicKeyComponents {
        n: without_leading_zeros(&n).ok_or(JweError::InvalidPublicKey {
            reason: "n is zero",
        })?,
        e: without_leading_zeros(&e).ok_or(JweError::InvalidPublicKey {
            reason: "e is zero",
        })?,
    };
    components
        .try_into()
        .map_err(|_| JweError::InvalidPublicKey {
            reason: "not an acceptable RSA public key (2048 to 8192 bits)",
        })
}

/// A big-endian unsigned number without its leading zero bytes, the only form aws-lc takes RSA
/// components in. RFC 7518 §6.3.1.1 asks JWKs for the minimal form, but a stray leading zero is
/// common enough to tolerate. `None` for zero, which no RSA parameter is.
fn without_leading_zeros(bytes: &[u8]) -> Option<&[u8]> {
    let first = bytes.iter().position(|&byte| byte != 0)?;
    Some(&bytes[first..])
}

/// The header [`encrypt`] writes; `None` fields are left out.
#[derive(serde::Serialize)]
struct OutgoingHeader<'a> {
    alg: KeyManagementAlg,
    enc: ContentEncryption,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cty: Option<&'a str>,
}

fn decode_part(part: &str, name: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JweError::Base64 { part: name })
}

/// Reads the protected header, refusing what this implementation must not or cannot honour.
fn parse_header(json: &[u8]) -> Result<JweHeader, JweError> {
    let map: Map<String, Value> =
        serde_json::from_slice(json).map_err(|_| JweError::HeaderNotJson)?;
    if map.contains_key("crit") {
        return Err(JweError::CriticalHeader);
    }
    if map.contains_key("zip") {
        return Err(JweError::Compressed);
    }
    let alg = required_string(&map, "alg")?.parse()?;
    let enc = required_string(&map, "enc")?.parse()?;
    Ok(JweHeader {
        alg,
        enc,
        kid: optional_string(&map, "kid")?,
        cty: optional_string(&map, "cty")?,
        typ: optional_string(&map, "typ")?,
    })
}

fn required_string<'m>(
    map: &'m Map<String, Value>,
    name: &'static str,
) -> Result<&'m str, JweError> {
    match map.get(name) {
        None => Err(JweError::MissingHeaderParameter { name }),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(JweError::HeaderParameterNotString { name }),
    }
}

fn optional_string(
    map: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, JweError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(JweError::HeaderParameterNotString { name }),
    }
}

/// Unwraps the content encryption key with the key the header's `kid` names, or with each key in
/// turn when there is no `kid`. An OAEP unwrap that succeeds with a wrong key is practically
/// impossible, so the first success is the answer.
fn unwrap_cek(
    header: &JweHeader,
    keys: &[DecryptionKeyRef<'_>],
    encrypted_key: &[u8],
) -> Result<Vec<u8>, JweError> {
    let candidates: Vec<&DecryptionKeyRef<'_>> = match &header.kid {
        Some(kid) => {
            let named: Vec<_> = keys.iter().filter(|key| key.kid == kid).collect();
            if named.is_empty() {
                return Err(JweError::UnknownKid { kid: shown(kid) });
            }
            named
        }
        None => keys.iter().collect(),
    };
    candidates
        .into_iter()
        .find_map(|key| unwrap_with(key.key, header.alg, encrypted_key))
        .ok_or(JweError::NoKeyDecrypts)
}

fn unwrap_with(
    key: &PrivateDecryptingKey,
    alg: KeyManagementAlg,
    encrypted_key: &[u8],
) -> Option<Vec<u8>> {
    let key = OaepPrivateDecryptingKey::new(key.clone()).ok()?;
    let mut out = vec![0u8; key.min_output_size()];
    let cek = key
        .decrypt(alg.oaep(), encrypted_key, &mut out, None)
        .ok()?;
    Some(cek.to_vec())
}

fn wrap_cek(
    recipient: &PublicEncryptingKey,
    alg: KeyManagementAlg,
    cek: &[u8],
) -> Result<Vec<u8>, JweError> {
    let key =
        OaepPublicEncryptingKey::new(recipient.clone()).map_err(|_| JweError::EncryptionFailed)?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let wrapped = key
        .encrypt(alg.oaep(), cek, &mut out, None)
        .map_err(|_| JweError::EncryptionFailed)?;
    Ok(wrapped.to_vec())
}

/// A header value fit for an error message: short printable ASCII as is, anything else hidden, so
/// that a hostile token cannot put long or control-character text into logs.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    if value.len() <= MAX && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        value.to_owned()
    } else {
        "(not shown)".to_owned()
    }
}
