//! The OAuth side: the token endpoint (RFC 6749, with RFC 7523 client assertions), the
//! JWKS that vault tokens verify with, and RFC 8414 metadata describing both. Form in,
//! snake_case JSON out, RFC 6749 §5.2 errors: what OAuth libraries expect.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use purser_services::vault_tokens::TokenRequest;
use purser_services::{Error, ErrorKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{JwksDto, OAuthErrorDto, OAuthTokenDto, ServerMetadataDto, TokenForm};
use crate::extract::Client;

/// The longest value of a form field (an assertion is a few hundred bytes).
const MAX_FIELD_BYTES: usize = 16 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token)).routes(routes!(jwks)).routes(routes!(metadata))
}

/// An RFC 6749 §5.2 error answer.
pub struct OAuthError(Error);

const OAUTH_CODES: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, error, description) = match e.kind {
            _ if OAUTH_CODES.contains(&e.code) => (StatusCode::BAD_REQUEST, e.code, e.message),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", e.message),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", e.message),
            _ => (StatusCode::BAD_REQUEST, "invalid_request", e.message),
        };
        let mut response = (status, Json(OAuthErrorDto { error, error_description: description })).into_response();
        no_store(response.headers_mut());
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn invalid_request(message: impl Into<String>) -> OAuthError {
    OAuthError(Error::new(ErrorKind::Malformed, "invalid_request", message))
}

/// Reads the form: each known field at most once, none too long, no control characters.
/// Unknown fields are ignored, as RFC 6749 §3.2 asks.
fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return Err(invalid_request("send the request as application/x-www-form-urlencoded"));
    }
    let mut request = TokenRequest::default();
    for (name, value) in form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "grant_type" => &mut request.grant_type,
            "client_assertion_type" => &mut request.client_assertion_type,
            "client_assertion" => &mut request.client_assertion,
            "vault_id" => &mut request.vault_id,
            "scope" | "requested_role" => &mut request.scope,
            "refresh_token" => &mut request.refresh_token,
            _ => continue,
        };
        if slot.is_some() {
            return Err(invalid_request(format!("{name} is given more than once")));
        }
        if value.len() > MAX_FIELD_BYTES {
            return Err(invalid_request(format!("{name} is too long")));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid_request(format!("{name} holds a control character")));
        }
        *slot = Some(value.into_owned());
    }
    Ok(request)
}

/// Get a vault token. `grant_type=client_credentials` with an RFC 7523 client assertion and
/// a `vault_id`, or `grant_type=refresh_token` (single use: a used one presented again
/// revokes every token of its family). Errors as RFC 6749 §5.2.
#[utoipa::path(
    post, path = "/api/v1/token", tag = "vaults",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Issued", body = OAuthTokenDto),
        (status = 400, description = "Refused, with an RFC 6749 error code", body = OAuthErrorDto),
        (status = 429, description = "Too many refused requests from this address; see Retry-After", body = crate::error::Problem),
        (status = 500, description = "`server_error`", body = OAuthErrorDto),
        (status = 503, description = "`temporarily_unavailable`", body = OAuthErrorDto),
    )
)]
async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // Refusals are counted per address: guessing and replaying slow down, and so does the
    // audit log's growth. Clients that sign correctly are never counted.
    let ip = client.ip.clone().unwrap_or_default();
    if let Err(limited) = state.limits.before_token(&ip).await {
        return limited.into_response();
    }
    let answer = async {
        let body = body.map_err(|_| invalid_request("the request body cannot be read (or is too large)"))?;
        let request = read_form(&headers, &body)?;
        state.services.exchange_token(&client, request).await.map_err(OAuthError)
    };
    match answer.await {
        Ok(issued) => {
            let mut response = Json(OAuthTokenDto::from(issued)).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(refused) => {
            let response = refused.into_response();
            if response.status().is_client_error() {
                state.limits.token_refused(&ip).await;
            }
            response
        }
    }
}

/// Purser's public keys for vault tokens (EdDSA). A key is published before it signs and
/// until the last token it signed has expired.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "vaults",
    responses((status = 200, description = "The key set", body = JwksDto))
)]
async fn jwks(State(state): State<AppState>) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=60")];
    (headers, state.services.jwks()).into_response()
}

/// RFC 8414 authorization server metadata: where the token endpoint and the keys are.
#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "vaults",
    responses((status = 200, description = "The metadata", body = ServerMetadataDto))
)]
async fn metadata(State(state): State<AppState>) -> Json<ServerMetadataDto> {
    let issuer = state.services.token_issuer().to_owned();
    Json(ServerMetadataDto {
        token_endpoint: state.services.token_endpoint(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        service_documentation: format!("{issuer}/api/docs"),
        issuer,
        grant_types_supported: vec!["client_credentials", "refresh_token"],
        token_endpoint_auth_methods_supported: vec!["private_key_jwt"],
        token_endpoint_auth_signing_alg_values_supported: vec!["EdDSA"],
        response_types_supported: vec![],
        scopes_supported: vec!["reader", "writer", "manager", "admin"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers
    }

    #[test]
    fn the_form_is_read_strictly() {
        let read = read_form(&form(), b"grant_type=refresh_token&refresh_token=abc&unknown=1").ok().unwrap();
        assert_eq!(read.grant_type.as_deref(), Some("refresh_token"));
        assert_eq!(read.refresh_token.as_deref(), Some("abc"));
        assert!(read_form(&form(), b"grant_type=a&grant_type=b").is_err(), "twice");
        assert!(read_form(&form(), b"scope=reader&requested_role=admin").is_err(), "two names for one thing");
        assert!(read_form(&form(), b"vault_id=1%002").is_err(), "a control character");
        assert!(read_form(&HeaderMap::new(), b"grant_type=refresh_token").is_err(), "not a form");
    }
}
