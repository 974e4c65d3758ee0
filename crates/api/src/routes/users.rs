//! `/api/v1/users`: platform administration of users.

use axum::Json;
use axum::extract::State;
use purser_domain::PlatformRole;
use purser_services::users::UserPatch;
use purser_store::users::UserFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{Paginated, UpdateUserRequest, UserDto, UserLimitsDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPath, JsonBody, QueryParams, page_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(get_user_limits, set_user_limits))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Case-insensitive text in the email or name.
    search: Option<String>,
    role: Option<PlatformRole>,
    page: Option<u32>,
    limit: Option<u32>,
}

/// Every user (admins and read-only admins).
#[utoipa::path(
    get, path = "/api/v1/users", tag = "admin",
    security(("bearer" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "One page of users", body = Paginated<UserDto>),
        (status = 403, description = "Not an admin", body = Problem),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<UserQuery>,
) -> ApiResult<Json<Paginated<UserDto>>> {
    let query = q.and_then(|q| Ok((UserFilter { search: q.search, role: q.role }, page_request(q.page, q.limit)?)));
    let users = state.services.list_users(&actor, query).await?;
    Ok(Json(Paginated::from_page(users, Into::into)))
}

/// One user (admins and read-only admins; anyone for themselves).
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    )
)]
async fn get_user(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.services.get_user(&actor, id).await?.into()))
}

/// Change a user's platform role or active flag (admins). Deactivating ends the user's
/// sessions and stops their keys at once.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Changed", body = UserDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "It would lock you out (`self_lockout`) or leave no admin (`last_admin`)", body = Problem),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    JsonBody(b): JsonBody<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    let patch = b.map(|b| UserPatch { role: b.role, active: b.active });
    Ok(Json(state.services.update_user(&actor, id, patch).await?.into()))
}

/// A user's gateway limits (admins and read-only admins; users may read their own).
#[utoipa::path(
    get, path = "/api/v1/users/{id}/limits", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The limits; absent fields are unlimited", body = UserLimitsDto),
        (status = 403, description = "Someone else's, and not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    )
)]
async fn get_user_limits(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<UserLimitsDto>> {
    Ok(Json(state.services.user_limits(&actor, id).await?.into()))
}

/// Set a user's gateway limits (admins): requests and tokens per minute, requests in flight
/// and a budget, across all of the user's keys. Replaces all of them; leave a field out for
/// no limit. Every replica applies them within a second.
#[utoipa::path(
    put, path = "/api/v1/users/{id}/limits", tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = UserLimitsDto,
    responses(
        (status = 200, description = "The limits now in force", body = UserLimitsDto),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn set_user_limits(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
    JsonBody(b): JsonBody<UserLimitsDto>,
) -> ApiResult<Json<UserLimitsDto>> {
    Ok(Json(state.services.set_user_limits(&actor, id, b.map(Into::into)).await?.into()))
}
