//! Calls to model servers: requests prepared once per deployment, sent over the pooled
//! connections of Purser's HTTP stack (`purser_serve::client`), with timeouts, a cap on the
//! answer's size, and errors sorted into the few kinds the router acts on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use purser_serve::client::{Client, Origin, PooledBody, Protocol, SendError};
use tokio::time::Instant;

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

/// Where one deployment's requests go, prepared once when the model is loaded: each
/// endpoint's URI in both forms, the `Host` header, the `Authorization` header, and the
/// server's connection pool.
#[derive(Debug)]
pub struct Target {
    /// Absolute, for HTTP/2.
    uris: [http::Uri; 3],
    /// Path only, for HTTP/1.1.
    paths: [http::Uri; 3],
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    origin: Arc<Origin>,
}

impl Target {
    /// `base` is an OpenAI-compatible base URL such as `http://vllm:8000/v1`. The
    /// connections of `previous` (the deployment's target before a reload) are kept if it
    /// points at the same server.
    pub fn new(base: &str, api_key: Option<&str>, previous: Option<&Target>) -> Option<Self> {
        let uri = |endpoint: Endpoint| format!("{base}/{}", endpoint.path()).parse::<http::Uri>().ok();
        let uris = [uri(Endpoint::ChatCompletions)?, uri(Endpoint::Completions)?, uri(Endpoint::Embeddings)?];
        let path = |uri: &http::Uri| uri.path_and_query()?.as_str().parse::<http::Uri>().ok();
        let paths = [path(&uris[0])?, path(&uris[1])?, path(&uris[2])?];
        let host = HeaderValue::from_str(uris[0].authority()?.as_str()).ok()?;
        let authorization = match api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let origin = match previous {
            Some(p) if p.origin.serves(&uris[0]) => Arc::clone(&p.origin),
            _ => Origin::new(&uris[0])?,
        };
        Some(Self { uris, paths, host, authorization, origin })
    }

    fn request(&self, endpoint: Endpoint, body: &Bytes, protocol: Protocol) -> Request<Full<Bytes>> {
        let uri = match protocol {
            Protocol::Http1 => &self.paths[endpoint as usize],
            Protocol::Http2 => &self.uris[endpoint as usize],
        };
        let mut request = Request::post(uri.clone()).body(Full::new(body.clone())).unwrap_or_default();
        let headers = request.headers_mut();
        if protocol == Protocol::Http1 {
            headers.insert(header::HOST, self.host.clone());
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &self.authorization {
            headers.insert(header::AUTHORIZATION, authorization.clone());
        }
        request
    }
}

pub struct Upstream {
    client: Client,
    max_response_bytes: usize,
}

impl Upstream {
    pub fn new(config: &GatewayConfig) -> std::io::Result<Self> {
        let client = Client::new(config.connect_timeout, Duration::from_secs(90))?;
        Ok(Self { client, max_response_bytes: config.max_response_bytes })
    }

    /// Sends a JSON body and waits, until `head_by` at the latest, for the response head.
    /// (Deadlines, not durations: a timeout reads the clock to work out its deadline.)
    pub async fn post(
        &self,
        target: &Target,
        endpoint: Endpoint,
        body: Bytes,
        head_by: Instant,
    ) -> Result<Response<PooledBody>, CallError> {
        let sent = self.client.send(&target.origin, |protocol| target.request(endpoint, &body, protocol));
        match tokio::time::timeout_at(head_by, sent).await {
            Err(_) => Err(CallError::Timeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, uri = %target.uris[endpoint as usize], "model server call failed");
                Err(match e {
                    SendError::Connect(_) => CallError::Connect,
                    SendError::Broken(_) => CallError::Broken,
                })
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Reads a whole (non-streamed) answer, until `deadline` and up to `max_response_bytes`.
    pub async fn read(&self, body: PooledBody, deadline: Instant) -> Result<Bytes, CallError> {
        let limited = Limited::new(body, self.max_response_bytes);
        match tokio::time::timeout_at(deadline, limited.collect()).await {
            Err(_) => Err(CallError::Timeout),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(CallError::TooLarge),
            Ok(Err(_)) => Err(CallError::Broken),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }
}
