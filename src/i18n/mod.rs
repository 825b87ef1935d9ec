//! Finnish, Swedish and English.
//!
//! Every text a page shows is a field of [`Texts`], so the templates are checked against it when the
//! crate compiles, and each language file must give every field (a test parses all three).

use serde::Deserialize;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Fi,
    Sv,
    En,
}

impl Lang {
    /// Every language, in the order the language menu shows them.
    pub const ALL: [Lang; 3] = [Lang::Fi, Lang::Sv, Lang::En];

    /// The ISO 639-1 code, as in `<html lang>`, `?lang=` and `ui_locales`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fi => "fi",
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    /// The language of a code such as `fi`, `sv-FI` or `EN`.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next().unwrap_or_default().trim();
        Lang::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.code()))
    }

    /// The best language of an `Accept-Language` header, honouring quality values.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for item in header.split(',').take(20) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_code) else {
                continue;
            };
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((lang, quality));
            }
        }
        best.map(|(lang, _)| lang)
    }
}

/// All texts of one language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub language_name: String,
    pub language_menu: String,
    pub skip_to_content: String,
    pub service_name: String,
    pub request_id: String,
    pub request_id_hint: String,
    pub start_again: String,
    pub help_link: String,

    pub landing_title: String,
    pub landing_intro: String,
    pub landing_who: String,
    pub landing_how: String,
    pub landing_start: String,
    pub landing_never_sent: String,
    pub landing_other_ways_title: String,

    pub cancelled_title: String,
    pub cancelled_text: String,

    pub error_bad_request_title: String,
    pub error_bad_request: String,
    pub error_expired_title: String,
    pub error_expired: String,
    pub error_other_browser_title: String,
    pub error_other_browser: String,
    pub error_forbidden_title: String,
    pub error_forbidden: String,
    pub error_session_title: String,
    pub error_session: String,
    pub error_identification_title: String,
    pub error_identification: String,
    pub error_broker_title: String,
    pub error_broker: String,
    pub error_unavailable_title: String,
    pub error_unavailable: String,
    pub error_not_found_title: String,
    pub error_not_found: String,
    pub error_internal_title: String,
    pub error_internal: String,
    pub error_rate_limited_title: String,
    pub error_rate_limited: String,
    pub hide_password: String,
    pub show_password: String,
    pub hr_link: String,
    pub service_points_link: String,
    pub service_request_link: String,
    pub more_help_title: String,
    pub never_sent_title: String,
    pub other_ways_students_title: String,
    pub other_ways_staff_title: String,

    pub activate_title: String,
    pub reset_title: String,
    pub account_greeting: String,
    pub account_username: String,
    pub form_problem_title: String,
    pub terms_title: String,
    pub terms_text: String,
    pub terms_link: String,
    pub terms_accept: String,
    pub terms_required: String,
    pub rules_title: String,
    pub rule_min_length: String,
    pub rule_not_personal: String,
    pub rule_not_common: String,
    pub rule_strength: String,
    pub rule_unicode: String,
    pub new_password: String,
    pub confirm_password: String,
    pub password_mismatch: String,
    pub activate_submit: String,
    pub reset_submit: String,
    pub violation_too_short: String,
    pub violation_too_long: String,
    pub violation_too_weak: String,
    pub violation_username: String,
    pub violation_name: String,
    pub violation_birth_date: String,
    pub violation_national_id: String,
    pub violation_common: String,
    pub violation_control: String,
    pub directory_too_short: String,
    pub directory_too_simple: String,
    pub directory_recent: String,
    pub directory_too_soon: String,
    pub directory_rules: String,
    pub directory_other: String,
    pub activated_title: String,
    pub activated_text: String,
    pub reset_done_title: String,
    pub reset_done_text: String,
    pub done_next: String,
    pub done_session_over: String,
    pub back_to_login: String,

    pub sign_out: String,
    pub sign_out_hint: String,
    pub signed_out_title: String,
    pub signed_out_text: String,
    pub set_elsewhere_title: String,
    pub set_elsewhere_text: String,

    pub code_link: String,
    pub code_link_text: String,
    pub code_title: String,
    pub code_intro: String,
    pub code_username: String,
    pub code_code: String,
    pub code_code_hint: String,
    pub code_submit: String,
    pub code_required: String,
    pub code_wrong: String,
    pub code_expired: String,
    pub code_problem_title: String,

    pub staff_search_label: String,
    pub staff_search_hint: String,
    pub staff_search_submit: String,
    pub staff_search_empty: String,
    pub staff_search_invalid_id: String,
    pub staff_problem_title: String,
    pub staff_results_title: String,
    pub staff_no_results: String,
    pub staff_category: String,
    pub staff_state: String,
    pub staff_open_code: String,
    pub staff_last_code: String,
    pub staff_state_active: String,
    pub staff_state_pending: String,
    pub staff_state_disabled: String,
    pub staff_state_locked: String,
    pub staff_no_open_code: String,
    pub staff_open_code_text: String,
    pub staff_last_code_text: String,
    pub staff_ending_redeemed: String,
    pub staff_ending_revoked_by_staff: String,
    pub staff_ending_replaced: String,
    pub staff_ending_too_many_wrong_tries: String,
    pub staff_ending_expired: String,
    pub staff_not_allowed_category: String,
    pub staff_not_allowed_privileged: String,
    pub staff_not_allowed_disabled: String,
    pub staff_not_allowed_check: String,
    pub staff_issue_title: String,
    pub staff_document: String,
    pub staff_document_passport: String,
    pub staff_document_identity_card: String,
    pub staff_document_driving_licence: String,
    pub staff_document_residence_permit: String,
    pub staff_country: String,
    pub staff_country_hint: String,
    pub staff_photo_compared: String,
    pub staff_delivery: String,
    pub staff_delivery_in_person: String,
    pub staff_delivery_janitor: String,
    pub staff_delivery_letter: String,
    pub staff_address_from_directory: String,
    // The e-mail notice after a change (notify::mail).
    pub notice_subject_activated: String,
    pub notice_subject_reset: String,
    pub notice_subject_code_issued: String,
    pub notice_greeting: String,
    pub notice_activated: String,
    pub notice_reset: String,
    pub notice_code_issued: String,
    pub notice_how_strong: String,
    pub notice_how_code: String,
    pub notice_how_helpdesk: String,
    pub notice_not_you: String,
    pub notice_footer: String,
    pub request_link_title: String,
    pub request_link_text: String,
    pub request_link: String,
    pub request_title: String,
    pub request_intro: String,
    pub request_email_only_status: String,
    pub request_you: String,
    pub request_username: String,
    pub request_given_name: String,
    pub request_family_name: String,
    pub request_birth_date: String,
    pub request_birth_date_hint: String,
    pub request_email: String,
    pub request_delivery: String,
    pub request_delivery_janitor: String,
    pub request_delivery_letter: String,
    pub request_campus: String,
    pub request_campus_choose: String,
    pub request_campus_hours: String,
    pub request_letter_note: String,
    pub request_street: String,
    pub request_postal_code: String,
    pub request_town: String,
    pub request_country: String,
    pub request_country_hint: String,
    pub request_bot_field: String,
    pub request_send: String,
    pub request_problem_required: String,
    pub request_problem_invalid: String,
    pub request_problem_birth_date: String,
    pub request_problem_email: String,
    pub request_problem_postal_code: String,
    pub request_problem_capital_region: String,
    pub request_problem_abroad: String,
    pub request_problem_delivery: String,
    pub request_problem_campus: String,
    pub request_check_again: String,
    pub request_sent_title: String,
    pub request_sent_number: String,
    pub request_sent_next: String,
    pub request_sent_janitor: String,
    pub request_sent_letter: String,
    pub request_sent_then: String,
    pub request_sent_keep: String,
    pub staff_requests_link: String,
    pub staff_requests_title: String,
    pub staff_requests_intro: String,
    pub staff_requests_none: String,
    pub staff_requests_number: String,
    pub staff_requests_sent: String,
    pub staff_requests_name: String,
    pub staff_requests_delivery: String,
    pub staff_request_title: String,
    pub staff_request_typed: String,
    pub staff_request_not_given: String,
    pub staff_request_language: String,
    pub staff_request_candidates: String,
    pub staff_request_no_candidates: String,
    pub staff_request_by_username: String,
    pub staff_request_names_match: String,
    pub staff_request_names_differ: String,
    pub staff_request_birth_matches: String,
    pub staff_request_birth_differs: String,
    pub staff_request_birth_unknown: String,
    pub staff_request_issue: String,
    pub staff_request_refuse_title: String,
    pub staff_request_reason: String,
    pub staff_request_choose_reason: String,
    pub staff_request_refuse: String,
    pub staff_request_closed_issued: String,
    pub staff_request_closed_refused: String,
    pub staff_request_busy: String,
    pub staff_request_not_candidate: String,
    pub staff_request_refused_done: String,
    pub staff_request_gone: String,
    pub staff_request_back: String,
    pub staff_not_allowed_requests: String,
    pub staff_not_allowed_privileged_from_afar: String,
    pub staff_expired_reason: String,
    pub notice_subject_request: String,
    pub notice_request_janitor: String,
    pub notice_request_letter: String,
    pub notice_request_refused: String,
    pub notice_request_expired: String,
    pub notice_request_how: String,
    pub notice_request_other_ways: String,
    pub notice_request_not_you: String,
    pub staff_person_language: String,
    pub staff_campus: String,
    pub staff_pick_up: String,
    pub staff_address: String,
    pub staff_address_hint: String,
    pub staff_issue_submit: String,
    pub staff_revoke_submit: String,
    pub staff_revoked: String,
    pub staff_nothing_to_revoke: String,
    pub staff_janitor_needs: String,
    pub staff_letter_needs: String,
    pub staff_issued_title: String,
    pub staff_valid_until: String,
    pub staff_code_once: String,
    pub staff_print_submit: String,
    pub staff_new_search: String,
    pub staff_print_problem: String,
    pub staff_code_not_open: String,
    pub other_ways_title: String,
    pub other_ways_staff: String,
    pub other_way_service_point: String,
    pub other_way_janitor: String,
    pub other_way_letter: String,
    pub bring_id: String,
    pub no_account_title: String,
    pub no_account_text: String,
    pub ambiguous_title: String,
    pub ambiguous_text: String,
    pub ineligible_category_title: String,
    pub ineligible_category_text: String,
    pub ineligible_disabled_title: String,
    pub ineligible_disabled_text: String,
    pub ineligible_locked_title: String,
    pub ineligible_locked_text: String,
    pub ineligible_privileged_title: String,
    pub ineligible_privileged_text: String,
    pub account_gone_title: String,
    pub account_gone_text: String,

    pub staff_sign_in_title: String,
    pub staff_sign_in_intro: String,
    pub staff_sign_in_button: String,
    pub staff_home_title: String,
    pub staff_greeting: String,
    pub staff_signed_in_text: String,
    pub staff_sign_out: String,
    pub staff_signed_out_title: String,
    pub staff_signed_out_text: String,
    pub staff_refused_title: String,
    pub staff_refused_text: String,
    pub staff_cancelled_title: String,
    pub staff_cancelled_text: String,
    pub error_staff_sign_in_expired_title: String,
    pub error_staff_sign_in_expired: String,
    pub error_staff_sign_in_failed_title: String,
    pub error_staff_sign_in_failed: String,
    pub error_staff_session_title: String,
    pub error_staff_session: String,
}

/// The texts of every language, read once when the service starts.
#[derive(Debug, Clone)]
pub struct Catalog {
    fi: Texts,
    sv: Texts,
    en: Texts,
}

/// A language's texts are incomplete, or the configuration overrides a text that does not exist.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A built-in language file lacks a text: a defect of this build.
    #[error("built-in texts for `{lang}` are incomplete: {error}")]
    BuiltIn {
        lang: &'static str,
        error: toml::de::Error,
    },
    /// `ui.texts.<lang>` names a text that does not exist, or a language that does not.
    #[error("`ui.texts.{lang}`: {problem}")]
    Override { lang: String, problem: String },
}

/// Texts the configuration replaces: language code → text name → text.
pub type TextOverrides =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

impl Catalog {
    /// Parses the built-in language files.
    pub fn load() -> Result<Catalog, CatalogError> {
        Self::with_overrides(&TextOverrides::new())
    }

    /// The built-in texts with some replaced by the configuration (`[ui.texts.fi]` and so on), so a
    /// university can word every page its own way.
    pub fn with_overrides(overrides: &TextOverrides) -> Result<Catalog, CatalogError> {
        if let Some(unknown) = overrides
            .keys()
            .find(|code| Lang::from_code(code).is_none())
        {
            return Err(CatalogError::Override {
                lang: unknown.clone(),
                problem: "is not one of fi, sv, en".to_owned(),
            });
        }
        let parse = |lang: Lang, text: &str| -> Result<Texts, CatalogError> {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|error| CatalogError::BuiltIn {
                    lang: lang.code(),
                    error,
                })?;
            for (name, value) in overrides.get(lang.code()).into_iter().flatten() {
                if !table.contains_key(name) {
                    return Err(CatalogError::Override {
                        lang: lang.code().to_owned(),
                        problem: format!("there is no text `{name}`"),
                    });
                }
                table.insert(name.clone(), toml::Value::String(value.clone()));
            }
            toml::Value::Table(table)
                .try_into::<Texts>()
                .map_err(|error| CatalogError::BuiltIn {
                    lang: lang.code(),
                    error,
                })
        };
        Ok(Catalog {
            fi: parse(Lang::Fi, include_str!("fi.toml"))?,
            sv: parse(Lang::Sv, include_str!("sv.toml"))?,
            en: parse(Lang::En, include_str!("en.toml"))?,
        })
    }

    /// The texts of `lang`.
    pub fn texts(&self, lang: Lang) -> &Texts {
        match lang {
            Lang::Fi => &self.fi,
            Lang::Sv => &self.sv,
            Lang::En => &self.en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_text() {
        let catalog = Catalog::load().unwrap();
        for lang in Lang::ALL {
            let texts = catalog.texts(lang);
            assert!(!texts.landing_title.is_empty());
        }
    }

    #[test]
    fn no_text_is_empty_or_left_in_another_language() {
        let catalog = Catalog::load().unwrap();
        for lang in Lang::ALL {
            let value = toml::Value::try_from(
                toml::from_str::<toml::Table>(match lang {
                    Lang::Fi => include_str!("fi.toml"),
                    Lang::Sv => include_str!("sv.toml"),
                    Lang::En => include_str!("en.toml"),
                })
                .unwrap(),
            )
            .unwrap();
            for (key, text) in value.as_table().unwrap() {
                let text = text.as_str().unwrap();
                assert!(!text.trim().is_empty(), "{} {key} is empty", lang.code());
            }
        }
        assert_ne!(
            catalog.texts(Lang::Fi).landing_start,
            catalog.texts(Lang::En).landing_start
        );
        assert_ne!(
            catalog.texts(Lang::Sv).landing_start,
            catalog.texts(Lang::En).landing_start
        );
    }

    #[test]
    fn the_configuration_can_reword_a_text_but_not_invent_one() {
        let mut overrides = TextOverrides::new();
        overrides
            .entry("sv".into())
            .or_default()
            .insert("landing_title".into(), "Glömt lösenordet?".into());
        let catalog = Catalog::with_overrides(&overrides).unwrap();
        assert_eq!(catalog.texts(Lang::Sv).landing_title, "Glömt lösenordet?");
        assert_ne!(catalog.texts(Lang::Fi).landing_title, "Glömt lösenordet?");

        overrides
            .entry("sv".into())
            .or_default()
            .insert("no_such_text".into(), "x".into());
        let error = Catalog::with_overrides(&overrides).unwrap_err().to_string();
        assert!(
            error.contains("ui.texts.sv") && error.contains("no_such_text"),
            "{error}"
        );

        let mut wrong_lang = TextOverrides::new();
        wrong_lang.entry("de".into()).or_default();
        assert!(Catalog::with_overrides(&wrong_lang).is_err());
    }

    #[test]
    fn accept_language_picks_the_preferred_known_language() {
        assert_eq!(
            Lang::from_accept_language("sv-FI,sv;q=0.9,en;q=0.8"),
            Some(Lang::Sv)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE, en;q=0.5, fi;q=0.7"),
            Some(Lang::Fi)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(
            Lang::from_accept_language("en;q=0, sv;q=0.1"),
            Some(Lang::Sv)
        );
        assert_eq!(Lang::from_code("EN-gb"), Some(Lang::En));
        assert_eq!(Lang::from_code(""), None);
    }
}
