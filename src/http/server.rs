//! Accepting connections: HTTP/1.1 over hyper, at most `server.max_connections` open at once, each
//! given `server.header_read_timeout` to send each request head, and a graceful shutdown.
//!
//! Both limits are for a service reached without a reverse proxy in front: a client that opens
//! connections and sends its requests a byte at a time (slowloris) is cut off when the head has not
//! come in time, and can never hold more than `max_connections`. When every connection is in use,
//! new ones wait in the kernel's queue until one closes; they are not refused.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// The shortest time between two warnings that every connection is in use.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// How connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait until one closes.
    pub max_connections: usize,
    /// How long a connection may take to send a request head, and stay idle between requests.
    pub header_read_timeout: Duration,
    /// How long requests in flight may take to finish once `shutdown` has resolved.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in flight finish for at most `limits.shutdown_grace`, and closes what is left.
/// Handlers see the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // `true` once shutdown has begun; dropping the sender closes every connection still open.
    let (stopping, stop) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = pin!(shutdown);
    let mut last_full_warning: Option<Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if last_full_warning.is_none_or(|at| at.elapsed() >= FULL_WARNING_INTERVAL) {
                    last_full_warning = Some(Instant::now());
                    tracing::warn!(
                        %address,
                        max_connections = limits.max_connections,
                        "all server.max_connections connections are open; new connections wait \
                         until one closes (logged at most once a minute)"
                    );
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            builder.clone(),
            stream,
            peer,
            router.clone(),
            slot,
            stop.clone(),
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every slot back means every connection closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let finished = tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await;
    if finished.is_err() {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
    }
    Ok(())
}

/// Serves one connection, holding its `slot` until it closes.
async fn connection(
    builder: http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    slot: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut served = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let result = tokio::select! {
        result = served.as_mut() => Some(result),
        _ = stop.wait_for(|stopping| *stopping) => None,
    };
    let result = match result {
        Some(result) => result,
        None => {
            // Finish the request under way, if any, and close; an idle connection closes now.
            served.as_mut().graceful_shutdown();
            tokio::select! {
                result = served.as_mut() => result,
                // The grace period is over: close the connection as it is.
                _ = stop.changed() => Ok(()),
            }
        }
    };
    if let Err(error) = result {
        // Clients that go away or send nonsense are common and not the service's problem.
        if error.is_timeout() {
            tracing::debug!(%error, "connection closed: no request head within server.header_read_timeout");
        } else {
            tracing::debug!(%error, "connection ended with an error");
        }
    }
    drop(slot);
}

/// Waits out a failed `accept`. A connection that went away before it was accepted is nothing; any
/// other failure (out of file descriptors) is logged and accepting pauses for a second, as it would
/// otherwise spin.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; trying again in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
