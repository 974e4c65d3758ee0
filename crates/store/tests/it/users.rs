use purser_domain::PlatformRole;
use purser_store::{StoreError, users};

use crate::fixtures::*;

contract! {
    async fn insert_and_read_back(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let mut conn = store.conn().await.unwrap();
        assert_eq!(users::by_id(&mut conn, u.id).await.unwrap(), Some(u.clone()));
        let (found, hash) = users::by_email(&mut conn, "ada@example.com").await.unwrap().unwrap();
        assert_eq!(found, u);
        assert_eq!(hash.as_deref(), Some("hash"));
        assert!(users::by_email(&mut conn, "nobody@example.com").await.unwrap().is_none());
    }

    async fn email_is_unique(store: Store) {
        insert_user(&store, "ada@example.com").await;
        let mut conn = store.conn().await.unwrap();
        let again = users::insert(&mut conn, &user("ada@example.com"), None).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    }

    async fn role_and_password_change(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let mut conn = store.conn().await.unwrap();
        assert_eq!(users::count_with_role(&mut conn, PlatformRole::Admin).await.unwrap(), 0);
        users::set_role(&mut conn, u.id, PlatformRole::Admin, T0.plus_secs(5)).await.unwrap();
        users::set_password_hash(&mut conn, u.id, "new-hash", T0.plus_secs(6)).await.unwrap();
        let (found, hash) = users::by_email(&mut conn, "ada@example.com").await.unwrap().unwrap();
        assert_eq!(found.role, PlatformRole::Admin);
        assert_eq!(found.updated_at, T0.plus_secs(6));
        assert_eq!(hash.as_deref(), Some("new-hash"));
        assert_eq!(users::count_with_role(&mut conn, PlatformRole::Admin).await.unwrap(), 1);
    }

    async fn unicode_and_markup_are_stored_as_given(store: Store) {
        let mut u = user("zoe@example.com");
        u.name = "<script>alert('x')</script> Zoë 🚀 \"quoted\"".into();
        let mut conn = store.conn().await.unwrap();
        users::insert(&mut conn, &u, None).await.unwrap();
        assert_eq!(users::by_id(&mut conn, u.id).await.unwrap().unwrap().name, u.name);
    }
}
