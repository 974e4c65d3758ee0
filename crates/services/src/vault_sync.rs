//! Telling the policy engine about vaults. Every change to a vault or its grants notes the
//! vault in the `vault_syncs` outbox in the change's own transaction; a loop on every
//! replica claims what is due and sends the vault's state (a PUT of its name and grants) or
//! its deletion (a DELETE) to the engine, signed: `Authorization: Bearer <JWT>` signed with
//! Purser's vault token key (so the engine checks it with the same JWKS), naming the vault,
//! the state's version and the SHA-256 of the body. A 2xx answer marks the vault `synced`;
//! anything else marks it `failed` with the reason and retries it with backoff (10 s,
//! doubling, at most an hour) until the engine acknowledges.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;
use purser_domain::Id;
use purser_domain::webhook::retry_delay_secs;
use purser_store::vault_syncs::{self, PendingSync};
use purser_store::vaults;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Services;
use crate::error::{Error, ErrorKind, Result};

/// Syncs sent per round.
const SYNC_BATCH: u32 = 20;
/// A claimed sync is tried again by any replica if no outcome is written by then.
const CLAIM_SECS: i64 = 60;
/// How long the engine may take to check a sync's signature.
const SYNC_TOKEN_SECS: i64 = 300;

/// Where vault states go: `body` is the state to PUT, `None` a DELETE; answers the status.
pub trait VaultEngine: Send + Sync + 'static {
    fn send(&self, vault_id: Id, authorization: String, body: Option<Vec<u8>>) -> BoxFuture<'_, Result<u16, String>>;
}

/// The claims of a sync request's bearer token.
#[derive(Debug, Serialize)]
struct SyncClaims {
    iss: String,
    aud: String,
    sub: &'static str,
    vault_id: String,
    version: i64,
    /// base64url of the SHA-256 of the body (of nothing, for a deletion).
    body_sha256: String,
    jti: String,
    iat: i64,
    exp: i64,
}

impl Services {
    /// One round of the sync loop: sends what is due. Returns how many were sent.
    pub async fn sync_vaults(&self, engine: &dyn VaultEngine) -> Result<usize> {
        let now = self.now();
        let due = vault_syncs::due(&mut *self.store.conn().await?, now, SYNC_BATCH).await?;
        let mut sent = 0;
        for sync in due {
            let claimed =
                vault_syncs::claim(&mut *self.store.conn().await?, &sync, now, now.plus_secs(CLAIM_SECS)).await?;
            if !claimed {
                continue;
            }
            let body = if sync.deleted { None } else { self.vault_state(&sync).await? };
            let authorization = self.sync_authorization(&sync, body.as_deref())?;
            let outcome = engine.send(sync.vault_id, authorization, body).await;
            let now = self.now();
            let mut conn = self.store.conn().await?;
            match outcome {
                Ok(status) if (200..300).contains(&status) => vault_syncs::acknowledged(&mut conn, &sync, now).await?,
                Ok(status) => {
                    let retry = now.plus_secs(retry_delay_secs(sync.attempts + 1));
                    let error = format!("the policy engine answered {status}");
                    vault_syncs::failed(&mut conn, &sync, &error, retry, now).await?;
                }
                Err(error) => {
                    let retry = now.plus_secs(retry_delay_secs(sync.attempts + 1));
                    vault_syncs::failed(&mut conn, &sync, &error, retry, now).await?;
                }
            }
            sent += 1;
        }
        Ok(sent)
    }

    /// The vault's state as the engine receives it: its name and grants. `None` if it is
    /// gone (its deletion is on its way).
    async fn vault_state(&self, sync: &PendingSync) -> Result<Option<Vec<u8>>> {
        let mut conn = self.store.conn().await?;
        let Some(vault) = vaults::get(&mut conn, sync.org_id, sync.vault_id).await? else { return Ok(None) };
        let grants = vaults::grants(&mut conn, sync.vault_id).await?;
        let state = json!({
            "vaultId": vault.id.to_string(),
            "orgId": vault.org_id.to_string(),
            "version": sync.version,
            "name": vault.name,
            "grants": grants.iter().map(|g| json!({ "subject": g.grantee.to_string(), "role": g.role })).collect::<Vec<_>>(),
        });
        Ok(Some(serde_json::to_vec(&state).map_err(Error::internal)?))
    }

    fn sync_authorization(&self, sync: &PendingSync, body: Option<&[u8]>) -> Result<String> {
        let ring = self.signing_keys.current();
        let Some(signer) = &ring.signer else {
            return Err(Error::new(ErrorKind::Unavailable, "signing_key_unavailable", "no signing key is ready yet"));
        };
        let now = self.now().as_secs();
        let claims = SyncClaims {
            iss: self.public_url.clone(),
            aud: self.vault_tokens.audience.clone(),
            sub: "vault-sync",
            vault_id: sync.vault_id.to_string(),
            version: sync.version,
            body_sha256: URL_SAFE_NO_PAD.encode(Sha256::digest(body.unwrap_or_default())),
            jti: self.ids.next_id().to_string(),
            iat: now,
            exp: now + SYNC_TOKEN_SECS,
        };
        let token = signer.sign(&claims).map_err(Error::internal)?;
        Ok(format!("Bearer {token}"))
    }
}
