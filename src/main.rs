//! The `tunnus` command: dev mode (the default), the service, the mock broker, keys, config checks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tunnus::app::{App, Dependencies};
use tunnus::clock::SystemClock;
use tunnus::config::{Mode, Settings};
use tunnus::directory::ldap::probe::{Needs, Outcome};
use tunnus::directory::{DirectoryKind, LdapDirectory};
use tunnus::keys::{ServiceKeys, SigningAlg};
use tunnus::mock_idp::{self, MockIdp};
use tunnus::oidc::jwe::KeyManagementAlg;

/// mimalloc instead of the system allocator: see the `mimalloc` entry in `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Account activation and password reset with Finnish strong electronic identification.
#[derive(Parser)]
#[command(name = "tunnus", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service with the bundled mock broker, fresh keys and test persons (the default).
    Dev {
        /// Settings file [default: config/dev.toml when it exists, else the built-in dev settings].
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the service against a real broker.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the mock broker alone, for testing a relying party.
    MockIdp {
        #[arg(long)]
        config: PathBuf,
    },
    /// Create or show the service's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The outbox of notices after changes: show it, or send the dead letters again.
    Notices {
        #[command(subcommand)]
        command: NoticesCommand,
    },
    /// Check a settings file and exit, without serving. With an LDAP directory, also bind as the
    /// service account and report the rights it lacks (reading only, never writing).
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
        /// Check as development settings (`tunnus dev`) instead of production ones.
        #[arg(long)]
        dev: bool,
        /// Check the settings and the files only: do not contact the directory.
        #[arg(long)]
        offline: bool,
    },
    /// Ask a running service's health endpoint and exit 0 when it answers 2xx: a container's
    /// health check, in an image without a shell or curl.
    Probe {
        /// The endpoint, e.g. http://127.0.0.1:8080/healthz or …/readyz.
        #[arg(default_value = "http://127.0.0.1:8080/healthz")]
        url: url::Url,
    },
}

#[derive(Subcommand)]
enum NoticesCommand {
    /// How many notices wait, how old the oldest is, how many are dead, which endpoints are off.
    Status {
        #[arg(long)]
        config: PathBuf,
    },
    /// Send every dead notice again from the start, and turn on again the webhook endpoints that
    /// answered 410 Gone. The running replicas deliver them.
    Replay {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum RotateStep {
    /// Write next-signing.pem and next-encryption.pem: published at once, used after `activate`.
    Prepare {
        #[arg(long)]
        keys: PathBuf,
        #[arg(long, default_value = "RS256")]
        signing_alg: String,
    },
    /// Put the prepared keys into use; the current ones are retired (still published for
    /// `keys.retired_published_for`; the encryption key keeps decrypting).
    Activate {
        #[arg(long)]
        keys: PathBuf,
        #[arg(long, default_value = "RS256")]
        signing_alg: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write new signing.pem, encryption.pem and entity.pem into DIR (never overwrites).
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// Algorithm of the signing key: RS256, PS256 or ES256.
        #[arg(long, default_value = "RS256")]
        signing_alg: String,
    },
    /// Rotate the keys in DIR: `prepare` publishes the next keys, `activate` (a day later: brokers
    /// cache the JWKS) puts them into use; restart every replica after each step.
    Rotate {
        #[command(subcommand)]
        step: RotateStep,
    },
    /// Print the public JWKS of the keys in DIR, for static registration at a broker.
    Jwks {
        #[arg(long)]
        keys: PathBuf,
        #[arg(long, default_value = "RS256")]
        signing_alg: String,
        /// The ID-token key management algorithm registered at the broker.
        #[arg(long, default_value = "RSA-OAEP")]
        enc_alg: String,
    },
}

/// Prints a line to stdout for a running service. A closed stdout (a pipe whose reader went away) is
/// ignored: it must not stop the service.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Prints the result of a one-shot command. Unlike [`say!`], a failed write is an error, so that
/// `tunnus keys jwks > file` on a full disk does not exit 0 with half a file.
macro_rules! output {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).context("cannot write to standard output")
    }};
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tunnus: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command.unwrap_or(Command::Dev { config: None }) {
        Command::Dev { config } => {
            let default = Path::new("config/dev.toml");
            let file = config.or_else(|| default.is_file().then(|| default.to_owned()));
            let settings = match file {
                Some(file) => Settings::load(Some(&file))?,
                None => Settings::load_text(tunnus::dev::DEV_SETTINGS)?,
            };
            settings.log.init()?;
            runtime()?.block_on(dev(settings))
        }
        Command::Serve { config } => {
            let settings = Settings::load(Some(&config))?;
            let runtime = runtime()?;
            runtime.block_on(settings.check(Mode::Serve))?;
            settings.log.init()?;
            runtime.block_on(serve(settings))
        }
        Command::MockIdp { config } => {
            let settings = Settings::load(Some(&config))?;
            settings.log.init()?;
            runtime()?.block_on(mock(settings.mock_idp))
        }
        Command::Keys { command } => keys(command),
        Command::Notices { command } => runtime()?.block_on(notices(command)),
        Command::Probe { url } => runtime()?.block_on(probe(url)),
        Command::CheckConfig {
            config,
            dev,
            offline,
        } => {
            let mut settings = Settings::load(Some(&config))?;
            let mode = if dev { Mode::Dev } else { Mode::Serve };
            if mode == Mode::Dev && settings.broker.issuer.is_none() {
                // Dev mode points the service at its own mock broker.
                settings.broker.issuer = url::Url::parse("http://127.0.0.1/realms/dev").ok();
                settings.broker.client_id = "tunnus".into();
            }
            let sso = &mut settings.helpdesk.sso;
            if mode == Mode::Dev && settings.helpdesk.enabled && sso.issuer.is_none() {
                // ... and staff at the mock broker's campus realm.
                sso.issuer = url::Url::parse("http://127.0.0.1/realms/campus").ok();
                if sso.client_id.is_empty() {
                    sso.client_id = "tunnus-helpdesk".into();
                }
            }
            let runtime = runtime()?;
            let problems = runtime.block_on(settings.problems(mode));
            if !problems.is_empty() {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                anyhow::bail!("{}", lines.join("\ntunnus: "));
            }
            if !offline && settings.directory.kind == DirectoryKind::Ldap {
                runtime.block_on(probe_directory(&settings))?;
            }
            output!("{}: ok", config.display())?;
            Ok(())
        }
    }
}

/// `tunnus probe URL`: the health endpoint's answer, within five seconds.
async fn probe(url: url::Url) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        bail!("probe: {url} is not an http or https address");
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("probe: the HTTP client")?;
    let answer = client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("probe: {url} does not answer"))?;
    if !answer.status().is_success() {
        bail!("probe: {url} answered {}", answer.status());
    }
    output!("{url}: {}", answer.status())?;
    Ok(())
}

/// `tunnus notices …`: works on the outbox in the store the settings name.
async fn notices(command: NoticesCommand) -> Result<()> {
    let (NoticesCommand::Status { config } | NoticesCommand::Replay { config }) = &command;
    let settings = Settings::load(Some(config))?;
    settings.notify.validate(Mode::Serve)?;
    settings.notify.check()?;
    let store = tunnus::store::build(&settings.store, Arc::new(SystemClock))
        .context("store: the outbox's store cannot be used")?;
    let notifier = tunnus::notify::Notifier::new(tunnus::notify::NotifierParts {
        settings: settings.notify.clone(),
        store,
        catalog: tunnus::i18n::Catalog::with_overrides(&settings.ui.texts)?,
        branding: tunnus::notify::mail::Branding {
            organisation: Box::new(|_| String::new()),
            helpdesk_url: None,
            colour: String::new(),
        },
        metrics: Arc::new(tunnus::metrics::Metrics::default()),
        clock: Arc::new(SystemClock),
    })
    .map_err(|(key, problem)| anyhow::anyhow!("{key}: {problem}"))?
    .ok_or_else(|| {
        anyhow::anyhow!("notify: neither [notify.mail] nor [[notify.webhook]] is set")
    })?;
    match command {
        NoticesCommand::Status { .. } => {
            let status = notifier.status().await.context("store")?;
            output!(
                "waiting {}, oldest {} s, dead {}, endpoints off: {}",
                status.waiting,
                status.oldest_seconds,
                status.dead,
                if status.endpoints_off.is_empty() {
                    "none".to_owned()
                } else {
                    status.endpoints_off.join(", ")
                }
            )?;
        }
        NoticesCommand::Replay { .. } => {
            let replayed = notifier.replay_dead().await.context("store")?;
            output!("{replayed} dead notices sent again")?;
        }
    }
    Ok(())
}

/// Binds to the LDAP directory as the service account and prints what it may and may not do; an
/// error when anything the settings need is missing.
async fn probe_directory(settings: &Settings) -> Result<()> {
    let ldap = &settings.directory.ldap;
    let directory = LdapDirectory::new(ldap, Arc::new(SystemClock)).context("directory.ldap")?;
    let needs = Needs {
        unlock: settings.accounts.reset_unlocks,
    };
    let report = directory
        .probe(needs)
        .await
        .context("directory: the service account cannot use the directory")?;
    let url = ldap.url.as_ref().map(url::Url::as_str).unwrap_or_default();
    output!("directory {url} as {}:", ldap.bind_dn)?;
    for finding in &report.findings {
        match &finding.outcome {
            Outcome::Ok => output!("  ok       {}", finding.check)?,
            Outcome::Missing { fix } => output!("  MISSING  {}: {fix}", finding.check)?,
            Outcome::Unknown { why } => output!("  unknown  {}: {why}", finding.check)?,
        }
    }
    match report.missing_count() {
        0 => Ok(()),
        missing => bail!(
            "directory: the service account lacks {missing} of what the settings need (MISSING \
             above); nothing was written"
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn dev(settings: Settings) -> Result<()> {
    let servers = tunnus::dev::prepare(settings).await?;
    say!("{}", servers.banner());
    servers.serve(shutdown_signal()).await?;
    Ok(())
}

async fn serve(settings: Settings) -> Result<()> {
    let clock = Arc::new(SystemClock);
    let dir = settings
        .keys
        .dir
        .clone()
        .context("`keys.dir` is required")?;
    let keys = ServiceKeys::load(&dir, settings.broker.signing_alg).context("keys.dir")?;
    let app = App::build(
        settings,
        Dependencies {
            clock,
            keys: Arc::new(keys),
            store: None,
            directory: None,
            audit: None,
        },
    )
    .await?;
    tracing::info!(address = %app.local_addr(), public_url = %app.state().public_url, "serving");
    app.serve(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn mock(settings: mock_idp::MockIdpSettings) -> Result<()> {
    let persons = settings.test_persons()?;
    let mock = MockIdp::bind(settings, persons, Arc::new(SystemClock)).await?;
    say!("mock broker: {}", mock.issuer());
    say!("  clients:   {}", mock.client_ids().join(", "));
    say!("  activity:  {}", mock.activity_url());
    mock.serve(shutdown_signal()).await?;
    Ok(())
}

fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Generate { out, signing_alg } => {
            let alg = signing_alg_from(&signing_alg)?;
            let keys = ServiceKeys::write_new(&out, alg)?;
            output!(
                "wrote signing.pem (kid {}), encryption.pem (kid {}), entity.pem (kid {}) to {}",
                keys.signing.kid(),
                keys.encryption.first().map(|k| k.kid()).unwrap_or_default(),
                keys.entity.kid(),
                out.display()
            )?;
            Ok(())
        }
        KeysCommand::Rotate { step } => match step {
            RotateStep::Prepare { keys, signing_alg } => {
                let (signing, encryption) =
                    ServiceKeys::prepare_rotation(&keys, signing_alg_from(&signing_alg)?)?;
                output!(
                    "wrote next-signing.pem (kid {signing}) and next-encryption.pem (kid {encryption}) \
                     to {}: restart every replica so that they are published, and activate them once \
                     brokers have read the JWKS again (they cache it up to a day)",
                    keys.display()
                )?;
                Ok(())
            }
            RotateStep::Activate { keys, signing_alg } => {
                ServiceKeys::activate_rotation(&keys, signing_alg_from(&signing_alg)?)?;
                output!(
                    "the prepared keys in {} are now in use: restart every replica",
                    keys.display()
                )?;
                Ok(())
            }
        },
        KeysCommand::Jwks {
            keys,
            signing_alg,
            enc_alg,
        } => {
            let alg = signing_alg_from(&signing_alg)?;
            let enc: KeyManagementAlg = enc_alg
                .parse()
                .map_err(|_| anyhow::anyhow!("--enc-alg must be RSA-OAEP or RSA-OAEP-256"))?;
            let keys = ServiceKeys::load(&keys, alg)?;
            output!("{}", serde_json::to_string_pretty(&keys.public_jwks(enc))?)?;
            Ok(())
        }
    }
}

fn signing_alg_from(name: &str) -> Result<SigningAlg> {
    match name {
        "RS256" => Ok(SigningAlg::RS256),
        "PS256" => Ok(SigningAlg::PS256),
        "ES256" => Ok(SigningAlg::ES256),
        other => bail!("--signing-alg `{other}`: use RS256, PS256 or ES256"),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
