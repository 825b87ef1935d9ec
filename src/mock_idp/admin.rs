//! `{public_url}/admin/realms/{realm}/faults`: fault switches over HTTP, for testers running the mock
//! on its own.
//!
//! - `GET` → `{"faults": [...], "pending_once": [...]}`;
//! - `PUT {"faults": ["wrong_nonce", ...], "once": false}` replaces the realm-wide faults; with
//!   `"once": true` the faults are added for the next authorization or token request only;
//! - `DELETE` switches every fault off.
//!
//! `{public_url}/admin/realms/{realm}/activity`: a page of the latest authorizations and the ID
//! tokens issued (their claims decoded), for debugging a relying party.
//!
//! These answer clients on the loopback interface only (403 to any other): they have no
//! authentication, and the page shows the claims of every login.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::faults::Fault;
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
    let update: FaultsUpdate = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(error) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({
                    "error": "invalid_request",
                    "error_description": format!(
                        "expected {{\"faults\": [names], \"once\": bool}}: {error}"
                    ),
                    "known_faults": Fault::ALL,
                }),
            );
        }
    };
    {
        let mut faults = realm.faults();
        if update.once {
            for fault in update.faults {
                faults.add_once(fault);
            }
        } else {
            faults.set(update.faults);
        }
    }
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

fn view(realm: &Realm) -> Response {
    let faults = realm.faults();
    json_response(
        StatusCode::OK,
        &json!({"faults": faults.realm_wide(), "pending_once": faults.pending_once()}),
    )
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
                person,
                redirect_uri,
                scope,
            } => items.push_str(&format!(
                "<li class=\"authorized\"><time>{}</time> Authorized <strong>{}</strong> \
                 (scope <code>{}</code>) to <code>{}</code></li>\n",
                html::escape(&time(*at)),
                html::escape(person),
                html::escape(scope),
                html::escape(redirect_uri),
            )),
            Activity::Tokens { at, claims } => items.push_str(&format!(
                "<li class=\"tokens\"><time>{}</time> Tokens issued; the ID token's claims:\n\
                 <pre>{}</pre></li>\n",
                html::escape(&time(*at)),
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
