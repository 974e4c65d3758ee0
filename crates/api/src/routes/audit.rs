//! `/api/v1/admin/audit`: the platform-wide audit log.

use axum::Json;
use axum::extract::State;
use purser_domain::page::PageRequest;
use purser_domain::{Id, Timestamp};
use purser_store::audit::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{AuditEntryDto, Paginated};
use crate::error::{ApiResult, Problem};
use crate::extract::{Auth, QueryParams, page_request};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(platform_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries by this user.
    #[param(value_type = Option<String>)]
    pub actor_id: Option<Id>,
    /// e.g. `organization.create`.
    pub action: Option<String>,
    /// e.g. `organization`.
    pub resource_type: Option<String>,
    /// Entries about this organization.
    #[param(value_type = Option<String>)]
    pub org_id: Option<Id>,
    /// From (inclusive), RFC 3339 or `YYYY-MM-DD`.
    #[param(value_type = Option<String>)]
    pub from: Option<Timestamp>,
    /// To (exclusive).
    #[param(value_type = Option<String>)]
    pub to: Option<Timestamp>,
    pub page: Option<u32>,
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The filter and the page asked for.
    pub fn read(self) -> purser_services::Result<(AuditFilter, PageRequest)> {
        let page = page_request(self.page, self.limit)?;
        let filter = AuditFilter {
            actor_id: self.actor_id,
            action: self.action,
            resource_type: self.resource_type,
            org_id: self.org_id,
            from: self.from,
            to: self.to,
        };
        Ok((filter, page))
    }
}

/// Every audited change and failed attempt, newest first (admins and read-only admins).
#[utoipa::path(
    get, path = "/api/v1/admin/audit", tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of audit entries", body = Paginated<AuditEntryDto>),
        (status = 403, description = "Not an admin", body = Problem),
    )
)]
async fn platform_audit(
    State(state): State<AppState>,
    Auth(actor): Auth,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Json<Paginated<AuditEntryDto>>> {
    let entries = state.services.audit_log(&actor, q.and_then(AuditQuery::read)).await?;
    Ok(Json(Paginated::from_page(entries, Into::into)))
}
