//! The `tunnus` command as an operator uses it.

use std::path::PathBuf;
use std::process::{Command, Output};

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
        "example",
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
