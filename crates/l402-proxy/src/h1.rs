//! Plain HTTP/1.1 upstream connections, pooled per service and driven on
//! the task of the request that uses them.
//!
//! hyper's pooled client runs each connection in a task of its own: a
//! request crosses to it through a channel, and the response head and
//! each body chunk cross back, a task wake-up each way. Here a request
//! takes an idle connection out of the pool and polls it itself, first
//! while waiting for the response head, then from the response body's
//! `poll_frame`; once the body has ended the connection goes back to the
//! pool. That is what nginx's event loop does, and on `scripts/bench-proxy.sh`
//! it is worth about a sixth of the requests per second.
//!
//! A connection is reused only when its response was read to the end;
//! one dropped early (the client went away) is closed. An idle connection
//! is not polled: a close from the upstream is noticed when it is taken
//! out of the pool (it is then skipped) or by the sweep that runs every
//! [`SWEEP_EVERY`] and drops connections idle longer than the pool's idle
//! timeout. A request written to a connection that turned out closed
//! before hyper sent anything is sent again on a new connection; one
//! already sent is never sent twice.
//!
//! WebSocket upgrades, h2c and https upstreams keep hyper's pooled client.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::uri::Authority;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use sync_wrapper::SyncWrapper;
use tokio::net::TcpStream;

use crate::forward::{BoxError, UpstreamBody};

/// How often idle connections are checked for age and for a close from
/// the upstream.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// The most headers an upstream response may have (hyper's default).
const MAX_HEADERS: usize = 100;

/// One upstream connection: the handle requests are sent on and the
/// connection state machine that must be polled for anything to move.
struct Conn {
    sender: SendRequest<UpstreamBody>,
    conn: Connection<TokioIo<TcpStream>, UpstreamBody>,
}

impl Conn {
    /// Polls the connection once without a waker of interest: `false` when
    /// it has ended (closed by the upstream, or failed).
    fn alive(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(&mut self.conn).poll(&mut cx).is_pending()
    }

    /// Whether a request can be sent on it now (polled once more when the
    /// dispatcher has not yet noticed the previous exchange ended).
    fn usable(&mut self) -> bool {
        for _ in 0..2 {
            if !self.alive() {
                return false;
            }
            if self.sender.is_ready() {
                return true;
            }
        }
        false
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The idle connections made on one thread. A connection's socket is
/// registered with the runtime of the thread that made it, whose driver
/// wakes whoever waits on it: on `l402 serve`'s one-thread event loops a
/// connection used from another loop would wait for that loop to run, so
/// each thread takes back the connections it made.
struct Queue {
    thread: ThreadId,
    idle: VecDeque<Idle>,
}

/// The queues of the threads whose slot falls here, on a cache line of
/// their own: two event loops taking and returning connections touch no
/// common memory.
#[repr(align(128))]
struct Shard(Mutex<Vec<Queue>>);

/// Shards per pool: threads beyond this share shards (still each taking
/// only its own connections).
const SHARDS: usize = 16;

static NEXT_SLOT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, assigned on first use.
    static SLOT: usize = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SHARDS;
}

struct Shared {
    authority: Authority,
    /// `Host` for the upstream: the authority, without `:80`.
    host: HeaderValue,
    /// The idle connections, by the thread that made them.
    shards: Box<[Shard]>,
    /// The most idle connections kept per shard (one per thread unless
    /// more threads than [`SHARDS`] use the pool).
    max_idle: usize,
    idle_timeout: Duration,
    sweeping: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// This thread's shard.
    fn queues(&self) -> std::sync::MutexGuard<'_, Vec<Queue>> {
        let slot = SLOT.with(|slot| *slot);
        self.shards[slot % self.shards.len()]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn all_queues(&self) -> impl Iterator<Item = std::sync::MutexGuard<'_, Vec<Queue>>> {
        self.shards
            .iter()
            .map(|shard| shard.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.all_queues()
            .map(|queues| queues.iter().map(|q| q.idle.len()).sum::<usize>())
            .sum()
    }

    /// A usable idle connection this thread made, most recently used first
    /// (its socket is the likeliest to be warm and open).
    fn take(&self) -> Option<Conn> {
        let thread = std::thread::current().id();
        let now = Instant::now();
        loop {
            let idle = {
                let mut queues = self.queues();
                let queue = queues.iter_mut().find(|q| q.thread == thread)?;
                let idle = queue.idle.pop_back()?;
                if now.duration_since(idle.since) >= self.idle_timeout {
                    // The rest are older still.
                    queue.idle.clear();
                    return None;
                }
                idle
            };
            let mut conn = idle.conn;
            if conn.usable() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for this thread's next request, within the bound (of
    /// this thread's shard).
    fn put(self: &Arc<Self>, conn: Conn) {
        let thread = std::thread::current().id();
        {
            let mut queues = self.queues();
            let total: usize = queues.iter().map(|q| q.idle.len()).sum();
            if total >= self.max_idle {
                // The oldest goes, this thread's first: the bound holds,
                // the warm ones stay.
                let own = queues
                    .iter()
                    .position(|q| q.thread == thread && !q.idle.is_empty());
                let longest = (0..queues.len()).max_by_key(|&i| queues[i].idle.len());
                if let Some(i) = own.or(longest) {
                    queues[i].idle.pop_front();
                }
            }
            let idle = Idle {
                conn,
                since: Instant::now(),
            };
            match queues.iter_mut().find(|q| q.thread == thread) {
                Some(queue) => queue.idle.push_back(idle),
                None => queues.push(Queue {
                    thread,
                    idle: VecDeque::from([idle]),
                }),
            }
        }
        self.start_sweeping();
    }

    /// Starts the sweep (once, from the first connection kept, so that a
    /// pool built outside a runtime works).
    fn start_sweeping(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.sweeping.load(Ordering::Relaxed) || self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Relaxed);
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(sweep(weak));
    }

    /// Drops connections idle too long or closed by the upstream.
    fn sweep(&self) {
        let now = Instant::now();
        for mut queues in self.all_queues() {
            for queue in queues.iter_mut() {
                queue.idle.retain_mut(|i| {
                    now.duration_since(i.since) < self.idle_timeout && i.conn.alive()
                });
            }
        }
    }
}

async fn sweep(pool: Weak<Shared>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.sweep();
    }
}

/// Why a request did not get a response head from the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum H1Error {
    /// No TCP connection (or no HTTP/1.1 handshake) could be made.
    #[error("cannot connect to the upstream")]
    Connect(#[source] BoxError),
    /// The exchange failed once the request was handed to a connection.
    #[error("the upstream exchange failed")]
    Exchange(#[source] hyper::Error),
}

/// Pooled HTTP/1.1 connections to one upstream. Cheap to clone: clones
/// share the pool.
#[derive(Clone)]
pub(crate) struct H1Pool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for H1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Pool")
            .field("authority", &self.shared.authority)
            .field("max_idle", &self.shared.max_idle)
            .finish_non_exhaustive()
    }
}

impl H1Pool {
    /// A pool for `authority` keeping at most `max_idle` idle connections
    /// per thread, each at most `idle_timeout`.
    pub(crate) fn new(authority: Authority, max_idle: usize, idle_timeout: Duration) -> Self {
        let host = match authority.port_u16() {
            Some(80) => authority.host(),
            _ => authority.as_str(),
        };
        // An Authority is always a valid header value.
        let host = HeaderValue::from_str(host).unwrap_or_else(|_| HeaderValue::from_static(""));
        H1Pool {
            shared: Arc::new(Shared {
                authority,
                host,
                shards: (0..SHARDS).map(|_| Shard(Mutex::new(Vec::new()))).collect(),
                max_idle,
                idle_timeout,
                sweeping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// How many idle connections the pool holds now.
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.shared.idle_count()
    }

    /// Sends `request` (its URI in origin form: path and query) with the
    /// upstream's `Host`, on an idle connection or a new one.
    pub(crate) async fn send(
        &self,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, H1Error> {
        request
            .headers_mut()
            .insert(header::HOST, self.shared.host.clone());
        if let Some(conn) = self.shared.take() {
            match self.exchange(conn, request).await {
                Ok(response) => return Ok(response),
                // Not sent: the connection was closed under it.
                Err(Retry::Unsent(again)) => request = *again,
                Err(Retry::Failed(e)) => return Err(e),
            }
        }
        let conn = self.connect().await?;
        match self.exchange(conn, request).await {
            Ok(response) => Ok(response),
            Err(Retry::Unsent(_)) => Err(H1Error::Connect(
                "the new connection closed before the request was sent".into(),
            )),
            Err(Retry::Failed(e)) => Err(e),
        }
    }

    async fn connect(&self) -> Result<Conn, H1Error> {
        let authority = &self.shared.authority;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| H1Error::Connect(Box::new(e)))?;
        // As nginx's tcp_nodelay: a response head is not held back.
        tcp.set_nodelay(true)
            .map_err(|e| H1Error::Connect(Box::new(e)))?;
        // hyper's default limit, set: the parser then skips a 3 KiB copy
        // per response (hyper builds its inline header array otherwise).
        let (sender, conn) = http1::Builder::new()
            .max_headers(MAX_HEADERS)
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| H1Error::Connect(Box::new(e)))?;
        Ok(Conn { sender, conn })
    }

    /// Sends on `conn`, polling it until the response head is in.
    async fn exchange(
        &self,
        mut conn: Conn,
        request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, Retry> {
        let sent = conn.sender.try_send_request(request);
        let mut sent = std::pin::pin!(sent);
        let mut open = true;
        let answered = std::future::poll_fn(|cx| {
            if open && Pin::new(&mut conn.conn).poll(cx).is_ready() {
                // Ended: `sent` resolves with the reason.
                open = false;
            }
            sent.as_mut().poll(cx)
        })
        .await;
        match answered {
            Ok(response) => {
                let pool = Arc::downgrade(&self.shared);
                let conn = open.then(|| SyncWrapper::new(conn));
                Ok(response.map(|body| PooledBody {
                    body,
                    conn,
                    pool,
                    ended: false,
                }))
            }
            Err(mut e) => match e.take_message() {
                Some(request) => Err(Retry::Unsent(Box::new(request))),
                None => Err(Retry::Failed(H1Error::Exchange(e.into_error()))),
            },
        }
    }
}

enum Retry {
    Unsent(Box<Request<UpstreamBody>>),
    Failed(H1Error),
}

/// A response body from a pooled connection: polling it drives the
/// connection; once it has ended the connection returns to the pool.
pub(crate) struct PooledBody {
    body: Incoming,
    /// Reached only through `&mut self`, so the body is `Sync` though the
    /// connection (holding the request body) is not.
    conn: Option<SyncWrapper<Conn>>,
    pool: Weak<Shared>,
    ended: bool,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(conn) = &mut this.conn
            && Pin::new(&mut conn.get_mut().conn).poll(cx).is_ready()
        {
            // Ended or failed: the body reports which.
            this.conn = None;
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            this.ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        if !self.is_end_stream() {
            // Unread body on the wire: the connection cannot carry another
            // request; dropping it closes it.
            return;
        }
        // Whether it is still open is checked when it is taken again.
        if let (Some(conn), Some(pool)) = (self.conn.take(), self.pool.upgrade()) {
            pool.put(conn.into_inner());
        }
    }
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
