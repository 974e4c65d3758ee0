//! `/api/v1/api-keys`: the caller's keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_services::keys::NewApiKey;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{ApiKeyDto, CreateApiKeyRequest, CreatedApiKeyDto, Paginated};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPath, JsonBody, PageParams, QueryParams, pages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_key, list_keys)).routes(routes!(get_key, revoke_key))
}

/// Create a key for one or more models you are subscribed to. The full key is in this
/// answer only; Purser stores its hash.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Key created", body = CreatedApiKeyDto),
        (status = 422, description = "Invalid field, or no active subscription to a model (`modelIds[i]`)", body = Problem),
    )
)]
async fn create_key(
    State(state): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKeyDto>)> {
    let input = b.map(|b| NewApiKey {
        name: b.name,
        model_ids: b.model_ids,
        team_id: b.team_id,
        max_budget: b.max_budget,
        budget_period: b.budget_period,
        tpm_limit: b.tpm_limit,
        rpm_limit: b.rpm_limit,
        max_parallel: b.max_parallel,
        expires_at: b.expires_at,
    });
    let created = state.services.create_api_key(&actor, input).await?;
    let api_key = ApiKeyDto::new(created.key, state.services.now());
    Ok((StatusCode::CREATED, Json(CreatedApiKeyDto { key: created.secret, api_key })))
}

/// Your keys, newest first. Keys are shown by prefix and last four characters.
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of keys", body = Paginated<ApiKeyDto>))
)]
async fn list_keys(
    State(state): State<AppState>,
    Auth(actor): Auth,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<ApiKeyDto>>> {
    let keys = state.services.list_api_keys(&actor, pages(q)).await?;
    let now = state.services.now();
    Ok(Json(Paginated::from_page(keys, |k| ApiKeyDto::new(k, now))))
}

/// One of your keys, with its current spend.
#[utoipa::path(
    get, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyDto),
        (status = 404, description = "No such key of yours", body = Problem),
    )
)]
async fn get_key(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<Json<ApiKeyDto>> {
    let key = state.services.get_api_key(&actor, id).await?;
    Ok(Json(ApiKeyDto::new(key, state.services.now())))
}

/// Revoke a key. It stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 404, description = "No such key of yours", body = Problem),
    )
)]
async fn revoke_key(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    state.services.revoke_api_key(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
