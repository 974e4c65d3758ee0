//! A stand-in OpenAI-compatible model server.
//!
//! Behaviour can be chosen per request through the requested model name, so one server
//! can play every part a test needs:
//! - `fail-<status>`: answers with that HTTP status and an OpenAI error body;
//! - `throttle-<secs>`: answers 429 with `Retry-After: <secs>` and `x-ratelimit-*` headers,
//!   as OpenAI does when rate limiting;
//! - `slow-<ms>`: waits that long before answering;
//! - `pause-<ms>`: streams with that pause between chunks (usage, when asked for, comes
//!   only in the last one, as real servers send it);
//! - `no-usage`: answers without `usage`, streamed or not (some servers do);
//! - `hang`: never answers;
//! - `cut-stream`: streams two chunks, then drops the connection;
//! - `drop-stream`: starts a stream (status and headers), then drops the connection;
//! - anything else: a normal answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{Value, json};

pub const ANSWER: &str = "This is a canned answer from the mock upstream model server.";

#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// Added before every answer.
    pub latency: Duration,
    /// Pause between streamed chunks.
    pub chunk_delay: Duration,
    /// When set, requests must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct MockState {
    config: MockConfig,
    requests: AtomicU64,
    /// Requests whose handler is still running (a client that goes away ends it).
    in_flight: AtomicU64,
    last: Mutex<Option<Seen>>,
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a MockState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a MockState) -> Self {
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MockState {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Option<Seen> {
        self.last.lock().expect("mock state poisoned").clone()
    }
}

pub fn router(config: MockConfig) -> (Router, Arc<MockState>) {
    let state = Arc::new(MockState { config, ..Default::default() });
    let router = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .with_state(Arc::clone(&state));
    (router, state)
}

/// A running mock server on a free loopback port.
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl MockUpstream {
    pub async fn start(config: MockConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let (router, state) = router(config);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, state, task }
    }

    /// The OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Stops accepting connections and drops open ones (a crashed model server).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "error": { "message": message, "type": "mock_error", "param": null, "code": status.as_u16().to_string() } });
    (status, Json(body)).into_response()
}

fn now_secs() -> i64 {
    #[allow(clippy::disallowed_methods)] // a response timestamp, not a rule
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Records the request, checks the key, and applies the behaviour its model name asks for.
async fn admit(state: &MockState, path: &str, headers: &HeaderMap, body: &Value) -> Result<String, Response> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    *state.last.lock().expect("mock state poisoned") =
        Some(Seen { path: path.to_owned(), authorization: authorization.clone(), body: body.clone() });
    if let Some(key) = &state.config.api_key
        && authorization.as_deref() != Some(&format!("Bearer {key}"))
    {
        return Err(error(StatusCode::UNAUTHORIZED, "Incorrect API key provided"));
    }
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
    if let Some(status) = model.strip_prefix("fail-").and_then(|s| s.parse::<u16>().ok()) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(error(status, "the mock upstream was told to fail"));
    }
    if let Some(secs) = model.strip_prefix("throttle-").and_then(|s| s.parse::<u64>().ok()) {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached for requests");
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, secs.into());
        headers.insert("x-ratelimit-limit-requests", 60.into());
        headers.insert("x-ratelimit-remaining-requests", 0.into());
        headers.insert("x-ratelimit-reset-requests", format!("{secs}s").parse().expect("ascii"));
        return Err(response);
    }
    if let Some(ms) = model.strip_prefix("slow-").and_then(|s| s.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if model == "hang" {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Ok(model)
}

async fn chat(State(state): State<Arc<MockState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let _flight = InFlight::enter(&state);
    let model = match admit(&state, "/v1/chat/completions", &headers, &body).await {
        Ok(model) => model,
        Err(response) => return response,
    };
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut answer = crate::chat_completion(&body, &model, ANSWER, now_secs());
        if model == "no-usage" {
            answer.as_object_mut().map(|a| a.remove("usage"));
        }
        return Json(answer).into_response();
    }
    let mut events = crate::chat_completion_stream(&body, &model, ANSWER, now_secs());
    if model == "no-usage" {
        events.retain(|e| !e.contains("\"usage\":{"));
    }
    let cut = model == "cut-stream" || model == "drop-stream";
    events.truncate(match model.as_str() {
        "cut-stream" => 2,
        "drop-stream" => 0,
        _ => events.len(),
    });
    let pause = model.strip_prefix("pause-").and_then(|ms| ms.parse().ok()).map(Duration::from_millis);
    event_stream(events, cut, pause.unwrap_or(state.config.chunk_delay))
}

/// Sends `events` as a `text/event-stream`, pausing `delay` before each; with `cut`, drops
/// the connection after the last one instead of ending cleanly.
fn event_stream(events: Vec<String>, cut: bool, delay: Duration) -> Response {
    let chunks = stream::unfold((events.into_iter(), cut), move |(mut events, cut)| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match events.next() {
            Some(event) => Some((Ok(Bytes::from(event)), (events, cut))),
            // Ending the body with an error makes the server drop the connection mid-stream;
            // wait first so what was sent reaches the client before the cut.
            None if cut => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Err(std::io::Error::other("stream cut")), (events, false)))
            }
            None => None,
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(chunks))
        .expect("static response parts")
}

async fn completions(State(state): State<Arc<MockState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let model = match admit(&state, "/v1/completions", &headers, &body).await {
        Ok(model) => model,
        Err(response) => return response,
    };
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return event_stream(
            crate::completion_stream(&body, &model, ANSWER, now_secs()),
            false,
            state.config.chunk_delay,
        );
    }
    Json(crate::completion(&body, &model, ANSWER, now_secs())).into_response()
}

async fn embeddings(State(state): State<Arc<MockState>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    match admit(&state, "/v1/embeddings", &headers, &body).await {
        Ok(model) => Json(crate::embeddings(&body, &model)).into_response(),
        Err(response) => response,
    }
}

async fn models() -> Json<Value> {
    Json(json!({ "object": "list", "data": [{ "id": "mock", "object": "model", "created": 0, "owned_by": "mock" }] }))
}
