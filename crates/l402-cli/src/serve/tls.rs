//! `l402 serve` with `[tls]`: the main listener speaks TLS, HTTP/1.1 or
//! HTTP/2 as ALPN decides (axum's server detects h2). Handshakes run in
//! tasks of their own, at most `[tls] max_handshakes` at once (1,024 by
//! default; more connections wait to be accepted) and each within
//! `[tls] handshake_timeout_secs` (10 s), so a slow client never holds up
//! the others.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{Config, Tls};

/// `https` with `[tls]`, else `http`.
pub(super) fn scheme(config: &Config) -> &'static str {
    if config.tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// Serves `router` on `listener`, with TLS when `tls` is set (on the shared
/// runtime), else on `workers` event loops ([`super::workers`]), until
/// `shutdown` completes (then gracefully).
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<&Tls>,
    router: Router,
    workers: NonZeroUsize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Some(tls) = tls else {
        return super::workers::serve(listener, router, workers, shutdown).await;
    };
    let config = tls
        .server_config()
        .map_err(|(key, reason)| anyhow::anyhow!("{key}: {reason}"))?;
    let bounds = (tls.max_handshakes, tls.handshake_timeout);
    let listener = TlsListener::spawn(listener, TlsAcceptor::from(config), bounds)?;
    // The proxy's X-Forwarded-Proto: https.
    let app = router
        .layer(axum::middleware::map_request(mark_https))
        .into_make_service_with_connect_info::<SocketAddr>();
    // tap_io: axum knows a TapIo's address as its connect info.
    axum::serve(listener.tap_io(|_| {}), app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Marks a request as received over TLS.
async fn mark_https(mut request: axum::extract::Request) -> axum::extract::Request {
    request
        .extensions_mut()
        .insert(axum::http::uri::Scheme::HTTPS);
    request
}

/// Accepted TCP connections, handed to axum once their handshake is done.
struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener`, at most `max` handshakes at once, each
    /// within `timeout`.
    fn spawn(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        (max, timeout): (usize, Duration),
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let handshakes = Arc::new(Semaphore::new(max));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let (mut tcp, peer) = super::workers::accept_patiently(&listener).await;
                if tx.is_closed() {
                    return;
                }
                super::workers::nodelay(&mut tcp);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(timeout, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            drop(permit);
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
