//! The plain (TCP) listener served by event loops of one thread each, as
//! nginx's worker processes: the process's runtime accepts, and hands each
//! connection, in turn, to a loop that runs it, its upstream connections
//! and whatever it spawns, start to finish, on its own thread. Nothing is
//! handed between threads on the request path, no task migrates, and a
//! loop descheduled by the kernel holds up only its own connections. Each
//! connection is handed over once (round robin), so loops stay even.
//!
//! On `scripts/bench-proxy.sh` (2 cores shared with wrk and the upstream)
//! two loops took the paid proxy path from 89% to about 95% of nginx's
//! requests per second and its p99 from 1.6x to 1.5x nginx's, against
//! tokio's work-stealing runtime of the same thread count (with the
//! request path's shared locks and counts removed at the same time).
//!
//! Everything else (the store, settlements, polling, the metrics listener,
//! the TLS listener) stays on the process's shared runtime; a loop may use
//! it (store connections, channels, timers work across runtimes).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Connections accepted but not yet taken up by their loop, per loop.
const HANDOVER_QUEUE: usize = 256;

/// How many event loops serve the plain listener by default: one per core.
pub(super) fn default_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Serves `router` on `listener` with `workers` event loops until
/// `shutdown` completes (then gracefully: each loop finishes its
/// connections' requests). A loop that fails stops the others.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    workers: NonZeroUsize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let (ended, mut ends) = mpsc::channel(workers.get());
    let mut loops = Vec::with_capacity(workers.get());
    for index in 0..workers.get() {
        let (handover, taken) = mpsc::channel(HANDOVER_QUEUE);
        loops.push(handover);
        let incoming = Handed { taken, local };
        let router = router.clone();
        let stopped = stopped.clone();
        let ended = ended.clone();
        std::thread::Builder::new()
            .name(format!("l402-worker-{index}"))
            .spawn(move || {
                let result = run(incoming, router, stopped);
                // The receiver outlives every loop.
                let _ = ended.blocking_send(result);
            })?;
    }
    drop(ended);
    let accepting = accept(listener, loops);
    tokio::pin!(shutdown);
    tokio::pin!(accepting);
    let mut first = tokio::select! {
        () = &mut shutdown => None,
        () = &mut accepting => None,
        result = ends.recv() => result,
    };
    // Stopping: no new connection; every loop finishes what it has.
    let _ = stop.send(true);
    let mut running = workers.get() - usize::from(first.is_some());
    while running > 0 {
        let Some(result) = ends.recv().await else {
            break;
        };
        running -= 1;
        if first.as_ref().is_none_or(Result::is_ok) {
            first = Some(result);
        }
    }
    first.unwrap_or(Ok(()))
}

/// Accepts and hands each connection to the next loop; returns when every
/// loop has stopped taking connections.
async fn accept(
    listener: TcpListener,
    loops: Vec<mpsc::Sender<(std::net::TcpStream, SocketAddr)>>,
) {
    let mut next = 0;
    loop {
        let (tcp, peer) = accept_patiently(&listener).await;
        // Off this runtime's driver, onto the loop's.
        let Ok(tcp) = tcp.into_std() else { continue };
        // The next loop, or the one after if it has stopped.
        let mut connection = (tcp, peer);
        let mut taken = false;
        for _ in 0..loops.len() {
            let target = &loops[next % loops.len()];
            next = next.wrapping_add(1);
            match target.send(connection).await {
                Ok(()) => {
                    taken = true;
                    break;
                }
                Err(mpsc::error::SendError(back)) => connection = back,
            }
        }
        if !taken {
            return;
        }
    }
}

/// The next connection; an accept that fails (out of descriptors, say)
/// is retried after a pause instead of spinning.
pub(super) async fn accept_patiently(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The connections handed to one loop, as axum's listener.
struct Handed {
    taken: mpsc::Receiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handed {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((tcp, peer)) = self.taken.recv().await else {
                // No more connections: the loop stops on its signal.
                return std::future::pending().await;
            };
            match TcpStream::from_std(tcp) {
                Ok(tcp) => return (tcp, peer),
                Err(e) => tracing::debug!(%peer, error = %e, "connection not registered"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// One event loop: a single-threaded runtime serving the connections
/// handed to it until `stopped` turns true.
fn run(incoming: Handed, router: Router, mut stopped: watch::Receiver<bool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        axum::serve(incoming.tap_io(nodelay), app)
            .with_graceful_shutdown(stop)
            .await?;
        Ok(())
    })
}

/// Sends small answers at once (no Nagle delay behind an unacknowledged
/// segment), as nginx's `tcp_nodelay on` does on keep-alive connections.
pub(super) fn nodelay(stream: &mut TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY not set: {e}");
    }
}
