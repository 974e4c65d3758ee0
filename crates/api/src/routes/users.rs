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
use crate::dto::{Paginated, UpdateUserRequest, UserDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPath, PageParams, ValidJson, ValidQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users)).routes(routes!(get_user, update_user))
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
    ValidQuery(q): ValidQuery<UserQuery>,
) -> ApiResult<Json<Paginated<UserDto>>> {
    let page = PageParams { page: q.page, limit: q.limit }.to_request()?;
    let users = state.services.list_users(&actor, UserFilter { search: q.search, role: q.role }, page).await?;
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
    ValidJson(b): ValidJson<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.services.update_user(&actor, id, UserPatch { role: b.role, active: b.active }).await?.into()))
}
