//! One person's walk through the service, step by step, as a browser does it: its own cookies, no
//! redirects followed, every answer checked.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use url::Url;

use crate::browser::{Answer as Page, Browser, Failure};

/// A password every reset-path account accepts: long, strong, free of the persons' names.
pub const PASSWORD: &str = "kahvi-Tunturi-lumi-57-sade";

/// The steps of one flow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Step {
    /// `GET /`
    Landing,
    /// `POST /login`
    Login,
    /// `GET {issuer}/protocol/openid-connect/auth?…` (the mock broker)
    BrokerPage,
    /// `POST {issuer}/login-actions/authenticate` (the mock broker)
    BrokerSubmit,
    /// `GET /callback?code&state&iss`
    Callback,
    /// `GET /account`
    AccountPage,
    /// `POST /account`
    AccountSubmit,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Landing,
        Step::Login,
        Step::BrokerPage,
        Step::BrokerSubmit,
        Step::Callback,
        Step::AccountPage,
        Step::AccountSubmit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Landing => "landing",
            Step::Login => "login",
            Step::BrokerPage => "broker page",
            Step::BrokerSubmit => "broker submit",
            Step::Callback => "callback",
            Step::AccountPage => "account page",
            Step::AccountSubmit => "account submit",
        }
    }

    /// Whether the service answers this step (the others are the mock broker's).
    pub fn is_service(self) -> bool {
        !matches!(self, Step::BrokerPage | Step::BrokerSubmit)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Latencies of successful steps and failures by step, for one measured phase.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<RecorderInner>,
}

#[derive(Default)]
struct RecorderInner {
    latencies: [Vec<Duration>; 7],
    /// Per step: what went wrong → (how often, an excerpt of the first answer).
    errors: [BTreeMap<String, (u64, String)>; 7],
    flow_times: Vec<Duration>,
    completed: u64,
    failed: u64,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ok(&self, step: Step, took: Duration) {
        self.lock().latencies[step.index()].push(took);
    }

    fn error(&self, step: Step, what: String, excerpt: String) {
        let mut inner = self.lock();
        inner.errors[step.index()]
            .entry(what)
            .or_insert((0, excerpt))
            .0 += 1;
    }

    fn finished(&self, outcome: Result<Duration, ()>) {
        let mut inner = self.lock();
        match outcome {
            Ok(took) => {
                inner.completed += 1;
                inner.flow_times.push(took);
            }
            Err(()) => inner.failed += 1,
        }
    }

    pub fn completed(&self) -> u64 {
        self.lock().completed
    }

    pub fn failed(&self) -> u64 {
        self.lock().failed
    }

    /// Sorted latencies of `step`.
    pub fn latencies(&self, step: Step) -> Vec<Duration> {
        let mut list = self.lock().latencies[step.index()].clone();
        list.sort_unstable();
        list
    }

    /// Sorted durations of whole successful flows (parked time included in park mode).
    pub fn flow_times(&self) -> Vec<Duration> {
        let mut list = self.lock().flow_times.clone();
        list.sort_unstable();
        list
    }

    /// Failures of `step`: (what, how often, excerpt of the first).
    pub fn errors(&self, step: Step) -> Vec<(String, u64, String)> {
        self.lock().errors[step.index()]
            .iter()
            .map(|(what, (count, excerpt))| (what.clone(), *count, excerpt.clone()))
            .collect()
    }
}

/// Where flows wait halfway when the run parks them, and how many walk at the same time.
pub struct Park {
    pub at: Step,
    walkers: Arc<Semaphore>,
    parked: AtomicUsize,
    release: watch::Receiver<bool>,
}

impl Park {
    /// Flows park after `at`; at most `walkers` walk (are not parked) at a time. Sending `true` on
    /// the returned sender releases them.
    pub fn new(at: Step, walkers: usize) -> (Park, watch::Sender<bool>) {
        let (release, released) = watch::channel(false);
        let park = Park {
            at,
            walkers: Arc::new(Semaphore::new(walkers.max(1))),
            parked: AtomicUsize::new(0),
            release: released,
        };
        (park, release)
    }

    /// How many flows have reached the parking point so far.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    async fn enter(&self) -> Option<OwnedSemaphorePermit> {
        self.walkers.clone().acquire_owned().await.ok()
    }

    /// Gives up the walking slot, waits for the release, and takes a slot again.
    async fn wait(&self, slot: &mut Option<OwnedSemaphorePermit>) {
        slot.take();
        self.parked.fetch_add(1, Ordering::Relaxed);
        let mut release = self.release.clone();
        let _ = release.wait_for(|released| *released).await;
        *slot = self.enter().await;
    }
}

/// What every flow of a run shares.
pub struct Target {
    pub service: Url,
    /// The `Origin` the service's own forms are posted with.
    pub origin: String,
}

impl Page {
    fn location(&self, base: &Url) -> Option<Url> {
        base.join(self.header("location")?).ok()
    }

    /// The `value` of the form field `name`.
    fn field(&self, name: &str) -> Option<String> {
        self.quoted_after(&format!("name=\"{name}\" value=\""))
    }

    fn form_action(&self) -> Option<String> {
        self.quoted_after("action=\"")
    }

    /// The attribute value that follows the first `marker` (which ends with its opening quote),
    /// unescaped.
    fn quoted_after(&self, marker: &str) -> Option<String> {
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].replace("&amp;", "&"))
    }

    /// A short, single-line excerpt for the error report: the page's first heading if it has one.
    fn excerpt(&self) -> String {
        let text = match (self.body.find("<h1>"), self.body.find("</h1>")) {
            (Some(start), Some(end)) if start < end => &self.body[start + 4..end],
            _ => self.body.as_str(),
        };
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(120)
            .collect()
    }
}

/// Why a step did not give what the flow needs.
enum StepError {
    /// The request failed before an answer (connection, timeout).
    Transport(String),
    /// An answer with another status than expected.
    Status(Page),
    /// The expected status, but the page (its excerpt here) lacks what the next step needs.
    Content(&'static str, String),
}

/// Walks one whole flow as person `person` (an index on the broker's page) in a new browser: its
/// own cookie jar and connections, no redirects followed. Records each step in `recorder`; returns
/// whether the flow completed.
pub async fn walk(
    target: &Target,
    person: usize,
    recorder: &Recorder,
    park: Option<&Park>,
) -> bool {
    let mut slot = match park {
        Some(park) => park.enter().await,
        None => None,
    };
    let started = Instant::now();
    let mut parking = Parking {
        park,
        slot: &mut slot,
    };
    let mut browser = Browser::new();
    let outcome = steps(&mut browser, target, person, recorder, &mut parking).await;
    let outcome = outcome.map(|()| started.elapsed());
    recorder.finished(outcome);
    outcome.is_ok()
}

/// Times one request and checks its status; failures are recorded and end the flow.
async fn timed(
    recorder: &Recorder,
    step: Step,
    expect: u16,
    request: impl Future<Output = Result<Page, Failure>>,
) -> Result<Page, ()> {
    let started = Instant::now();
    let result = request.await;
    let took = started.elapsed();
    match result {
        Ok(page) if page.status == expect => {
            recorder.ok(step, took);
            Ok(page)
        }
        Ok(page) => fail(recorder, step, StepError::Status(page)),
        Err(failure) => fail(recorder, step, StepError::Transport(failure.to_string())),
    }
}

/// Records why `step` failed; the flow ends there.
fn fail<T>(recorder: &Recorder, step: Step, error: StepError) -> Result<T, ()> {
    let (what, excerpt) = match error {
        StepError::Transport(reason) => (reason, String::new()),
        StepError::Status(page) => (format!("HTTP {}", page.status), page.excerpt()),
        StepError::Content(missing, excerpt) => (format!("page without {missing}"), excerpt),
    };
    recorder.error(step, what, excerpt);
    Err(())
}

/// The value a step needs from its page, or the failure recorded at that step.
fn need<T>(
    recorder: &Recorder,
    step: Step,
    what: &'static str,
    page: &Page,
    found: Option<T>,
) -> Result<T, ()> {
    match found {
        Some(value) => Ok(value),
        None => fail(recorder, step, StepError::Content(what, page.excerpt())),
    }
}

/// A flow's view of the parking: where to wait and its walking slot.
struct Parking<'a> {
    park: Option<&'a Park>,
    slot: &'a mut Option<OwnedSemaphorePermit>,
}

impl Parking<'_> {
    async fn after(&mut self, step: Step) {
        if let Some(park) = self.park
            && park.at == step
        {
            park.wait(self.slot).await;
        }
    }
}

async fn steps(
    browser: &mut Browser,
    target: &Target,
    person: usize,
    recorder: &Recorder,
    parking: &mut Parking<'_>,
) -> Result<(), ()> {
    let service = &target.service;
    let at = |path: &str| service.join(path).map_err(|_| ());

    let landing = timed(recorder, Step::Landing, 200, browser.get(&at("/")?)).await?;
    let csrf = need(
        recorder,
        Step::Landing,
        "csrf",
        &landing,
        landing.field("csrf"),
    )?;
    parking.after(Step::Landing).await;

    let started = timed(
        recorder,
        Step::Login,
        303,
        browser.post_form(
            &at("/login")?,
            Some(&target.origin),
            &[("csrf", csrf.as_str())],
        ),
    )
    .await?;
    let authorize = need(
        recorder,
        Step::Login,
        "Location",
        &started,
        started.location(service),
    )?;
    parking.after(Step::Login).await;

    let login = timed(recorder, Step::BrokerPage, 200, browser.get(&authorize)).await?;
    let session_code = need(
        recorder,
        Step::BrokerPage,
        "session_code",
        &login,
        login.field("session_code"),
    )?;
    let action = need(
        recorder,
        Step::BrokerPage,
        "form action",
        &login,
        login.form_action(),
    )?;
    let action = need(
        recorder,
        Step::BrokerPage,
        "form action URL",
        &login,
        authorize.join(&action).ok(),
    )?;
    parking.after(Step::BrokerPage).await;

    let index = person.to_string();
    let chosen = timed(
        recorder,
        Step::BrokerSubmit,
        303,
        browser.post_form(
            &action,
            None,
            &[
                ("session_code", session_code.as_str()),
                ("person", index.as_str()),
            ],
        ),
    )
    .await?;
    let callback = need(
        recorder,
        Step::BrokerSubmit,
        "Location",
        &chosen,
        chosen.location(&action),
    )?;
    parking.after(Step::BrokerSubmit).await;

    let identified = timed(recorder, Step::Callback, 303, browser.get(&callback)).await?;
    let next = need(
        recorder,
        Step::Callback,
        "Location",
        &identified,
        identified.location(service),
    )?;
    parking.after(Step::Callback).await;

    let form = timed(recorder, Step::AccountPage, 200, browser.get(&next)).await?;
    let csrf = need(
        recorder,
        Step::AccountPage,
        "csrf",
        &form,
        form.field("csrf"),
    )?;
    let terms = form.body.contains("name=\"accept_terms\"");
    parking.after(Step::AccountPage).await;

    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("password", PASSWORD),
        ("confirmation", PASSWORD),
    ];
    if terms {
        fields.push(("accept_terms", "yes"));
    }
    timed(
        recorder,
        Step::AccountSubmit,
        200,
        browser.post_form(&at("/account")?, Some(&target.origin), &fields),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> Page {
        Page {
            status: 200,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    #[test]
    fn form_fields_and_action_are_read_unescaped() {
        let form = page(
            "<form method=\"post\" action=\"http://x/a?b=1&amp;c=2\">\
             <input type=\"hidden\" name=\"session_code\" value=\"s&amp;t\"></form>",
        );
        assert_eq!(form.field("session_code").as_deref(), Some("s&t"));
        assert_eq!(form.form_action().as_deref(), Some("http://x/a?b=1&c=2"));
        assert_eq!(form.field("csrf"), None);
    }

    #[test]
    fn the_excerpt_is_the_first_heading_on_one_line() {
        assert_eq!(
            page("<html><h1>Palvelu ei\n  ole käytettävissä</h1><p>x</p>").excerpt(),
            "Palvelu ei ole käytettävissä"
        );
        assert_eq!(page(&"a ".repeat(200)).excerpt().chars().count(), 120);
    }

    #[test]
    fn a_failed_step_ends_the_flow_and_is_counted_by_its_answer() {
        let recorder = Recorder::default();
        let _: Result<(), ()> = fail(
            &recorder,
            Step::Callback,
            StepError::Status(Page {
                status: 503,
                ..page("<h1>Try later</h1>")
            }),
        );
        assert_eq!(
            recorder.errors(Step::Callback),
            vec![("HTTP 503".to_owned(), 1, "Try later".to_owned())]
        );
        assert!(recorder.errors(Step::Landing).is_empty());
    }

    #[test]
    fn a_missing_value_fails_its_step_and_a_present_one_records_nothing() {
        let recorder = Recorder::default();
        let form = page("<h1>Kirjaudu</h1><input name=\"csrf\" value=\"t\">");
        assert_eq!(
            need(&recorder, Step::Landing, "csrf", &form, form.field("csrf")),
            Ok("t".to_owned())
        );
        assert!(recorder.errors(Step::Landing).is_empty());
        assert_eq!(
            need(
                &recorder,
                Step::Landing,
                "session_code",
                &form,
                form.field("session_code")
            ),
            Err(())
        );
        assert_eq!(
            recorder.errors(Step::Landing),
            vec![(
                "page without session_code".to_owned(),
                1,
                "Kirjaudu".to_owned()
            )]
        );
    }
}
