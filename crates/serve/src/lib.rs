//! Serves an axum router on serving threads, one single-threaded tokio runtime each, one
//! per core by default. An acceptor on the caller's runtime hands each new connection to
//! the threads in turn, and the connection lives on that thread to its end: its requests,
//! the handler's calls out (a pooled model-server connection made there stays there) and
//! their wake-ups never cross to another core.
//!
//! Why: a proxy's request is a chain of short steps (read the request, call the model
//! server, read its answer, write the answer back), each woken by the one before. On a
//! work-stealing runtime the steps of one request land on different cores, and every
//! hand-over costs a cross-core wake-up and cache misses. Pinned, Purser's gateway answered
//! about a sixth more requests per second on two cores, with less CPU per request
//! (docs/benchmarks.md). The cost is that one busy connection cannot spread over several
//! cores; connections, not requests, are balanced.
//!
//! Anything a handler spawns runs on its serving thread; long CPU work belongs in
//! `spawn_blocking`, as on any runtime.
//!
//! The client side, connections to model servers pooled per thread, is in [`client`].

pub mod client;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::serve::{Listener, ListenerExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// How a serving run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every connection finished its requests in time.
    Drained,
    /// The grace period ran out; the connections still open were cut.
    Cut,
}

/// The number of serving threads to use when none is configured: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Serves `router` on `threads` serving threads until `shutdown` resolves; then stops
/// accepting, lets the requests in flight finish for at most `grace`, and cuts what is
/// left. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    threads: usize,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<Ended> {
    let local_addr = listener.local_addr()?;
    let (drain_tx, drain_rx) = watch::channel(false);
    let (cut_tx, cut_rx) = watch::channel(false);
    let mut inboxes = Vec::new();
    let mut finished = Vec::new();
    for index in 0..threads.max(1) {
        let (inbox, connections) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        // (Built here, so that a runtime that cannot start fails this call, not a thread.)
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = ServingThread {
            connections,
            local_addr,
            router: router.clone(),
            drain: drain_rx.clone(),
            cut: cut_rx.clone(),
        };
        std::thread::Builder::new().name(format!("purser-http-{index}")).spawn(move || {
            let _ = done_tx.send(thread.run(runtime));
        })?;
        inboxes.push(inbox);
        finished.push(done_rx);
    }

    tokio::select! {
        () = accept(listener, inboxes) => unreachable!("the acceptor runs until shut down"),
        () = shutdown => {}
    }
    let _ = drain_tx.send(true);
    let all_done = async {
        let mut result = Ok(());
        for done in &mut finished {
            match done.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("a serving thread panicked")),
            }
        }
        result
    };
    if let Ok(result) = tokio::time::timeout(grace, all_done).await {
        return result.map(|()| Ended::Drained);
    }
    let _ = cut_tx.send(true);
    for done in finished {
        let _ = done.await;
    }
    Ok(Ended::Cut)
}

/// Accepts connections and deals them to the serving threads in turn.
async fn accept(listener: TcpListener, inboxes: Vec<mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>) {
    for inbox in inboxes.iter().cycle() {
        let (stream, peer) = loop {
            match listener.accept().await {
                Ok(accepted) => break accepted,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        // Leave this runtime's reactor: the serving thread registers it with its own.
        match stream.into_std() {
            Ok(stream) => {
                let _ = inbox.send((stream, peer));
            }
            Err(e) => tracing::warn!(error = %e, "cannot hand a connection over"),
        }
    }
}

struct ServingThread {
    connections: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    local_addr: SocketAddr,
    router: Router,
    drain: watch::Receiver<bool>,
    cut: watch::Receiver<bool>,
}

impl ServingThread {
    fn run(self, runtime: tokio::runtime::Runtime) -> io::Result<()> {
        let Self { connections, local_addr, router, mut drain, mut cut } = self;
        let result = runtime.block_on(async move {
            // (`tap_io` also gives handlers the peer address as `ConnectInfo<SocketAddr>`.)
            let listener = Handed { connections, local_addr }.tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
            let app = router.into_make_service_with_connect_info::<SocketAddr>();
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = drain.wait_for(|drain| *drain).await;
            });
            tokio::select! {
                result = serving => result,
                _ = cut.wait_for(|cut| *cut) => Ok(()),
            }
        });
        // Tasks still running (cut connections) are dropped; do not wait on stragglers in
        // the blocking pool for long.
        runtime.shutdown_timeout(Duration::from_secs(1));
        result
    }
}

/// The connections the acceptor handed to one serving thread.
struct Handed {
    connections: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    local_addr: SocketAddr,
}

impl Listener for Handed {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.connections.recv().await else {
                // The acceptor is gone: shutdown is under way and drains this thread.
                return std::future::pending().await;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(e) => tracing::warn!(error = %e, "cannot take over a connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Where each request ran and whom it came from; `/slow` takes a while.
    fn router() -> Router {
        Router::new()
            .route(
                "/",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    format!("{} {peer}", std::thread::current().name().unwrap_or("?"))
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    "done"
                }),
            )
    }

    struct Server {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        ended: tokio::task::JoinHandle<io::Result<Ended>>,
    }

    async fn start(threads: usize, grace: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let ended = tokio::spawn(serve(listener, router(), threads, shutdown, grace));
        Server { addr, stop, ended }
    }

    /// Sends one request on a fresh connection and returns the connection's local address
    /// and the whole response, as the server closes the connection after it.
    async fn get_once(addr: SocketAddr, path: &str) -> (SocketAddr, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        (local, response)
    }

    /// A request to `/slow`, under way by the time this returns.
    async fn slow_request_in_flight(addr: SocketAddr) -> tokio::task::JoinHandle<(SocketAddr, String)> {
        let request = tokio::spawn(get_once(addr, "/slow"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        request
    }

    fn body(response: &str) -> &str {
        response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    #[tokio::test]
    async fn connections_are_dealt_to_the_serving_threads_in_turn_and_see_their_peer() {
        let server = start(2, Duration::from_secs(5)).await;
        let mut threads = Vec::new();
        for _ in 0..4 {
            let (local, response) = get_once(server.addr, "/").await;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            let (thread, peer) = body(&response).split_once(' ').unwrap();
            assert_eq!(peer, local.to_string(), "the handler sees the client's address");
            threads.push(thread.to_owned());
        }
        assert_eq!(threads, ["purser-http-0", "purser-http-1", "purser-http-0", "purser-http-1"]);
        server.stop.send(()).unwrap();
        assert_eq!(server.ended.await.unwrap().unwrap(), Ended::Drained);
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_lets_requests_in_flight_finish() {
        let server = start(2, Duration::from_secs(5)).await;
        let in_flight = slow_request_in_flight(server.addr).await;
        server.stop.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(server.addr).await.is_err(), "no new connection once shutting down");

        let (_, response) = in_flight.await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert_eq!(body(&response), "done");
        assert_eq!(server.ended.await.unwrap().unwrap(), Ended::Drained);
    }

    #[tokio::test]
    async fn requests_still_running_after_the_grace_period_are_cut() {
        let server = start(1, Duration::from_millis(100)).await;
        let in_flight = slow_request_in_flight(server.addr).await;
        let started = std::time::Instant::now();
        server.stop.send(()).unwrap();

        assert_eq!(server.ended.await.unwrap().unwrap(), Ended::Cut);
        assert!(started.elapsed() < Duration::from_millis(350), "cut before the request would have ended");
        let (_, response) = in_flight.await.unwrap();
        assert_eq!(response, "", "the cut connection closes without an answer");
    }
}
