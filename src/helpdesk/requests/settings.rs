//! `[helpdesk.requests]`: service requests for a code by janitor or registered letter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, HumanDuration};
use crate::i18n::Lang;

/// A text per language (`fi`, `sv`, `en`); a language without one uses the Finnish text, then any.
pub type Localized = BTreeMap<String, String>;

/// The text of `lang` in `texts`, else the Finnish one, else any.
pub fn localized(texts: &Localized, lang: Lang) -> &str {
    texts
        .get(lang.code())
        .or_else(|| texts.get("fi"))
        .or_else(|| texts.values().next())
        .map(String::as_str)
        .unwrap_or_default()
}

/// `[helpdesk.requests]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestSettings {
    /// Turns on the person's form at `/request` and the staff queue at `/helpdesk/requests`
    /// (the helpdesk channel must be on).
    pub enabled: bool,
    /// Members of these staff groups see the queue and act on requests.
    pub staff_groups: Vec<String>,
    /// How long a request waits for staff; then it is closed and the person told.
    pub expire_after: HumanDuration,
    /// How often each replica looks for requests past `expire_after` to close.
    pub sweep_interval: HumanDuration,
    /// A form sent sooner than this after it was opened is refused: people do not type that fast.
    pub min_fill_time: HumanDuration,
    /// The working days a request usually takes, as the answer page says.
    pub usual_days: u32,
    /// Postal-code prefixes of the capital region, where registered letters are not offered
    /// because the campuses are close (Helsinki, Vantaa, Espoo, Kauniainen by default).
    pub capital_region_postal_prefixes: Vec<String>,
    /// Whether a registered letter may go abroad.
    pub foreign_addresses: bool,
    /// `[[helpdesk.requests.campus]]`: the campuses whose janitors keep codes for pick-up.
    pub campus: Vec<Campus>,
    /// `[[helpdesk.requests.refusal]]`: the reasons staff choose from when refusing a request, as
    /// the person's e-mail says them. Without any, built-in reasons are used.
    pub refusal: Vec<RefusalReason>,
}

impl Default for RequestSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            staff_groups: Vec::new(),
            expire_after: HumanDuration(Duration::from_secs(30 * 24 * 3600)),
            sweep_interval: HumanDuration(Duration::from_secs(60)),
            min_fill_time: HumanDuration(Duration::from_secs(5)),
            usual_days: 3,
            capital_region_postal_prefixes: ["00", "01", "02"].map(str::to_owned).to_vec(),
            foreign_addresses: false,
            campus: Vec::new(),
            refusal: Vec::new(),
        }
    }
}

/// `[[helpdesk.requests.campus]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campus {
    /// A short id for forms and records (`kumpula`): lowercase letters, digits and `-`.
    pub id: String,
    /// The campus's name per language.
    pub name: Localized,
    /// Where on the campus the janitor keeps codes, per language (printed on the janitor slip).
    pub pick_up_point: Localized,
    /// When codes can be picked up, per language (`Mon–Fri 8–16`).
    pub opening_hours: Localized,
}

/// `[[helpdesk.requests.refusal]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalReason {
    /// A short id for forms and the audit trail (`no_match`).
    pub id: String,
    /// What the person's e-mail says, per language.
    pub text: Localized,
}

/// The reasons offered when `[[helpdesk.requests.refusal]]` names none.
fn built_in_refusals() -> Vec<RefusalReason> {
    let reason = |id: &str, fi: &str, sv: &str, en: &str| RefusalReason {
        id: id.to_owned(),
        text: [("fi", fi), ("sv", sv), ("en", en)]
            .into_iter()
            .map(|(lang, text)| (lang.to_owned(), text.to_owned()))
            .collect(),
    };
    vec![
        reason(
            "no_match",
            "Pyynnön tiedoilla ei löytynyt käyttäjätunnusta. Tarkista tiedot ja lähetä uusi pyyntö, \
             tai ota yhteyttä käyttäjätukeen.",
            "Inget användarnamn hittades med uppgifterna i begäran. Kontrollera uppgifterna och \
             skicka en ny begäran, eller kontakta användarstödet.",
            "No username was found with the details of the request. Check the details and send a \
             new request, or contact the helpdesk.",
        ),
        reason(
            "details_differ",
            "Pyynnön tiedot eivät vastaa käyttäjätunnuksen tietoja. Asioi palvelupisteessä \
             henkilöllisyystodistuksen kanssa.",
            "Uppgifterna i begäran stämmer inte med användarnamnets uppgifter. Besök en \
             servicepunkt med en identitetshandling.",
            "The details of the request do not match those of the username. Visit a service point \
             with an identity document.",
        ),
        reason(
            "visit_in_person",
            "Tätä käyttäjätunnusta ei voi toimittaa etänä. Asioi palvelupisteessä \
             henkilöllisyystodistuksen kanssa.",
            "Detta användarnamn kan inte levereras på distans. Besök en servicepunkt med en \
             identitetshandling.",
            "This username cannot be delivered remotely. Visit a service point with an identity \
             document.",
        ),
    ]
}

impl RequestSettings {
    /// The refusal reasons staff choose from.
    pub fn refusals(&self) -> Vec<RefusalReason> {
        if self.refusal.is_empty() {
            built_in_refusals()
        } else {
            self.refusal.clone()
        }
    }

    pub fn campus(&self, id: &str) -> Option<&Campus> {
        self.campus.iter().find(|campus| campus.id == id)
    }

    /// Whether `postal_code` (five digits) lies in the capital region.
    pub fn in_capital_region(&self, postal_code: &str) -> bool {
        self.capital_region_postal_prefixes
            .iter()
            .any(|prefix| postal_code.starts_with(prefix.as_str()))
    }

    /// Rejects request settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let id_ok = |id: &str| {
            !id.is_empty()
                && id.len() <= 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if self
            .staff_groups
            .iter()
            .all(|group| group.trim().is_empty())
        {
            return Err(ConfigError::invalid(
                "helpdesk.requests.staff_groups",
                "must name the staff groups that handle service requests",
            ));
        }
        let days = self.expire_after.get().as_secs() / (24 * 3600);
        if !(1..=180).contains(&days) {
            return Err(ConfigError::invalid(
                "helpdesk.requests.expire_after",
                "must be between 1d and 180d",
            ));
        }
        let sweep = self.sweep_interval.get();
        if sweep.is_zero() || sweep > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::invalid(
                "helpdesk.requests.sweep_interval",
                "must be between 1ms and 1d",
            ));
        }
        if self.min_fill_time.get() > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "helpdesk.requests.min_fill_time",
                "must be at most 60s: people fill the form in seconds, not minutes",
            ));
        }
        if !(1..=60).contains(&self.usual_days) {
            return Err(ConfigError::invalid(
                "helpdesk.requests.usual_days",
                "must be between 1 and 60",
            ));
        }
        if let Some(prefix) = self.capital_region_postal_prefixes.iter().find(|prefix| {
            prefix.is_empty() || prefix.len() > 5 || !prefix.bytes().all(|b| b.is_ascii_digit())
        }) {
            return Err(ConfigError::invalid(
                "helpdesk.requests.capital_region_postal_prefixes",
                format!("`{prefix}` is not the start of a Finnish postal code (1 to 5 digits)"),
            ));
        }
        if self.campus.is_empty() {
            return Err(ConfigError::invalid(
                "helpdesk.requests.campus",
                "must list at least one campus whose janitor keeps codes for pick-up",
            ));
        }
        for (index, campus) in self.campus.iter().enumerate() {
            if !id_ok(&campus.id) || self.campus[..index].iter().any(|c| c.id == campus.id) {
                return Err(ConfigError::invalid(
                    "helpdesk.requests.campus",
                    format!(
                        "each campus needs its own id of lowercase letters, digits and `-` (`{}`)",
                        campus.id
                    ),
                ));
            }
            for (what, texts) in [
                ("name", &campus.name),
                ("pick_up_point", &campus.pick_up_point),
                ("opening_hours", &campus.opening_hours),
            ] {
                check_localized(texts).map_err(|problem| {
                    ConfigError::invalid(
                        "helpdesk.requests.campus",
                        format!("campus `{}`: {what} {problem}", campus.id),
                    )
                })?;
            }
        }
        for (index, reason) in self.refusal.iter().enumerate() {
            if !id_ok(&reason.id) || self.refusal[..index].iter().any(|r| r.id == reason.id) {
                return Err(ConfigError::invalid(
                    "helpdesk.requests.refusal",
                    format!(
                        "each reason needs its own id of lowercase letters, digits and `-` (`{}`)",
                        reason.id
                    ),
                ));
            }
            check_localized(&reason.text).map_err(|problem| {
                ConfigError::invalid(
                    "helpdesk.requests.refusal",
                    format!("reason `{}`: text {problem}", reason.id),
                )
            })?;
        }
        Ok(())
    }
}

fn check_localized(texts: &Localized) -> Result<(), String> {
    if texts.values().all(|text| text.trim().is_empty()) {
        return Err("needs a text in at least one language (fi, sv, en)".to_owned());
    }
    if let Some(other) = texts.keys().find(|lang| Lang::from_code(lang).is_none()) {
        return Err(format!(
            "has a text in `{other}`; the languages are fi, sv and en"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> RequestSettings {
        toml::from_str(toml).unwrap()
    }

    const ON: &str = r#"
        enabled = true
        staff_groups = ["helpdesk"]
        [[campus]]
        id = "kumpula"
        name = { fi = "Kumpulan kampus", en = "Kumpula campus" }
        pick_up_point = { fi = "Physicum, aula" }
        opening_hours = { fi = "ma–pe 8–16" }
    "#;

    fn refused(toml: &str) -> (&'static str, String) {
        match settings(toml).validate() {
            Err(ConfigError::Invalid { key, problem }) => (key, problem),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_off_with_the_capital_region_and_built_in_reasons() {
        let defaults = RequestSettings::default();
        assert!(!defaults.enabled);
        defaults.validate().unwrap();
        assert!(defaults.in_capital_region("00100"));
        assert!(defaults.in_capital_region("02150"));
        assert!(!defaults.in_capital_region("33100"));
        assert!(!defaults.in_capital_region("04400"));
        let reasons = defaults.refusals();
        assert!(reasons.iter().any(|reason| reason.id == "no_match"));
        for reason in &reasons {
            for lang in Lang::ALL {
                assert!(!localized(&reason.text, lang).is_empty());
            }
        }
    }

    #[test]
    fn requests_that_are_on_need_staff_groups_and_a_campus_with_texts() {
        settings(ON).validate().unwrap();
        let campus = settings(ON);
        assert_eq!(
            localized(&campus.campus[0].name, Lang::Sv),
            "Kumpulan kampus"
        );
        assert_eq!(
            localized(&campus.campus[0].name, Lang::En),
            "Kumpula campus"
        );
        assert_eq!(
            refused(&ON.replace("staff_groups = [\"helpdesk\"]", "")).0,
            "helpdesk.requests.staff_groups"
        );
        assert_eq!(
            refused("enabled = true\nstaff_groups = [\"helpdesk\"]").0,
            "helpdesk.requests.campus"
        );
        let (key, problem) = refused(&ON.replace("id = \"kumpula\"", "id = \"Kumpula campus\""));
        assert_eq!(key, "helpdesk.requests.campus");
        assert!(problem.contains("Kumpula campus"), "{problem}");
        let (_, problem) = refused(&ON.replace("{ fi = \"ma–pe 8–16\" }", "{ de = \"Mo–Fr\" }"));
        assert!(problem.contains("opening_hours"), "{problem}");
        assert_eq!(
            refused(&ON.replace(
                "enabled = true",
                "enabled = true\ncapital_region_postal_prefixes = [\"00\", \"0x\"]"
            ))
            .0,
            "helpdesk.requests.capital_region_postal_prefixes"
        );
        assert_eq!(
            refused(&ON.replace("enabled = true", "enabled = true\nexpire_after = \"200d\"")).0,
            "helpdesk.requests.expire_after"
        );
        assert_eq!(
            refused(&ON.replace("enabled = true", "enabled = true\nmin_fill_time = \"2m\"")).0,
            "helpdesk.requests.min_fill_time"
        );
        for sweep in ["0s", "2d"] {
            let text = format!("sweep_interval = \"{sweep}\"");
            assert_eq!(
                refused(&ON.replace("enabled = true", &format!("enabled = true\n{text}"))).0,
                "helpdesk.requests.sweep_interval",
                "{sweep}"
            );
        }
        let reasons = format!(
            "{ON}\n[[refusal]]\nid = \"no_match\"\ntext = {{ fi = \"Ei löytynyt\" }}\n\
             [[refusal]]\nid = \"no_match\"\ntext = {{ fi = \"Toinen\" }}\n"
        );
        assert_eq!(refused(&reasons).0, "helpdesk.requests.refusal");
    }
}
