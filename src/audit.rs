//! Audit events: one JSON line for every identification, refusal, activation and reset.
//!
//! A person appears only as a keyed pseudonym of their identity code (HMAC-SHA-256 with a secret from
//! the configuration), so the audit trail can link events of one person without holding the code
//! itself. Events never carry passwords, tokens or codes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::{ConfigError, Mode};
use crate::identity::NationalId;

/// `[audit]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Where events go: `stdout` or `file`.
    pub sink: SinkKind,
    /// The file events are appended to, for `sink = "file"`.
    pub path: Option<PathBuf>,
    /// A file holding the secret (at least 32 bytes) that keys the pseudonyms. Without it (development
    /// only) a random secret is made at start, so pseudonyms do not link across restarts.
    pub pseudonym_key_file: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            sink: SinkKind::Stdout,
            path: None,
            pseudonym_key_file: None,
        }
    }
}

impl AuditSettings {
    /// `serve` needs a lasting pseudonym key: one made at each start would change every pseudonym
    /// at each restart and on each replica, breaking the audit trail and the per-person limit.
    pub fn validate(&self, mode: Mode) -> Result<(), ConfigError> {
        if mode == Mode::Serve && self.pseudonym_key_file.is_none() {
            return Err(ConfigError::invalid(
                "audit.pseudonym_key_file",
                "is required: a file of at least 32 random bytes, the same on every replica and \
                 kept across restarts, readable by the service alone (e.g. \
                 `(umask 077 && head -c 32 /dev/urandom > /etc/tunnus/audit-key)`)",
            ));
        }
        if self.sink == SinkKind::File && self.path.is_none() {
            return Err(ConfigError::invalid(
                "audit.path",
                "is required with sink = \"file\"",
            ));
        }
        Ok(())
    }

    /// Reads the key file and checks that the audit file can be appended to, without creating it.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.pseudonym_key_file {
            crate::config::read_key_file(path, 32)
                .map_err(|problem| ConfigError::invalid("audit.pseudonym_key_file", problem))?;
        }
        if let (SinkKind::File, Some(path)) = (self.sink, &self.path) {
            let problem = if path.exists() {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .err()
                    .map(|error| format!("{}: {error}", path.display()))
            } else {
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                (!parent.is_dir())
                    .then(|| format!("the folder {} does not exist", parent.display()))
            };
            if let Some(problem) = problem {
                return Err(ConfigError::invalid("audit.path", problem));
            }
        }
        Ok(())
    }
}

/// Where audit events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Stdout,
    File,
}

/// The audit trail could not be set up; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("`audit.path`: {0}")]
    Path(String),
    #[error("`audit.pseudonym_key_file`: {0}")]
    Key(String),
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Identification,
    Refusal,
    Activation,
    Reset,
    /// The person ended their session ("cancel and sign out").
    SignOut,
    /// A staff member issued an activation code.
    CodeIssued,
    /// The document carrying a code was printed.
    CodePrinted,
    /// A person redeemed a code.
    CodeRedeemed,
    /// A wrong code was typed.
    CodeFailed,
    /// A code was revoked (by staff, by a newer code, or after too many wrong tries).
    CodeRevoked,
    /// A right code was typed after its validity.
    CodeExpired,
    /// Someone signed in at `/helpdesk` through the campus SSO: a staff member (success), or a
    /// person outside `helpdesk.sso.staff_groups` (refused, with the reason).
    StaffSignIn,
    /// A staff member signed out of the helpdesk pages.
    StaffSignOut,
    /// A person sent a service request (a code by janitor or registered letter), or was refused
    /// sending one (a form filled faster than a person can, the bot field filled).
    RequestCreated,
    /// A staff member opened a service request with its candidate accounts.
    RequestViewed,
    /// A staff member issued a code from a service request, which is done.
    RequestIssued,
    /// A staff member refused a service request with a reason.
    RequestRefused,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Refused,
    Failed,
}

/// One audit event, before the time is added.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub account: Option<&'a str>,
    /// The person: [`Audit::pseudonym`] of their identity code, never the code itself.
    pub subject: Option<&'a str>,
    pub acr: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// How the person was identified, when it was not strong identification (`activation_code`).
    pub channel: Option<&'a str>,
    /// The activation code's id (never the code), its delivery way and the staff member who
    /// issued it.
    pub code: Option<&'a str>,
    pub delivery: Option<&'a str>,
    pub staff: Option<&'a str>,
    /// The identity document a staff member checked (type and issuing country).
    pub document: Option<&'a str>,
    pub country: Option<&'a str>,
    /// A service request's number.
    pub service_request: Option<&'a str>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    audit: bool,
    event: EventKind,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_request: Option<&'a str>,
}

type Sink = Box<dyn Write + Send>;

/// Writes audit events. Cheap to share.
pub struct Audit {
    key: hmac::Key,
    sink: Mutex<Sink>,
}

impl Audit {
    /// The audit trail the settings describe.
    pub fn from_settings(settings: &AuditSettings) -> Result<Audit, AuditError> {
        let key = match &settings.pseudonym_key_file {
            Some(path) => crate::config::read_key_file(path, 32).map_err(AuditError::Key)?,
            None => crate::random::bytes::<32>().to_vec(),
        };
        let sink: Sink = match settings.sink {
            SinkKind::Stdout => Box::new(std::io::stdout()),
            SinkKind::File => {
                let path = settings
                    .path
                    .as_ref()
                    .ok_or_else(|| AuditError::Path("is required with sink = \"file\"".into()))?;
                // Created readable by the service alone: events carry account names, client
                // addresses and pseudonyms.
                Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .mode(0o600)
                        .open(path)
                        .map_err(|e| AuditError::Path(format!("{}: {e}", path.display())))?,
                )
            }
        };
        Ok(Self::new(&key, sink))
    }

    /// An audit trail writing to `sink` with pseudonyms keyed by `key`.
    pub fn new(key: &[u8], sink: Box<dyn Write + Send>) -> Audit {
        Audit {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            sink: Mutex::new(sink),
        }
    }

    /// An audit trail kept in memory, for tests: returns the trail and the buffer it writes to.
    pub fn in_memory() -> (Audit, Arc<Mutex<Vec<u8>>>) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let audit = Audit::new(
            &crate::random::bytes::<32>(),
            Box::new(Shared(buffer.clone())),
        );
        (audit, buffer)
    }

    /// The keyed pseudonym of an identity code.
    pub fn pseudonym(&self, id: &NationalId) -> String {
        let tag = hmac::sign(&self.key, id.expose().as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    /// Writes one event. A failing sink is reported in the log, never to the person: the action
    /// itself has already happened.
    pub fn record(&self, kind: EventKind, outcome: Outcome, event: Event<'_>, now: OffsetDateTime) {
        let line = Line {
            time: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            audit: true,
            event: kind,
            outcome,
            account: event.account,
            subject: event.subject,
            acr: event.acr,
            reason: event.reason,
            client_ip: event.client_ip,
            request_id: event.request_id,
            channel: event.channel,
            code: event.code,
            delivery: event.delivery,
            staff: event.staff,
            document: event.document,
            country: event.country,
            service_request: event.service_request,
        };
        let Ok(mut json) = serde_json::to_vec(&line) else {
            return;
        };
        json.push(b'\n');
        let mut sink = self
            .sink
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = sink.write_all(&json).and_then(|()| sink.flush()) {
            tracing::error!(%error, "audit event could not be written");
        }
    }
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_a_pseudonym_and_never_the_identity_code() {
        let (audit, buffer) = Audit::in_memory();
        let id = NationalId::parse("010170-999R", true).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let subject = audit.pseudonym(&id);
        let event = Event {
            account: Some("tetyra"),
            subject: Some(&subject),
            acr: Some("http://ftn.ficora.fi/2017/loa2"),
            request_id: Some("r1"),
            ..Event::default()
        };
        audit.record(EventKind::Reset, Outcome::Success, event, now);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("010170"), "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["event"], "reset");
        assert_eq!(line["outcome"], "success");
        assert_eq!(line["account"], "tetyra");
        assert_eq!(line["subject"], audit.pseudonym(&id));
        assert_eq!(line["time"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn the_audit_file_is_created_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "tunnus-audit-file-{}-{}",
            std::process::id(),
            crate::random::short_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let settings = AuditSettings {
            sink: SinkKind::File,
            path: Some(path.clone()),
            pseudonym_key_file: None,
        };
        let audit = Audit::from_settings(&settings).unwrap();
        audit.record(
            EventKind::Identification,
            Outcome::Success,
            Event::default(),
            OffsetDateTime::UNIX_EPOCH,
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("identification")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pseudonyms_depend_on_the_key() {
        let id = NationalId::parse("010170-999R", true).unwrap();
        let sink = || -> Box<dyn Write + Send> { Box::new(std::io::sink()) };
        let a = Audit::new(&[1; 32], sink());
        let b = Audit::new(&[2; 32], sink());
        assert_eq!(
            a.pseudonym(&id),
            Audit::new(&[1; 32], sink()).pseudonym(&id)
        );
        assert_ne!(a.pseudonym(&id), b.pseudonym(&id));
    }
}
