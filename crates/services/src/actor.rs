//! Who is asking, and from where: what every use case receives besides its input.

use std::ops::Deref;

use purser_domain::Principal;

/// Where a request came from. Kept on sessions and in the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl ClientInfo {
    /// Work started by Purser itself or its CLI, not by a request.
    pub fn system() -> Self {
        Self { ip: None, user_agent: Some("purser".into()), request_id: None }
    }
}

/// A signed-in user making a request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    pub client: ClientInfo,
}

impl Deref for Actor {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}
