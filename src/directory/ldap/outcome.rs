//! Turning LDAP result codes and connection errors into [`DirectoryError`]s.
//!
//! The details are for the log: the step, the result code and its name, and at most a short,
//! cleaned piece of the server's diagnostic text (with the password cut out, should a server ever
//! echo it). Filters and searched values never appear.

use ldap3::controls::Control;
use ldap3::{LdapError, LdapResult};

use super::ad;
use super::encode::{PPOLICY_OID, ppolicy_error};
use crate::directory::{DirectoryError, PolicyRefusal};

/// What the backend was doing when the server said no: the same code means different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Opening the connection, StartTLS and the TLS handshake.
    Connect,
    /// The service account's bind.
    Bind,
    /// The search for accounts under the base DN.
    Search,
    /// Reading the account about to be written.
    ReadAccount,
    /// Reading the groups of a group the account is in.
    ReadGroup,
    /// Writing the password.
    WritePassword,
    /// Writing the state and terms attributes.
    WriteState,
    /// Removing the lock after the password was written.
    Unlock,
    /// The readiness check.
    Health,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Bind => "service bind",
            Step::Search => "account search",
            Step::ReadAccount => "account read",
            Step::ReadGroup => "group read",
            Step::WritePassword => "password write",
            Step::WriteState => "state write",
            Step::Unlock => "unlock",
            Step::Health => "health check",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Step::WritePassword | Step::WriteState)
    }
}

/// A result whose code is not success.
pub(super) fn from_result(
    step: Step,
    rc: u32,
    text: &str,
    controls: &[Control],
    password: Option<&str>,
) -> DirectoryError {
    let detail = format!(
        "{}: result {rc} ({}){}",
        step.name(),
        code_name(rc),
        diagnostic(text, password)
    );
    let lowered = text.to_ascii_lowercase();
    // Active Directory (and Samba) put a Windows error code in front of the diagnostic.
    let code = ad::extended_code(text);
    match rc {
        19 | 53 if step.writes() && code == Some(ad::PASSWORD_RESTRICTION) => {
            DirectoryError::PolicyRejected {
                refusal: refusal(None, &lowered)
                    .unwrap_or(PolicyRefusal::LengthComplexityOrHistory),
                detail,
            }
        }
        19 if step.writes() && code.is_none() => DirectoryError::PolicyRejected {
            refusal: refusal(ppolicy_error_of(controls), &lowered).unwrap_or(PolicyRefusal::Other),
            detail,
        },
        53 if step.writes() && code == Some(ad::GENERAL_FAILURE) => {
            DirectoryError::misconfigured(format!(
                "{detail}; Active Directory sets passwords only over an encrypted connection: use \
                 ldaps:// or StartTLS in directory.ldap.url"
            ))
        }
        // A referral: the entry (or the whole base) is held by another server, or this one is a
        // read-only replica sending writes to its provider. Never "no account".
        10 => DirectoryError::misconfigured(format!(
            "{detail}; the directory referred the request to another server: point \
             directory.ldap.url at a server that holds the accounts under directory.ldap.base_dn \
             and accepts writes (not a read-only replica)"
        )),
        32 if step == Step::Search || step == Step::Health => {
            DirectoryError::misconfigured(format!("{detail}; check directory.ldap.base_dn"))
        }
        32 => DirectoryError::AccountNotFound,
        49 => {
            let reason = code
                .and_then(ad::bind_refusal)
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default();
            DirectoryError::misconfigured(format!(
                "{detail}{reason}; check directory.ldap.bind_dn and bind_password_file"
            ))
        }
        50 if step == Step::Unlock => DirectoryError::misconfigured(format!(
            "{detail}; the service account needs write access to pwdAccountLockedTime to unlock \
             accounts (accounts.reset_unlocks)"
        )),
        50 if step == Step::WritePassword => DirectoryError::misconfigured(format!(
            "{detail}; the service account may not write this account's password: Active \
             Directory needs the Reset Password right on the accounts (and write access to the \
             attributes set with it), OpenLDAP write access to userPassword; `tunnus check-config` \
             lists the rights it finds missing"
        )),
        50 => DirectoryError::misconfigured(format!(
            "{detail}; the service account lacks the rights for this"
        )),
        _ if code == Some(ad::ACCESS_DENIED) => DirectoryError::misconfigured(format!(
            "{detail}; the service account lacks the rights for this; `tunnus check-config` lists \
             the rights it finds missing"
        )),
        8 | 13 => DirectoryError::misconfigured(format!(
            "{detail}; the directory wants TLS: use StartTLS or ldaps://"
        )),
        // timeLimitExceeded, adminLimitExceeded, busy, unavailable: conditions that pass.
        3 | 11 | 51 | 52 => DirectoryError::Unavailable { detail },
        _ => DirectoryError::Misconfigured { detail },
    }
}

/// A result whose code is not success, naming the servers it refers to when it is a referral.
pub(super) fn from_ldap_result(
    step: Step,
    result: &LdapResult,
    password: Option<&str>,
) -> DirectoryError {
    let error = from_result(step, result.rc, &result.text, &result.ctrls, password);
    match error {
        DirectoryError::Misconfigured { detail } if !result.refs.is_empty() => {
            DirectoryError::Misconfigured {
                detail: format!("{detail} (referred to {})", result.refs.join(", ")),
            }
        }
        other => other,
    }
}

/// An error from the LDAP client: connection trouble, timeouts, TLS, or a failed result.
pub(super) fn from_error(step: Step, error: LdapError) -> DirectoryError {
    let name = step.name();
    match error {
        LdapError::LdapResult { result } => from_ldap_result(step, &result, None),
        LdapError::Io { source } => match tls_problem(&source) {
            Some(problem) => DirectoryError::misconfigured(format!(
                "{name}: TLS: {problem}; check directory.ldap.ca_file and the host name in directory.ldap.url"
            )),
            None => DirectoryError::unavailable(format!("{name}: {source}")),
        },
        LdapError::Rustls { source } => DirectoryError::misconfigured(format!(
            "{name}: TLS: {source}; check directory.ldap.ca_file and directory.ldap.url"
        )),
        LdapError::DNSName { .. } => DirectoryError::misconfigured(format!(
            "{name}: the host in directory.ldap.url cannot be checked against a certificate"
        )),
        LdapError::Timeout { .. } => {
            DirectoryError::unavailable(format!("{name}: no answer in time"))
        }
        LdapError::EndOfStream
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::MiscSend { .. } => {
            DirectoryError::unavailable(format!("{name}: the connection closed"))
        }
        LdapError::FilterParsing => DirectoryError::misconfigured(format!(
            "{name}: the filter does not parse; check directory.ldap.user_filter"
        )),
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
            DirectoryError::misconfigured(format!("{name}: check directory.ldap.url"))
        }
        other => DirectoryError::misconfigured(format!("{name}: {other}")),
    }
}

/// A TLS failure inside an I/O error (how the TLS stream reports handshake failures).
fn tls_problem(error: &std::io::Error) -> Option<String> {
    let inner = error.get_ref()?;
    inner
        .downcast_ref::<rustls::Error>()
        .map(|tls| tls.to_string())
}

fn ppolicy_error_of(controls: &[Control]) -> Option<u8> {
    controls
        .iter()
        .map(|control| &control.1)
        .find(|raw| raw.ctype == PPOLICY_OID)
        .and_then(|raw| raw.val.as_deref())
        .and_then(ppolicy_error)
}

/// The refusal's category: from the password policy control when the server sent one, else from
/// the words of the diagnostic (OpenLDAP's ppolicy and Samba phrase them so; Windows does not).
fn refusal(ppolicy: Option<u8>, lowered_text: &str) -> Option<PolicyRefusal> {
    match ppolicy {
        Some(5) => return Some(PolicyRefusal::TooSimple),
        Some(6) => return Some(PolicyRefusal::TooShort),
        Some(7) => return Some(PolicyRefusal::ChangedTooRecently),
        Some(8) => return Some(PolicyRefusal::RecentlyUsed),
        _ => {}
    }
    let has = |words: &[&str]| words.iter().any(|word| lowered_text.contains(word));
    if has(&["too short", "minimum length", "min length"]) {
        Some(PolicyRefusal::TooShort)
    } else if has(&[
        "history",
        "already used",
        "recently used",
        "not being changed from existing",
    ]) {
        Some(PolicyRefusal::RecentlyUsed)
    } else if has(&["too young", "too recently", "minimum password age"]) {
        Some(PolicyRefusal::ChangedTooRecently)
    } else if has(&[
        "quality",
        "complexity",
        "too simple",
        "dictionary",
        "strength",
    ]) {
        Some(PolicyRefusal::TooSimple)
    } else {
        None
    }
}

/// At most 120 printable characters of the server's text, without the password.
fn diagnostic(text: &str, password: Option<&str>) -> String {
    let text = match password {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text.to_owned(),
    };
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        String::new()
    } else {
        format!(": {cleaned}")
    }
}

fn code_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        19 => "constraintViolation",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        65 => "objectClassViolation",
        80 => "other",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::controls::RawControl;

    #[test]
    fn a_referral_is_misconfiguration_at_every_step_naming_where_it_refers() {
        for step in [
            Step::Search,
            Step::ReadAccount,
            Step::WritePassword,
            Step::WriteState,
            Step::Unlock,
        ] {
            let result = LdapResult {
                rc: 10,
                matched: String::new(),
                text: String::new(),
                refs: vec!["ldap://provider.example.fi/".to_owned()],
                ctrls: Vec::new(),
            };
            match from_ldap_result(step, &result, None) {
                DirectoryError::Misconfigured { detail } => {
                    assert!(detail.contains("result 10 (referral)"), "{detail}");
                    assert!(detail.contains("read-only replica"), "{detail}");
                    assert!(detail.contains("ldap://provider.example.fi/"), "{detail}");
                }
                other => panic!("{step:?}: expected Misconfigured, got {other:?}"),
            }
        }
    }

    fn ppolicy_control(error: u8) -> Control {
        Control(
            None,
            RawControl {
                ctype: PPOLICY_OID.to_owned(),
                crit: false,
                val: Some(vec![0x30, 0x03, 0x81, 0x01, error]),
            },
        )
    }

    fn refusal_of(error: &DirectoryError) -> PolicyRefusal {
        match error {
            DirectoryError::PolicyRejected { refusal, .. } => *refusal,
            other => panic!("expected PolicyRejected, got {other:?}"),
        }
    }

    #[test]
    fn constraint_violation_on_a_write_is_a_policy_refusal_refined_by_ppolicy() {
        let text = "Password fails quality checking policy";
        for (code, expected) in [
            (5, PolicyRefusal::TooSimple),
            (6, PolicyRefusal::TooShort),
            (7, PolicyRefusal::ChangedTooRecently),
            (8, PolicyRefusal::RecentlyUsed),
        ] {
            let error = from_result(
                Step::WritePassword,
                19,
                text,
                &[ppolicy_control(code)],
                None,
            );
            assert_eq!(refusal_of(&error), expected, "ppolicy error {code}");
        }
    }

    #[test]
    fn without_the_control_the_refusal_comes_from_the_diagnostic() {
        for (text, expected) in [
            (
                "Password is too young to change",
                PolicyRefusal::ChangedTooRecently,
            ),
            (
                "Password is in history of old passwords",
                PolicyRefusal::RecentlyUsed,
            ),
            (
                "Password fails quality checking policy",
                PolicyRefusal::TooSimple,
            ),
            (
                "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!",
                PolicyRefusal::TooShort,
            ),
            (
                "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!",
                PolicyRefusal::RecentlyUsed,
            ),
            (
                "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!",
                PolicyRefusal::TooSimple,
            ),
            ("something else", PolicyRefusal::Other),
        ] {
            let error = from_result(Step::WritePassword, 19, text, &[], None);
            assert_eq!(refusal_of(&error), expected, "{text}");
        }
    }

    #[test]
    fn windows_password_restriction_is_the_rule_of_length_complexity_and_history() {
        // Windows names no rule: 53 from some versions, 19 with the attribute error from others.
        for (rc, text) in [
            (
                53,
                "0000052D: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0",
            ),
            (
                19,
                "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 \
                 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)",
            ),
        ] {
            let error = from_result(Step::WritePassword, rc, text, &[], None);
            assert_eq!(
                refusal_of(&error),
                PolicyRefusal::LengthComplexityOrHistory,
                "{text}"
            );
        }
    }

    #[test]
    fn samba_s_password_restriction_names_its_rule() {
        for (text, expected) in [
            (
                "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 12 characters!",
                PolicyRefusal::TooShort,
            ),
            (
                "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!",
                PolicyRefusal::TooSimple,
            ),
            (
                "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!",
                PolicyRefusal::RecentlyUsed,
            ),
            (
                "0000052D: Constraint violation - check_password_restrictions: password is too young to change!",
                PolicyRefusal::ChangedTooRecently,
            ),
        ] {
            let error = from_result(Step::WritePassword, 19, text, &[], None);
            assert_eq!(refusal_of(&error), expected, "{text}");
        }
    }

    #[test]
    fn other_active_directory_codes_on_a_write_are_not_about_the_password() {
        for text in [
            "00002077: SvcErr: DSID-03190FD4, problem 5003 (WILL_NOT_PERFORM)",
            "00002082: AtrErr: DSID-03151904, #1: 0: 00002082: DSID-03151904, problem 1001 (NO_ATTRIBUTE_OR_VAL), data 0",
        ] {
            for rc in [19, 53] {
                let error = from_result(Step::WritePassword, rc, text, &[], None);
                assert!(
                    matches!(error, DirectoryError::Misconfigured { .. }),
                    "{rc} {text}: {error:?}"
                );
            }
        }
        let error = from_result(
            Step::WritePassword,
            53,
            "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0",
            &[],
            None,
        );
        match error {
            DirectoryError::Misconfigured { detail } => {
                assert!(detail.contains("encrypted connection"), "{detail}")
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
    }

    #[test]
    fn missing_rights_point_at_the_delegation_and_check_config() {
        for (rc, text) in [
            (
                50,
                "00000005: SecErr: DSID-031A11E5, problem 4003 (INSUFFICIENT_ACCESS_RIGHTS), data 0",
            ),
            (
                50,
                "error in module acl: insufficient access rights during LDB_MODIFY",
            ),
        ] {
            match from_result(Step::WritePassword, rc, text, &[], None) {
                DirectoryError::Misconfigured { detail } => {
                    assert!(detail.contains("Reset Password"), "{detail}");
                    assert!(detail.contains("tunnus check-config"), "{detail}");
                }
                other => panic!("expected Misconfigured, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_refused_service_bind_says_why_active_directory_refused_it() {
        let text = "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 533, v1db1";
        match from_result(Step::Bind, 49, text, &[], None) {
            DirectoryError::Misconfigured { detail } => {
                assert!(detail.contains("(the account is disabled)"), "{detail}");
                assert!(detail.contains("bind_password_file"), "{detail}");
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
    }

    #[test]
    fn no_such_object_is_a_vanished_account_on_writes_and_a_bad_base_on_searches() {
        let error = from_result(Step::ReadAccount, 32, "", &[], None);
        assert!(
            matches!(error, DirectoryError::AccountNotFound),
            "{error:?}"
        );
        let error = from_result(Step::WritePassword, 32, "", &[], None);
        assert!(
            matches!(error, DirectoryError::AccountNotFound),
            "{error:?}"
        );
        let error = from_result(Step::Search, 32, "", &[], None);
        match error {
            DirectoryError::Misconfigured { detail } => {
                assert!(detail.contains("directory.ldap.base_dn"), "{detail}")
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
    }

    #[test]
    fn credential_and_access_problems_are_misconfiguration() {
        let error = from_result(Step::Bind, 49, "", &[], None);
        match error {
            DirectoryError::Misconfigured { detail } => {
                assert!(
                    detail.contains("result 49 (invalidCredentials)"),
                    "{detail}"
                );
                assert!(detail.contains("bind_password_file"), "{detail}");
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
        for step in [Step::Search, Step::WritePassword, Step::WriteState] {
            let error = from_result(step, 50, "no write access to parent", &[], None);
            assert!(
                matches!(error, DirectoryError::Misconfigured { .. }),
                "{error:?}"
            );
        }
    }

    #[test]
    fn busy_and_unavailable_servers_can_be_retried() {
        for rc in [3, 11, 51, 52] {
            let error = from_result(Step::WritePassword, rc, "", &[], None);
            assert!(
                matches!(error, DirectoryError::Unavailable { .. }),
                "{rc}: {error:?}"
            );
        }
    }

    #[test]
    fn constraint_violation_outside_a_write_is_not_about_a_password() {
        let error = from_result(Step::Search, 19, "", &[], None);
        assert!(
            matches!(error, DirectoryError::Misconfigured { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn the_detail_is_short_and_never_holds_the_password() {
        let text = format!("bad password Sala-Sana-123\n{}", "x".repeat(500));
        let error = from_result(Step::WritePassword, 19, &text, &[], Some("Sala-Sana-123"));
        let message = error.to_string();
        assert!(!message.contains("Sala-Sana-123"), "{message}");
        assert!(
            message.contains("password write: result 19 (constraintViolation): bad password ***")
        );
        assert!(message.len() < 250, "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn connection_failures_and_timeouts_can_be_retried() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = from_error(Step::Connect, LdapError::from(refused));
        assert!(
            matches!(error, DirectoryError::Unavailable { .. }),
            "{error:?}"
        );
        let error = from_error(Step::Search, LdapError::EndOfStream);
        assert!(
            matches!(error, DirectoryError::Unavailable { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn an_untrusted_certificate_is_misconfiguration() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let error = from_error(Step::Connect, LdapError::from(io));
        match error {
            DirectoryError::Misconfigured { detail } => {
                assert!(detail.contains("directory.ldap.ca_file"), "{detail}")
            }
            other => panic!("expected Misconfigured, got {other:?}"),
        }
    }
}
