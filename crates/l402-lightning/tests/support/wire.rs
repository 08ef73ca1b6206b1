//! Serving an in-process wire fake on loopback, with a switch that cuts the
//! connections: a handler that has done its work (paid) calls
//! [`Cutter::cut`] and never answers, and the client's connection is closed
//! without a byte of the answer: the "connection lost after the request was
//! sent" fault, over plain TCP or TLS alike.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tower::ServiceExt;

/// Cuts every open connection of a [`serve`]d fake.
#[derive(Clone, Default)]
pub struct Cutter(Arc<Notify>);

impl Cutter {
    /// Closes every connection now, whatever it is doing.
    pub fn cut(&self) {
        self.0.notify_waiters();
    }

    /// A future that resolves at the next [`Cutter::cut`], registered now
    /// (so a cut made before it is first polled is not missed).
    pub fn armed(&self) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.0.notified());
        notified.as_mut().enable();
        notified
    }
}

/// Serves `app` on a loopback port, over TLS if `tls` is given. Returns the
/// address and the connections' [`Cutter`].
pub async fn serve(
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cutter: Cutter,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let app = app.clone();
            let cutter = cutter.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                        app.clone().oneshot(request)
                    });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let signal = cutter.armed();
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            _ = conn => {}
                            _ = signal => {}
                        }
                    }
                    None => {
                        let signal = cutter.armed();
                        let conn = builder.serve_connection(TokioIo::new(tcp), service);
                        tokio::select! {
                            _ = conn => {}
                            _ = signal => {}
                        }
                    }
                }
            });
        }
    });
    addr
}
