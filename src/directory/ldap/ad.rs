//! What Active Directory stores and answers in its own way: account flags, security identifiers,
//! the in-chain matching rule, and the extended error codes in its diagnostics.

/// `userAccountControl`: the account is disabled.
pub(super) const ACCOUNTDISABLE: u32 = 0x2;

/// `msDS-User-Account-Control-Computed`: the account is locked out now (its `lockoutTime` plus the
/// domain's lockout duration has not passed).
pub(super) const UF_LOCKOUT: u32 = 0x10;

pub(super) const ACCOUNT_CONTROL: &str = "userAccountControl";
pub(super) const ACCOUNT_CONTROL_COMPUTED: &str = "msDS-User-Account-Control-Computed";
pub(super) const LOCKOUT_TIME: &str = "lockoutTime";
pub(super) const PWD_LAST_SET: &str = "pwdLastSet";
pub(super) const OBJECT_SID: &str = "objectSid";
pub(super) const PRIMARY_GROUP_ID: &str = "primaryGroupID";

/// LDAP_MATCHING_RULE_IN_CHAIN: `(member:1.2.840.113556.1.4.1941:=DN)` matches every group that has
/// DN as a member, directly or through groups in groups.
pub(super) const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// ERROR_PASSWORD_RESTRICTION: the password is too short, not complex enough, in the history, or
/// changed too recently. Windows does not say which; Samba does, in words.
pub(super) const PASSWORD_RESTRICTION: u32 = 0x52d;
/// ERROR_ACCESS_DENIED.
pub(super) const ACCESS_DENIED: u32 = 0x5;
/// ERROR_GEN_FAILURE: what a domain controller answers to `unicodePwd` over an unencrypted
/// connection.
pub(super) const GENERAL_FAILURE: u32 = 0x1f;

/// The Windows error code in an Active Directory diagnostic: the eight hex digits it starts with
/// (`0000052D: Constraint violation - …`), or for binds the `data` code after them
/// (`80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563`).
pub(super) fn extended_code(text: &str) -> Option<u32> {
    let text = text.trim_start();
    let (leading, _) = text.split_once(':')?;
    if leading.len() != 8 || !leading.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let leading = u32::from_str_radix(leading, 16).ok()?;
    // 80090308 (SEC_E_INVALID_TOKEN) heads every failed bind; the reason is its data code.
    if leading == 0x8009_0308 {
        let data = text.split("data ").nth(1)?;
        let digits: String = data.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        return u32::from_str_radix(&digits, 16).ok();
    }
    Some(leading)
}

/// Why a bind was refused, from its `data` code, for the service account's messages.
pub(super) fn bind_refusal(code: u32) -> Option<&'static str> {
    Some(match code {
        0x52e => "wrong user name or password",
        0x525 => "no such user",
        0x530 => "not permitted to log on at this time",
        0x531 => "not permitted to log on from this workstation",
        0x532 => "its password has expired",
        0x533 => "the account is disabled",
        0x701 => "the account has expired",
        0x773 => "the account must change its password",
        0x775 => "the account is locked out",
        _ => return None,
    })
}

/// A security identifier in its string form (`S-1-5-21-…`) from its binary form.
pub fn sid_to_string(bytes: &[u8]) -> Option<String> {
    let (&revision, rest) = bytes.split_first()?;
    let (&count, rest) = rest.split_first()?;
    if rest.len() != 6 + 4 * usize::from(count) {
        return None;
    }
    let (authority, subs) = rest.split_at(6);
    let authority = authority
        .iter()
        .fold(0u64, |value, &byte| (value << 8) | u64::from(byte));
    let mut sid = format!("S-{revision}-{authority}");
    for sub in subs.chunks_exact(4) {
        let sub = u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]);
        sid.push_str(&format!("-{sub}"));
    }
    Some(sid)
}

/// The SID of the group whose relative id is `rid` in the domain of the account `account_sid`.
pub(super) fn sibling_sid(account_sid: &str, rid: u32) -> Option<String> {
    let (domain, _) = account_sid.rsplit_once('-')?;
    domain
        .starts_with("S-1-5-21-")
        .then(|| format!("{domain}-{rid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_codes_are_read_from_windows_and_samba_diagnostics() {
        for (text, code) in [
            (
                "0000052D: Constraint violation - check_password_restrictions: the password is too short.",
                Some(0x52d),
            ),
            (
                "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n",
                Some(0x52d),
            ),
            (
                "00000005: SecErr: DSID-031A11E5, problem 4003 (INSUFFICIENT_ACCESS_RIGHTS), data 0",
                Some(0x5),
            ),
            (
                "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563",
                Some(0x52e),
            ),
            (
                "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1",
                Some(0x775),
            ),
            ("80090308: LdapErr: no data here", None),
            (
                "error in module acl: insufficient access rights during LDB_MODIFY",
                None,
            ),
            ("Password fails quality checking policy", None),
            ("", None),
            ("52D: short", None),
        ] {
            assert_eq!(extended_code(text), code, "{text}");
        }
    }

    #[test]
    fn sids_are_written_as_windows_writes_them() {
        // S-1-5-21-143367312-3158472368-1648525989-1106, as objectSid holds it.
        let sid = [
            1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0x90, 0x9c, 0x8b, 0x08, 0xb0, 0x76, 0x42, 0xbc,
            0xa5, 0x82, 0x42, 0x62, 0x52, 0x04, 0, 0,
        ];
        assert_eq!(
            sid_to_string(&sid).as_deref(),
            Some("S-1-5-21-143367312-3158472368-1648525989-1106")
        );
        assert_eq!(
            sid_to_string(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x21, 0x02, 0, 0]).as_deref(),
            Some("S-1-5-32-545")
        );
        assert_eq!(sid_to_string(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0]), None);
        assert_eq!(sid_to_string(&[]), None);
    }

    #[test]
    fn the_primary_group_is_in_the_account_s_domain() {
        assert_eq!(
            sibling_sid("S-1-5-21-1-2-3-1106", 512).as_deref(),
            Some("S-1-5-21-1-2-3-512")
        );
        assert_eq!(sibling_sid("S-1-5-32-545", 512), None);
    }

    #[test]
    fn bind_refusals_name_the_reason() {
        assert_eq!(bind_refusal(0x533), Some("the account is disabled"));
        assert_eq!(bind_refusal(0x52e), Some("wrong user name or password"));
        assert_eq!(bind_refusal(0x1234), None);
    }
}
