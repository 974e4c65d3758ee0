//! Asks an RFC 3161 time-stamping authority over HTTP (RFC 3161 §3.4): a POST of the DER
//! request as `application/timestamp-query`, the DER reply back. The authority is the
//! operator's choice, so it is reached as configured; the reply is checked by the caller.

use std::time::Duration;

use futures_util::future::BoxFuture;
use purser_services::timestamps::TimestampAuthority;

/// Replies larger than this are refused (a token with a few certificates is a few KiB).
const MAX_REPLY_BYTES: usize = 256 * 1024;

pub struct HttpAuthority {
    url: String,
    client: reqwest::Client,
}

impl HttpAuthority {
    pub fn new(url: String, timeout: Duration) -> anyhow::Result<Self> {
        // reqwest is built without a TLS provider of its own: ring, as everywhere in Purser.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Purser-Timestamps/1")
            .build()?;
        Ok(Self { url, client })
    }
}

impl TimestampAuthority for HttpAuthority {
    fn stamp(&self, query: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
                .body(query)
                .send()
                .await
                .map_err(|e| format!("the authority could not be reached: {e}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("the authority answered {status}"));
            }
            if response.content_length().is_some_and(|n| n > MAX_REPLY_BYTES as u64) {
                return Err("the authority's reply is too large".into());
            }
            let body = response.bytes().await.map_err(|e| format!("the authority's reply was cut: {e}"))?;
            if body.len() > MAX_REPLY_BYTES {
                return Err("the authority's reply is too large".into());
            }
            Ok(body.to_vec())
        })
    }
}
