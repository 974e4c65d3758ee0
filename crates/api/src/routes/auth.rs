//! `/api/v1/auth`: register, login, refresh, logout, me.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use purser_services::auth::{Credentials, Registration};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{BrowserSessionResponse, LoginRequest, RefreshRequest, RegisterRequest, TokenResponse, UserDto};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, CSRF_COOKIE, Client, JsonBody, SESSION_COOKIE};
use crate::limits::{Limited, RateHeaders};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(browser_login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Create an account: a link to verify the address is mailed to it. If the address
/// belongs to an account already, its owner is told by mail instead; the answer is the
/// same either way, so that nobody learns whose addresses are registered.
#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 202, description = "A mail is on its way to the address (to verify it, or to tell its owner)"),
        (status = 422, description = "Invalid email, password under 12 characters, or bad name", body = Problem),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem),
    )
)]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    body: JsonBody<RegisterRequest>,
) -> ApiResult<Limited<StatusCode>> {
    let body = body.read_public()?;
    let rules = state.limits.rules;
    let ip = client.ip.clone().unwrap_or_default();
    let rate = state.limits.check(&[("register:ip", rules.register_per_ip, &ip)]).await?;
    state
        .services
        .register(Registration { email: body.email, password: body.password, name: body.name }, &client)
        .await?;
    Ok(Limited(rate, StatusCode::ACCEPTED))
}

/// Runs a sign-in under the throttling of `crate::limits`: only a wrong email or password
/// counts as a failure against the account.
async fn throttled<T>(
    state: &AppState,
    client: &purser_services::ClientInfo,
    email: &str,
    sign_in: impl Future<Output = purser_services::Result<T>>,
) -> ApiResult<(RateHeaders, T)> {
    let ip = client.ip.clone().unwrap_or_default();
    let attempt = state.limits.before_sign_in(&ip, &purser_domain::user::normalize_email(email)).await?;
    let outcome = sign_in.await;
    match &outcome {
        Err(e) if e.code == "invalid_credentials" => state.limits.sign_in_failed(&attempt).await,
        _ => state.limits.sign_in_not_failed(&attempt).await,
    }
    Ok((attempt.rate, outcome?))
}

/// Sign in with email and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem),
        (status = 403, description = "The account is deactivated (`account_disabled`)", body = Problem),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem),
    )
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    body: JsonBody<LoginRequest>,
) -> ApiResult<Limited<Json<TokenResponse>>> {
    let body = body.read_public()?;
    let email = body.email.clone();
    let login = state.services.login(Credentials { email: body.email, password: body.password }, &client);
    let (rate, pair) = throttled(&state, &client, &email, login).await?;
    Ok(Limited(rate, Json(pair.into())))
}

/// Sign in a browser: the session is kept in an HttpOnly, SameSite=Lax cookie (no token
/// for scripts to steal), and requests that change something must carry the returned
/// `csrfToken` in the `X-CSRF-Token` header (also set as the readable `purser_csrf` cookie).
#[utoipa::path(
    post, path = "/api/v1/auth/login/cookie", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = BrowserSessionResponse),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem),
    )
)]
async fn browser_login(
    State(state): State<AppState>,
    Client(client): Client,
    body: JsonBody<LoginRequest>,
) -> ApiResult<Limited<Response>> {
    let body = body.read_public()?;
    let email = body.email.clone();
    let login = state.services.login_with_cookie(Credentials { email: body.email, password: body.password }, &client);
    let (rate, session) = throttled(&state, &client, &email, login).await?;
    let remaining_ms = (session.expires_at.as_millis() - state.services.now().as_millis()).max(0);
    let max_age = (remaining_ms + 999) / 1000;
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookies = [
        format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}", session.secret),
        format!("{CSRF_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}", session.csrf_token),
    ];
    let body = BrowserSessionResponse {
        user: session.user.into(),
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    };
    let mut response = Json(body).into_response();
    for cookie in cookies {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(|_| purser_services::Error::internal("bad cookie"))?,
        );
    }
    Ok(Limited(rate, response))
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
    body: JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let body = body.read_public()?;
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
async fn logout(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Response> {
    state.services.logout(&actor).await?;
    // Browsers also drop the session cookies (harmless for token clients).
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(value) = HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0")) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
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
