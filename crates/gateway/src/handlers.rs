//! The `/v1` routes. Each handler hands the request to the proxy and returns its answer or
//! an OpenAI-shaped error, with the request's id.
//!
//! They run with the gateway as their only state and none of the management API's
//! middleware: every model request passes here, and a boxed future or a cloned app state
//! per request shows up in the benchmark.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use purser_services::request_id;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::proxy::Endpoint;
use crate::tables::Route;
use crate::{Gateway, GatewayError};

/// The routes of the data plane.
pub fn router() -> OpenApiRouter<Arc<Gateway>> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(list_models))
        // Model names may hold slashes (`meta/llama-3`): the rest of the path is the name,
        // which OpenAPI documents as one parameter.
        .route("/v1/models/{*model}", axum::routing::get(retrieve_model))
        .routes(routes!(chat_completions))
        .routes(routes!(completions))
        .routes(routes!(embeddings));
    let mut operation = <__path_retrieve_model as utoipa::Path>::operation();
    operation.tags.get_or_insert_with(Vec::new).push("gateway".into());
    router.get_openapi_mut().paths.add_path_operation(
        <__path_retrieve_model as utoipa::Path>::path(),
        <__path_retrieve_model as utoipa::Path>::methods(),
        operation,
    );
    router
}

#[derive(Serialize, ToSchema)]
struct ModelList {
    /// Always `list`.
    object: &'static str,
    data: Vec<ModelObject>,
}

#[derive(Serialize, ToSchema)]
struct ModelObject {
    /// The model name to send as `model`.
    id: String,
    /// Always `model`.
    object: &'static str,
    /// Unix seconds.
    created: i64,
    owned_by: String,
}

/// An OpenAI request body. Fields Purser does not know are passed to the model server unchanged.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: bodies are passed through as JSON
struct OpenAiRequest {
    /// A model name from `GET /v1/models`.
    model: String,
    /// Stream the answer as server-sent events.
    stream: Option<bool>,
    /// Any other OpenAI parameter (`messages`, `temperature`, `tools`, ...).
    #[serde(flatten)]
    other: std::collections::HashMap<String, Value>,
}

/// OpenAI's error body.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
struct OpenAiError {
    error: Value,
}

/// Models this API key may use.
#[utoipa::path(
    get, path = "/v1/models", tag = "gateway",
    operation_id = "list_key_models",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The key's models", body = ModelList),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = OpenAiError),
    )
)]
async fn list_models(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let (_, id) = request_id::of(&headers);
    let key = match gateway.authenticate(&headers, gateway.services.now()) {
        Ok(key) => key,
        Err(e) => {
            gateway.metrics.count_refusal(e.code, "");
            return with_id(e.into_response(), id);
        }
    };
    let data = gateway.key_models(&key).iter().map(|route| model_object(route)).collect();
    with_id(Json(ModelList { object: "list", data }).into_response(), id)
}

/// One model this API key may use.
#[utoipa::path(
    get, path = "/v1/models/{model}", tag = "gateway",
    operation_id = "retrieve_key_model",
    security(("apiKey" = [])),
    params(("model" = String, Path, description = "The model's name, as sent in `model`")),
    responses(
        (status = 200, description = "The model", body = ModelObject),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = OpenAiError),
        (status = 404, description = "No such model, or not one this key may use", body = OpenAiError),
    )
)]
async fn retrieve_model(
    State(gateway): State<Arc<Gateway>>,
    Path(model): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (_, id) = request_id::of(&headers);
    let answer = gateway.authenticate(&headers, gateway.services.now()).and_then(|key| {
        let route = gateway.models.by_name(&model).filter(|route| key.allows(route.id));
        route.ok_or_else(|| GatewayError::model_not_found(&model))
    });
    let response = match answer {
        Ok(route) => Json(model_object(&route)).into_response(),
        Err(e) => {
            gateway.metrics.count_refusal(e.code, "");
            e.into_response()
        }
    };
    with_id(response, id)
}

fn model_object(route: &Route) -> ModelObject {
    ModelObject {
        id: route.name.clone(),
        object: "model",
        created: route.created_at.as_secs(),
        owned_by: route.provider.clone(),
    }
}

/// Any other `/v1` path: 404 in OpenAI's error shape, which OpenAI's SDKs can report.
pub async fn unknown_url(request: Request) -> Response {
    let error = GatewayError::unknown_url(request.method().as_str(), request.uri().path());
    with_id(error.into_response(), request_id::of(request.headers()).1)
}

/// (Takes the whole request, not a `HeaderMap` extractor, which would copy the headers.)
async fn proxy(gateway: Arc<Gateway>, endpoint: Endpoint, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let (id, header) = request_id::of(&headers);
    let response = gateway.proxy(endpoint, headers, body, id).await.unwrap_or_else(IntoResponse::into_response);
    with_id(response, header)
}

/// For a `/v1` path asked with a method it does not take.
pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    with_id(crate::GatewayError::method_not_allowed().into_response(), request_id::of(&headers).1)
}

fn with_id(mut response: Response, id: HeaderValue) -> Response {
    request_id::stamp(response.headers_mut(), id);
    response
}

/// Chat completion, plain or streamed (`"stream": true`), passed to the model's server.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "gateway",
    security(("apiKey" = [])),
    request_body(content = OpenAiRequest, description = "An OpenAI chat completion request"),
    responses(
        (status = 200, description = "The model's answer as JSON, or as `text/event-stream` when streamed"),
        (status = 400, description = "Malformed request", body = OpenAiError),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = OpenAiError),
        (status = 403, description = "The key may not use this model", body = OpenAiError),
        (status = 404, description = "No such model", body = OpenAiError),
        (status = 429, description = "Rate limit (with Retry-After) or budget (`insufficient_quota`) exceeded", body = OpenAiError),
        (status = 502, description = "The model server failed or could not be reached", body = OpenAiError),
        (status = 504, description = "The model server did not answer in time", body = OpenAiError),
    )
)]
async fn chat_completions(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    proxy(gateway, Endpoint::ChatCompletions, request).await
}

/// Legacy text completion.
#[utoipa::path(
    post, path = "/v1/completions", tag = "gateway",
    security(("apiKey" = [])),
    request_body(content = OpenAiRequest, description = "An OpenAI completion request"),
    responses(
        (status = 200, description = "The model's answer"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = OpenAiError),
        (status = 429, description = "Rate limit or budget exceeded", body = OpenAiError),
    )
)]
async fn completions(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    proxy(gateway, Endpoint::Completions, request).await
}

/// Embeddings.
#[utoipa::path(
    post, path = "/v1/embeddings", tag = "gateway",
    security(("apiKey" = [])),
    request_body(content = OpenAiRequest, description = "An OpenAI embeddings request"),
    responses(
        (status = 200, description = "The embeddings"),
        (status = 401, description = "Missing, unknown, revoked or expired key", body = OpenAiError),
        (status = 429, description = "Rate limit or budget exceeded", body = OpenAiError),
    )
)]
async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    proxy(gateway, Endpoint::Embeddings, request).await
}
