//! The printable documents that carry an activation code to a person, as A4 PDF/A files:
//!
//! - [`Delivery::InPerson`]: a one-page printout staff hand over at a service point;
//! - [`Delivery::Janitor`]: a slip folded in three and taped shut, left with a campus janitor;
//!   only the person's name, the campus and the pick-up point show on the outside;
//! - [`Delivery::RegisteredLetter`]: a letter whose address block shows through the window of a
//!   C5 or C65 window envelope (Finnish layout, SFS 2487 / 2488).
//!
//! Each names the organisation, the username, the code (grouped in fours, in a monospaced face),
//! the service's address where the code is redeemed, the last day the code is valid, the steps in
//! the person's language (Finnish, Swedish or English) and that staff never ask for a password. The
//! layout and its sources are described in the `layout` submodule.
//!
//! Nothing here reads the clock, the network or a store: [`Printer::load`] reads the font files
//! once (at start), and [`Printer::render`] turns a [`Document`] into bytes. Every value of the
//! document is checked before it is printed: an empty, over-long or unprintable value (a control
//! character, right-to-left script, a letter the font does not have) is refused with a
//! [`LetterError::Field`] that names it, never drawn as empty boxes or cut off.
//!
//! No logo is drawn: the organisation is named in text in its colour. (krilla's raster images
//! would bring a second major version of two compression crates into the build.)

mod fonts;
mod layout;
mod pdf;
mod texts;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use time::Date;
use url::Url;

use crate::config::{ConfigError, contrast, parse_colour};
use crate::i18n::Lang;

use self::fonts::{Face, Fonts};
use self::layout::{Brand, Fields, Kind};
use self::texts::Catalog;

/// The settings keys, as the messages name them.
const KEY_FONT: &str = "helpdesk.letters.font";
const KEY_BOLD_FONT: &str = "helpdesk.letters.bold_font";
const KEY_MONO_FONT: &str = "helpdesk.letters.mono_font";
const KEY_ORGANISATION: &str = "helpdesk.letters.organisation";
const KEY_SENDER: &str = "helpdesk.letters.sender";
const KEY_CONTACT: &str = "helpdesk.letters.contact";
const KEY_COLOUR: &str = "helpdesk.letters.colour";

/// The most characters a printed value may have; longer ones are refused before any measuring.
const MAX_CHARS: usize = 200;
/// The most lines a setting's list (sender, contact) may have.
const MAX_SETTING_LINES: usize = 4;

/// `[helpdesk.letters]`: the fonts and the organisation's lines on printed codes.
///
/// ```toml
/// [helpdesk.letters]
/// font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
/// bold_font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
/// mono_font = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
/// organisation = { fi = "Esimerkin yliopisto", sv = "Exempeluniversitetet", en = "University of Example" }
/// sender = ["Esimerkin yliopisto, IT-palvelut", "PL 1, 00014 Esimerkin yliopisto"]
/// contact = ["IT-palvelut · it-tuki@example.fi · 029 123 4567"]
/// colour = "#0b3d63"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LetterSettings {
    /// The typeface of the text: a TrueType or OpenType file whose licence allows embedding. The
    /// default is DejaVu Sans from Debian's `fonts-dejavu-core`.
    pub font: PathBuf,
    /// The bold face of the same family (headings, the name, the last day).
    pub bold_font: PathBuf,
    /// A monospaced face for the code and the username, where 0/O and 1/l/I must differ.
    pub mono_font: PathBuf,
    /// The organisation's name at the top of every document, per language (`fi`, `sv`, `en`). A
    /// language without one uses the Finnish name, then any; with none, no name is printed.
    pub organisation: BTreeMap<String, String>,
    /// The sender's postal address. A letter prints these lines, joined by commas, in small type
    /// above the recipient's address in the envelope window (the return address). Registered
    /// letters need it.
    pub sender: Vec<String>,
    /// Contact lines at the foot of the printout and the letter (helpdesk, phone, opening hours).
    pub contact: Vec<String>,
    /// The organisation's colour, `#rrggbb`, for its name, rules and the warning; it must be dark
    /// enough to read on white paper (contrast at least 4.5:1).
    pub colour: String,
    /// Where a letter's postal address comes from: one entry per line, each naming the directory
    /// attributes (separated by spaces) whose values make that line, e.g. `["streetAddress",
    /// "postalCode l"]` (Active Directory) or `["postalAddress"]` (a postal address with `$` between
    /// its lines). Staff see the address in the form and may correct it; empty: staff type it.
    pub address_lines: Vec<String>,
}

impl Default for LetterSettings {
    fn default() -> Self {
        let dejavu = |file: &str| PathBuf::from("/usr/share/fonts/truetype/dejavu").join(file);
        LetterSettings {
            font: dejavu("DejaVuSans.ttf"),
            bold_font: dejavu("DejaVuSans-Bold.ttf"),
            mono_font: dejavu("DejaVuSansMono.ttf"),
            organisation: BTreeMap::new(),
            sender: Vec::new(),
            contact: Vec::new(),
            colour: "#0b3d63".to_owned(),
            address_lines: Vec::new(),
        }
    }
}

impl LetterSettings {
    /// Rejects settings the documents cannot be printed with, naming the key: a font file that
    /// cannot be read, is not a font, forbids embedding or lacks a letter of the texts; an empty,
    /// over-long or unprintable line; a faint colour. Reads the font files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Printer::load(self).map(drop)
    }

    /// The organisation's name in `lang`, else in Finnish, else in any language.
    fn organisation(&self, lang: Lang) -> Option<&str> {
        self.organisation
            .get(lang.code())
            .or_else(|| self.organisation.get(Lang::Fi.code()))
            .or_else(|| self.organisation.values().next())
            .map(String::as_str)
    }

    /// The checks that need no file.
    fn validate_values(&self) -> Result<[u8; 3], ConfigError> {
        if self.address_lines.len() > 6
            || self.address_lines.iter().any(|line| {
                line.split_whitespace().next().is_none()
                    || line.split_whitespace().any(|attribute| {
                        !attribute.starts_with(|c: char| c.is_ascii_alphabetic())
                            || !attribute
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
            })
        {
            return Err(ConfigError::invalid(
                "helpdesk.letters.address_lines",
                "must be at most 6 lines, each naming one or more directory attributes separated \
                 by spaces, e.g. [\"streetAddress\", \"postalCode l\"]",
            ));
        }
        if let Some(lang) = self
            .organisation
            .keys()
            .find(|lang| Lang::from_code(lang).is_none_or(|known| known.code() != *lang))
        {
            return Err(ConfigError::invalid(
                KEY_ORGANISATION,
                format!("`{lang}` is not one of fi, sv, en"),
            ));
        }
        for name in self.organisation.values() {
            printable(name).map_err(|problem| ConfigError::invalid(KEY_ORGANISATION, problem))?;
        }
        for (key, lines) in [(KEY_SENDER, &self.sender), (KEY_CONTACT, &self.contact)] {
            if lines.len() > MAX_SETTING_LINES {
                return Err(ConfigError::invalid(
                    key,
                    format!("has {} lines; at most {MAX_SETTING_LINES}", lines.len()),
                ));
            }
            for line in lines {
                printable(line).map_err(|problem| ConfigError::invalid(key, problem))?;
            }
        }
        let colour = parse_colour(&self.colour).ok_or_else(|| {
            ConfigError::invalid(
                KEY_COLOUR,
                format!("`{}` is not a #rrggbb colour", self.colour),
            )
        })?;
        if contrast(colour, [255, 255, 255]) < 4.5 {
            return Err(ConfigError::invalid(
                KEY_COLOUR,
                "is too faint on white paper (contrast under 4.5:1); choose a darker colour",
            ));
        }
        Ok(colour)
    }
}

/// A value that cannot be printed, or settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    /// A value of the document cannot be printed; the message names it and says why. Nothing was
    /// printed: correct the value (or ask the person how to write it) and print again.
    #[error("`{field}` cannot be printed: {problem}")]
    Field { field: String, problem: String },
    /// The settings cannot be used; fix the named key and restart.
    #[error(transparent)]
    Settings(ConfigError),
    /// The PDF could not be written although every value was accepted: a defect, or an unusual
    /// font. Report it with the message.
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

impl LetterError {
    fn field(field: &str, problem: impl Into<String>) -> Self {
        LetterError::Field {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

impl From<ConfigError> for LetterError {
    fn from(error: ConfigError) -> Self {
        LetterError::Settings(error)
    }
}

/// How the code reaches the person, and what that way needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Handed over at a service point.
    InPerson,
    /// Left, sealed, with a janitor of `campus`, to be picked up at `pick_up_point`.
    Janitor {
        campus: String,
        pick_up_point: String,
    },
    /// Posted as a registered letter. `address` holds the postal address lines after the name
    /// (street, postal code and town, country when abroad); blank lines are left out.
    RegisteredLetter { address: Vec<String> },
}

/// One document to print.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    pub delivery: Delivery,
    /// The language of the person, which the document is written in.
    pub lang: Lang,
    /// The person's name as it should appear on the document and the envelope.
    pub full_name: String,
    pub username: String,
    /// The activation code: ASCII letters and digits (8 to 32 of them), with or without
    /// separators. Printed in groups of four (see [`format_code`]); `Debug` never shows it.
    pub code: String,
    /// Where the code is redeemed (the service's `/code` page).
    pub redeem_url: Url,
    /// The last day on which the code can be used.
    pub valid_until: Date,
    /// The day the document is printed.
    pub issued_on: Date,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("delivery", &self.delivery)
            .field("lang", &self.lang)
            .field("full_name", &self.full_name)
            .field("username", &self.username)
            .field("code", &"[redacted]")
            .field("redeem_url", &self.redeem_url.as_str())
            .field("valid_until", &self.valid_until)
            .field("issued_on", &self.issued_on)
            .finish()
    }
}

/// `code` as printed: its letters and digits in groups of four joined by hyphens, e.g.
/// `7KQM-2XRD-9TPA-F4WN`. Hyphens and spaces in `code` are ignored; anything else that is not an
/// ASCII letter or digit, or fewer than 8 or more than 32 of them, is refused.
pub fn format_code(code: &str) -> Result<String, LetterError> {
    let bare: Vec<char> = code.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    if let Some(bad) = bare.iter().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(LetterError::field(
            "code",
            format!(
                "holds U+{:04X}; a code has only letters A–Z and digits",
                u32::from(*bad)
            ),
        ));
    }
    if !(8..=32).contains(&bare.len()) {
        return Err(LetterError::field(
            "code",
            format!("has {} letters and digits; a code has 8 to 32", bare.len()),
        ));
    }
    Ok(bare
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Renders documents with fonts read once.
pub struct Printer {
    settings: LetterSettings,
    fonts: Fonts,
    catalog: Catalog,
    colour: [u8; 3],
}

impl fmt::Debug for Printer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Printer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Printer {
    /// Checks `settings` and reads the fonts they name (see [`LetterSettings::validate`]).
    pub fn load(settings: &LetterSettings) -> Result<Printer, ConfigError> {
        let colour = settings.validate_values()?;
        let fonts = Fonts::load([
            (KEY_FONT, settings.font.as_path()),
            (KEY_BOLD_FONT, settings.bold_font.as_path()),
            (KEY_MONO_FONT, settings.mono_font.as_path()),
        ])?;
        let built_in = |error: toml::de::Error| {
            ConfigError::invalid("helpdesk.letters", format!("the built-in texts: {error}"))
        };
        let catalog = Catalog::built_in().map_err(built_in)?;
        let shaper = fonts
            .shaper()
            .map_err(|error| ConfigError::invalid(KEY_FONT, error.to_string()))?;
        let lacks = |key: &'static str, face: Face, text: &str| match shaper.lacks(face, text) {
            Some(c) => Err(ConfigError::invalid(
                key,
                format!(
                    "the font has no “{c}” (U+{:04X}), which the documents print",
                    u32::from(c)
                ),
            )),
            None => Ok(()),
        };
        for text in texts::all_strings().map_err(built_in)? {
            lacks(KEY_FONT, Face::Regular, &text)?;
            lacks(KEY_BOLD_FONT, Face::Bold, &text)?;
        }
        let code_letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.";
        lacks(KEY_MONO_FONT, Face::Mono, code_letters)?;
        for name in settings.organisation.values() {
            lacks(KEY_ORGANISATION, Face::Bold, name)?;
        }
        for line in &settings.sender {
            lacks(KEY_SENDER, Face::Regular, line)?;
        }
        for line in &settings.contact {
            lacks(KEY_CONTACT, Face::Regular, line)?;
        }
        drop(shaper);
        Ok(Printer {
            settings: settings.clone(),
            fonts,
            catalog,
            colour,
        })
    }

    /// The PDF of `document`: one A4 page, PDF/A-2u, in the document's language.
    pub fn render(&self, document: &Document) -> Result<Vec<u8>, LetterError> {
        let lang = document.lang;
        let texts = self.catalog.get(lang);
        let fields = self.fields(document)?;
        let sender = (!self.settings.sender.is_empty()).then(|| {
            self.settings
                .sender
                .iter()
                .map(|line| line.trim())
                .collect::<Vec<_>>()
                .join(", ")
        });
        if matches!(fields.kind, Kind::Letter { .. }) && sender.is_none() {
            return Err(LetterError::Settings(ConfigError::invalid(
                KEY_SENDER,
                "is required for registered letters: the sender's postal address, printed as the \
                 return address in the envelope window",
            )));
        }
        let brand = Brand {
            organisation: self.settings.organisation(lang),
            sender,
            contact: &self.settings.contact,
        };
        let shaper = self.fonts.shaper()?;
        let items = layout::compose(&fields, texts, &brand, &shaper)?;
        pdf::write(
            &items,
            &self.fonts,
            self.colour,
            &pdf::About {
                title: &texts.title,
                lang: lang.code(),
                created: document.issued_on,
            },
        )
    }

    /// The document's values, checked and formatted for printing.
    fn fields(&self, document: &Document) -> Result<Fields, LetterError> {
        let check = |field: &str, value: &str| {
            printable(value).map_err(|problem| LetterError::field(field, problem))
        };
        if document.valid_until < document.issued_on {
            return Err(LetterError::field(
                "valid_until",
                format!(
                    "{} is before the day the document is printed ({})",
                    document.valid_until, document.issued_on
                ),
            ));
        }
        if !matches!(document.redeem_url.scheme(), "https" | "http") {
            return Err(LetterError::field(
                "redeem_url",
                "is not an http(s) address",
            ));
        }
        let kind = match &document.delivery {
            Delivery::InPerson => Kind::InPerson,
            Delivery::Janitor {
                campus,
                pick_up_point,
            } => Kind::Janitor {
                campus: check("campus", campus)?,
                pick_up_point: check("pick_up_point", pick_up_point)?,
            },
            Delivery::RegisteredLetter { address } => {
                let mut lines = Vec::new();
                for (index, line) in address.iter().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let field = format!("address line {}", index + 1);
                    lines.push((field.clone(), check(&field, line)?));
                }
                if lines.is_empty() {
                    return Err(LetterError::field(
                        "address",
                        "is empty: a letter needs the recipient's postal address",
                    ));
                }
                Kind::Letter { address: lines }
            }
        };
        Ok(Fields {
            name: check("full_name", &document.full_name)?,
            username: check("username", &document.username)?,
            code: format_code(&document.code)?,
            url: check("redeem_url", document.redeem_url.as_str())?,
            last_day: texts::date(document.lang, document.valid_until),
            issued: texts::date(document.lang, document.issued_on),
            kind,
        })
    }
}

/// Renders one document, reading the fonts first; a service prints with a [`Printer`] loaded once.
pub fn render(document: &Document, settings: &LetterSettings) -> Result<Vec<u8>, LetterError> {
    Printer::load(settings)?.render(document)
}

/// `value` without surrounding spaces, or why it cannot be printed on one line (whether the font
/// has its letters is checked when it is laid out).
fn printable(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("is empty".to_owned());
    }
    let count = value.chars().count();
    if count > MAX_CHARS {
        return Err(format!("has {count} characters; at most {MAX_CHARS}"));
    }
    if let Some(c) = value.chars().find(|&c| c.is_control() || is_invisible(c)) {
        return Err(format!(
            "contains the control or invisible character U+{:04X}",
            u32::from(c)
        ));
    }
    if let Some(c) = value.chars().find(|&c| is_right_to_left(c)) {
        return Err(format!(
            "is written right to left (“{c}”, U+{:04X}), which the documents cannot lay out: \
             give it in Latin letters",
            u32::from(c)
        ));
    }
    Ok(value.to_owned())
}

/// Characters that change how text around them is shown without showing anything themselves.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Letters of the scripts written right to left (Hebrew, Arabic, Syriac, Thaana, N'Ko and their
/// presentation forms and historic relatives).
fn is_right_to_left(c: char) -> bool {
    matches!(c,
        '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}'
        | '\u{10800}'..='\u{10FFF}' | '\u{1E800}'..='\u{1EFFF}')
}

#[cfg(test)]
mod tests;
