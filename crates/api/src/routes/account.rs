//! `/api/v1/auth/...`: the caller's email addresses and passwords.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_domain::Validator;
use purser_domain::user::validate_email;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    ChangePasswordRequest, EmailRequest, MailSent, ResetPasswordRequest, RevokedSessions, SendVerificationRequest,
    SessionDto, TokenRequest, UserDto, UserEmailDto,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, Client, IdPath, JsonBody, OptionalJsonBody};
use crate::limits::Limited;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_verification))
        .routes(routes!(verify_email))
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(list_emails, add_email))
        .routes(routes!(remove_email))
        .routes(routes!(make_primary))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_other_sessions))
}

/// Your live sessions (sign-ins), newest first.
#[utoipa::path(
    get, path = "/api/v1/auth/sessions", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "Your sessions", body = Vec<SessionDto>))
)]
async fn list_sessions(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Vec<SessionDto>>> {
    let sessions = state.services.list_sessions(&actor).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionDto {
                current: s.id == actor.session_id,
                id: s.id,
                ip: s.ip,
                user_agent: s.user_agent,
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect(),
    ))
}

/// End one of your sessions: its tokens stop working at once.
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such session of yours", body = Problem),
    )
)]
async fn revoke_session(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    state.services.revoke_session(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session but this one.
#[utoipa::path(
    post, path = "/api/v1/auth/sessions/revoke-others", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "How many sessions ended", body = RevokedSessions))
)]
async fn revoke_other_sessions(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<RevokedSessions>> {
    Ok(Json(RevokedSessions { revoked: state.services.revoke_other_sessions(&actor).await? }))
}

/// Mail a verification link to one of your addresses (default: the primary one).
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email/send", tag = "auth",
    security(("bearer" = [])),
    request_body(content = Option<SendVerificationRequest>),
    responses(
        (status = 202, description = "Mail sent", body = MailSent),
        (status = 404, description = "No such address of yours", body = Problem),
        (status = 409, description = "Already verified (`email_already_verified`)", body = Problem),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem),
    )
)]
async fn send_verification(
    State(state): State<AppState>,
    Auth(actor): Auth,
    OptionalJsonBody(body): OptionalJsonBody<SendVerificationRequest>,
) -> ApiResult<Limited<(StatusCode, Json<MailSent>)>> {
    let account = actor.user_id.to_string();
    let rate = state.limits.check(&[("verify:account", state.limits.rules.verify_per_account, &account)]).await?;
    let email_id = body.map(|b| b.and_then(|b| b.email_id));
    let email_sent = state.services.send_verification(&actor, email_id).await?;
    Ok(Limited(rate, (StatusCode::ACCEPTED, Json(MailSent { email_sent }))))
}

/// Confirm an address with the token from the verification mail (no sign-in needed).
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Verified", body = UserEmailDto),
        (status = 422, description = "Unknown, used or expired token", body = Problem),
    )
)]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    body: JsonBody<TokenRequest>,
) -> ApiResult<Json<UserEmailDto>> {
    let b = body.read_public()?;
    Ok(Json(state.services.verify_email(&b.token, &client).await?.into()))
}

/// Ask for a password reset link. The answer is the same whether or not the address
/// belongs to an account; a link is mailed only to a verified address of an active account.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset/request", tag = "auth",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "If the address belongs to an account, a link is on its way"),
        (status = 422, description = "Not an email address", body = Problem),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem),
    )
)]
async fn request_password_reset(
    State(state): State<AppState>,
    Client(client): Client,
    body: JsonBody<EmailRequest>,
) -> ApiResult<Limited<StatusCode>> {
    let b = body.read_public()?;
    let mut v = Validator::new();
    validate_email(&mut v, "email", &b.email);
    v.finish().map_err(purser_services::Error::from)?;
    let rules = state.limits.rules;
    let ip = client.ip.clone().unwrap_or_default();
    let address = purser_domain::user::normalize_email(&b.email);
    let rate = state
        .limits
        .check(&[("reset:ip", rules.reset_per_ip, &ip), ("reset:email", rules.reset_per_email, &address)])
        .await?;
    state.services.request_password_reset(&b.email, &client);
    Ok(Limited(rate, StatusCode::ACCEPTED))
}

/// Set a new password with the token from the reset mail. Every session of the account ends.
#[utoipa::path(
    post, path = "/api/v1/auth/password-reset", tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed; sign in again"),
        (status = 422, description = "Bad token or too short a password", body = Problem),
    )
)]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    body: JsonBody<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    let b = body.read_public()?;
    state.services.reset_password(&b.token, b.new_password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password; your other sessions end.
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 422, description = "Wrong current password or too short a new one", body = Problem),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    state.services.change_password(&actor, b.map(|b| (b.current_password, b.new_password))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your email addresses, primary first.
#[utoipa::path(
    get, path = "/api/v1/auth/emails", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "Your addresses", body = Vec<UserEmailDto>))
)]
async fn list_emails(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Vec<UserEmailDto>>> {
    Ok(Json(state.services.list_emails(&actor).await?.into_iter().map(Into::into).collect()))
}

/// Add an address; a verification link is mailed to it.
#[utoipa::path(
    post, path = "/api/v1/auth/emails", tag = "auth",
    security(("bearer" = [])),
    request_body = EmailRequest,
    responses(
        (status = 201, description = "Added, unverified", body = UserEmailDto),
        (status = 409, description = "The address cannot be added, or you have 10 already", body = Problem),
    )
)]
async fn add_email(
    State(state): State<AppState>,
    Auth(actor): Auth,
    JsonBody(b): JsonBody<EmailRequest>,
) -> ApiResult<(StatusCode, Json<UserEmailDto>)> {
    Ok((StatusCode::CREATED, Json(state.services.add_email(&actor, b.map(|b| b.email)).await?.into())))
}

/// Remove one of your addresses (not the primary one).
#[utoipa::path(
    delete, path = "/api/v1/auth/emails/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Address id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such address of yours", body = Problem),
        (status = 409, description = "It is the primary address", body = Problem),
    )
)]
async fn remove_email(State(state): State<AppState>, Auth(actor): Auth, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    state.services.remove_email(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a verified address your primary (login) address.
#[utoipa::path(
    post, path = "/api/v1/auth/emails/{id}/primary", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Address id")),
    responses(
        (status = 200, description = "Your account, with its new login address", body = UserDto),
        (status = 404, description = "No such address of yours", body = Problem),
        (status = 409, description = "Not verified (`email_not_verified`)", body = Problem),
    )
)]
async fn make_primary(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(id): IdPath,
) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.services.set_primary_email(&actor, id).await?.into()))
}
