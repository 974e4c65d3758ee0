//! Events to NATS JetStream: one stream over the subjects `<prefix>.<type>`, each event
//! published with its id as `Nats-Msg-Id`, so that JetStream drops a second copy (a relay
//! that died between publishing and marking) within its duplicate window.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use futures_util::future::BoxFuture;
use purser_domain::event::Event;
use purser_services::events::EventBus;

pub struct NatsBus {
    jetstream: jetstream::Context,
    prefix: String,
}

impl NatsBus {
    /// Connects and makes sure the stream exists.
    pub async fn connect(url: &str, stream: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("purser")
            .connect(url)
            .await
            .context("events.nats_url: cannot reach NATS")?;
        let jetstream = jetstream::new(client);
        jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: stream.to_owned(),
                subjects: vec![format!("{prefix}.>")],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .context("events.nats_stream: cannot create or open the JetStream stream")?;
        Ok(Self { jetstream, prefix: prefix.to_owned() })
    }
}

impl EventBus for NatsBus {
    fn publish<'a>(&'a self, event: &'a Event, envelope: &'a [u8]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
            let subject = format!("{}.{}", self.prefix, event.kind);
            let ack = self
                .jetstream
                .publish_with_headers(subject, headers, envelope.to_vec().into())
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}
