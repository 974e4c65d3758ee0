use purser_store::leases;

use crate::fixtures::*;

contract! {
    async fn workers_get_distinct_ids_and_expired_ones_are_reused(store: Store) {
        let ttl = 30_000;
        let mut conn = store.conn().await.unwrap();
        let a = leases::acquire(&mut conn, "replica-a", T0, ttl).await.unwrap();
        let b = leases::acquire(&mut conn, "replica-b", T0, ttl).await.unwrap();
        assert_ne!(a, b);
        assert!(leases::renew(&mut conn, a, "replica-a", T0.plus_secs(20), ttl).await.unwrap());
        // b's lease runs out; a newcomer takes its id and b learns it lost it.
        let c = leases::acquire(&mut conn, "replica-c", T0.plus_secs(40), ttl).await.unwrap();
        assert_eq!(c, b);
        assert!(!leases::renew(&mut conn, b, "replica-b", T0.plus_secs(41), ttl).await.unwrap());
        leases::release(&mut conn, a, "replica-a").await.unwrap();
        assert_eq!(leases::acquire(&mut conn, "replica-d", T0.plus_secs(42), ttl).await.unwrap(), a);
    }
}

contract! {
    async fn replicas_starting_at_once_never_share_an_id(store: Store) {
        let ttl = 30_000;
        // Eight ids whose holders died, and eight still held.
        {
            let mut conn = store.conn().await.unwrap();
            for n in 0..16 {
                assert_eq!(leases::acquire(&mut conn, &format!("old-{n}"), T0, ttl).await.unwrap(), n);
            }
            for n in (0..16).step_by(2) {
                leases::release(&mut conn, n, &format!("old-{n}")).await.unwrap();
            }
        }
        let starts = (0..24).map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let id = leases::acquire(&mut tx, &format!("new-{n}"), T0.plus_secs(1), ttl).await.unwrap();
                tx.commit().await.unwrap();
                id
            })
        });
        let mut ids: Vec<u16> = Vec::new();
        for start in starts.collect::<Vec<_>>() {
            ids.push(start.await.unwrap());
        }
        ids.sort_unstable();
        let mut distinct = ids.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 24, "two replicas got one id: {ids:?}");
        assert!(ids.iter().all(|id| id % 2 == 0 || *id >= 16), "held ids were left alone: {ids:?}");
        assert_eq!(ids.iter().filter(|id| **id < 16).count(), 8, "the freed ids were taken first: {ids:?}");
    }
}
