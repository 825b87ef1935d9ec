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
//!
//! [`SigningKey`] and [`DecryptionKey`] hold one key each; [`ServiceKeys`] holds all of them, writes
//! and loads the key directory, and produces the public JWKS, the signed JWKS and the entity
//! statement.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::pkcs8::Document;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, KeySize, PrivateDecryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use serde::Serialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::config::{ConfigError, Mode};
use crate::oidc::jwe::{DecryptionKeyRef, KeyManagementAlg};

/// `[keys]`
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Folder with `signing.pem`, `encryption.pem`, `entity.pem` (and older `encryption-*.pem`).
    /// Without it (development only) fresh keys are made at every start.
    pub dir: Option<PathBuf>,
    /// How long keys retired by `tunnus keys rotate activate` stay published (brokers cache the
    /// JWKS up to a day); a retired encryption key decrypts for as long as its file is kept.
    pub retired_published_for: crate::config::HumanDuration,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            dir: None,
            retired_published_for: crate::config::HumanDuration(std::time::Duration::from_secs(
                24 * 3600,
            )),
        }
    }
}

impl KeySettings {
    /// `serve` needs keys the broker knows: they come from files.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if mode == Mode::Serve && self.dir.is_none() {
            return Err(ConfigError::invalid(
                "keys.dir",
                "is required (create keys with `tunnus keys generate --out DIR`)",
            ));
        }
        Ok(())
    }
}

const SIGNING_FILE: &str = "signing.pem";
const ENCRYPTION_FILE: &str = "encryption.pem";
const ENTITY_FILE: &str = "entity.pem";
/// Prepared by `tunnus keys rotate prepare`: published, not yet used.
const NEXT_SIGNING_FILE: &str = "next-signing.pem";
const NEXT_ENCRYPTION_FILE: &str = "next-encryption.pem";
/// A signing key retired by `tunnus keys rotate activate`: `retired-signing-{kid}.pem`.
const RETIRED_SIGNING_PREFIX: &str = "retired-signing-";
const MIN_RSA_BITS: usize = 2048;

/// JWS algorithm for what the service signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum SigningAlg {
    RS256,
    PS256,
    ES256,
}

impl SigningAlg {
    /// The JOSE name (`"RS256"`, `"PS256"`, `"ES256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }

    /// The same algorithm as jsonwebtoken names it.
    pub fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::PS256 => jsonwebtoken::Algorithm::PS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    fn key_kind(self) -> KeyKind {
        match self {
            Self::RS256 | Self::PS256 => KeyKind::Rsa,
            Self::ES256 => KeyKind::EcP256,
        }
    }

    fn purpose(self) -> &'static str {
        match self {
            Self::RS256 => "RS256 signing",
            Self::PS256 => "PS256 signing",
            Self::ES256 => "ES256 signing",
        }
    }
}

/// Why keys could not be generated, loaded, written or used. Messages name the file, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file does not exist: create the keys with `tunnus keys generate` or correct `keys.dir`.
    #[error("key file {path} does not exist")]
    Missing { path: PathBuf },
    /// A key file or the key directory could not be read: check its owner and permissions.
    #[error("cannot read {path}: {error}")]
    Unreadable { path: PathBuf, error: io::Error },
    /// The content of the key file `path` is unusable for the reason in `problem`: replace the file.
    #[error("{path}: {problem}")]
    InFile {
        path: PathBuf,
        problem: Box<KeyError>,
    },
    /// The key file may be read or written by its group or others (permission bits in `mode`):
    /// make it the owner's alone with `chmod 600`.
    #[error("{}", crate::config::open_to_others_problem(.path, *.mode))]
    OpenToOthers { path: PathBuf, mode: u32 },
    /// The text holds no PEM private key: supply a PKCS#8 (`PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`) PEM.
    #[error("not a PEM private key")]
    NotPem,
    /// The PEM private key is encrypted: store it unencrypted, readable only by the service.
    #[error("the PEM private key is encrypted; an unencrypted key is required")]
    EncryptedPem,
    /// The PEM's content is not a valid key of the kind it claims: regenerate the key.
    #[error("the PEM does not hold a valid private key")]
    MalformedKey,
    /// The key (or JWK) is of a type the service does not use: use RSA, or EC P-256 for ES256.
    #[error("unsupported key type {found}")]
    UnsupportedKeyType { found: String },
    /// The key's type does not fit its use (`purpose`): an RSA key for RS256, PS256 and
    /// encryption, a P-256 key for ES256; change the key or the configured algorithm.
    #[error("a {found} key cannot be used for {purpose}")]
    KeyDoesNotFitAlg {
        found: &'static str,
        purpose: &'static str,
    },
    /// The RSA key is shorter than 2048 bits: generate a longer key.
    #[error("the RSA key has {bits} bits; at least 2048 are required")]
    RsaKeyTooSmall { bits: usize },
    /// A JWK lacks a member its thumbprint needs (or it is not a string): pass a complete public JWK.
    #[error("the JWK member {member} is missing or not a string")]
    JwkMember { member: &'static str },
    /// `write_new` found an existing key file and wrote nothing: move the old keys away first or
    /// choose another directory.
    #[error("{path} already exists; existing keys are never overwritten")]
    AlreadyExists { path: PathBuf },
    /// A key file or the key directory could not be written: check permissions and free space.
    #[error("cannot write {path}: {error}")]
    WriteFailed { path: PathBuf, error: io::Error },
    /// The cryptographic library failed to generate or export a key: the machine cannot do
    /// cryptography reliably; stop and investigate.
    #[error("the cryptographic library failed to {operation}")]
    Crypto { operation: &'static str },
}

impl KeyError {
    fn in_file(path: &Path, problem: KeyError) -> Self {
        Self::InFile {
            path: path.to_owned(),
            problem: Box::new(problem),
        }
    }
}

/// A private signing key with its `kid` and algorithm.
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    pkcs8: Pkcs8,
    signer: Signer,
    decoding: DecodingKey,
    jwk: Value,
}

/// The private key, parsed once: parsing and checking an RSA key (and setting up its blinding) costs
/// more than a signature with it.
enum Signer {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

impl SigningKey {
    /// A new key for `alg`: RSA-2048 for RS256/PS256, P-256 for ES256.
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyError> {
        let failed = KeyError::Crypto {
            operation: "generate a signing key",
        };
        match alg.key_kind() {
            KeyKind::Rsa => {
                let pair = rsa::KeyPair::generate(KeySize::Rsa2048).map_err(|_| failed)?;
                let pkcs8 = export_rsa(&pair)?;
                Self::from_pkcs8(pkcs8.as_ref(), alg)
            }
            KeyKind::EcP256 => {
                let pair =
                    EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| failed)?;
                let pkcs8 = export_ec(&pair)?;
                Self::from_pkcs8(pkcs8.as_ref(), alg)
            }
        }
    }

    /// Loads a PKCS#8 PEM (RSA keys also as PKCS#1) for `alg`; refuses a key that does not fit `alg`
    /// and RSA keys under 2048 bits.
    pub fn from_pem(pem: &str, alg: SigningAlg) -> Result<Self, KeyError> {
        Self::from_pkcs8(&pkcs8_from_pem(pem)?, alg)
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.pkcs8.as_ref())
    }

    /// The RFC 7638 thumbprint the public key is published under.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public JWK: `kty`, `kid`, `use: "sig"`, `alg`, and `n`/`e` or `crv`/`x`/`y`.
    pub fn public_jwk(&self) -> serde_json::Value {
        self.jwk.clone()
    }

    /// The public key, ready for `jsonwebtoken::decode` with [`SigningAlg::to_jsonwebtoken`]: lets a
    /// peer in the same process (the mock broker, tests) verify what this key signed.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The signature of `message` with this key's algorithm (JWS form: ECDSA as fixed-size `r‖s`).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = || KeyError::Crypto {
            operation: "sign a JWT",
        };
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let padding: &'static dyn aws_lc_rs::signature::RsaEncoding = match self.alg {
                    SigningAlg::PS256 => &aws_lc_rs::signature::RSA_PSS_SHA256,
                    _ => &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                };
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut signature)
                    .map_err(|_| failed())?;
                Ok(signature)
            }
            Signer::Ec(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| failed())?
                .as_ref()
                .to_vec()),
        }
    }

    /// A compact JWS of `claims` with header `{alg, kid, typ}`.
    pub fn sign_jwt<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Crypto {
            operation: "sign a JWT",
        })?;
        let mut jwt = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }

    fn from_pkcs8(der: &[u8], alg: SigningAlg) -> Result<Self, KeyError> {
        match (classify_pkcs8(der)?, alg.key_kind()) {
            (Pkcs8Kind::Rsa { pkcs1 }, KeyKind::Rsa) => Self::from_rsa(der, pkcs1, alg),
            (Pkcs8Kind::EcP256, KeyKind::EcP256) => Self::from_ec(der, alg),
            (Pkcs8Kind::Unsupported(found), _) => Err(KeyError::UnsupportedKeyType {
                found: found.to_owned(),
            }),
            (kind, _) => Err(KeyError::KeyDoesNotFitAlg {
                found: kind.name(),
                purpose: alg.purpose(),
            }),
        }
    }

    fn from_rsa(der: &[u8], pkcs1: &[u8], alg: SigningAlg) -> Result<Self, KeyError> {
        check_rsa_size(pkcs1)?;
        let pair = rsa::KeyPair::from_pkcs8(der).map_err(|_| KeyError::MalformedKey)?;
        let public = pair.public_key();
        let (n, e) = (
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        let members = json!({"kty": "RSA", "n": b64url(n), "e": b64url(e)});
        let decoding = DecodingKey::from_rsa_raw_components(n, e);
        Self::assemble(
            alg,
            Pkcs8::Rsa(export_rsa(&pair)?),
            Signer::Rsa(pair),
            decoding,
            members,
        )
    }

    fn from_ec(der: &[u8], alg: SigningAlg) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| KeyError::MalformedKey)?;
        // The public key is the uncompressed point 0x04 || x || y, 32 bytes each for P-256.
        let point = pair.public_key().as_ref();
        let (x, y) = match point {
            [0x04, xy @ ..] if xy.len() == 64 => xy.split_at(32),
            _ => return Err(KeyError::MalformedKey),
        };
        let members = json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)});
        let decoding = DecodingKey::from_ec_der(point);
        Self::assemble(
            alg,
            Pkcs8::Ec(export_ec(&pair)?),
            Signer::Ec(pair),
            decoding,
            members,
        )
    }

    /// Completes a key from its parts; `members` are the JWK members the thumbprint covers.
    fn assemble(
        alg: SigningAlg,
        pkcs8: Pkcs8,
        signer: Signer,
        decoding: DecodingKey,
        members: Value,
    ) -> Result<Self, KeyError> {
        let kid = jwk_thumbprint(&members)?;
        let jwk = with_members(
            members,
            [("kid", kid.as_str()), ("use", "sig"), ("alg", alg.as_str())],
        );
        Ok(Self {
            alg,
            kid,
            pkcs8,
            signer,
            decoding,
            jwk,
        })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A private RSA key that ID tokens are encrypted to.
pub struct DecryptionKey {
    kid: String,
    key: PrivateDecryptingKey,
    pkcs8: Pkcs8V1Der<'static>,
    n: String,
    e: String,
}

impl DecryptionKey {
    /// A new RSA-2048 key.
    pub fn generate() -> Result<Self, KeyError> {
        let key =
            PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(|_| KeyError::Crypto {
                operation: "generate an encryption key",
            })?;
        let pkcs8 = export_decryption_key(&key)?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// Loads a PKCS#8 (or PKCS#1) RSA PEM of at least 2048 bits.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_pkcs8(&pkcs8_from_pem(pem)?)
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.pkcs8.as_ref())
    }

    /// The RFC 7638 thumbprint the public key is published under.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, for decrypting the content encryption key of a JWE.
    pub fn key(&self) -> &PrivateDecryptingKey {
        &self.key
    }

    /// The public half, for encrypting to this key (the mock broker encrypts ID tokens with it).
    pub fn public_key(&self) -> PublicEncryptingKey {
        self.key.public_key()
    }

    /// The public JWK: `kty: "RSA"`, `kid`, `use: "enc"`, `alg` (the key management algorithm), `n`, `e`.
    pub fn public_jwk(&self, alg: KeyManagementAlg) -> serde_json::Value {
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "enc",
            "alg": key_management_alg_name(alg),
            "n": self.n,
            "e": self.e,
        })
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        match classify_pkcs8(der)? {
            Pkcs8Kind::Rsa { pkcs1 } => check_rsa_size(pkcs1)?,
            Pkcs8Kind::Unsupported(found) => {
                return Err(KeyError::UnsupportedKeyType {
                    found: found.to_owned(),
                });
            }
            kind => {
                return Err(KeyError::KeyDoesNotFitAlg {
                    found: kind.name(),
                    purpose: "ID-token encryption",
                });
            }
        }
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| KeyError::MalformedKey)?;
        // The decrypting key does not expose n and e; the same PKCS#8 read as a key pair does.
        let pair = rsa::KeyPair::from_pkcs8(der).map_err(|_| KeyError::MalformedKey)?;
        let public = pair.public_key();
        let n = b64url(public.modulus().big_endian_without_leading_zero());
        let e = b64url(public.exponent().big_endian_without_leading_zero());
        let kid = jwk_thumbprint(&json!({"kty": "RSA", "n": n, "e": e}))?;
        Ok(Self {
            kid,
            pkcs8: export_decryption_key(&key)?,
            key,
            n,
            e,
        })
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// All of the service's keys.
pub struct ServiceKeys {
    /// Signs request objects and client assertions.
    pub signing: SigningKey,
    /// Decrypts ID tokens: the current key first, then the prepared next one, then older ones
    /// still accepted.
    pub encryption: Vec<DecryptionKey>,
    /// Signs the signed JWKS and the entity statement.
    pub entity: SigningKey,
    /// Keys of a rotation in progress: the next ones (published before they are used, so that
    /// brokers caching the JWKS know them in time) and the retired ones (published for a while
    /// after).
    pub rotation: Rotation,
}

/// The keys of a rotation in progress, by `tunnus keys rotate`.
#[derive(Default)]
pub struct Rotation {
    /// `next-signing.pem`.
    pub next_signing: Option<SigningKey>,
    /// The `kid` of `next-encryption.pem` (the key itself decrypts, in [`ServiceKeys::encryption`]).
    pub next_encryption: Option<String>,
    /// Retired keys' public JWKs (signing ones with their `alg`, encryption ones without) and
    /// when they were retired.
    pub retired: Vec<Retired>,
}

/// A retired key, still published for a while.
pub struct Retired {
    pub signing: Option<SigningKey>,
    /// The `kid` of a retired encryption key.
    pub encryption: Option<String>,
    pub retired_at: OffsetDateTime,
}

impl ServiceKeys {
    /// Fresh keys in memory (development and tests). The entity key is RSA (RS256).
    pub fn generate(signing_alg: SigningAlg) -> Result<Self, KeyError> {
        Ok(Self {
            signing: SigningKey::generate(signing_alg)?,
            encryption: vec![DecryptionKey::generate()?],
            entity: SigningKey::generate(SigningAlg::RS256)?,
            rotation: Rotation::default(),
        })
    }

    /// Writes new `signing.pem`, `encryption.pem`, `entity.pem` into `dir` (created if missing) with
    /// owner-only permissions. Refuses, writing nothing, if any of the three exists.
    pub fn write_new(dir: &Path, signing_alg: SigningAlg) -> Result<Self, KeyError> {
        let paths = [SIGNING_FILE, ENCRYPTION_FILE, ENTITY_FILE].map(|name| dir.join(name));
        for path in &paths {
            refuse_existing(path)?;
        }
        let signing = SigningKey::generate(signing_alg)?;
        let encryption = DecryptionKey::generate()?;
        let entity = SigningKey::generate(SigningAlg::RS256)?;
        let pems = [signing.to_pem(), encryption.to_pem(), entity.to_pem()];
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|error| KeyError::WriteFailed {
                path: dir.to_owned(),
                error,
            })?;
        for (index, (path, pem)) in paths.iter().zip(&pems).enumerate() {
            if let Err(error) = write_private_file(path, pem) {
                // Leave no partial key set behind; a failed removal changes nothing for the caller.
                for written in &paths[..index] {
                    let _ = fs::remove_file(written);
                }
                return Err(error);
            }
        }
        Ok(Self {
            signing,
            encryption: vec![encryption],
            entity,
            rotation: Rotation::default(),
        })
    }

    /// Loads `signing.pem`, `encryption.pem`, `entity.pem`, any `encryption-*.pem` (older keys,
    /// decryption only), and the keys of a rotation in progress (`next-*.pem`,
    /// `retired-signing-*.pem`) from `dir`.
    ///
    /// Decryption keys: the current one, the prepared next one, then older ones in the order of
    /// their file names.
    pub fn load(dir: &Path, signing_alg: SigningAlg) -> Result<Self, KeyError> {
        let signing = load_key_file(&dir.join(SIGNING_FILE), |pem| {
            SigningKey::from_pem(pem, signing_alg)
        })?;
        let mut encryption = vec![load_key_file(
            &dir.join(ENCRYPTION_FILE),
            DecryptionKey::from_pem,
        )?];
        let mut rotation = Rotation::default();
        if dir.join(NEXT_SIGNING_FILE).exists() {
            rotation.next_signing = Some(load_key_file(&dir.join(NEXT_SIGNING_FILE), |pem| {
                SigningKey::from_pem(pem, signing_alg)
            })?);
        }
        if dir.join(NEXT_ENCRYPTION_FILE).exists() {
            let next = load_key_file(&dir.join(NEXT_ENCRYPTION_FILE), DecryptionKey::from_pem)?;
            rotation.next_encryption = Some(next.kid().to_owned());
            encryption.push(next);
        }
        for path in older_encryption_files(dir)? {
            let key = load_key_file(&path, DecryptionKey::from_pem)?;
            rotation.retired.push(Retired {
                signing: None,
                encryption: Some(key.kid().to_owned()),
                retired_at: modified(&path)?,
            });
            encryption.push(key);
        }
        for path in files_starting_with(dir, RETIRED_SIGNING_PREFIX)? {
            let key = load_key_file(&path, |pem| SigningKey::from_pem(pem, signing_alg))?;
            rotation.retired.push(Retired {
                signing: Some(key),
                encryption: None,
                retired_at: modified(&path)?,
            });
        }
        let entity = load_key_file(&dir.join(ENTITY_FILE), |pem| {
            SigningKey::from_pem(pem, SigningAlg::RS256)
        })?;
        Ok(Self {
            signing,
            encryption,
            entity,
            rotation,
        })
    }

    /// Starts a rotation: writes `next-signing.pem` and `next-encryption.pem`, which are published
    /// at once and used only after [`ServiceKeys::activate_rotation`]. Refuses, writing nothing,
    /// when a rotation is already prepared. Returns the new keys' `kid`s.
    pub fn prepare_rotation(
        dir: &Path,
        signing_alg: SigningAlg,
    ) -> Result<(String, String), KeyError> {
        let paths = [NEXT_SIGNING_FILE, NEXT_ENCRYPTION_FILE].map(|name| dir.join(name));
        for path in &paths {
            refuse_existing(path)?;
        }
        let signing = SigningKey::generate(signing_alg)?;
        let encryption = DecryptionKey::generate()?;
        write_private_file(&paths[0], &signing.to_pem())?;
        if let Err(error) = write_private_file(&paths[1], &encryption.to_pem()) {
            let _ = fs::remove_file(&paths[0]);
            return Err(error);
        }
        Ok((signing.kid().to_owned(), encryption.kid().to_owned()))
    }

    /// Finishes a prepared rotation: the next keys become the current ones; the current signing
    /// key becomes `retired-signing-{kid}.pem` and the current encryption key
    /// `encryption-{kid}.pem` (it keeps decrypting what brokers still encrypt to it), both
    /// published for `keys.retired_published_for` from now.
    pub fn activate_rotation(dir: &Path, signing_alg: SigningAlg) -> Result<(), KeyError> {
        let next_signing = dir.join(NEXT_SIGNING_FILE);
        let next_encryption = dir.join(NEXT_ENCRYPTION_FILE);
        for path in [&next_signing, &next_encryption] {
            if !path.exists() {
                return Err(KeyError::Missing { path: path.clone() });
            }
        }
        // Everything is read first: a broken file stops the rotation before anything moves.
        let current = Self::load(dir, signing_alg)?;
        let retired_signing = dir.join(format!(
            "{RETIRED_SIGNING_PREFIX}{}.pem",
            current.signing.kid()
        ));
        let retired_encryption = dir.join(format!(
            "encryption-{}.pem",
            current
                .encryption
                .first()
                .map(DecryptionKey::kid)
                .unwrap_or_default()
        ));
        for path in [&retired_signing, &retired_encryption] {
            refuse_existing(path)?;
        }
        let moves = [
            (dir.join(SIGNING_FILE), retired_signing.clone()),
            (dir.join(ENCRYPTION_FILE), retired_encryption.clone()),
            (next_signing, dir.join(SIGNING_FILE)),
            (next_encryption, dir.join(ENCRYPTION_FILE)),
        ];
        for (from, to) in &moves {
            fs::rename(from, to).map_err(|error| KeyError::WriteFailed {
                path: to.clone(),
                error,
            })?;
        }
        // The retirement time is the file's modification time.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        for path in [&retired_signing, &retired_encryption] {
            fs::File::options()
                .write(true)
                .open(path)
                .and_then(|file| file.set_modified(now))
                .map_err(|error| KeyError::WriteFailed {
                    path: path.clone(),
                    error,
                })?;
        }
        Ok(())
    }

    /// The keys that may decrypt, current first.
    pub fn decryption_keys(&self) -> Vec<DecryptionKeyRef<'_>> {
        self.encryption
            .iter()
            .map(|key| DecryptionKeyRef {
                kid: key.kid(),
                key: key.key(),
            })
            .collect()
    }

    /// The public JWKS brokers use: the signing key and the current encryption key first, then
    /// the next ones of a prepared rotation (so a broker that caches the JWKS knows them before
    /// they are used).
    ///
    /// Older encryption keys are not published: brokers must stop encrypting to them.
    pub fn public_jwks(&self, enc_alg: KeyManagementAlg) -> serde_json::Value {
        let mut keys = vec![self.signing.public_jwk()];
        keys.extend(self.encryption.first().map(|key| key.public_jwk(enc_alg)));
        keys.extend(
            self.rotation
                .next_signing
                .as_ref()
                .map(SigningKey::public_jwk),
        );
        if let Some(kid) = &self.rotation.next_encryption
            && let Some(key) = self.encryption.iter().find(|key| key.kid() == kid)
        {
            keys.push(key.public_jwk(enc_alg));
        }
        json!({ "keys": keys })
    }

    /// The JWKS the service serves at `now`: [`ServiceKeys::public_jwks`] and the keys retired
    /// less than `retired_for` ago, last.
    pub fn published_jwks(
        &self,
        enc_alg: KeyManagementAlg,
        now: OffsetDateTime,
        retired_for: std::time::Duration,
    ) -> serde_json::Value {
        let mut jwks = self.public_jwks(enc_alg);
        let Some(keys) = jwks["keys"].as_array_mut() else {
            return jwks;
        };
        let published = self
            .rotation
            .retired
            .iter()
            .filter(|retired| retired.retired_at + retired_for > now);
        // Signing keys first, as for the current keys.
        for retired in published.clone() {
            if let Some(key) = &retired.signing {
                keys.push(key.public_jwk());
            }
        }
        for retired in published {
            if let Some(kid) = &retired.encryption
                && let Some(key) = self.encryption.iter().find(|key| key.kid() == kid)
            {
                keys.push(key.public_jwk(enc_alg));
            }
        }
        jwks
    }

    /// The published JWKS ([`ServiceKeys::published_jwks`]) signed by the entity key: header
    /// `typ: "jwk-set+jwt"`, payload
    /// `{iss, sub, iat, exp, keys}` with `iss = sub = entity_id`.
    pub fn signed_jwks(
        &self,
        entity_id: &str,
        enc_alg: KeyManagementAlg,
        now: OffsetDateTime,
        lifetime: Duration,
        retired_for: std::time::Duration,
    ) -> Result<String, KeyError> {
        let mut jwks = self.published_jwks(enc_alg, now, retired_for);
        let claims = json!({
            "iss": entity_id,
            "sub": entity_id,
            "iat": now.unix_timestamp(),
            "exp": now.saturating_add(lifetime).unix_timestamp(),
            "keys": jwks["keys"].take(),
        });
        self.entity.sign_jwt("jwk-set+jwt", &claims)
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
        let claims = json!({
            "iss": entity_id,
            "sub": entity_id,
            "iat": now.unix_timestamp(),
            "exp": now.saturating_add(lifetime).unix_timestamp(),
            "jwks": { "keys": [self.entity.public_jwk()] },
            "metadata": metadata,
        });
        self.entity.sign_jwt("entity-statement+jwt", &claims)
    }
}

/// The RFC 7638 thumbprint of a public JWK (RSA: `e`, `kty`, `n`; EC: `crv`, `kty`, `x`, `y`), SHA-256,
/// base64url without padding.
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Result<String, KeyError> {
    let member = |name: &'static str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or(KeyError::JwkMember { member: name })
    };
    let required: &[&'static str] = match member("kty")? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        other => {
            return Err(KeyError::UnsupportedKeyType {
                found: format!("JWK kty {other:?}"),
            });
        }
    };
    // `required` is in lexicographic order and compact JSON has no whitespace: exactly the
    // canonical form of RFC 7638 §3.2.
    let mut canonical = serde_json::Map::new();
    for name in required {
        canonical.insert((*name).to_owned(), Value::from(member(name)?));
    }
    let text = Value::Object(canonical).to_string();
    Ok(b64url(digest(&SHA256, text.as_bytes()).as_ref()))
}

/// The key management algorithm's JOSE name.
fn key_management_alg_name(alg: KeyManagementAlg) -> &'static str {
    match alg {
        KeyManagementAlg::RsaOaep => "RSA-OAEP",
        KeyManagementAlg::RsaOaep256 => "RSA-OAEP-256",
    }
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `members` (a JSON object) with more string members added.
fn with_members<const N: usize>(mut members: Value, extra: [(&str, &str); N]) -> Value {
    if let Some(object) = members.as_object_mut() {
        for (name, value) in extra {
            object.insert(name.to_owned(), Value::from(value));
        }
    }
    members
}

/// The kinds of key the service can use.
#[derive(Clone, Copy)]
enum KeyKind {
    Rsa,
    EcP256,
}

/// PKCS#8 DER as exported by aws-lc, in buffers that aws-lc wipes when they are dropped.
enum Pkcs8 {
    Rsa(Pkcs8V1Der<'static>),
    Ec(Document),
}

impl AsRef<[u8]> for Pkcs8 {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Rsa(der) => der.as_ref(),
            Self::Ec(document) => document.as_ref(),
        }
    }
}

fn export_rsa(pair: &rsa::KeyPair) -> Result<Pkcs8V1Der<'static>, KeyError> {
    pair.as_der().map_err(|_| KeyError::Crypto {
        operation: "export an RSA key",
    })
}

fn export_ec(pair: &EcdsaKeyPair) -> Result<Document, KeyError> {
    pair.to_pkcs8v1().map_err(|_| KeyError::Crypto {
        operation: "export an EC key",
    })
}

fn export_decryption_key(key: &PrivateDecryptingKey) -> Result<Pkcs8V1Der<'static>, KeyError> {
    key.as_der().map_err(|_| KeyError::Crypto {
        operation: "export an RSA key",
    })
}

// ---- PEM ----

/// The private key in `pem` as PKCS#8 DER. PKCS#1 (`RSA PRIVATE KEY`) is converted; encrypted keys
/// are refused. Blocks before the first private key (e.g. `EC PARAMETERS`) are skipped.
fn pkcs8_from_pem(pem: &str) -> Result<Vec<u8>, KeyError> {
    let mut lines = pem.lines().map(str::trim);
    let label = lines
        .by_ref()
        .filter_map(|line| line.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .find(|label| label.ends_with("PRIVATE KEY"))
        .ok_or(KeyError::NotPem)?;
    if label == "ENCRYPTED PRIVATE KEY" {
        return Err(KeyError::EncryptedPem);
    }
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: …`) only appear on encrypted keys.
        if line.contains(':') {
            return Err(KeyError::EncryptedPem);
        }
        body.push_str(line);
    }
    if !ended {
        return Err(KeyError::NotPem);
    }
    let der = STANDARD.decode(body).map_err(|_| KeyError::NotPem)?;
    match label {
        "PRIVATE KEY" => Ok(der),
        "RSA PRIVATE KEY" => pkcs1_to_pkcs8(&der),
        other => Err(KeyError::UnsupportedKeyType {
            found: format!("PEM {other:?}"),
        }),
    }
}

fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Vec<u8>, KeyError> {
    check_rsa_size(pkcs1)?;
    let pair = rsa::KeyPair::from_der(pkcs1).map_err(|_| KeyError::MalformedKey)?;
    Ok(export_rsa(&pair)?.as_ref().to_vec())
}

/// `der` as PEM with 64-character base64 lines (RFC 7468).
fn pem_encode(label: &str, der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for (index, character) in base64.chars().enumerate() {
        if index > 0 && index % 64 == 0 {
            pem.push('\n');
        }
        pem.push(character);
    }
    pem.push_str(&format!("\n-----END {label}-----\n"));
    pem
}

// ---- DER, just enough to tell which key a PKCS#8 holds ----

const DER_INTEGER: u8 = 0x02;
const DER_OCTET_STRING: u8 = 0x04;
const DER_OID: u8 = 0x06;
const DER_SEQUENCE: u8 = 0x30;

// Object identifiers, DER contents only.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]; // 1.2.840.113549.1.1.1
const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]; // 1.2.840.113549.1.1.10
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]; // 1.2.840.10045.2.1
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]; // 1.2.840.10045.3.1.7
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22]; // 1.3.132.0.34
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23]; // 1.3.132.0.35
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70]; // 1.3.101.112

/// What a PKCS#8 `PrivateKeyInfo` holds.
enum Pkcs8Kind<'a> {
    Rsa { pkcs1: &'a [u8] },
    EcP256,
    Unsupported(&'static str),
}

impl Pkcs8Kind<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RSA",
            Self::EcP256 => "EC P-256",
            Self::Unsupported(name) => name,
        }
    }
}

/// Reads `PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, … }`
/// (RFC 5208) far enough to name the key type; the crypto library validates the key itself.
fn classify_pkcs8(der: &[u8]) -> Result<Pkcs8Kind<'_>, KeyError> {
    let malformed = || KeyError::MalformedKey;
    let (info, _) = der_element(der, DER_SEQUENCE).ok_or_else(malformed)?;
    let (_version, rest) = der_element(info, DER_INTEGER).ok_or_else(malformed)?;
    let (algorithm, rest) = der_element(rest, DER_SEQUENCE).ok_or_else(malformed)?;
    let (private_key, _) = der_element(rest, DER_OCTET_STRING).ok_or_else(malformed)?;
    let (oid, parameters) = der_element(algorithm, DER_OID).ok_or_else(malformed)?;
    Ok(match oid {
        OID_RSA_ENCRYPTION => Pkcs8Kind::Rsa { pkcs1: private_key },
        OID_RSASSA_PSS => Pkcs8Kind::Unsupported("RSASSA-PSS-restricted RSA"),
        OID_ED25519 => Pkcs8Kind::Unsupported("Ed25519"),
        OID_EC_PUBLIC_KEY => match der_element(parameters, DER_OID).map(|(curve, _)| curve) {
            Some(OID_P256) => Pkcs8Kind::EcP256,
            Some(OID_P384) => Pkcs8Kind::Unsupported("EC P-384"),
            Some(OID_P521) => Pkcs8Kind::Unsupported("EC P-521"),
            _ => Pkcs8Kind::Unsupported("EC on another curve"),
        },
        _ => Pkcs8Kind::Unsupported("unknown"),
    })
}

/// Refuses RSA keys under 2048 bits, reading the modulus of
/// `RSAPrivateKey ::= SEQUENCE { version, modulus INTEGER, … }` (RFC 8017).
fn check_rsa_size(pkcs1: &[u8]) -> Result<(), KeyError> {
    let modulus = der_element(pkcs1, DER_SEQUENCE)
        .and_then(|(key, _)| der_element(key, DER_INTEGER))
        .and_then(|(_version, rest)| der_element(rest, DER_INTEGER))
        .map(|(modulus, _)| modulus)
        .ok_or(KeyError::MalformedKey)?;
    let significant = match modulus.iter().position(|&byte| byte != 0) {
        Some(start) => &modulus[start..],
        None => &[],
    };
    let bits = significant.first().map_or(0, |&first| {
        significant.len() * 8 - first.leading_zeros() as usize
    });
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaKeyTooSmall { bits });
    }
    Ok(())
}

/// The contents of the DER element at the start of `input` if its tag is `tag`, and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        let length = bytes
            .iter()
            .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
        (length, rest)
    };
    rest.split_at_checked(length)
}

// ---- Files ----

fn refuse_existing(path: &Path) -> Result<(), KeyError> {
    // symlink_metadata: a dangling symlink is an existing entry too, and must not be written through.
    match fs::symlink_metadata(path) {
        Ok(_) => Err(KeyError::AlreadyExists {
            path: path.to_owned(),
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(KeyError::Unreadable {
            path: path.to_owned(),
            error,
        }),
    }
}

/// Creates `path` (never replacing an existing file) readable only by its owner, and writes `pem`.
fn write_private_file(path: &Path, pem: &str) -> Result<(), KeyError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| match error.kind() {
            io::ErrorKind::AlreadyExists => KeyError::AlreadyExists {
                path: path.to_owned(),
            },
            _ => KeyError::WriteFailed {
                path: path.to_owned(),
                error,
            },
        })?;
    if let Err(error) = file
        .write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
    {
        let _ = fs::remove_file(path);
        return Err(KeyError::WriteFailed {
            path: path.to_owned(),
            error,
        });
    }
    Ok(())
}

/// Reads the key file at `path` and parses it; every error names the file. A file its group or
/// others may read or write is refused unread.
fn load_key_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, KeyError>,
) -> Result<T, KeyError> {
    let unreadable = |error: io::Error| KeyError::Unreadable {
        path: path.to_owned(),
        error,
    };
    let mut file = fs::File::open(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => KeyError::Missing {
            path: path.to_owned(),
        },
        _ => unreadable(error),
    })?;
    let mode = file.metadata().map_err(unreadable)?.permissions().mode();
    if crate::config::open_to_others(mode) {
        return Err(KeyError::OpenToOthers {
            path: path.to_owned(),
            mode,
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    let text = String::from_utf8(bytes).map_err(|_| KeyError::in_file(path, KeyError::NotPem))?;
    parse(&text).map_err(|problem| KeyError::in_file(path, problem))
}

/// The `encryption-*.pem` files in `dir`, sorted by name.
fn older_encryption_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    files_starting_with(dir, "encryption-")
}

/// The `.pem` files in `dir` whose names start with `prefix`, in name order.
fn files_starting_with(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, KeyError> {
    let unreadable = |error| KeyError::Unreadable {
        path: dir.to_owned(),
        error,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        let matches = name
            .to_str()
            .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".pem"));
        if matches {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

/// When the file at `path` was last changed: for a retired key, when it was retired.
fn modified(path: &Path) -> Result<OffsetDateTime, KeyError> {
    fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .map(OffsetDateTime::from)
        .map_err(|error| KeyError::Unreadable {
            path: path.to_owned(),
            error,
        })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use anyhow::{Context, Result};
    use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PublicKeyComponents};
    use josekit::jwk::KeyPair as _;
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    use jsonwebtoken::{Algorithm, Validation};
    use time::macros::datetime;

    use super::*;

    const ALL_ALGS: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256];

    /// A directory of its own under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Result<Self> {
            let path = std::env::temp_dir().join(format!(
                "tunnus-keys-test-{}-{}",
                std::process::id(),
                crate::random::token()
            ));
            fs::create_dir(&path)?;
            Ok(Self(path))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes a key file as `keys generate` does: readable by its owner only.
    fn write_owner_only(path: &Path, contents: impl AsRef<[u8]>) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?
            .write_all(contents.as_ref())
    }

    fn decoding_key_from(jwk: &Value) -> Result<DecodingKey> {
        let jwk: Jwk = serde_json::from_value(jwk.clone())?;
        Ok(DecodingKey::from_jwk(&jwk)?)
    }

    /// Verifies a signature and the header's `alg`, nothing about the claims' times.
    fn verify(
        token: &str,
        jwk: &Value,
        alg: Algorithm,
    ) -> jsonwebtoken::errors::Result<jsonwebtoken::TokenData<Value>> {
        let key = match decoding_key_from(jwk) {
            Ok(key) => key,
            Err(_) => return Err(ErrorKind::InvalidKeyFormat.into()),
        };
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &key, &validation)
    }

    fn problem_in(error: KeyError) -> (PathBuf, KeyError) {
        match error {
            KeyError::InFile { path, problem } => (path, *problem),
            other => panic!("expected an error naming a file, got {other:?}"),
        }
    }

    fn josekit_pem(pem: Vec<u8>) -> Result<String> {
        Ok(String::from_utf8(pem)?)
    }

    #[test]
    fn thumbprint_matches_the_rfc_7638_example() -> Result<()> {
        // RFC 7638 §3.1; `alg` and `kid` are not part of the thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk)?,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        Ok(())
    }

    #[test]
    fn thumbprint_of_an_incomplete_or_foreign_jwk_is_refused() {
        let no_n = json!({"kty": "RSA", "e": "AQAB"});
        assert!(matches!(
            jwk_thumbprint(&no_n),
            Err(KeyError::JwkMember { member: "n" })
        ));
        let numeric_y = json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": 1});
        assert!(matches!(
            jwk_thumbprint(&numeric_y),
            Err(KeyError::JwkMember { member: "y" })
        ));
        let no_kty = json!({"n": "AA", "e": "AQAB"});
        assert!(matches!(
            jwk_thumbprint(&no_kty),
            Err(KeyError::JwkMember { member: "kty" })
        ));
        let symmetric = json!({"kty": "oct", "k": "AAAA"});
        assert!(matches!(
            jwk_thumbprint(&symmetric),
            Err(KeyError::UnsupportedKeyType { .. })
        ));
    }

    #[test]
    fn kid_agrees_with_jsonwebtokens_thumbprint() -> Result<()> {
        for alg in ALL_ALGS {
            let key = SigningKey::generate(alg)?;
            let jwk: Jwk = serde_json::from_value(key.public_jwk())?;
            assert_eq!(
                key.kid(),
                jwk.thumbprint(ThumbprintHash::SHA256)?,
                "{alg:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn signing_key_survives_a_pem_round_trip() -> Result<()> {
        for alg in ALL_ALGS {
            let key = SigningKey::generate(alg)?;
            let pem = key.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            assert!(pem.lines().all(|line| line.len() <= 64));
            let loaded = SigningKey::from_pem(&pem, alg)?;
            assert_eq!(loaded.kid(), key.kid(), "{alg:?}");
            assert_eq!(loaded.alg(), alg);
            assert_eq!(loaded.public_jwk(), key.public_jwk());
        }
        Ok(())
    }

    #[test]
    fn written_pem_is_readable_by_josekit() -> Result<()> {
        let rsa = SigningKey::generate(SigningAlg::RS256)?.to_pem();
        josekit::jws::RS256.signer_from_pem(&rsa)?;
        josekit::jwe::RSA_OAEP.decrypter_from_pem(DecryptionKey::generate()?.to_pem())?;
        let ec = SigningKey::generate(SigningAlg::ES256)?.to_pem();
        josekit::jws::ES256.signer_from_pem(&ec)?;
        Ok(())
    }

    #[test]
    fn public_jwk_has_the_published_members() -> Result<()> {
        let rsa = SigningKey::generate(SigningAlg::PS256)?.public_jwk();
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["use"], "sig");
        assert_eq!(rsa["alg"], "PS256");
        assert_eq!(rsa["e"], "AQAB");
        // 2048 bits are 256 bytes: 342 base64url characters.
        assert_eq!(rsa["n"].as_str().map(str::len), Some(342));
        let ec = SigningKey::generate(SigningAlg::ES256)?.public_jwk();
        assert_eq!(ec["kty"], "EC");
        assert_eq!(ec["crv"], "P-256");
        assert_eq!(ec["alg"], "ES256");
        assert_eq!(ec["x"].as_str().map(str::len), Some(43));
        assert_eq!(ec["y"].as_str().map(str::len), Some(43));
        assert!(ec.get("d").is_none() && rsa.get("d").is_none());
        Ok(())
    }

    #[test]
    fn public_jwk_of_a_loaded_key_matches_josekits_reading_of_it() -> Result<()> {
        let rsa = josekit::jws::RS256.generate_key_pair(2048)?;
        let key = SigningKey::from_pem(&josekit_pem(rsa.to_pem_private_key())?, SigningAlg::RS256)?;
        let theirs = rsa.to_jwk_public_key();
        assert_eq!(Some(&key.public_jwk()["n"]), theirs.parameter("n"));
        assert_eq!(Some(&key.public_jwk()["e"]), theirs.parameter("e"));

        let ec = josekit::jws::ES256.generate_key_pair()?;
        let key = SigningKey::from_pem(&josekit_pem(ec.to_pem_private_key())?, SigningAlg::ES256)?;
        let theirs = ec.to_jwk_public_key();
        assert_eq!(Some(&key.public_jwk()["x"]), theirs.parameter("x"));
        assert_eq!(Some(&key.public_jwk()["y"]), theirs.parameter("y"));
        Ok(())
    }

    #[test]
    fn pkcs1_pem_gives_the_same_key_as_pkcs8() -> Result<()> {
        let pair = josekit::jws::RS256.generate_key_pair(2048)?;
        let pkcs1 = josekit_pem(pair.to_traditional_pem_private_key())?;
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let pkcs8 = josekit_pem(pair.to_pem_private_key())?;
        let from_pkcs1 = SigningKey::from_pem(&pkcs1, SigningAlg::RS256)?;
        assert_eq!(
            from_pkcs1.kid(),
            SigningKey::from_pem(&pkcs8, SigningAlg::RS256)?.kid()
        );
        assert_eq!(from_pkcs1.kid(), DecryptionKey::from_pem(&pkcs1)?.kid());
        // What is written back is PKCS#8.
        assert!(
            from_pkcs1
                .to_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        Ok(())
    }

    #[test]
    fn signed_jwt_verifies_with_the_public_jwk_and_not_with_another_key() -> Result<()> {
        let claims = json!({"iss": "client", "jti": "1"});
        for alg in ALL_ALGS {
            let key = SigningKey::generate(alg)?;
            let token = key.sign_jwt("JWT", &claims)?;
            let verified = verify(&token, &key.public_jwk(), alg.to_jsonwebtoken())?;
            assert_eq!(verified.claims, claims);
            assert_eq!(verified.header.kid.as_deref(), Some(key.kid()));
            assert_eq!(verified.header.typ.as_deref(), Some("JWT"));
            assert_eq!(verified.header.alg, alg.to_jsonwebtoken());

            let mut validation = Validation::new(alg.to_jsonwebtoken());
            validation.required_spec_claims.clear();
            let with_own_accessor =
                jsonwebtoken::decode::<Value>(&token, key.decoding_key(), &validation)?;
            assert_eq!(with_own_accessor.claims, claims);

            let other = SigningKey::generate(alg)?;
            let refused = verify(&token, &other.public_jwk(), alg.to_jsonwebtoken())
                .err()
                .context("a token verified with another key")?;
            assert_eq!(refused.kind(), &ErrorKind::InvalidSignature, "{alg:?}");
        }
        Ok(())
    }

    #[test]
    fn one_rsa_key_signs_both_rs256_and_ps256_under_one_kid() -> Result<()> {
        let pem = SigningKey::generate(SigningAlg::RS256)?.to_pem();
        let rs = SigningKey::from_pem(&pem, SigningAlg::RS256)?;
        let ps = SigningKey::from_pem(&pem, SigningAlg::PS256)?;
        assert_eq!(rs.kid(), ps.kid());
        assert_eq!(rs.public_jwk()["alg"], "RS256");
        assert_eq!(ps.public_jwk()["alg"], "PS256");
        let claims = json!({"sub": "x"});
        let rs_token = rs.sign_jwt("JWT", &claims)?;
        let ps_token = ps.sign_jwt("JWT", &claims)?;
        verify(&rs_token, &rs.public_jwk(), Algorithm::RS256)?;
        verify(&ps_token, &ps.public_jwk(), Algorithm::PS256)?;
        // The header's alg is checked, so neither token passes as the other algorithm.
        assert!(verify(&rs_token, &rs.public_jwk(), Algorithm::PS256).is_err());
        assert!(verify(&ps_token, &ps.public_jwk(), Algorithm::RS256).is_err());
        Ok(())
    }

    #[test]
    fn key_of_the_wrong_type_for_the_algorithm_is_refused() -> Result<()> {
        let ec_pem = SigningKey::generate(SigningAlg::ES256)?.to_pem();
        for alg in [SigningAlg::RS256, SigningAlg::PS256] {
            assert!(matches!(
                SigningKey::from_pem(&ec_pem, alg),
                Err(KeyError::KeyDoesNotFitAlg {
                    found: "EC P-256",
                    ..
                })
            ));
        }
        assert!(matches!(
            DecryptionKey::from_pem(&ec_pem),
            Err(KeyError::KeyDoesNotFitAlg {
                found: "EC P-256",
                ..
            })
        ));
        let rsa_pem = SigningKey::generate(SigningAlg::RS256)?.to_pem();
        assert!(matches!(
            SigningKey::from_pem(&rsa_pem, SigningAlg::ES256),
            Err(KeyError::KeyDoesNotFitAlg {
                found: "RSA",
                purpose: "ES256 signing"
            })
        ));
        Ok(())
    }

    #[test]
    fn other_curves_and_key_types_are_unsupported() -> Result<()> {
        let p384 = josekit_pem(
            josekit::jws::ES384
                .generate_key_pair()?
                .to_pem_private_key(),
        )?;
        let refused = SigningKey::from_pem(&p384, SigningAlg::ES256);
        assert!(
            matches!(&refused, Err(KeyError::UnsupportedKeyType { found }) if found == "EC P-384"),
            "{refused:?}"
        );
        let ed25519 = josekit_pem(
            josekit::jws::EdDSA
                .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)?
                .to_pem_private_key(),
        )?;
        let refused = SigningKey::from_pem(&ed25519, SigningAlg::ES256);
        assert!(
            matches!(&refused, Err(KeyError::UnsupportedKeyType { found }) if found == "Ed25519"),
            "{refused:?}"
        );
        Ok(())
    }

    #[test]
    fn rsa_key_under_2048_bits_is_refused() -> Result<()> {
        // josekit's JWS and JWE algorithms refuse to make such a key; its plain RSA generator does not.
        let pair = josekit::jwk::alg::rsa::RsaKeyPair::generate(1024)?;
        for pem in [
            pair.to_pem_private_key(),
            pair.to_traditional_pem_private_key(),
        ] {
            let pem = josekit_pem(pem)?;
            for alg in [SigningAlg::RS256, SigningAlg::PS256] {
                assert!(matches!(
                    SigningKey::from_pem(&pem, alg),
                    Err(KeyError::RsaKeyTooSmall { bits: 1024 })
                ));
            }
            assert!(matches!(
                DecryptionKey::from_pem(&pem),
                Err(KeyError::RsaKeyTooSmall { bits: 1024 })
            ));
        }
        Ok(())
    }

    #[test]
    fn text_that_is_not_a_pem_private_key_is_refused() {
        for text in [
            "",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n",
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(
                matches!(
                    SigningKey::from_pem(text, SigningAlg::RS256),
                    Err(KeyError::NotPem)
                ),
                "{text:?}"
            );
            assert!(matches!(
                DecryptionKey::from_pem(text),
                Err(KeyError::NotPem)
            ));
        }
    }

    #[test]
    fn pem_with_garbage_inside_is_a_malformed_key() {
        let garbage = pem_encode("PRIVATE KEY", b"definitely not DER");
        assert!(matches!(
            SigningKey::from_pem(&garbage, SigningAlg::ES256),
            Err(KeyError::MalformedKey)
        ));
        let garbage = pem_encode("RSA PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(
            DecryptionKey::from_pem(&garbage),
            Err(KeyError::MalformedKey)
        ));
    }

    #[test]
    fn encrypted_pem_is_refused_with_its_own_error() {
        let pkcs8 = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        for pem in [pkcs8, legacy] {
            assert!(matches!(
                SigningKey::from_pem(pem, SigningAlg::RS256),
                Err(KeyError::EncryptedPem)
            ));
            assert!(matches!(
                DecryptionKey::from_pem(pem),
                Err(KeyError::EncryptedPem)
            ));
        }
    }

    #[test]
    fn decryption_key_survives_a_pem_round_trip() -> Result<()> {
        let key = DecryptionKey::generate()?;
        let loaded = DecryptionKey::from_pem(&key.to_pem())?;
        assert_eq!(loaded.kid(), key.kid());
        assert_eq!(
            loaded.public_jwk(KeyManagementAlg::RsaOaep),
            key.public_jwk(KeyManagementAlg::RsaOaep)
        );
        Ok(())
    }

    #[test]
    fn decryption_key_jwk_describes_the_private_key() -> Result<()> {
        let key = DecryptionKey::generate()?;
        let jwk = key.public_jwk(KeyManagementAlg::RsaOaep256);
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "enc");
        assert_eq!(jwk["alg"], "RSA-OAEP-256");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(key.public_jwk(KeyManagementAlg::RsaOaep)["alg"], "RSA-OAEP");
        assert_eq!(jwk_thumbprint(&jwk)?, key.kid());

        // Encrypt to the published n and e; only the private key must decrypt it.
        let component = |name: &str| -> Result<Vec<u8>> {
            let text = jwk[name].as_str().context("missing member")?;
            Ok(URL_SAFE_NO_PAD.decode(text)?)
        };
        let public: PublicEncryptingKey = PublicKeyComponents {
            n: component("n")?,
            e: component("e")?,
        }
        .try_into()
        .map_err(|_| anyhow::anyhow!("the JWK is not an RSA public key"))?;
        let recipient =
            OaepPublicEncryptingKey::new(public).map_err(|_| anyhow::anyhow!("no OAEP key"))?;
        let mut ciphertext = vec![0; recipient.ciphertext_size()];
        let ciphertext = recipient
            .encrypt(
                &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
                b"content key",
                &mut ciphertext,
                None,
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let decrypting = OaepPrivateDecryptingKey::new(key.key().clone())
            .map_err(|_| anyhow::anyhow!("no OAEP key"))?;
        let mut plaintext = vec![0; decrypting.min_output_size()];
        let plaintext = decrypting
            .decrypt(
                &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256,
                ciphertext,
                &mut plaintext,
                None,
            )
            .map_err(|_| anyhow::anyhow!("decryption failed"))?;
        assert_eq!(plaintext, b"content key");
        Ok(())
    }

    #[test]
    fn written_keys_load_with_the_same_kids_and_owner_only_permissions() -> Result<()> {
        for alg in ALL_ALGS {
            let temp = TempDir::new()?;
            let dir = temp.0.join("keys");
            let written = ServiceKeys::write_new(&dir, alg)?;
            for name in [SIGNING_FILE, ENCRYPTION_FILE, ENTITY_FILE] {
                let mode = fs::metadata(dir.join(name))?.permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
            }
            assert_eq!(fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);

            let loaded = ServiceKeys::load(&dir, alg)?;
            assert_eq!(loaded.signing.kid(), written.signing.kid());
            assert_eq!(loaded.signing.alg(), alg);
            assert_eq!(loaded.entity.kid(), written.entity.kid());
            assert_eq!(loaded.entity.alg(), SigningAlg::RS256);
            assert_eq!(loaded.encryption.len(), 1);
            assert_eq!(loaded.encryption[0].kid(), written.encryption[0].kid());
            let kids = [
                loaded.signing.kid(),
                loaded.encryption[0].kid(),
                loaded.entity.kid(),
            ];
            assert!(kids[0] != kids[1] && kids[1] != kids[2] && kids[0] != kids[2]);
        }
        Ok(())
    }

    #[test]
    fn write_new_refuses_when_a_key_file_exists_and_writes_nothing() -> Result<()> {
        let temp = TempDir::new()?;
        let existing = temp.0.join(ENTITY_FILE);
        fs::write(&existing, "the old entity key")?;
        let refused = ServiceKeys::write_new(&temp.0, SigningAlg::RS256);
        assert!(
            matches!(&refused, Err(KeyError::AlreadyExists { path }) if *path == existing),
            "{:?}",
            refused.err()
        );
        assert_eq!(fs::read_to_string(&existing)?, "the old entity key");
        assert!(!temp.0.join(SIGNING_FILE).exists());
        assert!(!temp.0.join(ENCRYPTION_FILE).exists());
        Ok(())
    }

    #[test]
    fn older_encryption_keys_decrypt_but_are_not_published() -> Result<()> {
        let temp = TempDir::new()?;
        let written = ServiceKeys::write_new(&temp.0, SigningAlg::ES256)?;
        let older_b = DecryptionKey::generate()?;
        let older_a = DecryptionKey::generate()?;
        write_owner_only(&temp.0.join("encryption-2025-02.pem"), older_b.to_pem())?;
        write_owner_only(&temp.0.join("encryption-2024-11.pem"), older_a.to_pem())?;
        fs::write(temp.0.join("encryption.pem.bak"), "ignored")?;

        let keys = ServiceKeys::load(&temp.0, SigningAlg::ES256)?;
        let decrypting: Vec<&str> = keys.decryption_keys().iter().map(|key| key.kid).collect();
        assert_eq!(
            decrypting,
            [written.encryption[0].kid(), older_a.kid(), older_b.kid()]
        );

        let jwks = keys.public_jwks(KeyManagementAlg::RsaOaep);
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .context("keys is not an array")?
            .iter()
            .filter_map(|jwk| jwk["kid"].as_str())
            .collect();
        assert_eq!(
            published,
            [written.signing.kid(), written.encryption[0].kid()]
        );
        assert_eq!(jwks["keys"][0]["use"], "sig");
        assert_eq!(jwks["keys"][1]["use"], "enc");
        Ok(())
    }

    #[test]
    fn broken_older_encryption_key_is_reported_by_its_file() -> Result<()> {
        let temp = TempDir::new()?;
        ServiceKeys::write_new(&temp.0, SigningAlg::RS256)?;
        let broken = temp.0.join("encryption-old.pem");
        write_owner_only(&broken, "garbage")?;
        let error = ServiceKeys::load(&temp.0, SigningAlg::RS256)
            .err()
            .context("a broken key file loaded")?;
        let (path, problem) = problem_in(error);
        assert_eq!(path, broken);
        assert!(matches!(problem, KeyError::NotPem));
        Ok(())
    }

    #[test]
    fn load_names_the_missing_file() -> Result<()> {
        let temp = TempDir::new()?;
        let error = ServiceKeys::load(&temp.0, SigningAlg::RS256)
            .err()
            .context("an empty directory loaded")?;
        let expected = temp.0.join(SIGNING_FILE);
        assert!(error.to_string().contains(&*expected.to_string_lossy()));
        assert!(matches!(error, KeyError::Missing { path } if path == expected));
        Ok(())
    }

    #[test]
    fn load_names_the_file_with_garbage_and_the_problem() -> Result<()> {
        let temp = TempDir::new()?;
        ServiceKeys::write_new(&temp.0, SigningAlg::RS256)?;
        let garbage = temp.0.join(ENCRYPTION_FILE);
        fs::remove_file(&garbage)?;
        write_owner_only(&garbage, [0xff, 0xfe, 0x00, 0x01])?;
        let error = ServiceKeys::load(&temp.0, SigningAlg::RS256)
            .err()
            .context("a garbage key file loaded")?;
        let message = error.to_string();
        assert!(message.contains(&*garbage.to_string_lossy()), "{message}");
        assert!(message.contains("not a PEM private key"), "{message}");
        let (path, problem) = problem_in(error);
        assert_eq!(path, garbage);
        assert!(matches!(problem, KeyError::NotPem));
        Ok(())
    }

    #[test]
    fn load_refuses_a_key_file_others_may_read_naming_it_and_the_fix() -> Result<()> {
        for (name, mode) in [
            (SIGNING_FILE, 0o644),
            (ENCRYPTION_FILE, 0o640),
            (ENTITY_FILE, 0o604),
            ("encryption-old.pem", 0o660),
        ] {
            let temp = TempDir::new()?;
            ServiceKeys::write_new(&temp.0, SigningAlg::RS256)?;
            let path = temp.0.join(name);
            if !path.exists() {
                write_owner_only(&path, DecryptionKey::generate()?.to_pem())?;
            }
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
            let error = ServiceKeys::load(&temp.0, SigningAlg::RS256)
                .err()
                .context("a key file others may read loaded")?;
            let message = error.to_string();
            assert!(
                matches!(&error, KeyError::OpenToOthers { path: p, mode: m } if *p == path && m & 0o777 == mode),
                "{name}: {message}"
            );
            assert!(message.contains(&format!("{mode:03o}")), "{message}");
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
            // Owner-only again, it loads; read-only for the owner is fine too.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o400))?;
            ServiceKeys::load(&temp.0, SigningAlg::RS256)?;
        }
        Ok(())
    }

    #[test]
    fn load_refuses_a_signing_key_that_does_not_fit_the_configured_algorithm() -> Result<()> {
        let temp = TempDir::new()?;
        ServiceKeys::write_new(&temp.0, SigningAlg::RS256)?;
        let error = ServiceKeys::load(&temp.0, SigningAlg::ES256)
            .err()
            .context("an RSA signing key loaded for ES256")?;
        let (path, problem) = problem_in(error);
        assert_eq!(path, temp.0.join(SIGNING_FILE));
        assert!(matches!(
            problem,
            KeyError::KeyDoesNotFitAlg { found: "RSA", .. }
        ));
        Ok(())
    }

    #[test]
    fn signed_jwks_verifies_with_the_entity_key_and_carries_the_public_keys() -> Result<()> {
        let keys = ServiceKeys::generate(SigningAlg::PS256)?;
        let now = datetime!(2025-06-01 12:00 UTC);
        let token = keys.signed_jwks(
            "https://tunnus.example.fi",
            KeyManagementAlg::RsaOaep,
            now,
            Duration::days(1),
            std::time::Duration::from_secs(86400),
        )?;
        let verified = verify(&token, &keys.entity.public_jwk(), Algorithm::RS256)?;
        assert_eq!(verified.header.typ.as_deref(), Some("jwk-set+jwt"));
        assert_eq!(verified.header.kid.as_deref(), Some(keys.entity.kid()));
        let claims = verified.claims;
        assert_eq!(claims["iss"], "https://tunnus.example.fi");
        assert_eq!(claims["sub"], "https://tunnus.example.fi");
        assert_eq!(claims["iat"], now.unix_timestamp());
        assert_eq!(claims["exp"], now.unix_timestamp() + 86_400);
        assert_eq!(
            claims["keys"],
            keys.public_jwks(KeyManagementAlg::RsaOaep)["keys"]
        );
        let not_entity = verify(&token, &keys.signing.public_jwk(), Algorithm::RS256);
        assert!(not_entity.is_err());
        Ok(())
    }

    #[test]
    fn entity_statement_verifies_with_the_entity_key_it_contains() -> Result<()> {
        let keys = ServiceKeys::generate(SigningAlg::ES256)?;
        let now = datetime!(2025-06-01 12:00 UTC);
        let metadata = json!({"openid_relying_party": {
            "token_endpoint_auth_method": "private_key_jwt",
            "signed_jwks_uri": "https://tunnus.example.fi/.well-known/signed-jwks.jwt"
        }});
        let token = keys.entity_statement(
            "https://tunnus.example.fi",
            metadata.clone(),
            now,
            Duration::hours(12),
        )?;
        let unverified = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token)?;
        let embedded = &unverified["jwks"]["keys"];
        assert_eq!(embedded, &json!([keys.entity.public_jwk()]));

        let verified = verify(&token, &embedded[0], Algorithm::RS256)?;
        assert_eq!(verified.header.typ.as_deref(), Some("entity-statement+jwt"));
        assert_eq!(verified.header.kid.as_deref(), Some(keys.entity.kid()));
        let claims = verified.claims;
        assert_eq!(claims["iss"], "https://tunnus.example.fi");
        assert_eq!(claims["sub"], "https://tunnus.example.fi");
        assert_eq!(claims["iat"], now.unix_timestamp());
        assert_eq!(claims["exp"], now.unix_timestamp() + 12 * 3600);
        assert_eq!(claims["metadata"], metadata);
        Ok(())
    }

    #[test]
    fn debug_output_shows_no_key_material() -> Result<()> {
        let signing = SigningKey::generate(SigningAlg::RS256)?;
        let n = signing.public_jwk()["n"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let printed = format!("{signing:?} {:?}", DecryptionKey::generate()?);
        assert!(printed.contains(signing.kid()));
        assert!(!printed.contains(&n[..20]));
        assert!(!printed.contains("PRIVATE KEY"));
        Ok(())
    }

    #[test]
    fn a_rotation_publishes_the_next_keys_first_and_the_retired_ones_for_a_while() -> Result<()> {
        let dir = std::env::temp_dir().join(format!(
            "tunnus-keys-rotation-{}-{}",
            std::process::id(),
            crate::random::short_id()
        ));
        let before = ServiceKeys::write_new(&dir, SigningAlg::RS256)?;
        let kids = |jwks: &Value| -> Vec<String> {
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        let old_signing = before.signing.kid().to_owned();
        let old_encryption = before.encryption[0].kid().to_owned();

        let (next_signing, next_encryption) =
            ServiceKeys::prepare_rotation(&dir, SigningAlg::RS256)?;
        assert!(
            ServiceKeys::prepare_rotation(&dir, SigningAlg::RS256).is_err(),
            "a prepared rotation is not prepared again"
        );
        let prepared = ServiceKeys::load(&dir, SigningAlg::RS256)?;
        assert_eq!(
            prepared.signing.kid(),
            old_signing,
            "the next key is not used yet"
        );
        assert_eq!(
            kids(&prepared.public_jwks(KeyManagementAlg::RsaOaep)),
            [
                old_signing.clone(),
                old_encryption.clone(),
                next_signing.clone(),
                next_encryption.clone()
            ]
        );
        // A broker that already encrypts to the published next key is understood.
        assert!(
            prepared
                .decryption_keys()
                .iter()
                .any(|key| key.kid == next_encryption)
        );

        ServiceKeys::activate_rotation(&dir, SigningAlg::RS256)?;
        assert!(
            ServiceKeys::activate_rotation(&dir, SigningAlg::RS256).is_err(),
            "nothing prepared, nothing to activate"
        );
        let after = ServiceKeys::load(&dir, SigningAlg::RS256)?;
        assert_eq!(after.signing.kid(), next_signing);
        assert_eq!(after.encryption[0].kid(), next_encryption);
        assert!(
            after
                .decryption_keys()
                .iter()
                .any(|key| key.kid == old_encryption)
        );
        let day = std::time::Duration::from_secs(86400);
        #[allow(clippy::disallowed_methods)]
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            kids(&after.published_jwks(KeyManagementAlg::RsaOaep, now, day)),
            [
                next_signing.clone(),
                next_encryption.clone(),
                old_signing.clone(),
                old_encryption.clone()
            ]
        );
        assert_eq!(
            kids(&after.published_jwks(KeyManagementAlg::RsaOaep, now + Duration::days(2), day)),
            [next_signing.clone(), next_encryption.clone()],
            "retired keys drop out after the overlap"
        );
        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
