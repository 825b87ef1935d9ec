//! What `tunnus check-config` learns about the directory without writing anything: whether the
//! service account can bind, read `base_dn` and find accounts with `user_filter`, and — for Active
//! Directory — whether it may read the attributes the settings name, holds the "Reset Password"
//! right on the accounts, may write the attributes written with the password, and can see who is in
//! Domain Admins.
//!
//! Rights are read, never tried: the reads and the Reset Password right from the security
//! descriptor of one account under `base_dn` (with the token of the service account: its own SID,
//! `tokenGroups`, and the groups that Everyone and Authenticated Users are members of), the writes
//! from that account's `allowedAttributesEffective`, which the domain controller computes itself.
//! What cannot be told that way is reported as unknown, never guessed.

use std::collections::HashSet;

use ldap3::controls::RawControl;
use ldap3::{Ldap, Scope, SearchEntry, SearchOptions};
use secrecy::ExposeSecret;

use super::acl::{self, Guid};
use super::outcome::{Step, from_error};
use super::{LdapDirectory, ad, binary_values, failed, open, search_entries, values};
use crate::directory::DirectoryError;

/// `LDAP_SERVER_SD_FLAGS_OID` asking for the DACL only, which an account that may not read the
/// SACL still gets.
const SD_FLAGS_OID: &str = "1.2.840.113556.1.4.801";
const SD_FLAGS_DACL: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x04];

/// The "Reset Password" extended right (`User-Force-Change-Password`).
const RESET_PASSWORD: &str = "00299570-246d-11d0-a768-00aa006e0529";
/// `member` and its property set, Membership.
const MEMBER: &str = "bf9679c0-0de6-11d0-a285-00aa003049e2";
const MEMBERSHIP: &str = "bc0ac240-79a9-11d0-9020-00c04fc2d4cf";

/// Everyone and Authenticated Users: in every token, though no `tokenGroups` lists them.
const EVERYONE: &str = "S-1-1-0";
const AUTHENTICATED_USERS: &str = "S-1-5-11";
/// PRINCIPAL_SELF: the account an entry of an account's DACL is about, when it acts on itself.
const PRINCIPAL_SELF: &str = "S-1-5-10";

/// What the service is set up to do besides finding accounts and writing passwords.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// `accounts.reset_unlocks`: writes remove the directory's lock.
    pub unlock: bool,
}

/// One thing checked, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked, e.g. "read employeeID (national_id_attribute)".
    pub check: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The service account lacks it; `fix` says what to set or delegate.
    Missing {
        fix: String,
    },
    /// It cannot be told without writing; `why`.
    Unknown {
        why: String,
    },
}

/// Everything [`LdapDirectory::probe`] found, in the order checked.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn ok(&mut self, check: impl Into<String>) {
        self.push(check, Outcome::Ok);
    }

    fn missing(&mut self, check: impl Into<String>, fix: impl Into<String>) {
        self.push(check, Outcome::Missing { fix: fix.into() });
    }

    fn unknown(&mut self, check: impl Into<String>, why: impl Into<String>) {
        self.push(check, Outcome::Unknown { why: why.into() });
    }

    fn push(&mut self, check: impl Into<String>, outcome: Outcome) {
        self.findings.push(Finding {
            check: check.into(),
            outcome,
        });
    }

    /// How many findings are [`Outcome::Missing`].
    pub fn missing_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|finding| matches!(finding.outcome, Outcome::Missing { .. }))
            .count()
    }

    /// The finding whose check starts with `check`, for tests.
    pub fn outcome_of(&self, check: &str) -> Option<&Outcome> {
        self.findings
            .iter()
            .find(|finding| finding.check.starts_with(check))
            .map(|finding| &finding.outcome)
    }
}

/// An attribute of the settings, by the key that names it.
struct Named<'a> {
    key: &'static str,
    attribute: &'a str,
}

impl LdapDirectory {
    /// Binds as the service account on a connection of its own and checks, by reading only, what
    /// the settings need of it (see the module's documentation). A failed bind or an unreachable
    /// server is the error [`LdapDirectory::health`] would give; everything else is a finding.
    pub async fn probe(&self, needs: Needs) -> Result<Report, DirectoryError> {
        let config = &self.config;
        let mut ldap = open(
            config,
            &config.bind_dn,
            config.bind_password.expose_secret(),
        )
        .await?;
        let mut report = Report::default();
        report.ok("bind as the service account (bind_dn, bind_password_file)");
        let result = self.probe_on(&mut ldap, needs, &mut report).await;
        let _ = tokio::time::timeout(config.timeout, ldap.unbind()).await;
        result.map(|()| report)
    }

    async fn probe_on(
        &self,
        ldap: &mut Ldap,
        needs: Needs,
        report: &mut Report,
    ) -> Result<(), DirectoryError> {
        let config = &self.config;
        let base = ldap
            .with_timeout(config.timeout)
            .search(&config.base_dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|error| from_error(Step::Health, error))?;
        match base.1.rc {
            0 => report.ok("read base_dn"),
            32 => {
                report.missing(
                    "read base_dn",
                    "no such entry, or the service account may not see it: check \
                     directory.ldap.base_dn",
                );
                return Ok(());
            }
            _ => return Err(failed(Step::Health, &base.1, None)),
        }
        let mut attributes = self.read_attributes();
        attributes.push("allowedAttributesEffective");
        let found = ldap
            .with_timeout(config.timeout)
            .with_search_options(SearchOptions::new().sizelimit(1))
            .search(
                &config.base_dn,
                Scope::Subtree,
                &config.user_filter,
                attributes,
            )
            .await
            .map_err(|error| from_error(Step::Search, error))?;
        if found.1.rc != 0 && found.1.rc != 4 {
            return Err(failed(Step::Search, &found.1, None));
        }
        let Some(sample) = search_entries(found.0).next() else {
            report.unknown(
                "find accounts under base_dn with user_filter",
                "no entry matches: check directory.ldap.user_filter, or add an account to check \
                 the service account's rights on",
            );
            return Ok(());
        };
        report.ok(format!(
            "find accounts under base_dn with user_filter (rights checked on {})",
            sample.dn
        ));
        if !self.active_directory() {
            report.unknown(
                "write passwords (and, for activation, the state and terms attributes)",
                "OpenLDAP's access rules cannot be read over LDAP; only a write would tell",
            );
            return Ok(());
        }
        self.probe_active_directory(ldap, needs, &sample, report)
            .await
    }

    async fn probe_active_directory(
        &self,
        ldap: &mut Ldap,
        needs: Needs,
        sample: &SearchEntry,
        report: &mut Report,
    ) -> Result<(), DirectoryError> {
        let config = &self.config;
        let root = self.read_entry(ldap, "", &["schemaNamingContext"]).await?;
        let schema = root
            .as_ref()
            .and_then(|root| values(root, "schemaNamingContext").first().cloned());
        let everyone_s = self.everyone_s(ldap).await?;
        let token = self.token(ldap, &everyone_s).await?;
        let descriptor = self.descriptor(ldap, &sample.dn).await?;

        let mut reads = vec![
            Named {
                key: "national_id_attribute",
                attribute: &config.national_id_attribute,
            },
            Named {
                key: "username_attribute",
                attribute: &config.username_attribute,
            },
            Named {
                key: "given_name_attribute",
                attribute: &config.given_name_attribute,
            },
            Named {
                key: "family_name_attribute",
                attribute: &config.family_name_attribute,
            },
            Named {
                key: "category_attribute",
                attribute: &config.category_attribute,
            },
        ];
        if let Some(attribute) = &config.shown_username_attribute {
            reads.push(Named {
                key: "shown_username_attribute",
                attribute,
            });
        }
        if let Some((attribute, _)) = &config.state {
            reads.push(Named {
                key: "state_attribute",
                attribute,
            });
        }
        for attribute in [
            ad::ACCOUNT_CONTROL,
            ad::LOCKOUT_TIME,
            ad::PRIMARY_GROUP_ID,
            ad::OBJECT_SID,
        ] {
            reads.push(Named {
                key: "(the account's state and groups)",
                attribute,
            });
        }
        let guids = match &schema {
            Some(schema) => Some(self.schema_guids(ldap, schema, &reads).await?),
            None => None,
        };
        for named in &reads {
            let check = format!("read {} ({})", named.attribute, named.key);
            let Some(guids) = &guids else {
                report.unknown(check, "the directory names no schemaNamingContext");
                continue;
            };
            let Some(types) = guids
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(named.attribute))
                .map(|(_, types)| types)
            else {
                report.missing(
                    check,
                    format!(
                        "the directory's schema has no attribute {}: check directory.ldap.{}",
                        named.attribute, named.key
                    ),
                );
                continue;
            };
            match &descriptor {
                Some(dacl) => {
                    if acl::granted(dacl.as_deref(), &token, acl::READ_PROPERTY, types) {
                        report.ok(check);
                    } else {
                        report.missing(
                            check,
                            "grant the service account read access to it on the accounts",
                        );
                    }
                }
                None => report.unknown(check, "the account's security descriptor is not readable"),
            }
        }

        if config.enable_on_activation
            && let (Some((attribute, _)), Some(guids), Some(dacl)) =
                (&config.state, &guids, &descriptor)
        {
            // Whoever may write their own state could mark their account as waiting for
            // activation before it is closed, and have it enabled again later.
            let check = format!(
                "people cannot write {attribute} (state_attribute) of their own account \
                 (enable_on_activation)"
            );
            let mut own = everyone_s.clone();
            own.insert(PRINCIPAL_SELF.to_owned());
            let types = guids
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                .map(|(_, types)| types.as_slice())
                .unwrap_or_default();
            if acl::granted(dacl.as_deref(), &own, acl::WRITE_PROPERTY, types) {
                report.missing(
                    check,
                    "choose a state_attribute outside the property sets people may write on \
                     their own account (Personal, Email and Web Information: \
                     msDS-cloudExtensionAttributeN, info and others), or deny SELF writing it",
                );
            } else {
                report.ok(check);
            }
        }

        let reset = "Reset Password on the accounts";
        match (&descriptor, acl::guid(RESET_PASSWORD)) {
            (Some(dacl), Some(right)) => {
                if acl::granted(dacl.as_deref(), &token, acl::CONTROL_ACCESS, &[right]) {
                    report.ok(reset);
                } else {
                    report.missing(
                        reset,
                        "delegate \"Reset user passwords and force password change at next \
                         logon\" on the accounts' OU to the service account",
                    );
                }
            }
            _ => report.unknown(reset, "the account's security descriptor is not readable"),
        }

        let mut writes: Vec<(String, &str)> = Vec::new();
        if let Some((attribute, _)) = &config.state {
            writes.push((
                format!("write {attribute} (state_attribute, at activation)"),
                attribute,
            ));
        }
        if let Some(attribute) = &config.terms_accepted_attribute {
            writes.push((
                format!("write {attribute} (terms_accepted_attribute, at activation)"),
                attribute,
            ));
        }
        if config.enable_on_activation {
            writes.push((
                "write userAccountControl (enable_on_activation)".to_owned(),
                ad::ACCOUNT_CONTROL,
            ));
        }
        if needs.unlock {
            writes.push((
                "write lockoutTime (accounts.reset_unlocks)".to_owned(),
                ad::LOCKOUT_TIME,
            ));
        }
        if config.must_change_at_next_logon {
            writes.push((
                "write pwdLastSet (must_change_at_next_logon)".to_owned(),
                ad::PWD_LAST_SET,
            ));
        }
        let writable = values(sample, "allowedAttributesEffective");
        for (check, attribute) in writes {
            if writable
                .iter()
                .any(|name| name.eq_ignore_ascii_case(attribute))
            {
                report.ok(check);
            } else {
                report.missing(
                    check,
                    format!("grant the service account \"Write {attribute}\" on the accounts"),
                );
            }
        }

        self.probe_groups(ldap, sample, &token, report).await
    }

    /// Whether the groups the eligibility rules need can be seen: the in-chain search for the
    /// sample account answers, and the service account may read `member` of Domain Admins.
    async fn probe_groups(
        &self,
        ldap: &mut Ldap,
        sample: &SearchEntry,
        token: &HashSet<String>,
        report: &mut Report,
    ) -> Result<(), DirectoryError> {
        match self.groups_in_chain(ldap, sample).await {
            Ok(_) => report.ok("find the accounts' groups, nested and primary"),
            Err(DirectoryError::Misconfigured { detail }) => {
                report.missing("find the accounts' groups, nested and primary", detail);
                return Ok(());
            }
            Err(error) => return Err(error),
        }
        let check = "read member of Domain Admins (privileged accounts)";
        let admins = binary_values(sample, ad::OBJECT_SID)
            .first()
            .and_then(|sid| ad::sid_to_string(sid))
            .and_then(|sid| ad::sibling_sid(&sid, 512));
        let Some(admins) = admins else {
            report.unknown(check, "the account has no domain SID to find the group by");
            return Ok(());
        };
        let base = self.group_base(ldap).await?;
        let found = ldap
            .with_timeout(self.config.timeout)
            .search(
                &base,
                Scope::Subtree,
                &format!("(objectSid={admins})"),
                vec!["1.1"],
            )
            .await
            .map_err(|error| from_error(Step::ReadGroup, error))?;
        let Some(group) = search_entries(found.0).next() else {
            report.missing(
                check,
                "the service account cannot see the group Domain Admins: grant it read access",
            );
            return Ok(());
        };
        let types = [acl::guid(MEMBER), acl::guid(MEMBERSHIP)]
            .into_iter()
            .flatten()
            .collect::<Vec<Guid>>();
        match self.descriptor(ldap, &group.dn).await? {
            Some(dacl) if acl::granted(dacl.as_deref(), token, acl::READ_PROPERTY, &types) => {
                report.ok(check)
            }
            Some(_) => report.missing(
                check,
                "grant the service account read access to member of the groups, or members of \
                 Domain Admins look unprivileged",
            ),
            None => report.unknown(check, "the group's security descriptor is not readable"),
        }
        Ok(())
    }

    /// The entry `dn` with `attributes`, if it exists.
    async fn read_entry(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        attributes: &[&str],
    ) -> Result<Option<SearchEntry>, DirectoryError> {
        let found = ldap
            .with_timeout(self.config.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", attributes.to_vec())
            .await
            .map_err(|error| from_error(Step::Health, error))?;
        match found.1.rc {
            0 => Ok(search_entries(found.0).next()),
            32 => Ok(None),
            _ => Err(failed(Step::Health, &found.1, None)),
        }
    }

    /// The SIDs the service account acts with: its own, its `tokenGroups`, and
    /// [`LdapDirectory::everyone_s`].
    async fn token(
        &self,
        ldap: &mut Ldap,
        everyone_s: &HashSet<String>,
    ) -> Result<HashSet<String>, DirectoryError> {
        let mut sids = everyone_s.clone();
        let own = self
            .read_entry(ldap, &self.config.bind_dn, &[ad::OBJECT_SID, "tokenGroups"])
            .await?;
        if let Some(own) = own {
            for attribute in [ad::OBJECT_SID, "tokenGroups"] {
                sids.extend(
                    binary_values(&own, attribute)
                        .iter()
                        .filter_map(|sid| ad::sid_to_string(sid)),
                );
            }
        }
        Ok(sids)
    }

    /// The SIDs in every account's token: Everyone, Authenticated Users, and the groups those two
    /// are members of (Pre-Windows 2000 Compatible Access, say), which the directory keeps as
    /// members that are foreign security principals.
    async fn everyone_s(&self, ldap: &mut Ldap) -> Result<HashSet<String>, DirectoryError> {
        let mut sids: HashSet<String> = [EVERYONE, AUTHENTICATED_USERS]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let base = self.group_base(ldap).await?;
        let filter = format!(
            "(|{})",
            [EVERYONE, AUTHENTICATED_USERS]
                .iter()
                .map(|sid| format!(
                    "(member:{}:={})",
                    ad::IN_CHAIN,
                    ldap3::ldap_escape(format!("CN={sid},CN=ForeignSecurityPrincipals,{base}"))
                ))
                .collect::<String>()
        );
        let found = ldap
            .with_timeout(self.config.timeout)
            .search(&base, Scope::Subtree, &filter, vec![ad::OBJECT_SID])
            .await
            .map_err(|error| from_error(Step::ReadGroup, error))?;
        for group in search_entries(found.0) {
            sids.extend(
                binary_values(&group, ad::OBJECT_SID)
                    .iter()
                    .filter_map(|sid| ad::sid_to_string(sid)),
            );
        }
        Ok(sids)
    }

    /// The DACL of `dn` (`Some(None)`: it has none), or `None` when the service account may not read
    /// the descriptor or it does not parse.
    async fn descriptor(
        &self,
        ldap: &mut Ldap,
        dn: &str,
    ) -> Result<Option<Option<Vec<acl::Ace>>>, DirectoryError> {
        let control = RawControl {
            ctype: SD_FLAGS_OID.to_owned(),
            crit: false,
            val: Some(SD_FLAGS_DACL.to_vec()),
        };
        let found = ldap
            .with_timeout(self.config.timeout)
            .with_controls(control)
            .search(
                dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["nTSecurityDescriptor"],
            )
            .await
            .map_err(|error| from_error(Step::Health, error))?;
        if found.1.rc != 0 {
            return Ok(None);
        }
        Ok(search_entries(found.0)
            .next()
            .and_then(|entry| {
                binary_values(&entry, "nTSecurityDescriptor")
                    .into_iter()
                    .next()
            })
            .and_then(|descriptor| acl::dacl(&descriptor)))
    }

    /// For each attribute in `named`, its `schemaIDGUID` and, if it has one, its property set's.
    async fn schema_guids(
        &self,
        ldap: &mut Ldap,
        schema: &str,
        named: &[Named<'_>],
    ) -> Result<Vec<(String, Vec<Guid>)>, DirectoryError> {
        let filter = format!(
            "(|{})",
            named
                .iter()
                .map(|named| format!("(lDAPDisplayName={})", ldap3::ldap_escape(named.attribute)))
                .collect::<String>()
        );
        let found = ldap
            .with_timeout(self.config.timeout)
            .search(
                schema,
                Scope::OneLevel,
                &filter,
                vec!["lDAPDisplayName", "schemaIDGUID", "attributeSecurityGUID"],
            )
            .await
            .map_err(|error| from_error(Step::Health, error))?;
        if found.1.rc != 0 {
            return Err(failed(Step::Health, &found.1, None));
        }
        Ok(search_entries(found.0)
            .filter_map(|entry| {
                let name = values(&entry, "lDAPDisplayName").first()?.clone();
                let types = ["schemaIDGUID", "attributeSecurityGUID"]
                    .into_iter()
                    .filter_map(|attribute| {
                        binary_values(&entry, attribute)
                            .into_iter()
                            .next()
                            .and_then(|value| Guid::try_from(value.as_slice()).ok())
                    })
                    .collect();
                Some((name, types))
            })
            .collect())
    }
}
