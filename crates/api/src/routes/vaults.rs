//! `/api/v1/organizations/{org}/vaults`: authorization vaults, the grants that give users,
//! teams and service clients roles on them, and vault tokens for the signed-in person.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_domain::Id;
use purser_domain::vault::Grantee;
use purser_services::vaults::VaultInput;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CreateVaultRequest, GrantDto, Paginated, PutGrantRequest, RevokedDto, UpdateVaultRequest, UserVaultTokenRequest,
    VaultDetailDto, VaultDto, VaultTokenDto,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, IdTriple, JsonBody, OptionalJsonBody, PageParams, QueryParams, pages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_vault, list_vaults))
        .routes(routes!(get_vault, update_vault, delete_vault))
        .routes(routes!(list_grants))
        .routes(routes!(put_user_grant, delete_user_grant))
        .routes(routes!(put_team_grant, delete_team_grant))
        .routes(routes!(put_client_grant, delete_client_grant))
        .routes(routes!(issue_vault_token))
        .routes(routes!(revoke_vault_tokens))
        .routes(routes!(resync_vault))
}

/// Create a vault. You get the `admin` role on it.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/vaults", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = CreateVaultRequest,
    responses(
        (status = 201, description = "Created", body = VaultDto),
        (status = 403, description = "Owners, admins and teams delegated `manageVaults` only", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 422, description = "Invalid name or description", body = Problem),
    )
)]
async fn create_vault(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<CreateVaultRequest>,
) -> ApiResult<(StatusCode, Json<VaultDto>)> {
    let input = b.map(|b| VaultInput { name: b.name, description: b.description });
    Ok((StatusCode::CREATED, Json(state.services.create_vault(&actor, org, input).await?.into())))
}

/// The organization's vaults.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/vaults", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of vaults", body = Paginated<VaultDto>),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_vaults(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<VaultDto>>> {
    let page = state.services.list_vaults(&actor, org, pages(q)).await?;
    Ok(Json(Paginated::from_page(page, Into::into)))
}

/// One vault, with your role on it.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/vaults/{vault}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    responses(
        (status = 200, description = "The vault", body = VaultDetailDto),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
    )
)]
async fn get_vault(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
) -> ApiResult<Json<VaultDetailDto>> {
    let (vault, my_role) = state.services.get_vault(&actor, org, vault).await?;
    Ok(Json(VaultDetailDto { vault: vault.into(), my_role }))
}

/// Rename or describe a vault.
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/vaults/{vault}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    request_body = UpdateVaultRequest,
    responses(
        (status = 200, description = "Changed", body = VaultDto),
        (status = 403, description = "The vault's admins and the organization's admins only", body = Problem),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn update_vault(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
    JsonBody(b): JsonBody<UpdateVaultRequest>,
) -> ApiResult<Json<VaultDto>> {
    let input = b.map(|b| VaultInput { name: b.name, description: b.description });
    Ok(Json(state.services.update_vault(&actor, org, vault, input).await?.into()))
}

/// Delete a vault and its grants. Refused (409 `vault_has_tokens`) while refresh tokens of
/// it are usable: revoke them first.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/vaults/{vault}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The vault's admins and the organization's admins only", body = Problem),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
        (status = 409, description = "Usable refresh tokens remain", body = Problem),
    )
)]
async fn delete_vault(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
) -> ApiResult<StatusCode> {
    state.services.delete_vault(&actor, org, vault).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who has which role on the vault: users, teams and service clients.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/vaults/{vault}/grants", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    responses(
        (status = 200, description = "The grants", body = Vec<GrantDto>),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
    )
)]
async fn list_grants(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
) -> ApiResult<Json<Vec<GrantDto>>> {
    let grants = state.services.list_grants(&actor, org, vault).await?;
    Ok(Json(grants.into_iter().map(Into::into).collect()))
}

async fn put_grant(
    state: AppState,
    actor: purser_services::Actor,
    (org, vault): (Id, Id),
    grantee: Grantee,
    body: JsonBody<PutGrantRequest>,
) -> ApiResult<Json<GrantDto>> {
    let role = body.0.map(|b| b.role);
    Ok(Json(state.services.put_grant(&actor, org, vault, grantee, role).await?.into()))
}

async fn delete_grant(
    state: AppState,
    actor: purser_services::Actor,
    (org, vault): (Id, Id),
    grantee: Grantee,
) -> ApiResult<StatusCode> {
    state.services.delete_grant(&actor, org, vault, grantee).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a member a role on the vault (or change it). Vault managers grant roles up to
/// `manager`; vault admins and the organization's admins any.
#[utoipa::path(
    put, path = "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id"), ("user" = String, Path, description = "User id")),
    request_body = PutGrantRequest,
    responses(
        (status = 200, description = "Granted", body = GrantDto),
        (status = 403, description = "Your role does not allow this grant", body = Problem),
        (status = 404, description = "No such vault, organization or member", body = Problem),
        (status = 422, description = "Invalid role", body = Problem),
    )
)]
async fn put_user_grant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, vault, user): IdTriple,
    body: JsonBody<PutGrantRequest>,
) -> ApiResult<Json<GrantDto>> {
    put_grant(state, actor, (org, vault), Grantee::User(user), body).await
}

/// Take a member's own grant away (their teams' grants stay).
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id"), ("user" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such vault, organization or grant", body = Problem),
    )
)]
async fn delete_user_grant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, vault, user): IdTriple,
) -> ApiResult<StatusCode> {
    delete_grant(state, actor, (org, vault), Grantee::User(user)).await
}

/// Give a team a role on the vault: its members hold it (or a higher one of their own).
#[utoipa::path(
    put, path = "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id"), ("team" = String, Path, description = "Team id")),
    request_body = PutGrantRequest,
    responses(
        (status = 200, description = "Granted", body = GrantDto),
        (status = 403, description = "Your role does not allow this grant", body = Problem),
        (status = 404, description = "No such vault, organization or team", body = Problem),
        (status = 422, description = "Invalid role", body = Problem),
    )
)]
async fn put_team_grant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, vault, team): IdTriple,
    body: JsonBody<PutGrantRequest>,
) -> ApiResult<Json<GrantDto>> {
    put_grant(state, actor, (org, vault), Grantee::Team(team), body).await
}

/// Take a team's grant away.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id"), ("team" = String, Path, description = "Team id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such vault, organization or grant", body = Problem),
    )
)]
async fn delete_team_grant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, vault, team): IdTriple,
) -> ApiResult<StatusCode> {
    delete_grant(state, actor, (org, vault), Grantee::Team(team)).await
}

/// Give a service client a role on the vault: the most its tokens for it may carry.
#[utoipa::path(
    put, path = "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id"), ("client" = String, Path, description = "Service client id")),
    request_body = PutGrantRequest,
    responses(
        (status = 200, description = "Granted", body = GrantDto),
        (status = 403, description = "Your role does not allow this grant", body = Problem),
        (status = 404, description = "No such vault, organization or client", body = Problem),
        (status = 422, description = "Invalid role", body = Problem),
    )
)]
async fn put_client_grant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, vault, client): IdTriple,
    body: JsonBody<PutGrantRequest>,
) -> ApiResult<Json<GrantDto>> {
    put_grant(state, actor, (org, vault), Grantee::Client(client), body).await
}

/// Take a client's grant away: its refresh tokens for the vault are revoked at once.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id"), ("client" = String, Path, description = "Service client id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such vault, organization or grant", body = Problem),
    )
)]
async fn delete_client_grant(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, vault, client): IdTriple,
) -> ApiResult<StatusCode> {
    delete_grant(state, actor, (org, vault), Grantee::Client(client)).await
}

/// A vault token for yourself: the role asked for (default: yours), capped by your
/// effective role; with no role on the vault, 403 `no_vault_role`.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/vaults/{vault}/tokens", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    request_body(content = Option<UserVaultTokenRequest>, description = "Optional"),
    responses(
        (status = 201, description = "Issued", body = VaultTokenDto),
        (status = 403, description = "No role on this vault", body = Problem),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
        (status = 422, description = "Invalid role", body = Problem),
    )
)]
async fn issue_vault_token(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
    OptionalJsonBody(b): OptionalJsonBody<UserVaultTokenRequest>,
) -> ApiResult<(StatusCode, Json<VaultTokenDto>)> {
    let role = b.map(|b| b.and_then(|b| b.role));
    let issued = state.services.issue_user_vault_token(&actor, org, vault, role).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Revoke every refresh token of the vault (access tokens run out within minutes).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/vaults/{vault}/tokens/revoke", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    responses(
        (status = 200, description = "Revoked", body = RevokedDto),
        (status = 403, description = "The vault's admins and the organization's admins only", body = Problem),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
    )
)]
async fn revoke_vault_tokens(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
) -> ApiResult<Json<RevokedDto>> {
    Ok(Json(RevokedDto { revoked: state.services.revoke_vault_tokens(&actor, org, vault).await? }))
}

/// Send the vault's state to the policy engine again now (it is retried with backoff
/// anyway; this skips the wait after a failure).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/vaults/{vault}/sync", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("vault" = String, Path, description = "Vault id")),
    responses(
        (status = 200, description = "Queued: the vault is pending", body = VaultDto),
        (status = 403, description = "The vault's admins and the organization's admins only", body = Problem),
        (status = 404, description = "No such vault or organization, or not yours", body = Problem),
    )
)]
async fn resync_vault(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, vault): IdPair,
) -> ApiResult<Json<VaultDto>> {
    Ok(Json(state.services.resync_vault(&actor, org, vault).await?.into()))
}
