//! Serving connections: the accept loop, one task per connection speaking HTTP/1.1 through hyper,
//! the per-connection deadlines (request head, keep-alive idle), and the drain deadline at
//! shutdown. It replaces `warp::serve`, whose server has no timer: a client that never finished
//! its request head kept its connection forever, and graceful shutdown waited for it.
//!
//! The body-read deadline is not here but where the body is read (`super::incoming`), so a slow
//! body gets a JSON 408 from the one error map instead of a silent close.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use warp::reply::Response;

use crate::config::Settings;

/// The TCP peer of a request. This server puts it into every request's extensions; warp's
/// `addr::remote()` only sees warp's own server.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// The connection deadlines.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From a new connection, or from the first byte of a later request, to the end of its head.
    pub header_read: Duration,
    /// How long a connection may wait, after an answer, for the first byte of its next request.
    pub idle: Duration,
    /// How long shutdown waits for open connections before dropping them.
    pub drain: Duration,
}

impl Timeouts {
    pub fn from_settings(s: &Settings) -> Self {
        Timeouts {
            header_read: s.header_read_timeout.to_std(),
            idle: s.idle_timeout.to_std(),
            drain: s.shutdown_drain_timeout.to_std(),
        }
    }
}

/// Serves `service` on `listener` until `shutdown` resolves; then stops accepting, asks every
/// connection to close after its current request, and returns once all have closed or
/// `timeouts.drain` has passed (dropping those still open), so the process can exit.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        tracing::error!("a connection task panicked");
                    }
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        service.clone(),
                        timeouts,
                        stopping.clone(),
                    ));
                }
                // The peer gave up before we accepted: nothing to do.
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Usually EMFILE: retrying at once would spin; a pause lets connections close.
                    tracing::error!(error = %e, "accept failed; pausing one second");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    tracing::info!(
        open = connections.len(),
        "stopped accepting; draining connections"
    );
    let drained = tokio::time::timeout(timeouts.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            dropped = connections.len(),
            "drain deadline passed; dropping the connections still open"
        );
        connections.shutdown().await;
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    timeouts: Timeouts,
    mut stopping: watch::Receiver<bool>,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    let watchdog = Arc::new(Watchdog::new());
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        watchdog: watchdog.clone(),
    });
    let service = Tracked {
        inner: service,
        peer: PeerAddr(peer),
        watchdog: watchdog.clone(),
    };
    // No hyper timer: hyper's own header timeout would also run while a keep-alive connection
    // waits, so it cannot tell a slow head from an idle connection. The watchdog does both.
    let conn = http1::Builder::new().serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut asked_to_close = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            phase = watchdog.expired(timeouts) => {
                tracing::debug!(%peer, phase, "connection deadline passed; closing it");
                return;
            }
            // An error means the server is gone: close as for a shutdown.
            _ = stopping.wait_for(|s| *s), if !asked_to_close => {
                asked_to_close = true;
                // Idle connections close now; a request in progress is answered first.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Where a connection is in its request cycle, and since when.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Head { since: Instant },
    /// Answered; waiting for the first byte of the next request.
    Idle { since: Instant },
    /// The head is complete and the service is answering; the body has its own deadline there.
    Busy,
}

/// The per-connection deadline keeper. The IO wrapper and the service report progress; the
/// connection task waits on `expired`.
struct Watchdog {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Watchdog {
    /// A new connection owes its first request head within the header deadline.
    fn new() -> Self {
        Watchdog {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
        self.changed.notify_one();
    }

    fn get(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: on an idle connection they start the next request head.
    fn bytes_read(&self) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                since: Instant::now(),
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// Resolves when the current phase's deadline has passed, naming the phase.
    async fn expired(&self, t: Timeouts) -> &'static str {
        loop {
            let changed = self.changed.notified();
            let deadline = match self.get() {
                Phase::Head { since } => Some((since + t.header_read, "request head")),
                Phase::Idle { since } => Some((since + t.idle, "idle")),
                Phase::Busy => None,
            };
            match deadline {
                Some((at, phase)) if at <= Instant::now() => return phase,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// The socket, telling the watchdog when bytes arrive.
struct WatchedIo {
    inner: TcpStream,
    watchdog: Arc<Watchdog>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watchdog.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The service as hyper sees it: hyper calls it once the head is complete, so a call marks the
/// connection busy and its answer marks it idle. It also hands the peer address to the routes.
struct Tracked<S> {
    inner: S,
    peer: PeerAddr,
    watchdog: Arc<Watchdog>,
}

impl<S> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.peer);
        self.watchdog.set(Phase::Busy);
        let answer = self.inner.call(req);
        let watchdog = self.watchdog.clone();
        Box::pin(async move {
            let r = answer.await;
            watchdog.set(Phase::Idle {
                since: Instant::now(),
            });
            r
        })
    }
}
