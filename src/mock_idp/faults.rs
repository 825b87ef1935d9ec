//! Fault switches: ways the mock misbehaves on purpose, so a relying party's refusals can be tested.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One way the mock broker misbehaves on purpose. Each names what a correct relying party must refuse
/// (or, for [`Fault::RotatedSigningKey`] and [`Fault::SlowToken`], survive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The ID token's `nonce` is not the one sent.
    WrongNonce,
    /// The ID token's `aud` is another client.
    WrongAudience,
    /// The ID token's `iss` is another realm.
    WrongIssuer,
    /// The ID token expired before it was issued (`exp` in the past).
    ExpiredToken,
    /// The ID token was issued an hour in the future (`iat`).
    FutureToken,
    /// The ID token's signature does not verify.
    BadSignature,
    /// The ID token is signed by a key whose `kid` is not published at `certs`.
    UnknownKid,
    /// The ID token is unsigned (`alg: none`).
    AlgNone,
    /// The ID token is sent signed only, although encryption is configured.
    Unencrypted,
    /// The ID token is encrypted to a fresh key, keeping the client's `kid` in the header.
    EncryptedToWrongKey,
    /// The ID token's `acr` is below FTN's levels (`…/loa1`).
    AcrTooLow,
    /// The ID token has no national identity code.
    MissingNationalId,
    /// The ID token's national identity code has a wrong check character.
    MalformedNationalId,
    /// The authorization endpoint redirects back with `error=server_error`.
    ErrorRedirect,
    /// The token endpoint waits `slow_token_secs` before answering.
    SlowToken,
    /// The token endpoint answers 500.
    TokenServerError,
    /// The realm signing key is replaced just before signing; the new key is published at `certs`,
    /// so a relying party that refetches the JWKS on an unknown `kid` still succeeds.
    RotatedSigningKey,
    /// The discovery document answers 500.
    DiscoveryServerError,
    /// The realm keys (`certs`) answer 500.
    JwksServerError,
    /// The realm keys (`certs`) wait `slow_token_secs` before answering.
    SlowJwks,
    /// The realm withdraws its signing key (a fresh key replaces it at `certs`, the old one is no
    /// longer published) and signs the ID token with the withdrawn key, as someone holding a stolen
    /// key would. Later tokens under this fault are signed with the same withdrawn key. A relying
    /// party that still trusts its cached copy of the keys accepts them until it reads the keys
    /// again.
    WithdrawnSigningKey,
    /// The ID token's `azp` (authorized party) is another client, while its `aud` is still this one:
    /// a token issued to another client.
    WrongAuthorizedParty,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 22] = [
        Fault::WrongNonce,
        Fault::WrongAudience,
        Fault::WrongIssuer,
        Fault::ExpiredToken,
        Fault::FutureToken,
        Fault::BadSignature,
        Fault::UnknownKid,
        Fault::AlgNone,
        Fault::Unencrypted,
        Fault::EncryptedToWrongKey,
        Fault::AcrTooLow,
        Fault::MissingNationalId,
        Fault::MalformedNationalId,
        Fault::ErrorRedirect,
        Fault::SlowToken,
        Fault::TokenServerError,
        Fault::RotatedSigningKey,
        Fault::DiscoveryServerError,
        Fault::JwksServerError,
        Fault::SlowJwks,
        Fault::WithdrawnSigningKey,
        Fault::WrongAuthorizedParty,
    ];

    /// Whether the fault can be switched on for one client: not those of the realm's metadata, which
    /// clients fetch without saying who they are.
    pub fn acts_per_client(self) -> bool {
        self.phase() != Phase::Metadata
    }

    /// Why this fault, one that does not act per client, cannot be switched on for one.
    pub(crate) fn not_per_client(self) -> String {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        format!("{name} acts on the realm's metadata, which no client fetches alone")
    }

    /// Where the fault shows: at the authorization endpoint or at the token endpoint.
    pub(crate) fn phase(self) -> Phase {
        match self {
            Fault::ErrorRedirect => Phase::Authorization,
            Fault::DiscoveryServerError | Fault::JwksServerError | Fault::SlowJwks => {
                Phase::Metadata
            }
            _ => Phase::Token,
        }
    }
}

/// `[mock_idp.faults]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Faults on for the whole realm from the start (snake_case names, e.g. `"wrong_nonce"`).
    pub enabled: Vec<Fault>,
    /// How long [`Fault::SlowToken`] makes the token endpoint wait, in seconds.
    pub slow_token_secs: u64,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            enabled: Vec::new(),
            slow_token_secs: 30,
        }
    }
}

/// The endpoint a fault acts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Authorization,
    Token,
    /// Discovery and the realm keys.
    Metadata,
}

/// Faults switched on: realm-wide ones, and single-use ones waiting for their endpoint.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    realm_wide: BTreeSet<Fault>,
    once: Vec<Fault>,
}

impl FaultState {
    pub(crate) fn new(enabled: &[Fault]) -> Self {
        Self {
            realm_wide: enabled.iter().copied().collect(),
            once: Vec::new(),
        }
    }

    pub(crate) fn set(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.realm_wide = faults.into_iter().collect();
    }

    pub(crate) fn add_once(&mut self, fault: Fault) {
        self.once.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.realm_wide.clear();
        self.once.clear();
    }

    pub(crate) fn realm_wide(&self) -> Vec<Fault> {
        self.realm_wide.iter().copied().collect()
    }

    pub(crate) fn pending_once(&self) -> Vec<Fault> {
        self.once.clone()
    }

    /// The faults for one request at `phase`: the realm-wide ones plus the single-use ones for that
    /// phase, which are used up.
    pub(crate) fn take(&mut self, phase: Phase) -> ActiveFaults {
        let mut active: BTreeSet<Fault> = self
            .realm_wide
            .iter()
            .copied()
            .filter(|fault| fault.phase() == phase)
            .collect();
        self.once.retain(|fault| {
            if fault.phase() == phase {
                active.insert(*fault);
                false
            } else {
                true
            }
        });
        ActiveFaults(active)
    }
}

/// The faults that apply to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ActiveFaults(BTreeSet<Fault>);

impl ActiveFaults {
    pub(crate) fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Adds `other`'s faults to these.
    pub(crate) fn extend(&mut self, other: ActiveFaults) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_are_snake_case() {
        let names = serde_json::to_value(Fault::ALL).unwrap_or_default();
        assert_eq!(names[0], "wrong_nonce");
        assert_eq!(names[9], "encrypted_to_wrong_key");
        assert_eq!(names[16], "rotated_signing_key");
        assert_eq!(names[20], "withdrawn_signing_key");
        assert_eq!(names[21], "wrong_authorized_party");
        let parsed: Vec<Fault> = serde_json::from_value(names).unwrap_or_default();
        assert_eq!(parsed, Fault::ALL);
    }

    #[test]
    fn once_faults_are_used_up_by_their_own_phase_only() {
        let mut state = FaultState::new(&[Fault::WrongIssuer]);
        state.add_once(Fault::ErrorRedirect);
        state.add_once(Fault::WrongNonce);

        let token = state.take(Phase::Token);
        assert!(token.has(Fault::WrongNonce) && token.has(Fault::WrongIssuer));
        assert!(!token.has(Fault::ErrorRedirect));
        assert_eq!(state.pending_once(), vec![Fault::ErrorRedirect]);

        let again = state.take(Phase::Token);
        assert!(!again.has(Fault::WrongNonce) && again.has(Fault::WrongIssuer));

        assert!(state.take(Phase::Authorization).has(Fault::ErrorRedirect));
        assert!(state.pending_once().is_empty());
    }
}
