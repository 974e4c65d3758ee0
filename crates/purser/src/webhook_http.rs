//! Sends webhook deliveries over HTTP(S). The host is resolved at each delivery and every
//! address checked (link-local and metadata addresses refused unless configured), then the
//! request is pinned to a checked address, so a name that changes its answer between the
//! check and the request (DNS rebinding) reaches nothing else. Redirects are not followed.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use purser_domain::webhook::is_forbidden_ip;
use purser_services::webhooks::WebhookSender;

pub struct HttpSender {
    allow_link_local: bool,
    timeout: Duration,
}

impl HttpSender {
    pub fn new(allow_link_local: bool) -> Self {
        // reqwest is built without a TLS provider of its own: ring, as everywhere in Purser
        // (a no-op when one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self { allow_link_local, timeout: Duration::from_secs(10) }
    }

    async fn checked_address(&self, url: &reqwest::Url) -> Result<SocketAddr, String> {
        let host = url.host_str().ok_or("the URL has no host")?;
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
        if addresses.is_empty() {
            return Err(format!("{host} has no address"));
        }
        if !self.allow_link_local && addresses.iter().any(|a| is_forbidden_ip(a.ip())) {
            return Err(format!("{host} resolves to a link-local or metadata address"));
        }
        Ok(addresses[0])
    }
}

impl WebhookSender for HttpSender {
    fn send<'a>(
        &'a self,
        url: &'a str,
        headers: Vec<(&'static str, String)>,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<u16, String>> {
        Box::pin(async move {
            let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
            let address = self.checked_address(&parsed).await?;
            let host = parsed.host_str().unwrap_or_default().to_owned();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.timeout)
                .user_agent("Purser-Webhooks/1")
                .resolve(&host, address)
                .build()
                .map_err(|e| e.to_string())?;
            let mut request = client.post(parsed).body(body.to_vec());
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
            Ok(response.status().as_u16())
        })
    }
}
