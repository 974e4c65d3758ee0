//! Webhooks: an organization's URLs that receive its events, signed, with a delivery log.

use std::net::IpAddr;
use std::str::FromStr;

use crate::{Id, Timestamp};

/// The events a webhook may ask for (`*`: all of them).
pub const EVENT_TYPES: [&str; 16] = [
    "organization.created",
    "organization.deleted",
    "member.added",
    "member.removed",
    "api_key.created",
    "api_key.revoked",
    "subscription.approved",
    "subscription.denied",
    "document.uploaded",
    "document.deleted",
    "budget.crossed",
    "vault.created",
    "vault.updated",
    "vault.deleted",
    "vault.grant_changed",
    "*",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Id,
    pub org_id: Id,
    pub url: String,
    /// `["*"]` for every type.
    pub event_types: Vec<String>,
    pub active: bool,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Webhook {
    pub fn wants(&self, event_type: &str) -> bool {
        self.active && self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Every attempt failed; only a manual redelivery sends it again.
    Failed,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            other => return Err(format!("unknown delivery status {other:?}")),
        })
    }
}

/// One event sent (or to be sent) to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: Id,
    pub webhook_id: Id,
    pub event_id: Id,
    pub event_type: String,
    /// The event's envelope, sent as the body.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Attempts before a delivery is given up (retried after 10 s, 20 s, 40 s ... up to an hour).
pub const MAX_ATTEMPTS: u32 = 8;

/// How long to wait after failed attempt number `attempts` (1 for the first).
pub fn retry_delay_secs(attempts: u32) -> i64 {
    (10_i64 << attempts.saturating_sub(1).min(12)).min(3600)
}

/// Longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// Addresses a webhook is never sent to (unless configured): link-local ones, where cloud
/// metadata services answer (169.254.169.254, fd00:ec2::254), and ones that are no host.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            (segments[0] & 0xffc0) == 0xfe80
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || v6.is_unspecified()
                || v6.is_multicast()
        }
    }
}

/// Checks a webhook URL as given: http or https, a host, no credentials, and not an
/// address webhooks never reach (`allow_link_local` lifts that). Names are checked again
/// when they are resolved, at each delivery.
pub fn check_url(given: &str, allow_link_local: bool) -> Result<url::Url, String> {
    if given.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    let url = url::Url::parse(given).map_err(|_| "must be an http or https URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials".into());
    }
    let ip = match url.host() {
        None => return Err("must name a host".into()),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if !allow_link_local && ip.is_some_and(is_forbidden_ip) {
        return Err("must not be a link-local or metadata address".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn webhook_urls_never_reach_link_local_or_metadata_addresses() {
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://169.254.1.1/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
            "http://0.0.0.0/",
            "ftp://example.com/",
            "https://user:pass@example.com/",
            "not a url",
            "http://",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        for good in ["https://hooks.example.com/purser", "http://127.0.0.1:8080/hook", "http://10.0.0.5/h"] {
            assert!(check_url(good, false).is_ok(), "{good}");
        }
        assert!(check_url("http://169.254.169.254/", true).is_ok(), "when configured");
    }

    #[test]
    fn retries_back_off_up_to_an_hour() {
        assert_eq!([1, 2, 3, 4].map(retry_delay_secs), [10, 20, 40, 80]);
        assert_eq!(retry_delay_secs(MAX_ATTEMPTS), 1280);
        assert_eq!(retry_delay_secs(40), 3600);
    }
}
