//! The client side of Purser's HTTP stack: connections to model servers, pooled per server
//! and per thread, over HTTP/1.1, or HTTP/2 when a TLS server offers it by ALPN.
//!
//! Built on hyper's connection API rather than hyper-util's pooled client. That client finds
//! each request's pool by hashing its scheme and host under a lock, rewrites every URI,
//! and spawns a task per request to put its connection back once the connection is ready
//! again. Here whoever knows the server (a gateway deployment) holds its [`Origin`], each
//! thread has its own idle connections there, and a connection goes back when its answer's
//! body has been read to the end. The bare proxy spent 2 to 4 µs less CPU per request
//! this way (docs/benchmarks.md).
//!
//! A connection is taken most recently used first, so a quiet pool keeps using the same
//! few; those idle longer than the idle timeout are closed. A reused connection that the
//! server closed before the request went out is dropped and the request sent on another,
//! which is what makes reuse safe against servers that time idle connections out.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri, Version};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use thread_local::ThreadLocal;
use tower::ServiceExt;

/// Idle HTTP/1.1 connections kept per server and thread; beyond this the oldest is closed.
const MAX_IDLE: usize = 1024;

/// How a request reaches the server, which decides its URI's form: HTTP/1.1 wants the path
/// (and a `Host` header), HTTP/2 the absolute URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made (refused, unreachable, TLS failure, connect timeout).
    Connect(String),
    /// Connected, but the connection failed before a response head arrived.
    Broken(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Broken(e) => write!(f, "connection failed: {e}"),
        }
    }
}

/// One server (scheme, host and port) and the connections to it.
pub struct Origin {
    uri: Uri,
    threads: ThreadLocal<Mutex<Idle>>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin").field("uri", &self.uri).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Idle {
    /// Oldest first; each with the moment it went idle.
    http1: VecDeque<(http1::SendRequest<Full<Bytes>>, Instant)>,
    /// HTTP/2 carries many requests at once, so one connection per thread is shared.
    http2: Option<http2::SendRequest<Full<Bytes>>>,
}

enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Origin {
    /// The server of `uri` (its scheme and authority; the rest is ignored), or `None` if
    /// it has no host.
    pub fn new(uri: &Uri) -> Option<Arc<Self>> {
        let authority = uri.authority()?.clone();
        let uri = Uri::builder().scheme(uri.scheme()?.clone()).authority(authority).path_and_query("/").build().ok()?;
        Some(Arc::new(Self { uri, threads: ThreadLocal::new() }))
    }

    /// Whether `uri` is on this server, so that a pool can outlive a reload of what points
    /// at it.
    pub fn serves(&self, uri: &Uri) -> bool {
        uri.scheme() == self.uri.scheme() && uri.authority() == self.uri.authority()
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        // (Only this thread locks its own part; the lock is never contended.)
        self.threads.get_or_default().lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection to try: the shared HTTP/2 one, or the most recently used idle one.
    fn take(&self, idle_timeout: Duration) -> Option<Sender> {
        let mut idle = self.idle();
        if let Some(shared) = &idle.http2 {
            if !shared.is_closed() {
                return Some(Sender::Http2(shared.clone()));
            }
            idle.http2 = None;
        }
        let now = Instant::now();
        while idle.http1.front().is_some_and(|(_, since)| now.duration_since(*since) > idle_timeout) {
            idle.http1.pop_front();
        }
        idle.http1.pop_back().map(|(sender, _)| Sender::Http1(sender))
    }

    fn put(&self, sender: http1::SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.http1.len() == MAX_IDLE {
            idle.http1.pop_front();
        }
        idle.http1.push_back((sender, Instant::now()));
    }
}

/// Sends requests over pooled connections.
pub struct Client {
    connector: HttpsConnector<HttpConnector>,
    idle_timeout: Duration,
}

impl Client {
    /// `connect_timeout` bounds the TCP connect; TLS and HTTP/2 handshakes count towards the
    /// caller's own timeout.
    pub fn new(connect_timeout: Duration, idle_timeout: Duration) -> std::io::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        Ok(Self { connector, idle_timeout })
    }

    /// Sends the request that `build` makes for the protocol of the connection it goes
    /// out on (it is built again if a stale connection has to be passed over), and waits
    /// for the response head. The connection is reused once the response body has been
    /// read to its end; a body dropped before that closes it.
    pub async fn send(
        &self,
        origin: &Arc<Origin>,
        mut build: impl FnMut(Protocol) -> Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, SendError> {
        loop {
            let (sender, reused) = match origin.take(self.idle_timeout) {
                Some(sender) => (sender, true),
                // (Boxed: connecting, with its resolver, TCP and TLS steps, is a future of
                // several kilobytes, which every request's future would otherwise carry and
                // copy, though most requests reuse a connection.)
                None => (Box::pin(self.connect(origin)).await?, false),
            };
            let sent = match sender {
                Sender::Http1(mut sender) => {
                    match sender.ready().await {
                        Ok(()) => {}
                        Err(_) if reused => continue,
                        Err(e) => return Err(SendError::Broken(e)),
                    }
                    match sender.try_send_request(build(Protocol::Http1)).await {
                        Ok(response) => {
                            Ok(response.map(|body| PooledBody::new(body, Some((Arc::clone(origin), sender)))))
                        }
                        Err(e) => Err(e),
                    }
                }
                Sender::Http2(mut sender) => {
                    match sender.ready().await {
                        Ok(()) => {}
                        Err(_) if reused => continue,
                        Err(e) => return Err(SendError::Broken(e)),
                    }
                    let mut request = build(Protocol::Http2);
                    *request.version_mut() = Version::HTTP_2;
                    sender
                        .try_send_request(request)
                        .await
                        .map(|response| response.map(|body| PooledBody::new(body, None)))
                }
            };
            match sent {
                Ok(response) => return Ok(response),
                // The server had closed the reused connection before the request went out.
                Err(e) if reused && e.message().is_some() => {}
                Err(e) => return Err(SendError::Broken(e.into_error())),
            }
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Sender, SendError> {
        let io =
            self.connector.clone().oneshot(origin.uri.clone()).await.map_err(|e| SendError::Connect(e.to_string()))?;
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| SendError::Connect(format!("HTTP/2 handshake: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "model server HTTP/2 connection ended");
                }
            });
            origin.idle().http2 = Some(sender.clone());
            Ok(Sender::Http2(sender))
        } else {
            let (sender, connection) =
                http1::handshake(io).await.map_err(|e| SendError::Connect(format!("HTTP/1.1 handshake: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "model server connection ended");
                }
            });
            Ok(Sender::Http1(sender))
        }
    }
}

/// A response body that hands its HTTP/1.1 connection back to the pool at its end.
pub struct PooledBody {
    body: Incoming,
    connection: Option<(Arc<Origin>, http1::SendRequest<Full<Bytes>>)>,
}

impl PooledBody {
    fn new(body: Incoming, connection: Option<(Arc<Origin>, http1::SendRequest<Full<Bytes>>)>) -> Self {
        Self { body, connection }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some((origin, sender)) = self.connection.take() {
                    origin.put(sender);
                }
            }
            // (A broken body's connection is not reused.)
            Poll::Ready(Some(Err(_))) => self.connection = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::serve::ListenerExt;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// An HTTP/1.1 server answering every POST with its body, and how many connections it
    /// has accepted.
    async fn echo_server() -> (Uri, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/echo", listener.local_addr().unwrap()).parse().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let listener = listener.tap_io(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let app = axum::Router::new().route("/echo", axum::routing::post(|body: Bytes| async move { body }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (uri, accepted)
    }

    fn post<'a>(uri: &'a Uri, body: &'static str) -> impl FnMut(Protocol) -> Request<Full<Bytes>> + 'a {
        move |protocol| {
            assert_eq!(protocol, Protocol::Http1, "a plain-text server speaks HTTP/1.1");
            let mut request = Request::post(uri.path()).body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap();
            request.headers_mut().insert(http::header::HOST, uri.authority().unwrap().as_str().parse().unwrap());
            request
        }
    }

    async fn answer(response: Response<PooledBody>) -> String {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn client(idle_timeout: Duration) -> Client {
        Client::new(Duration::from_secs(5), idle_timeout).unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_answer_has_been_read() {
        let (uri, accepted) = echo_server().await;
        let origin = Origin::new(&uri).unwrap();
        let client = client(Duration::from_secs(90));
        for body in ["one", "two", "three"] {
            let response = client.send(&origin, post(&uri, body)).await.unwrap();
            assert_eq!(answer(response).await, body);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn requests_at_once_get_connections_of_their_own() {
        let (uri, accepted) = echo_server().await;
        let origin = Origin::new(&uri).unwrap();
        let client = client(Duration::from_secs(90));
        let first = client.send(&origin, post(&uri, "first")).await.unwrap();
        let second = client.send(&origin, post(&uri, "second")).await.unwrap();
        assert_eq!((answer(first).await, answer(second).await), ("first".to_owned(), "second".to_owned()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // Both went back to the pool: two more requests at once need no new connection.
        let third = client.send(&origin, post(&uri, "third")).await.unwrap();
        let fourth = client.send(&origin, post(&uri, "fourth")).await.unwrap();
        assert_eq!((answer(third).await, answer(fourth).await), ("third".to_owned(), "fourth".to_owned()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_dropped_unread_does_not_give_its_connection_back() {
        let (uri, accepted) = echo_server().await;
        let origin = Origin::new(&uri).unwrap();
        let client = client(Duration::from_secs(90));
        drop(client.send(&origin, post(&uri, "dropped")).await.unwrap());
        let response = client.send(&origin, post(&uri, "read")).await.unwrap();
        assert_eq!(answer(response).await, "read");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_not_reused() {
        let (uri, accepted) = echo_server().await;
        let origin = Origin::new(&uri).unwrap();
        let client = client(Duration::ZERO);
        let response = client.send(&origin, post(&uri, "one")).await.unwrap();
        assert_eq!(answer(response).await, "one");
        // (Let the clock move past the moment the connection went idle.)
        let read = Instant::now();
        while Instant::now() <= read {}
        let response = client.send(&origin, post(&uri, "two")).await.unwrap();
        assert_eq!(answer(response).await, "two");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A server that answers one request per connection and, when told to, closes it
    /// without having said so (no `connection: close`), as servers that time out idle
    /// connections do; it reports each close.
    async fn closing_server() -> (Uri, tokio::sync::mpsc::UnboundedSender<()>, tokio::sync::mpsc::UnboundedReceiver<()>)
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/once", listener.local_addr().unwrap()).parse().unwrap();
        let (close, mut close_now) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (closed, closes) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.ends_with(b"hi") {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the client closed before sending its request");
                    request.extend_from_slice(&buf[..n]);
                }
                stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
                close_now.recv().await.unwrap();
                drop(stream);
                closed.send(()).unwrap();
            }
        });
        (uri, close, closes)
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_passed_over() {
        let (uri, close, mut closes) = closing_server().await;
        let origin = Origin::new(&uri).unwrap();
        let client = client(Duration::from_secs(90));
        for _ in 0..3 {
            let response = client.send(&origin, post(&uri, "hi")).await.unwrap();
            assert_eq!(answer(response).await, "ok");
            // The answer is read, so the connection is back in the pool when the server closes it.
            close.send(()).unwrap();
            closes.recv().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}/gone", listener.local_addr().unwrap()).parse().unwrap();
        drop(listener);
        let origin = Origin::new(&uri).unwrap();
        let sent = client(Duration::from_secs(90)).send(&origin, post(&uri, "hi")).await;
        assert!(matches!(sent, Err(SendError::Connect(_))), "{:?}", sent.err());
    }

    #[test]
    fn an_origin_is_a_scheme_and_a_host() {
        let origin = Origin::new(&"http://vllm:8000/v1/chat/completions".parse().unwrap()).unwrap();
        assert!(origin.serves(&"http://vllm:8000/v1/embeddings".parse().unwrap()));
        assert!(!origin.serves(&"https://vllm:8000/v1/embeddings".parse().unwrap()));
        assert!(!origin.serves(&"http://vllm:8001/v1/embeddings".parse().unwrap()));
        assert!(Origin::new(&"/v1/chat/completions".parse().unwrap()).is_none());
    }
}
