//! The HTTP client that carries requests to model servers: hyper with a connection pool,
//! HTTP/1.1 and HTTP/2 (over TLS, by ALPN), and errors sorted into the few kinds the
//! router acts on.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thread_local::ThreadLocal;

use crate::GatewayConfig;
use crate::proxy::Endpoint;

/// Why a call to a model server did not produce an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// No connection could be made (refused, unreachable, TLS failure, connect timeout).
    Connect,
    /// Connected, but the server went away before answering.
    Broken,
    /// The server did not answer within the allowed time.
    Timeout,
    /// The answer was larger than the gateway accepts.
    TooLarge,
}

impl CallError {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Connect => "connection failed",
            Self::Broken => "the connection broke off",
            Self::Timeout => "no answer in time",
            Self::TooLarge => "the answer is too large",
        }
    }
}

/// Where one deployment's requests go, prepared once when the model is loaded: the parsed
/// URI of each endpoint, the `Host` header, and the `Authorization` header.
#[derive(Debug)]
pub struct Target {
    uris: [http::Uri; 3],
    host: HeaderValue,
    authorization: Option<HeaderValue>,
}

impl Target {
    /// `base` is an OpenAI-compatible base URL such as `http://vllm:8000/v1`.
    pub fn new(base: &str, api_key: Option<&str>) -> Option<Self> {
        let uri = |endpoint: Endpoint| format!("{base}/{}", endpoint.path()).parse::<http::Uri>().ok();
        let uris = [uri(Endpoint::ChatCompletions)?, uri(Endpoint::Completions)?, uri(Endpoint::Embeddings)?];
        let host = HeaderValue::from_str(uris[0].authority()?.as_str()).ok()?;
        let authorization = match api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Some(Self { uris, host, authorization })
    }
}

type PooledClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct Upstream {
    connector: HttpsConnector<HttpConnector>,
    /// One pool per thread: a pooled connection's task runs on the runtime that opened it,
    /// so a request on a serving thread uses connections that live on that thread
    /// (crates/serve), and talking to the model server never wakes another core.
    clients: ThreadLocal<PooledClient>,
    max_response_bytes: usize,
}

impl Upstream {
    pub fn new(config: &GatewayConfig) -> std::io::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        Ok(Self { connector, clients: ThreadLocal::new(), max_response_bytes: config.max_response_bytes })
    }

    fn client(&self) -> &PooledClient {
        self.clients.get_or(|| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(1024)
                .build(self.connector.clone())
        })
    }

    /// Sends a JSON body and waits, at most `timeout`, for the response head.
    pub async fn post(
        &self,
        target: &Target,
        endpoint: Endpoint,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Response<Incoming>, CallError> {
        let uri = &target.uris[endpoint as usize];
        let mut request = Request::post(uri.clone());
        let headers = request.headers_mut().expect("a fresh request builder has headers");
        headers.insert(header::HOST, target.host.clone());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &target.authorization {
            headers.insert(header::AUTHORIZATION, authorization.clone());
        }
        let request = request.body(Full::new(body)).map_err(|_| CallError::Connect)?;
        match tokio::time::timeout(timeout, self.client().request(request)).await {
            Err(_) => Err(CallError::Timeout),
            Ok(Err(e)) if e.is_connect() => {
                tracing::debug!(error = ?e, %uri, "model server connection failed");
                Err(CallError::Connect)
            }
            Ok(Err(e)) => {
                tracing::debug!(error = ?e, %uri, "model server call failed");
                Err(CallError::Broken)
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Reads a whole (non-streamed) answer, at most `timeout` and `max_response_bytes`.
    pub async fn read(&self, body: Incoming, timeout: Duration) -> Result<Bytes, CallError> {
        let limited = Limited::new(body, self.max_response_bytes);
        match tokio::time::timeout(timeout, limited.collect()).await {
            Err(_) => Err(CallError::Timeout),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(CallError::TooLarge),
            Ok(Err(_)) => Err(CallError::Broken),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }
}
