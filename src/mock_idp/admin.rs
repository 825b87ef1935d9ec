//! `{public_url}/admin/realms/{realm}/faults`: fault switches over HTTP, for testers running the mock
//! on its own.
//!
//! - `GET` → `{"faults": [...], "pending_once": [...]}`;
//! - `PUT {"faults": ["wrong_nonce", ...], "once": false}` replaces the realm-wide faults; with
//!   `"once": true` the faults are added for the next authorization or token request only;
//! - `DELETE` switches every fault off.
//!
//! `{public_url}/admin/realms/{realm}/clients/{client_id}/faults` does the same for one registered
//! client: its faults apply to its own authorizations and token requests, on top of the realm's.
//! Faults of the realm's metadata (discovery, certs) are the realm's only and are refused here.
//!
//! `{public_url}/admin/realms/{realm}/activity`: a page of the latest authorizations and the ID
//! tokens issued (their claims decoded), for debugging a relying party.
//!
//! These answer clients on the loopback interface only (403 to any other): they have no
//! authentication, and the page shows the claims of every login.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::faults::Fault;
use super::faults::FaultState;
use super::html;
use super::json_response;
use super::realm::{Activity, Realm, lock};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsUpdate {
    faults: Vec<Fault>,
    #[serde(default)]
    once: bool,
}

/// 403 unless `peer` is on the loopback interface (IPv4-mapped loopback included).
pub(crate) fn refuse_remote(peer: SocketAddr) -> Option<Response> {
    let ip = match peer.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        other => other,
    };
    (!ip.is_loopback()).then(|| {
        json_response(
            StatusCode::FORBIDDEN,
            &json!({"error": "forbidden", "error_description": "the admin endpoints answer loopback clients only"}),
        )
    })
}

pub(crate) async fn show(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    view(&realm)
}

pub(crate) async fn update(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    let update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => return bad_update(&error),
    };
    apply(&mut realm.faults(), update);
    tracing::debug!("mock faults changed over HTTP");
    view(&realm)
}

pub(crate) async fn clear(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    realm.faults().clear();
    view(&realm)
}

/// The realm's faults, and each client's own.
fn view(realm: &Realm) -> Response {
    let clients: serde_json::Map<String, serde_json::Value> = realm
        .clients
        .iter()
        .map(|client| (client.id().to_owned(), faults_json(&client.faults())))
        .collect();
    let mut body = faults_json(&realm.faults());
    body["clients"] = clients.into();
    json_response(StatusCode::OK, &body)
}

fn faults_json(faults: &FaultState) -> serde_json::Value {
    json!({"faults": faults.realm_wide(), "pending_once": faults.pending_once()})
}

/// The answer to a `PUT` whose body is not a [`FaultsUpdate`].
fn bad_update(error: &serde_json::Error) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "error": "invalid_request",
            "error_description": format!(
                "expected {{\"faults\": [names], \"once\": bool}}: {error}"
            ),
            "known_faults": Fault::ALL,
        }),
    )
}

fn apply(faults: &mut FaultState, update: FaultsUpdate) {
    if update.once {
        for fault in update.faults {
            faults.add_once(fault);
        }
    } else {
        faults.set(update.faults);
    }
}

/// The answer for a client id nobody registered: the ones that are.
fn unknown_client(realm: &Realm) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "error": "not_found",
            "error_description": "no client is registered with this client_id",
            "clients": realm.clients.iter().map(|client| client.id()).collect::<Vec<_>>(),
        }),
    )
}

/// `GET {public_url}/admin/realms/{realm}/clients/{client_id}/faults`.
pub(crate) async fn show_client(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    match realm.client(&client_id) {
        Some(client) => json_response(StatusCode::OK, &faults_json(&client.faults())),
        None => unknown_client(&realm),
    }
}

/// `PUT {public_url}/admin/realms/{realm}/clients/{client_id}/faults`.
pub(crate) async fn update_client(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    let Some(client) = realm.client(&client_id) else {
        return unknown_client(&realm);
    };
    let update: FaultsUpdate = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => return bad_update(&error),
    };
    if let Some(fault) = update.faults.iter().find(|fault| !fault.acts_per_client()) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "error": "invalid_request",
                "error_description": format!(
                    "{}: switch it on for the realm at /admin/realms/{}/faults",
                    fault.not_per_client(),
                    realm.settings.realm
                ),
            }),
        );
    }
    apply(&mut client.faults(), update);
    tracing::debug!(client_id = %client.id(), "mock client faults changed over HTTP");
    json_response(StatusCode::OK, &faults_json(&client.faults()))
}

/// `DELETE {public_url}/admin/realms/{realm}/clients/{client_id}/faults`.
pub(crate) async fn clear_client(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    match realm.client(&client_id) {
        Some(client) => {
            client.faults().clear();
            json_response(StatusCode::OK, &faults_json(&client.faults()))
        }
        None => unknown_client(&realm),
    }
}

/// `GET {public_url}/admin/realms/{realm}/activity`: the latest authorizations and tokens, newest
/// first.
pub(crate) async fn activity(
    State(realm): State<Arc<Realm>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refusal) = refuse_remote(peer) {
        return refusal;
    }
    let time = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut items = String::new();
    for entry in lock(&realm.activity).iter().rev() {
        match entry {
            Activity::Authorized {
                at,
                client_id,
                person,
                redirect_uri,
                scope,
            } => items.push_str(&format!(
                "<li class=\"authorized\"><time>{}</time> Authorized <strong>{}</strong> for \
                 client <code>{}</code> (scope <code>{}</code>) to <code>{}</code></li>\n",
                html::escape(&time(*at)),
                html::escape(person),
                html::escape(client_id),
                html::escape(scope),
                html::escape(redirect_uri),
            )),
            Activity::Tokens {
                at,
                client_id,
                claims,
            } => items.push_str(&format!(
                "<li class=\"tokens\"><time>{}</time> Tokens issued to client <code>{}</code>; \
                 the ID token's claims:\n<pre>{}</pre></li>\n",
                html::escape(&time(*at)),
                html::escape(client_id),
                html::escape(&serde_json::to_string_pretty(claims).unwrap_or_default()),
            )),
        }
    }
    if items.is_empty() {
        items.push_str("<li>Nothing yet.</li>\n");
    }
    let title = format!("Recent activity of realm {}", realm.settings.realm);
    let body = format!(
        "<p class=\"test\">TEST SERVICE – not a real identification.</p>\n<main>\n\
         <h1>{}</h1>\n<p>The latest {} authorizations and tokens, newest first.</p>\n\
         <ol class=\"activity\">\n{items}</ol>\n</main>\n",
        html::escape(&title),
        super::realm::ACTIVITY_KEPT,
    );
    html::page(StatusCode::OK, "en", &title, &body)
}
