//! The CPU cost of the public-key operations one flow needs, measured on one thread with the crate's
//! own code, and of the other per-flow work that is pure computation (the password rules and the
//! memory directory's password hash).
//!
//! One flow makes four private-key operations (the service signs the request object and the client
//! assertion and decrypts the ID token's key; the mock signs the ID token) and four public-key ones
//! (the mock verifies the request object and the client assertion and encrypts the ID token's key; the
//! service verifies the ID token). With every core busy with nothing else, a machine could finish
//! `cores / (CPU seconds of those eight per flow)` flows a second: the crypto bound.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tunnus::account::password::{PasswordPolicy, PasswordSettings, PersonContext};
use tunnus::clock::{Clock, SystemClock};
use tunnus::directory::memory::MemoryDirectory;
use tunnus::directory::{AccountId, Directory, IfLocked, NewPassword};
use tunnus::keys::{ServiceKeys, SigningAlg, SigningKey};
use tunnus::mock_idp::DEFAULT_ACR;
use tunnus::oidc::broker_keys::BrokerKeys;
use tunnus::oidc::claims::{ClaimNames, ClaimOverrides, Preset};
use tunnus::oidc::id_token::{self, Expectations};
use tunnus::oidc::jwe::{self, ContentEncryption, KeyManagementAlg};
use tunnus::oidc::request::{self, AuthorizationParams, Pkce};

use crate::flow::PASSWORD;

const ISSUER: &str = "http://127.0.0.1:8081/realms/ftn";
const CLIENT_ID: &str = "tunnus";
const HETU: &str = "010170-999R";

/// Who does an operation in the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Service,
    Mock,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Service => "service",
            Side::Mock => "mock",
        }
    }
}

/// The measured CPU time of one operation.
pub struct Cost {
    pub side: Side,
    pub what: &'static str,
    pub per_op: Duration,
    /// Part of the crypto bound (one of the eight RSA/EC operations of a flow).
    pub in_bound: bool,
}

pub struct CryptoCosts {
    pub costs: Vec<Cost>,
    /// The three signatures of a flow (request object, client assertion, ID token) made with keys
    /// parsed once, made by the bare aws-lc primitive: what `sign_jwt` adds on top of it (JSON, base64).
    pub prepared_signatures: Duration,
    /// The same three signatures through `sign_jwt`.
    pub sign_jwt_signatures: Duration,
}

impl CryptoCosts {
    /// CPU time of the RSA/EC operations of one flow.
    pub fn per_flow(&self) -> Duration {
        self.costs
            .iter()
            .filter(|c| c.in_bound)
            .map(|c| c.per_op)
            .sum()
    }

    /// The same with every key parsed once: what the primitives themselves cost.
    pub fn primitive_per_flow(&self) -> Duration {
        (self.per_flow() + self.prepared_signatures).saturating_sub(self.sign_jwt_signatures)
    }

    /// Flows per second the cores could carry doing nothing but those operations.
    pub fn bound(&self, cores: usize) -> f64 {
        cores as f64 / self.per_flow().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat`. The kernel brings the figure
/// up to date at each scheduler tick (4 ms at 250 Hz) and at each switch, so only long measurements
/// that start and end on a change of it are exact.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The CPU time of one run of `op`: runs it until this thread has used `budget` of CPU time,
/// counting from the first update of the thread's CPU time to the last. CPU time rather than wall
/// time, because other processes on a shared machine take the core away in the middle of a run.
/// Without `/proc/thread-self/schedstat`, wall time over the same number of runs.
fn per_op(budget: Duration, mut op: impl FnMut() -> Result<()>) -> Result<Duration> {
    op()?;
    let Some(mut start) = thread_cpu() else {
        let started = Instant::now();
        let mut runs = 0u32;
        while started.elapsed() < budget {
            op()?;
            runs += 1;
        }
        return Ok(started.elapsed() / runs.max(1));
    };
    // Start right after an update, so the first run counted is the first run after it.
    loop {
        op()?;
        let now = thread_cpu().unwrap_or(start);
        if now != start {
            start = now;
            break;
        }
    }
    let mut runs = 0u32;
    loop {
        op()?;
        runs += 1;
        let now = thread_cpu().unwrap_or(start);
        if now.saturating_sub(start) >= budget {
            return Ok((now - start) / runs);
        }
    }
}

/// Everything the operations work on: both parties' keys and one flow's tokens.
struct Fixture {
    keys: ServiceKeys,
    realm: SigningKey,
    params: AuthorizationParams,
    now: OffsetDateTime,
    request_object: String,
    assertion: String,
    id_token: String,
    encrypted: String,
    client_alg: Algorithm,
    realm_jwks: BrokerKeys,
    claim_names: ClaimNames,
}

impl Fixture {
    fn new(alg: SigningAlg) -> Result<Fixture> {
        let keys = ServiceKeys::generate(alg)?;
        let realm = SigningKey::generate(SigningAlg::RS256)?;
        let now = SystemClock.now();
        let pkce = Pkce::new();
        let params = AuthorizationParams {
            client_id: CLIENT_ID.to_owned(),
            response_type: "code",
            scope: "openid".to_owned(),
            redirect_uri: "http://127.0.0.1:8080/callback".to_owned(),
            state: tunnus::random::token(),
            nonce: tunnus::random::token(),
            acr_values: None,
            ui_locales: Some("fi".to_owned()),
            prompt: None,
            code_challenge: Some(pkce.challenge),
            code_challenge_method: Some("S256"),
        };
        let claim_names = ClaimNames::resolve(Preset::Keycloak, &ClaimOverrides::default());
        let request_object = request::request_object(&keys.signing, &params, ISSUER, now)?;
        let assertion =
            request::client_assertion(&keys.signing, CLIENT_ID, &token_endpoint(), now)?;
        let claims = id_token_claims(&params.nonce, &claim_names, now);
        let id_token = realm.sign_jwt("JWT", &claims)?;
        let encrypted = encrypt(&keys, &id_token)?;
        let realm_jwks = BrokerKeys::from_jwks(
            json!({ "keys": [realm.public_jwk()] })
                .to_string()
                .as_bytes(),
        )
        .map_err(anyhow::Error::msg)
        .context("the realm's JWKS")?;
        Ok(Fixture {
            client_alg: alg.to_jsonwebtoken(),
            keys,
            realm,
            params,
            now,
            request_object,
            assertion,
            id_token,
            encrypted,
            realm_jwks,
            claim_names,
        })
    }
}

fn token_endpoint() -> String {
    format!("{ISSUER}/protocol/openid-connect/token")
}

/// An ID token's claims shaped like the mock's.
fn id_token_claims(nonce: &str, names: &ClaimNames, now: OffsetDateTime) -> Map<String, Value> {
    let mut claims = Map::new();
    let at = now.unix_timestamp();
    for (name, value) in [
        ("iss", json!(ISSUER)),
        ("sub", json!("3f1d6c1e-8a55-4b8e-9a43-0d4f1c2b7a90")),
        ("aud", json!(CLIENT_ID)),
        ("exp", json!(at + 120)),
        ("iat", json!(at)),
        ("auth_time", json!(at)),
        ("jti", json!("5a0c1b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d")),
        ("nonce", json!(nonce)),
        ("acr", json!(DEFAULT_ACR)),
        ("azp", json!(CLIENT_ID)),
        ("sid", json!("0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e")),
        ("at_hash", json!("q0pOYx2Ue6B3m3XDKjK7aA")),
        ("typ", json!("ID")),
    ] {
        claims.insert(name.to_owned(), value);
    }
    claims.insert(names.national_id.clone(), json!(HETU));
    claims.insert(names.given_name.clone(), json!("Tero Testi"));
    claims.insert(names.family_name.clone(), json!("Äyrämö"));
    claims.insert(names.birthdate.clone(), json!("1970-01-01"));
    claims
}

fn encrypt(keys: &ServiceKeys, plaintext: &str) -> Result<String> {
    let recipient = keys.encryption.first().context("no encryption key")?;
    Ok(jwe::encrypt(
        plaintext.as_bytes(),
        &recipient.public_key(),
        Some(recipient.kid()),
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A128CbcHs256,
        Some("JWT"),
    )?)
}

/// The mock's check of the client's JWTs: signature only (it judges the claims itself).
fn client_jwt_validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
}

fn id_token_validation() -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[CLIENT_ID]);
    validation.set_issuer(&[ISSUER]);
    validation
}

/// Measures each operation for `budget` of CPU time.
pub fn measure(alg: SigningAlg, budget: Duration) -> Result<CryptoCosts> {
    let f = Fixture::new(alg)?;
    let decryption_keys = f.keys.decryption_keys();
    let (client_validation, id_validation) =
        (client_jwt_validation(f.client_alg), id_token_validation());
    let decrypted = jwe::decrypt(
        &f.encrypted,
        &decryption_keys,
        &[KeyManagementAlg::RsaOaep],
        &[ContentEncryption::A128CbcHs256],
    )?;
    if decrypted.1 != f.id_token.as_bytes() {
        bail!("the encrypted ID token does not decrypt to itself");
    }

    let mut costs = Vec::new();
    let mut add = |side, what, in_bound, op: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let per_op = per_op(budget, op)?;
        costs.push(Cost {
            side,
            what,
            per_op,
            in_bound,
        });
        Ok(())
    };

    add(Side::Service, "sign the request object", true, &mut || {
        request::request_object(&f.keys.signing, &f.params, ISSUER, f.now)?;
        Ok(())
    })?;
    add(Side::Mock, "verify the request object", true, &mut || {
        jsonwebtoken::decode::<Map<String, Value>>(
            &f.request_object,
            f.keys.signing.decoding_key(),
            &client_validation,
        )?;
        Ok(())
    })?;
    add(
        Side::Service,
        "sign the client assertion",
        true,
        &mut || {
            request::client_assertion(&f.keys.signing, CLIENT_ID, &token_endpoint(), f.now)?;
            Ok(())
        },
    )?;
    add(Side::Mock, "verify the client assertion", true, &mut || {
        jsonwebtoken::decode::<Map<String, Value>>(
            &f.assertion,
            f.keys.signing.decoding_key(),
            &client_validation,
        )?;
        Ok(())
    })?;
    let claims = id_token_claims(&f.params.nonce, &f.claim_names, f.now);
    add(Side::Mock, "sign the ID token (RS256)", true, &mut || {
        f.realm.sign_jwt("JWT", &claims)?;
        Ok(())
    })?;
    add(
        Side::Mock,
        "encrypt the ID token (RSA-OAEP, A128CBC-HS256)",
        true,
        &mut || encrypt(&f.keys, &f.id_token).map(|_| ()),
    )?;
    add(Side::Service, "decrypt the ID token", true, &mut || {
        jwe::decrypt(
            &f.encrypted,
            &decryption_keys,
            &[KeyManagementAlg::RsaOaep],
            &[ContentEncryption::A128CbcHs256],
        )?;
        Ok(())
    })?;
    add(
        Side::Service,
        "verify the ID token (jsonwebtoken)",
        true,
        &mut || {
            jsonwebtoken::decode::<Map<String, Value>>(
                &f.id_token,
                f.realm.decoding_key(),
                &id_validation,
            )?;
            Ok(())
        },
    )?;

    // The rest is not in the bound: what the service really runs for the ID token, and the other
    // pure computation of a flow.
    let accepted = [DEFAULT_ACR.to_owned()];
    add(
        Side::Service,
        "ID-token check as the service does it (openidconnect)",
        false,
        &mut || {
            let expect = Expectations {
                issuer: ISSUER,
                client_id: CLIENT_ID,
                nonce: &f.params.nonce,
                accepted_acr: &accepted,
                clock_skew: time::Duration::seconds(60),
                max_age: time::Duration::minutes(10),
                now: f.now,
                claim_names: &f.claim_names,
                test_identities: true,
            };
            id_token::verify(&f.id_token, &f.realm_jwks, &expect)?;
            Ok(())
        },
    )?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy = PasswordPolicy::from_settings(&PasswordSettings {
        deny_list: Some(repo.join("config/common-passwords.txt")),
        ..PasswordSettings::default()
    })?;
    let person = PersonContext {
        username: "tetyra",
        given_name: "Tero Testi",
        family_name: "Äyrämö",
        birth_date: Some(time::macros::date!(1970 - 01 - 01)),
        national_id: "",
    };
    add(
        Side::Service,
        "password rules (zxcvbn and the others)",
        false,
        &mut || {
            policy
                .check(PASSWORD, PASSWORD, &person)
                .map_err(|violations| anyhow::anyhow!("the load password breaks {violations:?}"))
        },
    )?;
    let directory = MemoryDirectory::from_seed_file(&repo.join("config/dev-accounts.toml"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let (account, password) = (
        AccountId::new("tetyra"),
        NewPassword::new(PASSWORD.to_owned()),
    );
    add(
        Side::Service,
        "memory directory password write (PBKDF2)",
        false,
        &mut || {
            runtime.block_on(directory.reset_password(&account, &password, IfLocked::Refuse))?;
            Ok(())
        },
    )?;
    let sign_jwt_signatures = costs
        .iter()
        .filter(|c| c.in_bound && c.what.starts_with("sign "))
        .map(|c| c.per_op)
        .sum();
    let input = signing_input(&f.request_object);
    let service_sign = per_op(budget, || {
        f.keys.signing.sign(input)?;
        Ok(())
    })?;
    let mock_sign = per_op(budget, || {
        f.realm.sign(input)?;
        Ok(())
    })?;
    costs.push(Cost {
        side: Side::Service,
        what: "sign once more, key parsed once (aws-lc primitive)",
        per_op: service_sign,
        in_bound: false,
    });
    if alg != SigningAlg::RS256 {
        costs.push(Cost {
            side: Side::Mock,
            what: "RS256 sign, key parsed once (aws-lc primitive)",
            per_op: mock_sign,
            in_bound: false,
        });
    }
    Ok(CryptoCosts {
        costs,
        prepared_signatures: 2 * service_sign + mock_sign,
        sign_jwt_signatures,
    })
}

/// The part of a compact JWS its signature covers.
fn signing_input(jws: &str) -> &[u8] {
    jws.rsplit_once('.')
        .map_or(jws, |(input, _)| input)
        .as_bytes()
}
