//! Probes and metrics: `/health` (the process answers), `/ready` (the database answers),
//! `/metrics` (Prometheus text format).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
struct Status {
    /// `ok` or `unavailable`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, description = "Up", body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "ok", database: None })
}

/// Readiness: the database answers.
#[utoipa::path(
    get, path = "/ready", tag = "system",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "The database does not answer", body = Status),
    )
)]
async fn ready(State(state): State<AppState>) -> Response {
    match state.services.store().ping().await {
        Ok(()) => Json(Status { status: "ok", database: Some("ok") }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Status { status: "unavailable", database: Some("unavailable") }))
                .into_response()
        }
    }
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics: OpenMetrics when the scraper prefers it (as Prometheus does), the
/// Prometheus text format 0.0.4 otherwise. With `server.metrics_token` set, only for
/// requests that bear it.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    security((), ("metricsToken" = [])),
    responses(
        (status = 200, description = "The metrics", content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"),
        )),
        (status = 401, description = "`server.metrics_token` is set and the request does not bear it", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = &state.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send the metrics token as 'Authorization: Bearer <token>'",
            ));
        }
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry).is_err() {
        return Err(purser_services::Error::internal("the metrics could not be encoded").into());
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(if prefers_openmetrics(accept) {
        ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
    } else {
        ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], prometheus_text(&text)).into_response()
    })
}

/// Whether an `Accept` header ranks OpenMetrics above the Prometheus text format.
fn prefers_openmetrics(accept: &str) -> bool {
    let quality = |wanted: &str| {
        accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?;
                let q = parts.find_map(|p| p.strip_prefix("q=")).map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
                media.eq_ignore_ascii_case(wanted).then_some(q)
            })
            .fold(0.0_f32, f32::max)
    };
    let openmetrics = quality("application/openmetrics-text");
    openmetrics > 0.0 && openmetrics >= quality("text/plain")
}

/// The Prometheus text format (0.0.4) of an OpenMetrics text: a counter is declared under
/// the name of its sample (`..._total`), an `unknown` metric is `untyped`, and `# UNIT`
/// and `# EOF` are left out.
fn prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "unknown" => (name.to_owned(), "untyped"),
                other => (name.to_owned(), other),
            };
            if let Some((_, text)) = help.take().and_then(|h| h.split_once(' ')) {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if !(line.starts_with("# UNIT ") || line == "# EOF") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scraper_chooses_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                          text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(prefers_openmetrics(prometheus));
        assert!(!prefers_openmetrics("text/plain;version=0.0.4"));
        assert!(!prefers_openmetrics("*/*"));
        assert!(!prefers_openmetrics(""));
        assert!(!prefers_openmetrics("text/plain, application/openmetrics-text;q=0.5"));
    }

    #[test]
    fn counters_are_declared_under_their_sample_names_in_the_prometheus_format() {
        let openmetrics = "# HELP purser_http_requests HTTP requests.\n# TYPE purser_http_requests counter\n\
                           purser_http_requests_total{route=\"/x\"} 3\n# HELP purser_up Up.\n# TYPE purser_up gauge\n\
                           # UNIT purser_up x\npurser_up 1\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP purser_http_requests_total HTTP requests.\n# TYPE purser_http_requests_total counter\n\
             purser_http_requests_total{route=\"/x\"} 3\n# HELP purser_up Up.\n# TYPE purser_up gauge\npurser_up 1\n"
        );
    }
}
