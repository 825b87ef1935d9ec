//! Where each broker puts the person's details in the ID token.
//!
//! Finnish brokers name the identity-code and name claims differently; a [`Preset`] gives the names a
//! broker uses, and `[broker.claims]` in the configuration overrides single names.

use serde::{Deserialize, Serialize};

/// A broker whose claim names are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// A Keycloak realm set up like an FTN broker (the bundled mock broker).
    #[default]
    Keycloak,
    /// Telia Tunnistus.
    Telia,
    /// OP Identity Service Broker.
    Op,
    /// Idura (formerly Criipto).
    Idura,
    /// Signicat.
    Signicat,
}

impl Preset {
    /// Every preset, for tests and help texts.
    pub const ALL: [Preset; 5] = [
        Preset::Keycloak,
        Preset::Telia,
        Preset::Op,
        Preset::Idura,
        Preset::Signicat,
    ];

    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Keycloak => "keycloak",
            Preset::Telia => "telia",
            Preset::Op => "op",
            Preset::Idura => "idura",
            Preset::Signicat => "signicat",
        }
    }

    /// The claim names this broker uses.
    pub fn claim_names(self) -> ClaimNames {
        let oidc = |national_id: &str| ClaimNames {
            national_id: national_id.to_owned(),
            given_name: "given_name".to_owned(),
            family_name: "family_name".to_owned(),
            birthdate: "birthdate".to_owned(),
        };
        match self {
            Preset::Keycloak | Preset::Idura => oidc("hetu"),
            Preset::Op => oidc("personal_identity_code"),
            Preset::Signicat => oidc("nin"),
            Preset::Telia => ClaimNames {
                national_id: "urn:oid:1.2.246.21".to_owned(),
                given_name: "urn:oid:1.2.246.575.1.14".to_owned(),
                family_name: "urn:oid:2.5.4.4".to_owned(),
                birthdate: "urn:oid:1.3.6.1.5.5.7.9.1".to_owned(),
            },
        }
    }
}

/// Names of the ID-token claims that carry the person's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimNames {
    /// The Finnish personal identity code (hetu).
    pub national_id: String,
    /// Given names.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date (`YYYY-MM-DD`).
    pub birthdate: String,
}

/// Single claim names that override a preset (`[broker.claims]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimOverrides {
    pub national_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birthdate: Option<String>,
}

impl ClaimNames {
    /// The preset's names with the overrides applied.
    pub fn resolve(preset: Preset, overrides: &ClaimOverrides) -> ClaimNames {
        let mut names = preset.claim_names();
        let pick = |slot: &mut String, over: &Option<String>| {
            if let Some(name) = over {
                slot.clone_from(name);
            }
        };
        pick(&mut names.national_id, &overrides.national_id);
        pick(&mut names.given_name, &overrides.given_name);
        pick(&mut names.family_name, &overrides.family_name);
        pick(&mut names.birthdate, &overrides.birthdate);
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each preset's names, written out from the brokers' documentation (FTN.md's table), so the table
    /// above is checked against the documents and not against itself.
    #[test]
    fn each_preset_has_the_claim_names_its_broker_documents() {
        let documented =
            |national_id: &str, given: &str, family: &str, birthdate: &str| ClaimNames {
                national_id: national_id.to_owned(),
                given_name: given.to_owned(),
                family_name: family.to_owned(),
                birthdate: birthdate.to_owned(),
            };
        for preset in Preset::ALL {
            let expected = match preset {
                Preset::Keycloak => documented("hetu", "given_name", "family_name", "birthdate"),
                Preset::Telia => documented(
                    "urn:oid:1.2.246.21",
                    "urn:oid:1.2.246.575.1.14",
                    "urn:oid:2.5.4.4",
                    "urn:oid:1.3.6.1.5.5.7.9.1",
                ),
                Preset::Op => documented(
                    "personal_identity_code",
                    "given_name",
                    "family_name",
                    "birthdate",
                ),
                Preset::Idura => documented("hetu", "given_name", "family_name", "birthdate"),
                Preset::Signicat => documented("nin", "given_name", "family_name", "birthdate"),
            };
            assert_eq!(preset.claim_names(), expected, "{}", preset.as_str());
        }
    }

    #[test]
    fn telia_uses_oid_claim_names() {
        let names = Preset::Telia.claim_names();
        assert_eq!(names.national_id, "urn:oid:1.2.246.21");
        assert_eq!(names.family_name, "urn:oid:2.5.4.4");
    }

    #[test]
    fn overrides_replace_only_the_names_given() {
        let overrides = ClaimOverrides {
            national_id: Some("ssn".into()),
            ..Default::default()
        };
        let names = ClaimNames::resolve(Preset::Op, &overrides);
        assert_eq!(names.national_id, "ssn");
        assert_eq!(names.given_name, "given_name");
    }
}
