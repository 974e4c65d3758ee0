//! Errors in OpenAI's shape, so every OpenAI SDK raises the matching exception
//! (`AuthenticationError` for 401, `RateLimitError` for 429, ...).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
    pub retry_after_secs: Option<u64>,
}

impl GatewayError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, code, message: message.into(), param: None, retry_after_secs: None }
    }

    pub fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "missing_api_key",
            "You didn't provide an API key. Send it as 'Authorization: Bearer sk-prs-...'.",
        )
    }

    pub fn invalid_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
    }

    pub fn expired_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "api_key_expired", "This API key has expired.")
    }

    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self { param, ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", message) }
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            "This endpoint does not take that method.",
        )
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("The request body is larger than the {limit} bytes this gateway accepts."),
        )
    }

    pub fn model_not_found(model: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
        }
    }

    pub fn model_not_allowed(model: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "model_not_allowed",
                format!("This API key is not allowed to use the model `{model}`."),
            )
        }
    }

    pub fn unsupported(model: &str, endpoint: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "unsupported_endpoint",
                format!("The model `{model}` does not support {endpoint}."),
            )
        }
    }

    pub fn team_unavailable() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "team_unavailable",
            "The team this API key is billed to no longer exists or is suspended.",
        )
    }

    pub fn team_budget_exceeded(team: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "insufficient_quota",
            format!("The team {team:?} has used its budget for this period."),
        )
    }

    pub fn budget_exceeded() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded this API key's budget. Ask for a larger budget or use another key.",
        )
    }

    /// The budget is not spent, but requests in flight have reserved what is left.
    pub fn budget_reserved(whose: &str) -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "budget_reserved",
                format!(
                    "The requests in flight may use the rest of the budget of {whose}. Try again when they finish."
                ),
            )
        }
    }

    pub fn user_budget_exceeded() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "insufficient_quota",
            "The owner of this API key has used their budget for this period.",
        )
    }

    pub fn too_many_parallel(whose: &str, limit: u32) -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "parallel_limit_exceeded",
                format!("Too many requests at once: {whose} allows {limit} in flight. Try again when one finishes."),
            )
        }
    }

    pub fn rate_limited(whose: &str, what: &str, limit: u32, retry_after_ms: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_ms.div_ceil(1000).max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                format!("Rate limit reached: {whose} allows {limit} {what}. Try again in {retry_after_ms} ms."),
            )
        }
    }

    pub fn upstream_unavailable(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "upstream_unavailable",
            format!("The model server could not be reached: {detail}"),
        )
    }

    pub fn upstream_failed(status: u16) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "upstream_error",
            format!("The model server answered with HTTP {status}."),
        )
    }

    pub fn model_unavailable(model: &str, retry_after_ms: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_ms.div_ceil(1000).max(1)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_error",
                "model_unavailable",
                format!("No server of the model `{model}` can take a request now; try again shortly."),
            )
        }
    }

    /// Every server of the model is throttling (or at its own limits) for now.
    pub fn upstream_rate_limited(model: &str, retry_after_ms: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_ms.div_ceil(1000).max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "upstream_rate_limited",
                format!("The servers of the model `{model}` are rate limiting; try again in {retry_after_ms} ms."),
            )
        }
    }

    /// A `/v1` path the gateway does not serve.
    pub fn unknown_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            format!("Unknown request URL: {method} {path}. See /api/docs for the endpoints this gateway serves."),
        )
    }

    pub fn upstream_timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            "upstream_timeout",
            "The model server did not answer in time.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            "The gateway failed to handle the request.",
        )
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "message": self.message, "type": self.kind, "param": self.param, "code": self.code }
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
