//! The browser-facing endpoints: authorization (`auth`), the login form's answer
//! (`login-actions/authenticate`) and `logout`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use time::Duration;
use url::Url;

use super::client::{self, ClientJwtError, audience_contains, time_claim};
use super::faults::{Fault, Phase};
use super::html;
use super::persons::Person;
use super::realm::{
    AuthRequest, Flavour, IssuedCode, PendingLogin, Realm, RealmPerson, RegisteredClient, Someone,
    insert_record, lock, random_uuid,
};

/// How long a login page can be answered.
const LOGIN_TIMEOUT: Duration = Duration::minutes(10);

/// How far in the future a client's `iat` or `nbf` may be (clock skew).
pub(crate) const CLOCK_SKEW: Duration = Duration::seconds(60);

/// Claims of a request object that describe the JWT itself, not the authorization request.
const JWT_CLAIMS: [&str; 8] = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id"];

/// Why an authorization request stops.
enum Refusal {
    /// Shown to the browser: the client or its redirect URI cannot be trusted with an answer.
    Page { status: StatusCode, message: String },
    /// Sent back to the client's registered redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl Refusal {
    fn page(message: impl Into<String>) -> Self {
        Refusal::Page {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn respond(self, realm: &Realm, status: StatusCode) -> Response {
        match self {
            Refusal::Page { status, message } => html::error_page(status, &message),
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let mut params = vec![("error", error), ("error_description", &description)];
                if let Some(state) = &state {
                    params.push(("state", state));
                }
                params.push(("iss", &realm.issuer));
                redirect_to(status, &redirect_uri, &params)
            }
        }
    }
}

/// `GET {issuer}/protocol/openid-connect/auth`.
pub(crate) async fn authorize(
    State(realm): State<Arc<Realm>>,
    RawQuery(query): RawQuery,
) -> Response {
    realm
        .counters
        .authorization_requests
        .fetch_add(1, Ordering::Relaxed);
    match start(&realm, query.as_deref().unwrap_or_default()).await {
        Ok(response) => response,
        Err(refusal) => refusal.respond(&realm, StatusCode::FOUND),
    }
}

/// Checks the request, then logs the hinted person in or shows the login page.
async fn start(realm: &Realm, query: &str) -> Result<Response, Refusal> {
    let mut params = parse_params(query).map_err(Refusal::page)?;
    let client_id = params
        .get("client_id")
        .cloned()
        .ok_or_else(|| Refusal::page("Missing parameter: client_id"))?;
    let client = realm
        .client(&client_id)
        .ok_or_else(|| Refusal::page("Client not found."))?;
    if params.contains_key("request_uri") {
        return Err(Refusal::page(
            "Invalid Request: request_uri is not supported",
        ));
    }
    if let Some(request) = params.remove("request") {
        let claims = verified_request_object(realm, client, &request)
            .await
            .map_err(|reason| Refusal::page(format!("Invalid Request: {reason}")))?;
        merge_request_object(&mut params, &claims)
            .map_err(|reason| Refusal::page(format!("Invalid Request: {reason}")))?;
    }
    let redirect_uri = match params.get("redirect_uri") {
        None => return Err(Refusal::page("Missing parameter: redirect_uri")),
        Some(uri) if !client.settings.redirect_uris.contains(uri) => {
            return Err(Refusal::page("Invalid parameter: redirect_uri"));
        }
        Some(uri) => uri.clone(),
    };
    let state = params.get("state").cloned();
    let refuse = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description: description.to_owned(),
    };

    match params.get("response_type").map(String::as_str) {
        None => {
            return Err(refuse(
                "invalid_request",
                "Missing parameter: response_type",
            ));
        }
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Client is not allowed to initiate browser login with given response_type.",
            ));
        }
    }
    if params
        .get("response_mode")
        .is_some_and(|mode| mode != "query")
    {
        return Err(refuse(
            "invalid_request",
            "Invalid parameter: response_mode",
        ));
    }
    let scope = params.get("scope").cloned().unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "Missing openid scope"));
    }
    let code_challenge =
        check_pkce(client, &params).map_err(|reason| refuse("invalid_request", reason))?;

    if realm
        .take_faults(Phase::Authorization, Some(client))
        .has(Fault::ErrorRedirect)
    {
        return Err(refuse(
            "server_error",
            "Unexpected error when authenticating with identity provider",
        ));
    }
    if params
        .get("prompt")
        .is_some_and(|p| p.split(' ').any(|p| p == "none"))
    {
        return Err(refuse("login_required", "No login session"));
    }

    let request = AuthRequest {
        client_id,
        redirect_uri,
        scope,
        state,
        nonce: params.get("nonce").cloned(),
        code_challenge,
        ui_locales: params.get("ui_locales").cloned(),
    };
    let hinted = params
        .get("login_hint")
        .and_then(|hint| realm.persons.iter().position(|p| p.person.is_hinted(hint)));
    match hinted {
        Some(person) => issue_code(
            realm,
            request,
            realm.persons[person].clone(),
            StatusCode::FOUND,
        ),
        None => login_page(realm, request),
    }
}

/// The query's parameters; a parameter given twice is refused (RFC 6749 §3.1), an empty one is
/// treated as absent.
fn parse_params(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        if params.contains_key(name.as_ref()) {
            let shown: String = name.chars().take(40).collect();
            return Err(format!("Invalid Request: duplicate parameter {shown}"));
        }
        params.insert(name.into_owned(), value.into_owned());
    }
    Ok(params)
}

/// Verifies a request object (RFC 9101) with the client's keys and judges its claims.
async fn verified_request_object(
    realm: &Realm,
    client: &RegisteredClient,
    request: &str,
) -> Result<Map<String, Value>, String> {
    let client_id = client.id();
    let claims = client
        .keys
        .verify(request)
        .await
        .map_err(|error: ClientJwtError| error.to_string())?;
    let now = realm.now().unix_timestamp();
    if claims.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("client_id in the request object does not match the query's".to_owned());
    }
    if claims
        .get("iss")
        .is_some_and(|iss| iss.as_str() != Some(client_id))
    {
        return Err("iss of the request object is not the client".to_owned());
    }
    if !audience_contains(&claims, &[realm.issuer.as_str()]) {
        return Err("aud of the request object is not this realm's issuer".to_owned());
    }
    match time_claim(&claims, "exp") {
        None => return Err("the request object has no exp".to_owned()),
        Some(exp) if exp <= now => return Err("the request object has expired".to_owned()),
        Some(_) => {}
    }
    if time_claim(&claims, "nbf").is_some_and(|nbf| nbf > now + CLOCK_SKEW.whole_seconds()) {
        return Err("the request object is not valid yet (nbf)".to_owned());
    }
    Ok(claims)
}

/// The request object's values replace the query's.
fn merge_request_object(
    params: &mut HashMap<String, String>,
    claims: &Map<String, Value>,
) -> Result<(), String> {
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        match value {
            Value::String(text) => {
                params.insert(name.clone(), text.clone());
            }
            Value::Number(number) => {
                params.insert(name.clone(), number.to_string());
            }
            Value::Null => {
                params.remove(name);
            }
            // Structured parameters (`claims`) are not supported and do not change the request.
            Value::Object(_) => {}
            Value::Bool(_) | Value::Array(_) => {
                let shown: String = name.chars().take(40).collect();
                return Err(format!("the request object's {shown} is not a string"));
            }
        }
    }
    Ok(())
}

/// The `S256` challenge, when given; refuses a request without one when the client requires PKCE.
fn check_pkce(
    client: &RegisteredClient,
    params: &HashMap<String, String>,
) -> Result<Option<String>, &'static str> {
    let method = params.get("code_challenge_method");
    let challenge = params.get("code_challenge");
    if method.is_none() && challenge.is_none() && !client.settings.require_pkce {
        return Ok(None);
    }
    match method.map(String::as_str) {
        None => return Err("Missing parameter: code_challenge_method"),
        Some("S256") => {}
        Some(_) => return Err("Invalid parameter: code_challenge_method"),
    }
    match challenge {
        None => Err("Missing parameter: code_challenge"),
        Some(challenge) if !is_pkce_value(challenge) => Err("Invalid parameter: code_challenge"),
        Some(challenge) => Ok(Some(challenge.clone())),
    }
}

/// 43 to 128 unreserved characters (RFC 7636 §4.1).
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The texts of the login page in one language.
struct LoginTexts {
    lang: &'static str,
    title: &'static str,
    intro: &'static str,
    /// The banner at the top of every login page.
    test_service: &'static str,
    language_menu: &'static str,
    persons: &'static str,
    cancel: &'static str,
    someone_else: &'static str,
    someone_else_intro: &'static str,
    national_id: &'static str,
    given_name: &'static str,
    family_name: &'static str,
    birthdate: &'static str,
    birthdate_hint: &'static str,
    identify: &'static str,
    /// Before the `client_id` of the client that asked.
    client: &'static str,
}

/// The language of `ui_locales` (the first of fi, sv, en named), if any.
fn wanted_lang(ui_locales: Option<&str>) -> Option<&'static str> {
    ui_locales
        .unwrap_or_default()
        .split(' ')
        .map(|tag| tag.split('-').next().unwrap_or_default())
        .find_map(|lang| ["fi", "sv", "en"].into_iter().find(|known| *known == lang))
}

fn login_texts(flavour: Flavour, lang: Option<&str>) -> LoginTexts {
    let base = match lang {
        Some("fi") => LoginTexts {
            lang: "fi",
            title: "Valitse testihenkilö",
            intro: "Valitse henkilö, jona tunnistaudut, tai kirjoita kenen tahansa henkilötunnus.",
            test_service: "TESTIPALVELU – ei oikea tunnistus. Kaikki henkilöt ovat testihenkilöitä.",
            language_menu: "Kieli",
            persons: "Testihenkilöt",
            cancel: "Peruuta",
            someone_else: "Joku muu",
            someone_else_intro: "Tunnistaudu millä tahansa henkilötunnuksella, esimerkiksi oman \
                                 testihakemistosi tunnuksen. Myös virheellinen tunnus kelpaa \
                                 tässä tarkoituksella: palvelun pitää hylätä se.",
            national_id: "Henkilötunnus",
            given_name: "Etunimet (tyhjä: Testi)",
            family_name: "Sukunimi (tyhjä: Henkilö)",
            birthdate: "Syntymäaika (VVVV-KK-PP)",
            birthdate_hint: "Tyhjä: henkilötunnuksesta.",
            identify: "Tunnistaudu",
            client: "Pyytävä palvelu (client_id):",
        },
        Some("sv") => LoginTexts {
            lang: "sv",
            title: "Välj en testperson",
            intro: "Välj den person du identifierar dig som, eller skriv in vilken \
                    personbeteckning som helst.",
            test_service: "TESTTJÄNST – ingen riktig identifiering. Alla personer är testpersoner.",
            language_menu: "Språk",
            persons: "Testpersoner",
            cancel: "Avbryt",
            someone_else: "Någon annan",
            someone_else_intro: "Identifiera dig med vilken personbeteckning som helst, till \
                                 exempel ett konto i din egen testkatalog. Också en felaktig \
                                 beteckning godtas här med avsikt: tjänsten ska avvisa den.",
            national_id: "Personbeteckning",
            given_name: "Förnamn (tomt: Testi)",
            family_name: "Efternamn (tomt: Henkilö)",
            birthdate: "Födelsedatum (ÅÅÅÅ-MM-DD)",
            birthdate_hint: "Tomt: ur personbeteckningen.",
            identify: "Identifiera",
            client: "Begärande tjänst (client_id):",
        },
        _ => LoginTexts {
            lang: "en",
            title: "Choose a test person",
            intro: "Choose the person to identify as, or type anyone's identity code.",
            test_service: "TEST SERVICE – not a real identification. Every person is a test \
                           person.",
            language_menu: "Language",
            persons: "Test persons",
            cancel: "Cancel",
            someone_else: "Someone else",
            someone_else_intro: "Identify with any identity code, for example one of your own \
                                 test directory's accounts. A malformed code is accepted here on \
                                 purpose: the service must refuse it.",
            national_id: "Identity code",
            given_name: "Given names (empty: Testi)",
            family_name: "Family name (empty: Henkilö)",
            birthdate: "Birth date (YYYY-MM-DD)",
            birthdate_hint: "Empty: from the identity code.",
            identify: "Identify",
            client: "Requesting service (client_id):",
        },
    };
    if flavour == Flavour::Campus {
        return campus_login_texts(base);
    }
    base
}

/// The campus realm's login page: staff members rather than test persons, and no typed identity.
fn campus_login_texts(base: LoginTexts) -> LoginTexts {
    let (title, intro, persons) = match base.lang {
        "fi" => (
            "Kampuskirjautuminen (testi)",
            "Tämä on testikirjautumispalvelu. Valitse henkilökunnan jäsen, jona kirjaudut.",
            "Henkilökunta",
        ),
        "sv" => (
            "Campusinloggning (test)",
            "Detta är en testinloggningstjänst. Välj den anställda du loggar in som.",
            "Personal",
        ),
        _ => (
            "Campus login (test)",
            "This is a test login service. Choose the staff member to log in as.",
            "Staff",
        ),
    };
    LoginTexts {
        title,
        intro,
        persons,
        ..base
    }
}

/// Keeps the request and shows the login page for it.
fn login_page(realm: &Realm, request: AuthRequest) -> Result<Response, Refusal> {
    let now = realm.now();
    let lang = wanted_lang(request.ui_locales.as_deref());
    let switcher = request.ui_locales.is_none();
    let client_id = request.client_id.clone();
    let pending = PendingLogin {
        request,
        expires: now + LOGIN_TIMEOUT,
    };
    let session_code =
        insert_record(&realm.pending, pending, now, |p| p.expires).ok_or(Refusal::Page {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "Too many logins in progress; try again later".to_owned(),
        })?;
    Ok(render_login(
        realm,
        &session_code,
        &client_id,
        lang,
        switcher,
    ))
}

/// `GET {issuer}/login-actions/language?session_code=…&lang=…`: the login page of a login in
/// progress again, in another language (the switcher of a client that sent no `ui_locales`).
pub(crate) async fn language(
    State(realm): State<Arc<Realm>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = parse_params(&query.unwrap_or_default()).unwrap_or_default();
    let code = params.get("session_code").cloned().unwrap_or_default();
    let now = realm.now();
    let client_id = lock(&realm.pending)
        .get(&code)
        .filter(|pending| pending.expires > now)
        .map(|pending| pending.request.client_id.clone());
    let Some(client_id) = client_id else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            "Your login attempt timed out. Login will start from the beginning.",
        );
    };
    let lang = wanted_lang(params.get("lang").map(String::as_str));
    render_login(&realm, &code, &client_id, lang, true)
}

/// The login page of the login `session_code` for client `client_id` (named on the page, for
/// testers who register several): a button per person (grouped when the persons file says what
/// they are for, with their full test identity codes), a form for someone else's code, and cancel.
fn render_login(
    realm: &Realm,
    session_code: &str,
    client_id: &str,
    lang: Option<&str>,
    switcher: bool,
) -> Response {
    let texts = login_texts(realm.flavour, lang);
    let action = html::escape(&format!("{}/login-actions/authenticate", realm.issuer));
    let code = html::escape(session_code);
    let mut body = format!(
        "<p class=\"test\">{}</p>\n",
        html::escape(texts.test_service)
    );
    if switcher {
        body.push_str(&format!(
            "<nav class=\"lang\" aria-label=\"{}\">",
            html::escape(texts.language_menu)
        ));
        for (other, name) in [("fi", "Suomi"), ("sv", "Svenska"), ("en", "English")] {
            let href = format!(
                "{}/login-actions/language?session_code={}&lang={other}",
                realm.issuer,
                url::form_urlencoded::byte_serialize(session_code.as_bytes()).collect::<String>()
            );
            let current = if other == texts.lang {
                " aria-current=\"true\""
            } else {
                ""
            };
            body.push_str(&format!(
                "<a href=\"{}\" lang=\"{other}\"{current}>{name}</a>",
                html::escape(&href)
            ));
        }
        body.push_str("</nav>\n");
    }
    // The groups in the order they first appear; persons without a group come last.
    let mut groups: Vec<Option<&str>> = Vec::new();
    for entry in &realm.persons {
        let group = match &entry.person {
            Someone::Citizen(person) => person.group.as_deref(),
            Someone::Staff(_) => None,
        };
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups.sort_by_key(Option::is_none);
    body.push_str(&format!(
        "<main>\n<h1>{}</h1>\n<p>{}</p>\n<p class=\"client\">{} <code>{}</code></p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"session_code\" value=\"{code}\">\n",
        html::escape(texts.title),
        html::escape(texts.intro),
        html::escape(texts.client),
        html::escape(client_id),
    ));
    for group in groups {
        body.push_str(&format!(
            "<fieldset>\n<legend>{}</legend>\n<ul class=\"persons\">\n",
            html::escape(group.unwrap_or(texts.persons))
        ));
        for (index, entry) in realm.persons.iter().enumerate() {
            let (name, detail, own) = match &entry.person {
                Someone::Citizen(person) => (
                    person.full_name(),
                    person.national_id.clone(),
                    person.group.as_deref(),
                ),
                Someone::Staff(staff) => (staff.full_name(), staff.username.clone(), None),
            };
            if own != group {
                continue;
            }
            body.push_str(&format!(
                "<li><button type=\"submit\" name=\"person\" value=\"{index}\">{} \
                 <span class=\"code\">{}</span></button></li>\n",
                html::escape(&name),
                html::escape(&detail)
            ));
        }
        body.push_str("</ul>\n</fieldset>\n");
    }
    body.push_str(&format!(
        "<p><button type=\"submit\" name=\"cancel\" value=\"cancel\" class=\"cancel\">{}</button></p>\n\
         </form>\n",
        html::escape(texts.cancel)
    ));
    if realm.flavour == Flavour::Ftn {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{action}\" class=\"someone-else\">\n\
             <input type=\"hidden\" name=\"session_code\" value=\"{code}\">\n\
             <fieldset>\n<legend>{legend}</legend>\n<p class=\"hint\" id=\"other-intro\">{intro}</p>\n\
             <label for=\"other_national_id\">{national_id}</label>\n\
             <input id=\"other_national_id\" name=\"other_national_id\" autocomplete=\"off\" \
             spellcheck=\"false\" maxlength=\"20\" aria-describedby=\"other-intro\">\n\
             <label for=\"other_given_name\">{given}</label>\n\
             <input id=\"other_given_name\" name=\"other_given_name\" maxlength=\"100\">\n\
             <label for=\"other_family_name\">{family}</label>\n\
             <input id=\"other_family_name\" name=\"other_family_name\" maxlength=\"100\">\n\
             <label for=\"other_birthdate\">{birthdate}</label>\n\
             <p class=\"hint\" id=\"other-birthdate-hint\">{birthdate_hint}</p>\n\
             <input id=\"other_birthdate\" name=\"other_birthdate\" maxlength=\"10\" \
             aria-describedby=\"other-birthdate-hint\">\n\
             <button type=\"submit\" name=\"someone_else\" value=\"yes\" class=\"primary\">{identify}</button>\n\
             </fieldset>\n</form>\n",
            legend = html::escape(texts.someone_else),
            intro = html::escape(texts.someone_else_intro),
            national_id = html::escape(texts.national_id),
            given = html::escape(texts.given_name),
            family = html::escape(texts.family_name),
            birthdate = html::escape(texts.birthdate),
            birthdate_hint = html::escape(texts.birthdate_hint),
            identify = html::escape(texts.identify),
        ));
    }
    body.push_str("</main>\n");
    html::page(StatusCode::OK, texts.lang, texts.title, &body)
}

/// The typed identity of the "someone else" form, with a `sub` the same for every login of that
/// code at this realm (as a broker keeps one user per person).
fn typed_person(realm: &Realm, form: &HashMap<String, String>) -> Option<RealmPerson> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let national_id = field("other_national_id").trim();
    if national_id.is_empty()
        || national_id.chars().count() > 20
        || national_id.chars().any(char::is_control)
    {
        return None;
    }
    let person = Person::typed(
        national_id,
        field("other_given_name"),
        field("other_family_name"),
        field("other_birthdate"),
    );
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}\n{}", realm.issuer, person.national_id.to_uppercase()).as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    let sub = super::realm::uuid_of(bytes);
    Some(RealmPerson {
        person: Someone::Citizen(person),
        sub,
    })
}

/// `POST {issuer}/login-actions/authenticate`: the answer to the login page.
pub(crate) async fn authenticate(State(realm): State<Arc<Realm>>, body: Bytes) -> Response {
    let form = match parse_params(&String::from_utf8_lossy(&body)) {
        Ok(form) => form,
        Err(message) => return html::error_page(StatusCode::BAD_REQUEST, &message),
    };
    let pending = form
        .get("session_code")
        .and_then(|code| lock(&realm.pending).remove(code))
        .filter(|pending| pending.expires > realm.now());
    let Some(pending) = pending else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            "Your login attempt timed out. Login will start from the beginning.",
        );
    };
    if form.contains_key("cancel") {
        tracing::debug!("mock login cancelled");
        let request = pending.request;
        return Refusal::Redirect {
            redirect_uri: request.redirect_uri,
            state: request.state,
            error: "access_denied",
            description: "User cancelled the login".to_owned(),
        }
        .respond(&realm, StatusCode::SEE_OTHER);
    }
    let person = if form.contains_key("someone_else") && realm.flavour == Flavour::Ftn {
        typed_person(&realm, &form)
    } else {
        form.get("person")
            .and_then(|p| p.parse::<usize>().ok())
            .and_then(|p| realm.persons.get(p).cloned())
    };
    match person {
        Some(person) => issue_code(&realm, pending.request, person, StatusCode::SEE_OTHER)
            .unwrap_or_else(|refusal| refusal.respond(&realm, StatusCode::SEE_OTHER)),
        None => html::error_page(
            StatusCode::BAD_REQUEST,
            "Choose a person, type an identity code, or cancel.",
        ),
    }
}

/// Logs `person` in: a new session and a single-use code, sent to the client's redirect URI.
fn issue_code(
    realm: &Realm,
    request: AuthRequest,
    person: RealmPerson,
    status: StatusCode,
) -> Result<Response, Refusal> {
    let now = realm.now();
    let sid = random_uuid();
    let redirect_uri = request.redirect_uri.clone();
    let state = request.state.clone();
    let logged_in = person.person.clone();
    realm.note(super::realm::Activity::Authorized {
        at: now,
        client_id: request.client_id.clone(),
        person: match &logged_in {
            Someone::Citizen(citizen) => {
                format!("{} {}", citizen.full_name(), citizen.national_id)
            }
            Someone::Staff(staff) => format!("{} {}", staff.full_name(), staff.username),
        },
        redirect_uri: redirect_uri.clone(),
        scope: request.scope.clone(),
    });
    let issued = IssuedCode {
        request,
        person,
        sid: sid.clone(),
        auth_time: now,
        expires: now + Duration::seconds(code_lifetime(realm)),
    };
    let code = insert_record(&realm.codes, issued, now, |c| c.expires).ok_or_else(|| {
        Refusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error: "temporarily_unavailable",
            description: "Too many codes outstanding".to_owned(),
        }
    })?;
    realm.counters.issued_codes.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        person = %logged_in.for_log(),
        "mock login succeeded"
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &state {
        params.push(("state", state));
    }
    params.push(("session_state", &sid));
    params.push(("iss", &realm.issuer));
    Ok(redirect_to(status, &redirect_uri, &params))
}

fn code_lifetime(realm: &Realm) -> i64 {
    i64::try_from(realm.settings.code_lifetime_secs).unwrap_or(i64::MAX / 2)
}

/// A redirect to `uri` with `params` added to its query.
fn redirect_to(status: StatusCode, uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(uri) else {
        return html::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Invalid redirect URI");
    };
    url.query_pairs_mut().extend_pairs(params);
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return html::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Invalid redirect URI");
    };
    let mut response = (status, [(header::CACHE_CONTROL, "no-store")]).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// `GET`/`POST {issuer}/protocol/openid-connect/logout` (OpenID Connect RP-Initiated Logout).
///
/// A verifiable `id_token_hint` ends its session (its access tokens stop working). With a
/// registered `post_logout_redirect_uri` the browser is sent there with `state`; else a page says
/// the person is logged out.
pub(crate) async fn logout(
    State(realm): State<Arc<Realm>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw = if method == Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        query.unwrap_or_default()
    };
    let params = match parse_params(&raw) {
        Ok(params) => params,
        Err(message) => return html::error_page(StatusCode::BAD_REQUEST, &message),
    };
    let named = match params.get("client_id") {
        None => None,
        Some(id) => match realm.client(id) {
            Some(client) => Some(client),
            None => return html::error_page(StatusCode::BAD_REQUEST, "Client not found."),
        },
    };
    // The session and client of the hint, judged before anything changes.
    let hinted = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match session_of_hint(&realm, hint) {
            Some((sid, client)) if named.is_none_or(|named| named.id() == client.id()) => {
                Some((sid, client))
            }
            _ => return html::error_page(StatusCode::BAD_REQUEST, "Invalid IDToken"),
        },
    };
    let redirect = params.get("post_logout_redirect_uri");
    if let Some(uri) = redirect {
        let client = named.or(hinted.as_ref().map(|(_, client)| *client));
        let Some(client) = client else {
            return html::error_page(StatusCode::BAD_REQUEST, "Missing parameters: id_token_hint");
        };
        if !client.settings.redirect_uris.contains(uri) {
            return html::error_page(StatusCode::BAD_REQUEST, "Invalid redirect uri");
        }
    }
    if let Some((sid, _)) = &hinted {
        lock(&realm.access_tokens).retain(|_, grant| grant.sid != *sid);
    }
    tracing::debug!("mock logout");
    match redirect {
        Some(uri) => {
            let mut extra = Vec::new();
            if let Some(state) = params.get("state") {
                extra.push(("state", state.as_str()));
            }
            redirect_to(StatusCode::FOUND, uri, &extra)
        }
        None => html::page(
            StatusCode::OK,
            "en",
            "Logged out",
            "<main>\n<h1>You are logged out</h1>\n</main>\n",
        ),
    }
}

/// The `sid` of an ID token this realm signed for one of its clients (expired ones included, as
/// Keycloak accepts them as hints), and that client.
fn session_of_hint<'r>(
    realm: &'r Realm,
    hint: &str,
) -> Option<(String, &'r Arc<RegisteredClient>)> {
    let header = client::JwsHeader::parse(hint).ok()?;
    let jwks = realm.public_jwks();
    let keys = jwks.get("keys").and_then(Value::as_array)?;
    let claims = client::verify_with(hint, &header, keys).ok()?;
    if claims.get("iss").and_then(Value::as_str) != Some(realm.issuer.as_str()) {
        return None;
    }
    let client = realm
        .clients
        .iter()
        .find(|client| audience_contains(&claims, &[client.id()]))?;
    let sid = claims.get("sid").and_then(Value::as_str)?;
    Some((sid.to_owned(), client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_refused_and_empty_one_ignored() {
        assert!(parse_params("a=1&a=2").is_err());
        let params = parse_params("a=&b=%C3%A4").expect("parses");
        assert!(!params.contains_key("a"));
        assert_eq!(params["b"], "ä");
    }

    #[test]
    fn request_object_values_replace_query_values() {
        let mut params = parse_params("state=query&scope=openid&nonce=n").expect("parses");
        let claims = serde_json::json!({
            "state": "object", "max_age": 300, "nonce": null, "aud": "ignored",
            "claims": {"id_token": {}}
        });
        let claims = claims.as_object().cloned().unwrap_or_default();
        merge_request_object(&mut params, &claims).expect("merges");
        assert_eq!(params["state"], "object");
        assert_eq!(params["max_age"], "300");
        assert_eq!(params["scope"], "openid");
        assert!(!params.contains_key("nonce") && !params.contains_key("aud"));
        let bad = serde_json::json!({"prompt": ["login"]});
        assert!(merge_request_object(&mut params, bad.as_object().unwrap_or(&Map::new())).is_err());
    }

    #[test]
    fn pkce_values_follow_rfc_7636() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"-._~Az09".repeat(16)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn login_page_language_follows_ui_locales() {
        for flavour in [Flavour::Ftn, Flavour::Campus] {
            let lang = |ui_locales| login_texts(flavour, wanted_lang(ui_locales)).lang;
            assert_eq!(lang(Some("sv-FI fi")), "sv");
            assert_eq!(lang(Some("de fi")), "fi");
            assert_eq!(lang(Some("de")), "en");
            assert_eq!(lang(None), "en");
        }
        assert_ne!(
            login_texts(Flavour::Ftn, None).title,
            login_texts(Flavour::Campus, None).title
        );
    }
}
