//! Extractors. Bodies and queries are handed to the use cases unread (see
//! `purser_services::Input`), so that authorization is decided before any input is judged;
//! when they are read, every kind of bad input becomes a clear problem document naming the
//! offending field, instead of axum's plain-text rejections.

use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use purser_domain::Id;
use purser_domain::page::PageRequest;
use purser_services::{Actor, ClientInfo, Error, ErrorKind, Input};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
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

/// Control characters have no place in any text Purser is sent; line breaks and tabs are
/// the exception in bodies (descriptions), which each field's own rules may refuse too.
fn is_refused_control(c: char, in_body: bool) -> bool {
    c.is_control() && !(in_body && (c == '\n' || c == '\t'))
}

/// The first string (or key) in `value` holding a refused control character, as a path
/// like `deployments[1].upstreamUrl`.
fn control_character_at(value: &Value, path: &str) -> Option<String> {
    let bad = |s: &str| s.chars().any(|c| is_refused_control(c, true));
    match value {
        Value::String(s) if bad(s) => Some(if path.is_empty() { ".".to_owned() } else { path.to_owned() }),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| control_character_at(item, &format!("{path}[{i}]")))
        }
        Value::Object(members) => members.iter().find_map(|(key, item)| {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if bad(key) { Some(here) } else { control_character_at(item, &here) }
        }),
        _ => None,
    }
}

/// Judges a JSON body: 415 without a JSON content type, 413 over the size limit, 400 when
/// it is not JSON, 422 naming the field for a control character or a field of the wrong
/// shape (missing, unknown, mistyped, given twice).
fn parse_json<T: DeserializeOwned>(is_json: bool, bytes: Result<Bytes, Error>) -> Result<T, Error> {
    if !is_json {
        return Err(Error::new(
            ErrorKind::UnsupportedMedia,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let bytes = bytes?;
    let malformed = |e: &dyn std::fmt::Display| {
        Error::malformed("malformed_json", None, format!("the body is not valid JSON: {e}"))
    };
    // Read once as a tree to find control characters wherever they are, then into `T`
    // straight from the bytes, which also refuses a field given twice.
    let tree: Value = serde_json::from_slice(&bytes).map_err(|e| malformed(&e))?;
    if !tree.is_object() {
        return Err(Error::new(ErrorKind::Invalid, "validation_failed", "the body must be a JSON object"));
    }
    if let Some(field) = control_character_at(&tree, "") {
        return Err(Error::invalid_field(&field, "must not contain control characters"));
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = e.inner().to_string();
        // serde appends the position; the field name already says where.
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        Error::invalid_field(&field_of(e.path(), &message), message)
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Buffers the body up to the configured limit; what went wrong is kept for the reading.
async fn buffer<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Error::new(ErrorKind::TooLarge, "payload_too_large", "the request body is too large")
        }
        other => Error::malformed("unreadable_body", None, other.body_text()),
    })
}

/// A JSON body, buffered but not yet judged: the use case reads it once the caller is
/// authorized (see [`Input`]). The extractor itself never refuses a request.
pub struct JsonBody<T>(pub Input<T>);

impl<T: DeserializeOwned + Send + 'static, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(&req);
        let bytes = buffer(req, state).await;
        Ok(Self(Input::new(move || parse_json(json, bytes))))
    }
}

impl<T: 'static> JsonBody<T> {
    /// Reads the body of a route open to everyone (sign-up, sign-in, the links in mails),
    /// whose only authorization is that it is public.
    pub fn read_public(self) -> Result<T, ApiError> {
        Ok(self.0.read(purser_domain::Authorized::public())?)
    }
}

/// A JSON body that may be left out altogether (no body and no content type): `None`.
pub struct OptionalJsonBody<T>(pub Input<Option<T>>);

impl<T: DeserializeOwned + Send + 'static, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req.headers().get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(Self(Input::ready(None)));
        }
        let JsonBody(input) = JsonBody::<T>::from_request(req, state).await?;
        Ok(Self(input.map(Some)))
    }
}

/// The query string, not yet judged (like [`JsonBody`]). A bad parameter, a control
/// character in any value included, is 400 `invalid_query` naming it.
pub struct QueryParams<T>(pub Input<T>);

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    let invalid = |field: String, message: String| {
        Error::malformed("invalid_query", Some(field.clone()), format!("query parameter {field}: {message}"))
    };
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name.chars().chain(value.chars()).any(|c| is_refused_control(c, false)) {
            return Err(invalid(name.into_owned(), "must not contain control characters".into()));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        invalid(field_of(e.path(), &message), message)
    })
}

impl<T: DeserializeOwned + Send + 'static, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default().to_owned();
        Ok(Self(Input::new(move || parse_query(&query))))
    }
}

/// `?page=&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The page asked for; a bad one is 400 `invalid_query` naming the parameter.
pub fn page_request(page: Option<u32>, limit: Option<u32>) -> Result<PageRequest, Error> {
    PageRequest::new(page, limit).map_err(|errors| {
        let first = &errors[0];
        Error::malformed("invalid_query", Some(first.field.clone()), format!("{} {}", first.field, first.message))
    })
}

impl PageParams {
    pub fn to_request(&self) -> Result<PageRequest, Error> {
        page_request(self.page, self.limit)
    }
}

/// A page query read with the rest of the query, once authorized.
pub fn pages(query: QueryParams<PageParams>) -> Input<PageRequest> {
    query.0.and_then(|q| q.to_request())
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
