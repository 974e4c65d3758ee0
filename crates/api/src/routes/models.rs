//! `/api/v1/models` (everyone) and `/api/v1/admin/models` (admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_domain::model::Capability;
use purser_services::catalog::{ModelInput, ModelPatch};
use purser_store::models::ModelFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{CreateModelRequest, ModelDto, Paginated, UpdateModelRequest};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPath, PageParams, ValidJson, ValidQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models))
        .routes(routes!(get_model))
        .routes(routes!(create_model))
        .routes(routes!(update_model, delete_model))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelQuery {
    /// Case-insensitive text in the name or description.
    search: Option<String>,
    provider: Option<String>,
    capability: Option<Capability>,
    page: Option<u32>,
    limit: Option<u32>,
}

/// Browse the model catalog.
#[utoipa::path(
    get, path = "/api/v1/models", tag = "models",
    security(("bearer" = [])),
    params(ModelQuery),
    responses(
        (status = 200, description = "One page of models", body = Paginated<ModelDto>),
        (status = 400, description = "Bad query parameter", body = Problem),
    )
)]
async fn list_models(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ValidQuery(q): ValidQuery<ModelQuery>,
) -> ApiResult<Json<Paginated<ModelDto>>> {
    let page = PageParams { page: q.page, limit: q.limit }.to_request()?;
    let filter = ModelFilter { search: q.search, provider: q.provider, capability: q.capability };
    let internals = state.services.sees_model_internals(&actor);
    let models = state.services.list_models(&actor, filter, page).await?;
    Ok(Json(Paginated::from_page(models, |m| ModelDto::new(m, internals))))
}

/// One model.
#[utoipa::path(
    get, path = "/api/v1/models/{id}", tag = "models",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "The model", body = ModelDto),
        (status = 404, description = "No such model", body = Problem),
    )
)]
async fn get_model(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<Json<ModelDto>> {
    let internals = state.services.sees_model_internals(&actor);
    Ok(Json(ModelDto::new(state.services.get_model(&actor, id).await?, internals)))
}

/// Add a model (admins).
#[utoipa::path(
    post, path = "/api/v1/admin/models", tag = "admin",
    security(("bearer" = [])),
    request_body = CreateModelRequest,
    responses(
        (status = 201, description = "Model created", body = ModelDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "A model with this name exists (`model_name_taken`)", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn create_model(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ValidJson(b): ValidJson<CreateModelRequest>,
) -> ApiResult<(StatusCode, Json<ModelDto>)> {
    let input = ModelInput {
        name: b.name,
        provider: b.provider,
        description: b.description,
        upstream_url: b.upstream_url,
        upstream_model: b.upstream_model,
        upstream_api_key: b.upstream_api_key,
        input_cost_per_token: b.input_cost_per_token,
        output_cost_per_token: b.output_cost_per_token,
        context_length: b.context_length,
        capabilities: b.capabilities,
        restricted: b.restricted,
    };
    let model = state.services.create_model(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(ModelDto::new(model, true))))
}

/// Change a model (admins). Absent fields stay; `null` clears an optional field.
#[utoipa::path(
    patch, path = "/api/v1/admin/models/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id")),
    request_body = UpdateModelRequest,
    responses(
        (status = 200, description = "Model changed", body = ModelDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such model", body = Problem),
        (status = 409, description = "The new name is taken", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn update_model(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    ValidJson(b): ValidJson<UpdateModelRequest>,
) -> ApiResult<Json<ModelDto>> {
    let patch = ModelPatch {
        name: b.name,
        provider: b.provider,
        description: b.description,
        upstream_url: b.upstream_url,
        upstream_model: b.upstream_model,
        upstream_api_key: b.upstream_api_key,
        input_cost_per_token: b.input_cost_per_token,
        output_cost_per_token: b.output_cost_per_token,
        context_length: b.context_length,
        capabilities: b.capabilities,
        restricted: b.restricted,
    };
    Ok(Json(ModelDto::new(state.services.update_model(&actor, id, patch).await?, true)))
}

/// Remove a model (admins). Its usage history stays; open subscriptions are cancelled and
/// keys can no longer use it.
#[utoipa::path(
    delete, path = "/api/v1/admin/models/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 204, description = "Model removed"),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such model", body = Problem),
    )
)]
async fn delete_model(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    state.services.delete_model(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
