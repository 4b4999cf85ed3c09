//! The server loop: accept TCP connections and serve the router over HTTP/1.1 and HTTP/2 (hyper-util's auto
//! builder), with the client's address as `ConnectInfo`, graceful shutdown, and two bounds on stalling clients
//! that `axum::serve` does not have:
//!
//! - **header read timeout**: once a connection with no request in flight receives the first byte of a
//!   request, the request head must be complete (the router called) within `header_read_timeout`;
//! - **idle timeout**: a connection with no request in flight that receives nothing for `idle_timeout`
//!   (after it opened or after its last response ended) is closed.
//!
//! A request in flight (its response body included, so an open event stream) is never cut by either: its own
//! deadline bounds it. A closed connection is dropped, which closes the socket; nothing was being answered on
//! it. This module only serves; it knows nothing of routes or the protocol.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::Config;

/// How long connections may stall.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// The limits the configuration sets (`header_read_timeout_secs`, `idle_timeout_secs`).
    #[must_use]
    pub fn of(config: &Config) -> Self {
        Self { header_read_timeout: config.limits.header_read_timeout, idle_timeout: config.limits.idle_timeout }
    }
}

/// Serve `app` on `listener` until `shutdown` is cancelled, then let open connections finish their requests
/// (new requests are refused) and return when all are closed. The caller bounds that wait.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let (stream, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // A child token per connection: a connection checks its token on every wake-up, which locks the token,
        // and one token shared by every connection was one lock all worker threads took turns on.
        connections.spawn(serve_connection(stream, remote, app.clone(), limits, shutdown.child_token()));
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = service_activity.begin_request();
        let app = app.clone();
        async move {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(remote));
            let response = app.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            // The request counts as in flight until its body has been sent or dropped.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &in_flight;
                    frame
                }))
            }))
        }
    });
    let builder = Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let check = activity.check(limits);
        let wait = match check {
            Check::Close(reason) => {
                tracing::debug!(%remote, reason, "closing a stalled connection");
                return;
            }
            Check::Wait(wait) => wait,
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%remote, error = %e, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// What the watchdog decided.
enum Check {
    Close(&'static str),
    Wait(Duration),
}

/// No request head has started since the connection went idle.
const NONE: u64 = u64::MAX;

/// What a connection is doing, shared by its socket, its service and its watchdog. Times are milliseconds
/// since the connection opened.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    idle_since: AtomicU64,
    head_started: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Bytes arrived: while idle, the first of them starts the header read timeout.
    fn received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_started.compare_exchange(NONE, self.now(), Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
        InFlight(self.clone())
    }

    fn check(&self, limits: ConnectionLimits) -> Check {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Check::Wait(limits.header_read_timeout.min(limits.idle_timeout));
        }
        let now = self.now();
        let (since, limit, reason) = match self.head_started.load(Ordering::Acquire) {
            NONE => (self.idle_since.load(Ordering::Acquire), limits.idle_timeout, "idle_timeout"),
            started => (started, limits.header_read_timeout, "header_read_timeout"),
        };
        let elapsed = Duration::from_millis(now.saturating_sub(since));
        match limit.checked_sub(elapsed) {
            Some(left) if !left.is_zero() => Check::Wait(left),
            _ => Check::Close(reason),
        }
    }
}

/// A request in flight on a connection; dropping it (response sent, or abandoned) may make the connection idle.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.idle_since.store(activity.now(), Ordering::Release);
            activity.head_started.store(NONE, Ordering::Release);
        }
    }
}

/// The socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
