//! `{public_url}/admin/realms/{realm}/faults`: fault switches over HTTP, for testers running the mock
//! on its own.
//!
//! - `GET` → `{"faults": [...], "pending_once": [...]}`;
//! - `PUT {"faults": ["wrong_nonce", ...], "once": false}` replaces the realm-wide faults; with
//!   `"once": true` the faults are added for the next authorization or token request only;
//! - `DELETE` switches every fault off.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::faults::Fault;
use super::json_response;
use super::realm::Realm;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsUpdate {
    faults: Vec<Fault>,
    #[serde(default)]
    once: bool,
}

pub(crate) async fn show(State(realm): State<Arc<Realm>>) -> Response {
    view(&realm)
}

pub(crate) async fn update(State(realm): State<Arc<Realm>>, body: Bytes) -> Response {
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

pub(crate) async fn clear(State(realm): State<Arc<Realm>>) -> Response {
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
