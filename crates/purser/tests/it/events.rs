//! Events: written with the changes they tell of, relayed in order to the NATS JetStream
//! server on this machine, at least once and de-duplicated by id, and to a Kafka-protocol
//! broker keyed by organization; one relay at a time, and a relay that dies loses nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use futures_util::future::BoxFuture;
use purser::nats::NatsBus;
use purser_domain::ManualClock;
use purser_domain::event::Event;
use purser_services::events::EventBus;
use purser_store::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Options, T0, TestApp};
use crate::kafka::KafkaBroker;
use crate::orgs::{join, org_with_owner};

const NATS: &str = "nats://127.0.0.1:4222";

/// A stream and subjects of the test's own, so that tests running at once never meet.
fn names() -> (String, String) {
    let unique = format!("{:x}", rand_suffix());
    (format!("PURSER_TEST_{unique}"), format!("purser-test-{unique}.events"))
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// Every message in the stream once it holds at least `at_least`, in stream order, as JSON.
async fn stream_messages(stream: &str, at_least: u64) -> Vec<Value> {
    let js = jetstream::new(async_nats::connect(NATS).await.expect("NATS is running on this machine"));
    let mut handle = js.get_stream(stream).await.unwrap();
    let mut count = 0;
    for _ in 0..200 {
        count = handle.info().await.unwrap().state.messages;
        if count >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(count >= at_least, "only {count} of {at_least} events reached the stream");
    let mut out = Vec::new();
    for seq in 1..=count {
        let message = handle.get_raw_message(seq).await.unwrap();
        out.push(serde_json::from_slice(&message.payload).unwrap());
    }
    js.delete_stream(stream).await.unwrap();
    out
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn with_nats(backend: Backend) {
    let (stream, prefix) = names();
    let options = {
        let (stream, prefix) = (stream.clone(), prefix.clone());
        Options::tweak(move |c| {
            c.events.nats_url = Some(NATS.into());
            c.events.nats_stream = stream.clone();
            c.events.nats_subject_prefix = prefix.clone();
        })
    };
    let app = TestApp::start_with(backend, options).await;
    let admin = app.admin().await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Events").await;
    let member = join(&app, &owner, &org, "member@example.com", "member").await;
    let model = app.model(&admin, json!({ "restricted": true })).await;
    let model_id = model["id"].as_str().unwrap();
    let sub = app.post("/api/v1/subscriptions", Some(&member.token), json!({ "modelId": model_id })).await.expect(201);
    let sub = sub["id"].as_str().unwrap();
    app.call(Method::POST, &format!("/api/v1/admin/subscriptions/{sub}/approve"), Some(&admin.token), None)
        .await
        .expect(200);
    let (key, _) = app.key(&member, &[model_id], json!({})).await;
    app.delete(&format!("/api/v1/api-keys/{key}"), Some(&member.token)).await.expect(204);
    let doc = app.upload(&member.token, &org, "a.txt", "text/plain", b"hello").await.expect(201);
    let doc = doc["document"]["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/v1/organizations/{org}/documents/{doc}"), Some(&member.token)).await.expect(204);
    app.delete(&format!("/api/v1/organizations/{org}/members/{}", member.id), Some(&owner.token)).await.expect(204);
    let (_, empty) = org_with_owner(&app, "other@example.com", "Empty").await;
    let other = app.login("other@example.com").await;
    app.delete(&format!("/api/v1/organizations/{empty}"), Some(&other.token)).await.expect(200);

    let expected = [
        "organization.created",
        "member.added",
        "subscription.approved",
        "api_key.created",
        "api_key.revoked",
        "document.uploaded",
        "document.deleted",
        "member.removed",
        "organization.created",
        "organization.deleted",
    ];
    // Registering also adds people to the Default organization: those events come too.
    // Every event written reaches the stream.
    let mut conn = app.services.store().conn().await.unwrap();
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut *conn).await.unwrap();
    let ours: Vec<Value> = stream_messages(&stream, u64::try_from(written).unwrap())
        .await
        .into_iter()
        .filter(|e| {
            e["orgId"] == org.as_str()
                || e["orgId"] == empty.as_str()
                || e["type"].as_str().unwrap().starts_with("api_key")
                || e["type"].as_str().unwrap().starts_with("subscription")
        })
        .collect();
    assert_eq!(types(&ours), expected, "in the order they happened");
    let uploaded = ours.iter().find(|e| e["type"] == "document.uploaded").unwrap();
    assert_eq!(uploaded["orgId"], org.as_str());
    assert_eq!(uploaded["actorId"], member.id.as_str());
    assert_eq!(uploaded["data"]["resourceId"], doc.as_str());
    assert_eq!(uploaded["data"]["name"], "a.txt");
    assert!(uploaded["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(uploaded["occurredAt"].as_str().unwrap().ends_with('Z'));
    let ids: std::collections::HashSet<&str> = ours.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), ours.len(), "each event once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_nats_in_order_on_sqlite() {
    with_nats(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_nats_in_order_on_postgres() {
    with_nats(Backend::Postgres).await;
}

/// A bus that publishes for real but fails (as if its replica died) once `fail_at` events
/// were published, before the relay could mark the last one.
struct DyingBus {
    inner: NatsBus,
    published: AtomicUsize,
    fail_at: usize,
}

impl EventBus for DyingBus {
    fn publish<'a>(&'a self, event: &'a Event, envelope: &'a [u8]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.inner.publish(event, envelope).await?;
            if self.published.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
                return Err("the replica died".into());
            }
            Ok(())
        })
    }
}

async fn dead_relay(backend: Backend) {
    let clock = Arc::new(ManualClock::new(T0));
    // The app relays nothing itself: events wait in the outbox for the relays driven below.
    let options =
        Options { clock: Some(Arc::clone(&clock)), tweak: Box::new(|c| c.events.relay = false), ..Options::default() };
    let app = TestApp::start_with(backend, options).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Relay").await;
    for n in 0..4 {
        app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&owner.token), json!({ "name": format!("T{n}") }))
            .await
            .expect(201);
        join(&app, &owner, &org, &format!("m{n}@example.com"), "member").await;
    }
    let (stream, prefix) = names();
    let bus = |fail_at| {
        let (stream, prefix) = (stream.clone(), prefix.clone());
        async move {
            DyingBus {
                inner: NatsBus::connect(NATS, &stream, &prefix).await.unwrap(),
                published: AtomicUsize::new(0),
                fail_at,
            }
        }
    };
    let (first, second) = (bus(3).await, bus(usize::MAX).await);

    // The first relay takes the lease, publishes two, publishes the third and dies.
    assert!(app.services.relay_events(Some(&first), "replica-a").await.is_err());
    // While its lease runs, nobody else relays.
    assert_eq!(app.services.relay_events(Some(&second), "replica-b").await.unwrap(), None);
    // Once it has run out, another replica takes over and publishes the rest, the third again.
    clock.advance_secs(16);
    let mut total = 0;
    while let Some(n) = app.services.relay_events(Some(&second), "replica-b").await.unwrap() {
        total += n;
        if n == 0 {
            break;
        }
    }
    assert!(total >= 6, "the rest was published: {total}");
    // Two replicas asking at once after the lease ran out: exactly one gets it.
    clock.advance_secs(16);
    let (a, b) = tokio::join!(
        app.services.relay_events(Some(&first), "replica-c"),
        app.services.relay_events(Some(&second), "replica-d")
    );
    assert_eq!([a.unwrap().is_some(), b.unwrap().is_some()].iter().filter(|held| **held).count(), 1);

    // Every event is in the stream exactly once, in order: the one published twice was
    // dropped by JetStream as a duplicate of its id.
    let mut conn = app.services.store().conn().await.unwrap();
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut *conn).await.unwrap();
    let unpublished: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE published_at IS NULL")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(unpublished, 0);
    let events = stream_messages(&stream, u64::try_from(written).unwrap()).await;
    assert_eq!(events.len() as i64, written, "each event once");
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_str().unwrap().parse().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "in the order they were written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_relay_loses_nothing_on_sqlite() {
    dead_relay(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_relay_loses_nothing_on_postgres() {
    dead_relay(Backend::Postgres).await;
}

/// Every record in every partition of `topic`: (partition, key, event-id header, envelope).
async fn topic_records(broker: &str, topic: &str, partitions: i32) -> Vec<(i32, String, String, Value)> {
    let client = rskafka::client::ClientBuilder::new(vec![broker.to_owned()]).build().await.unwrap();
    let mut out = Vec::new();
    for partition in 0..partitions {
        let reader = client
            .partition_client(topic, partition, rskafka::client::partition::UnknownTopicHandling::Retry)
            .await
            .unwrap();
        let (records, _) = reader.fetch_records(0, 1..4_000_000, 500).await.unwrap();
        for r in records {
            let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
            out.push((
                partition,
                text(r.record.key.as_deref().unwrap_or_default()),
                text(&r.record.headers["event-id"]),
                serde_json::from_slice(r.record.value.as_deref().unwrap()).unwrap(),
            ));
        }
    }
    out
}

/// The outbox is empty once the relay has published everything written.
async fn wait_until_published(app: &TestApp) -> i64 {
    let mut conn = app.services.store().conn().await.unwrap();
    for _ in 0..200 {
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE published_at IS NULL")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        if waiting == 0 {
            return sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut *conn).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("events were left unpublished");
}

async fn with_kafka(backend: Backend) {
    let broker = KafkaBroker::start().await;
    let topic = format!("purser-test-{:x}", rand_suffix());
    let options = {
        let (address, topic) = (broker.address.clone(), topic.clone());
        Options::tweak(move |c| {
            c.events.kafka_brokers = vec![address.clone()];
            c.events.kafka_topic = topic.clone();
            c.events.kafka_partitions = 3;
        })
    };
    let app = TestApp::start_with(backend, options).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Kafka").await;
    let member = join(&app, &owner, &org, "member@example.com", "member").await;
    let doc = app.upload(&member.token, &org, "a.txt", "text/plain", b"hello").await.expect(201);
    let doc = doc["document"]["id"].as_str().unwrap().to_owned();
    let (_, other) = org_with_owner(&app, "other@example.com", "Other").await;
    app.delete(&format!("/api/v1/organizations/{org}/documents/{doc}"), Some(&member.token)).await.expect(204);
    app.delete(&format!("/api/v1/organizations/{org}/members/{}", member.id), Some(&owner.token)).await.expect(204);

    let written = wait_until_published(&app).await;
    let records = topic_records(&broker.address, &topic, 3).await;
    assert_eq!(records.len() as i64, written, "every event written, once");
    for (_, key, event_id, envelope) in &records {
        assert_eq!(envelope["orgId"].as_str(), Some(key.as_str()), "keyed by organization");
        assert_eq!(envelope["id"].as_str(), Some(event_id.as_str()), "the event id travels as a header");
    }
    // An organization's events are in one partition, in the order they happened.
    let of = |org: &str| -> (Vec<i32>, Vec<String>) {
        records
            .iter()
            .filter(|(_, key, _, _)| key == org)
            .map(|(p, _, _, e)| (*p, e["type"].as_str().unwrap().to_owned()))
            .unzip()
    };
    let (partitions, types) = of(&org);
    assert!(partitions.windows(2).all(|w| w[0] == w[1]), "{partitions:?}");
    assert_eq!(
        types,
        ["organization.created", "member.added", "document.uploaded", "document.deleted", "member.removed"]
    );
    let (_, types) = of(&other);
    assert_eq!(types, ["organization.created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_kafka_keyed_by_organization_on_sqlite() {
    with_kafka(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_kafka_keyed_by_organization_on_postgres() {
    with_kafka(Backend::Postgres).await;
}

/// A document change whose audit entry and event a crash left in its organization's
/// outbox (committed there, never moved) reaches the main database through the
/// housekeeping, once; moved twice, it is still kept once.
async fn left_in_the_outbox(backend: Backend) {
    use purser_domain::audit::AuditRecord;
    use purser_tenants::outbox::{self, TenantChange};

    let clock = Arc::new(ManualClock::new(T0));
    let options =
        Options { clock: Some(Arc::clone(&clock)), tweak: Box::new(|c| c.events.relay = false), ..Options::default() };
    let app = TestApp::start_with(backend, options).await;
    let (owner, org) = org_with_owner(&app, "owner@example.com", "Crash").await;
    let org_id = purser_domain::Id::from_i64(org.parse().unwrap());
    let count = |sql: &'static str, id: i64| {
        let store = app.services.store().clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_one(&mut *conn).await.unwrap()
        }
    };
    // An upload moves its change at once.
    let doc = app.upload(&owner.token, &org, "a.txt", "text/plain", b"hello").await.expect(201);
    let doc_id: i64 = doc["document"]["id"].as_str().unwrap().parse().unwrap();
    let uploads = "SELECT COUNT(*) FROM audit_log WHERE action = 'document.upload' AND success AND org_id = $1";
    assert_eq!(count(uploads, org_id.as_i64()).await, 1);

    // A delete that committed in the organization's database, then the process died.
    let ids = app.services.ids();
    let (audit_id, event_id) = (ids.next_id(), ids.next_id());
    let change = TenantChange {
        audit: AuditRecord {
            id: audit_id,
            occurred_at: T0,
            actor_id: None,
            action: "document.delete".into(),
            resource_type: "document".into(),
            resource_id: Some(doc_id.to_string()),
            org_id: Some(org_id),
            before: Some(r#"{"name":"a.txt"}"#.into()),
            after: None,
            ip: None,
            user_agent: None,
            request_id: None,
            success: true,
            error_code: None,
        },
        event: Some(Event {
            id: event_id,
            kind: "document.deleted".into(),
            org_id: Some(org_id),
            actor_id: None,
            occurred_at: T0,
            data: format!(r#"{{"resourceId":"{doc_id}"}}"#),
        }),
    };
    let leave = |change: TenantChange| {
        let services = Arc::clone(&app.services);
        async move {
            let mut conn = services.store().conn().await.unwrap();
            purser_store::orgs::note_tenant_change(&mut conn, org_id, services.now()).await.unwrap();
            let tenant = services.tenants().store(org_id).await.unwrap();
            outbox::push(&mut tenant.conn().await.unwrap(), &change).await.unwrap();
        }
    };
    leave(change.clone()).await;
    let in_audit = "SELECT COUNT(*) FROM audit_log WHERE id = $1";
    let in_events = "SELECT COUNT(*) FROM events WHERE id = $1";
    assert_eq!((count(in_audit, audit_id.as_i64()).await, count(in_events, event_id.as_i64()).await), (0, 0));

    // The housekeeping leaves a change that may still be on its way, then moves it.
    assert_eq!(app.services.sweep_tenant_changes().await.unwrap(), 0);
    clock.advance_secs(301);
    assert_eq!(app.services.sweep_tenant_changes().await.unwrap(), 1);
    assert_eq!((count(in_audit, audit_id.as_i64()).await, count(in_events, event_id.as_i64()).await), (1, 1));
    assert_eq!(app.services.sweep_tenant_changes().await.unwrap(), 0, "the note is cleared");

    // Moved again (a crash after the main database took it, before the outbox was emptied).
    leave(change).await;
    assert_eq!(app.services.move_tenant_changes(org_id).await.unwrap(), 1);
    assert_eq!((count(in_audit, audit_id.as_i64()).await, count(in_events, event_id.as_i64()).await), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_left_in_an_outbox_arrive_once_on_sqlite() {
    left_in_the_outbox(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_left_in_an_outbox_arrive_once_on_postgres() {
    left_in_the_outbox(Backend::Postgres).await;
}
