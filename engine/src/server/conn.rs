//! Connections: the accept loop, HTTP/1.1 and cleartext HTTP/2 on one port, and the timeouts
//! that keep slow or idle clients from holding the server's resources.
//!
//! Each accepted connection is served by hyper-util's auto builder (it tells HTTP/2 prior
//! knowledge from HTTP/1.1 by the first 24 bytes). What a client may hold, and for how long
//! (see [`ConnConfig`]):
//!
//! * **Request headers** (HTTP/1.1): all of a request's head must arrive within
//!   [`ConnConfig::header_read_timeout`] of the server starting to wait for it, which is also
//!   how long a keep-alive connection may sit between requests. Past it the connection is
//!   closed. A head with more than 100 headers or over about 400 KiB gets 431.
//! * **Request body**: all of it must arrive within [`ConnConfig::body_read_timeout`] of the
//!   request's head; past it the request gets 408 `RequestTimeoutException` and the
//!   connection is closed.
//! * **Idle connections** (either protocol, and connections that never send a byte): a
//!   connection with no request in flight for [`ConnConfig::idle_timeout`] is shut down
//!   gracefully (HTTP/2 GOAWAY), and dropped if it is still open and idle after as long again.
//! * **HTTP/2**: at most [`ConnConfig::h2_max_concurrent_streams`] streams at once, and a
//!   header list of at most 16 KiB (hyper's default).
//! * **Connections**: at most [`ConnConfig::max_connections`] served at once; at the cap the
//!   accept loop waits for one to close (the gauge `ServerConnections` counts them).
//!
//! A request is "in flight" from its head to the end (or drop) of its response body, so a
//! SubscribeToShard that streams for five minutes keeps its connection open.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Connection-level limits of the server (see the module docs).
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// How long an HTTP/1.1 request head may take to arrive, counted from when the server
    /// starts waiting for it (so also the keep-alive idle time). Default 30 s.
    pub header_read_timeout: Duration,
    /// How long a request body may take to arrive, counted from the request's head. Default
    /// 60 s: a 20 MiB body needs at least about 350 KB/s.
    pub body_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight. Default 60 s.
    pub idle_timeout: Duration,
    /// Most concurrent HTTP/2 streams per connection. Default 200.
    pub h2_max_concurrent_streams: u32,
    /// Most connections served at once. Default 4096. At the cap the server stops
    /// accepting: new connections wait in the kernel's listen backlog (and past it are
    /// refused by the kernel) until a served one closes. Keep it below the process's file
    /// descriptor limit.
    pub max_connections: usize,
    /// Serve HTTPS with this certificate instead of cleartext (see [`super::tls`]). Default
    /// none.
    pub tls: Option<super::tls::TlsConfig>,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            h2_max_concurrent_streams: 200,
            max_connections: 4096,
            tls: None,
        }
    }
}

/// The instant by which a request's body must have arrived, put in the request's extensions
/// by the connection layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyDeadline(pub Instant);

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    active: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn start(self: &Arc<Self>) -> InFlight {
        self.active.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// When the connection's idle time runs out, or `None` while a request is in flight.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        let since = *self.idle_since.lock();
        (self.active.load(Ordering::SeqCst) == 0).then_some(since + idle)
    }
}

/// One request in flight; dropping it ends the request.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut since = self.0.idle_since.lock();
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            *since = Instant::now();
        }
    }
}

/// A response body that keeps its request in flight until it ends or is dropped.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The per-connection service: the router, with the peer's address and the body deadline
/// in each request's extensions.
#[derive(Clone)]
struct ConnService {
    router: Router,
    remote: SocketAddr,
    activity: Arc<Activity>,
    body_read_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = hyper::Response<Tracked>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<hyper::Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.start();
        req.extensions_mut().insert(ConnectInfo(self.remote));
        req.extensions_mut()
            .insert(BodyDeadline(Instant::now() + self.body_read_timeout));
        let mut router = self.router.clone();
        // The router is always ready (axum documents `poll_ready` as always `Ready`).
        let fut = tower_service::Service::call(&mut router, req.map(Body::new));
        Box::pin(async move {
            let resp = match fut.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(resp.map(|inner| Tracked {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` with the limits of `conn` until `shutdown` completes, then
/// finishes the requests in flight.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    conn: ConnConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(conn.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(conn.h2_max_concurrent_streams)
        .enable_connect_protocol();
    let builder = Arc::new(builder);
    let conn = Arc::new(conn);

    // Connections hold a receiver each; the sender's `closed()` completes when all are gone.
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let slots = Arc::new(tokio::sync::Semaphore::new(
        conn.max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let gauge = metrics::gauge!("ServerConnections");
    let mut warned_at: Option<Instant> = None;
    loop {
        // A free slot first: at the cap, new connections wait in the listen backlog.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    warned_at = Some(Instant::now());
                    tracing::warn!(
                        max_connections = conn.max_connections,
                        "connection cap reached; new connections wait until one closes"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = signal_tx.closed() => break,
                }
            }
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        // A SubscribeToShard response is a stream of small event-stream frames; with Nagle's
        // algorithm a frame written while the previous one is unacknowledged waits for the
        // client's delayed ACK (up to 40 ms on Linux).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY on a connection: {e}");
        }
        let activity = Arc::new(Activity {
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        });
        let service = ConnService {
            router: router.clone(),
            remote,
            activity: Arc::clone(&activity),
            body_read_timeout: conn.body_read_timeout,
        };
        let builder = Arc::clone(&builder);
        let conn = Arc::clone(&conn);
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        let open = slots_in_use(&slots, conn.max_connections);
        gauge.set(open as f64);
        let gauge = gauge.clone();
        let slots = Arc::clone(&slots);
        let max = conn.max_connections;
        let acceptor = conn.tls.as_ref().map(super::tls::TlsConfig::acceptor);
        tokio::spawn(async move {
            let link = Link {
                service,
                activity,
                conn: Arc::clone(&conn),
                signal_tx,
                remote,
            };
            match acceptor {
                None => drive(&builder, TokioIo::new(tcp), link).await,
                Some(acceptor) => {
                    match tokio::time::timeout(conn.header_read_timeout, acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => drive(&builder, TokioIo::new(tls), link).await,
                        Ok(Err(e)) => tracing::debug!(%remote, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
            gauge.set(slots_in_use(&slots, max) as f64);
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}

/// What serving one connection needs besides its I/O.
struct Link {
    service: ConnService,
    activity: Arc<Activity>,
    conn: Arc<ConnConfig>,
    signal_tx: tokio::sync::watch::Sender<()>,
    remote: SocketAddr,
}

/// Serves one connection (cleartext or TLS) until it ends, the server shuts down, or it has
/// been idle too long.
async fn drive<I>(
    builder: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    io: I,
    link: Link,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let Link {
        service,
        activity,
        conn,
        signal_tx,
        remote,
    } = link;
    let connection = builder.serve_connection_with_upgrades(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut signalled = false;
    let mut idle_shutdown_at: Option<Instant> = None;
    loop {
        // While no request is in flight the connection is idle; past the idle time it
        // is asked to shut down, and past twice the idle time it is dropped.
        let idle_deadline = activity.idle_deadline(conn.idle_timeout);
        let wake = match (idle_deadline, idle_shutdown_at) {
            (Some(_), Some(asked)) => Some(asked + conn.idle_timeout),
            (Some(d), None) => Some(d),
            (None, _) => None,
        };
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                // Nothing to wait for while a request is in flight; check again later.
                None => tokio::time::sleep(conn.idle_timeout).await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%remote, "connection ended: {e}");
                }
                break;
            }
            () = signal_tx.closed(), if !signalled => {
                signalled = true;
                connection.as_mut().graceful_shutdown();
            }
            () = sleep => {
                let Some(d) = activity.idle_deadline(conn.idle_timeout) else {
                    continue;
                };
                let now = Instant::now();
                match idle_shutdown_at {
                    Some(asked) if now >= asked + conn.idle_timeout => {
                        tracing::debug!(%remote, "dropping an idle connection that did not shut down");
                        break;
                    }
                    None if now >= d => {
                        tracing::debug!(%remote, "closing an idle connection");
                        idle_shutdown_at = Some(now);
                        connection.as_mut().graceful_shutdown();
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Connections being served: slots taken.
fn slots_in_use(slots: &tokio::sync::Semaphore, max: usize) -> usize {
    max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
        .saturating_sub(slots.available_permits())
}
