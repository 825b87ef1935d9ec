//! Distinguished names as RFC 4514 writes them, parsed so that two spellings of one group compare
//! equal: escapes (`\,`, `\2C`, `\"`), multi-valued RDNs (`cn=a+ou=b`, in any order), spaces around
//! `=`, `,` and `+`, attribute type names in any case (and `cn`, `commonName` and `2.5.4.3` alike),
//! and values compared without case.
//!
//! Values compare the way LDAP's `caseIgnoreMatch` prepares strings (RFC 4518), through
//! [`caseless`]: compatibility-normalised (NFKC), Unicode case folded, invisible formatting characters
//! dropped, and runs of spaces counted as one. `cn=Ylläpitäjät` is `CN=YLLÄPITÄJÄT`.
//!
//! Parsing is strict where the structure is concerned (every RDN needs `type=value`, escapes must be
//! complete) and lenient where RFC 4514 only says how DNs should be written: characters that should
//! have been escaped but cannot be mistaken (`=`, `"`, `<`, `>`, a `#` after the first character) are
//! taken as they are, and `;` separates RDNs as RFC 2253 allowed.

use std::fmt;

use icu_normalizer::ComposingNormalizerBorrowed;

/// A parsed distinguished name. Two DNs are equal when a directory would take them for the same
/// name; the empty DN (the root) has no RDNs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dn {
    rdns: Vec<Rdn>,
}

/// One relative distinguished name: one or more attribute values, kept sorted so that their order
/// in the text does not matter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rdn {
    avas: Vec<Ava>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ava {
    /// The attribute type, lowercase, with the common aliases and OIDs mapped to one name.
    attribute: String,
    value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Value {
    /// A string value, [`caseless`].
    Text(String),
    /// A `#`-hex value that is not a BER string: compared byte for byte.
    Bytes(Vec<u8>),
}

/// Why a text is not a DN. The messages name positions, never the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("RDN {rdn} is empty")]
    EmptyRdn { rdn: usize },
    #[error("RDN {rdn} has no `=` between an attribute type and a value")]
    NoEquals { rdn: usize },
    #[error("RDN {rdn} does not start with an attribute type (a name or a numeric OID)")]
    BadType { rdn: usize },
    #[error(
        "RDN {rdn} has a backslash that is not followed by a special character or two hex digits"
    )]
    BadEscape { rdn: usize },
    #[error("RDN {rdn} has escaped bytes that are not UTF-8")]
    NotUtf8 { rdn: usize },
    #[error("RDN {rdn} has a `#` value that is not pairs of hex digits")]
    BadHex { rdn: usize },
}

impl Dn {
    /// Parses the RFC 4514 string form of a DN.
    pub fn parse(text: &str) -> Result<Dn, DnError> {
        let mut parser = Parser {
            input: text.as_bytes(),
            at: 0,
            rdn: 1,
        };
        let mut rdns = Vec::new();
        parser.skip_spaces();
        if parser.done() {
            return Ok(Dn { rdns });
        }
        loop {
            let mut avas = vec![parser.ava()?];
            loop {
                // `ava` stops only at a separator (`+`, `,` or `;`) or the end.
                match parser.next_byte() {
                    Some(b'+') => avas.push(parser.ava()?),
                    Some(_) => break,
                    None => {
                        avas.sort();
                        rdns.push(Rdn { avas });
                        return Ok(Dn { rdns });
                    }
                }
            }
            avas.sort();
            rdns.push(Rdn { avas });
            parser.rdn += 1;
        }
    }

    /// Whether this is the empty DN (no RDNs).
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// How many RDNs the DN has.
    pub fn len(&self) -> usize {
        self.rdns.len()
    }

    /// The string values of the first (leftmost) RDN, [`caseless`]: `cn=Admins,ou=groups` gives
    /// `admins`; a multi-valued RDN gives each of its values.
    pub fn first_values(&self) -> impl Iterator<Item = &str> {
        self.rdns
            .first()
            .into_iter()
            .flat_map(|rdn| rdn.avas.iter())
            .filter_map(|ava| match &ava.value {
                Value::Text(text) => Some(text.as_str()),
                Value::Bytes(_) => None,
            })
    }
}

/// The DN in a canonical string form: equal DNs give equal strings (for logs and keys; not meant to
/// be sent to a directory).
impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.avas.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}=", ava.attribute)?;
                match &ava.value {
                    Value::Text(text) => {
                        for c in text.chars() {
                            if matches!(c, '\\' | ',' | '+' | ';' | '=' | '#') {
                                write!(f, "\\{c}")?;
                            } else {
                                write!(f, "{c}")?;
                            }
                        }
                    }
                    Value::Bytes(bytes) => {
                        f.write_str("#")?;
                        for byte in bytes {
                            write!(f, "{byte:02x}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads an attribute value written as in a DN (`admins\, tier 0`, `admins\2C tier 0`), where `,`,
/// `+` and `;` are taken literally too: the value a name in the settings stands for. The result is
/// not yet [`caseless`].
pub fn unescape_value(text: &str) -> Result<String, DnError> {
    let mut parser = Parser {
        input: text.trim().as_bytes(),
        at: 0,
        rdn: 1,
    };
    let bytes = parser.string_value(false)?;
    String::from_utf8(bytes).map_err(|_| DnError::NotUtf8 { rdn: 1 })
}

/// `text` prepared for a caseless comparison, as LDAP prepares `caseIgnoreMatch` values (RFC 4518):
/// NFKC, Unicode full case folding (applied as in the Unicode compatibility caseless match, D145),
/// control and invisible formatting characters removed, every kind of space a plain space, runs of
/// spaces one space, none at either end.
pub fn caseless(text: &str) -> String {
    const NFKC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfkc();
    let mapped: String = text
        .chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || is_invisible(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect();
    let once = fold(&NFKC.normalize(&fold(&mapped)));
    let folded = NFKC.normalize(&once);
    let mut prepared = String::with_capacity(folded.len());
    for word in folded.split(' ').filter(|word| !word.is_empty()) {
        if !prepared.is_empty() {
            prepared.push(' ');
        }
        prepared.push_str(word);
    }
    prepared
}

/// Unicode full case folding, character by character (so without the final-sigma rule of
/// `str::to_lowercase`): lowercase, uppercase, lowercase again, which takes `ß`, `ẞ` and `SS` to
/// `ss`, `ς` and `Σ` to `σ`, `ſ` to `s`, `ﬁ` to `fi` and the Cherokee small letters to one form.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Characters RFC 4518 (2.2) maps to nothing: soft hyphens, joiners, variation selectors, direction
/// marks and the like, which change nothing a person sees.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// The common attribute types by their OIDs and long names, so that `CN=x`, `commonName=x` and
/// `2.5.4.3=x` are one RDN.
const ALIASES: &[(&str, &[&str])] = &[
    ("cn", &["commonname", "2.5.4.3"]),
    ("sn", &["surname", "2.5.4.4"]),
    ("c", &["countryname", "2.5.4.6"]),
    ("l", &["localityname", "2.5.4.7"]),
    ("st", &["stateorprovincename", "2.5.4.8"]),
    ("street", &["streetaddress", "2.5.4.9"]),
    ("o", &["organizationname", "2.5.4.10"]),
    ("ou", &["organizationalunitname", "2.5.4.11"]),
    ("dc", &["domaincomponent", "0.9.2342.19200300.100.1.25"]),
    ("uid", &["userid", "0.9.2342.19200300.100.1.1"]),
];

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
    /// The 1-based number of the RDN being read, for errors.
    rdn: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.input.len()
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// `type = value`, with spaces around either; stops at a separator or the end.
    fn ava(&mut self) -> Result<Ava, DnError> {
        self.skip_spaces();
        let start = self.at;
        while let Some(byte) = self.peek() {
            if matches!(byte, b'=' | b',' | b'+' | b';') {
                break;
            }
            self.at += 1;
        }
        let typed = &self.input[start..self.at];
        match self.peek() {
            Some(b'=') => self.at += 1,
            _ if typed.iter().all(|b| *b == b' ') => {
                return Err(DnError::EmptyRdn { rdn: self.rdn });
            }
            _ => return Err(DnError::NoEquals { rdn: self.rdn }),
        }
        let attribute = attribute_type(typed).ok_or(DnError::BadType { rdn: self.rdn })?;
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') {
            self.at += 1;
            self.hex_value()?
        } else {
            let bytes = self.string_value(true)?;
            let text = String::from_utf8(bytes).map_err(|_| DnError::NotUtf8 { rdn: self.rdn })?;
            Value::Text(caseless(&text))
        };
        Ok(Ava { attribute, value })
    }

    /// A string value up to an unescaped separator (when `separators` is set) or the end, escapes
    /// decoded, unescaped spaces at the end left out (those at the start are already skipped).
    fn string_value(&mut self, separators: bool) -> Result<Vec<u8>, DnError> {
        let mut value = Vec::new();
        // The length of `value` without its trailing unescaped spaces.
        let mut kept = 0;
        while let Some(byte) = self.peek() {
            if separators && matches!(byte, b',' | b'+' | b';') {
                break;
            }
            self.at += 1;
            if byte == b'\\' {
                value.push(self.escaped()?);
                kept = value.len();
            } else {
                value.push(byte);
                if byte != b' ' {
                    kept = value.len();
                }
            }
        }
        value.truncate(kept);
        Ok(value)
    }

    /// What follows a backslash: a special character, or two hex digits standing for one byte.
    fn escaped(&mut self) -> Result<u8, DnError> {
        let bad = DnError::BadEscape { rdn: self.rdn };
        let first = self.next_byte().ok_or(bad.clone())?;
        if let Some(high) = hex_digit(first) {
            let low = self.next_byte().and_then(hex_digit).ok_or(bad)?;
            return Ok(high << 4 | low);
        }
        if matches!(
            first,
            b'\\' | b'"' | b'+' | b',' | b';' | b'<' | b'>' | b' ' | b'#' | b'='
        ) {
            Ok(first)
        } else {
            Err(bad)
        }
    }

    /// `#` followed by the hex of a BER value (RFC 4514 2.4): a BER string is compared as text,
    /// anything else byte for byte.
    fn hex_value(&mut self) -> Result<Value, DnError> {
        let bad = DnError::BadHex { rdn: self.rdn };
        let mut bytes = Vec::new();
        while let Some(high) = self.peek().and_then(hex_digit) {
            self.at += 1;
            let low = self.next_byte().and_then(hex_digit).ok_or(bad.clone())?;
            bytes.push(high << 4 | low);
        }
        self.skip_spaces();
        if bytes.is_empty() || !matches!(self.peek(), None | Some(b',' | b'+' | b';')) {
            return Err(bad);
        }
        Ok(match ber_string(&bytes) {
            Some(text) => Value::Text(caseless(text)),
            None => Value::Bytes(bytes),
        })
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// The canonical name of an attribute type (`descr` or numeric OID, RFC 4512), or `None` when the
/// text is neither.
fn attribute_type(typed: &[u8]) -> Option<String> {
    let typed = std::str::from_utf8(typed).ok()?.trim().to_ascii_lowercase();
    // RFC 2253 allowed an `OID.` prefix before a numeric OID.
    let typed = match typed.strip_prefix("oid.") {
        Some(oid) if oid.starts_with(|c: char| c.is_ascii_digit()) => oid.to_owned(),
        _ => typed,
    };
    let is_descr = typed.starts_with(|c: char| c.is_ascii_alphabetic())
        && typed.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let is_oid = typed
        .split('.')
        .all(|arc| !arc.is_empty() && arc.chars().all(|c| c.is_ascii_digit()))
        && typed.contains('.');
    if !is_descr && !is_oid {
        return None;
    }
    let canonical = ALIASES
        .iter()
        .find(|(name, aliases)| *name == typed || aliases.contains(&typed.as_str()))
        .map_or(typed.clone(), |(name, _)| (*name).to_owned());
    Some(canonical)
}

/// The text of a BER-encoded UTF8String, PrintableString or IA5String, if `bytes` is exactly one.
fn ber_string(bytes: &[u8]) -> Option<&str> {
    let (&tag, rest) = bytes.split_first()?;
    if !matches!(tag, 0x0c | 0x13 | 0x16) {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (length, rest) = rest.split_at(count);
        let length = length
            .iter()
            .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
        (length, rest)
    };
    if rest.len() != length {
        return None;
    }
    std::str::from_utf8(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dn(text: &str) -> Dn {
        Dn::parse(text).unwrap_or_else(|error| panic!("{text:?}: {error}"))
    }

    fn same(a: &str, b: &str) -> bool {
        dn(a) == dn(b)
    }

    fn first(text: &str) -> Vec<String> {
        dn(text).first_values().map(str::to_owned).collect()
    }

    #[test]
    fn escaped_commas_in_every_spelling_are_part_of_the_value() {
        for text in [
            r"cn=admins\, tier 0,ou=groups,dc=example,dc=fi",
            r"cn=admins\2C tier 0,ou=groups,dc=example,dc=fi",
            r"cn=admins\2c tier 0,ou=groups,dc=example,dc=fi",
            r"CN=Admins\, Tier 0,OU=Groups,DC=example,DC=fi",
        ] {
            let parsed = dn(text);
            assert_eq!(parsed.len(), 4, "{text}");
            assert_eq!(first(text), ["admins, tier 0"], "{text}");
        }
        assert!(same(
            r"cn=admins\, tier 0,ou=groups,dc=example,dc=fi",
            r"CN=ADMINS\2C TIER 0, OU=groups, DC=Example, DC=FI"
        ));
    }

    #[test]
    fn every_special_character_can_be_escaped() {
        assert_eq!(
            first(r#"cn=\"quoted\" \+ \; \< \> \= \# \\ x"#),
            [r#""quoted" + ; < > = # \ x"#]
        );
        assert_eq!(first(r"cn=\#hash"), ["#hash"]);
    }

    #[test]
    fn hex_escapes_spell_utf8() {
        assert_eq!(first(r"cn=Yll\C3\A4pit\C3\A4j\C3\A4t"), ["ylläpitäjät"]);
        assert!(same(
            r"cn=Yll\C3\A4pit\C3\A4j\C3\A4t,dc=fi",
            "cn=YLLÄPITÄJÄT,dc=fi"
        ));
        assert_eq!(Dn::parse(r"cn=\C3,dc=fi"), Err(DnError::NotUtf8 { rdn: 1 }));
    }

    #[test]
    fn values_compare_with_unicode_case_folding() {
        assert!(same(
            "cn=Ylläpitäjät,ou=groups,dc=example,dc=fi",
            "cn=YLLÄPITÄJÄT,ou=GROUPS,dc=EXAMPLE,dc=FI"
        ));
        assert!(same("cn=Straße", "cn=STRASSE"));
        assert!(same("cn=straße", "cn=STRAẞE"));
        assert!(same("cn=ΟΔΟΣ", "cn=οδος"));
        assert!(same("cn=Åsa", "cn=åSA"));
        // Decomposed and composed forms, and compatibility forms.
        assert!(same("cn=A\u{0308}rje", "cn=ärje"));
        assert!(same("cn=ﬁnance", "cn=FINANCE"));
        assert!(same("cn=ＡＤＭＩＮＳ", "cn=admins"));
        assert!(!same("cn=admins", "cn=admin"));
        assert!(!same("cn=ylläpitäjät", "cn=yllapitajat"));
    }

    #[test]
    fn invisible_characters_and_runs_of_spaces_do_not_count() {
        assert!(same("cn=it-\u{00AD}admins", "cn=it-admins"));
        assert!(same("cn=it\u{200B}admins", "cn=itadmins"));
        assert!(same("cn=tier   0", "cn=tier 0"));
        assert!(same("cn=tier\u{00A0}0", "cn=tier 0"));
    }

    #[test]
    fn spaces_around_separators_are_not_part_of_the_dn() {
        assert!(same(
            "cn=admins,ou=groups,dc=fi",
            "  cn = admins ,  ou=groups , dc =fi  "
        ));
        assert!(same("cn=a+ou=b,dc=fi", "cn=a + ou=b,dc=fi"));
        // Escaped spaces at either end are part of the value; as values compare without spaces at
        // the ends they still match.
        assert_eq!(first(r"cn=\ admins\ ,dc=fi"), ["admins"]);
        assert_eq!(first(r"cn=a\20,dc=fi"), ["a"]);
    }

    #[test]
    fn attribute_types_ignore_case_and_aliases() {
        assert!(same("CN=x,OU=y,DC=fi", "cn=x,ou=y,dc=fi"));
        assert!(same("commonName=x,dc=fi", "cn=x,dc=fi"));
        assert!(same("2.5.4.3=x,dc=fi", "cn=x,dc=fi"));
        assert!(same("OID.2.5.4.3=x,dc=fi", "cn=x,dc=fi"));
        assert!(same("0.9.2342.19200300.100.1.25=fi", "domainComponent=fi"));
        assert!(!same("cn=x,dc=fi", "ou=x,dc=fi"));
        assert!(same("x-custom=a", "X-CUSTOM=A"));
    }

    #[test]
    fn multi_valued_rdns_compare_in_any_order() {
        assert!(same("cn=a+ou=b,dc=fi", "ou=B+cn=A,dc=fi"));
        assert!(!same("cn=a+ou=b,dc=fi", "cn=a,dc=fi"));
        assert!(!same("cn=a+cn=a,dc=fi", "cn=a+cn=b,dc=fi"));
        assert_eq!(first("cn=a+ou=b,dc=fi"), ["a", "b"]);
    }

    #[test]
    fn rdn_order_and_count_matter() {
        assert!(!same("cn=a,ou=b", "ou=b,cn=a"));
        assert!(!same("cn=a,ou=b", "cn=a,ou=b,dc=fi"));
    }

    #[test]
    fn semicolons_separate_rdns_as_rfc_2253_allowed() {
        assert!(same("cn=a;ou=b", "cn=a,ou=b"));
    }

    #[test]
    fn unambiguous_unescaped_characters_are_accepted() {
        assert_eq!(first("cn=a=b,dc=fi"), ["a=b"]);
        assert_eq!(
            first(r#"cn=say "hi" <now> #1,dc=fi"#),
            [r#"say "hi" <now> #1"#]
        );
    }

    #[test]
    fn hex_string_values_are_ber_strings() {
        // UTF8String "admins" and PrintableString "ADMINS".
        assert!(same("cn=#0C0661646D696E73,dc=fi", "cn=admins,dc=fi"));
        assert!(same("cn=#130641444D494E53,dc=fi", "cn=admins,dc=fi"));
        // An OCTET STRING is compared as bytes.
        assert!(same("x=#0401FF", "x=#0401ff"));
        assert!(!same("cn=#0401FF", "cn=#0401FE"));
        assert_eq!(Dn::parse("cn=#0C0,dc=fi"), Err(DnError::BadHex { rdn: 1 }));
        assert_eq!(Dn::parse("cn=#,dc=fi"), Err(DnError::BadHex { rdn: 1 }));
        assert_eq!(Dn::parse("cn=#0C00 x"), Err(DnError::BadHex { rdn: 1 }));
    }

    #[test]
    fn the_empty_dn_has_no_rdns() {
        assert!(dn("").is_empty());
        assert!(dn("   ").is_empty());
        assert_eq!(dn("cn=").first_values().collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn malformed_dns_are_refused_with_the_rdn_number() {
        assert_eq!(Dn::parse("admins"), Err(DnError::NoEquals { rdn: 1 }));
        assert_eq!(
            Dn::parse("admins, tier 0"),
            Err(DnError::NoEquals { rdn: 1 })
        );
        assert_eq!(Dn::parse("cn=a,ou=b,"), Err(DnError::EmptyRdn { rdn: 3 }));
        assert_eq!(Dn::parse("cn=a,,dc=fi"), Err(DnError::EmptyRdn { rdn: 2 }));
        assert_eq!(Dn::parse("=a"), Err(DnError::BadType { rdn: 1 }));
        assert_eq!(Dn::parse("c n=a"), Err(DnError::BadType { rdn: 1 }));
        assert_eq!(Dn::parse("1cn=a"), Err(DnError::BadType { rdn: 1 }));
        assert_eq!(Dn::parse("2.5..4=a"), Err(DnError::BadType { rdn: 1 }));
        assert_eq!(Dn::parse(r"cn=a\"), Err(DnError::BadEscape { rdn: 1 }));
        assert_eq!(Dn::parse(r"cn=a\q"), Err(DnError::BadEscape { rdn: 1 }));
        assert_eq!(
            Dn::parse(r"cn=a,cn=b\4"),
            Err(DnError::BadEscape { rdn: 2 })
        );
        assert_eq!(Dn::parse("cn=a+,dc=fi"), Err(DnError::EmptyRdn { rdn: 1 }));
    }

    #[test]
    fn a_name_from_the_settings_is_read_as_a_value() {
        assert_eq!(unescape_value("admins, tier 0").unwrap(), "admins, tier 0");
        assert_eq!(
            unescape_value(r"admins\, tier 0").unwrap(),
            "admins, tier 0"
        );
        assert_eq!(
            unescape_value(r"admins\2C tier 0").unwrap(),
            "admins, tier 0"
        );
        assert_eq!(unescape_value(" it-admins ").unwrap(), "it-admins");
        assert!(unescape_value(r"a\").is_err());
    }

    #[test]
    fn caseless_prepares_as_ldap_does() {
        assert_eq!(caseless("  Ylläpitäjät  "), "ylläpitäjät");
        assert_eq!(caseless("ADMINS,\tTIER\n0"), "admins, tier 0");
        assert_eq!(caseless("Straße"), "strasse");
        assert_eq!(caseless("ǅ"), "dž");
        assert_eq!(caseless("\u{212A}elvin"), "kelvin");
    }

    #[test]
    fn the_canonical_form_is_the_same_for_equal_dns() {
        let a = dn(r"CN=Admins\2C Tier 0 + OU=X, DC=Example;DC=FI");
        let b = dn(r"ou=x+cn=admins\, tier 0,dc=example,dc=fi");
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(a.to_string(), r"cn=admins\, tier 0+ou=x,dc=example,dc=fi");
        assert_eq!(dn(&a.to_string()), a);
    }

    /// Values as a directory might hold them: letters of the languages in use, digits, every
    /// character RFC 4514 escapes, spaces anywhere.
    fn value() -> impl Strategy<Value = String> {
        proptest::string::string_regex(r##"[a-zA-ZåäöÅÄÖßẞΣσς0-9 ,+;<>="#\\-]{0,16}"##).unwrap()
    }

    proptest! {
        #[test]
        fn a_value_escaped_by_ldap3_reads_back(value in value()) {
            let text = format!("cn={},ou=groups,dc=example,dc=fi", ldap3::dn_escape(&value));
            let parsed = Dn::parse(&text).unwrap();
            prop_assert_eq!(parsed.len(), 4);
            prop_assert_eq!(parsed.first_values().collect::<Vec<_>>(), vec![caseless(&value)]);
        }

        #[test]
        fn a_value_escaped_as_hex_reads_back(value in value()) {
            let escaped: String = value.bytes().map(|byte| format!("\\{byte:02X}")).collect();
            let parsed = Dn::parse(&format!("cn={escaped},dc=fi")).unwrap();
            let by_ldap3 = Dn::parse(&format!("cn={},dc=fi", ldap3::dn_escape(&value))).unwrap();
            prop_assert_eq!(parsed, by_ldap3);
        }

        #[test]
        fn case_does_not_change_a_dn(value in value()) {
            let lower = format!("cn={},dc=fi", ldap3::dn_escape(value.to_lowercase()));
            let upper = format!("CN={},DC=FI", ldap3::dn_escape(value.to_uppercase()));
            prop_assert_eq!(Dn::parse(&lower).unwrap(), Dn::parse(&upper).unwrap());
        }

        #[test]
        fn caseless_is_idempotent(text in "\\PC{0,24}") {
            let once = caseless(&text);
            prop_assert_eq!(caseless(&once), once);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = Dn::parse(&text);
        }

        #[test]
        fn the_canonical_form_parses_to_the_same_dn(value in value(), other in value()) {
            let text = format!(
                "cn={}+ou={},dc=fi",
                ldap3::dn_escape(&value),
                ldap3::dn_escape(&other)
            );
            let parsed = Dn::parse(&text).unwrap();
            prop_assert_eq!(Dn::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }
}
