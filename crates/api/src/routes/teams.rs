//! `/api/v1/organizations/{org}/teams`: teams, their members and delegated permissions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_services::teams::{TeamInput, TeamPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    AddTeamMemberRequest, CreateTeamRequest, Paginated, TeamDto, TeamMemberDto, TeamPermissionsRequest,
    UpdateTeamMemberRequest, UpdateTeamRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, IdTriple, JsonBody, PageParams, QueryParams, pages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_team, list_teams))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(set_permissions))
        .routes(routes!(add_member, list_members))
        .routes(routes!(update_member, remove_member))
}

/// Create a team (owners, admins, or a team granted `manageTeams`).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/teams", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = CreateTeamRequest,
    responses(
        (status = 201, description = "Created", body = TeamDto),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 409, description = "Name taken or team quota reached", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn create_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<CreateTeamRequest>,
) -> ApiResult<(StatusCode, Json<TeamDto>)> {
    let input = b.map(|b| TeamInput {
        name: b.name,
        description: b.description,
        budget: b.budget,
        budget_period: b.budget_period,
        tpm_limit: b.tpm_limit,
        rpm_limit: b.rpm_limit,
        max_parallel: b.max_parallel,
        model_ids: b.model_ids,
    });
    Ok((StatusCode::CREATED, Json(state.services.create_team(&actor, org, input).await?.into())))
}

/// The organization's teams.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/teams", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of teams", body = Paginated<TeamDto>),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_teams(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<TeamDto>>> {
    let teams = state.services.list_teams(&actor, org, pages(q)).await?;
    Ok(Json(Paginated::from_page(teams, Into::into)))
}

/// One team.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/teams/{team}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id")),
    responses(
        (status = 200, description = "The team", body = TeamDto),
        (status = 404, description = "No such organization or team", body = Problem),
    )
)]
async fn get_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, team): IdPair,
) -> ApiResult<Json<TeamDto>> {
    Ok(Json(state.services.get_team(&actor, org, team).await?.into()))
}

/// Change a team. Absent fields stay; `null` clears an optional one.
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/teams/{team}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id")),
    request_body = UpdateTeamRequest,
    responses(
        (status = 200, description = "Changed", body = TeamDto),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization or team", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn update_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, team): IdPair,
    JsonBody(b): JsonBody<UpdateTeamRequest>,
) -> ApiResult<Json<TeamDto>> {
    let patch = b.map(|b| TeamPatch {
        name: b.name,
        description: b.description,
        budget: b.budget,
        budget_period: b.budget_period,
        tpm_limit: b.tpm_limit,
        rpm_limit: b.rpm_limit,
        max_parallel: b.max_parallel,
        model_ids: b.model_ids,
    });
    Ok(Json(state.services.update_team(&actor, org, team, patch).await?.into()))
}

/// Delete a team (refused while keys billed to it are usable, and for the Default Team).
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/teams/{team}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization or team", body = Problem),
        (status = 409, description = "Usable keys remain, or it is the Default Team", body = Problem),
    )
)]
async fn delete_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, team): IdPair,
) -> ApiResult<StatusCode> {
    state.services.delete_team(&actor, org, team).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the organization permissions delegated to the team's members (owners).
#[utoipa::path(
    put, path = "/api/v1/organizations/{org}/teams/{team}/permissions", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id")),
    request_body = TeamPermissionsRequest,
    responses(
        (status = 200, description = "The team with its new permissions", body = TeamDto),
        (status = 403, description = "Not an owner", body = Problem),
        (status = 404, description = "No such organization or team", body = Problem),
    )
)]
async fn set_permissions(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, team): IdPair,
    JsonBody(b): JsonBody<TeamPermissionsRequest>,
) -> ApiResult<Json<TeamDto>> {
    Ok(Json(state.services.set_team_permissions(&actor, org, team, b.map(|b| b.permissions)).await?.into()))
}

/// Add a member of the organization to the team (admins, the team's managers, or a team
/// granted `manageTeamMembers`; appointing a manager takes `manageTeams`).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/teams/{team}/members", tag = "organizations",
    operation_id = "add_team_member",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id")),
    request_body = AddTeamMemberRequest,
    responses(
        (status = 201, description = "Added", body = TeamMemberDto),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization or team", body = Problem),
        (status = 409, description = "Already a member, or the Default Team", body = Problem),
        (status = 422, description = "Not a member of the organization", body = Problem),
    )
)]
async fn add_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, team): IdPair,
    JsonBody(b): JsonBody<AddTeamMemberRequest>,
) -> ApiResult<(StatusCode, Json<TeamMemberDto>)> {
    let member = state.services.add_team_member(&actor, org, team, b.map(|b| (b.user_id, b.manager))).await?;
    Ok((StatusCode::CREATED, Json(member.into())))
}

/// The team's members, managers first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/teams/{team}/members", tag = "organizations",
    operation_id = "list_team_members",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id"), PageParams),
    responses(
        (status = 200, description = "One page of team members", body = Paginated<TeamMemberDto>),
        (status = 404, description = "No such organization or team", body = Problem),
    )
)]
async fn list_members(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, team): IdPair,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<TeamMemberDto>>> {
    let members = state.services.list_team_members(&actor, org, team, pages(q)).await?;
    Ok(Json(Paginated::from_page(members, Into::into)))
}

/// Set or clear a member's manager flag (`manageTeams`).
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/teams/{team}/members/{user}", tag = "organizations",
    operation_id = "update_team_member",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id"), ("user" = String, Path, description = "User id")),
    request_body = UpdateTeamMemberRequest,
    responses(
        (status = 200, description = "Changed", body = TeamMemberDto),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization, team or member", body = Problem),
    )
)]
async fn update_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, team, user): IdTriple,
    JsonBody(b): JsonBody<UpdateTeamMemberRequest>,
) -> ApiResult<Json<TeamMemberDto>> {
    Ok(Json(state.services.set_team_manager(&actor, org, team, user, b.map(|b| b.manager)).await?.into()))
}

/// Take someone off the team.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/teams/{team}/members/{user}", tag = "organizations",
    operation_id = "remove_team_member",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("team" = String, Path, description = "Team id"), ("user" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization, team or member", body = Problem),
        (status = 409, description = "The Default Team", body = Problem),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, team, user): IdTriple,
) -> ApiResult<StatusCode> {
    state.services.remove_team_member(&actor, org, team, user).await?;
    Ok(StatusCode::NO_CONTENT)
}
