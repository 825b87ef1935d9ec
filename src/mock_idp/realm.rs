//! The realm's state: settings, persons, keys, faults, and the short-lived records of logins in
//! progress, issued codes, access tokens and used assertion ids.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use super::client::ClientKeys;
use super::faults::{ActiveFaults, FaultState, Phase};
use super::persons::mask;
use super::{MockClientSettings, MockIdpError, MockIdpSettings, Person, StaffPerson};
use crate::clock::Clock;
use crate::keys::{KeyError, SigningAlg, SigningKey};
use crate::oidc::claims::Preset;

/// How many records of one kind are kept at most; more are refused until old ones expire. Enough for
/// a load test's two minutes of client assertions at several hundred flows a second.
pub(crate) const MAX_RECORDS: usize = 100_000;

/// How many replaced signing keys stay published.
const RETIRED_KEYS_KEPT: usize = 2;

/// Locks a mutex; a panic elsewhere while it was held leaves data that is still usable here.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a realm is shaped like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// An FTN broker: identity codes, request objects, encrypted ID tokens, `private_key_jwt`.
    Ftn,
    /// A campus SSO for staff: usernames and groups, plain signed ID tokens, a client secret or
    /// `private_key_jwt`.
    Campus,
}

/// Someone a realm can log in.
#[derive(Debug, Clone)]
pub(crate) enum Someone {
    /// A test person of an FTN broker.
    Citizen(Person),
    /// A staff member at the campus SSO.
    Staff(StaffPerson),
}

impl Someone {
    /// Whether `login_hint` names them: the identity code, or the username (case ignored).
    pub(crate) fn is_hinted(&self, hint: &str) -> bool {
        let hint = hint.trim();
        match self {
            Someone::Citizen(person) => person.national_id.eq_ignore_ascii_case(hint),
            Someone::Staff(staff) => staff.username.eq_ignore_ascii_case(hint),
        }
    }

    /// What the log may say about them.
    pub(crate) fn for_log(&self) -> String {
        match self {
            Someone::Citizen(person) => mask(&person.national_id),
            Someone::Staff(staff) => staff.username.clone(),
        }
    }
}

/// Someone with the `sub` the realm gave them.
#[derive(Debug, Clone)]
pub(crate) struct RealmPerson {
    pub(crate) person: Someone,
    pub(crate) sub: String,
}

/// A client registered at the realm: its settings, its keys and the faults switched on for it alone.
pub(crate) struct RegisteredClient {
    pub(crate) settings: MockClientSettings,
    pub(crate) keys: ClientKeys,
    /// The claim names of its ID tokens: its own preset, else the realm's.
    pub(crate) preset: Preset,
    faults: Mutex<FaultState>,
}

impl RegisteredClient {
    fn new(settings: MockClientSettings, realm_preset: Preset) -> Result<Self, MockIdpError> {
        let keys =
            ClientKeys::new(settings.jwks_url.clone(), settings.jwks.clone()).map_err(|error| {
                MockIdpError::HttpClient {
                    reason: with_causes(&error),
                }
            })?;
        Ok(Self {
            preset: settings.preset.unwrap_or(realm_preset),
            faults: Mutex::new(FaultState::new(&settings.faults)),
            keys,
            settings,
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.settings.client_id
    }

    /// The faults switched on for this client alone.
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }
}

/// What an authorization request asked for, once checked.
#[derive(Debug, Clone)]
pub(crate) struct AuthRequest {
    /// The client that asked.
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) ui_locales: Option<String>,
}

/// A login page shown and not yet answered.
pub(crate) struct PendingLogin {
    pub(crate) request: AuthRequest,
    pub(crate) expires: OffsetDateTime,
}

/// An authorization code not yet exchanged.
pub(crate) struct IssuedCode {
    pub(crate) request: AuthRequest,
    /// Who logged in: a listed person, or someone a tester typed in.
    pub(crate) person: RealmPerson,
    pub(crate) sid: String,
    pub(crate) auth_time: OffsetDateTime,
    pub(crate) expires: OffsetDateTime,
}

/// An access token, good at `userinfo` until it expires or its session is logged out.
pub(crate) struct AccessGrant {
    /// The client it was issued to.
    pub(crate) client: Arc<RegisteredClient>,
    pub(crate) person: RealmPerson,
    pub(crate) sid: String,
    pub(crate) expires: OffsetDateTime,
}

/// The signing key in use and the ones it replaced, still published.
struct RealmKeys {
    current: Arc<SigningKey>,
    retired: Vec<Arc<SigningKey>>,
    /// A key taken out of the JWKS at once (the `withdrawn_signing_key` fault); never published.
    withdrawn: Option<Arc<SigningKey>>,
}

/// How many recent authorizations and tokens the admin page lists.
pub(crate) const ACTIVITY_KEPT: usize = 50;

/// One thing the realm did, for the admin page.
#[derive(Debug, Clone)]
pub(crate) enum Activity {
    /// A person logged in and a code went to the client.
    Authorized {
        at: OffsetDateTime,
        client_id: String,
        /// How the login page shows the person: the name and the test code or username.
        person: String,
        redirect_uri: String,
        scope: String,
    },
    /// Tokens were issued; the ID token's claims as signed (before any encryption).
    Tokens {
        at: OffsetDateTime,
        client_id: String,
        claims: serde_json::Map<String, serde_json::Value>,
    },
}

/// What happened, for tests.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) authorization_requests: AtomicUsize,
    pub(crate) issued_codes: AtomicUsize,
    pub(crate) token_requests: AtomicUsize,
    pub(crate) tokens_issued: AtomicUsize,
}

pub(crate) struct Realm {
    pub(crate) flavour: Flavour,
    /// The realm's settings; a campus realm's are derived from `[mock_idp.campus]`.
    pub(crate) settings: MockIdpSettings,
    /// The public base URL without a trailing slash.
    pub(crate) base: String,
    pub(crate) issuer: String,
    pub(crate) persons: Vec<RealmPerson>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The registered clients, in the order of the settings.
    pub(crate) clients: Vec<Arc<RegisteredClient>>,
    pub(crate) counters: Counters,
    keys: Mutex<RealmKeys>,
    faults: Mutex<FaultState>,
    pub(crate) pending: Mutex<HashMap<String, PendingLogin>>,
    pub(crate) codes: Mutex<HashMap<String, IssuedCode>>,
    pub(crate) access_tokens: Mutex<HashMap<String, AccessGrant>>,
    /// Client assertion `jti`s seen, until their assertion would have expired.
    pub(crate) used_jtis: Mutex<HashMap<String, OffsetDateTime>>,
    /// The latest authorizations and tokens, newest last, at most [`ACTIVITY_KEPT`].
    pub(crate) activity: Mutex<std::collections::VecDeque<Activity>>,
}

impl Realm {
    /// Notes `activity` for the admin page, forgetting the oldest beyond [`ACTIVITY_KEPT`].
    pub(crate) fn note(&self, activity: Activity) {
        let mut kept = lock(&self.activity);
        if kept.len() >= ACTIVITY_KEPT {
            kept.pop_front();
        }
        kept.push_back(activity);
    }

    /// The realm with `settings`; its clients are taken out of `settings.clients`.
    pub(crate) fn new(
        flavour: Flavour,
        mut settings: MockIdpSettings,
        base: String,
        persons: Vec<Someone>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MockIdpError> {
        let signing = SigningKey::generate(SigningAlg::RS256)
            .map_err(|error| MockIdpError::SigningKey { error })?;
        let clients = std::mem::take(&mut settings.clients)
            .into_iter()
            .map(|client| RegisteredClient::new(client, settings.preset).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let issuer = format!("{base}/realms/{}", settings.realm);
        let persons = persons
            .into_iter()
            .map(|person| RealmPerson {
                person,
                sub: random_uuid(),
            })
            .collect();
        Ok(Self {
            flavour,
            faults: Mutex::new(FaultState::new(&settings.faults.enabled)),
            settings,
            base,
            issuer,
            persons,
            clock,
            clients,
            counters: Counters::default(),
            keys: Mutex::new(RealmKeys {
                current: Arc::new(signing),
                retired: Vec::new(),
                withdrawn: None,
            }),
            pending: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            used_jtis: Mutex::new(HashMap::new()),
            activity: Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// `{issuer}/protocol/openid-connect/{name}`.
    pub(crate) fn endpoint(&self, name: &str) -> String {
        format!("{}/protocol/openid-connect/{name}", self.issuer)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    /// The client registered as `client_id`.
    pub(crate) fn client(&self, client_id: &str) -> Option<&Arc<RegisteredClient>> {
        self.clients.iter().find(|client| client.id() == client_id)
    }

    /// The faults for one request at `phase`: the realm's and, when the request is `client`'s, that
    /// client's; single-use ones are used up.
    pub(crate) fn take_faults(
        &self,
        phase: Phase,
        client: Option<&RegisteredClient>,
    ) -> ActiveFaults {
        let mut active = self.faults().take(phase);
        if let Some(client) = client {
            active.extend(client.faults().take(phase));
        }
        active
    }

    /// The key that signs ID tokens now.
    pub(crate) fn signing_key(&self) -> Arc<SigningKey> {
        Arc::clone(&lock(&self.keys).current)
    }

    /// Makes `key` the signing key; the one it replaces stays published for a while.
    pub(crate) fn rotate_signing_key(&self, key: SigningKey) -> Arc<SigningKey> {
        let key = Arc::new(key);
        let mut keys = lock(&self.keys);
        let old = std::mem::replace(&mut keys.current, Arc::clone(&key));
        keys.retired.insert(0, old);
        keys.retired.truncate(RETIRED_KEYS_KEPT);
        key
    }

    /// The key the `withdrawn_signing_key` fault withdrew, if it did.
    pub(crate) fn withdrawn_signing_key(&self) -> Option<Arc<SigningKey>> {
        lock(&self.keys).withdrawn.clone()
    }

    /// Withdraws the signing key: `fresh` signs from now on and the old key disappears from the
    /// JWKS at once (unlike a rotation, which keeps publishing it for a while). Returns the withdrawn
    /// key; if one was withdrawn already, that one, and `fresh` is not used.
    pub(crate) fn withdraw_signing_key(&self, fresh: SigningKey) -> Arc<SigningKey> {
        let mut keys = lock(&self.keys);
        if let Some(withdrawn) = &keys.withdrawn {
            return Arc::clone(withdrawn);
        }
        let old = std::mem::replace(&mut keys.current, Arc::new(fresh));
        keys.withdrawn = Some(Arc::clone(&old));
        old
    }

    /// The published JWKS: the current key first, then retired ones.
    pub(crate) fn public_jwks(&self) -> serde_json::Value {
        let keys = lock(&self.keys);
        let jwks: Vec<serde_json::Value> = std::iter::once(&keys.current)
            .chain(&keys.retired)
            .map(|key| key.public_jwk())
            .collect();
        serde_json::json!({ "keys": jwks })
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// The error's text followed by its causes', on one line: [`MockIdpError`] shows its cause in its own
/// text and has no `source`, so the causes must be in the text.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// A fresh key for `alg`, made off the async threads (RSA key generation takes a while).
pub(crate) async fn generate_key(alg: SigningAlg) -> Result<SigningKey, String> {
    let generated = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
        .await
        .map_err(|_| "key generation was interrupted".to_owned())?;
    generated.map_err(|error: KeyError| error.to_string())
}

/// Whether `records` can take one more, after dropping the expired ones when it is full. Expired
/// records are dropped only then, so an insert does not scan them all; once the map is full of live
/// records, every insert scans it (a mock under more load than it is meant for).
pub(crate) fn has_room<V>(
    records: &mut HashMap<String, V>,
    now: OffsetDateTime,
    expires: impl Fn(&V) -> OffsetDateTime,
) -> bool {
    if records.len() >= MAX_RECORDS {
        records.retain(|_, record| expires(record) > now);
    }
    records.len() < MAX_RECORDS
}

/// Stores `value` under a fresh random key in `records`; `None` when the store is full of live
/// records. Expired records are dropped when the store fills up, so an insert does not scan every
/// record.
pub(crate) fn insert_record<V>(
    records: &Mutex<HashMap<String, V>>,
    value: V,
    now: OffsetDateTime,
    expires: impl Fn(&V) -> OffsetDateTime,
) -> Option<String> {
    let mut records = lock(records);
    if !has_room(&mut records, now, expires) {
        return None;
    }
    let key = crate::random::token();
    records.insert(key.clone(), value);
    Some(key)
}

/// A random version-4 UUID, the shape Keycloak gives subjects and sessions.
pub(crate) fn random_uuid() -> String {
    uuid_of(crate::random::bytes::<16>())
}

/// `bytes` as a version-4 UUID (its version and variant bits set).
pub(crate) fn uuid_of(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuid_has_the_version_4_shape() {
        let uuid = random_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
        assert!(matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(uuid, random_uuid());
    }

    #[test]
    fn records_expire_and_are_capped() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let records: Mutex<HashMap<String, OffsetDateTime>> = Mutex::new(HashMap::new());
        let later = now + time::Duration::seconds(5);
        {
            let mut full = lock(&records);
            for i in 0..MAX_RECORDS - 1 {
                full.insert(i.to_string(), later + time::Duration::hours(1));
            }
        }
        let old = insert_record(&records, now, now, |e| *e).expect("room for one more");
        // Full: the expired record makes room for a new one.
        insert_record(&records, later + time::Duration::seconds(1), later, |e| *e).expect("room");
        assert!(!lock(&records).contains_key(&old), "expired record dropped");
        // Full of live records: refused.
        assert!(insert_record(&records, later + time::Duration::hours(1), later, |e| *e).is_none());
    }
}
