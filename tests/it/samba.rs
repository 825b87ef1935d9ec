//! A real Active Directory domain controller (Debian's Samba AD DC) for the directory tests.
//!
//! [`shared`] provisions one throw-away domain per test binary, `tunnus.test`, in a folder under the
//! system's temp dir (`samba-tool domain provision --targetdir`, so nothing under /etc or
//! /var/lib/samba is touched), and every test works in an OU of its own ([`SambaDc::subtree`]), so
//! tests stay independent and run in parallel.
//!
//! The domain is made ready before the server starts, with `samba-tool` on its database:
//!
//! - password settings stated rather than left to Samba's defaults: no complexity rule, at least
//!   [`MIN_PASSWORD_LENGTH`] characters, a history of 24, no minimum or maximum age, no lockout
//!   after failed logins (so the tests' failed binds lock nothing) and a lockout that lasts long once
//!   set; and a fine-grained password policy ([`COMPLEXITY_PSO`]) that keeps the complexity rule on,
//!   applied to single accounts by [`SambaDc::require_complexity`];
//! - the service account `tunnus` with the delegation the README asks for, on the domain root and
//!   inherited by every user object: the "Reset Password" right, and writes of `lockoutTime`,
//!   `pwdLastSet`, `userAccountControl` and the two attributes the tests use for the state and the
//!   terms; and `tunnus-reader`, with an ordinary user's rights only.
//!
//! The server runs only its LDAP service (no DNS, NetBIOS, SMB or Kerberos), on 127.0.0.1, with a
//! certificate from the test CA (with a subjectAltName, which Samba's self-made one lacks). Active
//! Directory's ports are fixed, so one domain controller can run on a machine at a time: if
//! 389, 636, 3268 or 3269 are taken, [`shared`] fails saying so.
//!
//! `samba -i` runs in the foreground under a `sh` watchdog whose standard input is a pipe held by
//! this process; Samba ends when that pipe closes (interactive mode stops at the end of its input)
//! and the watchdog also stops it and removes the folder, so the server cannot outlive the test
//! binary however it ends.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};
use tunnus::directory::LdapSettings;
use tunnus::directory::ldap::Flavour;
use url::Url;

pub const REALM: &str = "TUNNUS.TEST";
pub const DOMAIN_DN: &str = "DC=tunnus,DC=test";
pub const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=tunnus,DC=test";
pub const ADMIN_PASSWORD: &str = "Admin-Secret-2019";
pub const SERVICE_DN: &str = "CN=tunnus,CN=Users,DC=tunnus,DC=test";
pub const SERVICE_PASSWORD: &str = "tunnus service secret 1";
pub const READER_DN: &str = "CN=tunnus-reader,CN=Users,DC=tunnus,DC=test";
pub const READER_PASSWORD: &str = "tunnus reader secret 1";
pub const DOMAIN_ADMINS_DN: &str = "CN=Domain Admins,CN=Users,DC=tunnus,DC=test";
pub const DOMAIN_USERS_DN: &str = "CN=Domain Users,CN=Users,DC=tunnus,DC=test";
/// The builtin group Domain Users is a member of.
pub const BUILTIN_USERS_DN: &str = "CN=Users,CN=Builtin,DC=tunnus,DC=test";
/// The fine-grained password policy that keeps the complexity rule on.
pub const COMPLEXITY_PSO: &str =
    "CN=complexity,CN=Password Settings Container,CN=System,DC=tunnus,DC=test";

/// The attributes the tests keep the state and the terms time in, from Active Directory's own
/// schema (campuses with Exchange's schema often use `extensionAttributeN`). People may not write
/// `employeeNumber` of their own account; they may write `msDS-cloudExtensionAttributeN` (it is in
/// the Personal Information property set), which is harmless for the terms time only.
pub const STATE_ATTRIBUTE: &str = "employeeNumber";
pub const TERMS_ATTRIBUTE: &str = "msDS-cloudExtensionAttribute2";

/// The domain's (and the complexity policy's) minimum password length.
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// `userAccountControl` of an enabled and of a disabled ordinary account.
pub const NORMAL_ACCOUNT: &str = "512";
pub const DISABLED_ACCOUNT: &str = "514";

const SAMBA: &str = "/usr/sbin/samba";
const SAMBA_TOOL: &str = "/usr/bin/samba-tool";
/// What `samba-tool domain provision` reads its templates from (package `samba-ad-provision`).
const PROVISION_SETUP: &str = "/usr/share/samba/setup/provision.ldif";

/// The ports Samba's LDAP service listens on: LDAP, LDAPS and the global catalog's two.
const PORTS: [u16; 4] = [389, 636, 3268, 3269];

/// How long the server may take to listen and answer a bind after it was started.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The "Reset Password" extended right (`User-Force-Change-Password`).
const RESET_PASSWORD_RIGHT: &str = "00299570-246d-11d0-a768-00aa006e0529";
/// The `user` class, to which the delegation's entries are inherited.
const USER_CLASS: &str = "bf967aba-0de6-11d0-a285-00aa003049e2";
/// `schemaIDGUID`s of the attributes the service account may write.
const WRITABLE_ATTRIBUTES: [(&str, &str); 5] = [
    ("lockoutTime", "28630ebf-41d5-11d1-a9c1-0000f80367c1"),
    ("pwdLastSet", "bf967a0a-0de6-11d0-a285-00aa003049e2"),
    ("userAccountControl", "bf967a68-0de6-11d0-a285-00aa003049e2"),
    (STATE_ATTRIBUTE, "a8df73ef-c5ea-11d1-bbcb-0080c76670c0"),
    (TERMS_ATTRIBUTE, "f34ee0ac-c0c1-4ba9-82c9-1a90752f16a5"),
];

/// Runs Samba in the foreground with the watchdog's standard input (a pipe from the test binary),
/// records its pid, stops it once that input ends, and removes the folder. `$0` is samba, `$1` the
/// folder. (Background jobs of a non-interactive shell read /dev/null, so the pipe is kept as fd 3.)
const WATCHDOG: &str = r#"
exec 3<&0
"$0" -i -M single -s "$1/etc/smb.conf" <&3 >"$1/samba.log" 2>&1 &
pid=$!
echo "$pid" >"$1/samba.child"
cat <&3 >/dev/null
kill "$pid" 2>/dev/null
wait "$pid"
rm -rf "$1"
"#;

/// A running Samba AD domain controller.
pub struct SambaDc {
    /// `ldap://127.0.0.1:389`, for StartTLS.
    pub ldap_url: Url,
    /// `ldaps://127.0.0.1:636`.
    pub ldaps_url: Url,
    /// The CA that signed the server's certificate (PEM).
    pub ca_file: PathBuf,
    /// A CA that did not (PEM).
    pub other_ca_file: PathBuf,
    /// The delegated service account's password, as `bind_password_file` reads it.
    pub service_password_file: PathBuf,
    /// The undelegated account's password.
    pub reader_password_file: PathBuf,
    /// How long provisioning and the start took.
    pub provisioned_in: Duration,
    pub started_in: Duration,
    dir: PathBuf,
    watchdog: Child,
}

/// The domain controller all tests of this binary share; provisioned and started by the first test
/// that asks.
pub fn shared() -> &'static SambaDc {
    static SHARED: OnceLock<SambaDc> = OnceLock::new();
    SHARED.get_or_init(SambaDc::start)
}

impl SambaDc {
    fn start() -> SambaDc {
        for (path, package) in [
            (SAMBA, "samba-ad-dc"),
            (SAMBA_TOOL, "samba-ad-dc"),
            (PROVISION_SETUP, "samba-ad-provision"),
        ] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install the Debian packages `samba-ad-dc` and \
                 `samba-ad-provision` (scripts/test installs them; `{package}` holds this one)"
            );
        }
        for port in PORTS {
            if let Err(error) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                panic!(
                    "the Samba domain controller of the tests needs port {port} of 127.0.0.1, which \
                     cannot be used ({error}): another domain controller or LDAP server is \
                     listening there, or the tests do not run as root"
                );
            }
        }
        let begun = Instant::now();
        let dir = fresh_dir();
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        let (ca_file, other_ca_file) = crate::slapd::write_certificates(&dir.join("tls"));
        let key = dir.join("tls/server.key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        provision(&dir);
        prepare(&dir);
        let service_password_file = dir.join("service-password");
        crate::harness::write_secret(&service_password_file, format!("{SERVICE_PASSWORD}\n"));
        let reader_password_file = dir.join("reader-password");
        crate::harness::write_secret(&reader_password_file, format!("{READER_PASSWORD}\n"));
        let provisioned_in = begun.elapsed();

        let begun = Instant::now();
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(SAMBA)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh must be available to start samba");
        let mut dc = SambaDc {
            ldap_url: Url::parse("ldap://127.0.0.1:389").unwrap(),
            ldaps_url: Url::parse("ldaps://127.0.0.1:636").unwrap(),
            ca_file,
            other_ca_file,
            service_password_file,
            reader_password_file,
            provisioned_in,
            started_in: Duration::ZERO,
            dir,
            watchdog,
        };
        dc.wait_until_ready();
        dc.started_in = begun.elapsed();
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!(
                "samba: provisioned in {:.1?}, started in {:.1?}",
                dc.provisioned_in, dc.started_in
            );
        }
        dc
    }

    /// Waits until LDAPS answers a bind as the administrator.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let listening = TcpStream::connect((Ipv4Addr::LOCALHOST, 636)).is_ok();
            if listening && self.admin_can_bind() {
                return;
            }
            let exited = self.watchdog.try_wait().ok().flatten().is_some() || !self.samba_alive();
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("samba.log")).unwrap_or_default();
                panic!("samba did not start answering on ldaps://127.0.0.1:636:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the administrator can bind, asked from a thread of its own (this may run inside a
    /// test's runtime, which must not be blocked on).
    fn admin_can_bind(&self) -> bool {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime
                        .block_on(bind(self, &self.ldaps_url, ADMIN_DN, ADMIN_PASSWORD))
                        .is_ok()
                })
                .join()
                .unwrap()
        })
    }

    /// False once the samba the watchdog started has exited (true while its pid is not known yet).
    fn samba_alive(&self) -> bool {
        match std::fs::read_to_string(self.dir.join("samba.child")) {
            Ok(pid) if !pid.trim().is_empty() => Path::new("/proc").join(pid.trim()).exists(),
            _ => true,
        }
    }

    /// A connection over LDAPS bound as the domain's administrator.
    pub async fn admin(&self) -> Ldap {
        bind(self, &self.ldaps_url, ADMIN_DN, ADMIN_PASSWORD)
            .await
            .expect("the administrator can bind")
    }

    /// A new, empty `OU=t<N>` under the domain, for one test; returns its DN.
    pub async fn subtree(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let dn = format!("OU={name},{DOMAIN_DN}");
        add(
            &mut self.admin().await,
            &dn,
            &[("objectClass", &["organizationalUnit"]), ("ou", &[&name])],
        )
        .await;
        dn
    }

    /// Settings for the delegated service account searching under `base_dn` over LDAPS with the
    /// test CA: identity codes in `employeeID` as they are, categories in `employeeType`, the state
    /// and terms in [`STATE_ATTRIBUTE`] and [`TERMS_ATTRIBUTE`].
    pub fn settings(&self, base_dn: &str) -> LdapSettings {
        LdapSettings {
            url: Some(self.ldaps_url.clone()),
            ca_file: Some(self.ca_file.clone()),
            bind_dn: SERVICE_DN.to_owned(),
            bind_password_file: Some(self.service_password_file.clone()),
            base_dn: base_dn.to_owned(),
            user_filter: "(&(objectCategory=person)(objectClass=user))".to_owned(),
            national_id_attribute: "employeeID".to_owned(),
            national_id_format: "{hetu}".to_owned(),
            category_attribute: "employeeType".to_owned(),
            state_attribute: Some(STATE_ATTRIBUTE.to_owned()),
            terms_accepted_attribute: Some(TERMS_ATTRIBUTE.to_owned()),
            flavour: Flavour::ActiveDirectory,
            ..LdapSettings::default()
        }
    }

    /// Whether `dn` can bind with `password` (over LDAPS).
    pub async fn can_bind(&self, dn: &str, password: &str) -> bool {
        bind(self, &self.ldaps_url, dn, password).await.is_ok()
    }

    /// Active Directory's answer to a bind as `dn` with `password`: `Ok` or the bind's diagnostic
    /// (`… data 52e …`: wrong password, `data 533`: disabled, `data 775`: locked out).
    pub async fn bind_outcome(&self, dn: &str, password: &str) -> Result<(), String> {
        assert!(!password.is_empty(), "an empty password binds anonymously");
        match bind(self, &self.ldaps_url, dn, password).await {
            Ok(_) => Ok(()),
            Err(ldap3::LdapError::LdapResult { result }) => Err(result.text),
            Err(other) => panic!("bind as {dn}: {other}"),
        }
    }

    /// The values of `attribute` of `dn`, read as the administrator.
    pub async fn read(&self, dn: &str, attribute: &str) -> Vec<String> {
        let found = self
            .admin()
            .await
            .search(dn, Scope::Base, "(objectClass=*)", vec![attribute])
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|error| panic!("reading {attribute} of {dn}: {error}"));
        found
            .0
            .into_iter()
            .filter(|entry| !entry.is_ref())
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

    /// The SID of `dn` (`S-1-5-21-…`), read as the administrator.
    pub async fn sid(&self, dn: &str) -> String {
        let found = self
            .admin()
            .await
            .search(dn, Scope::Base, "(objectClass=*)", vec!["objectSid"])
            .await
            .unwrap()
            .success()
            .unwrap();
        let entry = SearchEntry::construct(found.0.into_iter().next().expect("the entry exists"));
        let bytes = entry
            .bin_attrs
            .into_values()
            .next()
            .or_else(|| {
                let text = entry.attrs.into_values().next()?;
                Some(text.into_iter().map(String::into_bytes).collect())
            })
            .and_then(|values| values.into_iter().next())
            .expect("the entry has a SID");
        let authority = bytes[2..8]
            .iter()
            .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
        let mut sid = format!("S-{}-{authority}", bytes[0]);
        for sub in bytes[8..].chunks_exact(4) {
            sid.push_str(&format!("-{}", u32::from_le_bytes(sub.try_into().unwrap())));
        }
        sid
    }

    /// What changes whenever anything is stored for `dn`: `uSNChanged` and `whenChanged`. (A
    /// successful bind may store `lastLogonTimestamp`: read this before binding.)
    pub async fn revision(&self, dn: &str) -> String {
        let usn = self.read(dn, "uSNChanged").await;
        let when = self.read(dn, "whenChanged").await;
        assert_eq!(usn.len(), 1, "{dn} has no uSNChanged");
        format!("{} at {}", usn[0], when[0])
    }

    /// Replaces `attribute` of `dn` with `values` as the administrator; panics if refused.
    pub async fn replace(&self, dn: &str, attribute: &str, values: &[&str]) {
        let values: HashSet<&str> = values.iter().copied().collect();
        self.admin()
            .await
            .modify(dn, vec![Mod::Replace(attribute, values)])
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|error| panic!("replacing {attribute} of {dn}: {error}"));
    }

    /// Adds the entry `member` to the group `group` as the administrator.
    pub async fn add_member(&self, group: &str, member: &str) {
        self.admin()
            .await
            .modify(group, vec![Mod::Add("member", HashSet::from([member]))])
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|error| panic!("adding {member} to {group}: {error}"));
    }

    /// Locks the account out as too many failed logins would: `lockoutTime` set to now.
    pub async fn lock(&self, dn: &str) {
        self.replace(dn, "lockoutTime", &[&filetime_now().to_string()])
            .await;
    }

    /// Makes the complexity policy apply to the account `dn` (it wins over the domain's settings).
    pub async fn require_complexity(&self, dn: &str) {
        self.admin()
            .await
            .modify(
                COMPLEXITY_PSO,
                vec![Mod::Add("msDS-PSOAppliesTo", HashSet::from([dn]))],
            )
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|error| panic!("applying the complexity policy to {dn}: {error}"));
    }

    /// Stops samba and waits until it and its watchdog are gone.
    pub fn stop(&mut self) {
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

impl Drop for SambaDc {
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

/// Adds an entry whose attributes may have binary values (`unicodePwd`); panics if refused.
pub async fn add_binary(admin: &mut Ldap, dn: &str, attributes: Vec<(Vec<u8>, HashSet<Vec<u8>>)>) {
    admin
        .add(dn, attributes)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|error| panic!("adding {dn} failed: {error}"));
}

/// Active Directory's `unicodePwd` value of `password`: in double quotes, UTF-16LE.
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Now as a Windows FILETIME: 100-nanosecond intervals since 1601-01-01 UTC. (The domain
/// controller compares a lockout with its own clock, so this is the real time.)
pub fn filetime_now() -> u64 {
    use tunnus::clock::Clock;
    const UNIX_EPOCH_AS_FILETIME: i128 = 116_444_736_000_000_000;
    let now = tunnus::clock::SystemClock.now();
    u64::try_from(UNIX_EPOCH_AS_FILETIME + now.unix_timestamp_nanos() / 100).unwrap()
}

async fn bind(dc: &SambaDc, url: &Url, dn: &str, password: &str) -> Result<Ldap, ldap3::LdapError> {
    let settings = LdapConnSettings::new()
        .set_config(tls_config(&dc.ca_file))
        .set_conn_timeout(Duration::from_secs(10));
    let (connection, mut ldap) = LdapConnAsync::with_settings(settings, url.as_str()).await?;
    ldap3::drive!(connection);
    ldap.simple_bind(dn, password).await?.success()?;
    Ok(ldap)
}

/// A TLS client configuration trusting only the test CA.
fn tls_config(ca_file: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tunnus-samba-{}", std::process::id()));
    // A folder left by an earlier process with the same pid would hold a stale domain.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `samba-tool` with `args`; panics with its output if it fails. Returns its standard output.
fn samba_tool(args: &[&str]) -> String {
    let output = Command::new(SAMBA_TOOL)
        .args(args)
        .output()
        .expect("samba-tool runs");
    assert!(
        output.status.success(),
        "samba-tool {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Provisions the domain into `dir`: a DC listening on 127.0.0.1 only, with nothing but its LDAP
/// service, TLS with the test CA's certificate, and its logs in `dir`.
fn provision(dir: &Path) {
    let path = |name: &str| dir.join(name).display().to_string();
    let options = [
        "interfaces = 127.0.0.1".to_owned(),
        "bind interfaces only = yes".to_owned(),
        // DNS, NetBIOS, SMB, Kerberos, replication: none is needed for LDAP.
        "server services = ldap".to_owned(),
        "tls enabled = yes".to_owned(),
        format!("tls keyfile = {}", path("tls/server.key")),
        format!("tls certfile = {}", path("tls/server.pem")),
        format!("tls cafile = {}", path("tls/ca.pem")),
        format!("log file = {}", path("log.%m")),
        "panic action = ".to_owned(),
    ];
    let mut args = vec![
        "domain".to_owned(),
        "provision".to_owned(),
        format!("--targetdir={}", dir.display()),
        format!("--realm={REALM}"),
        "--domain=TUNNUS".to_owned(),
        "--host-name=dc1".to_owned(),
        "--server-role=dc".to_owned(),
        "--use-rfc2307".to_owned(),
        "--dns-backend=SAMBA_INTERNAL".to_owned(),
        format!("--adminpass={ADMIN_PASSWORD}"),
    ];
    args.extend(options.iter().map(|option| format!("--option={option}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    samba_tool(&args);
    // The previous password keeps working for an hour after a change by default (as Windows'
    // OldPasswordAllowedPeriod does for NTLM logons); the tests check that it stops at once.
    // Provisioning does not copy this option into smb.conf, so it is added here.
    let conf = dir.join("etc/smb.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = text.replacen(
        "[global]\n",
        "[global]\n\told password allowed period = 0\n",
        1,
    );
    std::fs::write(&conf, text).unwrap();
}

/// The password settings, the service accounts and their delegation, and the complexity policy
/// (see the module's documentation), written to the domain's database before the server starts.
fn prepare(dir: &Path) {
    let database = dir.join("private/sam.ldb").display().to_string();
    let h = ["-H", database.as_str()];
    let min_length = MIN_PASSWORD_LENGTH.to_string();
    let policy = [
        "--history-length=24",
        "--min-pwd-age=0",
        "--max-pwd-age=0",
        "--account-lockout-threshold=0",
        // How long a lockout set by hand (`lockoutTime`) lasts: longer than any test run.
        "--account-lockout-duration=99999",
        "--reset-account-lockout-after=30",
    ];
    let mut args = vec!["domain", "passwordsettings", "set", "--complexity=off"];
    let min = format!("--min-pwd-length={min_length}");
    args.push(&min);
    args.extend(policy);
    args.extend(h);
    samba_tool(&args);
    let mut args = vec![
        "domain",
        "passwordsettings",
        "pso",
        "create",
        "complexity",
        "1",
        "--complexity=on",
        &min,
    ];
    args.extend(policy);
    args.extend(h);
    samba_tool(&args);

    samba_tool(&["user", "create", "tunnus", SERVICE_PASSWORD, h[0], h[1]]);
    samba_tool(&[
        "user",
        "create",
        "tunnus-reader",
        READER_PASSWORD,
        h[0],
        h[1],
    ]);
    let shown = samba_tool(&[
        "user",
        "show",
        "tunnus",
        "--attributes=objectSid",
        h[0],
        h[1],
    ]);
    let sid = shown
        .lines()
        .find_map(|line| line.strip_prefix("objectSid: "))
        .expect("samba-tool shows the service account's SID")
        .trim()
        .to_owned();
    let mut aces = format!("(OA;CIIO;CR;{RESET_PASSWORD_RIGHT};{USER_CLASS};{sid})");
    for (_, guid) in WRITABLE_ATTRIBUTES {
        aces.push_str(&format!("(OA;CIIO;WP;{guid};{USER_CLASS};{sid})"));
    }
    samba_tool(&[
        "dsacl",
        "set",
        "--objectdn",
        DOMAIN_DN,
        "--sddl",
        &aces,
        h[0],
        h[1],
    ]);
}
