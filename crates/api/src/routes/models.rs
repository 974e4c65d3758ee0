//! `/api/v1/models` (everyone) and `/api/v1/admin/models` (admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_domain::model::Capability;
use purser_services::Error;
use purser_services::catalog::{DeploymentInput, ModelInput, ModelPatch};
use purser_store::models::ModelFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CreateDeploymentRequest, CreateModelRequest, ModelDto, Paginated, UpdateDeploymentRequest, UpdateModelRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, JsonBody, QueryParams, page_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models))
        .routes(routes!(get_model))
        .routes(routes!(create_model))
        .routes(routes!(update_model, delete_model))
        .routes(routes!(add_deployment))
        .routes(routes!(update_deployment, remove_deployment))
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
    QueryParams(q): QueryParams<ModelQuery>,
) -> ApiResult<Json<Paginated<ModelDto>>> {
    let query = q.and_then(|q| {
        let filter = ModelFilter { search: q.search, provider: q.provider, capability: q.capability };
        Ok((filter, page_request(q.page, q.limit)?))
    });
    let internals = state.services.sees_model_internals(&actor);
    let models = state.services.list_models(&actor, query).await?;
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

/// A new model as the request describes it: with a `deployments` list, or one deployment
/// given by the shorthand fields `upstreamUrl`, `upstreamModel` and `upstreamApiKey`.
fn model_input(b: CreateModelRequest) -> Result<ModelInput, Error> {
    let deployment_fields = b.upstream_model.is_some() || b.upstream_api_key.is_some();
    let deployments = match (b.deployments, b.upstream_url) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_field("deployments", "give either upstreamUrl or deployments, not both"));
        }
        (Some(list), None) => list.into_iter().map(DeploymentInput::from).collect(),
        (None, Some(upstream_url)) => vec![DeploymentInput {
            upstream_url,
            upstream_model: b.upstream_model,
            upstream_api_key: b.upstream_api_key,
            ..DeploymentInput::default()
        }],
        (None, None) if deployment_fields => {
            return Err(Error::invalid_field("upstreamUrl", "is required with upstreamModel and upstreamApiKey"));
        }
        (None, None) => Vec::new(),
    };
    Ok(ModelInput {
        name: b.name,
        provider: b.provider,
        description: b.description,
        deployments,
        input_cost_per_token: b.input_cost_per_token,
        output_cost_per_token: b.output_cost_per_token,
        context_length: b.context_length,
        capabilities: b.capabilities,
        restricted: b.restricted,
    })
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
    JsonBody(b): JsonBody<CreateModelRequest>,
) -> ApiResult<(StatusCode, Json<ModelDto>)> {
    // Without a `deployments` list, errors name the shorthand fields (known once read).
    let shorthand = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uses_shorthand = std::sync::Arc::clone(&shorthand);
    let input = b.and_then(move |b| {
        uses_shorthand.store(b.deployments.is_none(), std::sync::atomic::Ordering::Relaxed);
        model_input(b)
    });
    let model = state.services.create_model(&actor, input).await.map_err(|e| {
        // Name the fields the client sent: `upstreamUrl`, not `deployments[0].upstreamUrl`.
        if shorthand.load(std::sync::atomic::Ordering::Relaxed) {
            e.rename_fields(&[("deployments[0].", ""), ("deployments", "upstreamUrl")])
        } else {
            e
        }
    })?;
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
    JsonBody(b): JsonBody<UpdateModelRequest>,
) -> ApiResult<Json<ModelDto>> {
    let patch = b.map(|b| ModelPatch {
        name: b.name,
        provider: b.provider,
        description: b.description,
        input_cost_per_token: b.input_cost_per_token,
        output_cost_per_token: b.output_cost_per_token,
        context_length: b.context_length,
        capabilities: b.capabilities,
        restricted: b.restricted,
    });
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

/// Add a server to a model's deployments (admins).
#[utoipa::path(
    post, path = "/api/v1/admin/models/{id}/deployments", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id")),
    request_body = CreateDeploymentRequest,
    responses(
        (status = 201, description = "The model with its deployments", body = ModelDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such model", body = Problem),
        (status = 409, description = "A mock model has no deployments (`mock_model`)", body = Problem),
        (status = 422, description = "Invalid field, or 16 deployments already", body = Problem),
    )
)]
async fn add_deployment(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    JsonBody(b): JsonBody<CreateDeploymentRequest>,
) -> ApiResult<(StatusCode, Json<ModelDto>)> {
    let model = state.services.add_deployment(&actor, id, b.map(Into::into)).await?;
    Ok((StatusCode::CREATED, Json(ModelDto::new(model, true))))
}

/// Change a deployment (admins). Absent fields stay; `null` clears an optional field.
#[utoipa::path(
    patch, path = "/api/v1/admin/models/{id}/deployments/{deploymentId}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id"), ("deploymentId" = String, Path, description = "Deployment id")),
    request_body = UpdateDeploymentRequest,
    responses(
        (status = 200, description = "The model with its deployments", body = ModelDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such model or deployment", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn update_deployment(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(id, deployment_id): IdPair,
    JsonBody(b): JsonBody<UpdateDeploymentRequest>,
) -> ApiResult<Json<ModelDto>> {
    let model = state.services.update_deployment(&actor, id, deployment_id, b.map(Into::into)).await?;
    Ok(Json(ModelDto::new(model, true)))
}

/// Remove a deployment (admins). A served model keeps at least one.
#[utoipa::path(
    delete, path = "/api/v1/admin/models/{id}/deployments/{deploymentId}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Model id"), ("deploymentId" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "The model with its remaining deployments", body = ModelDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such model or deployment", body = Problem),
        (status = 409, description = "The model's last deployment (`last_deployment`)", body = Problem),
    )
)]
async fn remove_deployment(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(id, deployment_id): IdPair,
) -> ApiResult<Json<ModelDto>> {
    Ok(Json(ModelDto::new(state.services.remove_deployment(&actor, id, deployment_id).await?, true)))
}
