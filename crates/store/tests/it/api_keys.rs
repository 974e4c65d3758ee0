use purser_domain::Usd;
use purser_domain::page::PageRequest;
use purser_store::{StoreError, api_keys};

use crate::fixtures::*;

contract! {
    async fn insert_with_models_and_read_back(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let (a, b) = (insert_model(&store, "a").await, insert_model(&store, "b").await);
        let key = api_key(&u, &[&a, &b]);
        let mut conn = store.conn().await.unwrap();
        api_keys::insert(&mut conn, &key, "digest-1").await.unwrap();
        assert_eq!(api_keys::by_id(&mut conn, key.id).await.unwrap(), Some(key.clone()));
        let dup = api_keys::insert(&mut conn, &api_key(&u, &[&a]), "digest-1").await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    }

    async fn list_revoke_and_model_use(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let other = insert_user(&store, "bob@example.com").await;
        let m = insert_model(&store, "m").await;
        let mut conn = store.conn().await.unwrap();
        let first = api_key(&u, &[&m]);
        let mut expired = api_key(&u, &[&m]);
        expired.name = "old".into();
        expired.expires_at = Some(T0);
        api_keys::insert(&mut conn, &first, "d1").await.unwrap();
        api_keys::insert(&mut conn, &expired, "d2").await.unwrap();
        api_keys::insert(&mut conn, &api_key(&other, &[&m]), "d3").await.unwrap();

        let page = api_keys::list_for_user(&mut conn, u.id, PageRequest::default()).await.unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0].id, expired.id, "newest first");
        assert_eq!(page.items[1].model_ids, [m.id]);

        let now = T0.plus_secs(1);
        assert_eq!(api_keys::active_keys_using_model(&mut conn, u.id, m.id, now).await.unwrap(), ["ci"]);
        assert!(api_keys::revoke(&mut conn, first.id, now).await.unwrap());
        assert!(!api_keys::revoke(&mut conn, first.id, now).await.unwrap());
        assert!(api_keys::active_keys_using_model(&mut conn, u.id, m.id, now).await.unwrap().is_empty());
        assert_eq!(api_keys::by_id(&mut conn, first.id).await.unwrap().unwrap().revoked_at, Some(now));
    }

    async fn gateway_view(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let (a, b) = (insert_model(&store, "a").await, insert_model(&store, "b").await);
        let mut conn = store.conn().await.unwrap();
        let mut live = api_key(&u, &[&a, &b]);
        live.rpm_limit = Some(7);
        live.tpm_limit = Some(900);
        live.max_parallel = Some(3);
        live.max_budget = Some(Usd::from_nanos(5));
        live.budget_period = Some(purser_domain::org::BudgetPeriod::Weekly);
        let mut expired = api_key(&u, &[&a]);
        expired.expires_at = Some(T0);
        let revoked = api_key(&u, &[&a]);
        api_keys::insert(&mut conn, &live, "live").await.unwrap();
        api_keys::insert(&mut conn, &expired, "expired").await.unwrap();
        api_keys::insert(&mut conn, &revoked, "revoked").await.unwrap();
        api_keys::revoke(&mut conn, revoked.id, T0).await.unwrap();

        let keys = api_keys::gateway_keys(&mut conn, T0.plus_secs(1)).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!((keys[0].secret_hash.as_str(), keys[0].owner_active), ("live", true));
        assert_eq!(keys[0].model_ids.len(), 2);
        let k = &keys[0];
        assert_eq!((k.rpm_limit, k.tpm_limit, k.max_parallel), (Some(7), Some(900), Some(3)));
        assert_eq!((k.max_budget, k.budget_period), (Some(Usd::from_nanos(5)), Some(purser_domain::org::BudgetPeriod::Weekly)));
        let one = api_keys::gateway_key(&mut conn, revoked.id).await.unwrap().unwrap();
        assert_eq!(one.secret_hash, "revoked");
        assert!(one.revoked);
        assert!(api_keys::gateway_key(&mut conn, next_id()).await.unwrap().is_none());
        assert_eq!(one.spend, Usd::ZERO);
    }
}
