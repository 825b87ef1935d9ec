//! Operations: liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::KeepBody;
use crate::app::AppState;

/// `GET /healthz`: the process answers.
pub async fn alive() -> &'static str {
    "ok"
}

/// `GET /metrics`: counters and histograms in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    // What waits in the shared store, read at each scrape (the same on every replica).
    if let Some(notifier) = &state.notifier {
        match notifier.status().await {
            Ok(status) => {
                gauge(
                    &mut text,
                    "tunnus_notices_waiting",
                    "Notices in the outbox waiting for delivery.",
                    status.waiting,
                );
                gauge(
                    &mut text,
                    "tunnus_notices_oldest_seconds",
                    "Age of the oldest notice waiting, in seconds.",
                    status.oldest_seconds,
                );
                gauge(
                    &mut text,
                    "tunnus_notices_dead",
                    "Notices given up on, kept for `tunnus notices replay`.",
                    status.dead,
                );
            }
            Err(error) => tracing::warn!(%error, "metrics: the outbox could not be read"),
        }
    }
    if let Some(helpdesk) = state.helpdesk.as_deref()
        && helpdesk.request_settings().is_some()
    {
        match helpdesk.requests_waiting().await {
            Ok((waiting, _)) => gauge(
                &mut text,
                "tunnus_service_requests_waiting",
                "Service requests waiting for the helpdesk.",
                waiting,
            ),
            Err(error) => tracing::warn!(%error, "metrics: the service requests could not be read"),
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

/// Appends the gauge `name` with `value` in the text exposition format.
fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    ));
}

/// `GET /readyz`: the store and the directory answer and the broker's discovery document can be read.
pub async fn ready(State(state): State<AppState>) -> Response {
    let (store, directory, broker) = tokio::join!(
        state.store.health(),
        state.accounts.directory_ready(),
        state.rp.ready()
    );
    let ok = store.is_ok() && directory.is_ok() && broker.is_ok();
    if let Err(error) = &store {
        tracing::warn!(%error, "readiness: store");
    }
    if let Err(error) = &directory {
        tracing::warn!(%error, "readiness: directory");
    }
    if let Err(error) = &broker {
        tracing::warn!(%error, "readiness: broker");
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "store": if store.is_ok() { "ok" } else { "unavailable" },
        "directory": if directory.is_ok() { "ok" } else { "unavailable" },
        "broker": if broker.is_ok() { "ok" } else { "unavailable" },
    });
    if state.helpdesk.is_some() {
        // Activation codes live for weeks: say whether they would survive a restart of the store.
        // This does not make the service unready: strong identification works either way.
        body["codes"] = match state.store.persistent().await {
            Some(true) => "durable",
            Some(false) => "not_durable",
            None => "unknown",
        }
        .into();
    }
    if let Some(notifier) = &state.notifier {
        // Notices wait in the outbox while a mail server or an endpoint is down; that does not make
        // the service unready, but the outbox's depth and age tell an operator to look.
        body["notices"] = match notifier.status().await {
            Ok(status) => json!({
                "waiting": status.waiting,
                "oldest_seconds": status.oldest_seconds,
                "dead": status.dead,
                "endpoints_off": status.endpoints_off,
            }),
            Err(_) => json!("unavailable"),
        };
    }
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(KeepBody);
    response
}
