//! The `tunnus` command as an operator uses it.

use std::path::PathBuf;
use std::process::{Command, Output};

use reqwest::StatusCode;

use crate::harness::{Browser, Choice};
use crate::redis::TempDir;

fn tunnus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunnus"))
        .args(args)
        .env_remove("TUNNUS_BROKER__ISSUER")
        .output()
        .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tunnus-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn keys_generate_writes_three_keys_and_refuses_to_overwrite() {
    let dir = temp_dir("keys");
    let out = dir.to_str().unwrap();
    let first = tunnus(&["keys", "generate", "--out", out]);
    assert!(first.status.success(), "{}", text(&first));
    for file in ["signing.pem", "encryption.pem", "entity.pem"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let before = std::fs::read(dir.join("signing.pem")).unwrap();
    let second = tunnus(&["keys", "generate", "--out", out]);
    assert!(!second.status.success());
    assert!(
        text(&second).contains("signing.pem") || text(&second).contains("exists"),
        "{}",
        text(&second)
    );
    assert_eq!(std::fs::read(dir.join("signing.pem")).unwrap(), before);

    let jwks = tunnus(&["keys", "jwks", "--keys", out]);
    assert!(jwks.status.success(), "{}", text(&jwks));
    let jwks: serde_json::Value = serde_json::from_slice(&jwks.stdout).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert!(!String::from_utf8_lossy(&std::fs::read(dir.join("signing.pem")).unwrap()).is_empty());

    // A JWKS that cannot be written is a failure, not a success with half a file.
    let full = Command::new(env!("CARGO_BIN_EXE_tunnus"))
        .args(["keys", "jwks", "--keys", out])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert!(!full.status.success());
    assert!(
        text(&full).contains("cannot write to standard output"),
        "{}",
        text(&full)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = temp_dir("config");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tunnus.toml");
    std::fs::write(
        &file,
        "[server]\npublic_url = \"https://tunnus.example.fi/\"\n[broker]\nclient_id = \"x\"\n",
    )
    .unwrap();
    let output = tunnus(&["check-config", "--config", file.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(text(&output).contains("broker.issuer"), "{}", text(&output));

    std::fs::write(
        &file,
        "[broker]\nissuer = \"https://b.example/\"\nclient_id = \"x\"\nclock_skew = \"often\"\n",
    )
    .unwrap();
    let output = tunnus(&["check-config", "--config", file.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(text(&output).contains("clock_skew"), "{}", text(&output));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn check_config_accepts_the_shipped_examples() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dev = tunnus(&[
        "check-config",
        "--dev",
        "--config",
        &format!("{root}/config/dev.toml"),
    ]);
    assert!(dev.status.success(), "{}", text(&dev));
    for preset in [
        "examples/university-of-applied-sciences",
        "keycloak-mock",
        "telia",
        "op",
        "idura",
        "signicat",
    ] {
        let file = format!("{root}/config/{preset}.toml");
        let output = tunnus(&["check-config", "--dev", "--config", &file]);
        assert!(output.status.success(), "{preset}: {}", text(&output));
    }
}

/// The production example's files (which live under /etc on a server) made in a folder of the
/// test's, with the environment variables that point the example at them.
struct ExampleFiles {
    dir: TempDir,
    env: Vec<(&'static str, String)>,
}

impl ExampleFiles {
    fn new(name: &str) -> ExampleFiles {
        let root = env!("CARGO_MANIFEST_DIR");
        let dir = TempDir::new(name);
        let keys = dir.path().join("keys");
        let generated = tunnus(&["keys", "generate", "--out", keys.to_str().unwrap()]);
        assert!(generated.status.success(), "{}", text(&generated));
        let secret = |name: &str| {
            let path = dir.path().join(name);
            crate::harness::write_secret(&path, tunnus::random::token());
            path.to_str().unwrap().to_owned()
        };
        let env = vec![
            ("TUNNUS_KEYS__DIR", keys.to_str().unwrap().to_owned()),
            ("TUNNUS_SESSION__KEY_FILE", secret("session-key")),
            ("TUNNUS_AUDIT__PSEUDONYM_KEY_FILE", secret("audit-key")),
            (
                "TUNNUS_DIRECTORY__LDAP__BIND_PASSWORD_FILE",
                secret("ldap-password"),
            ),
            (
                "TUNNUS_PASSWORD__DENY_LIST",
                format!("{root}/config/common-passwords.txt"),
            ),
            (
                "TUNNUS_AUDIT__PATH",
                dir.path().join("audit.jsonl").to_str().unwrap().to_owned(),
            ),
        ];
        ExampleFiles { dir, env }
    }

    /// `tunnus {subcommand}` on the example, with the variable `missing` left out. `check-config`
    /// runs `--offline`: the example's directory does not exist.
    fn run(&self, subcommand: &str, missing: Option<&str>) -> Output {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tunnus"));
        command
            .args([
                subcommand,
                "--config",
                &format!("{root}/config/example.toml"),
            ])
            .env_remove("TUNNUS_BROKER__ISSUER");
        if subcommand == "check-config" {
            command.arg("--offline");
        }
        for (name, value) in &self.env {
            if Some(*name) != missing {
                command.env(name, value);
            }
        }
        command.output().unwrap()
    }
}

/// The production example is checked as `serve` checks it, with its files in place.
#[test]
fn check_config_accepts_the_production_example_with_its_files_in_place() {
    let files = ExampleFiles::new("example-files");
    let check = |missing| files.run("check-config", missing);
    let output = check(None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        !files.dir.path().join("audit.jsonl").exists(),
        "checking must not create the audit file"
    );
    // The same check refuses the example's own paths, which do not exist here, naming the key.
    for (name, key) in [
        ("TUNNUS_SESSION__KEY_FILE", "session.key_file"),
        (
            "TUNNUS_AUDIT__PSEUDONYM_KEY_FILE",
            "audit.pseudonym_key_file",
        ),
        ("TUNNUS_KEYS__DIR", "keys.dir"),
    ] {
        let output = check(Some(name));
        assert!(!output.status.success(), "{name}: {}", text(&output));
        assert!(text(&output).contains(key), "{name}: {}", text(&output));
        // `serve` runs the same check before anything else, so it says exactly the same.
        let served = files.run("serve", Some(name));
        assert!(!served.status.success(), "{name}: {}", text(&served));
        assert_eq!(text(&served), text(&output), "{name}");
    }
}

/// The example's helpdesk section, commented out as shipped, is valid once uncommented: every
/// `# key = value` and `# [table]` line of it taken in, and its files in place.
#[test]
fn the_example_s_helpdesk_section_checks_once_uncommented() {
    let files = ExampleFiles::new("example-helpdesk");
    let root = env!("CARGO_MANIFEST_DIR");
    let shipped = std::fs::read_to_string(format!("{root}/config/example.toml")).unwrap();
    let start = shipped
        .find("# [helpdesk]\n")
        .expect("the example documents [helpdesk]");
    let end = shipped[start..]
        .find("\n[")
        .map_or(shipped.len(), |i| start + i + 1);
    let uncommented: Vec<String> = shipped[start..end]
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }) =>
            {
                rest.to_owned()
            }
            _ => line.to_owned(),
        })
        .collect();
    let config = format!(
        "{}{}\n{}",
        &shipped[..start],
        uncommented.join("\n"),
        &shipped[end..]
    );
    assert!(config.contains("\n[helpdesk]\nenabled = true"), "{config}");
    let file = files.dir.path().join("example-helpdesk.toml");
    std::fs::write(&file, config).unwrap();
    let secret = |name: &str| {
        let path = files.dir.path().join(name);
        crate::harness::write_secret(&path, tunnus::random::token());
        path.to_str().unwrap().to_owned()
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_tunnus"));
    command
        .args([
            "check-config",
            "--offline",
            "--config",
            file.to_str().unwrap(),
        ])
        .env_remove("TUNNUS_BROKER__ISSUER")
        .env("TUNNUS_HELPDESK__CODE_KEY_FILE", secret("code-key"))
        .env(
            "TUNNUS_HELPDESK__SSO__CLIENT_SECRET_FILE",
            secret("helpdesk-sso-secret"),
        );
    for (name, value) in &files.env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

/// A secret file its group or others may read is refused at start, naming the key, the file and
/// the fix; `serve` says the same.
#[test]
fn check_config_refuses_secret_files_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let files = ExampleFiles::new("open-secrets");
    let keys = files.dir.path().join("keys");
    for (key, file) in [
        ("keys.dir", keys.join("signing.pem")),
        ("keys.dir", keys.join("encryption.pem")),
        ("session.key_file", files.dir.path().join("session-key")),
        (
            "audit.pseudonym_key_file",
            files.dir.path().join("audit-key"),
        ),
        (
            "directory.ldap.bind_password_file",
            files.dir.path().join("ldap-password"),
        ),
    ] {
        let open = |mode| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode));
        open(0o644).unwrap();
        let output = files.run("check-config", None);
        let shown = text(&output);
        assert!(!output.status.success(), "{key}: {shown}");
        assert!(shown.contains(key), "{key}: {shown}");
        assert!(shown.contains(file.to_str().unwrap()), "{key}: {shown}");
        assert!(shown.contains("chmod 600"), "{key}: {shown}");
        let served = files.run("serve", None);
        assert!(!served.status.success(), "{key}: {}", text(&served));
        assert_eq!(text(&served), shown, "{key}");
        open(0o600).unwrap();
    }
    let output = files.run("check-config", None);
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn serve_refuses_to_start_without_keys() {
    let dir = temp_dir("serve");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tunnus.toml");
    std::fs::write(
        &file,
        "[server]\npublic_url = \"https://tunnus.example.fi/\"\n[broker]\nissuer = \"https://b.example/\"\nclient_id = \"x\"\n",
    )
    .unwrap();
    let output = tunnus(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(text(&output).contains("keys.dir"), "{}", text(&output));
    std::fs::remove_dir_all(dir).unwrap();
}

/// How often `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn a_missing_config_file_is_named_with_its_cause_once() {
    let dir = TempDir::new("no-config");
    let file = dir.path().join("absent.toml");
    let output = tunnus(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!output.status.success());
    let shown = String::from_utf8_lossy(&output.stderr);
    assert!(shown.contains("`--config`"), "{shown}");
    assert!(shown.contains(file.to_str().unwrap()), "{shown}");
    assert_eq!(count(&shown, "no such file"), 1, "{shown}");
}

#[test]
fn a_missing_persons_file_is_named_by_its_key_with_its_cause_once() {
    let dir = TempDir::new("no-persons");
    let persons = dir.path().join("absent-persons.toml");
    let cause = std::fs::read_to_string(&persons).unwrap_err().to_string();
    let config = dir.path().join("tunnus.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"warn\"\n\
             [mock_idp]\nlisten = \"127.0.0.1:0\"\npersons = \"{}\"\n",
            persons.display()
        ),
    )
    .unwrap();
    for command in ["mock-idp", "dev"] {
        let output = tunnus(&[command, "--config", config.to_str().unwrap()]);
        assert!(!output.status.success(), "{command}");
        let shown = String::from_utf8_lossy(&output.stderr);
        assert!(shown.contains("mock_idp.persons"), "{command}: {shown}");
        assert_eq!(
            count(&shown, persons.to_str().unwrap()),
            1,
            "{command}: {shown}"
        );
        assert_eq!(count(&shown, &cause), 1, "{command}: {shown}");
    }
}

/// Reads a child's stdout until `lines` lines have come, or panics after a deadline.
fn read_lines(child: &mut std::process::Child, lines: usize) -> Vec<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // Read to the end even when nobody listens any more, so the command never writes into
            // a closed pipe.
            let _ = send.send(line);
        }
    });
    (0..lines)
        .map(|_| {
            receive
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the command printed too little")
        })
        .collect()
}

/// A `tunnus` command left running with a settings file of its own. Dropping it (also when a test
/// fails) kills the process and removes the folder.
struct Running {
    child: std::process::Child,
    _dir: TempDir,
}

impl Running {
    fn start(command: &str, settings: &str) -> Running {
        let dir = TempDir::new(command);
        let config = dir.path().join("tunnus.toml");
        std::fs::write(&config, settings).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tunnus"))
            .args([command, "--config", config.to_str().unwrap()])
            .env_remove("TUNNUS_BROKER__ISSUER")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Running { child, _dir: dir }
    }

    /// Sends SIGTERM (through `kill`, to stay free of unsafe code) and waits for the exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn dev_mode_serves_the_service_and_the_mock_broker_together() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut dev = Running::start(
        "dev",
        &format!(
            r#"
            [server]
            listen = "127.0.0.1:0"
            [directory]
            seed = "{root}/config/dev-accounts.toml"
            [password]
            deny_list = "{root}/config/common-passwords.txt"
            [log]
            level = "warn"
            [mock_idp]
            listen = "127.0.0.1:0"
            persons = "{root}/config/mock-persons.toml"
            "#
        ),
    );
    let banner = read_lines(&mut dev.child, 3);
    let service = banner[1].split_whitespace().last().unwrap().to_owned();
    let issuer = banner[2].split_whitespace().last().unwrap().to_owned();
    let landing = reqwest::get(&service).await.unwrap();
    assert_eq!(landing.status(), 200);
    let discovery = reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    let ready = reqwest::get(format!("{service}readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    assert!(dev.terminate().success());
}

/// An installed binary run from any folder: no `--config`, no `config/` beside it. The built-in dev
/// settings, accounts, test persons and deny list carry a whole identification; only the ports are
/// moved off the fixed ones, through the environment.
#[tokio::test]
async fn dev_mode_runs_from_an_empty_folder_on_its_built_in_files() {
    let dir = TempDir::new("dev-anywhere");
    let child = Command::new(env!("CARGO_BIN_EXE_tunnus"))
        .current_dir(dir.path())
        .env_remove("TUNNUS_BROKER__ISSUER")
        .env("TUNNUS_SERVER__LISTEN", "127.0.0.1:0")
        .env("TUNNUS_MOCK_IDP__LISTEN", "127.0.0.1:0")
        .env("TUNNUS_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut dev = Running { child, _dir: dir };
    let banner = read_lines(&mut dev.child, 4);
    assert_eq!(banner[0], "tunnus (dev mode)");
    let service = reqwest::Url::parse(banner[1].split_whitespace().last().unwrap()).unwrap();

    let ready = reqwest::get(service.join("/readyz").unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    let browser = Browser::new(service.clone());
    browser.get_path("/").await.assert_status(StatusCode::OK);
    // Tero, the first built-in test person, has the built-in account `tetyra`.
    let callback = browser.identify(0).await;
    callback.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(callback.location().path(), "/account");
    browser
        .get_path("/account")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("tetyra");
    // The helpdesk channel is on, with the campus realm as the staff's SSO; hd-anna, the first
    // built-in staff person, is in the helpdesk group.
    let staff = Browser::new(service);
    let authorize = staff.start_staff_sign_in().await;
    assert!(authorize.path().contains("/realms/campus/"), "{authorize}");
    let callback = staff.at_broker(authorize, Choice::Person(0)).await;
    staff
        .get(callback)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    staff
        .get_path("/helpdesk")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Hei, Anna Palvelu!");
    assert!(dev.terminate().success());
}

#[tokio::test]
async fn the_mock_broker_runs_alone() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut mock = Running::start(
        "mock-idp",
        &format!(
            "[mock_idp]\nlisten = \"127.0.0.1:0\"\npersons = \"{root}/config/mock-persons.toml\"\n\
             [mock_idp.client]\nredirect_uris = [\"http://127.0.0.1:8080/callback\"]\n\
             jwks_url = \"http://127.0.0.1:8080/.well-known/jwks.json\"\n[log]\nlevel = \"warn\"\n"
        ),
    );
    let lines = read_lines(&mut mock.child, 3);
    let issuer = lines[0].split_whitespace().last().unwrap().to_owned();
    // The old single `[mock_idp.client]` table is the one client, named by its default id.
    assert_eq!(lines[1].trim(), "clients:   tunnus");
    assert_eq!(
        lines[2].trim(),
        format!(
            "activity:  {}/admin/realms/ftn/activity",
            issuer.trim_end_matches("/realms/ftn")
        )
    );
    let discovery: serde_json::Value =
        reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert!(mock.terminate().success());
}
