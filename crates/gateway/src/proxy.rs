//! One proxied request: check the key, admit it under its limits, forward it (or answer
//! from the built-in mock), pass the answer back as it arrives, and meter it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use http_body_util::{BodyDataStream, BodyExt};
use purser_domain::Timestamp;
use purser_domain::api_key::looks_like_secret;
use purser_domain::model::{Capability, ProviderKind};
use purser_domain::usage::UsageRecord;
use purser_serve::client::PooledBody;
use rand::Rng;
use serde_json::Value;

use crate::Gateway;
use crate::body::RequestBody;
use crate::error::GatewayError;
use crate::governor::{self, Governor, Permit, Scope};
use crate::routing::{self, DeploymentLimits};
use crate::sse::{SseFilter, Usage, usage_of_body};
use crate::tables::{KeyEntry, Route, TeamEntry};
use crate::upstream::CallError;

/// The answer the built-in mock provider gives; it says what it is.
pub const MOCK_ANSWER: &str = "This is a mock answer from Purser's built-in mock provider; no model server was called.";

/// The proxied OpenAI endpoints (the discriminant indexes each deployment's URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions = 0,
    Completions = 1,
    Embeddings = 2,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat/completions",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
        }
    }

    fn capability(self) -> Capability {
        match self {
            Self::ChatCompletions => Capability::Chat,
            Self::Completions => Capability::Completions,
            Self::Embeddings => Capability::Embeddings,
        }
    }

    fn can_stream(self) -> bool {
        self != Self::Embeddings
    }
}

/// The upstream's answer, before it is metered and passed on.
enum Reply {
    Whole { status: StatusCode, content_type: HeaderValue, body: Bytes },
    Stream(BoxStream<'static, Result<Bytes, GatewayError>>),
}

/// Meters a request exactly once: when it is finished, or, if the client goes away first,
/// when it is dropped (status 499, with whatever usage was seen).
struct Metering {
    gateway: Arc<Gateway>,
    key: Arc<KeyEntry>,
    team: Option<Arc<TeamEntry>>,
    user: Option<Arc<Governor>>,
    /// Held until the request is metered: its parallel-request slots.
    permit: Permit,
    route: Arc<Route>,
    endpoint: Endpoint,
    request_id: String,
    started: Instant,
    streamed: bool,
    /// The limits of the deployment that answered, which are owed its tokens.
    deployment: Option<Arc<DeploymentLimits>>,
    usage: Option<Usage>,
    done: bool,
}

impl Metering {
    fn finish(&mut self, status: u16) {
        self.finish_at(status, Instant::now());
    }

    /// Meters the request as ended at `ended`.
    fn finish_at(&mut self, status: u16, ended: Instant) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let usage = self.usage.unwrap_or_default();
        let cost = self.route.cost(usage.prompt_tokens, usage.completion_tokens);
        let services = &self.gateway.services;
        let now = services.now();
        let tokens = usage.prompt_tokens + usage.completion_tokens;
        if let Some(key) = &self.key.governor {
            key.settle(cost, tokens, now);
        }
        if let Some(team) = &self.team {
            team.governor.settle(cost, tokens, now);
        }
        if let Some(user) = &self.user {
            user.settle(cost, tokens, now);
        }
        if let Some(tpm) = self.deployment.as_ref().and_then(|d| d.tpm.as_ref()) {
            tpm.debit(tokens, now.as_millis());
        }
        std::mem::take(&mut self.permit);
        let elapsed = ended.saturating_duration_since(self.started);
        let counters = &self.route.metrics;
        if status == 200 {
            counters.ok.inc();
        } else {
            self.gateway.metrics.count_status(&self.route.name, status);
        }
        counters.prompt_tokens.inc_by(usage.prompt_tokens);
        counters.completion_tokens.inc_by(usage.completion_tokens);
        self.gateway.metrics.duration.observe(elapsed.as_secs_f64());
        self.gateway.meter.record(UsageRecord {
            id: services.ids().next_id_at(now),
            request_id: std::mem::take(&mut self.request_id),
            key_id: self.key.id,
            team_id: self.key.team_id,
            user_id: self.key.user_id,
            model_id: self.route.id,
            model_name: self.route.name.clone(),
            endpoint: self.endpoint.path().to_owned(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost,
            latency_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            status,
            streamed: self.streamed,
            created_at: now,
        });
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        self.finish(499);
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, GatewayError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(GatewayError::missing_key)?;
    let value = value.to_str().map_err(|_| GatewayError::invalid_key())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(GatewayError::invalid_key)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(GatewayError::invalid_key());
    }
    Ok(token.trim())
}

impl Gateway {
    pub(crate) fn authenticate(&self, headers: &HeaderMap, now: Timestamp) -> Result<Arc<KeyEntry>, GatewayError> {
        let secret = bearer(headers)?;
        if !looks_like_secret(secret) {
            return Err(GatewayError::invalid_key());
        }
        let key = self.keys.lookup(secret).ok_or_else(GatewayError::invalid_key)?;
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(GatewayError::expired_key());
        }
        Ok(key)
    }

    pub(crate) fn key_models(&self, key: &KeyEntry) -> Vec<Arc<Route>> {
        key.model_ids.iter().filter_map(|id| self.models.by_id(*id)).collect()
    }

    /// The key's team, which must be usable and allow the model.
    fn team_for(&self, key: &KeyEntry, model: &Route) -> Result<Option<Arc<TeamEntry>>, GatewayError> {
        let Some(team_id) = key.team_id else { return Ok(None) };
        let team = self.teams.get(team_id).filter(|t| t.org_active).ok_or_else(GatewayError::team_unavailable)?;
        if !team.allows(model.id) {
            return Err(GatewayError::model_not_allowed(&model.name));
        }
        Ok(Some(team))
    }

    /// Admits the request under the limits of its key, the key's team and the key's user.
    fn admit(
        &self,
        key: &Arc<KeyEntry>,
        team: Option<&Arc<TeamEntry>>,
        user: Option<&Arc<Governor>>,
        now: Timestamp,
    ) -> Result<Permit, GatewayError> {
        let mut scopes = Vec::with_capacity(3);
        if let Some(governor) = &key.governor {
            scopes.push((Scope::Key, governor));
        }
        if let Some(team) = team {
            scopes.push((Scope::Team(&team.name), &team.governor));
        }
        if let Some(user) = user {
            scopes.push((Scope::User, user));
        }
        let permit = governor::admit(&scopes, now)?;
        if let Some(shared) = &self.shared {
            if let Some(governor) = &key.governor {
                shared.join('k', key.id, governor);
            }
            if let Some(team) = team {
                shared.join('t', team.id, &team.governor);
            }
            if let Some(user) = user {
                shared.join('u', key.user_id, user);
            }
        }
        Ok(permit)
    }

    pub(crate) async fn proxy(
        self: Arc<Self>,
        endpoint: Endpoint,
        headers: HeaderMap,
        body: Body,
        request_id: String,
    ) -> Result<Response, GatewayError> {
        // The clock is read once here and reused: in a virtual machine a read costs tens of
        // nanoseconds, and a request used to make fifteen.
        let started = Instant::now();
        let now = self.services.now();
        let key = self.authenticate(&headers, now)?;
        let limit = self.config.max_request_bytes;
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| GatewayError::body_too_large(limit))?;
        let request = RequestBody::parse(body)?;
        let route = self.models.by_name(&request.model).ok_or_else(|| GatewayError::model_not_found(&request.model))?;
        if !key.allows(route.id) {
            return Err(GatewayError::model_not_allowed(&request.model));
        }
        if !route.capabilities.contains(&endpoint.capability()) {
            return Err(GatewayError::unsupported(&request.model, endpoint.path()));
        }
        let team = self.team_for(&key, &route)?;
        let user = self.users.get(key.user_id);
        let permit = self.admit(&key, team.as_ref(), user.as_ref(), now)?;

        let streamed = endpoint.can_stream() && request.stream;
        // Usage of a stream comes in a last chunk the client may not have asked for: ask
        // on its behalf, and remove that chunk on the way back.
        let ask_usage = streamed && !request.client_wants_usage;
        let mut metering = Metering {
            gateway: Arc::clone(&self),
            key,
            team,
            user,
            permit,
            route: Arc::clone(&route),
            endpoint,
            request_id,
            started,
            streamed,
            deployment: None,
            usage: None,
            done: false,
        };
        let (reply, waited) = match route.kind {
            ProviderKind::Mock => {
                let body = request.for_upstream(&route.name, ask_usage);
                let value = serde_json::from_slice(&body).unwrap_or_default();
                (mock_reply(endpoint, &route, &value, streamed, now.as_secs()), Duration::ZERO)
            }
            ProviderKind::OpenAiCompatible => {
                match self.forward(endpoint, &route, &request, streamed, ask_usage, (started, now)).await {
                    Ok(forwarded) => {
                        metering.deployment = forwarded.deployment;
                        (forwarded.reply, forwarded.waited)
                    }
                    Err(e) => {
                        metering.finish(e.status.as_u16());
                        return Err(e);
                    }
                }
            }
        };
        let (response, ready) = self.deliver(reply, metering, ask_usage);
        self.metrics.overhead.observe(ready.saturating_duration_since(started).saturating_sub(waited).as_secs_f64());
        Ok(response)
    }

    /// Sends the request to the model's deployments until one answers: a failure that
    /// reached the client with nothing yet is retried, on another deployment when there is
    /// one, with backoff before a deployment is tried again.
    async fn forward(
        &self,
        endpoint: Endpoint,
        route: &Route,
        request: &RequestBody,
        streamed: bool,
        ask_usage: bool,
        (started, now): (Instant, Timestamp),
    ) -> Result<Forwarded, GatewayError> {
        let deadline = tokio::time::Instant::from_std(started + self.config.total_timeout);
        let policy = self.config.breaker;
        let mut tried = 0_u32;
        let mut waited = Duration::ZERO;
        let mut last: Option<Result<Reply, GatewayError>> = None;
        for attempt in 0..=self.config.retries {
            let now_ms = if attempt == 0 { now.as_millis() } else { self.now_ms() };
            let chosen = match routing::pick(&route.deployments, tried, now_ms) {
                Ok(chosen) => chosen,
                Err(unavailable) => match last {
                    Some(_) => break,
                    None => return Err(GatewayError::model_unavailable(&route.name, unavailable.retry_after_ms)),
                },
            };
            if tried & (1 << chosen.index) != 0 {
                let pause = backoff(self.config.retry_backoff, attempt);
                if tokio::time::Instant::now() + pause >= deadline {
                    break;
                }
                let paused = Instant::now();
                tokio::time::sleep(pause).await;
                waited += paused.elapsed();
            }
            tried |= 1 << chosen.index;
            let deployment = chosen.deployment;
            let body = request.for_upstream(&deployment.upstream_model, ask_usage);
            let called = Instant::now();
            let head_by = called
                .checked_add(self.config.first_byte_timeout)
                .map_or(deadline, |at| deadline.min(tokio::time::Instant::from_std(at)));
            let outcome = match self.upstream.post(&deployment.target, endpoint, body, head_by).await {
                Ok(response) => self.receive(route, response, streamed, deadline).await,
                Err(e) => Err(Failure::Retry(call_error(e))),
            };
            waited += called.elapsed();
            match outcome {
                Ok(reply) => {
                    chosen.succeeded();
                    return Ok(Forwarded { reply, deployment: Some(Arc::clone(&deployment.limits)), waited });
                }
                Err(Failure::Retry(e)) => {
                    tracing::warn!(model = %route.name, deployment = %deployment.id, attempt, error = %e.message, "model server attempt failed");
                    chosen.failed(self.now_ms(), policy);
                    last = Some(Err(e));
                }
                Err(Failure::RetryAnswer(reply)) => {
                    tracing::warn!(model = %route.name, deployment = %deployment.id, attempt, "model server is rate limiting");
                    chosen.failed(self.now_ms(), policy);
                    last = Some(Ok(reply));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        match last {
            Some(Ok(reply)) => Ok(Forwarded { reply, deployment: None, waited }),
            Some(Err(e)) => Err(e),
            None => Err(GatewayError::upstream_timeout()),
        }
    }

    fn now_ms(&self) -> i64 {
        self.services.now().as_millis()
    }

    /// Turns a model server's response into a reply, or into a failure worth retrying:
    /// nothing has reached the client yet (a stream's first chunk is awaited here).
    async fn receive(
        &self,
        route: &Route,
        response: http::Response<PooledBody>,
        streamed: bool,
        deadline: tokio::time::Instant,
    ) -> Result<Reply, Failure> {
        let (head, body) = response.into_parts();
        let status = head.status;
        let content_type =
            head.headers.get(header::CONTENT_TYPE).cloned().unwrap_or(HeaderValue::from_static("application/json"));
        if !status.is_success() {
            let body = self.upstream.read(body, deadline).await.unwrap_or_default();
            return match status {
                StatusCode::TOO_MANY_REQUESTS => Err(Failure::RetryAnswer(Reply::Whole { status, content_type, body })),
                // Purser's credentials for this server are wrong: another deployment may do.
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    tracing::error!(model = %route.name, status = status.as_u16(), "model server refused Purser's credentials");
                    Err(Failure::Retry(GatewayError::upstream_failed(status.as_u16())))
                }
                s if s.is_server_error() => Err(Failure::Retry(GatewayError::upstream_failed(status.as_u16()))),
                // The client's own mistakes (bad parameters, context too long) pass through
                // as the model server worded them.
                _ => Ok(Reply::Whole { status, content_type, body }),
            };
        }
        if !streamed {
            let body = self.upstream.read(body, deadline).await.map_err(|e| Failure::Retry(call_error(e)))?;
            return Ok(Reply::Whole { status, content_type, body });
        }
        let idle = self.config.stream_idle_timeout;
        let mut chunks = body.into_data_stream();
        let first = match next_chunk(&mut chunks, idle, deadline).await {
            Some(Ok(bytes)) => bytes,
            Some(Err(e)) => return Err(Failure::Retry(e)),
            None => return Err(Failure::Retry(GatewayError::upstream_unavailable("the stream ended at once"))),
        };
        let rest = stream::unfold(chunks, move |mut chunks| async move {
            next_chunk(&mut chunks, idle, deadline).await.map(|chunk| (chunk, chunks))
        });
        Ok(Reply::Stream(stream::once(async move { Ok(first) }).chain(rest).boxed()))
    }

    /// The response to send, and when it was ready (a whole answer is metered then).
    fn deliver(&self, reply: Reply, mut metering: Metering, strip_usage_chunk: bool) -> (Response, Instant) {
        match reply {
            Reply::Whole { status, content_type, body } => {
                metering.usage = usage_of_body(&body);
                let ready = Instant::now();
                metering.finish_at(status.as_u16(), ready);
                let response = Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap_or_else(|_| Response::new(Body::empty()));
                (response, ready)
            }
            Reply::Stream(chunks) => {
                let filter = SseFilter::new(strip_usage_chunk);
                let state = Some((chunks, filter, metering));
                let body = stream::unfold(state, |state| async move {
                    let (mut chunks, mut filter, mut metering) = state?;
                    loop {
                        match chunks.next().await {
                            Some(Ok(bytes)) => {
                                let out = filter.push(&bytes);
                                metering.usage = filter.usage();
                                if !out.is_empty() {
                                    return Some((Ok::<_, std::io::Error>(out), Some((chunks, filter, metering))));
                                }
                            }
                            Some(Err(e)) => {
                                metering.usage = filter.usage();
                                metering.finish(e.status.as_u16());
                                // Dropping the connection tells the client the stream is incomplete.
                                return Some((Err(std::io::Error::other(e.message)), None));
                            }
                            None => {
                                let rest = filter.finish();
                                metering.usage = filter.usage();
                                metering.finish(200);
                                return if rest.is_empty() { None } else { Some((Ok(rest), None)) };
                            }
                        }
                    }
                });
                let response = Response::builder()
                    .header(header::CONTENT_TYPE, "text/event-stream")
                    .header(header::CACHE_CONTROL, "no-cache")
                    .header("x-accel-buffering", "no")
                    .body(Body::from_stream(body))
                    .unwrap_or_else(|_| Response::new(Body::empty()));
                (response, Instant::now())
            }
        }
    }
}

/// What [`Gateway::forward`] brings back.
struct Forwarded {
    reply: Reply,
    /// The limits of the deployment that answered, which are owed its tokens.
    deployment: Option<Arc<DeploymentLimits>>,
    /// Time spent waiting on model servers: calls and the pauses between retries.
    waited: Duration,
}

/// Why an attempt did not produce the client's answer; either way it may be retried.
enum Failure {
    Retry(GatewayError),
    /// The server answered with a refusal worth retrying (HTTP 429); passed to the client
    /// if no other attempt does better.
    RetryAnswer(Reply),
}

/// The next chunk of a streamed answer, waiting at most `idle` and never past `deadline`.
async fn next_chunk(
    chunks: &mut BodyDataStream<PooledBody>,
    idle: Duration,
    deadline: tokio::time::Instant,
) -> Option<Result<Bytes, GatewayError>> {
    let limit = deadline.min(tokio::time::Instant::now() + idle);
    match tokio::time::timeout_at(limit, chunks.next()).await {
        Err(_) => Some(Err(GatewayError::upstream_timeout())),
        Ok(Some(Ok(bytes))) => Some(Ok(bytes)),
        Ok(Some(Err(_))) => Some(Err(GatewayError::upstream_unavailable("the stream broke off"))),
        Ok(None) => None,
    }
}

/// Exponential backoff with full jitter: a random pause up to `base * 2^(attempt - 1)`,
/// at most 10 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(Duration::from_secs(10));
    ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

fn call_error(e: CallError) -> GatewayError {
    match e {
        CallError::Timeout => GatewayError::upstream_timeout(),
        other => GatewayError::upstream_unavailable(other.describe()),
    }
}

/// The built-in mock provider: canned answers shaped exactly like an upstream's.
fn mock_reply(endpoint: Endpoint, route: &Route, request: &Value, streamed: bool, created: i64) -> Reply {
    let model = route.name.as_str();
    let json = |v: Value| Reply::Whole {
        status: StatusCode::OK,
        content_type: HeaderValue::from_static("application/json"),
        body: Bytes::from(v.to_string()),
    };
    match endpoint {
        Endpoint::ChatCompletions if streamed => {
            let events = purser_mock_upstream::chat_completion_stream(request, model, MOCK_ANSWER, created);
            Reply::Stream(stream::iter(events.into_iter().map(|e| Ok(Bytes::from(e)))).boxed())
        }
        Endpoint::ChatCompletions => json(purser_mock_upstream::chat_completion(request, model, MOCK_ANSWER, created)),
        Endpoint::Completions if streamed => {
            let events = purser_mock_upstream::completion_stream(request, model, MOCK_ANSWER, created);
            Reply::Stream(stream::iter(events.into_iter().map(|e| Ok(Bytes::from(e)))).boxed())
        }
        Endpoint::Completions => json(purser_mock_upstream::completion(request, model, MOCK_ANSWER, created)),
        Endpoint::Embeddings => json(purser_mock_upstream::embeddings(request, model)),
    }
}
