//! What goes on the wire: search filters, Active Directory's password value, generalized time, and
//! the password policy control (draft-behera-ldap-password-policy).

use ldap3::controls::RawControl;
use time::OffsetDateTime;

use super::settings::HETU_PLACEHOLDER;
use crate::identity::NationalId;

/// OID of the password policy request and response controls.
pub(super) const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The stored form of an identity code, e.g. `urn:schac:personalUniqueID:fi:FIC:010170-999R`.
pub(super) fn national_id_value(format: &str, id: &NationalId) -> String {
    format.replace(HETU_PLACEHOLDER, id.expose())
}

/// `(&{user_filter}({attribute}={value}))` with `value` escaped (RFC 4515), so nothing in the value
/// or in the configured format can change the filter. The result holds an identity code: never log it.
pub(super) fn search_filter(user_filter: &str, attribute: &str, value: &str) -> String {
    format!(
        "(&{user_filter}({attribute}={}))",
        ldap3::ldap_escape(value)
    )
}

/// The filter of [`crate::directory::Directory::find_by_name`]: the family name equal, a given
/// name containing `given` (a substring filter), both escaped (RFC 4515).
pub(super) fn name_filter(
    user_filter: &str,
    given_attribute: &str,
    family_attribute: &str,
    given: &str,
    family: &str,
) -> String {
    format!(
        "(&{user_filter}({family_attribute}={})({given_attribute}=*{}*))",
        ldap3::ldap_escape(family),
        ldap3::ldap_escape(given)
    )
}

/// The birth date of a stored identity code `value` of the form `format`, e.g.
/// `urn:schac:personalUniqueID:fi:FIC:010170-999R` → 1.1.1970. `None` for a value not of that form
/// or not a valid code. The code itself is not kept.
pub(super) fn birth_date_of(format: &str, value: &str) -> Option<time::Date> {
    let (before, after) = format.split_once(HETU_PLACEHOLDER)?;
    let code = value
        .strip_prefix(before)
        .or_else(|| {
            // Attribute values compare without case (e.g. `urn:schac:…` prefixes).
            value
                .get(..before.len())
                .filter(|head| head.eq_ignore_ascii_case(before))
                .map(|_| &value[before.len()..])
        })?
        .strip_suffix(after)?;
    NationalId::parse(code.trim(), true)
        .ok()
        .map(|id| id.birth_date())
}

/// Active Directory's `unicodePwd` value: the password in double quotes, as UTF-16LE bytes.
pub(super) fn unicode_pwd(password: &str) -> Vec<u8> {
    std::iter::once('"')
        .chain(password.chars())
        .chain(std::iter::once('"'))
        .collect::<String>()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Generalized time in UTC (`YYYYMMDDHHMMSSZ`).
pub(super) fn generalized_time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// The password policy request control. It is not critical: servers without the overlay ignore it.
pub(super) fn ppolicy_request() -> RawControl {
    RawControl {
        ctype: PPOLICY_OID.to_owned(),
        crit: false,
        val: None,
    }
}

/// The `error` of a password policy response value, if it has one:
///
/// ```text
/// PasswordPolicyResponseValue ::= SEQUENCE {
///     warning [0] CHOICE { timeBeforeExpiration [0] INTEGER, graceAuthNsRemaining [1] INTEGER } OPTIONAL,
///     error   [1] ENUMERATED { passwordExpired (0), accountLocked (1), changeAfterReset (2),
///                              passwordModNotAllowed (3), mustSupplyOldPassword (4),
///                              insufficientPasswordQuality (5), passwordTooShort (6),
///                              passwordTooYoung (7), passwordInHistory (8) } OPTIONAL }
/// ```
///
/// Malformed values give `None`: the control only refines a refusal the result code already states.
pub(super) fn ppolicy_error(value: &[u8]) -> Option<u8> {
    let (tag, mut body, _) = tlv(value)?;
    if tag != 0x30 {
        return None;
    }
    while !body.is_empty() {
        let (tag, content, rest) = tlv(body)?;
        // [1] IMPLICIT ENUMERATED, primitive, context class.
        if tag == 0x81 {
            return match content {
                [value] => Some(*value),
                _ => None,
            };
        }
        body = rest;
    }
    None
}

/// One BER tag-length-value: (tag, content, what follows). Only one-byte tags are needed here.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn hetu(code: &str) -> NationalId {
        NationalId::parse(code, true).unwrap()
    }

    #[test]
    fn the_code_takes_the_placeholder_s_place() {
        let id = hetu("010170-999r");
        assert_eq!(
            national_id_value("urn:schac:personalUniqueID:fi:FIC:{hetu}", &id),
            "urn:schac:personalUniqueID:fi:FIC:010170-999R"
        );
        assert_eq!(national_id_value("{hetu}", &id), "010170-999R");
        let born = time::Date::from_calendar_date(1970, time::Month::January, 1).ok();
        assert_eq!(
            birth_date_of(
                "urn:schac:personalUniqueID:fi:FIC:{hetu}",
                "URN:SCHAC:personalUniqueID:fi:FIC:010170-999R"
            ),
            born
        );
        assert_eq!(birth_date_of("{hetu}", "010170-999R"), born);
        assert_eq!(birth_date_of("{hetu}", "010170-999S"), None);
        assert_eq!(birth_date_of("x:{hetu}", "y:010170-999R"), None);
    }

    #[test]
    fn the_filter_combines_the_user_filter_and_the_escaped_value() {
        let filter = search_filter(
            "(objectClass=inetOrgPerson)",
            "schacPersonalUniqueID",
            "urn:schac:personalUniqueID:fi:FIC:010170-999R",
        );
        assert_eq!(
            filter,
            "(&(objectClass=inetOrgPerson)(schacPersonalUniqueID=urn:schac:personalUniqueID:fi:FIC:010170-999R))"
        );
        ldap3::parse_filter(&filter).unwrap();
    }

    #[test]
    fn hostile_characters_in_the_value_are_escaped() {
        let filter = search_filter("(objectClass=*)", "x", "a*b(c)d\\e\0f");
        assert_eq!(filter, "(&(objectClass=*)(x=a\\2ab\\28c\\29d\\5ce\\00f))");
        ldap3::parse_filter(&filter).unwrap();
    }

    #[test]
    fn a_hostile_format_cannot_widen_the_search() {
        let value = national_id_value("*)(uid=*))(|(x={hetu}", &hetu("010170-999R"));
        let filter = search_filter("(objectClass=person)", "employeeID", &value);
        assert_eq!(
            filter,
            "(&(objectClass=person)(employeeID=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28x=010170-999R))"
        );
        ldap3::parse_filter(&filter).unwrap();
    }

    #[test]
    fn unicode_pwd_is_the_quoted_password_in_utf16le() {
        assert_eq!(
            unicode_pwd("Äö€1"),
            vec![
                0x22, 0x00, // "
                0xc4, 0x00, // Ä
                0xf6, 0x00, // ö
                0xac, 0x20, // €
                0x31, 0x00, // 1
                0x22, 0x00, // "
            ]
        );
    }

    #[test]
    fn unicode_pwd_encodes_characters_outside_the_bmp_as_surrogate_pairs() {
        assert_eq!(
            unicode_pwd("a😀"),
            vec![0x22, 0x00, 0x61, 0x00, 0x3d, 0xd8, 0x00, 0xde, 0x22, 0x00]
        );
    }

    #[test]
    fn generalized_time_is_utc_to_the_second() {
        assert_eq!(
            generalized_time(datetime!(2026-03-04 05:06:07.89 +02:00)),
            "20260304030607Z"
        );
    }

    #[test]
    fn ppolicy_errors_are_read_from_the_response_value() {
        // What OpenLDAP 2.5 sends for a too short password and for a password in history.
        assert_eq!(ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x06]), Some(6));
        assert_eq!(ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x08]), Some(8));
        // A warning before the error.
        assert_eq!(
            ppolicy_error(&[0x30, 0x08, 0xa0, 0x03, 0x80, 0x01, 0x05, 0x81, 0x01, 0x05]),
            Some(5)
        );
        // A warning only, an empty value.
        assert_eq!(
            ppolicy_error(&[0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02]),
            None
        );
        assert_eq!(ppolicy_error(&[0x30, 0x00]), None);
        // Long-form length.
        assert_eq!(
            ppolicy_error(&[0x30, 0x81, 0x03, 0x81, 0x01, 0x07]),
            Some(7)
        );
    }

    #[test]
    fn malformed_ppolicy_values_give_nothing() {
        for value in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x81, 0x01, 0x06],
            &[0x04, 0x03, 0x81, 0x01, 0x06],
            &[0x30, 0x04, 0x81, 0x02, 0x00, 0x06],
            &[0x30, 0x85, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(ppolicy_error(value), None, "{value:02x?}");
        }
    }
}
