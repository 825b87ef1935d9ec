//! One-time activation codes: 80 random bits written as 16 characters in four groups
//! (`7KQM-2XRD-9TPA-F4WN`), in an alphabet without look-alike characters, read back
//! case-insensitively with dashes and spaces ignored. Only a keyed hash of a code is ever stored.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 32 characters, 5 bits each: digits and capitals without I, L, O and U (Crockford's base 32), so
/// that nothing on paper reads as something else.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code: 16 × 5 = 80 bits.
pub const LENGTH: usize = 16;

/// Characters per group when the code is written out.
const GROUP: usize = 4;

/// A code as typed may be longer than the code (dashes, spaces); anything longer than this is
/// refused without looking further.
const MAX_INPUT: usize = 64;

/// An activation code. `Debug` hides it; [`Code::grouped`] is the only way to see it, for the
/// staff member's screen and the printed document.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// A fresh code from the operating system's random generator.
    pub fn generate() -> Code {
        let bytes = crate::random::bytes::<10>();
        let mut bits: u128 = 0;
        for byte in bytes {
            bits = (bits << 8) | u128::from(byte);
        }
        let text = (0..LENGTH)
            .rev()
            .map(|i| char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]))
            .collect();
        Code(text)
    }

    /// A code as a person typed it: case does not matter, dashes and spaces are ignored, and the
    /// look-alikes `O`, `I` and `L` are read as `0`, `1` and `1`. `None` when it cannot be a code.
    pub fn parse(input: &str) -> Option<Code> {
        if input.len() > MAX_INPUT {
            return None;
        }
        let mut text = String::with_capacity(LENGTH);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' | '\u{a0}' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return None;
            }
            text.push(c);
        }
        (text.len() == LENGTH).then_some(Code(text))
    }

    /// The code in groups of four, as it is shown and printed: `7KQM-2XRD-9TPA-F4WN`.
    pub fn grouped(&self) -> String {
        self.0
            .as_bytes()
            .chunks(GROUP)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(***)")
    }
}

/// Hashes codes with the service's code key (`helpdesk.code_key_file`), so that whoever reads the
/// store learns nothing they could type.
pub struct CodeHasher(hmac::Key);

impl CodeHasher {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The keyed hash of `code` issued for `username`: a code is only good for its own account.
    pub fn hash(&self, username: &str, code: &Code) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(&(username.len() as u64).to_be_bytes());
        context.update(username.as_bytes());
        context.update(code.0.as_bytes());
        URL_SAFE_NO_PAD.encode(context.sign())
    }

    /// Whether `code` for `username` has the stored `hash`, compared in constant time.
    pub fn matches(&self, username: &str, code: &Code, hash: &str) -> bool {
        crate::secret::same_secret(&self.hash(username, code), hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_code_has_sixteen_characters_of_the_alphabet_in_four_groups() {
        let code = Code::generate();
        let grouped = code.grouped();
        assert_eq!(grouped.len(), 19, "{grouped}");
        let groups: Vec<&str> = grouped.split('-').collect();
        assert_eq!(groups.len(), 4);
        for group in groups {
            assert_eq!(group.len(), 4);
            assert!(group.bytes().all(|b| ALPHABET.contains(&b)), "{group}");
        }
        assert_eq!(Code::parse(&grouped), Some(code));
    }

    #[test]
    fn codes_do_not_repeat_and_use_every_character() {
        let mut seen = std::collections::HashSet::new();
        let mut characters = std::collections::HashSet::new();
        for _ in 0..2000 {
            let code = Code::generate();
            characters.extend(code.0.bytes());
            assert!(seen.insert(code.0));
        }
        assert_eq!(
            characters.len(),
            32,
            "all 32 symbols appear: 5 full bits each"
        );
    }

    #[test]
    fn typing_is_forgiving_about_case_separators_and_look_alikes() {
        let code = Code::parse("7KQM-2XRD-9TPA-F4WN").unwrap();
        for typed in [
            "7kqm2xrd9tpaf4wn",
            " 7KQM 2XRD 9TPA F4WN ",
            "7kqm-2xrd-9tpa-f4wn",
        ] {
            assert_eq!(Code::parse(typed), Some(code.clone()), "{typed}");
        }
        assert_eq!(
            Code::parse("10OO-2XRD-9TPA-F4WN"),
            Code::parse("1000-2XRD-9TPA-F4WN")
        );
        assert_eq!(
            Code::parse("ILil-2XRD-9TPA-F4WN"),
            Code::parse("1111-2XRD-9TPA-F4WN")
        );
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for typed in [
            "",
            "7KQM-2XRD-9TPA-F4W",
            "7KQM-2XRD-9TPA-F4WNX",
            "7KQM-2XRD-9TPA-F4WU",
            "7KQM_2XRD_9TPA_F4WN",
            "ÄKQM-2XRD-9TPA-F4WN",
            &"-".repeat(65),
        ] {
            assert_eq!(Code::parse(typed), None, "{typed}");
        }
    }

    #[test]
    fn hashes_bind_the_code_to_its_username_and_debug_hides_it() {
        let hasher = CodeHasher::new(&[3u8; 32]);
        let code = Code::parse("7KQM-2XRD-9TPA-F4WN").unwrap();
        let hash = hasher.hash("tetyra", &code);
        assert!(hasher.matches("tetyra", &code, &hash));
        assert!(!hasher.matches("eemake", &code, &hash));
        let other = Code::parse("7KQM-2XRD-9TPA-F4WM").unwrap();
        assert!(!hasher.matches("tetyra", &other, &hash));
        assert!(!hash.contains("7KQM"));
        assert_eq!(format!("{code:?}"), "Code(***)");
    }
}
