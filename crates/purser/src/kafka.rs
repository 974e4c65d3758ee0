//! Events to Kafka: one topic, each event a record keyed by its organization's id, so an
//! organization's events land in one partition, in order. The partition is chosen as
//! Kafka's own producers choose it (murmur2 of the key), so other producers of the same
//! keys agree. Kafka has no de-duplication window as JetStream has: the event id travels in
//! the record's `event-id` header (and the envelope) for consumers to de-duplicate on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;
use purser_domain::event::Event;
use purser_services::events::EventBus;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use tokio::sync::Mutex;

/// How long one publish may keep retrying before the relay tries again later.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(10);

pub struct KafkaBus {
    client: Client,
    topic: String,
    partition_count: i32,
    partitions: Mutex<HashMap<i32, Arc<PartitionClient>>>,
}

impl KafkaBus {
    /// Connects and makes sure the topic exists (created with `partitions` if missing).
    pub async fn connect(brokers: Vec<String>, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        let backoff = rskafka::BackoffConfig { deadline: Some(PUBLISH_DEADLINE), ..Default::default() };
        let client = ClientBuilder::new(brokers)
            .client_id("purser")
            .backoff_config(backoff)
            .build()
            .await
            .context("events.kafka_brokers: cannot reach Kafka")?;
        let existing = client.list_topics().await.context("events.kafka_brokers: cannot list topics")?;
        let partition_count = match existing.iter().find(|t| t.name == topic) {
            Some(found) => i32::try_from(found.partitions.len()).unwrap_or(i32::MAX),
            None => {
                let created = client.controller_client()?.create_topic(topic, partitions, 1, 10_000).await;
                match created {
                    Ok(()) => partitions,
                    // Another replica created it meanwhile.
                    Err(rskafka::client::error::Error::ServerError {
                        protocol_error: rskafka::client::error::ProtocolError::TopicAlreadyExists,
                        ..
                    }) => partitions,
                    Err(e) => return Err(e).context("events.kafka_topic: cannot create the topic"),
                }
            }
        };
        anyhow::ensure!(partition_count > 0, "events.kafka_topic: the topic has no partitions");
        Ok(Self { client, topic: topic.to_owned(), partition_count, partitions: Mutex::new(HashMap::new()) })
    }

    async fn partition(&self, n: i32) -> Result<Arc<PartitionClient>, String> {
        let mut partitions = self.partitions.lock().await;
        if let Some(client) = partitions.get(&n) {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(
            self.client
                .partition_client(self.topic.clone(), n, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| e.to_string())?,
        );
        partitions.insert(n, Arc::clone(&client));
        Ok(client)
    }
}

impl EventBus for KafkaBus {
    fn publish<'a>(&'a self, event: &'a Event, envelope: &'a [u8]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let key = event.org_id.map(|org| org.to_string().into_bytes());
            let n = key.as_deref().map_or(0, |k| partition_for(k, self.partition_count));
            let record = Record {
                key,
                value: Some(envelope.to_vec()),
                headers: BTreeMap::from([
                    ("event-id".to_owned(), event.id.to_string().into_bytes()),
                    ("event-type".to_owned(), event.kind.clone().into_bytes()),
                ]),
                timestamp: chrono::DateTime::from_timestamp_millis(event.occurred_at.as_millis()).unwrap_or_default(),
            };
            self.partition(n)
                .await?
                .produce(vec![record], Compression::NoCompression)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}

/// The partition Kafka's default partitioner picks for `key`: murmur2, made positive,
/// modulo the partition count.
fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as i32;
    positive % partitions
}

/// MurmurHash2 as Kafka's clients compute it (seed 0x9747b28c, little-endian blocks).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = 0x9747_b28c ^ length;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_to_the_partitions_kafkas_own_clients_pick() {
        // Values from Apache Kafka's own partitioner tests (Utils.murmur2).
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1_486_304_829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58_897_971);
        assert_eq!(murmur2(b"abc") as i32, 479_470_107);
        assert_eq!(partition_for(b"abc", 4), 479_470_107 % 4);
        assert!((0..1000).all(|n| (0..3).contains(&partition_for(n.to_string().as_bytes(), 3))));
    }
}
