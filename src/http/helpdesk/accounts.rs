//! The signed-in staff member's pages: find an account (`POST /helpdesk/search`), record the
//! identity check and issue a code (`POST /helpdesk/issue`), print its document
//! (`POST /helpdesk/print`), revoke an open code (`POST /helpdesk/revoke`). Searches and codes travel
//! in form bodies, never in URLs: identity codes must not land in browser histories or access logs.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::StaffSession;
use super::sign_in::{SignedInStaff, check_csrf};
use crate::account::Context;
use crate::app::AppState;
use crate::helpdesk::codes::{
    Delivery, Document, DocumentCheck, Ended, Ending, IdentityCheck, IssuedCode,
};
use crate::helpdesk::{Found, Helpdesk, HelpdeskError, NotAllowed, SearchError, Standing};
use crate::http::KeepBody;
use crate::http::client_ip::ClientIp;
use crate::http::error::{AppError, ErrorKind};
use crate::http::middleware::RequestId;
use crate::http::pages::{PageContext, render};
use crate::i18n::{Lang, Texts};

fn channel(state: &AppState) -> Result<&Helpdesk, AppError> {
    state
        .helpdesk
        .as_deref()
        .ok_or_else(|| AppError::new(ErrorKind::NotFound, "the helpdesk channel is off"))
}

/// What the issue form of an account holds: empty, or what staff typed when the form came back
/// with a problem, so nothing has to be typed again.
#[derive(Clone)]
pub struct Fill {
    document: String,
    country: String,
    photo_compared: bool,
    delivery: String,
    lang: String,
    campus: String,
    pick_up: String,
    address: String,
}

impl Fill {
    /// The form of `account` before anything is typed: its postal address from the directory.
    fn empty(lang: Lang, found: &Found) -> Self {
        Self {
            document: Document::Passport.as_str().to_owned(),
            country: String::new(),
            photo_compared: false,
            delivery: Delivery::InPerson.as_str().to_owned(),
            lang: lang.code().to_owned(),
            campus: String::new(),
            pick_up: String::new(),
            address: found.account.postal_address.join("\n"),
        }
    }

    fn typed(form: &IssueForm) -> Self {
        let short = |text: &str, max: usize| text.chars().take(max).collect::<String>();
        Self {
            document: short(&form.document, 32),
            country: short(form.country.trim(), 2),
            photo_compared: form.photo_compared.as_deref() == Some("yes"),
            delivery: short(&form.delivery, 32),
            lang: short(&form.lang, 2),
            campus: short(form.campus.trim(), 100),
            pick_up: short(form.pick_up.trim(), 100),
            address: short(&form.address, 600),
        }
    }
}

/// One account on the results page.
pub struct AccountView {
    /// What its issue form holds.
    fill: Fill,
    /// Whether the directory knows a postal address for it (shown in the form for staff to check).
    address_from_directory: bool,
    name: String,
    username: String,
    category: String,
    state: String,
    open_code: String,
    has_open_code: bool,
    last_end: Option<String>,
    /// Why the staff member may not issue a code, if they may not.
    refusal: Option<String>,
}

#[derive(Template)]
#[template(path = "helpdesk/search.html")]
pub struct SearchPage<'a> {
    page: PageContext<'a>,
    greeting: String,
    csrf: &'a str,
    query: String,
    searched: bool,
    accounts: Vec<AccountView>,
    note: Option<&'a str>,
    problem: Option<&'a str>,
    problem_field: String,
    documents: Vec<(&'static str, &'a str)>,
    deliveries: Vec<(&'static str, &'a str)>,
    languages: Vec<(&'static str, String)>,
    /// The link to the service-request queue, for staff who handle requests.
    requests_link: Option<String>,
}

#[derive(Template)]
#[template(path = "helpdesk/issued.html")]
pub struct IssuedPage<'a> {
    page: PageContext<'a>,
    csrf: &'a str,
    username: String,
    code: String,
    delivery: &'static str,
    delivery_name: &'a str,
    valid_until: String,
    person_lang: &'static str,
    campus: String,
    pick_up: String,
    address: String,
}

pub(super) fn date(t: &Texts, unix: i64) -> String {
    let _ = t;
    let local = crate::clock::finnish_time(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    );
    format!(
        "{}.{}.{} {:02}.{:02}",
        local.day(),
        u8::from(local.month()),
        local.year(),
        local.hour(),
        local.minute()
    )
}

pub(super) fn delivery_name(t: &Texts, delivery: Delivery) -> &str {
    match delivery {
        Delivery::InPerson => &t.staff_delivery_in_person,
        Delivery::Janitor => &t.staff_delivery_janitor,
        Delivery::Letter => &t.staff_delivery_letter,
    }
}

pub(super) fn not_allowed_text(t: &Texts, reason: NotAllowed) -> &str {
    match reason {
        NotAllowed::Category => &t.staff_not_allowed_category,
        NotAllowed::Privileged => &t.staff_not_allowed_privileged,
        NotAllowed::Disabled => &t.staff_not_allowed_disabled,
        NotAllowed::Check => &t.staff_not_allowed_check,
        NotAllowed::PrivilegedFromAfar => &t.staff_not_allowed_privileged_from_afar,
        NotAllowed::RequestStaff => &t.staff_not_allowed_requests,
    }
}

pub(super) fn open_code_text(t: &Texts, code: &IssuedCode) -> String {
    t.staff_open_code_text
        .replace("{delivery}", delivery_name(t, code.delivery))
        .replace("{staff}", &code.issued_by)
        .replace("{date}", &date(t, code.expires_at))
}

fn ended_text(t: &Texts, ended: &Ended) -> String {
    let ending = match ended.ending {
        Ending::Redeemed => &t.staff_ending_redeemed,
        Ending::RevokedByStaff => &t.staff_ending_revoked_by_staff,
        Ending::Replaced => &t.staff_ending_replaced,
        Ending::TooManyWrongTries => &t.staff_ending_too_many_wrong_tries,
        Ending::Expired => &t.staff_ending_expired,
    };
    t.staff_last_code_text
        .replace("{ending}", ending)
        .replace("{date}", &date(t, ended.at))
}

/// Where `found` stands, as staff read it.
pub(super) fn standing_text(t: &Texts, found: &Found) -> String {
    match found.standing() {
        Standing::Active => t.staff_state_active.clone(),
        Standing::PendingActivation => t.staff_state_pending.clone(),
        Standing::Disabled => t.staff_state_disabled.clone(),
        Standing::Locked => t.staff_state_locked.clone(),
    }
}

fn view(t: &Texts, found: Found, fill: Fill) -> AccountView {
    let state = standing_text(t, &found);
    let account = found.account;
    AccountView {
        address_from_directory: !account.postal_address.is_empty(),
        fill,
        name: format!("{} {}", account.given_name, account.family_name)
            .trim()
            .to_owned(),
        username: account.username,
        category: account.category,
        state,
        open_code: found.open_code.as_ref().map_or_else(
            || t.staff_no_open_code.clone(),
            |code| open_code_text(t, code),
        ),
        has_open_code: found.open_code.is_some(),
        last_end: found.last_end.as_ref().map(|ended| ended_text(t, ended)),
        refusal: found
            .may_issue
            .err()
            .map(|reason| not_allowed_text(t, reason).to_owned()),
    }
}

/// What a search page shows besides the form.
struct Shown<'a> {
    query: String,
    results: Option<Vec<Found>>,
    /// What one account's issue form held when it came back with a problem.
    typed: Option<(String, Fill)>,
    note: Option<&'a str>,
    problem: Option<&'a str>,
    /// The id of the field (or the account) the problem summary links to.
    problem_field: String,
    /// How many service requests wait, when known.
    waiting: Option<u64>,
}

fn search_page(state: &AppState, lang: Lang, session: &StaffSession, shown: Shown<'_>) -> Response {
    let t = state.catalog.texts(lang);
    let status = if shown.problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let searched = shown.results.is_some();
    let requests_link = state
        .helpdesk
        .as_deref()
        .filter(|helpdesk| helpdesk.handles_requests(&session.staff))
        .map(|_| match shown.waiting {
            Some(count) => t.staff_requests_link.replace("{count}", &count.to_string()),
            None => t.staff_requests_title.clone(),
        });
    let page = SearchPage {
        page: state.page_context(lang, "/helpdesk"),
        greeting: t.staff_greeting.replace("{name}", &session.staff.name),
        csrf: &session.csrf,
        query: shown.query,
        searched,
        accounts: shown
            .results
            .unwrap_or_default()
            .into_iter()
            .map(|found| {
                let fill = match &shown.typed {
                    Some((username, fill)) if *username == found.account.username => fill.clone(),
                    _ => Fill::empty(lang, &found),
                };
                view(t, found, fill)
            })
            .collect(),
        note: shown.note,
        problem: shown.problem,
        problem_field: shown.problem_field,
        documents: Document::ALL
            .into_iter()
            .map(|document| {
                let name = match document {
                    Document::Passport => &t.staff_document_passport,
                    Document::IdentityCard => &t.staff_document_identity_card,
                    Document::DrivingLicence => &t.staff_document_driving_licence,
                    Document::ResidencePermit => &t.staff_document_residence_permit,
                };
                (document.as_str(), name.as_str())
            })
            .collect(),
        deliveries: Delivery::ALL
            .into_iter()
            .map(|delivery| (delivery.as_str(), delivery_name(t, delivery)))
            .collect(),
        languages: Lang::ALL
            .into_iter()
            .map(|other| {
                (
                    other.code(),
                    state.catalog.texts(other).language_name.clone(),
                )
            })
            .collect(),
        requests_link,
    };
    let mut response = render(status, &page);
    response.extensions_mut().insert(KeepBody);
    response
}

/// `GET /helpdesk` for a signed-in staff member: the search form, and for those who handle service
/// requests, how many wait.
pub async fn home(state: &AppState, lang: Lang, session: &StaffSession) -> Response {
    let waiting = match state.helpdesk.as_deref() {
        Some(helpdesk) if helpdesk.handles_requests(&session.staff) => {
            match helpdesk.requests_waiting().await {
                Ok((count, _)) => Some(count),
                Err(error) => {
                    tracing::warn!(%error, "the service requests waiting could not be counted");
                    None
                }
            }
        }
        _ => None,
    };
    search_page(
        state,
        lang,
        session,
        Shown {
            query: String::new(),
            results: None,
            typed: None,
            note: None,
            problem: None,
            problem_field: "q".to_owned(),
            waiting,
        },
    )
}

#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

/// `POST /helpdesk/search`
pub async fn search(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    SignedInStaff(session): SignedInStaff,
    headers: HeaderMap,
    Form(form): Form<SearchForm>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    check_csrf(&state, &headers, &session, &form.csrf)?;
    let t = state.catalog.texts(lang);
    let search = match helpdesk.search(&form.q) {
        Ok(search) => search,
        Err(problem) => {
            let text = match problem {
                SearchError::Empty => &t.staff_search_empty,
                SearchError::InvalidNationalId => &t.staff_search_invalid_id,
            };
            return Ok(search_page(
                &state,
                lang,
                &session,
                Shown {
                    query: form.q.chars().take(128).collect(),
                    results: None,
                    typed: None,
                    note: None,
                    problem: Some(text),
                    problem_field: "q".to_owned(),
                    waiting: None,
                },
            ));
        }
    };
    let results = helpdesk.find(&session.staff, &search).await?;
    // An identity code is not shown back in the form: it has done its work.
    let query = match search {
        crate::helpdesk::Search::Username(username) => username,
        crate::helpdesk::Search::NationalId(_) => String::new(),
    };
    Ok(search_page(
        &state,
        lang,
        &session,
        Shown {
            query,
            results: Some(results),
            typed: None,
            note: None,
            problem: None,
            problem_field: "q".to_owned(),
            waiting: None,
        },
    ))
}

/// What a problem of the issue or print form is about: the summary links there, in the form of the
/// account concerned.
#[derive(Clone, Copy)]
enum ProblemAt {
    /// The identity check (its first field, the document).
    Check,
    Campus,
    PickUp,
    Address,
    /// The account as a whole (its heading): who may issue, or a code that cannot be printed.
    Account,
}

impl ProblemAt {
    /// The id prefix in `templates/helpdesk/search.html`.
    fn id_prefix(self) -> &'static str {
        match self {
            ProblemAt::Check => "document",
            ProblemAt::Campus => "campus",
            ProblemAt::PickUp => "pick-up",
            ProblemAt::Address => "address",
            ProblemAt::Account => "account",
        }
    }
}

/// The results page of one username, after issuing or revoking, or with a problem of its forms.
#[allow(clippy::too_many_arguments)]
async fn results_for(
    state: &AppState,
    helpdesk: &Helpdesk,
    lang: Lang,
    session: &StaffSession,
    username: &str,
    note: Option<&str>,
    problem: Option<(&str, ProblemAt)>,
    typed: Option<Fill>,
) -> Result<Response, AppError> {
    let search = crate::helpdesk::Search::Username(username.to_owned());
    let results = helpdesk.find(&session.staff, &search).await?;
    // Ids on the page number the accounts from 1.
    let problem_field = match (
        problem,
        results
            .iter()
            .position(|found| found.account.username == username),
    ) {
        (Some((_, at)), Some(index)) => format!("{}-{}", at.id_prefix(), index + 1),
        _ => "q".to_owned(),
    };
    Ok(search_page(
        state,
        lang,
        session,
        Shown {
            query: username.to_owned(),
            results: Some(results),
            typed: typed.map(|fill| (username.to_owned(), fill)),
            note,
            problem: problem.map(|(text, _)| text),
            problem_field,
            waiting: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    country: String,
    photo_compared: Option<String>,
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    campus: String,
    #[serde(default)]
    pick_up: String,
    #[serde(default)]
    address: String,
}

/// Address lines as staff typed them: trimmed, blank ones left out.
fn address_lines(address: &str) -> Vec<String> {
    address
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /helpdesk/issue`: records the identity check and issues a code, shown once.
pub async fn issue(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    SignedInStaff(session): SignedInStaff,
    headers: HeaderMap,
    Form(form): Form<IssueForm>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    check_csrf(&state, &headers, &session, &form.csrf)?;
    let t = state.catalog.texts(lang);
    let Some(account) = helpdesk.account(&form.username).await? else {
        return Err(AppError::new(
            ErrorKind::BadRequest,
            "issue form for an account that is not found",
        ));
    };
    let delivery = Delivery::parse(&form.delivery)
        .ok_or_else(|| AppError::new(ErrorKind::BadRequest, "unknown delivery way"))?;
    let person_lang = Lang::from_code(&form.lang).unwrap_or(lang);
    let problem = match delivery {
        Delivery::Janitor if form.campus.trim().is_empty() => {
            Some((t.staff_janitor_needs.as_str(), ProblemAt::Campus))
        }
        Delivery::Janitor if form.pick_up.trim().is_empty() => {
            Some((t.staff_janitor_needs.as_str(), ProblemAt::PickUp))
        }
        Delivery::Letter if address_lines(&form.address).len() < 2 => {
            Some((t.staff_letter_needs.as_str(), ProblemAt::Address))
        }
        _ => None,
    };
    let document = Document::parse(&form.document);
    let country = form.country.trim().to_uppercase();
    let check = match document {
        Some(document) => IdentityCheck::Document(DocumentCheck {
            document,
            country,
            photo_compared: form.photo_compared.as_deref() == Some("yes"),
        }),
        None => {
            return Err(AppError::new(
                ErrorKind::BadRequest,
                "unknown identity document",
            ));
        }
    };
    if problem.is_some() {
        return results_for(
            &state,
            helpdesk,
            lang,
            &session,
            &account.username,
            None,
            problem,
            Some(Fill::typed(&form)),
        )
        .await;
    }
    let client = client_ip.to_string();
    // The notice of the code goes to the person in the language chosen for them.
    let context = Context {
        client_ip: &client,
        request_id: &request_id.0,
        lang: person_lang,
    };
    let (code, issued) = match helpdesk
        .issue(&session.staff, &account, delivery, check, context)
        .await
    {
        Ok(issued) => issued,
        Err(HelpdeskError::NotAllowed(reason)) => {
            return results_for(
                &state,
                helpdesk,
                lang,
                &session,
                &account.username,
                None,
                Some((
                    not_allowed_text(t, reason),
                    match reason {
                        NotAllowed::Check => ProblemAt::Check,
                        _ => ProblemAt::Account,
                    },
                )),
                Some(Fill::typed(&form)),
            )
            .await;
        }
        Err(other) => return Err(other.into()),
    };
    Ok(issued_page(
        &state,
        lang,
        &session,
        &code,
        &issued,
        Printing {
            person_lang,
            campus: form.campus.trim().to_owned(),
            pick_up: form.pick_up.trim().to_owned(),
            address: address_lines(&form.address),
        },
    ))
}

/// What the issued page's print form carries besides the code.
pub(super) struct Printing {
    pub person_lang: Lang,
    pub campus: String,
    pub pick_up: String,
    pub address: Vec<String>,
}

/// The page that shows a code once, with the form that prints its document.
pub(super) fn issued_page(
    state: &AppState,
    lang: Lang,
    session: &StaffSession,
    code: &crate::helpdesk::code::Code,
    issued: &IssuedCode,
    printing: Printing,
) -> Response {
    let t = state.catalog.texts(lang);
    let page = IssuedPage {
        page: state.page_context(lang, "/helpdesk"),
        csrf: &session.csrf,
        username: issued.username.clone(),
        code: code.grouped(),
        delivery: issued.delivery.as_str(),
        delivery_name: delivery_name(t, issued.delivery),
        valid_until: date(t, issued.expires_at),
        person_lang: printing.person_lang.code(),
        campus: printing.campus,
        pick_up: printing.pick_up,
        address: printing.address.join("\n"),
    };
    let mut response = render(StatusCode::OK, &page);
    response.extensions_mut().insert(KeepBody);
    response
}

#[derive(Deserialize)]
pub struct PrintForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    campus: String,
    #[serde(default)]
    pick_up: String,
    #[serde(default)]
    address: String,
}

/// `POST /helpdesk/print`: the document of the open code, as a PDF to print.
pub async fn print(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    SignedInStaff(session): SignedInStaff,
    headers: HeaderMap,
    Form(form): Form<PrintForm>,
) -> Result<Response, AppError> {
    use crate::helpdesk::letter::Delivery as Printed;
    let helpdesk = channel(&state)?;
    check_csrf(&state, &headers, &session, &form.csrf)?;
    let t = state.catalog.texts(lang);
    let printed = match Delivery::parse(&form.delivery) {
        Some(Delivery::InPerson) => Printed::InPerson,
        Some(Delivery::Janitor) => Printed::Janitor {
            campus: form.campus.trim().to_owned(),
            pick_up_point: form.pick_up.trim().to_owned(),
        },
        Some(Delivery::Letter) => Printed::RegisteredLetter {
            address: address_lines(&form.address),
        },
        None => {
            return Err(AppError::new(ErrorKind::BadRequest, "unknown delivery way"));
        }
    };
    let person_lang = Lang::from_code(&form.lang).unwrap_or(lang);
    let client = client_ip.to_string();
    let context = Context {
        client_ip: &client,
        request_id: &request_id.0,
        lang,
    };
    let printed = helpdesk
        .print(
            &session.staff,
            &form.username,
            &form.code,
            printed,
            person_lang,
            context,
        )
        .await;
    let pdf = match printed {
        Ok(Some(pdf)) => pdf,
        Ok(None) => {
            return results_for(
                &state,
                helpdesk,
                lang,
                &session,
                &form.username,
                None,
                Some((&t.staff_code_not_open, ProblemAt::Account)),
                None,
            )
            .await;
        }
        Err(HelpdeskError::Document(detail)) => {
            tracing::info!(%detail, "a code's document could not be printed");
            return results_for(
                &state,
                helpdesk,
                lang,
                &session,
                &form.username,
                None,
                Some((&t.staff_print_problem, ProblemAt::Account)),
                None,
            )
            .await;
        }
        Err(other) => return Err(other.into()),
    };
    let filename: String = form
        .username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"tunnus-{filename}.pdf\""))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

/// `POST /helpdesk/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    Extension(lang): Extension<Lang>,
    Extension(request_id): Extension<RequestId>,
    ClientIp(client_ip): ClientIp,
    SignedInStaff(session): SignedInStaff,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Result<Response, AppError> {
    let helpdesk = channel(&state)?;
    check_csrf(&state, &headers, &session, &form.csrf)?;
    let t = state.catalog.texts(lang);
    let client = client_ip.to_string();
    let context = Context {
        client_ip: &client,
        request_id: &request_id.0,
        lang,
    };
    let revoked = helpdesk
        .revoke(&session.staff, &form.username, context)
        .await?;
    let note = if revoked.is_some() {
        &t.staff_revoked
    } else {
        &t.staff_nothing_to_revoke
    };
    results_for(
        &state,
        helpdesk,
        lang,
        &session,
        &form.username,
        Some(note),
        None,
        None,
    )
    .await
}
