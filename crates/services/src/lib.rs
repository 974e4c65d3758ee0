//! Purser's use cases. Each public method of [`Services`] is one thing a user or operator
//! can do: it authorizes the principal through the policy module first, validates second,
//! then reads and writes through the store in one transaction. Nothing here knows HTTP.

pub mod account;
mod actor;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod clients;
pub mod crypto;
pub mod documents;
mod error;
pub mod events;
pub mod feed;
mod input;
pub mod invitations;
mod jws;
pub mod keys;
pub mod mail;
pub mod orgs;
pub mod passwords;
pub mod request_id;
pub mod signing_keys;
pub mod subscriptions;
pub mod teams;
mod tenant_changes;
pub mod timestamp_token;
pub mod timestamps;
pub mod tokens;
pub mod usage;
pub mod users;
pub mod vault_sync;
pub mod vault_tokens;
pub mod vaults;
mod views;
pub mod webhooks;
pub mod workers;

use std::sync::{Arc, RwLock};

use futures_util::future::BoxFuture;
use purser_domain::{Clock, Id, IdGenerator, Timestamp};
use purser_store::{Store, changes};

pub use actor::{Actor, ClientInfo};
pub use error::{Error, ErrorKind, Result};
pub use input::Input;

use crate::crypto::{MasterKey, SecretBox};
use crate::tokens::TokenIssuer;

/// Something whose state follows records that use cases change (the gateway's in-memory
/// tables). It is told after the change is committed and before the use case returns, so
/// a revoked key stops working on this replica by the time the caller hears "revoked".
pub trait ChangeListener: Send + Sync + 'static {
    fn on_change(&self, change: Change) -> BoxFuture<'_, ()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    ApiKey(Id),
    Model(Id),
    User(Id),
    Organization(Id),
    Team(Id),
}

impl Change {
    /// How the change is named in the change log.
    pub fn kind(self) -> (&'static str, Id) {
        match self {
            Self::ApiKey(id) => ("api_key", id),
            Self::Model(id) => ("model", id),
            Self::User(id) => ("user", id),
            Self::Organization(id) => ("organization", id),
            Self::Team(id) => ("team", id),
        }
    }

    pub fn from_kind(kind: &str, id: Id) -> Option<Self> {
        Some(match kind {
            "api_key" => Self::ApiKey(id),
            "model" => Self::Model(id),
            "user" => Self::User(id),
            "organization" => Self::Organization(id),
            "team" => Self::Team(id),
            _ => return None,
        })
    }
}

/// A change as the change log holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: i64,
    pub change: Change,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub issuer: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self { issuer: "purser".into(), access_token_ttl_secs: 15 * 60, refresh_token_ttl_secs: 7 * 24 * 3600 }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub auth: AuthSettings,
    /// Base URL of this deployment as users reach it, for links in mails.
    pub public_url: String,
    /// How long a deleted organization's data is kept.
    pub org_deletion_grace_days: u32,
    pub documents: documents::DocumentSettings,
    /// Webhooks may be sent to link-local addresses (where cloud metadata answers).
    pub allow_link_local_webhooks: bool,
    pub vault_tokens: vault_tokens::VaultTokenSettings,
}

/// Where organizations keep their own data: a database each, and blob storage for files.
pub struct TenantData {
    pub databases: Arc<purser_tenants::Tenants>,
    pub blobs: Arc<purser_tenants::blobs::Blobs>,
    /// The time-stamping authority documents are stamped by, if one is configured.
    pub timestamping: Option<timestamps::Timestamping>,
}

pub struct Services {
    store: Store,
    /// Each organization's own database.
    tenants: Arc<purser_tenants::Tenants>,
    /// Organizations' files.
    blobs: Arc<purser_tenants::blobs::Blobs>,
    documents: documents::DocumentSettings,
    timestamping: Option<timestamps::Timestamping>,
    /// Signs the download links Purser serves itself.
    link_key: [u8; 32],
    allow_link_local_webhooks: bool,
    mailer: Arc<dyn mail::Mailer>,
    /// Base URL of this deployment, for links in mails.
    public_url: String,
    org_deletion_grace_days: u32,
    clock: Arc<dyn Clock>,
    ids: Arc<IdGenerator>,
    secrets: SecretBox,
    tokens: TokenIssuer,
    vault_tokens: vault_tokens::VaultTokenSettings,
    signing_keys: signing_keys::SigningKeys,
    assertion_keys: vault_tokens::AssertionKeys,
    csrf_key: [u8; 32],
    auth: AuthSettings,
    listeners: RwLock<Vec<Arc<dyn ChangeListener>>>,
}

impl Services {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ids: Arc<IdGenerator>,
        master_key: &MasterKey,
        settings: Settings,
        mailer: Arc<dyn mail::Mailer>,
        tenant_data: TenantData,
    ) -> Self {
        let Settings { auth, public_url, org_deletion_grace_days, documents, allow_link_local_webhooks, vault_tokens } =
            settings;
        Self {
            store,
            tenants: tenant_data.databases,
            blobs: tenant_data.blobs,
            timestamping: tenant_data.timestamping,
            documents,
            link_key: master_key.derive("purser/document-links/v1"),
            allow_link_local_webhooks,
            mailer,
            public_url: public_url.trim_end_matches('/').to_owned(),
            org_deletion_grace_days,
            tokens: TokenIssuer::new(master_key, &auth.issuer, auth.access_token_ttl_secs),
            secrets: SecretBox::new(master_key),
            vault_tokens,
            signing_keys: signing_keys::SigningKeys::default(),
            assertion_keys: vault_tokens::AssertionKeys::default(),
            csrf_key: master_key.derive("purser/csrf/v1"),
            clock,
            ids,
            auth,
            listeners: RwLock::new(Vec::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn tenants(&self) -> &Arc<purser_tenants::Tenants> {
        &self.tenants
    }

    pub fn blobs(&self) -> &Arc<purser_tenants::blobs::Blobs> {
        &self.blobs
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn ids(&self) -> &Arc<IdGenerator> {
        &self.ids
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Changes logged after `seq` (by any replica), oldest first, at most `limit`.
    pub async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<LoggedChange>> {
        let mut conn = self.store.conn().await?;
        Ok(changes::after(&mut conn, seq, limit)
            .await?
            .into_iter()
            .filter_map(|c| {
                let change = Change::from_kind(&c.kind, c.entity_id);
                if change.is_none() {
                    tracing::warn!(kind = %c.kind, "unknown change kind in the change log");
                }
                change.map(|change| LoggedChange { seq: c.seq, change, at: c.at })
            })
            .collect())
    }

    /// The newest change log entry's number.
    pub async fn last_change(&self) -> Result<i64> {
        let mut conn = self.store.conn().await?;
        Ok(changes::last_seq(&mut conn).await?)
    }

    /// Drops change log entries older than a day (every replica has long read them).
    pub async fn prune_change_log(&self) -> Result<u64> {
        let mut conn = self.store.conn().await?;
        Ok(changes::prune(&mut conn, self.now().plus_secs(-86_400)).await?)
    }

    pub fn listen(&self, listener: Arc<dyn ChangeListener>) {
        self.listeners.write().expect("listener list poisoned").push(listener);
    }

    /// Tells this process's listeners at once, and other replicas through the change log.
    async fn notify(&self, change: Change) {
        let (kind, id) = change.kind();
        let logged = async {
            let mut conn = self.store.conn().await?;
            changes::append(&mut conn, kind, id, self.now()).await
        };
        if let Err(e) = logged.await {
            // Other replicas catch up at their next full reload.
            tracing::warn!(error = %e, ?change, "could not write the change log");
        }
        let listeners: Vec<_> = self.listeners.read().expect("listener list poisoned").clone();
        for listener in listeners {
            listener.on_change(change).await;
        }
    }
}
