//! Purser's HTTP surface: the management API under `/api/v1`, the gateway under `/v1`,
//! probes, metrics, the OpenAPI document and its docs UI, behind one middleware stack
//! (request id, tracing, metrics, panic guard, body limit).

mod context;
mod dto;
mod error;
mod extract;
mod limits;
mod routes;
mod spec;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use purser_gateway::Gateway;
use purser_services::Services;
use tower::ServiceExt;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use context::REQUEST_ID;
pub use error::{ApiError, Problem};
pub use limits::{Limits, RateRules, SignInDelay};

type Labels = Vec<(&'static str, String)>;

/// HTTP request metrics.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<Labels, Counter>,
    duration: Family<Labels, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<Labels, Counter>::default();
        let duration =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register("purser_http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("purser_http_request_duration_seconds", "HTTP request duration by route", duration.clone());
        Self { requests, duration }
    }
}

/// Everything served at `/metrics`: the HTTP metrics and whatever else (the gateway's)
/// was registered in the same registry.
pub struct Metrics {
    pub registry: Registry,
    pub http: HttpMetrics,
}

#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub gateway: Arc<Gateway>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    /// Mark browser session cookies `Secure` (sent over HTTPS only; browsers treat
    /// http://localhost as secure too).
    pub secure_cookies: bool,
    /// When set, `/metrics` wants it as a bearer token.
    pub metrics_token: Option<String>,
}

#[derive(Clone)]
pub struct HttpConfig {
    /// Largest management API request body, in bytes (the gateway has its own limit).
    pub max_body_bytes: usize,
    /// The console: asked for every GET and HEAD of a path outside the API's own
    /// (`/api/*`, `/v1/*`, `/metrics`, the probes), which always answer in their formats.
    pub pages: Option<Router>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024, pages: None }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Purser",
        description = "Governed, metered access to AI models. Management API under /api/v1 \
            (sign in at /api/v1/auth/login and send the access token as a bearer token); \
            OpenAI-compatible gateway under /v1 (send an API key as a bearer token). \
            Errors on /api/v1 are RFC 9457 problem documents with a stable `code`; \
            gateway errors use OpenAI's error shape."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Accounts, sign-in and sessions"),
        (name = "organizations", description = "Tenants, members, invitations and teams"),
        (name = "documents", description = "Each organization's documents and files"),
        (name = "vaults", description = "Authorization vaults, grants, service clients and vault tokens"),
        (name = "models", description = "The model catalog"),
        (name = "subscriptions", description = "Access to models"),
        (name = "api-keys", description = "Keys for the gateway"),
        (name = "usage", description = "Metered tokens and cost"),
        (name = "admin", description = "Platform administration"),
        (name = "gateway", description = "OpenAI-compatible endpoints"),
        (name = "system", description = "Probes and metrics"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "metricsToken",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sk-prs-...").build()),
        );
    }
}

/// Every route with its documentation, before middleware.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::account::router())
        .merge(routes::audit::router())
        .merge(routes::models::router())
        .merge(routes::orgs::router())
        .merge(routes::invitations::router())
        .merge(routes::teams::router())
        .merge(routes::documents::router())
        .merge(routes::webhooks::router())
        .merge(routes::vaults::router())
        .merge(routes::clients::router())
        .merge(routes::oauth::router())
        .merge(routes::subscriptions::router())
        .merge(routes::api_keys::router())
        .merge(routes::usage::router())
        .merge(routes::users::router())
        .merge(routes::system::router())
}

/// The OpenAPI document, generated from the route tables.
pub fn openapi() -> OpenApiDoc {
    let mut doc = routes().split_for_parts().1;
    doc.merge(purser_gateway::router().split_for_parts().1);
    spec::complete(&mut doc);
    doc
}

/// Paths whose answers are never the console's HTML, even when nothing is there.
fn is_api_path(path: &str) -> bool {
    let under = |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    under("/api") || under("/v1") || under("/.well-known") || matches!(path, "/metrics" | "/health" | "/ready")
}

/// What no route answers: the console's pages for a browser's GET, else the API's 404.
async fn fallback(pages: Option<Router>, request: Request) -> Response {
    match pages {
        Some(pages)
            if matches!(*request.method(), Method::GET | Method::HEAD) && !is_api_path(request.uri().path()) =>
        {
            pages.oneshot(request).await.unwrap_or_else(|never| match never {})
        }
        _ => not_found().await.into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route; see /api/docs")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method; see /api/docs",
    )
}

async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics.http.requests.get_or_create(&vec![("method", method), ("route", route.clone()), ("status", status)]).inc();
    metrics.http.duration.get_or_create(&vec![("route", route)]).observe(started.elapsed().as_secs_f64());
    response
}

/// Logs each answer at its request span's level: probes at debug, the rest at info.
#[derive(Clone, Copy)]
struct AccessLog;

impl<B> OnResponse<B> for AccessLog {
    fn on_response(self, response: &axum::http::Response<B>, latency: std::time::Duration, span: &tracing::Span) {
        let level = span.metadata().map_or(Level::INFO, |m| *m.level());
        DefaultOnResponse::new().level(level).latency_unit(LatencyUnit::Micros).on_response(response, latency, span);
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "an internal error occurred").into_response()
}

/// The whole application.
///
/// The management API gets per-route metrics, an access log and its request-id layer; the
/// gateway's `/v1` routes skip all three (they keep their own per-model metrics and stamp
/// their own request ids) and have the gateway as their only state, because they carry
/// every model request and each microsecond there counts.
pub fn app(state: AppState, config: &HttpConfig) -> Router {
    let (management, _) = routes().split_for_parts();
    let (gateway, _) = purser_gateway::router().split_for_parts();
    management
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi()))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(Arc::clone(&state.metrics), track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let (method, path) = (request.method(), request.uri().path());
                    // Probes come every few seconds and say nothing worth keeping.
                    if matches!(path, "/health" | "/ready") {
                        tracing::debug_span!("request", %method, %path, request_id = %id)
                    } else {
                        tracing::info_span!("request", %method, %path, request_id = %id)
                    }
                })
                .on_response(AccessLog),
        )
        .fallback({
            let pages = config.pages.clone();
            move |request: Request| fallback(pages, request)
        })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(context::request_id_layer))
        .merge(
            gateway
                .route("/v1", any(purser_gateway::unknown_url))
                .route("/v1/{*path}", any(purser_gateway::unknown_url))
                .method_not_allowed_fallback(purser_gateway::method_not_allowed)
                .with_state(Arc::clone(&state.gateway)),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}
