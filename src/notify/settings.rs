//! `[notify]`: the e-mail notice and the webhooks sent after every change.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::{ConfigError, HumanDuration, Mode};

/// `[notify]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// `[notify.mail]`: an e-mail to the account's addresses after each change.
    pub mail: Option<MailSettings>,
    /// `[[notify.webhook]]`: a signed JSON event to each endpoint.
    pub webhook: Vec<WebhookSettings>,
    /// The wait before the first retry of a notice that could not be delivered; each further
    /// retry waits twice as long, at most an hour.
    pub first_retry: HumanDuration,
    /// How long a notice is retried before it goes to the dead letters (`tunnus notices replay`
    /// sends them again).
    pub retry_for: HumanDuration,
    /// How often each replica looks for notices due.
    pub poll_interval: HumanDuration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            mail: None,
            webhook: Vec::new(),
            first_retry: HumanDuration(Duration::from_secs(30)),
            retry_for: HumanDuration(Duration::from_secs(24 * 3600)),
            poll_interval: HumanDuration(Duration::from_secs(2)),
        }
    }
}

/// How the connection to the mail relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587 or 25).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS: only to a relay on this machine, and only with `allow_plaintext`.
    None,
}

/// `[notify.mail]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The relay's host name (also the name its certificate must carry).
    pub relay: String,
    #[serde(default = "default_mail_port")]
    pub port: u16,
    #[serde(default = "default_mail_tls")]
    pub tls: MailTls,
    /// `tls = "none"` to a relay on the loopback interface; refused anywhere else.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// PEM file of the CA that signs the relay's certificate; without it, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// User name for SMTP AUTH, with `password_file`.
    pub username: Option<String>,
    /// The SMTP password, in a file only the service may read.
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `"Tunnus <tunnus@example.fi>"`.
    pub from: String,
    /// Where replies go (the helpdesk's address); without it, none is set.
    pub reply_to: Option<String>,
    /// The directory attributes holding the account's addresses; every address found gets the
    /// notice (e.g. the campus address and a private one).
    #[serde(default = "default_address_attributes")]
    pub address_attributes: Vec<String>,
    /// The time limit of one delivery.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_mail_port() -> u16 {
    587
}

fn default_mail_tls() -> MailTls {
    MailTls::Starttls
}

fn default_address_attributes() -> Vec<String> {
    vec!["mail".to_owned()]
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// The longest a delivery may take: well within the two minutes a replica holds a notice, so that
/// no other replica takes it over while it is being delivered.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The events a webhook is sent unless its `events` say otherwise.
pub const EVENT_TYPES: [&str; 4] = [
    "account.activated",
    "account.password_reset",
    "helpdesk.code_issued",
    "helpdesk.code_redeemed",
];

/// The service-request events: sent only to a webhook whose `events` name them (a campus ticket
/// system).
pub const REQUEST_EVENT_TYPES: [&str; 3] = [
    "helpdesk.request_created",
    "helpdesk.request_issued",
    "helpdesk.request_refused",
];

/// `[[notify.webhook]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A short name for logs, metrics and readiness (`iam`).
    pub name: String,
    pub url: Url,
    /// The endpoint's signing secret (`whsec_` and base64), in a file only the service may read.
    pub secret_file: PathBuf,
    /// Which events the endpoint gets; default all of them.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// Allow an `http://` URL (a receiver on a protected network); otherwise https is required.
    #[serde(default)]
    pub allow_http: bool,
    /// The time limit of one delivery.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn all_events() -> Vec<String> {
    EVENT_TYPES
        .iter()
        .map(|event| (*event).to_owned())
        .collect()
}

impl NotifySettings {
    pub fn validate(&self, _mode: Mode) -> Result<(), ConfigError> {
        let zero = |key: &'static str, value: HumanDuration| {
            if value.get().is_zero() {
                Err(ConfigError::invalid(key, "must be more than 0"))
            } else {
                Ok(())
            }
        };
        zero("notify.first_retry", self.first_retry)?;
        zero("notify.retry_for", self.retry_for)?;
        zero("notify.poll_interval", self.poll_interval)?;
        if let Some(mail) = &self.mail {
            mail.validate()?;
        }
        let mut names = std::collections::HashSet::new();
        for hook in &self.webhook {
            hook.validate()?;
            if !names.insert(hook.name.as_str()) {
                return Err(ConfigError::invalid(
                    "notify.webhook.name",
                    format!("`{}` names two webhooks: names must be unique", hook.name),
                ));
            }
        }
        Ok(())
    }

    /// The files the settings name, read as the service reads them.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(mail) = &self.mail {
            mail.check()?;
        }
        for hook in &self.webhook {
            super::webhook::read_secret(&hook.secret_file)
                .map_err(|problem| ConfigError::invalid("notify.webhook.secret_file", problem))?;
        }
        Ok(())
    }
}

impl MailSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.relay.trim().is_empty() {
            return Err(ConfigError::invalid(
                "notify.mail.relay",
                "is required: the mail relay's host name",
            ));
        }
        if self.tls == MailTls::None && !(self.allow_plaintext && is_loopback(&self.relay)) {
            return Err(ConfigError::invalid(
                "notify.mail.tls",
                "\"none\" sends mail unencrypted: only to a relay on this machine (127.0.0.1, \
                 ::1 or localhost) and with notify.mail.allow_plaintext = true; use \"starttls\" \
                 or \"implicit\"",
            ));
        }
        if self.username.is_some() != self.password_file.is_some() {
            return Err(ConfigError::invalid(
                "notify.mail.password_file",
                "notify.mail.username and password_file go together",
            ));
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|error| {
                ConfigError::invalid(
                    "notify.mail.from",
                    format!("is not an address such as \"Tunnus <tunnus@example.fi>\": {error}"),
                )
            })?;
        if let Some(reply_to) = &self.reply_to {
            reply_to
                .parse::<lettre::message::Mailbox>()
                .map_err(|error| {
                    ConfigError::invalid(
                        "notify.mail.reply_to",
                        format!("is not an address: {error}"),
                    )
                })?;
        }
        if self.address_attributes.is_empty()
            || self.address_attributes.iter().any(|name| {
                name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(ConfigError::invalid(
                "notify.mail.address_attributes",
                "must name at least one attribute, e.g. [\"mail\"]",
            ));
        }
        if self.timeout.get().is_zero() || self.timeout.get() > MAX_TIMEOUT {
            return Err(ConfigError::invalid(
                "notify.mail.timeout",
                "must be between 1s and 60s (a replica holds a notice for two minutes)",
            ));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.password_file {
            crate::config::read_secret_file(path)
                .map_err(|problem| ConfigError::invalid("notify.mail.password_file", problem))?;
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|error| {
                ConfigError::invalid(
                    "notify.mail.ca_file",
                    format!("{}: {error}", path.display()),
                )
            })?;
            lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|error| {
                ConfigError::invalid(
                    "notify.mail.ca_file",
                    format!("{}: {error}", path.display()),
                )
            })?;
        }
        Ok(())
    }
}

impl WebhookSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::invalid(
                "notify.webhook.name",
                "must be letters, digits, - and _ only",
            ));
        }
        match self.url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(ConfigError::invalid(
                    "notify.webhook.url",
                    format!(
                        "{}: events go over https only; set allow_http = true for a receiver on \
                         a protected network",
                        self.name
                    ),
                ));
            }
            other => {
                return Err(ConfigError::invalid(
                    "notify.webhook.url",
                    format!("{}: `{other}` is not http(s)", self.name),
                ));
            }
        }
        if let Some(unknown) = self.events.iter().find(|event| {
            !EVENT_TYPES.contains(&event.as_str()) && !REQUEST_EVENT_TYPES.contains(&event.as_str())
        }) {
            return Err(ConfigError::invalid(
                "notify.webhook.events",
                format!(
                    "`{unknown}` is not an event; the events are {}, {}",
                    EVENT_TYPES.join(", "),
                    REQUEST_EVENT_TYPES.join(", ")
                ),
            ));
        }
        if self.timeout.get().is_zero() || self.timeout.get() > MAX_TIMEOUT {
            return Err(ConfigError::invalid(
                "notify.webhook.timeout",
                "must be between 1s and 60s (a replica holds a notice for two minutes)",
            ));
        }
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Result<NotifySettings, String> {
        let settings: NotifySettings = toml::from_str(toml).map_err(|e| e.to_string())?;
        settings
            .validate(Mode::Serve)
            .map(|()| settings)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn plain_smtp_is_refused_unless_loopback_and_allowed() {
        let mail = |relay: &str, extra: &str| {
            format!(
                "[mail]\nrelay = \"{relay}\"\nfrom = \"Tunnus <tunnus@example.fi>\"\ntls = \"none\"\n{extra}"
            )
        };
        for (relay, extra) in [
            ("smtp.example.fi", "allow_plaintext = true"),
            ("127.0.0.1", ""),
            ("10.0.0.1", "allow_plaintext = true"),
        ] {
            let problem = settings(&mail(relay, extra)).unwrap_err();
            assert!(problem.contains("notify.mail.tls"), "{relay}: {problem}");
        }
        for relay in ["127.0.0.1", "localhost", "::1"] {
            settings(&mail(relay, "allow_plaintext = true")).unwrap();
        }
    }

    #[test]
    fn webhooks_need_https_known_events_and_unique_names() {
        let hook = |name: &str, url: &str, extra: &str| {
            format!(
                "[[webhook]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret_file = \"/x\"\n{extra}\n"
            )
        };
        let problem = settings(&hook("iam", "http://iam.example.fi/h", "")).unwrap_err();
        assert!(problem.contains("notify.webhook.url"), "{problem}");
        settings(&hook("iam", "http://iam.example.fi/h", "allow_http = true")).unwrap();
        let problem = settings(&hook(
            "iam",
            "https://iam.example.fi/h",
            "events = [\"account.deleted\"]",
        ))
        .unwrap_err();
        assert!(problem.contains("notify.webhook.events"), "{problem}");
        let two =
            hook("iam", "https://a.example.fi/", "") + &hook("iam", "https://b.example.fi/", "");
        let problem = settings(&two).unwrap_err();
        assert!(problem.contains("unique"), "{problem}");
        let all = settings(&hook("iam", "https://iam.example.fi/h", "")).unwrap();
        assert_eq!(all.webhook[0].events.len(), EVENT_TYPES.len());
    }

    #[test]
    fn a_delivery_may_take_at_most_a_minute() {
        let problem = settings(
            "[mail]\nrelay = \"smtp.example.fi\"\nfrom = \"t@example.fi\"\ntimeout = \"5m\"\n",
        )
        .unwrap_err();
        assert!(problem.contains("notify.mail.timeout"), "{problem}");
        let problem = settings(
            "[[webhook]]\nname = \"iam\"\nurl = \"https://iam.example.fi/\"\nsecret_file = \"/x\"\ntimeout = \"2m\"\n",
        )
        .unwrap_err();
        assert!(problem.contains("notify.webhook.timeout"), "{problem}");
    }

    #[test]
    fn the_sender_must_be_an_address() {
        let problem = settings("[mail]\nrelay = \"smtp.example.fi\"\nfrom = \"not an address\"\n")
            .unwrap_err();
        assert!(problem.contains("notify.mail.from"), "{problem}");
    }
}
