//! Sends vault states to the policy engine over HTTP: `PUT <engine_url>/vaults/{id}` with
//! the state as JSON, `DELETE <engine_url>/vaults/{id}` for a deleted vault, each with the
//! signed `Authorization` header the sync loop made. The engine is the operator's choice,
//! so it is reached as configured.

use std::time::Duration;

use futures_util::future::BoxFuture;
use purser_domain::Id;
use purser_services::vault_sync::VaultEngine;

pub struct HttpEngine {
    url: String,
    client: reqwest::Client,
}

impl HttpEngine {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        // reqwest is built without a TLS provider of its own: ring, as everywhere in Purser.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Purser-Vault-Sync/1")
            .build()?;
        Ok(Self { url: url.trim_end_matches('/').to_owned(), client })
    }
}

impl VaultEngine for HttpEngine {
    fn send(&self, vault_id: Id, authorization: String, body: Option<Vec<u8>>) -> BoxFuture<'_, Result<u16, String>> {
        Box::pin(async move {
            let url = format!("{}/vaults/{vault_id}", self.url);
            let request = match body {
                Some(body) => {
                    self.client.put(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body)
                }
                None => self.client.delete(&url),
            };
            let response = request
                .header(reqwest::header::AUTHORIZATION, authorization)
                .send()
                .await
                .map_err(|e| format!("the policy engine could not be reached: {e}"))?;
            Ok(response.status().as_u16())
        })
    }
}
