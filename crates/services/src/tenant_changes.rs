//! Changes made in an organization's own database (its documents) are audited, and their
//! events written, in that database's transaction (its outbox), since one transaction
//! cannot span two databases. Right after the commit they are moved to the main database
//! (the audit log and the event outbox), each once whatever happens: an entry moved twice
//! is kept once, by its id. What a crash leaves behind, the housekeeping moves: the main
//! database notes an organization before each such change, and the note is cleared only
//! once its outbox was emptied and nothing was noted for a while.

use purser_domain::{Id, Timestamp};
use purser_store::{audit as audit_store, events, orgs};
use purser_tenants::outbox::{self, TenantChange};

use crate::audit::AuditEntry;
use crate::error::Result;
use crate::{ClientInfo, Services};

/// Changes moved per round.
const MOVE_BATCH: u32 = 100;
/// A note is cleared once nothing was noted for this long (no change can still be on its
/// way: a change's transaction is done well within it).
const QUIET_SECS: i64 = 300;
/// Organizations visited per housekeeping round.
const SWEEP_BATCH: u32 = 100;

impl Services {
    /// Notes, before a change in `org_id`'s own database, that its outbox will hold one.
    pub(crate) async fn note_tenant_change(&self, org_id: Id) -> Result<()> {
        let mut conn = self.store.conn().await?;
        Ok(orgs::note_tenant_change(&mut conn, org_id, self.now()).await?)
    }

    /// The audit entry and event of a change, to push to the tenant's outbox in the
    /// change's transaction.
    pub(crate) fn tenant_change(&self, client: &ClientInfo, entry: AuditEntry) -> TenantChange {
        let event = self.event_of(&entry);
        TenantChange { audit: self.audit_record(entry, client, None), event }
    }

    /// Moves the changes waiting in `org_id`'s outbox to the main database, right after a
    /// change's commit; a failure is left to the housekeeping.
    pub(crate) async fn after_tenant_change(&self, org_id: Id) {
        if let Err(e) = self.move_tenant_changes(org_id).await {
            tracing::warn!(%org_id, error = %e, "a document change's audit entry and event wait in its organization's outbox");
        }
    }

    /// Moves everything in `org_id`'s outbox: each batch written to the main database in
    /// one transaction (kept once per id), then removed from the outbox. Returns how many.
    pub async fn move_tenant_changes(&self, org_id: Id) -> Result<usize> {
        let tenant = self.tenants.store(org_id).await?;
        let mut moved = 0;
        loop {
            let batch = outbox::pending(&mut *tenant.conn().await?, MOVE_BATCH).await?;
            if batch.is_empty() {
                return Ok(moved);
            }
            let mut tx = self.store.begin().await?;
            for change in &batch {
                audit_store::insert_once(&mut tx, &change.audit).await?;
                if let Some(event) = &change.event {
                    events::append_once(&mut tx, event).await?;
                }
            }
            tx.commit().await.map_err(purser_store::StoreError::from)?;
            outbox::remove(&mut *tenant.conn().await?, &batch).await?;
            moved += batch.len();
        }
    }

    /// The housekeeping's part: moves what organizations noted a while ago left in their
    /// outboxes, and clears their notes. Returns how many changes it moved.
    pub async fn sweep_tenant_changes(&self) -> Result<usize> {
        let quiet: Timestamp = self.now().plus_secs(-QUIET_SECS);
        let noted = orgs::tenant_changes_noted_before(&mut *self.store.conn().await?, quiet, SWEEP_BATCH).await?;
        let mut moved = 0;
        for (org_id, noted_at) in noted {
            match self.move_tenant_changes(org_id).await {
                Ok(n) => {
                    moved += n;
                    orgs::clear_tenant_changes(&mut *self.store.conn().await?, org_id, noted_at).await?;
                }
                Err(e) => tracing::warn!(%org_id, error = %e, "could not move an organization's waiting changes"),
            }
        }
        Ok(moved)
    }
}
