//! What operators deploy beside the binary, checked against the service itself: the Prometheus
//! alerts (validated and unit-tested with Debian's `promtool`) and the Grafana dashboard use only
//! metrics a running service really exports.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::StatusCode;
use tunnus::mock_idp::Fault;

use crate::harness::{HelpdeskSso, Options, TestApp, identified, repo_path, set_password};

/// Every `tunnus_…` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("tunnus_") {
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[start + name.len()..];
        names.insert(name);
    }
    names
}

/// The type `/metrics` gives `name` (`counter`, `gauge`, `histogram`), if it exports it.
fn exported_type<'a>(exposition: &'a str, name: &str) -> Option<&'a str> {
    exposition.lines().find_map(|line| {
        line.strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(' '))
    })
}

/// Whether the series `name` of an expression is one the service exports: a metric itself, or the
/// `_bucket`, `_count` or `_sum` series of one of its histograms.
fn exported(exposition: &str, name: &str) -> bool {
    if exported_type(exposition, name).is_some() {
        return true;
    }
    ["_bucket", "_count", "_sum"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| exported_type(exposition, base) == Some("histogram"))
    })
}

/// A service that has done everything the alerts and the dashboard watch: a reset and a refusal, a
/// broker and a directory failure, a rate-limit hit, a wrong activation code, a service request
/// sent too fast, and a notice queued.
async fn busy_service() -> TestApp {
    // The service reads the secret at start only: the folder may go once it has started.
    let secret_dir = crate::redis::TempDir::new("deploy-webhook");
    let app = TestApp::spawn_with(Options {
        helpdesk: Some(HelpdeskSso::default()),
        service_toml: r#"
            [limits]
            code_tries_per_username = 1
            [[notify.webhook]]
            name = "iam"
            url = "http://127.0.0.1:9/hooks"
            allow_http = true
            secret_file = "SECRET"
        "#
        .replace("SECRET", &webhook_secret(&secret_dir)),
        ..Options::default()
    })
    .await;
    drop(secret_dir);
    let (browser, form) = identified(&app, "010170-999R").await;
    set_password(&app, &browser, &form, "kahvi-Tunturi-lumi-57-sade")
        .await
        .assert_status(StatusCode::OK);
    // Åsa's external account is refused.
    app.browser().identify(app.person("170677-924F")).await;
    app.mock.set_faults([Fault::TokenServerError]);
    app.browser().identify(app.person("010170-999R")).await;
    app.mock.set_faults(Vec::<Fault>::new());
    app.directory.set_unavailable(true);
    app.browser().identify(app.person("010170-999R")).await;
    app.directory.set_unavailable(false);
    let person = app.browser();
    let code = person.get_path("/code").await;
    for _ in 0..2 {
        person
            .post_form(
                app.at("/code"),
                &[
                    ("csrf", &code.field("csrf")),
                    ("username", "aslind"),
                    ("code", "7KQM-2XRD-9TPA-F4WN"),
                ],
            )
            .await;
    }
    let request = person.get_path("/request").await;
    person
        .post_form(
            app.at("/request"),
            &[
                ("csrf", &request.field("csrf")),
                ("token", &request.field("token")),
            ],
        )
        .await;
    app
}

/// A webhook secret in a file in `dir`; its path.
fn webhook_secret(dir: &crate::redis::TempDir) -> String {
    let file = dir.path().join("secret");
    crate::harness::write_secret(&file, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    file.display().to_string()
}

#[tokio::test]
async fn the_alerts_and_the_dashboard_use_only_metrics_the_service_exports() {
    let app = busy_service().await;
    let exposition = app.browser().get_path("/metrics").await.body;
    for file in ["deploy/prometheus/alerts.yml", "deploy/grafana/tunnus.json"] {
        let text = std::fs::read_to_string(repo_path(file)).unwrap();
        let names = metric_names(&text);
        assert!(
            names.len() >= 5,
            "{file} names hardly any metrics: {names:?}"
        );
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !exported(&exposition, name))
            .collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the service does not export: {missing:?}\n{exposition}"
        );
    }
    // A name the service does not export is found out.
    assert!(!exported(&exposition, "tunnus_flows_completed_total"));
    assert!(!exported(&exposition, "tunnus_flows_total_bucket"));
}

#[test]
fn the_dashboard_is_grafana_json_with_a_prometheus_datasource_choice() {
    let text = std::fs::read_to_string(repo_path("deploy/grafana/tunnus.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "tunnus");
    let datasource = &dashboard["templating"]["list"][0];
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "a panel id repeats"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        for target in panel["targets"].as_array().unwrap() {
            assert!(!target["expr"].as_str().unwrap().is_empty());
        }
    }
    for title in [
        "Flows by stage",
        "Refusals by reason",
        "Latency per route (95th percentile)",
        "Broker calls (95th percentile) and errors",
        "Directory calls (95th percentile) and errors",
        "Rate-limit hits by limit",
        "Notices by outcome and the outbox",
    ] {
        assert!(
            panels.iter().any(|panel| panel["title"] == title),
            "no panel {title:?}"
        );
    }
}

/// Runs `promtool` with `args` in deploy/prometheus/.
fn promtool(args: &[&str]) -> (bool, String) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(repo_path("deploy/prometheus"))
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "promtool cannot run ({error}): install the Debian package prometheus \
                 (scripts/test does)"
            )
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn promtool_validates_the_alert_rules_and_their_unit_tests_pass() {
    let (ok, output) = promtool(&["check", "rules", "alerts.yml"]);
    assert!(ok, "{output}");
    assert!(output.contains("SUCCESS: 6 rules found"), "{output}");
    let (ok, output) = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(ok, "{output}");
    // Every alert has at least one unit test that expects it to fire.
    let rules = std::fs::read_to_string(repo_path("deploy/prometheus/alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(repo_path("deploy/prometheus/alerts.test.yml")).unwrap();
    for line in rules.lines() {
        if let Some(alert) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tests.contains(&format!(
                    "alertname: {alert}\n        exp_alerts:\n          -"
                )),
                "no test expects {alert} to fire"
            );
            let anchor = format!("docs/operations.md#{}", alert.to_lowercase());
            assert!(rules.contains(&anchor), "{alert} has no runbook link");
            let runbook = std::fs::read_to_string(repo_path("docs/operations.md")).unwrap();
            assert!(
                runbook.contains(&format!("### {alert}")),
                "docs/operations.md has no section for {alert}"
            );
        }
    }
}

/// The documents of the Kubernetes example, read by PyYAML.
fn kubernetes_documents() -> Vec<serde_json::Value> {
    let files = ["configmap.yaml", "deployment.yaml", "secrets.example.yaml"]
        .map(|file| repo_path(&format!("deploy/kubernetes/{file}")));
    let output = Command::new("python3")
        .arg(repo_path("tests/fixtures/yaml_to_json.py"))
        .args(&files)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the manifests do not read as YAML (PyYAML is Debian's python3-yaml, which scripts/test \
         installs): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn document<'a>(
    documents: &'a [serde_json::Value],
    kind: &str,
    name: &str,
) -> &'a serde_json::Value {
    documents
        .iter()
        .find(|document| document["kind"] == kind && document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

/// Every file or folder the settings name (`…_file` keys and `keys.dir`), with its key.
fn named_paths(table: &toml::Table, prefix: &str, found: &mut Vec<(String, String)>) {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        match value {
            toml::Value::Table(inner) => named_paths(inner, &format!("{path}."), found),
            toml::Value::String(text) if key.ends_with("_file") || path == "keys.dir" => {
                found.push((path, text.clone()));
            }
            _ => {}
        }
    }
}

#[test]
fn the_kubernetes_example_agrees_with_the_settings_probes_and_secrets() {
    use tunnus::config::{Mode, Settings};

    let documents = kubernetes_documents();
    let text = document(&documents, "ConfigMap", "tunnus-config")["data"]["tunnus.toml"]
        .as_str()
        .expect("the ConfigMap holds tunnus.toml")
        .to_owned();
    // Real `serve` settings: every name known (unknown keys are refused), every value workable.
    let settings = Settings::from_toml(&text).expect("the ConfigMap's settings read");
    settings
        .validate(Mode::Serve)
        .expect("the ConfigMap's settings are valid for serve");
    // ... and every name one config/example.toml documents.
    let example = std::fs::read_to_string(repo_path("config/example.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    // The keys as written, one per line (an inline table's own keys are values, not settings).
    let keys: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(key, _)| key.trim())
        .filter(|key| !key.starts_with('#'))
        .collect();
    assert!(keys.len() >= 10, "{keys:?}");
    for key in &keys {
        assert!(
            example.contains(&format!("\n{key} = ")) || example.contains(&format!("\n# {key} = ")),
            "config/example.toml does not document `{key}`"
        );
    }

    let deployment = document(&documents, "Deployment", "tunnus");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let port = &container["ports"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], port["name"]);
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], port["name"]);
    assert_eq!(
        port["containerPort"].as_u64(),
        Some(u64::from(settings.server.listen.port())),
        "the container port is not server.listen's"
    );
    let grace = settings.server.shutdown_grace.get().as_secs();
    assert!(
        pod["terminationGracePeriodSeconds"].as_u64().unwrap() > grace,
        "the pod is killed before server.shutdown_grace ({grace} s) is over"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"][0],
        "ALL"
    );

    // Each file the settings name lies in a mounted Secret that holds it, readable by the owner only.
    let mut paths = Vec::new();
    named_paths(&table, "", &mut paths);
    assert!(paths.len() >= 5, "{paths:?}");
    for (key, path) in &paths {
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|mount| {
                let at = mount["mountPath"].as_str().unwrap();
                path == at || path.starts_with(&format!("{at}/"))
            })
            .unwrap_or_else(|| panic!("`{key}` = {path} is in no mounted volume"));
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["name"] == mount["name"])
            .unwrap();
        let secret = volume["secret"]["secretName"]
            .as_str()
            .unwrap_or_else(|| panic!("`{key}` = {path} is not in a Secret"));
        assert_eq!(
            volume["secret"]["defaultMode"], 0o400,
            "{secret} is open to others"
        );
        let held = &document(&documents, "Secret", secret)["stringData"];
        let mount_path = mount["mountPath"].as_str().unwrap();
        if key == "keys.dir" {
            assert_eq!(path, mount_path);
            for file in ["signing.pem", "encryption.pem", "entity.pem"] {
                assert!(held.get(file).is_some(), "{secret} lacks {file}");
            }
        } else {
            let file = &path[mount_path.len() + 1..];
            assert!(
                held.get(file).is_some(),
                "`{key}`: {secret} holds no {file}"
            );
        }
    }

    let budget = document(&documents, "PodDisruptionBudget", "tunnus");
    assert_eq!(budget["spec"]["minAvailable"], 1);
    assert_eq!(
        budget["spec"]["selector"], deployment["spec"]["selector"],
        "the budget does not cover the Deployment's pods"
    );
    let service = document(&documents, "Service", "tunnus");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], port["name"]);
}
