//! Organizations (tenants), their members and teams.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::id::Id;
use crate::money::Usd;

pub const MAX_ORG_NAME_CHARS: usize = 100;
pub const MAX_TEAM_NAME_CHARS: usize = 100;
pub const MAX_TEAM_DESCRIPTION_CHARS: usize = 1000;
/// Invitations can be accepted for a week.
pub const INVITATION_TTL_SECS: i64 = 7 * 24 * 3600;

/// A member's role in an organization. Ordered: `Viewer < Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum OrgRole {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl OrgRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Viewer, Self::Member, Self::Admin, Self::Owner]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown organization role {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum OrgStatus {
    Active,
    /// Suspended by a platform admin: readable, but nothing in it can be changed or used.
    Suspended,
}

impl OrgStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

impl FromStr for OrgStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            other => Err(format!("unknown organization status {other:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: Id,
    pub name: String,
    /// The organization every user joins on sign-up.
    pub is_default: bool,
    pub status: OrgStatus,
    /// Quotas set by platform admins; `None` is unlimited.
    pub max_members: Option<u32>,
    pub max_teams: Option<u32>,
    /// Bytes its files may take (platform admins); `None` is unlimited.
    pub max_storage_bytes: Option<u64>,
    /// MIME types its documents may have (owners and admins); `None` is the default list.
    pub document_types: Option<Vec<String>>,
    /// Documents are time-stamped by the configured authority as they are uploaded.
    pub timestamp_uploads: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A member of an organization, with who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub org_id: Id,
    pub user_id: Id,
    pub email: String,
    pub name: String,
    pub role: OrgRole,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Organization permissions an owner can delegate to the members of a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    InviteMembers,
    RevokeInvitations,
    ManageTeams,
    ManageTeamMembers,
    ManageClients,
    ManageVaults,
    ReadAuditLog,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Self::InviteMembers,
        Self::RevokeInvitations,
        Self::ManageTeams,
        Self::ManageTeamMembers,
        Self::ManageClients,
        Self::ManageVaults,
        Self::ReadAuditLog,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InviteMembers => "inviteMembers",
            Self::RevokeInvitations => "revokeInvitations",
            Self::ManageTeams => "manageTeams",
            Self::ManageTeamMembers => "manageTeamMembers",
            Self::ManageClients => "manageClients",
            Self::ManageVaults => "manageVaults",
            Self::ReadAuditLog => "readAuditLog",
        }
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| format!("unknown permission {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum BudgetPeriod {
    Daily,
    Weekly,
    Monthly,
}

impl BudgetPeriod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    /// When the period containing `now` began (UTC): midnight, Monday midnight, or the
    /// first of the month.
    pub fn start(self, now: Timestamp) -> Timestamp {
        Timestamp::start_of(self.first_day(now.to_datetime().date()))
    }

    /// The period containing `now`: its start and the start of the next one.
    pub fn bounds(self, now: Timestamp) -> (Timestamp, Timestamp) {
        let first = self.first_day(now.to_datetime().date());
        let next = match self {
            Self::Daily => first.next_day(),
            Self::Weekly => first.checked_add(time::Duration::days(7)),
            Self::Monthly => match first.month() {
                time::Month::December => time::Date::from_calendar_date(first.year() + 1, time::Month::January, 1).ok(),
                month => first.replace_month(month.next()).ok(),
            },
        };
        (Timestamp::start_of(first), next.map_or(Timestamp::MAX, Timestamp::start_of))
    }

    fn first_day(self, date: time::Date) -> time::Date {
        match self {
            Self::Daily => date,
            Self::Weekly => date - time::Duration::days(i64::from(date.weekday().number_days_from_monday())),
            Self::Monthly => date.replace_day(1).unwrap_or(date),
        }
    }
}

impl FromStr for BudgetPeriod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Daily, Self::Weekly, Self::Monthly]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown budget period {s:?}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: Id,
    pub org_id: Id,
    pub name: String,
    pub description: Option<String>,
    /// The default organization's team that every user joins.
    pub is_default: bool,
    /// Spend allowed per `budget_period` across all of the team's keys.
    pub budget: Option<Usd>,
    pub budget_period: Option<BudgetPeriod>,
    pub tpm_limit: Option<u32>,
    pub rpm_limit: Option<u32>,
    /// Requests the team's keys may have in flight at once, together.
    pub max_parallel: Option<u32>,
    /// Models the team may use; empty means every model.
    pub model_ids: Vec<Id>,
    pub permissions: Vec<Permission>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub team_id: Id,
    pub user_id: Id,
    pub email: String,
    pub name: String,
    pub manager: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: Id,
    pub org_id: Id,
    pub email: String,
    pub role: OrgRole,
    pub invited_by: Id,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub accepted_by: Option<Id>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl Invitation {
    pub fn status(&self, now: Timestamp) -> InvitationStatus {
        if self.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if self.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_periods_start_in_utc() {
        let wednesday = Timestamp::parse("2026-11-18T15:30:00Z").unwrap();
        assert_eq!(BudgetPeriod::Daily.start(wednesday), Timestamp::parse("2026-11-18").unwrap());
        assert_eq!(BudgetPeriod::Weekly.start(wednesday), Timestamp::parse("2026-11-16").unwrap());
        assert_eq!(BudgetPeriod::Monthly.start(wednesday), Timestamp::parse("2026-11-01").unwrap());
        let monday = Timestamp::parse("2026-11-16T00:00:00Z").unwrap();
        assert_eq!(BudgetPeriod::Weekly.start(monday), monday);
    }

    #[test]
    fn budget_periods_end_where_the_next_starts() {
        let at = |s| Timestamp::parse(s).unwrap();
        let cases = [
            (BudgetPeriod::Daily, "2026-12-31T23:59:59Z", "2026-12-31", "2027-01-01"),
            (BudgetPeriod::Weekly, "2026-11-22T23:00:00Z", "2026-11-16", "2026-11-23"),
            (BudgetPeriod::Weekly, "2026-12-30T10:00:00Z", "2026-12-28", "2027-01-04"),
            (BudgetPeriod::Monthly, "2026-12-15T10:00:00Z", "2026-12-01", "2027-01-01"),
            (BudgetPeriod::Monthly, "2028-02-29T10:00:00Z", "2028-02-01", "2028-03-01"),
        ];
        for (period, now, start, end) in cases {
            assert_eq!(period.bounds(at(now)), (at(start), at(end)), "{period:?} at {now}");
            assert_eq!(period.start(at(end)), at(end), "{period:?}: the next period starts at the end");
        }
    }

    #[test]
    fn names_round_trip() {
        for role in [OrgRole::Viewer, OrgRole::Member, OrgRole::Admin, OrgRole::Owner] {
            assert_eq!(role.as_str().parse::<OrgRole>(), Ok(role));
        }
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!(OrgRole::Owner > OrgRole::Admin && OrgRole::Member > OrgRole::Viewer);
    }

    #[test]
    fn invitation_status() {
        let t = Timestamp::from_millis(1_000_000);
        let mut inv = Invitation {
            id: Id::from_i64(1),
            org_id: Id::from_i64(2),
            email: "a@b.io".into(),
            role: OrgRole::Member,
            invited_by: Id::from_i64(3),
            created_at: t,
            expires_at: t.plus_secs(INVITATION_TTL_SECS),
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        assert_eq!(inv.status(t), InvitationStatus::Pending);
        assert_eq!(inv.status(t.plus_secs(INVITATION_TTL_SECS)), InvitationStatus::Expired);
        inv.revoked_at = Some(t);
        assert_eq!(inv.status(t), InvitationStatus::Revoked);
    }
}
