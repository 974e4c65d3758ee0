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
