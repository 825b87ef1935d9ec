//! Who the person is, as the broker verified it.
//!
//! [`NationalId`] is the Finnish personal identity code (henkilötunnus, "hetu"). It is personal data:
//! its `Debug` shows only a masked form and it has no `Display`; the plain value is reachable only
//! through [`NationalId::expose`], for directory lookups and keyed pseudonyms.

use time::{Date, OffsetDateTime};

/// Why a string is not a valid identity code. The messages never contain the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HetuError {
    // variants: written with the implementation
}

/// A validated Finnish personal identity code: `DDMMYY`, century sign, individual number, check character.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalId(String);

impl NationalId {
    /// Validates `input` fully: format, century sign (including the letters in use since 2023), a real
    /// date in that century, and the check character. Individual numbers 900–999 (temporary and test
    /// codes) are accepted only when `allow_test_ids` is set. Lowercase letters are accepted and
    /// normalised to uppercase; surrounding whitespace is not accepted.
    pub fn parse(input: &str, allow_test_ids: bool) -> Result<Self, HetuError> {
        todo!()
    }

    /// The plain code. Only for directory lookups and keyed pseudonyms: never log or show it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The code with the individual number hidden, e.g. `010170-***R`, safe to show the person.
    pub fn masked(&self) -> String {
        todo!()
    }

    /// The birth date the code encodes.
    pub fn birth_date(&self) -> Date {
        todo!()
    }

    /// True for individual numbers 900–999 (temporary and test codes).
    pub fn is_temporary(&self) -> bool {
        todo!()
    }
}

impl std::fmt::Debug for NationalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NationalId({})", self.masked())
    }
}

/// A person as identified by the broker: the only input the account matching may use.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// The identity code from the validated ID token.
    pub national_id: NationalId,
    /// Given names, as the broker sent them.
    pub given_name: String,
    /// Family name, as the broker sent it.
    pub family_name: String,
    /// Birth date, from the `birthdate` claim when sent, else from the identity code.
    pub birthdate: Date,
    /// The assurance level the broker vouched for (`acr`).
    pub acr: String,
    /// The broker (`iss`) that identified the person.
    pub issuer: String,
    /// When the person authenticated at the broker, if it said.
    pub auth_time: Option<OffsetDateTime>,
}
