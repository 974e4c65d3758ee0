use purser_domain::PlatformRole;
use purser_domain::user::UserEmail;
use purser_store::{StoreError, emails, users};

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

    async fn an_address_is_claimed_by_one_account_once_verified(store: Store) {
        let ada = insert_user(&store, "ada@example.com").await;
        let bob = insert_user(&store, "bob@example.com").await;
        let mut conn = store.conn().await.unwrap();
        let asked = |user: &purser_domain::user::User| UserEmail {
            id: next_id(),
            user_id: user.id,
            email: "shared@example.com".into(),
            is_primary: false,
            verified_at: None,
            created_at: T0,
        };
        // Both may ask for it while it is nobody's; nobody may ask twice.
        let (for_ada, for_bob) = (asked(&ada), asked(&bob));
        emails::insert(&mut conn, &for_ada).await.unwrap();
        emails::insert(&mut conn, &for_bob).await.unwrap();
        let twice = emails::insert(&mut conn, &UserEmail { id: next_id(), ..for_ada.clone() }).await;
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
        assert!(emails::by_address(&mut conn, "shared@example.com").await.unwrap().is_none(), "nobody's yet");
        // The first verification claims it; the other can no longer be verified.
        emails::mark_verified(&mut conn, for_bob.id, T0).await.unwrap();
        let late = emails::mark_verified(&mut conn, for_ada.id, T0).await;
        assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
        assert_eq!(emails::by_address(&mut conn, "shared@example.com").await.unwrap().unwrap().user_id, bob.id);
        // A login address is claimed from the start, verified or not.
        let login = UserEmail { email: "login@example.com".into(), is_primary: true, ..asked(&bob) };
        emails::insert(&mut conn, &login).await.unwrap();
        let stolen = emails::insert(&mut conn, &UserEmail { id: next_id(), user_id: ada.id, ..login }).await;
        assert!(matches!(stolen, Err(StoreError::Conflict(_))), "{stolen:?}");
        assert_eq!(emails::by_address(&mut conn, "login@example.com").await.unwrap().unwrap().user_id, bob.id);
    }
}
