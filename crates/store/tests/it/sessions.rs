use purser_domain::session::{RefreshToken, Session};
use purser_store::sessions;

use crate::fixtures::*;

contract! {
    async fn session_with_user_and_revocation(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let s = Session {
            id: next_id(),
            user_id: u.id,
            user_agent: Some("curl/8".into()),
            ip: Some("127.0.0.1".into()),
            created_at: T0,
            expires_at: T0.plus_secs(3600),
            revoked_at: None,
        };
        let mut conn = store.conn().await.unwrap();
        sessions::insert(&mut conn, &s).await.unwrap();
        let (found, owner) = sessions::with_user(&mut conn, s.id).await.unwrap().unwrap();
        assert_eq!(found, s);
        assert_eq!(owner, u);
        assert!(sessions::revoke(&mut conn, s.id, T0.plus_secs(1)).await.unwrap());
        assert!(!sessions::revoke(&mut conn, s.id, T0.plus_secs(2)).await.unwrap());
        let (found, _) = sessions::with_user(&mut conn, s.id).await.unwrap().unwrap();
        assert_eq!(found.revoked_at, Some(T0.plus_secs(1)));
        assert!(sessions::with_user(&mut conn, next_id()).await.unwrap().is_none());
    }

    async fn refresh_tokens_are_single_use(store: Store) {
        let u = insert_user(&store, "ada@example.com").await;
        let s = Session {
            id: next_id(), user_id: u.id, user_agent: None, ip: None,
            created_at: T0, expires_at: T0.plus_secs(3600), revoked_at: None,
        };
        let token = RefreshToken { session_id: s.id, created_at: T0, expires_at: T0.plus_secs(60), used_at: None };
        let mut conn = store.conn().await.unwrap();
        sessions::insert(&mut conn, &s).await.unwrap();
        sessions::insert_refresh_token(&mut conn, "digest", &token).await.unwrap();
        assert_eq!(sessions::refresh_token(&mut conn, "digest").await.unwrap(), Some(token));
        assert!(sessions::use_refresh_token(&mut conn, "digest", T0.plus_secs(1)).await.unwrap());
        assert!(!sessions::use_refresh_token(&mut conn, "digest", T0.plus_secs(2)).await.unwrap());
        let used = sessions::refresh_token(&mut conn, "digest").await.unwrap().unwrap();
        assert_eq!(used.used_at, Some(T0.plus_secs(1)));
        assert!(sessions::refresh_token(&mut conn, "other").await.unwrap().is_none());
    }
}
