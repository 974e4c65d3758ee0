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
use crate::limits::Level;
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

/// How much of a streamed answer is kept for counting its tokens should no usage come (each
/// stream in flight holds this much at most besides what passes through).
const KEPT_ANSWER_BYTES: usize = 4 << 20;

/// A refusal, with the model it concerned when that model is in the catalog.
type Refusal = (GatewayError, Option<Arc<Route>>);

/// Meters a request exactly once: when it is finished, or, if the client goes away first,
/// when it is dropped (status 499, with whatever usage was seen). An answered request the
/// model server sent no usage for is counted here (`estimate`), off the serving thread, and
/// so is one whose client left after it reached a model server: its prompt was read.
struct Metering {
    /// What charging the request needs; taken when it is metered.
    bill: Option<Bill>,
    started: Instant,
    usage: Option<Usage>,
    /// Whether the model server answered (with a success), so that tokens were spent.
    answered: bool,
    /// Whether the request was sent to a model server.
    sent: bool,
    /// The request as the client sent it, to count its prompt if no usage comes.
    request: Bytes,
    /// What came of a streamed answer (or a whole one without usage), to count if no
    /// usage comes: its first [`KEPT_ANSWER_BYTES`].
    answer: BytesMut,
    /// How many bytes of a streamed answer came in all.
    answer_bytes: usize,
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

    /// Takes in a piece of a streamed answer: its usage if it carries it, else (up to a
    /// bound) the text, for counting.
    fn received(&mut self, chunk: &[u8], filter: &SseFilter) {
        self.usage = filter.usage();
        if self.usage.is_none() {
            self.answer_bytes += chunk.len();
            let room = KEPT_ANSWER_BYTES.saturating_sub(self.answer.len());
            self.answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
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
            // A client that leaves before the answer still owes the prompt the model read.
            None if self.answered || (self.sent && status == 499) => {
                let (request, answer) = (std::mem::take(&mut self.request), std::mem::take(&mut self.answer));
                let (endpoint, streamed) = (bill.endpoint, bill.streamed);
                let answer_bytes = self.answer_bytes.max(answer.len());
                let count = move || {
                    let mut usage = estimate::usage(endpoint, &request, &answer, streamed);
                    // Past what was kept, the rest of a long answer is taken to be alike.
                    if answer_bytes > answer.len() {
                        let scaled = usage.completion_tokens as f64 * answer_bytes as f64 / answer.len() as f64;
                        usage.completion_tokens = scaled.ceil() as u64;
                    }
                    usage
                };
                let gateway = Arc::clone(&bill.gateway);
                gateway.in_background(async move {
                    let usage = tokio::task::spawn_blocking(count).await.unwrap_or_default();
                    bill.charge(usage, true, status, elapsed);
                });
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
    /// bytes, and each of its answers (`n`, `best_of`) at most `max_completion_tokens` (or
    /// `max_tokens`), else the model's context length, else `default_max_output_tokens`;
    /// neither more than the context length.
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
        route.cost(prompt, output.min(context).saturating_mul(request.choices))
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
        let key_levels = permit.key_levels;
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
            sent: false,
            request: request.bytes().clone(),
            answer: BytesMut::new(),
            answer_bytes: 0,
            first_chunk: false,
        };
        let (reply, waited) = match route.kind {
            ProviderKind::Mock => {
                let body = request.for_upstream(&route.name, ask_usage);
                let value = serde_json::from_slice(&body).unwrap_or_default();
                (mock_reply(endpoint, &route, &value, streamed, now.as_secs()), Duration::ZERO)
            }
            ProviderKind::OpenAiCompatible => {
                let sent = &mut metering.sent;
                match self.forward(endpoint, &route, &request, (streamed, ask_usage), (started, now), sent).await {
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
        if self.config.rate_limit_headers && !passes_server_limits {
            rate_limit_headers(key_levels, response.headers_mut());
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
        (streamed, ask_usage): (bool, bool),
        (started, now): (Instant, Timestamp),
        sent: &mut bool,
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
            *sent = true;
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
        let Some(gateway) = metering.bill.as_ref().map(|bill| Arc::clone(&bill.gateway)) else { return };
        let drain_for = self.drain_for;
        gateway.in_background(async move {
            let until = tokio::time::Instant::now() + drain_for;
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

/// The key's own limits, as they stood when the request was let in, as OpenAI reports its
/// own: `x-ratelimit-limit-requests`, `-remaining-requests`, `-reset-requests` and the same
/// for `-tokens` (per minute).
///
/// They go on every answer of a key with limits, so they are made cheaply: every value is
/// written into one buffer on the stack, which moves into one allocation all six share.
fn rate_limit_headers(levels: [Option<Level>; 2], headers: &mut HeaderMap) {
    let mut text = HeaderText::default();
    let mut ends = [0; 6];
    for (level, ends) in levels.iter().zip(ends.chunks_exact_mut(3)) {
        let Some(level) = level else { continue };
        text.number(u64::from(level.limit));
        ends[0] = text.len;
        text.number(level.left);
        ends[1] = text.len;
        text.wait(level.full_in_ms);
        ends[2] = text.len;
    }
    if text.len == 0 {
        return;
    }
    let shared = Bytes::from_owner(text);
    let mut from = 0;
    for ((names, level), ends) in RATE_HEADERS.iter().zip(levels).zip(ends.chunks_exact(3)) {
        if level.is_none() {
            continue;
        }
        for (name, &to) in names.iter().zip(ends) {
            if let Ok(value) = HeaderValue::from_maybe_shared(shared.slice(from..to)) {
                headers.append(name.clone(), value);
            }
            from = to;
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

/// Header values written by hand into a buffer on the stack: they go on every answer, and
/// `format!` cost more than the rest of the headers.
struct HeaderText {
    /// Room for two limits (10 digits each), what is left of them (20) and their waits (20).
    bytes: [u8; 128],
    len: usize,
}

impl Default for HeaderText {
    fn default() -> Self {
        Self { bytes: [0; 128], len: 0 }
    }
}

impl AsRef<[u8]> for HeaderText {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl HeaderText {
    fn byte(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Writes the digits in place, last first.
    fn number(&mut self, n: u64) {
        let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
        let Some(slots) = self.bytes.get_mut(self.len..self.len + digits) else { return };
        let mut n = n;
        for slot in slots.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len += digits;
    }

    /// A wait as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`.
    fn wait(&mut self, ms: u64) {
        match ms {
            0..1000 => {
                self.number(ms);
                self.byte(b'm');
                self.byte(b's');
            }
            1000..60_000 => {
                self.number(ms / 1000);
                // Milliseconds as a decimal fraction without trailing zeros.
                let (mut rest, mut scale) = (ms % 1000, 100);
                if rest > 0 {
                    self.byte(b'.');
                }
                while rest > 0 {
                    self.byte(b'0' + (rest / scale) as u8);
                    rest %= scale;
                    scale /= 10;
                }
                self.byte(b's');
            }
            _ => {
                let secs = ms.div_ceil(1000);
                self.number(secs / 60);
                self.byte(b'm');
                self.number(secs % 60);
                self.byte(b's');
            }
        }
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
    use super::{HeaderText, answer_header_map};

    #[test]
    fn answers_have_room_for_their_headers_from_the_start() {
        // A stream's three headers and the six rate-limit headers: no growing on the way.
        assert!(answer_header_map().capacity() >= 9);
    }

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
            (u64::MAX, "307445734561825m52s"),
        ] {
            let mut written = HeaderText::default();
            written.wait(ms);
            assert_eq!(written.as_ref(), text.as_bytes(), "{ms}");
        }
    }

    #[test]
    fn numbers_are_written_whole_or_not_at_all() {
        let mut text = HeaderText::default();
        for n in [0, 7, 10, 999, 1000, u64::MAX] {
            text.number(n);
        }
        assert_eq!(
            text.as_ref(),
            b"07109991000".iter().chain(u64::MAX.to_string().as_bytes()).copied().collect::<Vec<_>>()
        );
        let mut full = HeaderText::default();
        for _ in 0..7 {
            full.number(u64::MAX);
        }
        assert_eq!(full.len, 120, "six fit in 128 bytes, the seventh is left out whole");
    }
}
