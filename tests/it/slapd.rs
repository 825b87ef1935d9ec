//! A real OpenLDAP server (Debian's `slapd`) for the directory tests.
//!
//! [`shared`] starts one per test binary and every test works in a subtree of its own
//! ([`Slapd::subtree`]), so tests stay independent; [`Slapd::start`] starts a private one that a
//! test may stop. Each server has its own folder with a `slapd.conf` made from
//! `tests/fixtures/ldap/slapd.conf.in`, an mdb database loaded with `slapadd` from
//! `tests/fixtures/ldap/base.ldif`, and a test CA and server certificate made here with rcgen, and it
//! listens on free loopback ports for `ldap://` (StartTLS) and `ldaps://`.
//!
//! slapd runs under a `sh` watchdog that stops it and removes its folder when the watchdog's standard
//! input closes. This process holds the other end of that pipe, so the server cannot outlive the
//! test binary however it ends, even though a `static` is never dropped.

use std::collections::HashSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, Scope, SearchEntry};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tunnus::directory::LdapSettings;
use url::Url;

use crate::ports::{Ports, StartFailure, start_retrying};

pub const SUFFIX: &str = "dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "admin-secret";
pub const SERVICE_DN: &str = "cn=tunnus,ou=services,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-secret";
pub const READER_DN: &str = "cn=reader,ou=services,dc=example,dc=org";
pub const READER_PASSWORD: &str = "reader-secret";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

/// How long slapd may take to load its database and listen.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// What slapd logs when a port it should listen on is taken (`daemon: bind(6) failed errno=98`).
const PORT_TAKEN: &str = "Address already in use";
/// What it logs once it listens.
const STARTED: &str = "slapd starting";

/// Runs slapd in the foreground logging only what it always logs (`-d none`: its start, and why it
/// could not start), records its pid, and stops it and removes its folder once
/// standard input reaches its end. `$0` is slapd, `$1` the folder, `$2` the URLs to listen on.
const WATCHDOG: &str = r#"
"$0" -f "$1/slapd.conf" -h "$2" -d none >"$1/slapd.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$1/slapd.child"
cat >/dev/null
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$1"
"#;

/// A running slapd.
pub struct Slapd {
    /// `ldap://127.0.0.1:<port>`, for StartTLS (or plain LDAP, which the service allows on loopback).
    pub ldap_url: Url,
    /// `ldaps://127.0.0.1:<port>`.
    pub ldaps_url: Url,
    /// The CA that signed the server's certificate (PEM).
    pub ca_file: PathBuf,
    /// A CA that did not (PEM).
    pub other_ca_file: PathBuf,
    /// The service account's password, as `bind_password_file` reads it.
    pub service_password_file: PathBuf,
    /// The read-only account's password.
    pub reader_password_file: PathBuf,
    dir: PathBuf,
    watchdog: Child,
}

/// The slapd all tests of this binary share; started by the first test that asks.
pub fn shared() -> &'static Slapd {
    static SHARED: OnceLock<Slapd> = OnceLock::new();
    SHARED.get_or_init(Slapd::start)
}

impl Slapd {
    /// Starts a slapd of its own, ready to answer. Panics (with the log) if it cannot start.
    pub fn start() -> Slapd {
        Slapd::start_with(|config| config)
    }

    /// Starts a slapd of its own whose `slapd.conf` is the fixture's changed by `edit`.
    pub fn start_with(edit: impl FnOnce(String) -> String) -> Slapd {
        Slapd::start_from(Ports::free(), edit)
    }

    /// Starts a slapd of its own that is offered `port` first for `ldap://`, and free ports after
    /// it if `port` is taken.
    pub fn start_trying_first(port: u16) -> Slapd {
        Slapd::start_from(Ports::free().trying_first(&[port]), |config| config)
    }

    /// Another process may take a chosen port before slapd binds it: then slapd is set up again
    /// in a fresh folder (its watchdog removes the old one) and started on other ports.
    fn start_from(ports: Ports, edit: impl FnOnce(String) -> String) -> Slapd {
        assert!(
            Path::new(SLAPD).exists() && Path::new(SLAPADD).exists(),
            "{SLAPD} is missing: install the Debian package `slapd` (scripts/test installs it)"
        );
        let template = edit(std::fs::read_to_string(fixtures().join("slapd.conf.in")).unwrap());
        start_retrying("slapd", ports, |ports| {
            Slapd::try_start(&template, ports.next(), ports.next())
        })
    }

    fn try_start(template: &str, ldap_port: u16, ldaps_port: u16) -> Result<Slapd, StartFailure> {
        let dir = fresh_dir();
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let (ca_file, other_ca_file) = write_certificates(&dir);
        let service_password_file = dir.join("service-password");
        crate::harness::write_secret(&service_password_file, format!("{SERVICE_PASSWORD}\n"));
        let reader_password_file = dir.join("reader-password");
        crate::harness::write_secret(&reader_password_file, format!("{READER_PASSWORD}\n"));
        write_config(&dir, template);
        load_base(&dir);

        let ldap_url = Url::parse(&format!("ldap://127.0.0.1:{ldap_port}")).unwrap();
        let ldaps_url = Url::parse(&format!("ldaps://127.0.0.1:{ldaps_port}")).unwrap();
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(SLAPD)
            .arg(&dir)
            .arg(format!("{ldap_url}/ {ldaps_url}/"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh must be available to start slapd");
        let mut slapd = Slapd {
            ldap_url,
            ldaps_url,
            ca_file,
            other_ca_file,
            service_password_file,
            reader_password_file,
            dir,
            watchdog,
        };
        slapd.wait_until_listening(ldap_port, ldaps_port)?;
        Ok(slapd)
    }

    /// Polls until this slapd's log says it started and both ports accept connections. The log
    /// decides whose the ports are: another server that took one would accept connections too.
    fn wait_until_listening(
        &mut self,
        ldap_port: u16,
        ldaps_port: u16,
    ) -> Result<(), StartFailure> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let exited = self.watchdog.try_wait().ok().flatten().is_some() || !self.slapd_alive();
            let log = std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default();
            let listening = [ldap_port, ldaps_port]
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if !exited && log.contains(STARTED) && listening {
                return Ok(());
            }
            if exited || Instant::now() > deadline {
                let detail = format!(
                    "slapd did not start listening on ports {ldap_port} and {ldaps_port}:\n{log}"
                );
                return Err(if exited && log.contains(PORT_TAKEN) {
                    StartFailure::PortTaken(detail)
                } else {
                    StartFailure::Other(detail)
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// False once the slapd the watchdog started has exited (true while its pid is not known yet).
    fn slapd_alive(&self) -> bool {
        match std::fs::read_to_string(self.dir.join("slapd.child")) {
            Ok(pid) if !pid.trim().is_empty() => Path::new("/proc").join(pid.trim()).exists(),
            _ => true,
        }
    }

    /// Stops slapd and waits until it and its watchdog are gone.
    pub fn stop(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }

    /// A connection bound as the root DN, which no ACL limits.
    pub async fn admin(&self) -> Ldap {
        bind(&self.ldap_url, ROOT_DN, ROOT_PASSWORD)
            .await
            .expect("the root DN can bind")
    }

    /// A new, empty `ou=t<N>` under the suffix, for one test; returns its DN.
    pub async fn subtree(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let dn = format!("ou={name},{SUFFIX}");
        add(
            &mut self.admin().await,
            &dn,
            &[("objectClass", &["organizationalUnit"]), ("ou", &[&name])],
        )
        .await;
        dn
    }

    /// Settings for the service account searching under `base_dn`, over StartTLS with the test CA,
    /// with the test schema's state and terms attributes.
    pub fn settings(&self, base_dn: &str) -> LdapSettings {
        LdapSettings {
            url: Some(self.ldap_url.clone()),
            ca_file: Some(self.ca_file.clone()),
            bind_dn: SERVICE_DN.to_owned(),
            bind_password_file: Some(self.service_password_file.clone()),
            base_dn: base_dn.to_owned(),
            state_attribute: Some("tunnusAccountState".to_owned()),
            terms_accepted_attribute: Some("tunnusTermsAccepted".to_owned()),
            ..LdapSettings::default()
        }
    }

    /// Adds Tero Testi Äyrämö (`010170-999R`, uid `tetyra`, an active student) under `base` with
    /// `password`, as the development accounts have him; returns his DN.
    pub async fn add_tero(&self, base: &str, password: &str) -> String {
        let dn = format!("uid=tetyra,{base}");
        add(
            &mut self.admin().await,
            &dn,
            &[
                (
                    "objectClass",
                    &["inetOrgPerson", "schacLinkageIdentifiers", "tunnusAccount"],
                ),
                ("uid", &["tetyra"]),
                ("cn", &["Tero Testi Äyrämö"]),
                ("givenName", &["Tero Testi"]),
                ("sn", &["Äyrämö"]),
                ("employeeType", &["student"]),
                (
                    "schacPersonalUniqueID",
                    &["urn:schac:personalUniqueID:fi:FIC:010170-999R"],
                ),
                ("userPassword", &[password]),
            ],
        )
        .await;
        dn
    }

    /// Adds the group `dn` (a `groupOfNames` whose `cn` is `cn`) with `members`, which must exist
    /// already: the memberof overlay then writes `memberOf` on each, groups included.
    pub async fn add_group(&self, dn: &str, cn: &str, members: &[&str]) {
        add(
            &mut self.admin().await,
            dn,
            &[
                ("objectClass", &["groupOfNames"]),
                ("cn", &[cn]),
                ("member", members),
            ],
        )
        .await;
    }

    /// Locks `dn` as ppolicy does after too many failed logins (or as an administrator may):
    /// `pwdAccountLockedTime` set to `at`, a generalized time; `000001010000Z` locks for good.
    pub async fn lock(&self, dn: &str, at: &str) {
        self.admin()
            .await
            .modify(
                dn,
                vec![ldap3::Mod::Replace(
                    "pwdAccountLockedTime",
                    HashSet::from([at]),
                )],
            )
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|error| panic!("locking {dn} failed: {error}"));
    }

    /// Whether `dn` can bind with `password` (plain LDAP on loopback).
    pub async fn can_bind(&self, dn: &str, password: &str) -> bool {
        bind(&self.ldap_url, dn, password).await.is_ok()
    }

    /// The values of `attribute` of `dn`, read as the root DN.
    pub async fn read(&self, dn: &str, attribute: &str) -> Vec<String> {
        let found = self
            .admin()
            .await
            .search(dn, Scope::Base, "(objectClass=*)", vec![attribute])
            .await
            .unwrap()
            .success()
            .unwrap();
        found
            .0
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|entry| {
                entry
                    .attrs
                    .into_iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(attribute))
                    .flat_map(|(_, values)| values)
            })
            .collect()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Adds an entry as given; panics if the server refuses it.
pub async fn add(admin: &mut Ldap, dn: &str, attributes: &[(&str, &[&str])]) {
    let attributes: Vec<(&str, HashSet<&str>)> = attributes
        .iter()
        .map(|(name, values)| (*name, values.iter().copied().collect()))
        .collect();
    admin
        .add(dn, attributes)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|error| panic!("adding {dn} failed: {error}"));
}

async fn bind(url: &Url, dn: &str, password: &str) -> Result<Ldap, ldap3::LdapError> {
    let (connection, mut ldap) = LdapConnAsync::new(url.as_str()).await?;
    ldap3::drive!(connection);
    ldap.simple_bind(dn, password).await?.success()?;
    Ok(ldap)
}

fn fresh_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tunnus-slapd-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    // A folder left by an earlier process with the same pid would hold a stale database.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap")
}

/// Writes `slapd.conf` for `dir` from `template`, the fixture's (as a test changed it) with its
/// `@DIR@` and `@FIXTURES@` still to fill in.
fn write_config(dir: &Path, template: &str) {
    let config = template
        .replace("@DIR@", &dir.display().to_string())
        .replace("@FIXTURES@", &fixtures().display().to_string());
    std::fs::write(dir.join("slapd.conf"), config).unwrap();
}

fn load_base(dir: &Path) {
    let output = Command::new(SLAPADD)
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .arg("-l")
        .arg(fixtures().join("base.ldif"))
        .output()
        .expect("slapadd runs");
    assert!(
        output.status.success(),
        "slapadd failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port nobody listened on a moment ago.
pub fn free_port() -> u16 {
    crate::ports::free_port()
}

/// Writes `ca.pem`, `server.pem` and `server.key` (for 127.0.0.1 and localhost) and a second,
/// unrelated `other-ca.pem`; returns the two CA files.
pub fn write_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let (ca_params, ca_key) = ca("tunnus test CA");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "slapd of the tunnus tests");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    let (other_params, other_key) = ca("some other CA");
    let other_cert = other_params.self_signed(&other_key).unwrap();

    let ca_file = dir.join("ca.pem");
    let other_ca_file = dir.join("other-ca.pem");
    std::fs::write(&ca_file, ca_params.self_signed(&ca_key).unwrap().pem()).unwrap();
    std::fs::write(&other_ca_file, other_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    (ca_file, other_ca_file)
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params, key)
}
