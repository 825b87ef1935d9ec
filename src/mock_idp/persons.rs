//! The test persons the mock broker can identify, and the staff persons its campus realm can log in.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use time::Date;
use time::macros::format_description;

use super::MockIdpError;

/// The test persons built into the program (`config/mock-persons.toml` of the source): offered when
/// `mock_idp.persons` is not given.
pub const BUILT_IN_PERSONS: &str = include_str!("../../config/mock-persons.toml");

/// One test person (`[[person]]` in the persons file).
///
/// The identity code is not checked beyond its shape, so a tester can list a person with a wrong
/// check character on purpose.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The Finnish personal identity code (hetu), e.g. `010170-999R`.
    pub national_id: String,
    /// Given names.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birthdate: String,
    /// What the person is for, e.g. `reset`, `activation`, `refused: external`: the login page
    /// shows the persons of one group together, in the order the groups first appear.
    #[serde(default)]
    pub group: Option<String>,
}

impl Person {
    /// Someone a tester typed in on the login page: `national_id` as typed (a malformed code is
    /// allowed on purpose, for testing the relying party's refusal), names as typed or, when left
    /// empty, a test name; the birth date as typed, else the one the code encodes, else none.
    pub fn typed(
        national_id: &str,
        given_name: &str,
        family_name: &str,
        birthdate: &str,
    ) -> Person {
        let or = |text: &str, default: &str| {
            let text = text.trim();
            if text.is_empty() { default } else { text }.to_owned()
        };
        let typed_date = birthdate.trim();
        let date_format = format_description!("[year]-[month]-[day]");
        let birthdate = if Date::parse(typed_date, date_format).is_ok() {
            typed_date.to_owned()
        } else {
            birth_date_of(national_id)
                .and_then(|date| date.format(date_format).ok())
                .unwrap_or_default()
        };
        Person {
            national_id: national_id.trim().to_owned(),
            given_name: or(given_name, "Testi"),
            family_name: or(family_name, "Henkilö"),
            birthdate,
            group: None,
        }
    }

    /// The identity code with the individual number hidden (`010170-***R`), safe to log and show.
    pub fn masked_national_id(&self) -> String {
        mask(&self.national_id)
    }

    /// Given names and family name.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("national_id", &self.masked_national_id())
            .field("given_name", &self.given_name)
            .field("family_name", &self.family_name)
            .finish_non_exhaustive()
    }
}

/// The birth date a code of the identity code's shape encodes (its check character unchecked).
fn birth_date_of(code: &str) -> Option<Date> {
    if !has_hetu_shape(code) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| code.get(range)?.parse::<u8>().ok();
    let (day, month, year) = (number(0..2)?, number(2..4)?, number(4..6)?);
    let century = match code.as_bytes().get(6)?.to_ascii_uppercase() {
        b'+' => 1800,
        b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
        b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => 2000,
        _ => return None,
    };
    Date::from_calendar_date(
        century + i32::from(year),
        time::Month::try_from(month).ok()?,
        day,
    )
    .ok()
}

/// Reads a persons file: `[[person]]` tables with `national_id`, `given_name`, `family_name` and
/// `birthdate`.
pub fn load_persons(path: &Path) -> Result<Vec<Person>, MockIdpError> {
    let text = std::fs::read_to_string(path).map_err(|error| MockIdpError::Read {
        path: path.to_owned(),
        error,
    })?;
    parse_persons(&text, path)
}

/// The built-in test persons, [`BUILT_IN_PERSONS`].
pub fn built_in_persons() -> Result<Vec<Person>, MockIdpError> {
    parse_persons(
        BUILT_IN_PERSONS,
        Path::new("config/mock-persons.toml (built in)"),
    )
}

/// The persons of a persons file's `text`; `path` names it in errors.
fn parse_persons(text: &str, path: &Path) -> Result<Vec<Person>, MockIdpError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PersonsFile {
        #[serde(default)]
        person: Vec<Person>,
    }
    let file: PersonsFile = toml::from_str(text).map_err(|error| MockIdpError::Parse {
        path: path.to_owned(),
        line: super::line_of(text, &error),
        message: error.message().to_owned(),
    })?;
    validate(&file.person).map_err(|problem| MockIdpError::InvalidPersons {
        path: path.to_owned(),
        problem,
    })?;
    Ok(file.person)
}

/// At least one person; each with the fields filled, a birth date, an identity code of the right
/// shape, and no code twice. The problem names the person by position, never by code.
pub(crate) fn validate(persons: &[Person]) -> Result<(), String> {
    if persons.is_empty() {
        return Err("no [[person]] is listed".to_owned());
    }
    let mut seen = HashSet::new();
    for (index, person) in persons.iter().enumerate() {
        let which = index + 1;
        if person.given_name.trim().is_empty() || person.family_name.trim().is_empty() {
            return Err(format!("person #{which}: a name is empty"));
        }
        let date_format = format_description!("[year]-[month]-[day]");
        if Date::parse(&person.birthdate, date_format).is_err() {
            return Err(format!("person #{which}: birthdate is not YYYY-MM-DD"));
        }
        if !has_hetu_shape(&person.national_id) {
            return Err(format!(
                "person #{which}: national_id is not of the form DDMMYYCNNNX"
            ));
        }
        if !seen.insert(person.national_id.to_ascii_uppercase()) {
            return Err(format!(
                "person #{which}: national_id is listed twice (also {})",
                mask(&person.national_id)
            ));
        }
    }
    Ok(())
}

/// The staff persons built into the program (`config/mock-staff.toml` of the source): offered by the
/// campus realm when `mock_idp.campus.staff` is not given.
pub const BUILT_IN_STAFF: &str = include_str!("../../config/mock-staff.toml");

/// One staff person of the campus realm (`[[staff]]` in the staff file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffPerson {
    /// The campus username, sent as `preferred_username` and matched by `login_hint`.
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    /// Sent as `email` when given.
    #[serde(default)]
    pub email: Option<String>,
    /// Group names, sent as the `groups` array.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl StaffPerson {
    /// Given name and family name, as the `name` claim.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// Reads a staff file: `[[staff]]` tables with `username`, `given_name`, `family_name`, and
/// optionally `email` and `groups`.
pub fn load_staff(path: &Path) -> Result<Vec<StaffPerson>, MockIdpError> {
    let text = std::fs::read_to_string(path).map_err(|error| MockIdpError::Read {
        path: path.to_owned(),
        error,
    })?;
    parse_staff(&text, path)
}

/// The built-in staff persons, [`BUILT_IN_STAFF`].
pub fn built_in_staff() -> Result<Vec<StaffPerson>, MockIdpError> {
    parse_staff(
        BUILT_IN_STAFF,
        Path::new("config/mock-staff.toml (built in)"),
    )
}

fn parse_staff(text: &str, path: &Path) -> Result<Vec<StaffPerson>, MockIdpError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct StaffFile {
        #[serde(default)]
        staff: Vec<StaffPerson>,
    }
    let file: StaffFile = toml::from_str(text).map_err(|error| MockIdpError::Parse {
        path: path.to_owned(),
        line: super::line_of(text, &error),
        message: error.message().to_owned(),
    })?;
    validate_staff(&file.staff).map_err(|problem| MockIdpError::InvalidPersons {
        path: path.to_owned(),
        problem,
    })?;
    Ok(file.staff)
}

/// At least one staff person; each with a username of letters, digits, `.`, `-`, `_` or `@`, both
/// names, and no username twice (without regard to case).
pub(crate) fn validate_staff(staff: &[StaffPerson]) -> Result<(), String> {
    if staff.is_empty() {
        return Err("no [[staff]] is listed".to_owned());
    }
    let mut seen = HashSet::new();
    for (index, person) in staff.iter().enumerate() {
        let which = index + 1;
        let username_ok = !person.username.is_empty()
            && person.username.len() <= 64
            && person
                .username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
        if !username_ok {
            return Err(format!(
                "staff #{which}: username must be 1 to 64 letters, digits, '.', '-', '_' or '@'"
            ));
        }
        if person.given_name.trim().is_empty() || person.family_name.trim().is_empty() {
            return Err(format!("staff #{which}: a name is empty"));
        }
        if person.groups.iter().any(|group| group.trim().is_empty()) {
            return Err(format!("staff #{which}: a group name is empty"));
        }
        if !seen.insert(person.username.to_ascii_lowercase()) {
            return Err(format!(
                "staff #{which}: username {} is listed twice",
                person.username
            ));
        }
    }
    Ok(())
}

/// Six digits, a century sign, three digits, a check character.
fn has_hetu_shape(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() == 11
        && bytes[..6].iter().all(u8::is_ascii_digit)
        && b"+-YXWVUABCDEF".contains(&bytes[6].to_ascii_uppercase())
        && bytes[7..10].iter().all(u8::is_ascii_digit)
        && bytes[10].is_ascii_alphanumeric()
}

/// `010170-***R`; anything not shaped like an identity code is hidden entirely.
pub(crate) fn mask(code: &str) -> String {
    if has_hetu_shape(code) {
        format!("{}***{}", &code[..7], &code[10..])
    } else {
        "***".to_owned()
    }
}

/// The check characters, indexed by `DDMMYYNNN mod 31`.
const CHECK_CHARACTERS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// The check character the code's digits call for.
pub(crate) fn check_character(code: &str) -> Option<char> {
    if !has_hetu_shape(code) {
        return None;
    }
    let digits = format!("{}{}", &code[..6], &code[7..10]);
    let number: u64 = digits.parse().ok()?;
    let index = usize::try_from(number % 31).ok()?;
    CHECK_CHARACTERS.get(index).map(|&c| char::from(c))
}

/// The same code with a check character that does not fit its digits.
pub(crate) fn with_wrong_check_character(code: &str) -> String {
    let Some(correct) = check_character(code) else {
        return format!("{code}X");
    };
    let position = CHECK_CHARACTERS
        .iter()
        .position(|&c| char::from(c) == correct)
        .unwrap_or(0);
    let wrong = char::from(CHECK_CHARACTERS[(position + 1) % CHECK_CHARACTERS.len()]);
    format!("{}{wrong}", &code[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/mock-persons.toml");

    use crate::identity::FTN_TEST_IDS;

    fn person(national_id: &str) -> Person {
        Person {
            national_id: national_id.to_owned(),
            given_name: "Tero Testi".to_owned(),
            family_name: "Äyrämö".to_owned(),
            birthdate: "1970-01-01".to_owned(),
            group: None,
        }
    }

    /// The birth date an identity code encodes, `YYYY-MM-DD`.
    fn birthdate_of(code: &str) -> String {
        let century = match code.as_bytes()[6] {
            b'+' => "18",
            b'A'..=b'F' => "20",
            _ => "19",
        };
        format!("{century}{}-{}-{}", &code[4..6], &code[2..4], &code[..2])
    }

    #[test]
    fn bundled_persons_are_the_ftn_test_identities_with_tero_first() {
        let persons = load_persons(Path::new(BUNDLED)).expect("bundled persons file loads");
        let codes: HashSet<&str> = persons.iter().map(|p| p.national_id.as_str()).collect();
        assert_eq!(codes, HashSet::from(FTN_TEST_IDS));
        let tero = &persons[0];
        assert_eq!(tero.national_id, "010170-999R");
        assert_eq!(tero.given_name, "Tero Testi");
        assert_eq!(tero.family_name, "Äyrämö");
        assert_eq!(tero.birthdate, "1970-01-01");
        for person in &persons {
            assert_eq!(
                check_character(&person.national_id),
                person.national_id.chars().last(),
                "{person:?} has a valid check character"
            );
            assert_eq!(person.birthdate, birthdate_of(&person.national_id));
        }
    }

    #[test]
    fn check_character_matches_published_valid_and_invalid_codes() {
        for code in FTN_TEST_IDS {
            assert_eq!(check_character(code), code.chars().last(), "{code}");
        }
        for code in ["280453-111A", "010101-111A", "260667-123F", "010101-000Z"] {
            assert_ne!(check_character(code), code.chars().last(), "{code}");
        }
    }

    #[test]
    fn wrong_check_character_changes_only_the_last_character() {
        let wrong = with_wrong_check_character("010170-999R");
        assert_eq!(&wrong[..10], "010170-999");
        assert_ne!(check_character(&wrong), wrong.chars().last());
    }

    #[test]
    fn debug_and_mask_hide_the_individual_number() {
        let tero = person("010170-999R");
        assert_eq!(tero.masked_national_id(), "010170-***R");
        assert!(!format!("{tero:?}").contains("999"));
        assert_eq!(mask("garbage"), "***");
    }

    #[test]
    fn duplicate_identity_code_is_refused_without_showing_it() {
        let problem = validate(&[person("010170-999R"), person("010170-999r")])
            .expect_err("duplicate refused");
        assert!(problem.contains("person #2"), "{problem}");
        assert!(!problem.contains("999"), "{problem}");
    }

    #[test]
    fn empty_list_and_bad_fields_are_refused() {
        assert!(validate(&[]).is_err());
        let mut bad_date = person("010170-999R");
        bad_date.birthdate = "1.1.1970".to_owned();
        assert!(validate(&[bad_date]).is_err());
        assert!(validate(&[person("01017-999R")]).is_err());
        let mut nameless = person("010170-999R");
        nameless.family_name = " ".to_owned();
        assert!(validate(&[nameless]).is_err());
    }

    #[test]
    fn persons_file_with_unknown_field_is_a_parse_error_naming_the_line() {
        let dir = std::env::temp_dir().join(format!("mock-persons-{}", crate::random::token()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("persons.toml");
        let text = "[[person]]\nnational_id = \"010170-999R\"\ngiven_name = \"A\"\nfamily_name = \"B\"\nbirthdate = \"1970-01-01\"\nhetu = \"x\"\n";
        std::fs::write(&path, text).expect("write");
        let error = load_persons(&path).expect_err("unknown field refused");
        std::fs::remove_dir_all(&dir).ok();
        match error {
            MockIdpError::Parse { line, message, .. } => {
                assert!(message.contains("hetu"), "{message}");
                assert!((1..=6).contains(&line), "{line}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_built_in_persons_are_the_shipped_file() {
        let shipped = std::fs::read_to_string(BUNDLED).expect("shipped persons file");
        assert_eq!(BUILT_IN_PERSONS, shipped);
        let loaded = load_persons(Path::new(BUNDLED)).expect("bundled persons file loads");
        assert_eq!(built_in_persons().expect("built-in persons parse"), loaded);
    }

    #[test]
    fn without_a_persons_file_the_settings_give_the_built_in_persons() {
        let settings = crate::mock_idp::MockIdpSettings::default();
        assert_eq!(settings.persons, None);
        assert_eq!(
            settings.test_persons().expect("built-in persons"),
            built_in_persons().expect("built-in persons")
        );
    }

    #[test]
    fn a_missing_persons_file_given_in_the_settings_names_the_key() {
        let settings = crate::mock_idp::MockIdpSettings {
            persons: Some("/nonexistent/persons.toml".into()),
            ..Default::default()
        };
        let error = settings.test_persons().expect_err("missing");
        let shown = error.to_string();
        assert!(shown.starts_with("mock_idp.persons: "), "{shown}");
        assert!(shown.contains("/nonexistent/persons.toml"), "{shown}");
    }

    #[test]
    fn the_built_in_staff_are_the_shipped_file_with_a_helpdesk_member_and_an_outsider() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/mock-staff.toml");
        assert_eq!(BUILT_IN_STAFF, std::fs::read_to_string(path).unwrap());
        let staff = built_in_staff().expect("built-in staff parse");
        assert_eq!(load_staff(Path::new(path)).unwrap(), staff);
        let groups = |username: &str| {
            staff
                .iter()
                .find(|p| p.username == username)
                .map(|p| p.groups.clone())
                .unwrap_or_default()
        };
        assert_eq!(groups("hd-anna"), ["helpdesk"]);
        assert_eq!(groups("hd-ilkka"), ["helpdesk", "hr", "it-security"]);
        assert_eq!(groups("kalle"), ["library"]);
    }

    #[test]
    fn staff_need_usable_unique_usernames_and_names() {
        let person = |username: &str| StaffPerson {
            username: username.to_owned(),
            given_name: "Anna".to_owned(),
            family_name: "Palvelu".to_owned(),
            email: None,
            groups: vec!["helpdesk".to_owned()],
        };
        validate_staff(&[person("hd-anna"), person("kalle@example.fi")]).unwrap();
        assert!(validate_staff(&[]).is_err());
        assert!(validate_staff(&[person("hd anna")]).is_err());
        assert!(validate_staff(&[person("hd-anna"), person("HD-Anna")]).is_err());
        let mut nameless = person("x");
        nameless.family_name = String::new();
        assert!(validate_staff(&[nameless]).is_err());
    }

    #[test]
    fn missing_persons_file_is_a_read_error() {
        let error = load_persons(Path::new("/nonexistent/persons.toml")).expect_err("missing");
        assert!(matches!(error, MockIdpError::Read { .. }), "{error:?}");
    }
}
