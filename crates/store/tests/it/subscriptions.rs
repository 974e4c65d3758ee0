use purser_domain::page::PageRequest;
use purser_domain::subscription::SubscriptionStatus;
use purser_store::subscriptions::{self, SubscriptionFilter};
use purser_store::{StoreError, models};

use crate::fixtures::*;

contract! {
    async fn one_subscription_per_user_and_model(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let m = insert_model(&store, "llama").await;
        let s = subscription(&u, &m, SubscriptionStatus::Active);
        let mut conn = store.conn().await.unwrap();
        subscriptions::insert(&mut conn, &s).await.unwrap();
        let dup = subscriptions::insert(&mut conn, &subscription(&u, &m, SubscriptionStatus::Pending)).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        assert_eq!(subscriptions::by_id(&mut conn, s.id).await.unwrap(), Some(s.clone()));
        assert_eq!(subscriptions::for_user_and_model(&mut conn, u.id, m.id).await.unwrap(), Some(s));
    }

    async fn status_changes_and_active_models(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let (a, b, c) = (insert_model(&store, "a").await, insert_model(&store, "b").await, insert_model(&store, "c").await);
        let mut conn = store.conn().await.unwrap();
        let sa = subscription(&u, &a, SubscriptionStatus::Active);
        let sb = subscription(&u, &b, SubscriptionStatus::Pending);
        let sc = subscription(&u, &c, SubscriptionStatus::Active);
        for s in [&sa, &sb, &sc] {
            subscriptions::insert(&mut conn, s).await.unwrap();
        }
        let active = subscriptions::active_model_ids(&mut conn, u.id, &[a.id, b.id, c.id]).await.unwrap();
        assert_eq!(active.len(), 2);
        subscriptions::set_status(&mut conn, sb.id, SubscriptionStatus::Active, Some("approved"), T0.plus_secs(1)).await.unwrap();
        models::soft_delete(&mut conn, c.id, T0).await.unwrap();
        let mut active = subscriptions::active_model_ids(&mut conn, u.id, &[a.id, b.id, c.id]).await.unwrap();
        active.sort();
        assert_eq!(active, [a.id, b.id]);
        let approved = subscriptions::by_id(&mut conn, sb.id).await.unwrap().unwrap();
        assert_eq!((approved.status, approved.status_reason.as_deref()), (SubscriptionStatus::Active, Some("approved")));
        assert_eq!(subscriptions::cancel_all_for_model(&mut conn, a.id, "model deleted", T0).await.unwrap(), 1);
        assert_eq!(subscriptions::by_id(&mut conn, sa.id).await.unwrap().unwrap().status, SubscriptionStatus::Cancelled);
    }

    async fn list_by_user_and_status(store: Store) {
        let (u, v) = (insert_user(&store, "u@example.com").await, insert_user(&store, "v@example.com").await);
        let m = insert_model(&store, "m").await;
        let n = insert_model(&store, "n").await;
        let mut conn = store.conn().await.unwrap();
        subscriptions::insert(&mut conn, &subscription(&u, &m, SubscriptionStatus::Active)).await.unwrap();
        subscriptions::insert(&mut conn, &subscription(&u, &n, SubscriptionStatus::Pending)).await.unwrap();
        subscriptions::insert(&mut conn, &subscription(&v, &n, SubscriptionStatus::Pending)).await.unwrap();
        let mine = SubscriptionFilter { user_id: Some(u.id), status: None };
        let page = subscriptions::list(&mut conn, &mine, PageRequest::default()).await.unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0].model_name, "n", "newest first");
        let pending = SubscriptionFilter { user_id: None, status: Some(SubscriptionStatus::Pending) };
        assert_eq!(subscriptions::list(&mut conn, &pending, PageRequest::default()).await.unwrap().total, 2);
        let one = subscriptions::list(&mut conn, &pending, PageRequest { page: 2, limit: 1 }).await.unwrap();
        assert_eq!((one.total, one.items.len()), (2, 1));
    }
}
