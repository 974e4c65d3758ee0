//! Extractors that turn every kind of bad input into a clear problem document naming the
//! offending field, instead of axum's plain-text rejections.

use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use purser_domain::Id;
use purser_domain::page::PageRequest;
use purser_services::{Actor, ClientInfo};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;

/// The field a serde error is about. The path reaches the offending field, except for a
/// missing field, whose path is the enclosing object and whose name is in the message.
fn field_of(path: &serde_path_to_error::Path, message: &str) -> String {
    let path = path.to_string();
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    match (missing, path.as_str()) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, path) => path.to_owned(),
    }
}

/// A JSON body. Malformed JSON is 400 `malformed_json`; JSON of the wrong shape (missing,
/// unknown or mistyped fields) is 422 `validation_failed` naming the field; a body over
/// the configured limit is 413; a missing JSON content type is 415.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            }
            other => ApiError::bad_request("unreadable_body", None, other.body_text()),
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner();
            let message = inner.to_string();
            if inner.classify() == serde_json::error::Category::Data {
                // serde appends the position; the field name already says where.
                let field = field_of(e.path(), &message);
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                ApiError::unprocessable(field, message)
            } else {
                ApiError::bad_request("malformed_json", None, format!("the body is not valid JSON: {message}"))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::bad_request("malformed_json", None, format!("the body is not valid JSON: {e}")))?;
        Ok(Self(value))
    }
}

/// An optional JSON body: no body at all (and no content type) reads as `None`.
impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req.headers().get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

/// A query string; a bad parameter is 400 `invalid_query` naming it.
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let message = e.inner().to_string();
            let field = field_of(e.path(), &message);
            ApiError::bad_request("invalid_query", Some(field.clone()), format!("query parameter {field}: {message}"))
        })
    }
}

/// `?page=&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

impl PageParams {
    pub fn to_request(&self) -> Result<PageRequest, ApiError> {
        PageRequest::new(self.page, self.limit).map_err(|errors| {
            let first = &errors[0];
            ApiError::bad_request(
                "invalid_query",
                Some(first.field.clone()),
                format!("{} {}", first.field, first.message),
            )
        })
    }
}

/// An `{id}` path segment.
pub struct IdPath(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let [id] = path_ids(parts, state).await?;
        Ok(Self(id))
    }
}

/// Parses every `{...}` path segment as an id, in route order, naming a bad one.
async fn path_ids<S: Send + Sync, const N: usize>(parts: &mut Parts, state: &S) -> Result<[Id; N], ApiError> {
    let missing = || ApiError::bad_request("invalid_id", None, "the path is missing an id");
    let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await.map_err(|_| missing())?;
    if params.len() != N {
        return Err(missing());
    }
    let mut ids = [Id::from_i64(0); N];
    for (slot, (name, raw)) in ids.iter_mut().zip(&params) {
        *slot = raw.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_id",
                Some(name.clone()),
                format!("{raw:?} is not an id (ids are decimal numbers)"),
            )
        })?;
    }
    Ok(ids)
}

/// Two ids from the path, e.g. `{org}/members/{user}`.
pub struct IdPair(pub Id, pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let [a, b] = path_ids(parts, state).await?;
        Ok(Self(a, b))
    }
}

/// Three ids from the path, e.g. `{org}/teams/{team}/members/{user}`.
pub struct IdTriple(pub Id, pub Id, pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdTriple {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let [a, b, c] = path_ids(parts, state).await?;
        Ok(Self(a, b, c))
    }
}

/// The signed-in user, from `Authorization: Bearer <access token>`, with where the request
/// came from.
pub struct Auth(pub Actor);

/// The browser session cookie and the CSRF header that must accompany it on writes.
pub const SESSION_COOKIE: &str = "purser_session";
pub const CSRF_COOKIE: &str = "purser_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of a cookie in the request.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let missing = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in and send the access token as 'Authorization: Bearer <token>'",
            )
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            // No bearer token: a browser session cookie will do.
            let secret = cookie(parts, SESSION_COOKIE).ok_or_else(missing)?;
            let csrf = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let writes = !parts.method.is_safe();
            let principal = state.services.authenticate_cookie(secret, csrf, writes).await?;
            return Ok(Self(Actor { principal, client: client_info(parts) }));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(missing)?;
        let principal = state.services.authenticate(token).await?;
        Ok(Self(Actor { principal, client: client_info(parts) }))
    }
}

fn client_info(parts: &Parts) -> ClientInfo {
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string());
    let header = |name| parts.headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok()).map(str::to_owned);
    ClientInfo { ip, user_agent: header(header::USER_AGENT), request_id: header(crate::REQUEST_ID) }
}

/// The caller's address and user agent.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_info(parts)))
    }
}
