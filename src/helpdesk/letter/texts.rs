//! The documents' own words in Finnish, Swedish and English (`texts.toml`), and dates as each
//! language writes them.

use serde::Deserialize;
use time::Date;

use crate::i18n::Lang;

/// The built-in texts, as written in `texts.toml`.
const SOURCE: &str = include_str!("texts.toml");

/// The words of one language. Every field must be given in every language: a missing one makes the
/// file fail to parse, which the tests below would show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Texts {
    pub title: String,
    pub date: String,
    /// `{name}` is the person's name.
    pub greeting: String,
    pub intro: String,
    pub name: String,
    pub username: String,
    pub code: String,
    pub last_day: String,
    pub service: String,
    pub steps_title: String,
    pub step_open: String,
    pub step_enter: String,
    pub step_choose: String,
    pub expired: String,
    pub not_requested: String,
    pub never_ask: String,
    pub keep_safe: String,
    pub personal: String,
    pub recipient: String,
    pub campus: String,
    pub pick_up_point: String,
    pub hand_over: String,
    pub seal_broken: String,
    pub fold_back: String,
    pub fold_forward: String,
}

/// The texts of all three languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Catalog {
    fi: Texts,
    sv: Texts,
    en: Texts,
}

impl Catalog {
    /// The texts built into the binary.
    pub fn built_in() -> Result<Catalog, toml::de::Error> {
        toml::from_str(SOURCE)
    }

    pub fn get(&self, lang: Lang) -> &Texts {
        match lang {
            Lang::Fi => &self.fi,
            Lang::Sv => &self.sv,
            Lang::En => &self.en,
        }
    }
}

/// Every string of the built-in texts, in every language (to check a font has all their letters).
pub(super) fn all_strings() -> Result<Vec<String>, toml::de::Error> {
    let table: toml::Table = toml::from_str(SOURCE)?;
    Ok(table
        .values()
        .filter_map(toml::Value::as_table)
        .flat_map(|texts| texts.values())
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect())
}

/// `template` with `{name}` replaced.
pub(super) fn with_name(template: &str, name: &str) -> String {
    template.replace("{name}", name)
}

/// A date as the language writes it: `31.12.2025` in Finnish and Swedish (SFS 4175, as used in
/// Finland), `31 December 2025` in English.
pub(super) fn date(lang: Lang, date: Date) -> String {
    match lang {
        Lang::Fi | Lang::Sv => format!("{}.{}.{}", date.day(), u8::from(date.month()), date.year()),
        Lang::En => format!("{} {} {}", date.day(), date.month(), date.year()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use time::macros::date;

    use super::*;

    fn placeholders(text: &str) -> BTreeSet<String> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn every_text_exists_in_finnish_swedish_and_english() {
        let table: toml::Table = toml::from_str(SOURCE).unwrap();
        let languages: BTreeSet<&str> = table.keys().map(String::as_str).collect();
        assert_eq!(languages, BTreeSet::from(["fi", "sv", "en"]));
        let keys = |lang: &str| -> BTreeSet<String> {
            table[lang].as_table().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys("fi"), keys("sv"));
        assert_eq!(keys("fi"), keys("en"));
        // And the typed catalog reads all three, so none lacks a field the documents print.
        let catalog = Catalog::built_in().unwrap();
        for lang in Lang::ALL {
            assert!(!catalog.get(lang).title.is_empty());
        }
    }

    #[test]
    fn no_text_is_empty_and_each_has_the_same_placeholders_in_every_language() {
        let table: toml::Table = toml::from_str(SOURCE).unwrap();
        for (key, finnish) in table["fi"].as_table().unwrap() {
            let finnish = finnish.as_str().unwrap();
            for lang in ["fi", "sv", "en"] {
                let text = table[lang][key].as_str().unwrap();
                assert!(!text.trim().is_empty(), "{lang}.{key} is empty");
                assert_eq!(
                    placeholders(text),
                    placeholders(finnish),
                    "{lang}.{key} has other placeholders than fi.{key}"
                );
            }
        }
        assert_eq!(
            placeholders(&Catalog::built_in().unwrap().get(Lang::Sv).greeting),
            BTreeSet::from(["name".to_owned()])
        );
    }

    #[test]
    fn the_texts_keep_their_nordic_letters() {
        let catalog = Catalog::built_in().unwrap();
        assert_eq!(catalog.get(Lang::Fi).username, "Käyttäjätunnus");
        assert_eq!(catalog.get(Lang::Fi).personal, "HENKILÖKOHTAINEN");
        assert_eq!(catalog.get(Lang::Sv).pick_up_point, "Avhämtningsställe");
        assert!(catalog.get(Lang::Sv).hand_over.starts_with("Överlämnas"));
        assert!(catalog.get(Lang::Sv).never_ask.contains("lösenord"));
        assert!(all_strings().unwrap().len() >= 3 * 25);
    }

    #[test]
    fn dates_are_written_as_each_language_writes_them() {
        assert_eq!(date(Lang::Fi, date!(2025 - 12 - 31)), "31.12.2025");
        assert_eq!(date(Lang::Sv, date!(2026 - 01 - 02)), "2.1.2026");
        assert_eq!(date(Lang::En, date!(2026 - 01 - 02)), "2 January 2026");
    }
}
