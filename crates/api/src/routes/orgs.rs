//! `/api/v1/organizations`: tenants and their members.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_services::orgs::{OrgPatch, OrgQuery};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    AuditEntryDto, CreateOrganizationRequest, DeletedOrganizationDto, MemberDto, OrganizationDto, Paginated,
    TransferOwnershipRequest, UpdateMemberRequest, UpdateOrganizationRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, JsonBody, PageParams, QueryParams, page_request, pages};
use crate::routes::audit::AuditQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org, update_org, delete_org))
        .routes(routes!(suspend_org))
        .routes(routes!(resume_org))
        .routes(routes!(list_members))
        .routes(routes!(get_member, update_member, remove_member))
        .routes(routes!(transfer_ownership))
        .routes(routes!(leave_org))
        .routes(routes!(org_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgListQuery {
    /// Every organization, not just yours (platform admins and read-only admins).
    all: Option<bool>,
    page: Option<u32>,
    limit: Option<u32>,
}

/// Create an organization; you become its owner. Needs a verified email address.
#[utoipa::path(
    post, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "Created", body = OrganizationDto),
        (status = 403, description = "Your email is not verified (`email_not_verified`)", body = Problem),
        (status = 422, description = "Invalid name", body = Problem),
    )
)]
async fn create_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, Json<OrganizationDto>)> {
    let org = state.services.create_organization(&actor, b.map(|b| b.name)).await?;
    Ok((StatusCode::CREATED, Json(OrganizationDto::new(org, Some(purser_domain::org::OrgRole::Owner), Some(1)))))
}

/// Your organizations (or, with `all=true`, every organization, for platform admins).
#[utoipa::path(
    get, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])),
    params(OrgListQuery),
    responses(
        (status = 200, description = "One page of organizations", body = Paginated<OrganizationDto>),
        (status = 403, description = "`all` without a platform admin role", body = Problem),
    )
)]
async fn list_orgs(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<OrgListQuery>,
) -> ApiResult<Json<Paginated<OrganizationDto>>> {
    let query = q.and_then(|q| Ok(OrgQuery { all: q.all.unwrap_or(false), page: page_request(q.page, q.limit)? }));
    let orgs = state.services.list_organizations(&actor, query).await?;
    Ok(Json(Paginated::from_page(orgs, Into::into)))
}

/// One organization you belong to.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = OrganizationDto),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn get_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
) -> ApiResult<Json<OrganizationDto>> {
    Ok(Json(state.services.get_organization(&actor, org).await?.into()))
}

/// Rename (owners, admins) or set quotas (platform admins).
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "Changed", body = OrganizationDto),
        (status = 403, description = "Your role does not allow this, or the organization is suspended", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn update_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<UpdateOrganizationRequest>,
) -> ApiResult<Json<OrganizationDto>> {
    let patch = b.map(|b| OrgPatch {
        name: b.name,
        max_members: b.max_members,
        max_teams: b.max_teams,
        max_storage_bytes: b.max_storage_bytes,
        document_types: b.document_types,
        timestamp_uploads: b.timestamp_uploads,
    });
    let changed = state.services.update_organization(&actor, org, patch).await?;
    Ok(Json(state.services.get_organization(&actor, changed.id).await?.into()))
}

/// Delete an organization (owners). It stops working at once; its data is kept for the
/// configured grace period. Refused while keys billed to its teams are usable.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Deleted", body = DeletedOrganizationDto),
        (status = 403, description = "Not an owner", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 409, description = "Usable keys remain (`organization_has_active_resources`), or it is the default organization", body = Problem),
    )
)]
async fn delete_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
) -> ApiResult<Json<DeletedOrganizationDto>> {
    let purge_after = state.services.delete_organization(&actor, org).await?;
    Ok(Json(DeletedOrganizationDto { deleted: true, purge_after }))
}

/// Suspend an organization (platform admins): readable, but nothing in it can be changed or used.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/suspend", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Suspended", body = OrganizationDto),
        (status = 403, description = "Not a platform admin", body = Problem),
    )
)]
async fn suspend_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
) -> ApiResult<Json<OrganizationDto>> {
    state.services.set_organization_suspended(&actor, org, true).await?;
    Ok(Json(state.services.get_organization(&actor, org).await?.into()))
}

/// Resume a suspended organization (platform admins).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/resume", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Active again", body = OrganizationDto),
        (status = 403, description = "Not a platform admin", body = Problem),
    )
)]
async fn resume_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
) -> ApiResult<Json<OrganizationDto>> {
    state.services.set_organization_suspended(&actor, org, false).await?;
    Ok(Json(state.services.get_organization(&actor, org).await?.into()))
}

/// The organization's members, owners first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/members", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of members", body = Paginated<MemberDto>),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_members(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<MemberDto>>> {
    let members = state.services.list_members(&actor, org, pages(q)).await?;
    Ok(Json(Paginated::from_page(members, Into::into)))
}

/// One member.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/members/{user}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("user" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The member", body = MemberDto),
        (status = 404, description = "No such organization or member", body = Problem),
    )
)]
async fn get_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, user): IdPair,
) -> ApiResult<Json<MemberDto>> {
    Ok(Json(state.services.get_member(&actor, org, user).await?.into()))
}

/// Change a member's role. Owners change any role; admins move people between member and
/// viewer. The last owner cannot be demoted (`last_owner`).
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/members/{user}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("user" = String, Path, description = "User id")),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "Changed", body = MemberDto),
        (status = 403, description = "Your role does not allow this change", body = Problem),
        (status = 404, description = "No such organization or member", body = Problem),
        (status = 409, description = "The last owner (`last_owner`)", body = Problem),
    )
)]
async fn update_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, user): IdPair,
    JsonBody(b): JsonBody<UpdateMemberRequest>,
) -> ApiResult<Json<MemberDto>> {
    Ok(Json(state.services.change_member_role(&actor, org, user, b.map(|b| b.role)).await?.into()))
}

/// Remove a member (their keys billed to this organization are revoked). The last owner
/// cannot be removed.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/members/{user}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("user" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization or member", body = Problem),
        (status = 409, description = "The last owner, or the default organization", body = Problem),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, user): IdPair,
) -> ApiResult<StatusCode> {
    state.services.remove_member(&actor, org, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make another member owner (owners); you become an admin.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/transfer-ownership", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = TransferOwnershipRequest,
    responses(
        (status = 204, description = "Transferred"),
        (status = 403, description = "Not an owner", body = Problem),
        (status = 404, description = "No such organization or member", body = Problem),
    )
)]
async fn transfer_ownership(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<TransferOwnershipRequest>,
) -> ApiResult<StatusCode> {
    state.services.transfer_ownership(&actor, org, b.map(|b| b.user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leave an organization (not as its last owner, nor the default organization).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/leave", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 204, description = "You left"),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 409, description = "You are the last owner, or it is the default organization", body = Problem),
    )
)]
async fn leave_org(State(state): State<AppState>, Auth(actor): Auth, IdPath(org): IdPath) -> ApiResult<StatusCode> {
    let me = actor.user_id;
    state.services.remove_member(&actor, org, me).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's audit log (owners).
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/audit-logs", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), AuditQuery),
    responses(
        (status = 200, description = "One page of audit entries", body = Paginated<AuditEntryDto>),
        (status = 403, description = "Not an owner", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn org_audit(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Json<Paginated<AuditEntryDto>>> {
    let entries = state.services.organization_audit(&actor, org, q.and_then(AuditQuery::read)).await?;
    Ok(Json(Paginated::from_page(entries, Into::into)))
}
