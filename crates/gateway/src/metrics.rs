//! Gateway metrics. Handles for each model are looked up once, when the model is loaded,
//! so the request path only bumps atomics; its histograms are kept per thread
//! (`histogram.rs`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

use crate::histogram::LocalHistogram;

type Histogram = LocalHistogram;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

#[derive(Clone)]
pub(crate) struct GatewayMetrics {
    requests: Family<Labels, Counter>,
    refused: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    estimated: Family<Labels, Counter>,
    first_token: HistogramFamily,
    upstream: HistogramFamily,
    pub(crate) duration: Histogram,
    pub(crate) overhead: Histogram,
}

/// One model's counters.
#[derive(Debug, Clone)]
pub(crate) struct ModelMetrics {
    pub(crate) ok: Counter,
    pub(crate) prompt_tokens: Counter,
    pub(crate) completion_tokens: Counter,
    /// Answers metered with tokens Purser counted itself (the model server sent none).
    pub(crate) estimated: Counter,
    pub(crate) first_token: Histogram,
}

/// 1 ms to about 65 s, doubling: the span of latencies worth telling apart.
fn latency_histogram() -> Histogram {
    LocalHistogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl GatewayMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            refused: Family::default(),
            tokens: Family::default(),
            estimated: Family::default(),
            first_token: HistogramFamily::new_with_constructor(latency_histogram),
            upstream: HistogramFamily::new_with_constructor(latency_histogram),
            duration: LocalHistogram::new(exponential_buckets(0.001, 2.0, 18)),
            // 5 µs to 30 ms in steps of 25%: fine enough to read a p99 off.
            overhead: LocalHistogram::new(exponential_buckets(0.000_005, 1.25, 40)),
        };
        registry.register(
            "purser_gateway_requests",
            "Gateway requests by model and HTTP status",
            metrics.requests.clone(),
        );
        registry.register(
            "purser_gateway_refused",
            "Requests the gateway refused itself, by reason (the error code: invalid_api_key, \
             model_not_found, rate_limit_exceeded, insufficient_quota, ...) and model (empty when no known \
             model was named)",
            metrics.refused.clone(),
        );
        registry.register("purser_gateway_tokens", "Tokens metered by model and direction", metrics.tokens.clone());
        registry.register(
            "purser_gateway_estimated",
            "Answered requests whose tokens Purser counted itself, by model, because the model server \
             sent no usage or the client left before it did",
            metrics.estimated.clone(),
        );
        registry.register(
            "purser_gateway_time_to_first_token_seconds",
            "Streamed answers: time from the request's arrival to its first chunk reaching the client, by model",
            metrics.first_token.clone(),
        );
        registry.register(
            "purser_gateway_upstream_seconds",
            "Time from sending a request to a model server to its response head, by model and deployment \
             (for a whole answer, that is the generation)",
            metrics.upstream.clone(),
        );
        registry.register(
            "purser_gateway_request_duration_seconds",
            "Time from request to the end of the answer",
            metrics.duration.clone(),
        );
        registry.register(
            "purser_gateway_overhead_seconds",
            "Time an answered request spent in the gateway's own work: from the handler receiving it to \
             handing back the answer, less the time spent waiting on model servers (calls and retry pauses)",
            metrics.overhead.clone(),
        );
        metrics
    }

    pub(crate) fn for_model(&self, model: &str) -> ModelMetrics {
        let tokens = |direction: &str| {
            self.tokens.get_or_create(&vec![("model", model.to_owned()), ("direction", direction.to_owned())]).clone()
        };
        let by_model = vec![("model", model.to_owned())];
        ModelMetrics {
            ok: self.requests.get_or_create(&vec![("model", model.to_owned()), ("status", "200".into())]).clone(),
            prompt_tokens: tokens("prompt"),
            completion_tokens: tokens("completion"),
            estimated: self.estimated.get_or_create(&by_model).clone(),
            first_token: self.first_token.get_or_create(&by_model).clone(),
        }
    }

    /// The upstream latency histogram of one deployment.
    pub(crate) fn for_deployment(&self, model: &str, deployment: purser_domain::Id) -> LocalHistogram {
        self.upstream.get_or_create(&vec![("model", model.to_owned()), ("deployment", deployment.to_string())]).clone()
    }

    /// Counts a request the gateway refused (`reason` is the error's code). `model` is the
    /// name of a model in the catalog, never one a client made up.
    pub(crate) fn count_refusal(&self, reason: &'static str, model: &str) {
        self.refused.get_or_create(&vec![("reason", reason.to_owned()), ("model", model.to_owned())]).inc();
    }

    /// Counts a request that did not end in 200 (rare enough to look the counter up).
    pub(crate) fn count_status(&self, model: &str, status: u16) {
        self.requests.get_or_create(&vec![("model", model.to_owned()), ("status", status.to_string())]).inc();
    }
}
