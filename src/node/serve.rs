//! `brygga serve`: runs a node until told to stop.
//!
//! Starts, in order: crash recovery of attempts that were in flight, the
//! outbox worker, the AS4 server (mutual TLS) and the API listener
//! (loopback by default; TLS when `[api.tls]` is set): the local API and
//! DIGG's message API ([`crate::api`]).
//! On shutdown it stops accepting, lets requests and attempts in flight
//! finish, and returns.

use std::future::Future;
use std::sync::Arc;

use axum::routing::post;
use time::OffsetDateTime;
use tokio::net::TcpListener;

use super::runtime::{NodeError, NodeState, Shared};
use super::{receiver, sender};
use crate::config::NodeConfig;
use crate::transport::server::{serve_tls, ServerLimits};

/// Where a started node listens (the configured addresses, or the ports the
/// OS chose when they ask for port 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub as4: std::net::SocketAddr,
    pub api: std::net::SocketAddr,
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|e| NodeError::Listen { addr: addr.to_string(), reason: e.to_string() })
}

/// The AS4 endpoint's routes. The body size is not capped here: hyper has
/// no cap of its own, and axum's `DefaultBodyLimit` only applies to
/// extractors that buffer (the handler streams the body); the handler
/// enforces `limits.max_as4_message_bytes` while spooling the body.
pub fn as4_router(state: Shared) -> axum::Router {
    axum::Router::new().route("/as4", post(receiver::inbound)).with_state(state)
}

/// Starts the node; returns its bound addresses and a future that runs it
/// until `shutdown` resolves.
pub async fn start(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Bound, Shared, impl Future<Output = Result<(), NodeError>>), NodeError> {
    let tls = config.tls_server_config().map_err(|e| NodeError::Tls(e.to_string()))?;
    let as4_listener = bind(config.listen.as4).await?;
    let api_listener = bind(config.listen.api).await?;
    let bound = Bound {
        as4: as4_listener.local_addr().map_err(|e| NodeError::Other(e.to_string()))?,
        api: api_listener.local_addr().map_err(|e| NodeError::Other(e.to_string()))?,
    };
    let limits = ServerLimits { max_connections: config.limits.max_inbound_connections, ..ServerLimits::default() };
    let api_tls = match &config.api.tls {
        Some(t) => Some(
            crate::transport::tls::server_config(&t.key, &t.chain, None, &[], config.tls.min_version)
                .map_err(|e| NodeError::Tls(e.to_string()))?,
        ),
        None => None,
    };
    let state = NodeState::open(config)?;
    let message_api = crate::api::Api::open(&state)?;
    let recovered = state
        .store
        .recover_interrupted(OffsetDateTime::now_utc(), &state.retry, super::sender::jitter_sample)
        .map_err(NodeError::Store)?;
    if recovered > 0 {
        tracing::info!(recovered, "attempts interrupted by a stop rescheduled");
    }
    // Events a crash cut off between a state change and its event.
    let reconciled = message_api.webhooks.reconcile(&state.store).map_err(NodeError::Store)?;
    if reconciled > 0 {
        tracing::info!(reconciled, "webhook events missing after a stop added");
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let run_state = state.clone();
    let run = async move {
        let worker = tokio::spawn(sender::run(run_state.clone(), stop_rx.clone()));
        let hooks = tokio::spawn(message_api.webhooks.clone().run(run_state.retry.clone(), stop_rx.clone()));
        let uploads = tokio::spawn(message_api.uploads.clone().run(stop_rx.clone()));
        let as4 = {
            let mut stop = stop_rx.clone();
            tokio::spawn(serve_tls(as4_listener, tls, as4_router(run_state.clone()), limits, async move {
                let _ = stop.changed().await;
            }))
        };
        let api = {
            let mut stop = stop_rx.clone();
            let router = crate::api::router(run_state.clone(), message_api);
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            match api_tls {
                Some(tls) => tokio::spawn(serve_tls(api_listener, tls, router, ServerLimits::default(), shutdown)),
                None => tokio::spawn(async move {
                    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
                    axum::serve(api_listener, service).with_graceful_shutdown(shutdown).await
                }),
            }
        };
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = worker.await;
        let _ = hooks.await;
        let _ = uploads.await;
        let _ = as4.await;
        let _ = api.await;
        tracing::info!("node stopped");
        Ok(())
    };
    Ok((bound, state, run))
}

/// Runs a node from its configuration until Ctrl-C or SIGTERM.
pub async fn run(config: NodeConfig) -> Result<(), NodeError> {
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    let (bound, state, run) = start(config, shutdown).await?;
    tracing::info!(org = state.org_id(), as4 = %bound.as4, api = %bound.api, "node running");
    let _keep = Arc::clone(&state);
    run.await
}
