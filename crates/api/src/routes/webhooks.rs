//! `/api/v1/organizations/{org}/webhooks`: URLs that receive the organization's events,
//! signed, with their delivery log (owners and admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_services::webhooks::{WebhookInput, WebhookPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{CreateWebhookRequest, CreatedWebhookDto, DeliveryDto, Paginated, UpdateWebhookRequest, WebhookDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, IdTriple, JsonBody, PageParams, QueryParams, pages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

/// Add a webhook. The answer holds its signing secret, once: each delivery carries
/// `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
/// "{id}.{timestamp}.{body}" keyed with the secret>`.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/webhooks", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created, with its secret", body = CreatedWebhookDto),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 422, description = "Invalid URL (also a link-local or metadata address) or event type", body = Problem),
    )
)]
async fn create_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<CreatedWebhookDto>)> {
    let input = b.map(|b| WebhookInput { url: b.url, event_types: b.event_types, active: b.active });
    let created = state.services.create_webhook(&actor, org, input).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhookDto { webhook: created.webhook.into(), secret: created.secret })))
}

/// The organization's webhooks.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/webhooks", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of webhooks", body = Paginated<WebhookDto>),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_webhooks(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<WebhookDto>>> {
    let page = state.services.list_webhooks(&actor, org, pages(q)).await?;
    Ok(Json(Paginated::from_page(page, Into::into)))
}

/// One webhook.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/webhooks/{webhook}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("webhook" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookDto),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such webhook or organization, or not yours", body = Problem),
    )
)]
async fn get_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, id): IdPair,
) -> ApiResult<Json<WebhookDto>> {
    Ok(Json(state.services.get_webhook(&actor, org, id).await?.into()))
}

/// Change a webhook's URL, event types, or whether it is active.
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/webhooks/{webhook}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("webhook" = String, Path, description = "Webhook id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "Changed", body = WebhookDto),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such webhook or organization, or not yours", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn update_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, id): IdPair,
    JsonBody(b): JsonBody<UpdateWebhookRequest>,
) -> ApiResult<Json<WebhookDto>> {
    let patch = b.map(|b| WebhookPatch { url: b.url, event_types: b.event_types, active: b.active });
    Ok(Json(state.services.update_webhook(&actor, org, id, patch).await?.into()))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/webhooks/{webhook}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("webhook" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such webhook or organization, or not yours", body = Problem),
    )
)]
async fn delete_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, id): IdPair,
) -> ApiResult<StatusCode> {
    state.services.delete_webhook(&actor, org, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The webhook's delivery log, newest first: each event sent, its status, attempts and
/// the last answer.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/webhooks/{webhook}/deliveries", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("webhook" = String, Path, description = "Webhook id"), PageParams),
    responses(
        (status = 200, description = "One page of deliveries", body = Paginated<DeliveryDto>),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such webhook or organization, or not yours", body = Problem),
    )
)]
async fn list_deliveries(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, id): IdPair,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<DeliveryDto>>> {
    let page = state.services.list_deliveries(&actor, org, id, pages(q)).await?;
    Ok(Json(Paginated::from_page(page, Into::into)))
}

/// Send a delivery again, whatever became of it.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver", tag = "organizations",
    security(("bearer" = [])),
    params(
        ("org" = String, Path, description = "Organization id"),
        ("webhook" = String, Path, description = "Webhook id"),
        ("delivery" = String, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued", body = DeliveryDto),
        (status = 403, description = "Owners and admins only", body = Problem),
        (status = 404, description = "No such delivery, webhook or organization, or not yours", body = Problem),
    )
)]
async fn redeliver(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, id, delivery): IdTriple,
) -> ApiResult<(StatusCode, Json<DeliveryDto>)> {
    let queued = state.services.redeliver(&actor, org, id, delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(queued.into())))
}
