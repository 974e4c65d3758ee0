//! Invitations: `/api/v1/organizations/{org}/invitations` for those who invite,
//! `/api/v1/invitations` for those invited.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{CreateInvitationRequest, InvitationDto, MemberDto, Paginated, TokenRequest};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, JsonBody, PageParams, QueryParams, pages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite, list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(my_invitations))
        .routes(routes!(accept_invitation))
}

/// Invite an address to the organization (owners and admins, or a team granted
/// `inviteMembers`). The invitation is mailed with its token and lasts 7 days.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/invitations", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = CreateInvitationRequest,
    responses(
        (status = 201, description = "Invited", body = InvitationDto),
        (status = 403, description = "Your role does not allow inviting with that role", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 409, description = "Already a member, an open invitation exists, or the member quota is reached", body = Problem),
    )
)]
async fn invite(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<CreateInvitationRequest>,
) -> ApiResult<(StatusCode, Json<InvitationDto>)> {
    let (invitation, sent) = state.services.create_invitation(&actor, org, b.map(|b| (b.email, b.role))).await?;
    let mut dto = InvitationDto::new(invitation, state.services.now());
    dto.email_sent = Some(sent);
    Ok((StatusCode::CREATED, Json(dto)))
}

/// The organization's invitations, newest first.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/invitations", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of invitations", body = Paginated<InvitationDto>),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_invitations(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<InvitationDto>>> {
    let list = state.services.list_invitations(&actor, org, pages(q)).await?;
    let now = state.services.now();
    Ok(Json(Paginated::from_page(list, |i| InvitationDto::new(i, now))))
}

/// Revoke an open invitation.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/invitations/{invitation}", tag = "organizations",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("invitation" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Your role does not allow this", body = Problem),
        (status = 404, description = "No such organization or invitation", body = Problem),
        (status = 409, description = "Already accepted, revoked or expired", body = Problem),
    )
)]
async fn revoke_invitation(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, invitation): IdPair,
) -> ApiResult<StatusCode> {
    state.services.revoke_invitation(&actor, org, invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open invitations to your verified addresses.
#[utoipa::path(
    get, path = "/api/v1/invitations", tag = "organizations",
    security(("bearer" = [])),
    responses((status = 200, description = "Your open invitations", body = Vec<InvitationDto>))
)]
async fn my_invitations(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Vec<InvitationDto>>> {
    let now = state.services.now();
    Ok(Json(state.services.my_invitations(&actor).await?.into_iter().map(|i| InvitationDto::new(i, now)).collect()))
}

/// Accept an invitation with the token from its mail. You must have verified the invited address.
#[utoipa::path(
    post, path = "/api/v1/invitations/accept", tag = "organizations",
    security(("bearer" = [])),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "You joined", body = MemberDto),
        (status = 403, description = "The invitation is for an address you have not verified (`invitation_email_mismatch`)", body = Problem),
        (status = 404, description = "No such invitation", body = Problem),
        (status = 409, description = "Expired, used, revoked, already a member, or the quota is reached", body = Problem),
    )
)]
async fn accept_invitation(
    State(state): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<TokenRequest>,
) -> ApiResult<Json<MemberDto>> {
    Ok(Json(state.services.accept_invitation(&actor, b.map(|b| b.token)).await?.into()))
}
