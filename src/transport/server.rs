//! The node's HTTPS server: TLS with rustls, HTTP/1.1 and HTTP/2 with hyper,
//! routing with axum.
//!
//! Admission happens before any per-request work: a semaphore caps open
//! connections, the TLS handshake has a deadline, and a connection whose
//! client certificate does not verify never reaches a handler (rustls
//! refuses it). The peer's certificate is put in each request's extensions
//! as [`PeerCertificate`] so handlers can compare it with what SMP lists.
//! `serve` stops accepting when `shutdown` resolves and waits for open
//! connections to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use crate::pki::Certificate;

/// The TLS client certificate of the connection a request came on, if the
/// client presented one (always, under mutual TLS).
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub Option<Certificate>);

/// The remote address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Limits on what a client can hold open.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    /// A connection is asked to close (after its requests finish) once it
    /// is this old, so no client holds a slot forever.
    pub max_connection_age: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self { max_connections: 512, handshake_timeout: Duration::from_secs(10), max_connection_age: Duration::from_secs(600) }
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then
/// drains open connections.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
        };
        let (tcp, addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(peer = %addr, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %addr, "TLS handshake timed out");
                    return;
                }
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|der| Certificate::from_der(der.to_vec()).ok());
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(PeerCertificate(peer.clone()));
                request.extensions_mut().insert(PeerAddr(addr));
                router.clone().call(request)
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            let age_limit = tokio::time::sleep(limits.max_connection_age);
            tokio::pin!(age_limit);
            // Ask once: a finished timer stays ready and would spin the loop.
            let mut closing = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(peer = %addr, error = %e, "connection closed with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    _ = &mut age_limit, if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    // Stop accepting, ask every connection to finish, wait for them.
    let _ = stop_tx.send(true);
    let _ = permits.acquire_many(limits.max_connections as u32).await;
    Ok(())
}
