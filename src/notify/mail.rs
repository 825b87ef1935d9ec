//! The e-mail notice: one message per change to each of the account's addresses, in the person's
//! language, with a plain-text and an HTML part; never a password, a code or an identity code.

use askama::Template;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::settings::{MailSettings, MailTls};
use super::{Attempt, Change, ChangeKind};
use crate::i18n::{Catalog, Lang, Texts};

/// `Auto-Submitted: auto-generated` (RFC 3834): no out-of-office answers.
#[derive(Clone)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// What the messages say besides the change: the organisation and its helpdesk.
pub struct Branding {
    /// The organisation's name per language.
    pub organisation: Box<dyn Fn(Lang) -> String + Send + Sync>,
    pub helpdesk_url: Option<String>,
    /// `[ui.colours] primary`, for the HTML part's heading.
    pub colour: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    pub address_attributes: Vec<String>,
    branding: Branding,
}

#[derive(Template)]
#[template(path = "notify/mail.txt", escape = "none")]
struct PlainPart<'a> {
    m: &'a Rendered,
}

#[derive(Template)]
#[template(path = "notify/mail.html")]
struct HtmlPart<'a> {
    m: &'a Rendered,
    colour: &'a str,
    lang: &'a str,
}

/// The texts of one message.
pub struct Rendered {
    pub subject: String,
    pub greeting: String,
    pub what: String,
    pub how: String,
    pub not_you: String,
    pub helpdesk_url: Option<String>,
    pub footer: String,
    pub organisation: String,
}

impl Mailer {
    pub fn new(settings: &MailSettings, branding: Branding) -> Result<Self, String> {
        let tls = || -> Result<TlsParameters, String> {
            let mut builder = TlsParameters::builder(settings.relay.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let ca = Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
                builder = builder
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(ca);
            }
            builder.build_rustls().map_err(|e| e.to_string())
        };
        let tls = match settings.tls {
            MailTls::Starttls => Tls::Required(tls()?),
            MailTls::Implicit => Tls::Wrapper(tls()?),
            MailTls::None => Tls::None,
        };
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.relay.clone())
                .port(settings.port)
                .tls(tls)
                .timeout(Some(settings.timeout.get()));
        if let (Some(user), Some(path)) = (&settings.username, &settings.password_file) {
            let password = crate::config::read_secret_file(path)?;
            transport = transport.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: transport.build(),
            from: settings.from.parse().map_err(|e| format!("from: {e}"))?,
            reply_to: match &settings.reply_to {
                Some(reply_to) => Some(reply_to.parse().map_err(|e| format!("reply_to: {e}"))?),
                None => None,
            },
            address_attributes: settings.address_attributes.clone(),
            branding,
        })
    }

    /// The texts of the notice of `change` in its language.
    pub fn render(&self, catalog: &Catalog, change: &Change) -> Rendered {
        render(
            catalog.texts(change.lang),
            change,
            (self.branding.organisation)(change.lang),
            self.branding.helpdesk_url.clone(),
        )
    }

    /// Sends the notice of `change` (message `id`) to `to`.
    pub async fn deliver(&self, catalog: &Catalog, id: &str, change: &Change, to: &str) -> Attempt {
        let to: Mailbox = match to.parse() {
            Ok(to) => to,
            // An address the directory holds but no server can take: retrying will not help.
            Err(_) => {
                return Attempt::Undeliverable(
                    "the directory's address is not an address".to_owned(),
                );
            }
        };
        let rendered = self.render(catalog, change);
        let plain = PlainPart { m: &rendered }.render();
        let html = HtmlPart {
            m: &rendered,
            colour: &self.branding.colour,
            lang: change.lang.code(),
        }
        .render();
        let (Ok(plain), Ok(html)) = (plain, html) else {
            return Attempt::Failed("the message could not be rendered".to_owned());
        };
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(format!("<{id}@tunnus.invalid>")))
            .header(AutoSubmitted);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(plain),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        );
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                return Attempt::Failed(format!("the message could not be built: {error}"));
            }
        };
        match self.transport.send(message).await {
            Ok(_) => Attempt::Delivered,
            // The service's own sign-in refused (530, 534, 535, 538): the settings are wrong, not
            // the message; it waits until they are fixed.
            Err(error)
                if error
                    .status()
                    .is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535 | 538)) =>
            {
                Attempt::Failed(format!(
                    "the relay refused the service's sign-in ({error}): check \
                     notify.mail.username and notify.mail.password_file"
                ))
            }
            Err(error) if error.is_permanent() => {
                Attempt::Undeliverable(format!("the relay refused the message: {error}"))
            }
            Err(error) => Attempt::Failed(format!("the relay: {error}")),
        }
    }
}

/// The Finnish date and time of `unix`, as `6.12.2026 10.15`.
fn finnish(unix: i64) -> (String, String) {
    let utc =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let local = crate::clock::finnish_time(utc);
    (
        format!(
            "{}.{}.{}",
            local.day(),
            u8::from(local.month()),
            local.year()
        ),
        format!("{}.{:02}", local.hour(), local.minute()),
    )
}

pub fn render(
    t: &Texts,
    change: &Change,
    organisation: String,
    helpdesk_url: Option<String>,
) -> Rendered {
    let (date, time) = finnish(change.at);
    let fill = |text: &str| {
        let delivery = match change.delivery.as_deref() {
            Some("in_person") => t.staff_delivery_in_person.as_str(),
            Some("janitor") => t.staff_delivery_janitor.as_str(),
            Some("letter") => t.staff_delivery_letter.as_str(),
            _ => "",
        };
        let (until_date, _) = finnish(change.valid_until.unwrap_or(change.at));
        let request = change.service_request.clone().unwrap_or_default();
        text.replace("{username}", &change.shown_username)
            .replace("{number}", &request.number)
            .replace(
                "{campus}",
                request.campus_name.as_deref().unwrap_or_default(),
            )
            .replace(
                "{pick_up_point}",
                request.pick_up_point.as_deref().unwrap_or_default(),
            )
            .replace(
                "{opening_hours}",
                request.opening_hours.as_deref().unwrap_or_default(),
            )
            .replace(
                "{reason}",
                request.reason_text.as_deref().unwrap_or_default(),
            )
            .replace("{organisation}", &organisation)
            .replace("{date}", &date)
            .replace("{time}", &time)
            .replace("{delivery}", delivery)
            .replace("{valid_until}", &until_date)
            .replace("{name}", &change.given_name)
    };
    let (subject, what) = match change.kind {
        ChangeKind::Activated => (&t.notice_subject_activated, &t.notice_activated),
        ChangeKind::PasswordReset => (&t.notice_subject_reset, &t.notice_reset),
        ChangeKind::CodeIssued | ChangeKind::CodeRedeemed => {
            (&t.notice_subject_code_issued, &t.notice_code_issued)
        }
        ChangeKind::RequestIssued if change.delivery.as_deref() == Some("janitor") => {
            (&t.notice_subject_request, &t.notice_request_janitor)
        }
        ChangeKind::RequestIssued => (&t.notice_subject_request, &t.notice_request_letter),
        ChangeKind::RequestRefused
            if change
                .service_request
                .as_ref()
                .is_some_and(|request| request.reason.as_deref() == Some("expired")) =>
        {
            (&t.notice_subject_request, &t.notice_request_expired)
        }
        ChangeKind::RequestCreated | ChangeKind::RequestRefused => {
            (&t.notice_subject_request, &t.notice_request_refused)
        }
    };
    let how = match (change.kind, change.channel.as_str()) {
        (ChangeKind::CodeIssued | ChangeKind::CodeRedeemed, _) => &t.notice_how_helpdesk,
        (ChangeKind::RequestIssued, _) => &t.notice_request_how,
        (ChangeKind::RequestCreated | ChangeKind::RequestRefused, _) => {
            &t.notice_request_other_ways
        }
        (_, "activation_code") => &t.notice_how_code,
        _ => &t.notice_how_strong,
    };
    let not_you = match change.kind {
        ChangeKind::RequestCreated | ChangeKind::RequestIssued | ChangeKind::RequestRefused => {
            &t.notice_request_not_you
        }
        _ => &t.notice_not_you,
    };
    Rendered {
        subject: fill(subject),
        greeting: fill(&t.notice_greeting),
        what: fill(what),
        how: fill(how),
        not_you: fill(not_you),
        helpdesk_url,
        footer: fill(&t.notice_footer),
        organisation,
    }
}
