//! Reading Active Directory's access rules without writing: a security descriptor's DACL (the
//! binary `nTSecurityDescriptor`, MS-DTYP 2.4.6) and a simplified access check of one right for a
//! set of SIDs.
//!
//! The check walks the DACL in order and lets the first entry that applies decide, as Windows does
//! for a DACL in canonical order: entries that are only inherited further (INHERIT_ONLY) are
//! skipped, an object entry applies only to the property, property set or extended right it names,
//! and generic rights are mapped to the directory's own. It does not know conditional entries or
//! the owner's implied rights, which are never how a service account is delegated; it answers for
//! the rights `tunnus check-config` asks about, not as a general authorization engine.

use std::collections::HashSet;

use super::ad::sid_to_string;

/// `ADS_RIGHT_DS_READ_PROP`: read a property.
pub(super) const READ_PROPERTY: u32 = 0x10;
/// `ADS_RIGHT_DS_WRITE_PROP`: write a property.
pub(super) const WRITE_PROPERTY: u32 = 0x20;
/// `ADS_RIGHT_DS_CONTROL_ACCESS`: an extended right such as Reset Password.
pub(super) const CONTROL_ACCESS: u32 = 0x100;

const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_EXECUTE: u32 = 0x2000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const GENERIC_READ: u32 = 0x8000_0000;
/// What the generic rights stand for on directory objects (MS-ADTS 5.1.3.2).
const MAPPED_READ: u32 = 0x0002_0094; // read control, list, read property, list object
const MAPPED_WRITE: u32 = 0x0002_0028; // read control, self write, write property
const MAPPED_EXECUTE: u32 = 0x0002_0004; // read control, list
const MAPPED_ALL: u32 = 0x000f_01ff;

/// The ACE is inherited by children only and does not apply to the object itself.
const INHERIT_ONLY: u8 = 0x08;
/// `SE_DACL_PRESENT` in the descriptor's control flags.
const DACL_PRESENT: u16 = 0x0004;

/// A GUID as Active Directory stores it (`schemaIDGUID`, object ACEs): the first three fields
/// little-endian.
pub(super) type Guid = [u8; 16];

/// One access-allowed or access-denied entry of a DACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ace {
    allow: bool,
    flags: u8,
    mask: u32,
    /// The property, property set or extended right the entry is limited to.
    object_type: Option<Guid>,
    sid: String,
}

/// The DACL of a self-relative security descriptor; `None` if it is malformed. A descriptor
/// without a DACL (which grants everything) gives `Some(None)`.
pub(super) fn dacl(descriptor: &[u8]) -> Option<Option<Vec<Ace>>> {
    let control = u16::from_le_bytes(descriptor.get(2..4)?.try_into().ok()?);
    let offset = u32::from_le_bytes(descriptor.get(16..20)?.try_into().ok()?) as usize;
    if control & DACL_PRESENT == 0 || offset == 0 {
        return Some(None);
    }
    let acl = descriptor.get(offset..)?;
    let size = usize::from(u16::from_le_bytes(acl.get(2..4)?.try_into().ok()?));
    let count = u16::from_le_bytes(acl.get(4..6)?.try_into().ok()?);
    let acl = acl.get(..size)?;
    let mut position = 8;
    let mut aces = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let header = acl.get(position..position + 4)?;
        let (kind, flags) = (header[0], header[1]);
        let ace_size = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if ace_size < 4 {
            return None;
        }
        let body = acl.get(position + 4..position + ace_size)?;
        position += ace_size;
        let (allow, object) = match kind {
            0x00 => (true, false),
            0x01 => (false, false),
            0x05 => (true, true),
            0x06 => (false, true),
            // Audit, alarm and callback entries decide nothing here.
            _ => continue,
        };
        let mask = u32::from_le_bytes(body.get(0..4)?.try_into().ok()?);
        let mut rest = &body[4..];
        let mut object_type = None;
        if object {
            let present = u32::from_le_bytes(rest.get(0..4)?.try_into().ok()?);
            rest = &rest[4..];
            if present & 0x1 != 0 {
                object_type = Some(rest.get(0..16)?.try_into().ok()?);
                rest = &rest[16..];
            }
            if present & 0x2 != 0 {
                rest = rest.get(16..)?;
            }
        }
        let count = usize::from(*rest.get(1)?);
        let sid = sid_to_string(rest.get(..8 + 4 * count)?)?;
        aces.push(Ace {
            allow,
            flags,
            mask,
            object_type,
            sid,
        });
    }
    Some(Some(aces))
}

/// Whether `right` is granted by `dacl` to a token holding `sids`, for an object entry limited to
/// one of `object_types` (the attribute and its property set, or the extended right).
pub(super) fn granted(
    dacl: Option<&[Ace]>,
    sids: &HashSet<String>,
    right: u32,
    object_types: &[Guid],
) -> bool {
    let Some(dacl) = dacl else {
        return true;
    };
    for ace in dacl {
        if ace.flags & INHERIT_ONLY != 0 || !sids.contains(&ace.sid) {
            continue;
        }
        if mapped(ace.mask) & right == 0 {
            continue;
        }
        if let Some(limited_to) = &ace.object_type
            && !object_types.contains(limited_to)
        {
            continue;
        }
        return ace.allow;
    }
    false
}

fn mapped(mask: u32) -> u32 {
    let mut rights = mask & 0x00ff_ffff;
    if mask & GENERIC_ALL != 0 {
        rights |= MAPPED_ALL;
    }
    if mask & GENERIC_READ != 0 {
        rights |= MAPPED_READ;
    }
    if mask & GENERIC_WRITE != 0 {
        rights |= MAPPED_WRITE;
    }
    if mask & GENERIC_EXECUTE != 0 {
        rights |= MAPPED_EXECUTE;
    }
    rights
}

/// A GUID from its string form (`00299570-246d-11d0-a768-00aa006e0529`) in the stored byte order.
pub(super) fn guid(text: &str) -> Option<Guid> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "S-1-5-21-1-2-3-1106";
    const RESET_PASSWORD: &str = "00299570-246d-11d0-a768-00aa006e0529";
    const USER_CLASS: &str = "bf967aba-0de6-11d0-a285-00aa003049e2";

    fn sid_bytes(sid: &str) -> Vec<u8> {
        let parts: Vec<u64> = sid[2..].split('-').map(|p| p.parse().unwrap()).collect();
        let mut bytes = vec![parts[0] as u8, (parts.len() - 2) as u8];
        bytes.extend_from_slice(&parts[1].to_be_bytes()[2..]);
        for sub in &parts[2..] {
            bytes.extend_from_slice(&(*sub as u32).to_le_bytes());
        }
        bytes
    }

    /// An ACE as Windows encodes it.
    fn ace(
        kind: u8,
        flags: u8,
        mask: u32,
        object_type: Option<&str>,
        inherited: Option<&str>,
        sid: &str,
    ) -> Vec<u8> {
        let mut body = mask.to_le_bytes().to_vec();
        if kind == 5 || kind == 6 {
            let present = u32::from(object_type.is_some()) | (u32::from(inherited.is_some()) << 1);
            body.extend_from_slice(&present.to_le_bytes());
            for guid_text in [object_type, inherited].into_iter().flatten() {
                body.extend_from_slice(&guid(guid_text).unwrap());
            }
        }
        body.extend(sid_bytes(sid));
        let mut ace = vec![kind, flags];
        ace.extend_from_slice(&((body.len() + 4) as u16).to_le_bytes());
        ace.extend(body);
        ace
    }

    fn descriptor(aces: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = aces.concat();
        let mut acl = vec![4, 0];
        acl.extend_from_slice(&((body.len() + 8) as u16).to_le_bytes());
        acl.extend_from_slice(&(aces.len() as u16).to_le_bytes());
        acl.extend_from_slice(&[0, 0]);
        acl.extend(body);
        let mut sd = vec![1, 0];
        sd.extend_from_slice(&(0x8004u16).to_le_bytes());
        sd.extend_from_slice(&[0; 12]);
        sd.extend_from_slice(&20u32.to_le_bytes());
        sd.extend(acl);
        sd
    }

    fn token(sids: &[&str]) -> HashSet<String> {
        sids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_delegated_reset_password_right_is_found_and_its_absence_too() {
        let reset = guid(RESET_PASSWORD).unwrap();
        let sd = descriptor(&[
            // Inherited from the OU's delegation, as a user object carries it.
            ace(
                5,
                0x12,
                CONTROL_ACCESS,
                Some(RESET_PASSWORD),
                Some(USER_CLASS),
                SERVICE,
            ),
            ace(0, 0x12, 0x0002_0094, None, None, "S-1-5-11"),
        ]);
        let dacl = dacl(&sd).unwrap().unwrap();
        assert!(granted(
            Some(&dacl),
            &token(&[SERVICE]),
            CONTROL_ACCESS,
            &[reset]
        ));
        assert!(!granted(
            Some(&dacl),
            &token(&["S-1-5-21-1-2-3-1107", "S-1-5-11"]),
            CONTROL_ACCESS,
            &[reset]
        ));
        // The entry names one extended right: another is not granted by it.
        let other = guid("ab721a53-1e2f-11d0-9819-00aa0040529b").unwrap();
        assert!(!granted(
            Some(&dacl),
            &token(&[SERVICE]),
            CONTROL_ACCESS,
            &[other]
        ));
    }

    #[test]
    fn inherit_only_entries_apply_to_children_not_to_the_object() {
        let reset = guid(RESET_PASSWORD).unwrap();
        let sd = descriptor(&[ace(
            5,
            0x0a,
            CONTROL_ACCESS,
            Some(RESET_PASSWORD),
            Some(USER_CLASS),
            SERVICE,
        )]);
        let dacl = dacl(&sd).unwrap().unwrap();
        assert!(!granted(
            Some(&dacl),
            &token(&[SERVICE]),
            CONTROL_ACCESS,
            &[reset]
        ));
    }

    #[test]
    fn the_first_entry_that_applies_decides_and_a_deny_comes_first() {
        let attribute = guid("bf967962-0de6-11d0-a285-00aa003049e2").unwrap();
        let property_set = guid("59ba2f42-79a2-11d0-9020-00c04fc2d3cf").unwrap();
        let sd = descriptor(&[
            ace(
                6,
                0,
                READ_PROPERTY,
                Some("bf967962-0de6-11d0-a285-00aa003049e2"),
                None,
                "S-1-1-0",
            ),
            ace(0, 0, GENERIC_READ, None, None, "S-1-5-11"),
        ]);
        let dacl = dacl(&sd).unwrap().unwrap();
        let everyone = token(&[SERVICE, "S-1-1-0", "S-1-5-11"]);
        assert!(!granted(
            Some(&dacl),
            &everyone,
            READ_PROPERTY,
            &[attribute, property_set]
        ));
        // Another attribute: the deny does not apply, the generic read does.
        let other = guid("bf967a41-0de6-11d0-a285-00aa003049e2").unwrap();
        assert!(granted(Some(&dacl), &everyone, READ_PROPERTY, &[other]));
        assert!(!granted(Some(&dacl), &everyone, WRITE_PROPERTY, &[other]));
    }

    #[test]
    fn a_property_set_entry_covers_its_attributes() {
        let attribute = guid("f0f8ff8e-1191-11d0-a060-00aa006c33ed").unwrap();
        let public_information = "e48d0154-bcf8-11d1-8702-00c04fb96050";
        let sd = descriptor(&[ace(
            5,
            0,
            READ_PROPERTY,
            Some(public_information),
            None,
            "S-1-5-11",
        )]);
        let dacl = dacl(&sd).unwrap().unwrap();
        let sids = token(&["S-1-5-11"]);
        let set = guid(public_information).unwrap();
        assert!(granted(
            Some(&dacl),
            &sids,
            READ_PROPERTY,
            &[attribute, set]
        ));
        assert!(!granted(Some(&dacl), &sids, READ_PROPERTY, &[attribute]));
    }

    #[test]
    fn no_dacl_grants_everything_and_malformed_descriptors_are_refused() {
        let mut sd = descriptor(&[]);
        sd[2] = 0x00;
        sd[3] = 0x80;
        assert_eq!(dacl(&sd), Some(None));
        assert!(granted(None, &token(&[]), WRITE_PROPERTY, &[]));
        let sd = descriptor(&[ace(0, 0, READ_PROPERTY, None, None, SERVICE)]);
        for cut in [3, 19, 27, sd.len() - 1] {
            assert_eq!(dacl(&sd[..cut]), None, "{cut}");
        }
    }

    #[test]
    fn guids_are_stored_with_their_first_fields_little_endian() {
        assert_eq!(
            guid("00299570-246d-11d0-a768-00aa006e0529").unwrap(),
            [
                0x70, 0x95, 0x29, 0x00, 0x6d, 0x24, 0xd0, 0x11, 0xa7, 0x68, 0x00, 0xaa, 0x00, 0x6e,
                0x05, 0x29
            ]
        );
        assert_eq!(guid("not a guid"), None);
    }
}
