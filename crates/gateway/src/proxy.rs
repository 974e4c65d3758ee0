//! One proxied request: check the key, admit it under its limits, forward it (or answer
//! from the built-in mock), pass the answer back as it arrives, and meter it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt};
use http_body_util::{BodyDataStream, BodyExt};
use purser_domain::api_key::looks_like_secret;
use purser_domain::model::{Capability, ProviderKind};
use purser_domain::usage::UsageRecord;
use purser_domain::{Id, Timestamp, Usd};
use purser_serve::client::PooledBody;
use rand::Rng;
use serde_json::Value;

use crate::Gateway;
use crate::body::RequestBody;
use crate::error::GatewayError;
use crate::estimate;
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
    /// `headers`: the model server's headers the client should see (a throttling
    /// server's `Retry-After` and `x-ratelimit-*`); usually none.
    Whole {
        status: StatusCode,
        content_type: HeaderValue,
        headers: HeaderMap,
        body: Bytes,
    },
    Stream(BoxStream<'static, Result<Bytes, GatewayError>>),
}

/// A request let in: its key, what it asks, its model, and the limits it holds.
struct Admitted {
    key: Arc<KeyEntry>,
    permit: Permit,
    route: Arc<Route>,
    request: RequestBody,
}

/// A refusal, with the model it concerned when that model is in the catalog.
type Refusal = (GatewayError, Option<Arc<Route>>);

/// Meters a request exactly once: when it is finished, or, if the client goes away first,
/// when it is dropped (status 499, with whatever usage was seen). An answered request the
/// model server sent no usage for is counted here (`estimate`), off the serving thread.
struct Metering {
    /// What charging the request needs; taken when it is metered.
    bill: Option<Bill>,
    started: Instant,
    usage: Option<Usage>,
    /// Whether the model server answered (with a success), so that tokens were spent.
    answered: bool,
    /// The request as the client sent it, to count its prompt if no usage comes.
    request: Bytes,
    /// What came of a streamed answer (or a whole one without usage), to count if no
    /// usage comes.
    answer: BytesMut,
    /// Whether a streamed answer's first chunk has gone out (its time is observed once).
    first_chunk: bool,
}

/// What metering a request needs, held until it ends.
struct Bill {
    gateway: Arc<Gateway>,
    /// The key's id, and the team and user it bills.
    key: (Id, Option<Id>, Id),
    /// Its parallel-request slots and budget reservations.
    permit: Permit,
    route: Arc<Route>,
    endpoint: Endpoint,
    request_id: String,
    streamed: bool,
    /// The limits of the deployment that answered, which are owed its tokens.
    deployment: Option<Arc<DeploymentLimits>>,
}

impl Metering {
    fn first_chunk_out(&mut self) {
        if !std::mem::replace(&mut self.first_chunk, true)
            && let Some(bill) = &self.bill
        {
            bill.route.metrics.first_token.observe(self.started.elapsed().as_secs_f64());
        }
    }

    /// Takes in a piece of a streamed answer: its usage if it carries it, else the text,
    /// for counting.
    fn received(&mut self, chunk: &[u8], filter: &SseFilter) {
        self.usage = filter.usage();
        if self.usage.is_none() {
            self.answer.extend_from_slice(chunk);
        }
    }

    fn finish(&mut self, status: u16) {
        self.finish_at(status, Instant::now());
    }

    /// Meters the request as ended at `ended`.
    fn finish_at(&mut self, status: u16, ended: Instant) {
        let Some(bill) = self.bill.take() else { return };
        let elapsed = ended.saturating_duration_since(self.started);
        match self.usage {
            Some(usage) => bill.charge(usage, false, status, elapsed),
            None if self.answered => {
                let (request, answer) = (std::mem::take(&mut self.request), std::mem::take(&mut self.answer));
                let (endpoint, streamed) = (bill.endpoint, bill.streamed);
                let count = move || estimate::usage(endpoint, &request, &answer, streamed);
                match tokio::runtime::Handle::try_current() {
                    Ok(_) => {
                        let background = bill.gateway.background.clone();
                        background.spawn(async move {
                            let usage = tokio::task::spawn_blocking(count).await.unwrap_or_default();
                            bill.charge(usage, true, status, elapsed);
                        });
                    }
                    Err(_) => bill.charge(count(), true, status, elapsed),
                }
            }
            None => bill.charge(Usage::default(), false, status, elapsed),
        }
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        self.finish(499);
    }
}

impl Bill {
    /// Counts the request's cost and tokens against its limits and meters it.
    fn charge(self, usage: Usage, estimated: bool, status: u16, elapsed: Duration) {
        let cost = self.route.cost(usage.prompt_tokens, usage.completion_tokens);
        let services = &self.gateway.services;
        let now = services.now();
        let tokens = usage.prompt_tokens + usage.completion_tokens;
        self.permit.settle(cost, tokens, now);
        if let Some(tpm) = self.deployment.as_ref().and_then(|d| d.tpm.as_ref()) {
            tpm.debit(tokens, now.as_millis());
        }
        let counters = &self.route.metrics;
        if status == 200 {
            counters.ok.inc();
        } else {
            self.gateway.metrics.count_status(&self.route.name, status);
        }
        if estimated {
            counters.estimated.inc();
        }
        counters.prompt_tokens.inc_by(usage.prompt_tokens);
        counters.completion_tokens.inc_by(usage.completion_tokens);
        self.gateway.metrics.duration.observe(elapsed.as_secs_f64());
        self.gateway.meter.record(UsageRecord {
            id: services.ids().next_id_at(now),
            request_id: self.request_id,
            key_id: self.key.0,
            team_id: self.key.1,
            user_id: self.key.2,
            model_id: self.route.id,
            model_name: self.route.name.clone(),
            endpoint: self.endpoint.path().to_owned(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost,
            latency_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            status,
            streamed: self.streamed,
            estimated,
            created_at: now,
        });
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

    /// The most a request can cost: its prompt is at most as many tokens as its body has
    /// bytes, and its answer at most `max_completion_tokens` (or `max_tokens`), else the
    /// model's context length, else `default_max_output_tokens`; neither more than the
    /// context length.
    fn worst_case_cost(&self, route: &Route, endpoint: Endpoint, request: &RequestBody) -> Usd {
        let context = route.context_length.map_or(u64::MAX, u64::from);
        let prompt = (request.bytes().len() as u64).min(context);
        let output = match endpoint {
            Endpoint::Embeddings => 0,
            _ => request
                .max_output_tokens
                .or(route.context_length.map(u64::from))
                .unwrap_or(self.config.default_max_output_tokens),
        };
        route.cost(prompt, output.min(context))
    }

    /// Admits the request under the limits of its key, the key's team and the key's user,
    /// reserving `worst` under each budget.
    fn admit(
        &self,
        key: &Arc<KeyEntry>,
        team: Option<&Arc<TeamEntry>>,
        user: Option<&Arc<Governor>>,
        worst: Usd,
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
        let permit = governor::admit(&scopes, worst, now)?;
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

    /// Checks the key, reads the body, finds the model and admits the request under every
    /// limit that applies.
    async fn let_in(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        body: Body,
        now: Timestamp,
    ) -> Result<Admitted, Refusal> {
        let key = self.authenticate(headers, now).map_err(|e| (e, None))?;
        let limit = self.config.max_request_bytes;
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| (GatewayError::body_too_large(limit), None))?;
        let request = RequestBody::parse(body).map_err(|e| (e, None))?;
        let route =
            self.models.by_name(&request.model).ok_or_else(|| (GatewayError::model_not_found(&request.model), None))?;
        let refuse = |e: GatewayError| (e, Some(Arc::clone(&route)));
        if !key.allows(route.id) {
            return Err(refuse(GatewayError::model_not_allowed(&request.model)));
        }
        if !route.capabilities.contains(&endpoint.capability()) {
            return Err(refuse(GatewayError::unsupported(&request.model, endpoint.path())));
        }
        let team = self.team_for(&key, &route).map_err(refuse)?;
        let user = self.users.get(key.user_id);
        let worst = self.worst_case_cost(&route, endpoint, &request);
        let permit = self.admit(&key, team.as_ref(), user.as_ref(), worst, now).map_err(refuse)?;
        Ok(Admitted { key, permit, route, request })
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
        let Admitted { key, permit, route, request } =
            self.let_in(endpoint, &headers, body, now).await.map_err(|(error, route)| {
                self.metrics.count_refusal(error.code, route.as_deref().map_or("", |r| r.name.as_str()));
                error
            })?;

        let streamed = endpoint.can_stream() && request.stream;
        // Usage of a stream comes in a last chunk the client may not have asked for: ask
        // on its behalf, and remove that chunk on the way back.
        let ask_usage = streamed && !request.client_wants_usage;
        let bill = Bill {
            gateway: Arc::clone(&self),
            key: (key.id, key.team_id, key.user_id),
            permit,
            route: Arc::clone(&route),
            endpoint,
            request_id,
            streamed,
            deployment: None,
        };
        let mut metering = Metering {
            bill: Some(bill),
            started,
            usage: None,
            answered: false,
            request: request.bytes().clone(),
            answer: BytesMut::new(),
            first_chunk: false,
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
                        if let Some(bill) = &mut metering.bill {
                            bill.deployment = forwarded.deployment;
                        }
                        (forwarded.reply, forwarded.waited)
                    }
                    Err(e) => {
                        metering.finish(e.status.as_u16());
                        return Err(e);
                    }
                }
            }
        };
        // A throttling model server's own rate-limit headers, passed on, explain its refusal.
        let passes_server_limits = matches!(&reply, Reply::Whole { headers, .. } if !headers.is_empty());
        let (mut response, ready) = self.deliver(reply, metering, ask_usage);
        if let Some(governor) = key.governor.as_deref().filter(|_| !passes_server_limits) {
            rate_limit_headers(governor, now.as_millis(), response.headers_mut());
        }
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
                Err(_) if last.is_some() => break,
                Err(unavailable) if unavailable.throttled => {
                    return Err(GatewayError::upstream_rate_limited(&route.name, unavailable.retry_after_ms));
                }
                Err(unavailable) => {
                    return Err(GatewayError::model_unavailable(&route.name, unavailable.retry_after_ms));
                }
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
                Ok(response) => {
                    deployment.latency.observe(called.elapsed().as_secs_f64());
                    self.receive(route, response, streamed, deadline).await
                }
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
                Err(Failure::Throttled { reply, pause }) => {
                    tracing::info!(model = %route.name, deployment = %deployment.id, attempt, pause_ms = pause.as_millis() as u64, "model server is rate limiting");
                    chosen.throttled(self.now_ms(), pause);
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
            let whole = |headers| Reply::Whole { status, content_type, headers, body };
            return match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    let pause = retry_after(&head.headers, self.services.now());
                    Err(Failure::Throttled { reply: whole(throttling_headers(&head.headers)), pause })
                }
                // Purser's credentials for this server are wrong: another deployment may do.
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    tracing::error!(model = %route.name, status = status.as_u16(), "model server refused Purser's credentials");
                    Err(Failure::Retry(GatewayError::upstream_failed(status.as_u16())))
                }
                s if s.is_server_error() => Err(Failure::Retry(GatewayError::upstream_failed(status.as_u16()))),
                // The client's own mistakes (bad parameters, context too long) pass through
                // as the model server worded them.
                _ => Ok(whole(HeaderMap::new())),
            };
        }
        if !streamed {
            let body = self.upstream.read(body, deadline).await.map_err(|e| Failure::Retry(call_error(e)))?;
            return Ok(Reply::Whole { status, content_type, headers: HeaderMap::new(), body });
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
            Reply::Whole { status, content_type, headers, body } => {
                metering.usage = usage_of_body(&body);
                metering.answered = status.is_success();
                if metering.answered && metering.usage.is_none() {
                    metering.answer.extend_from_slice(&body);
                }
                let ready = Instant::now();
                metering.finish_at(status.as_u16(), ready);
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = status;
                let answer_headers = response.headers_mut();
                *answer_headers = answer_header_map();
                answer_headers.insert(header::CONTENT_TYPE, content_type);
                answer_headers.extend(headers);
                (response, ready)
            }
            Reply::Stream(chunks) => {
                metering.answered = true;
                let drain_for = self.config.usage_wait_after_disconnect;
                let delivery =
                    Delivery { inner: Some((chunks, SseFilter::new(strip_usage_chunk), metering)), drain_for };
                let body = stream::unfold(delivery, |mut delivery| async move {
                    let (chunks, filter, metering) = delivery.inner.as_mut()?;
                    loop {
                        match chunks.next().await {
                            Some(Ok(bytes)) => {
                                let out = filter.push(&bytes);
                                metering.received(&bytes, filter);
                                if !out.is_empty() {
                                    metering.first_chunk_out();
                                    return Some((Ok::<_, std::io::Error>(out), delivery));
                                }
                            }
                            Some(Err(e)) => {
                                metering.usage = filter.usage();
                                metering.finish(e.status.as_u16());
                                delivery.inner = None;
                                // Dropping the connection tells the client the stream is incomplete.
                                return Some((Err(std::io::Error::other(e.message)), delivery));
                            }
                            None => {
                                let rest = filter.finish();
                                metering.received(&rest, filter);
                                metering.finish(200);
                                delivery.inner = None;
                                return if rest.is_empty() { None } else { Some((Ok(rest), delivery)) };
                            }
                        }
                    }
                });
                let mut response = Response::new(Body::from_stream(body));
                let stream_headers = response.headers_mut();
                *stream_headers = answer_header_map();
                stream_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                stream_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                stream_headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
                (response, Instant::now())
            }
        }
    }
}

type Chunks = BoxStream<'static, Result<Bytes, GatewayError>>;

/// A streamed answer on its way to the client. If the client leaves before the end, the
/// rest of the model server's stream is read for up to `drain_for` in the background, for
/// the usage that comes in its last chunk; without it, the tokens are counted here.
struct Delivery {
    inner: Option<(Chunks, SseFilter, Metering)>,
    drain_for: Duration,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let Some((mut chunks, mut filter, mut metering)) = self.inner.take() else { return };
        if tokio::runtime::Handle::try_current().is_err() {
            return; // (metering is dropped here: the request is metered as it stands)
        }
        let Some(background) = metering.bill.as_ref().map(|bill| bill.gateway.background.clone()) else { return };
        let until = tokio::time::Instant::now() + self.drain_for;
        background.spawn(async move {
            while let Ok(Some(Ok(bytes))) = tokio::time::timeout_at(until, chunks.next()).await {
                filter.push(&bytes);
                metering.received(&bytes, &filter);
                if metering.usage.is_some() {
                    break;
                }
            }
            metering.finish(499);
        });
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
    /// The server is throttling (HTTP 429): it is left alone for `pause` and the request
    /// tries another; its answer goes to the client if no other attempt does better.
    Throttled {
        reply: Reply,
        pause: Duration,
    },
}

const X_ACCEL_BUFFERING: header::HeaderName = header::HeaderName::from_static("x-accel-buffering");

/// An answer's headers, with room made at once for the rate-limit headers that follow.
fn answer_header_map() -> HeaderMap {
    HeaderMap::with_capacity(8)
}

/// How long a throttling model server asked to be left alone: its `Retry-After` (seconds,
/// or an HTTP date), else one second; never more than a minute.
fn retry_after(headers: &HeaderMap, now: Timestamp) -> Duration {
    let asked = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| {
        let v = v.trim();
        if let Ok(secs) = v.parse::<f64>() {
            return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)));
        }
        let at = httpdate::parse_http_date(v).ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(at.saturating_sub(Duration::from_millis(u64::try_from(now.as_millis()).unwrap_or(0))))
    });
    asked.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(60))
}

/// The headers of a throttling model server's answer that tell the client when to retry.
fn throttling_headers(from: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in from {
        if name == header::RETRY_AFTER || name.as_str().starts_with("x-ratelimit-") {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// The key's own limits as OpenAI reports its own: `x-ratelimit-limit-requests`,
/// `-remaining-requests`, `-reset-requests` and the same for `-tokens` (per minute).
///
/// They go on every answer of a key with limits, so they are made cheaply: the limits'
/// values once per bucket, the others written into one buffer shared by all four.
fn rate_limit_headers(governor: &Governor, now_ms: i64, headers: &mut HeaderMap) {
    let buckets = [(governor.rpm_bucket(), &RATE_HEADERS[0]), (governor.tpm_bucket(), &RATE_HEADERS[1])];
    // Every value is written into one buffer, which each header then shares.
    let mut text = ResetText::default();
    let mut ends = [0; 6];
    for (i, (bucket, _)) in buckets.iter().enumerate() {
        let Some(bucket) = bucket else { continue };
        let (left, full_in_ms) = bucket.status(now_ms);
        text.number(u64::from(bucket.limit()));
        ends[3 * i] = text.len;
        text.number(left);
        ends[3 * i + 1] = text.len;
        text.push(reset_text(full_in_ms).as_bytes());
        ends[3 * i + 2] = text.len;
    }
    let shared = Bytes::copy_from_slice(text.as_bytes());
    headers.reserve(6);
    let mut from = 0;
    for (i, (bucket, names)) in buckets.into_iter().enumerate() {
        if bucket.is_none() {
            continue;
        }
        for (name, to) in names.iter().zip(&ends[3 * i..3 * i + 3]) {
            if let Ok(value) = HeaderValue::from_maybe_shared(shared.slice(from..*to)) {
                headers.append(name.clone(), value);
            }
            from = *to;
        }
    }
}

static RATE_HEADERS: [[header::HeaderName; 3]; 2] = [
    [
        header::HeaderName::from_static("x-ratelimit-limit-requests"),
        header::HeaderName::from_static("x-ratelimit-remaining-requests"),
        header::HeaderName::from_static("x-ratelimit-reset-requests"),
    ],
    [
        header::HeaderName::from_static("x-ratelimit-limit-tokens"),
        header::HeaderName::from_static("x-ratelimit-remaining-tokens"),
        header::HeaderName::from_static("x-ratelimit-reset-tokens"),
    ],
];

/// A wait as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`. (Written
/// by hand: it goes on every answer, and `format!` cost more than the rest of the header.)
fn reset_text(ms: u64) -> ResetText {
    let mut text = ResetText::default();
    match ms {
        0..1000 => {
            text.number(ms);
            text.push(b"ms");
        }
        1000..60_000 => {
            text.number(ms / 1000);
            let millis = ms % 1000;
            if millis > 0 {
                text.push(b".");
                let digits = [b'0' + (millis / 100) as u8, b'0' + (millis / 10 % 10) as u8, b'0' + (millis % 10) as u8];
                let kept = digits.iter().rposition(|d| *d != b'0').map_or(0, |i| i + 1);
                text.push(&digits[..kept]);
            }
            text.push(b"s");
        }
        _ => {
            let secs = ms.div_ceil(1000);
            text.number(secs / 60);
            text.push(b"m");
            text.number(secs % 60);
            text.push(b"s");
        }
    }
    text
}

/// A short text on the stack.
struct ResetText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for ResetText {
    fn default() -> Self {
        Self { bytes: [0; 64], len: 0 }
    }
}

impl ResetText {
    fn push(&mut self, part: &[u8]) {
        let end = (self.len + part.len()).min(self.bytes.len());
        self.bytes[self.len..end].copy_from_slice(&part[..end - self.len]);
        self.len = end;
    }

    fn number(&mut self, n: u64) {
        let mut digits = [0_u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[at..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
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
        headers: HeaderMap::new(),
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

#[cfg(test)]
mod tests {
    use super::reset_text;

    #[test]
    fn waits_are_written_as_openai_writes_them() {
        for (ms, text) in [
            (0, "0ms"),
            (20, "20ms"),
            (999, "999ms"),
            (1000, "1s"),
            (1500, "1.5s"),
            (6020, "6.02s"),
            (59_999, "59.999s"),
            (60_000, "1m0s"),
            (360_000, "6m0s"),
            (61_001, "1m2s"),
        ] {
            assert_eq!(reset_text(ms).as_bytes(), text.as_bytes(), "{ms}");
        }
    }
}
