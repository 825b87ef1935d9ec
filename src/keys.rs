//! The service's own keys.
//!
//! Three keys, each in its own PEM file (PKCS#8) under `keys.dir`:
//! - `signing.pem`: signs request objects and client assertions (RSA ≥ 2048 for RS256/PS256, or
//!   P-256 for ES256);
//! - `encryption.pem`: the RSA key brokers encrypt ID tokens to; older `encryption-*.pem` files are
//!   kept so tokens encrypted to a retired key still decrypt;
//! - `entity.pem`: the long-lived key that signs the signed JWKS and the entity statement.
//!
//! Every key's `kid` is its RFC 7638 JWK thumbprint (SHA-256, base64url).

use std::path::Path;

use aws_lc_rs::rsa::PrivateDecryptingKey;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::oidc::jwe::{DecryptionKeyRef, KeyManagementAlg};

/// JWS algorithm for what the service signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum SigningAlg {
    RS256,
    PS256,
    ES256,
}

/// Why keys could not be generated, loaded, written or used. Messages name the file, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    // variants: written with the implementation
}

/// A private signing key with its `kid` and algorithm.
pub struct SigningKey {/* fields: written with the implementation */}

impl SigningKey {
    /// A new key for `alg`: RSA-2048 for RS256/PS256, P-256 for ES256.
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyError> {
        todo!()
    }
    /// Loads a PKCS#8 PEM (RSA keys also as PKCS#1) for `alg`; refuses a key that does not fit `alg`
    /// and RSA keys under 2048 bits.
    pub fn from_pem(pem: &str, alg: SigningAlg) -> Result<Self, KeyError> {
        todo!()
    }
    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> String {
        todo!()
    }
    pub fn kid(&self) -> &str {
        todo!()
    }
    pub fn alg(&self) -> SigningAlg {
        todo!()
    }
    /// The public JWK: `kty`, `kid`, `use: "sig"`, `alg`, and `n`/`e` or `crv`/`x`/`y`.
    pub fn public_jwk(&self) -> serde_json::Value {
        todo!()
    }
    /// A compact JWS of `claims` with header `{alg, kid, typ}`.
    pub fn sign_jwt<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        todo!()
    }
}

/// A private RSA key that ID tokens are encrypted to.
pub struct DecryptionKey {/* fields: written with the implementation */}

impl DecryptionKey {
    /// A new RSA-2048 key.
    pub fn generate() -> Result<Self, KeyError> {
        todo!()
    }
    /// Loads a PKCS#8 (or PKCS#1) RSA PEM of at least 2048 bits.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        todo!()
    }
    pub fn to_pem(&self) -> String {
        todo!()
    }
    pub fn kid(&self) -> &str {
        todo!()
    }
    pub fn key(&self) -> &PrivateDecryptingKey {
        todo!()
    }
    /// The public JWK: `kty: "RSA"`, `kid`, `use: "enc"`, `alg` (the key management algorithm), `n`, `e`.
    pub fn public_jwk(&self, alg: KeyManagementAlg) -> serde_json::Value {
        todo!()
    }
}

/// All of the service's keys.
pub struct ServiceKeys {
    /// Signs request objects and client assertions.
    pub signing: SigningKey,
    /// Decrypts ID tokens: the current key first, then older ones still accepted.
    pub encryption: Vec<DecryptionKey>,
    /// Signs the signed JWKS and the entity statement.
    pub entity: SigningKey,
}

impl ServiceKeys {
    /// Fresh keys in memory (development and tests). The entity key is RSA (RS256).
    pub fn generate(signing_alg: SigningAlg) -> Result<Self, KeyError> {
        todo!()
    }

    /// Writes new `signing.pem`, `encryption.pem`, `entity.pem` into `dir` (created if missing) with
    /// owner-only permissions. Refuses, writing nothing, if any of the three exists.
    pub fn write_new(dir: &Path, signing_alg: SigningAlg) -> Result<Self, KeyError> {
        todo!()
    }

    /// Loads `signing.pem`, `encryption.pem`, `entity.pem` and any `encryption-*.pem` (older keys,
    /// decryption only) from `dir`.
    pub fn load(dir: &Path, signing_alg: SigningAlg) -> Result<Self, KeyError> {
        todo!()
    }

    /// The keys that may decrypt, current first.
    pub fn decryption_keys(&self) -> Vec<DecryptionKeyRef<'_>> {
        todo!()
    }

    /// The public JWKS brokers use: the signing key and the current encryption key.
    pub fn public_jwks(&self, enc_alg: KeyManagementAlg) -> serde_json::Value {
        todo!()
    }

    /// The public JWKS signed by the entity key: header `typ: "jwk-set+jwt"`, payload
    /// `{iss, sub, iat, exp, keys}` with `iss = sub = entity_id`.
    pub fn signed_jwks(
        &self,
        entity_id: &str,
        enc_alg: KeyManagementAlg,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<String, KeyError> {
        todo!()
    }

    /// The entity statement: header `typ: "entity-statement+jwt"`, payload
    /// `{iss, sub, iat, exp, jwks: {keys: [entity key]}, metadata}` signed by the entity key.
    pub fn entity_statement(
        &self,
        entity_id: &str,
        metadata: serde_json::Value,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<String, KeyError> {
        todo!()
    }
}

/// The RFC 7638 thumbprint of a public JWK (RSA: `e`, `kty`, `n`; EC: `crv`, `kty`, `x`, `y`), SHA-256,
/// base64url without padding.
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Result<String, KeyError> {
    todo!()
}
