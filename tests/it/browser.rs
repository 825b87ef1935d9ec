//! The pages in a real browser: headless Chromium driven through chromedriver (WebDriver).
//!
//! Every journey runs in Finnish, Swedish and English, at a phone and at a desktop viewport. Every
//! page of the service gets the axe-core audit (WCAG 2.0/2.1 A and AA), a check that each label
//! names a field of its own form, a check that nothing scrolls sideways (also at 320 px on the
//! phone), and a screenshot under `target/screenshots/`. Beside the journeys: keyboard focus,
//! 200 % zoom, the show/hide password button, and the whole reset with JavaScript turned off. The
//! helpdesk channel's pages are in [`crate::browser_helpdesk`], with these helpers.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core in `tests/browser/node_modules`
//! (`scripts/test` installs all three).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, Semaphore};
use tunnus::i18n::{Catalog, Lang, Texts};
use url::Url;

use crate::harness::{Options, TestApp, repo_path};
use crate::ports::{ATTEMPTS, Ports, StartFailure};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const AXE: &str = "tests/browser/node_modules/axe-core/axe.min.js";

/// A password every check accepts: long, not common, nothing personal.
pub(crate) const GOOD_PASSWORD: &str = "kuusi sinistä kamelia tanssii Oulussa";

/// At most this many browsers at once in one test binary: the machine has two cores.
static SESSIONS: Semaphore = Semaphore::const_new(2);

/// Where a page is looked at.
#[derive(Clone, Copy)]
pub(crate) struct Viewport {
    pub(crate) name: &'static str,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// A phone is also checked at the narrowest width the pages must fit (WCAG reflow).
    pub(crate) phone: bool,
}

pub(crate) const PHONE: Viewport = Viewport {
    name: "phone",
    width: 360,
    height: 740,
    phone: true,
};
pub(crate) const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1280,
    height: 900,
    phone: false,
};
/// A 1280-px desktop at 200 % zoom lays out in 640 CSS pixels.
pub(crate) const ZOOMED: Viewport = Viewport {
    name: "zoom200",
    width: 640,
    height: 450,
    phone: false,
};
const NARROWEST: u32 = 320;

// ---------------------------------------------------------------------------------------------
// chromedriver and browser sessions

/// The one chromedriver of this test binary.
struct Chromedriver {
    url: String,
    /// A shell that kills chromedriver (and the browsers it started) when its standard input closes,
    /// which happens when this test binary exits, however it exits.
    _watchdog: Child,
}

async fn chromedriver() -> &'static str {
    static DRIVER: OnceCell<Chromedriver> = OnceCell::const_new();
    &DRIVER.get_or_init(start_chromedriver).await.url
}

async fn start_chromedriver() -> Chromedriver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install the Debian packages chromium and chromium-driver \
             (scripts/test installs them)"
        );
    }
    // chromedriver cannot be handed a bound socket: it gets a port that was free a moment ago,
    // and another one when something took that port before chromedriver could bind it.
    let mut ports = Ports::free();
    let mut taken = Vec::new();
    for _ in 0..ATTEMPTS {
        match try_start_chromedriver(ports.next()).await {
            Ok(driver) => return driver,
            Err(StartFailure::PortTaken(detail)) => taken.push(detail),
            Err(StartFailure::Other(detail)) => panic!("chromedriver did not start: {detail}"),
        }
    }
    panic!(
        "chromedriver did not start: another process took its port each of the {ATTEMPTS} \
         times:\n{}",
        taken.join("\n")
    );
}

/// What chromedriver prints (as it exits) when its port is taken.
const DRIVER_PORT_TAKEN: &str = "port not available";

async fn try_start_chromedriver(port: u16) -> Result<Chromedriver, StartFailure> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let log = std::env::temp_dir().join(format!(
        "tunnus-it-chromedriver-{}-{}.log",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    // `setsid` gives chromedriver a process group of its own, so one kill reaches its browsers too.
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(
            r#"setsid "$0" --port="$1" --log-level=OFF </dev/null >"$2" 2>&1 &
driver=$!
cat >/dev/null
kill -TERM -"$driver" 2>/dev/null || kill -TERM "$driver" 2>/dev/null"#,
        )
        .arg(CHROMEDRIVER)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("could not start sh for chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let outcome = wait_until_ready(&url, &log).await;
    // chromedriver keeps the file open; nothing more is read from it.
    let _ = std::fs::remove_file(&log);
    match outcome {
        Ok(()) => Ok(Chromedriver {
            url,
            _watchdog: watchdog,
        }),
        Err(failure) => {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
            Err(failure)
        }
    }
}

/// Polls chromedriver's `/status` until it says it is ready, or chromedriver says its port was
/// taken. (Its other output is buffered until it exits, so nothing it prints proves the answering
/// chromedriver is this one; one that took the port first is a chromedriver all the same.)
async fn wait_until_ready(url: &str, log: &Path) -> Result<(), StartFailure> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = format!("{url}/status");
    loop {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        if said.contains(DRIVER_PORT_TAKEN) {
            return Err(StartFailure::PortTaken(format!("{url}: {said}")));
        }
        let ready = match reqwest::get(&status).await {
            Ok(answer) => answer
                .json::<Value>()
                .await
                .is_ok_and(|body| body["value"]["ready"] == true),
            Err(_) => false,
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StartFailure::Other(format!(
                "not ready at {url} in time; it said: {said}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How a browser session starts.
#[derive(Clone, Copy, Default)]
pub(crate) struct BrowserOptions {
    pub(crate) javascript_off: bool,
    pub(crate) device_scale: Option<u32>,
}

/// A fresh profile directory for one browser, removed when this is dropped.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Profile {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tunnus-chromium-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("could not create a browser profile directory");
        Profile(path)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `body` in a new headless Chromium and closes the browser afterwards, also when `body`
/// panics (the panic is passed on).
pub(crate) async fn in_browser<F, Fut>(options: BrowserOptions, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let _permit = SESSIONS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let profile = Profile::new();
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", profile.0.display()),
    ];
    if let Some(scale) = options.device_scale {
        args.push(format!("--force-device-scale-factor={scale}"));
    }
    let mut chrome_options = json!({ "binary": CHROMIUM, "args": args });
    if options.javascript_off {
        chrome_options["prefs"] =
            json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), chrome_options);
    let client = ClientBuilder::rustls()
        .expect("rustls client for chromedriver")
        .capabilities(capabilities)
        .connect(chromedriver().await)
        .await
        .expect("chromedriver could not start Chromium");
    let outcome = tokio::spawn(body(client.clone())).await;
    let _ = client.close().await;
    drop(profile);
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the browser test was cancelled: {error}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Looking at a page

/// Sizes the window so that the page's viewport is `width` × `height` CSS pixels.
pub(crate) async fn set_viewport(client: &Client, width: u32, height: u32) {
    let wanted = (i64::from(width), i64::from(height));
    let mut window = wanted;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (w, h) = (window.0.max(1) as u32, window.1.max(1) as u32);
        client.set_window_size(w, h).await.expect("set window size");
        let inner = viewport_after_resize(client).await;
        seen.push((window, inner));
        if inner == wanted {
            return;
        }
        // The window's frame (its size as the browser reports it is not reliable) takes the rest.
        window = (window.0 + wanted.0 - inner.0, window.1 + wanted.1 - inner.1);
    }
    panic!(
        "the browser did not size its viewport to {width}×{height}: (window, viewport) {seen:?}"
    );
}

/// The viewport's size once the page has laid out again after a resize.
async fn viewport_after_resize(client: &Client) -> (i64, i64) {
    let size = script(
        client,
        r#"return new Promise(function (resolve) {
            requestAnimationFrame(function () {
                requestAnimationFrame(function () {
                    resolve([window.innerWidth, window.innerHeight]);
                });
            });
        });"#,
    )
    .await;
    (i64::from(as_u32(&size[0])), i64::from(as_u32(&size[1])))
}

fn as_u32(value: &Value) -> u32 {
    value
        .as_f64()
        .map(|v| v.round() as u32)
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

pub(crate) async fn script(client: &Client, source: &str) -> Value {
    client
        .execute(source, vec![])
        .await
        .unwrap_or_else(|error| panic!("script failed: {error}\n{source}"))
}

/// Waits until the browser shows a page whose URL satisfies `wanted`.
pub(crate) async fn wait_for_url(
    client: &Client,
    what: &str,
    wanted: impl Fn(&Url) -> bool,
) -> Url {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = client.current_url().await.expect("current url");
        if wanted(&url) && ready_state(client).await {
            return url;
        }
        if Instant::now() >= deadline {
            let shown = client
                .execute("return document.body.innerText;", vec![])
                .await
                .unwrap_or_default();
            panic!("never reached {what}; at {url}, showing:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready_state(client: &Client) -> bool {
    client
        .execute("return document.readyState;", vec![])
        .await
        .is_ok_and(|state| state == "complete")
}

pub(crate) async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client
            .wait()
            .at_most(left)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => return element,
            // A form just sent may still be navigating: chromedriver then aborts the lookup rather
            // than waiting, and the page it leads to is looked at again.
            Err(error)
                if !left.is_zero() && error.to_string().contains("aborted by navigation") =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => {
                let shown = client
                    .execute("return document.body.innerText;", vec![])
                    .await
                    .unwrap_or_default();
                panic!("no {css} on the page ({error}); it shows:\n{shown}")
            }
        }
    }
}

/// Waits until the element `css` of a fully loaded page shows `text`: after a form is sent, the
/// page before it may still be there (with an element of the same name that goes stale).
pub(crate) async fn wait_for_text(client: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(shown) = element.text().await
            && shown.contains(text)
            && ready_state(client).await
        {
            return;
        }
        if Instant::now() >= deadline {
            let shown = client
                .execute("return document.body.innerText;", vec![])
                .await
                .unwrap_or_default();
            panic!("{css} never showed {text:?}; the page shows:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    find(client, css).await.text().await.expect("element text")
}

pub(crate) async fn click(client: &Client, css: &str) {
    find(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|error| panic!("could not click {css}: {error}"));
}

pub(crate) async fn type_into(client: &Client, css: &str, text: &str) {
    find(client, css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|error| panic!("could not type into {css}: {error}"));
}

/// Where a journey's pages are looked at, and in which language.
pub(crate) struct Visit<'a> {
    pub(crate) client: &'a Client,
    pub(crate) lang: Lang,
    pub(crate) viewport: Viewport,
}

impl Visit<'_> {
    /// Every check a page of the service gets, then its screenshot.
    pub(crate) async fn check(&self, page: &str) {
        let html_lang = script(self.client, "return document.documentElement.lang;").await;
        assert_eq!(
            html_lang,
            self.lang.code(),
            "{page} is not in the chosen language"
        );
        audit(self.client, page, SERVICE_RULES).await;
        assert_labels_name_their_own_fields(self.client, page).await;
        assert_no_sideways_scroll(self.client, page, self.viewport.width).await;
        if self.viewport.phone {
            set_viewport(self.client, NARROWEST, self.viewport.height).await;
            assert_no_sideways_scroll(self.client, page, NARROWEST).await;
            set_viewport(self.client, self.viewport.width, self.viewport.height).await;
        }
        self.screenshot(page).await;
    }

    /// Writes `target/screenshots/{lang}-{viewport}-{page}.png`, of the whole page.
    pub(crate) async fn screenshot(&self, page: &str) {
        let full = script(
            self.client,
            "return Math.max(document.documentElement.scrollHeight, window.innerHeight);",
        )
        .await;
        let height = as_u32(&full).min(6000);
        if height > self.viewport.height {
            set_viewport(self.client, self.viewport.width, height).await;
        }
        let png = self.client.screenshot().await.expect("screenshot");
        if height > self.viewport.height {
            set_viewport(self.client, self.viewport.width, self.viewport.height).await;
        }
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create the screenshot directory");
        let name = format!("{}-{}-{page}.png", self.lang.code(), self.viewport.name);
        std::fs::write(dir.join(name), png).expect("write a screenshot");
    }
}

/// `target/screenshots`, beside the test binary's own `target/debug/deps`.
fn screenshot_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| repo_path("target"))
        .join("screenshots")
}

/// Null when nothing is wider than the viewport; otherwise what sticks out.
async fn sideways_overflow(client: &Client) -> Value {
    script(
        client,
        r##"const root = document.documentElement;
        if (root.scrollWidth <= root.clientWidth) { return null; }
        const wide = [];
        for (const el of document.querySelectorAll("body *")) {
            const box = el.getBoundingClientRect();
            if (box.right > root.clientWidth + 0.5 && wide.length < 8) {
                wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                    + (el.className ? "." + String(el.className).replace(/ /g, ".") : "")
                    + " right=" + Math.round(box.right));
            }
        }
        return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide: wide };"##,
    )
    .await
}

async fn assert_no_sideways_scroll(client: &Client, page: &str, width: u32) {
    let overflow = sideways_overflow(client).await;
    assert!(
        overflow.is_null(),
        "{page} scrolls sideways at {width} px: {overflow:#}"
    );
}

/// Every id is used once and every label's field is in the label's own form. axe-core no longer
/// checks for repeated ids (WCAG 2.2 made the parsing criterion obsolete), but a label whose `for`
/// names a repeated id ticks or names the field of another form: clicking it changes the wrong form.
async fn assert_labels_name_their_own_fields(client: &Client, page: &str) {
    let problems = label_problems(client).await;
    assert!(
        problems.is_null(),
        "{page} repeats ids or has labels of fields in another form: {problems}"
    );
}

/// Null when every id is used once and every label's field is in its form; otherwise the ids.
async fn label_problems(client: &Client) -> Value {
    script(
        client,
        r#"const seen = new Set();
        const repeated = [];
        for (const el of document.querySelectorAll("[id]")) {
            if (seen.has(el.id)) { repeated.push(el.id); }
            seen.add(el.id);
        }
        const astray = [];
        for (const label of document.querySelectorAll("label[for]")) {
            const field = document.getElementById(label.htmlFor);
            if (!field || field.closest("form") !== label.closest("form")) {
                astray.push(label.htmlFor);
            }
        }
        return repeated.length || astray.length ? { repeated: repeated, astray: astray } : null;"#,
    )
    .await
}

/// The axe-core source, read once.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        std::fs::read_to_string(repo_path(AXE)).unwrap_or_else(|error| {
            panic!(
                "{AXE}: {error}; install it with `npm ci --prefix tests/browser` \
                 (scripts/test does)"
            )
        })
    })
}

/// axe-core's rules for WCAG 2.0 and 2.1, levels A and AA.
pub(crate) const WCAG_21_AA: &[&str] = &["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
/// The service's own pages are held to more: also WCAG 2.2 AA (target size matters on a phone) and
/// axe-core's best practices (one main landmark, heading order, ...).
const SERVICE_RULES: &[&str] = &[
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22aa",
    "best-practice",
];

/// The violations axe-core finds on the current page with the rules tagged `tags`.
async fn axe_violations(client: &Client, tags: &[&str]) -> Vec<Value> {
    let loaded = script(client, "return typeof window.axe;").await;
    if loaded != "object" {
        // Injected through WebDriver, which the page's content security policy does not govern.
        script(client, axe_source()).await;
    }
    let result = client
        .execute(
            r#"return axe.run(document, {
            runOnly: { type: "tag", values: arguments[0] }
        }).then(function (result) {
            return {
                passes: result.passes.length,
                violations: result.violations.map(function (v) {
                    return {
                        id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(function (n) {
                            return { target: n.target.join(" "), html: n.html, summary: n.failureSummary };
                        })
                    };
                })
            };
        });"#,
            vec![json!(tags)],
        )
        .await
        .unwrap_or_else(|error| panic!("axe-core failed: {error}"));
    // An audit that checked nothing would pass anything.
    assert!(
        result["passes"].as_u64().is_some_and(|n| n > 0),
        "axe-core did not run: {result}"
    );
    result["violations"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("axe-core gave no violations list: {result}"))
}

/// Runs axe-core on the page and fails with every violation it finds.
pub(crate) async fn audit(client: &Client, page: &str, tags: &[&str]) {
    let violations = axe_violations(client, tags).await;
    if violations.is_empty() {
        return;
    }
    let mut report = String::new();
    for violation in &violations {
        report.push_str(&format!(
            "\n- {} ({}): {}\n",
            violation["id"].as_str().unwrap_or("?"),
            violation["impact"].as_str().unwrap_or("?"),
            violation["help"].as_str().unwrap_or("?"),
        ));
        for node in violation["nodes"].as_array().into_iter().flatten() {
            report.push_str(&format!(
                "    at {}: {}\n      {}\n",
                node["target"].as_str().unwrap_or("?"),
                node["html"].as_str().unwrap_or("?"),
                node["summary"]
                    .as_str()
                    .unwrap_or("?")
                    .replace('\n', "\n      "),
            ));
        }
    }
    panic!(
        "axe-core found {} accessibility violation(s) on {page}:{report}",
        violations.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The journeys

/// A service configured as a campus would: its name, logo, links and terms of use.
async fn campus_app() -> TestApp {
    TestApp::spawn_with(Options {
        service_toml: campus_ui(),
        ..Options::default()
    })
    .await
}

/// The `[ui]` settings of a campus: its name, logo, links and terms of use.
pub(crate) fn campus_ui() -> String {
    format!(
        r#"
        [ui]
        organisation = {{ fi = "Esimerkin ammattikorkeakoulu", sv = "Exempel yrkeshögskola", en = "Example University of Applied Sciences" }}
        logo = "{logo}"
        helpdesk_url = "https://helpdesk.example.fi/"
        service_request_url = "https://requests.example.fi/"
        service_points_url = "https://www.example.fi/service-points"
        hr_url = "https://intra.example.fi/hr"
        terms_url = "https://www.example.fi/it-rules"
        login_url = "https://login.example.fi/"
        "#,
        logo = repo_path("config/examples/logo.svg").display()
    )
}

pub(crate) fn texts(lang: Lang) -> Texts {
    Catalog::load()
        .expect("the built-in texts load")
        .texts(lang)
        .clone()
}

/// Opens the landing page in `lang`, checks it, and presses the start button; returns at the
/// broker's login page, checked to be in the same language.
pub(crate) async fn to_broker(visit: &Visit<'_>, app: &TestApp) {
    let client = visit.client;
    let mut landing = app.at("/");
    landing.set_query(Some(&format!("lang={}", visit.lang.code())));
    client.goto(landing.as_str()).await.expect("open landing");
    assert_eq!(
        text_of(client, "h1").await,
        texts(visit.lang).landing_title,
        "landing page heading"
    );
    visit.check("landing").await;
    click(client, "form.start button[type=submit]").await;
    let issuer = app.issuer.clone();
    let authorize = wait_for_url(client, "the broker", |url| {
        url.as_str().starts_with(&issuer)
    })
    .await;
    let ui_locales = authorize
        .query_pairs()
        .find(|(key, _)| key == "ui_locales")
        .map(|(_, value)| value.into_owned());
    if let Some(ui_locales) = ui_locales {
        assert!(
            ui_locales.starts_with(visit.lang.code()),
            "ui_locales {ui_locales} in the {} journey",
            visit.lang.code()
        );
    }
    let broker_lang = script(client, "return document.documentElement.lang;").await;
    assert_eq!(
        broker_lang,
        visit.lang.code(),
        "the broker's page is not in the chosen language"
    );
    audit(client, "the mock broker's login page", WCAG_21_AA).await;
    visit.screenshot("broker").await;
}

/// At the broker, picks the test person with identity code `hetu` and waits for the service.
async fn pick_person(client: &Client, app: &TestApp, hetu: &str) {
    let index = app.person(hetu);
    click(client, &format!("button[name=person][value=\"{index}\"]")).await;
    back_at_service(client, app).await;
}

pub(crate) async fn back_at_service(client: &Client, app: &TestApp) -> Url {
    let origin = app.url.origin();
    wait_for_url(client, "the service", |url| url.origin() == origin).await
}

/// Runs `journey` at the phone and then at the desktop viewport, each against a fresh service and
/// with no cookies left from before.
pub(crate) async fn at_each_viewport<J, Fut>(lang: Lang, options: BrowserOptions, journey: J)
where
    J: Fn(Client, Lang, Viewport) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    in_browser(options, move |client| async move {
        for viewport in [PHONE, DESKTOP] {
            set_viewport(&client, viewport.width, viewport.height).await;
            journey(client.clone(), lang, viewport).await;
            client.delete_all_cookies().await.expect("delete cookies");
        }
    })
    .await;
}

async fn activation(client: Client, lang: Lang, viewport: Viewport) {
    let app = campus_app().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    to_broker(&visit, &app).await;
    pick_person(&client, &app, "010200A9618").await;
    wait_for_heading(&client, &t.activate_title).await;
    assert_eq!(text_of(&client, ".username").await, "eemake");
    assert_eq!(
        text_of(&client, "a[href=\"https://www.example.fi/it-rules\"]").await,
        t.terms_link
    );
    visit.check("activation").await;
    click(&client, "#accept_terms").await;
    type_into(&client, "#password", GOOD_PASSWORD).await;
    type_into(&client, "#confirmation", GOOD_PASSWORD).await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.activated_title).await;
    assert_eq!(text_of(&client, ".username").await, "eemake");
    assert_eq!(
        text_of(&client, "a.button[href=\"https://login.example.fi/\"]").await,
        t.back_to_login
    );
    visit.check("activated").await;
}

async fn reset(client: Client, lang: Lang, viewport: Viewport) {
    let app = TestApp::spawn().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    to_broker(&visit, &app).await;
    pick_person(&client, &app, "010170-999R").await;
    wait_for_heading(&client, &t.reset_title).await;
    assert_eq!(text_of(&client, ".username").await, "tetyra");
    visit.check("reset").await;
    type_into(&client, "#password", GOOD_PASSWORD).await;
    type_into(&client, "#confirmation", GOOD_PASSWORD).await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.reset_done_title).await;
    visit.check("reset-done").await;
}

async fn cancel(client: Client, lang: Lang, viewport: Viewport) {
    let app = TestApp::spawn().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    to_broker(&visit, &app).await;
    click(&client, "button[name=cancel]").await;
    back_at_service(&client, &app).await;
    wait_for_heading(&client, &texts(lang).cancelled_title).await;
    visit.check("cancelled").await;
}

async fn refusal(client: Client, lang: Lang, viewport: Viewport) {
    let app = campus_app().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    to_broker(&visit, &app).await;
    pick_person(&client, &app, "170677-924F").await;
    wait_for_heading(&client, &texts(lang).ineligible_category_title).await;
    visit.check("refusal").await;
}

/// A too short password and no accepted terms: both refused next to their fields, the form kept.
async fn password_refusal(client: Client, lang: Lang, viewport: Viewport) {
    let app = TestApp::spawn().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    to_broker(&visit, &app).await;
    pick_person(&client, &app, "010200A9618").await;
    let min_length: usize = find(&client, "#password")
        .await
        .attr("minlength")
        .await
        .expect("minlength")
        .and_then(|value| value.parse().ok())
        .expect("the password field states its minimum length");
    let short = "Kissa7".repeat(2)[..min_length - 1].to_owned();
    type_into(&client, "#password", &short).await;
    type_into(&client, "#confirmation", &short).await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.activate_title).await;
    let too_short = t
        .violation_too_short
        .replace("{n}", &min_length.to_string());
    assert!(
        text_of(&client, "#password-error")
            .await
            .contains(&too_short),
        "the error under the password field does not say it is too short"
    );
    assert_next_to(&client, "#password", "#password-error").await;
    assert_next_to(&client, "#accept_terms", "#accept_terms-error").await;
    assert_eq!(
        text_of(&client, "#accept_terms-error").await,
        t.terms_required
    );
    visit.check("activation-errors").await;
    assert_problem_summary(
        &client,
        &[
            ("#accept_terms", t.terms_required.as_str()),
            ("#password", too_short.as_str()),
        ],
    )
    .await;

    // Then two different passwords.
    click(&client, "#accept_terms").await;
    type_into(&client, "#password", GOOD_PASSWORD).await;
    type_into(&client, "#confirmation", &GOOD_PASSWORD.to_uppercase()).await;
    click(&client, "form button.primary").await;
    wait_for_text(&client, "#confirmation-error", &t.password_mismatch).await;
    assert_eq!(
        text_of(&client, "#confirmation-error").await,
        t.password_mismatch
    );
    assert_next_to(&client, "#confirmation", "#confirmation-error").await;
    visit.check("activation-mismatch").await;
    assert_problem_summary(&client, &[("#confirmation", t.password_mismatch.as_str())]).await;
}

/// The error belongs to the field: announced with it (`aria-describedby`, `aria-invalid`) and shown
/// right above it, below its label.
async fn assert_next_to(client: &Client, field: &str, error: &str) {
    let facts = script(
        client,
        &format!(
            r#"const field = document.querySelector("{field}");
            const error = document.querySelector("{error}");
            const box = error.getBoundingClientRect();
            return {{
                describedby: (field.getAttribute("aria-describedby") || "").split(" "),
                invalid: field.getAttribute("aria-invalid"),
                sameField: field.closest(".field") === error.closest(".field"),
                gap: field.getBoundingClientRect().top - box.bottom,
                visible: box.height > 0
            }};"#
        ),
    )
    .await;
    let error_id = error.trim_start_matches('#');
    assert!(
        facts["describedby"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id == error_id)),
        "{field} is not described by {error}: {facts}"
    );
    assert_eq!(facts["invalid"], "true", "{field} is not marked invalid");
    assert_eq!(
        facts["sameField"], true,
        "{error} is not in {field}'s field"
    );
    assert_eq!(facts["visible"], true, "{error} is not visible");
    let gap = facts["gap"].as_f64().unwrap_or(f64::MAX);
    assert!(
        (0.0..=40.0).contains(&gap),
        "{error} is not right above {field}: {facts}"
    );
}

/// The summary of problems at the top has the focus and links each problem to its field.
pub(crate) async fn assert_problem_summary(client: &Client, links: &[(&str, &str)]) {
    let focused = script(client, "return document.activeElement.id;").await;
    assert_eq!(
        focused, "form-problem",
        "the problem summary does not have the focus"
    );
    for (target, text) in links {
        let link = find(client, &format!("#form-problem a[href=\"{target}\"]")).await;
        let shown = link.text().await.expect("link text");
        assert!(
            shown.contains(text),
            "the summary's link to {target} says {shown:?}, not {text:?}"
        );
    }
    // Following a link puts the cursor into the field.
    let (target, _) = links[0];
    click(client, &format!("#form-problem a[href=\"{target}\"]")).await;
    let focused = script(client, "return '#' + document.activeElement.id;").await;
    assert_eq!(
        focused, target,
        "the summary's link did not move to the field"
    );
}

pub(crate) async fn wait_for_heading(client: &Client, heading: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = match client.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now == heading && ready_state(client).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected the page {heading:?}, the browser shows {now:?} at {}",
            client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pages reached without a journey: a callback without parameters and an unknown address.
async fn error_pages(client: Client, lang: Lang, viewport: Viewport) {
    let app = campus_app().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport,
    };
    let t = texts(lang);
    let mut landing = app.at("/");
    landing.set_query(Some(&format!("lang={}", lang.code())));
    client.goto(landing.as_str()).await.expect("open landing");
    client
        .goto(app.at("/callback").as_str())
        .await
        .expect("open callback");
    wait_for_heading(&client, &t.error_bad_request_title).await;
    visit.check("error").await;
    client
        .goto(app.at("/no-such-page").as_str())
        .await
        .expect("open an unknown page");
    wait_for_heading(&client, &t.error_not_found_title).await;
    visit.check("not-found").await;
}

// ---------------------------------------------------------------------------------------------
// One test per journey and language

macro_rules! in_each_language {
    ($($test:ident => $journey:ident),* $(,)?) => {$(
        mod $test {
            use tunnus::i18n::Lang;

            #[tokio::test]
            async fn in_finnish() {
                super::at_each_viewport(Lang::Fi, Default::default(), super::$journey).await;
            }

            #[tokio::test]
            async fn in_swedish() {
                super::at_each_viewport(Lang::Sv, Default::default(), super::$journey).await;
            }

            #[tokio::test]
            async fn in_english() {
                super::at_each_viewport(Lang::En, Default::default(), super::$journey).await;
            }
        }
    )*};
}
pub(crate) use in_each_language;

in_each_language! {
    a_new_account_is_activated => activation,
    a_forgotten_password_is_replaced => reset,
    a_cancelled_identification_ends_on_the_cancelled_page => cancel,
    an_external_account_is_refused_with_other_ways => refusal,
    a_too_short_password_is_refused_next_to_the_field => password_refusal,
    the_error_pages_are_accessible => error_pages,
}

// ---------------------------------------------------------------------------------------------
// Keyboard, zoom, the show/hide button, and no JavaScript

/// Presses Tab until `css` has the focus (at most `limit` times).
pub(crate) async fn tab_to(client: &Client, css: &str, limit: usize) {
    for _ in 0..limit {
        let tab = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            });
        client.perform_actions(tab).await.expect("press Tab");
        let focused = script(
            client,
            &format!("return document.activeElement.matches({css:?});"),
        )
        .await;
        if focused == true {
            return;
        }
    }
    panic!("{css} was not reached with {limit} presses of Tab");
}

/// The focused element shows an outline that stands out from the page (3:1, WCAG non-text contrast).
pub(crate) async fn assert_visible_focus(client: &Client, what: &str) {
    let style = script(
        client,
        r#"const style = getComputedStyle(document.activeElement);
        const box = document.activeElement.getBoundingClientRect();
        return {
            outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
            colour: style.outlineColor,
            background: getComputedStyle(document.body).backgroundColor,
            onScreen: box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0
                && box.right <= window.innerWidth && box.bottom <= window.innerHeight
        };"#,
    )
    .await;
    assert_eq!(
        style["onScreen"], true,
        "{what} has the focus but is not in view"
    );
    assert_ne!(style["outline"], "none", "{what} has no focus outline");
    assert!(
        style["width"].as_f64().unwrap_or(0.0) >= 2.0,
        "{what}'s focus outline is too thin: {style}"
    );
    let ratio = contrast(
        style["colour"].as_str().unwrap_or_default(),
        style["background"].as_str().unwrap_or_default(),
    );
    assert!(
        ratio >= 3.0,
        "{what}'s focus outline contrasts {ratio:.2}:1 with the page: {style}"
    );
}

/// The WCAG contrast ratio of two `rgb(...)` colours.
fn contrast(a: &str, b: &str) -> f64 {
    fn luminance(colour: &str) -> f64 {
        let channels: Vec<f64> = colour
            .trim_start_matches("rgba(")
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .take(3)
            .map(|c| c.trim().parse::<f64>().unwrap_or(0.0) / 255.0)
            .map(|c| {
                if c <= 0.03928 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            })
            .collect();
        assert_eq!(channels.len(), 3, "not a colour: {colour}");
        0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    }
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[tokio::test]
async fn the_start_button_and_password_fields_are_reached_with_tab_and_show_focus() {
    in_browser(BrowserOptions::default(), |client| async move {
        let app = TestApp::spawn().await;
        set_viewport(&client, DESKTOP.width, DESKTOP.height).await;
        client
            .goto(app.at("/?lang=en").as_str())
            .await
            .expect("open landing");
        tab_to(&client, "a.skip", 1).await;
        assert_visible_focus(&client, "the skip link").await;
        tab_to(&client, "form.start button", 10).await;
        assert_visible_focus(&client, "the start button").await;
        client
            .perform_actions(
                KeyActions::new("keyboard".to_owned())
                    .then(KeyAction::Down {
                        value: Key::Enter.into(),
                    })
                    .then(KeyAction::Up {
                        value: Key::Enter.into(),
                    }),
            )
            .await
            .expect("press Enter");
        let issuer = app.issuer.clone();
        wait_for_url(&client, "the broker", |url| {
            url.as_str().starts_with(&issuer)
        })
        .await;
        pick_person(&client, &app, "010170-999R").await;
        tab_to(&client, "#password", 20).await;
        assert_visible_focus(&client, "the password field").await;
        tab_to(&client, "#confirmation", 3).await;
        assert_visible_focus(&client, "the confirmation field").await;
        tab_to(&client, "form button.primary", 3).await;
        assert_visible_focus(&client, "the submit button").await;
    })
    .await;
}

#[tokio::test]
async fn the_show_password_button_toggles_the_field() {
    in_browser(BrowserOptions::default(), |client| async move {
        let app = TestApp::spawn().await;
        let t = texts(Lang::En);
        client
            .goto(app.at("/?lang=en").as_str())
            .await
            .expect("open landing");
        click(&client, "form.start button").await;
        let issuer = app.issuer.clone();
        wait_for_url(&client, "the broker", |url| {
            url.as_str().starts_with(&issuer)
        })
        .await;
        pick_person(&client, &app, "010170-999R").await;
        let field = find(&client, "#password").await;
        let toggle = find(&client, "#password + button.toggle").await;
        assert_eq!(toggle.text().await.expect("text"), t.show_password);
        assert_eq!(
            field.attr("type").await.expect("type").as_deref(),
            Some("password")
        );
        toggle.click().await.expect("click show");
        assert_eq!(
            field.attr("type").await.expect("type").as_deref(),
            Some("text")
        );
        assert_eq!(toggle.text().await.expect("text"), t.hide_password);
        assert_eq!(
            toggle
                .attr("aria-controls")
                .await
                .expect("controls")
                .as_deref(),
            Some("password")
        );
        toggle.click().await.expect("click hide");
        assert_eq!(
            field.attr("type").await.expect("type").as_deref(),
            Some("password")
        );
        assert_eq!(toggle.text().await.expect("text"), t.show_password);
        // Sent while shown: hidden again first.
        field.send_keys(GOOD_PASSWORD).await.expect("type");
        toggle.click().await.expect("click show");
        let type_on_submit = script(
            &client,
            r#"const field = document.getElementById("password");
            let type = null;
            field.form.addEventListener("submit", function (event) {
                type = field.type;
                event.preventDefault();
            });
            field.form.requestSubmit();
            return type;"#,
        )
        .await;
        assert_eq!(type_on_submit, "password", "the password was sent as text");
    })
    .await;
}

#[tokio::test]
async fn the_whole_reset_works_without_javascript() {
    let options = BrowserOptions {
        javascript_off: true,
        ..BrowserOptions::default()
    };
    in_browser(options, |client| async move {
        let app = TestApp::spawn().await;
        let t = texts(Lang::Fi);
        client
            .goto(app.at("/?lang=fi").as_str())
            .await
            .expect("open landing");
        click(&client, "form.start button").await;
        let issuer = app.issuer.clone();
        wait_for_url(&client, "the broker", |url| {
            url.as_str().starts_with(&issuer)
        })
        .await;
        pick_person(&client, &app, "010170-999R").await;
        wait_for_heading(&client, &t.reset_title).await;
        let toggles = client
            .find_all(Locator::Css("button.toggle"))
            .await
            .expect("find toggles");
        assert!(
            toggles.is_empty(),
            "the script ran although JavaScript is off"
        );
        type_into(&client, "#password", GOOD_PASSWORD).await;
        type_into(&client, "#confirmation", GOOD_PASSWORD).await;
        click(&client, "form button.primary").await;
        wait_for_heading(&client, &t.reset_done_title).await;
        assert_eq!(text_of(&client, ".username").await, "tetyra");
    })
    .await;
}

/// At 200 % zoom a 1280-px desktop lays out in 640 CSS pixels: nothing may scroll sideways.
async fn zoomed(client: Client, lang: Lang) {
    let app = TestApp::spawn().await;
    let visit = Visit {
        client: &client,
        lang,
        viewport: ZOOMED,
    };
    let t = texts(lang);
    set_viewport(&client, ZOOMED.width, ZOOMED.height).await;
    to_broker(&visit, &app).await;
    pick_person(&client, &app, "010200A9618").await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.activate_title).await;
    find(&client, "#password-error").await;
    visit.check("activation-errors").await;
    click(&client, "#accept_terms").await;
    type_into(&client, "#password", GOOD_PASSWORD).await;
    type_into(&client, "#confirmation", GOOD_PASSWORD).await;
    click(&client, "form button.primary").await;
    wait_for_heading(&client, &t.activated_title).await;
    visit.check("activated").await;
}

#[tokio::test]
async fn nothing_scrolls_sideways_at_200_percent_zoom() {
    let options = BrowserOptions {
        device_scale: Some(2),
        ..BrowserOptions::default()
    };
    in_browser(options, |client| async move {
        for lang in Lang::ALL {
            zoomed(client.clone(), lang).await;
            client.delete_all_cookies().await.expect("delete cookies");
        }
    })
    .await;
}

#[tokio::test]
async fn the_checks_find_what_they_should() {
    in_browser(BrowserOptions::default(), |client| async move {
        set_viewport(&client, PHONE.width, PHONE.height).await;
        client
            .goto(
                "data:text/html,<!DOCTYPE html><title>t</title><img src=x><a href=/></a>\
                 <div id=wide style='width:500px'>wide</div>\
                 <form><input id=twice></form><form><label for=twice>x</label><input id=twice></form>",
            )
            .await
            .expect("open a page with known faults");
        let found: Vec<String> = axe_violations(&client, WCAG_21_AA)
            .await
            .iter()
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect();
        for id in ["html-has-lang", "image-alt", "link-name"] {
            assert!(found.iter().any(|f| f == id), "{id} not found in {found:?}");
        }
        let overflow = sideways_overflow(&client).await;
        assert!(
            overflow["wide"].as_array().is_some_and(|wide| wide
                .iter()
                .any(|w| w.as_str().is_some_and(|w| w.starts_with("div#wide")))),
            "the wide block was not found: {overflow}"
        );
        assert_eq!(
            label_problems(&client).await,
            json!({ "repeated": ["twice"], "astray": ["twice"] })
        );
    })
    .await;
}

#[test]
fn contrast_is_computed_as_wcag_defines_it() {
    let black_on_white = contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)");
    assert!((black_on_white - 21.0).abs() < 0.01, "{black_on_white}");
    assert!((contrast("rgb(118, 118, 118)", "rgba(255, 255, 255, 1)") - 4.54).abs() < 0.01);
    assert!((contrast("rgb(10, 20, 30)", "rgb(10, 20, 30)") - 1.0).abs() < 1e-9);
}
