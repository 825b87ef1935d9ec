//! The claim names the mock puts a person's details under, per broker preset.
//!
//! The names are written out here, as the brokers document them, rather than taken from the relying
//! party's table in [`crate::oidc::claims`]: the mock is what the service's tests check the relying
//! party against, so a wrong name on the relying party's side must meet a right one here and fail.

use crate::oidc::claims::Preset;

/// Where one broker puts the person's details in the ID token and the userinfo answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClaimNames {
    /// The Finnish personal identity code (hetu).
    pub national_id: &'static str,
    /// Given names.
    pub given_name: &'static str,
    /// Family name.
    pub family_name: &'static str,
    /// Birth date (`YYYY-MM-DD`).
    pub birthdate: &'static str,
}

/// The claim names the broker that `preset` selects uses.
pub(crate) fn claim_names(preset: Preset) -> ClaimNames {
    match preset {
        Preset::Keycloak => ClaimNames {
            national_id: "hetu",
            given_name: "given_name",
            family_name: "family_name",
            birthdate: "birthdate",
        },
        Preset::Telia => ClaimNames {
            national_id: "urn:oid:1.2.246.21",
            given_name: "urn:oid:1.2.246.575.1.14",
            family_name: "urn:oid:2.5.4.4",
            birthdate: "urn:oid:1.3.6.1.5.5.7.9.1",
        },
        Preset::Op => ClaimNames {
            national_id: "personal_identity_code",
            given_name: "given_name",
            family_name: "family_name",
            birthdate: "birthdate",
        },
        Preset::Idura => ClaimNames {
            national_id: "hetu",
            given_name: "given_name",
            family_name: "family_name",
            birthdate: "birthdate",
        },
        Preset::Signicat => ClaimNames {
            national_id: "nin",
            given_name: "given_name",
            family_name: "family_name",
            birthdate: "birthdate",
        },
    }
}
