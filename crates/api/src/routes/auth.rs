//! `/api/v1/auth`: register, login, refresh, logout, me.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use purser_services::auth::{Credentials, Registration};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, UserDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, Client, ValidJson};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Create an account.
#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserDto),
        (status = 409, description = "The email is taken (`email_taken`)", body = Problem),
        (status = 422, description = "Invalid email, password under 12 characters, or bad name", body = Problem),
    )
)]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let user = state
        .services
        .register(Registration { email: body.email, password: body.password, name: body.name }, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Sign in with email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem),
        (status = 403, description = "The account is deactivated (`account_disabled`)", body = Problem),
    )
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let pair = state.services.login(Credentials { email: body.email, password: body.password }, &client).await?;
    Ok(Json(pair.into()))
}

/// Exchange a refresh token for a new access and refresh token. Each refresh token works
/// once; reusing one ends its session (`refresh_token_reused`).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenResponse),
        (status = 401, description = "Unknown, expired, used or revoked refresh token", body = Problem),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(state.services.refresh(&body.refresh_token, &client).await?.into()))
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
async fn logout(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<StatusCode> {
    state.services.logout(&actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = UserDto),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
async fn me(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<UserDto>> {
    Ok(Json(state.services.me(&actor).await?.into()))
}
