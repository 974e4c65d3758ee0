//! `/api/v1/organizations/{org}/clients`: service clients and their certificates (Ed25519
//! public keys), and the organization's JWKS of them.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use purser_services::clients::{CertificateInput, ClientInput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    AddCertificateRequest, CertificateDto, ClientDetailDto, ClientDto, CreateClientRequest, CreatedCertificateDto,
    JwkDto, JwksDto, Paginated, UpdateClientRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, IdPair, IdPath, IdTriple, JsonBody, PageParams, QueryParams, pages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_client, list_clients))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(add_certificate))
        .routes(routes!(revoke_certificate))
        .routes(routes!(organization_jwks))
}

/// Create a service client. Then register its public key (`.../certificates`).
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/clients", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id")),
    request_body = CreateClientRequest,
    responses(
        (status = 201, description = "Created", body = ClientDto),
        (status = 403, description = "Owners, admins and teams delegated `manageClients` only", body = Problem),
        (status = 404, description = "No such organization, or not yours", body = Problem),
        (status = 422, description = "Invalid name or description", body = Problem),
    )
)]
async fn create_client(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    JsonBody(b): JsonBody<CreateClientRequest>,
) -> ApiResult<(StatusCode, Json<ClientDto>)> {
    let input = b.map(|b| ClientInput { name: b.name, description: b.description, disabled: b.disabled });
    Ok((StatusCode::CREATED, Json(state.services.create_client(&actor, org, input).await?.into())))
}

/// The organization's service clients.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/clients", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), PageParams),
    responses(
        (status = 200, description = "One page of clients", body = Paginated<ClientDto>),
        (status = 404, description = "No such organization, or not yours", body = Problem),
    )
)]
async fn list_clients(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPath(org): IdPath,
    q: QueryParams<PageParams>,
) -> ApiResult<Json<Paginated<ClientDto>>> {
    let page = state.services.list_clients(&actor, org, pages(q)).await?;
    Ok(Json(Paginated::from_page(page, Into::into)))
}

/// A service client with its certificates.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/clients/{client}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("client" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client", body = ClientDetailDto),
        (status = 404, description = "No such client or organization, or not yours", body = Problem),
    )
)]
async fn get_client(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, client): IdPair,
) -> ApiResult<Json<ClientDetailDto>> {
    let (client, certificates) = state.services.get_client(&actor, org, client).await?;
    let now = state.services.now();
    let certificates = certificates.into_iter().map(|c| CertificateDto::new(c, now)).collect();
    Ok(Json(ClientDetailDto { client: client.into(), certificates }))
}

/// Rename, describe, disable or enable a client. Disabling revokes its refresh tokens.
#[utoipa::path(
    patch, path = "/api/v1/organizations/{org}/clients/{client}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("client" = String, Path, description = "Client id")),
    request_body = UpdateClientRequest,
    responses(
        (status = 200, description = "Changed", body = ClientDto),
        (status = 403, description = "Owners, admins and teams delegated `manageClients` only", body = Problem),
        (status = 404, description = "No such client or organization, or not yours", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    )
)]
async fn update_client(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, client): IdPair,
    JsonBody(b): JsonBody<UpdateClientRequest>,
) -> ApiResult<Json<ClientDto>> {
    let input = b.map(|b| ClientInput { name: b.name, description: b.description, disabled: b.disabled });
    Ok(Json(state.services.update_client(&actor, org, client, input).await?.into()))
}

/// Delete a client with its certificates, grants and refresh tokens.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/clients/{client}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("client" = String, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Owners, admins and teams delegated `manageClients` only", body = Problem),
        (status = 404, description = "No such client or organization, or not yours", body = Problem),
    )
)]
async fn delete_client(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, client): IdPair,
) -> ApiResult<StatusCode> {
    state.services.delete_client(&actor, org, client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register the client's Ed25519 public key (JWK or PEM): its private key never leaves it.
/// Without `publicKey`, Purser makes a pair and returns the private key (PKCS#8 PEM) in
/// this answer only.
#[utoipa::path(
    post, path = "/api/v1/organizations/{org}/clients/{client}/certificates", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("client" = String, Path, description = "Client id")),
    request_body = AddCertificateRequest,
    responses(
        (status = 201, description = "Added", body = CreatedCertificateDto),
        (status = 403, description = "Owners, admins and teams delegated `manageClients` only", body = Problem),
        (status = 404, description = "No such client or organization, or not yours", body = Problem),
        (status = 422, description = "Not an Ed25519 public key, a past expiry, or too many live certificates", body = Problem),
    )
)]
async fn add_certificate(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdPair(org, client): IdPair,
    JsonBody(b): JsonBody<AddCertificateRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCertificateDto>)> {
    let input = b.map(|b| CertificateInput { name: b.name, public_key: b.public_key, expires_at: b.expires_at });
    let created = state.services.add_certificate(&actor, org, client, input).await?;
    let certificate = CertificateDto::new(created.certificate, state.services.now());
    Ok((StatusCode::CREATED, Json(CreatedCertificateDto { certificate, private_key: created.private_key })))
}

/// Revoke a certificate: assertions signed with its key are refused from now on, on every
/// replica, and it leaves the organization's JWKS.
#[utoipa::path(
    delete, path = "/api/v1/organizations/{org}/clients/{client}/certificates/{certificate}", tag = "vaults",
    security(("bearer" = [])),
    params(("org" = String, Path, description = "Organization id"), ("client" = String, Path, description = "Client id"), ("certificate" = String, Path, description = "Certificate id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Owners, admins and teams delegated `manageClients` only", body = Problem),
        (status = 404, description = "No such certificate, client or organization, or not yours", body = Problem),
        (status = 409, description = "Revoked already", body = Problem),
    )
)]
async fn revoke_certificate(
    State(state): State<AppState>,
    Auth(actor): Auth,
    IdTriple(org, client, certificate): IdTriple,
) -> ApiResult<StatusCode> {
    state.services.revoke_certificate(&actor, org, client, certificate).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys the organization's enabled clients sign assertions with (revoked and
/// expired certificates left out). Public; an unknown organization has no keys.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/jwks.json", tag = "vaults",
    params(("org" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The key set", body = JwksDto),
    )
)]
async fn organization_jwks(State(state): State<AppState>, IdPath(org): IdPath) -> ApiResult<impl IntoResponse> {
    let keys = state.services.organization_keys(org).await?;
    let jwks = JwksDto { keys: keys.into_iter().map(|c| JwkDto::ed25519(c.kid, &c.public_key)).collect() };
    Ok(([(header::CACHE_CONTROL, "no-cache")], Json(jwks)))
}
