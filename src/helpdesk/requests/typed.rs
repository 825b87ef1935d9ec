//! The person's service request form as typed, read into a [`NewRequest`] or the problems to show
//! beside its fields. Nothing here looks at the directory: the answer must not depend on whether
//! the username or the person exists.

use super::Wanted;
use super::settings::RequestSettings;

/// The form's fields as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Typed {
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    /// `24.12.1998` (or `1998-12-24`).
    pub birth_date: String,
    pub email: String,
    /// `janitor` or `letter`.
    pub delivery: String,
    /// A campus id, for `janitor`.
    pub campus: String,
    /// For `letter`: the street address, postal code, town, and country (empty for Finland).
    pub street: String,
    pub postal_code: String,
    pub town: String,
    pub country: String,
}

/// A request read from a form, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub username: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: (i32, u8, u8),
    pub email: String,
    pub wanted: Wanted,
}

/// A field of the form; its `id` is the field's id on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Username,
    GivenName,
    FamilyName,
    BirthDate,
    Email,
    Delivery,
    Campus,
    Street,
    PostalCode,
    Town,
    Country,
}

impl Field {
    pub fn id(self) -> &'static str {
        match self {
            Field::Username => "username",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::BirthDate => "birth_date",
            Field::Email => "email",
            Field::Delivery => "delivery-janitor",
            Field::Campus => "campus",
            Field::Street => "street",
            Field::PostalCode => "postal_code",
            Field::Town => "town",
            Field::Country => "country",
        }
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required(Field),
    /// Too long, or characters that have no place in it.
    Invalid(Field),
    /// Not a date, or not a possible birth date.
    BirthDate,
    Email,
    /// A Finnish postal code is five digits.
    PostalCode,
    /// A registered letter is not sent inside the capital region.
    CapitalRegion,
    /// Registered letters go only to Finnish addresses here.
    Abroad,
}

impl Problem {
    pub fn field(self) -> Field {
        match self {
            Problem::Required(field) | Problem::Invalid(field) => field,
            Problem::BirthDate => Field::BirthDate,
            Problem::Email => Field::Email,
            Problem::PostalCode | Problem::CapitalRegion => Field::PostalCode,
            Problem::Abroad => Field::Country,
        }
    }
}

/// `text` trimmed, if it is a sensible line of at most `max` characters (no control characters).
fn line(text: &str, max: usize) -> Option<&str> {
    let text = text.trim();
    (text.chars().count() <= max && !text.chars().any(char::is_control)).then_some(text)
}

/// The line typed into the required `field`, or empty with its problem noted.
fn required(text: &str, field: Field, max: usize, problems: &mut Vec<Problem>) -> String {
    match line(text, max) {
        Some("") => {
            problems.push(Problem::Required(field));
            String::new()
        }
        Some(text) => text.to_owned(),
        None => {
            problems.push(Problem::Invalid(field));
            String::new()
        }
    }
}

/// Names of Finland as people type them, in the three languages and as the country code.
fn is_finland(country: &str) -> bool {
    let country = country.trim();
    country.is_empty()
        || ["fi", "fin", "finland", "suomi", "suomen tasavalta"]
            .iter()
            .any(|name| country.eq_ignore_ascii_case(name))
}

/// Reads a birth date typed as `d.m.yyyy` or `yyyy-mm-dd`, between 1900 and `today`.
fn birth_date(text: &str, today: time::Date) -> Option<time::Date> {
    let text = text.trim();
    let numbers: Vec<&str> = if text.contains('.') {
        let mut parts: Vec<&str> = text.split('.').collect();
        parts.reverse();
        parts
    } else {
        text.split('-').collect()
    };
    let [year, month, day] = numbers.as_slice() else {
        return None;
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(year) && all_digits(month) && all_digits(day)) || year.len() != 4 {
        return None;
    }
    let date = time::Date::from_calendar_date(
        year.parse().ok()?,
        time::Month::try_from(month.parse::<u8>().ok()?).ok()?,
        day.parse().ok()?,
    )
    .ok()?;
    (date.year() >= 1900 && date <= today).then_some(date)
}

fn email(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = text.rsplit_once('@')?;
    if local.is_empty() || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.')
    {
        return None;
    }
    text.parse::<lettre::Address>().ok()?;
    Some(text.to_owned())
}

impl Typed {
    /// The request this form describes, or every problem with it. `today` is the date in Finland.
    pub fn read(
        &self,
        settings: &RequestSettings,
        today: time::Date,
    ) -> Result<NewRequest, Vec<Problem>> {
        let mut problems = Vec::new();
        let given_name = required(&self.given_name, Field::GivenName, 100, &mut problems);
        let family_name = required(&self.family_name, Field::FamilyName, 100, &mut problems);
        let birth = required(&self.birth_date, Field::BirthDate, 10, &mut problems);
        let typed_email = required(&self.email, Field::Email, 254, &mut problems);
        let username = self.username.trim();
        let username_ok = username.chars().count() <= 64
            && username
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
        if !username_ok {
            problems.push(Problem::Invalid(Field::Username));
        }
        let birth_date = if birth.is_empty() {
            None
        } else {
            let date = birth_date(&birth, today);
            if date.is_none() {
                problems.push(Problem::BirthDate);
            }
            date
        };
        let email = if typed_email.is_empty() {
            None
        } else {
            let email = email(&typed_email);
            if email.is_none() {
                problems.push(Problem::Email);
            }
            email
        };
        let wanted = match self.delivery.as_str() {
            "janitor" => match settings.campus(self.campus.trim()) {
                Some(campus) => Some(Wanted::Janitor {
                    campus: campus.id.clone(),
                }),
                None => {
                    problems.push(Problem::Required(Field::Campus));
                    None
                }
            },
            "letter" => self.letter(settings, &mut problems),
            _ => {
                problems.push(Problem::Required(Field::Delivery));
                None
            }
        };
        match (birth_date, email, wanted) {
            (Some(birth_date), Some(email), Some(wanted)) if problems.is_empty() => {
                Ok(NewRequest {
                    username: (!username.is_empty()).then(|| username.to_owned()),
                    given_name,
                    family_name,
                    birth_date: (
                        birth_date.year(),
                        u8::from(birth_date.month()),
                        birth_date.day(),
                    ),
                    email,
                    wanted,
                })
            }
            _ => Err(problems),
        }
    }

    /// The letter's address lines, or its problems.
    fn letter(&self, settings: &RequestSettings, problems: &mut Vec<Problem>) -> Option<Wanted> {
        let before = problems.len();
        let street = required(&self.street, Field::Street, 100, problems);
        let postal_code = required(&self.postal_code, Field::PostalCode, 16, problems);
        let town = required(&self.town, Field::Town, 60, problems);
        let country = line(&self.country, 60).unwrap_or_default();
        let address = if is_finland(country) {
            let five_digits =
                postal_code.len() == 5 && postal_code.bytes().all(|b| b.is_ascii_digit());
            if !postal_code.is_empty() && !five_digits {
                problems.push(Problem::PostalCode);
            } else if five_digits && settings.in_capital_region(&postal_code) {
                problems.push(Problem::CapitalRegion);
            }
            vec![street, format!("{postal_code} {}", town.to_uppercase())]
        } else {
            if !settings.foreign_addresses {
                problems.push(Problem::Abroad);
            }
            vec![
                street,
                format!("{postal_code} {town}"),
                country.to_uppercase(),
            ]
        };
        (problems.len() == before).then_some(Wanted::Letter { address })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpdesk::requests::settings::Campus;

    fn settings() -> RequestSettings {
        let text = |fi: &str| [("fi".to_owned(), fi.to_owned())].into_iter().collect();
        RequestSettings {
            enabled: true,
            staff_groups: vec!["helpdesk".to_owned()],
            campus: vec![Campus {
                id: "hervanta".to_owned(),
                name: text("Hervannan kampus"),
                pick_up_point: text("Tietotalo, aula"),
                opening_hours: text("ma–pe 8–16"),
            }],
            ..RequestSettings::default()
        }
    }

    fn today() -> time::Date {
        time::Date::from_calendar_date(2026, time::Month::December, 6).unwrap()
    }

    fn letter(postal_code: &str, country: &str) -> Typed {
        Typed {
            username: String::new(),
            given_name: " Aino ".to_owned(),
            family_name: "Järvinen".to_owned(),
            birth_date: "24.12.1998".to_owned(),
            email: "aino.jarvinen@example.com".to_owned(),
            delivery: "letter".to_owned(),
            campus: String::new(),
            street: "Hämeenkatu 1 A 2".to_owned(),
            postal_code: postal_code.to_owned(),
            town: "Tampere".to_owned(),
            country: country.to_owned(),
        }
    }

    #[test]
    fn a_letter_outside_the_capital_region_is_read_with_its_address_lines() {
        let request = letter("33100", "").read(&settings(), today()).unwrap();
        assert_eq!(request.given_name, "Aino");
        assert_eq!(request.birth_date, (1998, 12, 24));
        assert_eq!(request.username, None);
        assert_eq!(
            request.wanted,
            Wanted::Letter {
                address: vec!["Hämeenkatu 1 A 2".to_owned(), "33100 TAMPERE".to_owned()]
            }
        );
    }

    #[test]
    fn a_letter_inside_the_capital_region_is_refused_at_its_postal_code() {
        for code in ["00100", "01300", "02150"] {
            assert_eq!(
                letter(code, "Suomi").read(&settings(), today()),
                Err(vec![Problem::CapitalRegion]),
                "{code}"
            );
        }
        assert!(letter("04400", "FI").read(&settings(), today()).is_ok());
    }

    #[test]
    fn finnish_postal_codes_are_five_digits() {
        for code in ["3310", "331000", "33 100", "FI-33100"] {
            assert_eq!(
                letter(code, "").read(&settings(), today()),
                Err(vec![Problem::PostalCode]),
                "{code}"
            );
        }
    }

    #[test]
    fn foreign_addresses_only_when_allowed() {
        assert_eq!(
            letter("10115", "Germany").read(&settings(), today()),
            Err(vec![Problem::Abroad])
        );
        let allowed = RequestSettings {
            foreign_addresses: true,
            ..settings()
        };
        let request = letter("10115", "Germany").read(&allowed, today()).unwrap();
        assert_eq!(
            request.wanted,
            Wanted::Letter {
                address: vec![
                    "Hämeenkatu 1 A 2".to_owned(),
                    "10115 Tampere".to_owned(),
                    "GERMANY".to_owned()
                ]
            }
        );
    }

    #[test]
    fn a_janitor_needs_a_campus_of_the_settings() {
        let janitor = Typed {
            delivery: "janitor".to_owned(),
            campus: "hervanta".to_owned(),
            ..letter("", "")
        };
        assert_eq!(
            janitor.read(&settings(), today()).unwrap().wanted,
            Wanted::Janitor {
                campus: "hervanta".to_owned()
            }
        );
        let elsewhere = Typed {
            campus: "otaniemi".to_owned(),
            ..janitor
        };
        assert_eq!(
            elsewhere.read(&settings(), today()),
            Err(vec![Problem::Required(Field::Campus)])
        );
    }

    #[test]
    fn every_problem_is_told_at_once() {
        let empty = Typed::default();
        let problems = empty.read(&settings(), today()).unwrap_err();
        assert_eq!(
            problems,
            [
                Problem::Required(Field::GivenName),
                Problem::Required(Field::FamilyName),
                Problem::Required(Field::BirthDate),
                Problem::Required(Field::Email),
                Problem::Required(Field::Delivery),
            ]
        );
    }

    #[test]
    fn birth_dates_e_mail_addresses_and_usernames_are_checked() {
        for (date, ok) in [
            ("24.12.1998", true),
            ("1998-12-24", true),
            ("1.1.1970", true),
            ("31.2.1998", false),
            ("24.12.98", false),
            ("7.12.2026", false),
            ("1.1.1899", false),
            ("yesterday", false),
        ] {
            let typed = Typed {
                birth_date: date.to_owned(),
                ..letter("33100", "")
            };
            assert_eq!(typed.read(&settings(), today()).is_ok(), ok, "{date}");
        }
        for (address, ok) in [
            ("a@b.fi", true),
            ("a@b", false),
            ("a b@c.fi", false),
            ("@c.fi", false),
            ("a@.fi", false),
        ] {
            let typed = Typed {
                email: address.to_owned(),
                ..letter("33100", "")
            };
            assert_eq!(typed.read(&settings(), today()).is_ok(), ok, "{address}");
        }
        let typed = Typed {
            username: "ajarvine; DROP".to_owned(),
            ..letter("33100", "")
        };
        assert_eq!(
            typed.read(&settings(), today()),
            Err(vec![Problem::Invalid(Field::Username)])
        );
        let typed = Typed {
            given_name: "x".repeat(101),
            ..letter("33100", "")
        };
        assert_eq!(
            typed.read(&settings(), today()),
            Err(vec![Problem::Invalid(Field::GivenName)])
        );
    }
}
