//! `/api/v1/subscriptions` (own) and `/api/v1/admin/subscriptions` (the approval queue).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_domain::page::PageRequest;
use purser_domain::subscription::SubscriptionStatus;
use purser_services::subscriptions::Decision;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{CreateSubscriptionRequest, Paginated, ReviewRequest, SubscriptionDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPath, JsonBody, OptionalJsonBody, QueryParams, page_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe, list_subscriptions))
        .routes(routes!(get_subscription))
        .routes(routes!(cancel_subscription))
        .routes(routes!(queue))
        .routes(routes!(approve))
        .routes(routes!(deny))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    status: Option<SubscriptionStatus>,
    page: Option<u32>,
    limit: Option<u32>,
}

impl SubscriptionQuery {
    fn read(self) -> purser_services::Result<(Option<SubscriptionStatus>, PageRequest)> {
        Ok((self.status, page_request(self.page, self.limit)?))
    }
}

/// Subscribe to a model: active at once, or `pending` until an admin approves a restricted model.
#[utoipa::path(
    post, path = "/api/v1/subscriptions", tag = "subscriptions",
    security(("bearer" = [])),
    request_body = CreateSubscriptionRequest,
    responses(
        (status = 201, description = "Subscribed", body = SubscriptionDto),
        (status = 404, description = "No such model", body = Problem),
        (status = 409, description = "Already subscribed (`already_subscribed`)", body = Problem),
    )
)]
async fn subscribe(
    State(state): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<CreateSubscriptionRequest>,
) -> ApiResult<(StatusCode, Json<SubscriptionDto>)> {
    Ok((StatusCode::CREATED, Json(state.services.subscribe(&actor, b.map(|b| b.model_id)).await?.into())))
}

/// Your subscriptions, newest first.
#[utoipa::path(
    get, path = "/api/v1/subscriptions", tag = "subscriptions",
    security(("bearer" = [])),
    params(SubscriptionQuery),
    responses((status = 200, description = "One page of subscriptions", body = Paginated<SubscriptionDto>))
)]
async fn list_subscriptions(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<SubscriptionQuery>,
) -> ApiResult<Json<Paginated<SubscriptionDto>>> {
    let subscriptions = state.services.list_subscriptions(&actor, q.and_then(SubscriptionQuery::read)).await?;
    Ok(Json(Paginated::from_page(subscriptions, Into::into)))
}

/// One of your subscriptions.
#[utoipa::path(
    get, path = "/api/v1/subscriptions/{id}", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDto),
        (status = 404, description = "No such subscription of yours", body = Problem),
    )
)]
async fn get_subscription(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<SubscriptionDto>> {
    Ok(Json(state.services.get_subscription(&actor, id).await?.into()))
}

/// Cancel a subscription. Refused (`subscription_in_use`) while one of your usable keys names the model.
#[utoipa::path(
    post, path = "/api/v1/subscriptions/{id}/cancel", tag = "subscriptions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "Cancelled", body = SubscriptionDto),
        (status = 404, description = "No such subscription of yours", body = Problem),
        (status = 409, description = "A usable key still uses the model", body = Problem),
    )
)]
async fn cancel_subscription(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<SubscriptionDto>> {
    Ok(Json(state.services.cancel_subscription(&actor, id).await?.into()))
}

/// Subscriptions of all users by status (default `pending`), for admins and read-only admins.
#[utoipa::path(
    get, path = "/api/v1/admin/subscriptions", tag = "admin",
    security(("bearer" = [])),
    params(SubscriptionQuery),
    responses(
        (status = 200, description = "One page of subscriptions", body = Paginated<SubscriptionDto>),
        (status = 403, description = "Not an admin", body = Problem),
    )
)]
async fn queue(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<SubscriptionQuery>,
) -> ApiResult<Json<Paginated<SubscriptionDto>>> {
    let subscriptions = state.services.subscription_queue(&actor, q.and_then(SubscriptionQuery::read)).await?;
    Ok(Json(Paginated::from_page(subscriptions, Into::into)))
}

async fn review(
    state: AppState,
    actor: purser_services::Actor,
    id: purser_domain::Id,
    decision: Decision,
    OptionalJsonBody(body): OptionalJsonBody<ReviewRequest>,
) -> ApiResult<Json<SubscriptionDto>> {
    let reason = body.map(|b| b.and_then(|b| b.reason));
    Ok(Json(state.services.review_subscription(&actor, id, decision, reason).await?.into()))
}

/// Approve a pending subscription (admins).
#[utoipa::path(
    post, path = "/api/v1/admin/subscriptions/{id}/approve", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    request_body(content = Option<ReviewRequest>, description = "An optional reason"),
    responses(
        (status = 200, description = "Approved", body = SubscriptionDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "Not pending (`subscription_not_pending`)", body = Problem),
    )
)]
async fn approve(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    body: OptionalJsonBody<ReviewRequest>,
) -> ApiResult<Json<SubscriptionDto>> {
    review(state, actor, id, Decision::Approve, body).await
}

/// Deny a pending subscription (admins).
#[utoipa::path(
    post, path = "/api/v1/admin/subscriptions/{id}/deny", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    request_body(content = Option<ReviewRequest>, description = "An optional reason"),
    responses(
        (status = 200, description = "Denied", body = SubscriptionDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 409, description = "Not pending (`subscription_not_pending`)", body = Problem),
    )
)]
async fn deny(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    body: OptionalJsonBody<ReviewRequest>,
) -> ApiResult<Json<SubscriptionDto>> {
    review(state, actor, id, Decision::Deny, body).await
}
