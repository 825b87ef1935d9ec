//! Webhooks signed as the Standard Webhooks specification describes: `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>` with
//! the endpoint's `whsec_` secret.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Attempt;
use super::settings::WebhookSettings;

/// The secret of a `whsec_` file: the bytes its base64 stands for.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let text = crate::config::read_secret_file(path)?;
    let text = secrecy::ExposeSecret::expose_secret(&text).trim();
    let encoded = text.strip_prefix("whsec_").ok_or_else(|| {
        format!(
            "{} does not hold a Standard Webhooks secret (whsec_ and base64)",
            path.display()
        )
    })?;
    let secret = STANDARD
        .decode(encoded)
        .map_err(|_| format!("{}: the part after whsec_ is not base64", path.display()))?;
    if secret.len() < 24 {
        return Err(format!(
            "{}: the secret is {} bytes; use at least 24 random bytes",
            path.display(),
            secret.len()
        ));
    }
    Ok(secret)
}

/// The `webhook-signature` of `body` sent as message `id` at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut context = aws_lc_rs::hmac::Context::with_key(&key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

/// One configured endpoint.
pub struct Webhook {
    pub name: String,
    events: Vec<String>,
    url: url::Url,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(settings: &WebhookSettings) -> Result<Self, String> {
        let secret = read_secret(&settings.secret_file)?;
        let client = reqwest::Client::builder()
            .timeout(settings.timeout.get())
            .connect_timeout(settings.timeout.get())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tunnus/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Self {
            name: settings.name.clone(),
            events: settings.events.clone(),
            url: settings.url.clone(),
            secret,
            client,
        })
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|event| event == event_type)
    }

    /// Posts `body` as message `id` signed for `timestamp`.
    pub async fn deliver(&self, id: &str, timestamp: i64, body: &[u8]) -> Attempt {
        let answer = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(&self.secret, id, timestamp, body),
            )
            .body(body.to_vec())
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status().is_success() => Attempt::Delivered,
            Ok(answer) if answer.status() == reqwest::StatusCode::GONE => Attempt::Gone,
            Ok(answer) => Attempt::Failed(format!("answered {}", answer.status())),
            // The error names the URL, never the body.
            Err(error) => Attempt::Failed(describe(&error)),
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example: secret, id, timestamp, body and the signature it gives.
    #[test]
    fn signs_as_the_specification_s_example() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_and_long_enough() {
        let dir = std::env::temp_dir().join(format!(
            "tunnus-webhook-secret-{}-{}",
            std::process::id(),
            crate::random::short_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            path
        };
        let good = STANDARD.encode([7u8; 32]);
        assert_eq!(
            read_secret(&write("good", &format!("whsec_{good}\n"))).unwrap(),
            [7u8; 32]
        );
        for (name, text, problem) in [
            ("bare", good.as_str(), "whsec_"),
            ("junk", "whsec_not*base64", "not base64"),
            ("short", "whsec_AAAA", "at least 24"),
        ] {
            let error = read_secret(&write(name, text)).unwrap_err();
            assert!(error.contains(problem), "{name}: {error}");
            assert!(!error.contains(&good), "{error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
