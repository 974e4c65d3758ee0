use purser_domain::model::Capability;
use purser_domain::page::PageRequest;
use purser_store::StoreError;
use purser_store::deployments;
use purser_store::models::{self, ModelFilter};

use crate::fixtures::*;

contract! {
    async fn insert_read_update(store: Store) {
        let mut m = insert_model(&store, "llama-3.1-8b").await;
        let mut conn = store.conn().await.unwrap();
        assert_eq!(models::by_id(&mut conn, m.id).await.unwrap(), Some(m.clone()));
        m.context_length = None;
        m.restricted = true;
        m.capabilities = vec![Capability::Embeddings];
        m.updated_at = T0.plus_secs(10);
        models::update(&mut conn, &m).await.unwrap();
        assert_eq!(models::by_id(&mut conn, m.id).await.unwrap(), Some(m.clone()));
    }

    async fn deployments_belong_to_their_model(store: Store) {
        let mut m = insert_model(&store, "llama").await;
        let other = insert_model(&store, "other").await;
        let mut conn = store.conn().await.unwrap();
        let mut second = deployment(m.id, "http://replica-2:8000/v1");
        second.created_at = T0.plus_secs(1);
        second.weight = 3;
        second.upstream_api_key = None;
        deployments::insert(&mut conn, &second).await.unwrap();
        m.deployments.push(second.clone());
        assert_eq!(models::by_id(&mut conn, m.id).await.unwrap(), Some(m.clone()));

        second.rpm_limit = Some(60);
        second.weight = 1000;
        deployments::update(&mut conn, &second).await.unwrap();
        let stored = models::by_id(&mut conn, m.id).await.unwrap().unwrap();
        assert_eq!(stored.deployments[1], second);
        // Another model's id does not reach it.
        let mut stray = second.clone();
        stray.model_id = other.id;
        assert!(matches!(deployments::update(&mut conn, &stray).await, Err(StoreError::NotFound)));
        assert!(matches!(deployments::delete(&mut conn, other.id, second.id).await, Err(StoreError::NotFound)));

        deployments::delete(&mut conn, m.id, second.id).await.unwrap();
        let all = models::all_live(&mut conn).await.unwrap();
        assert_eq!(all.iter().map(|m| m.deployments.len()).collect::<Vec<_>>(), [1, 1]);
    }

    async fn names_are_unique_among_live_models(store: Store) {
        let m = insert_model(&store, "gpt-4o-mini").await;
        let mut conn = store.conn().await.unwrap();
        let dup = models::insert(&mut conn, &model("gpt-4o-mini")).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        models::soft_delete(&mut conn, m.id, T0.plus_secs(1)).await.unwrap();
        assert!(models::by_id(&mut conn, m.id).await.unwrap().is_none());
        assert!(matches!(models::soft_delete(&mut conn, m.id, T0).await, Err(StoreError::NotFound)));
        // The name is free again once the old model is deleted.
        models::insert(&mut conn, &model("gpt-4o-mini")).await.unwrap();
        let mut gone = m.clone();
        gone.name = "renamed".into();
        assert!(matches!(models::update(&mut conn, &gone).await, Err(StoreError::NotFound)));
    }

    async fn list_filters_and_pages(store: Store) {
        for name in ["alpha", "beta", "gamma", "delta_model", "delta%model"] {
            insert_model(&store, name).await;
        }
        let mut emb = model("embedder");
        emb.provider = "openai".into();
        emb.capabilities = vec![Capability::Embeddings];
        let mut conn = store.conn().await.unwrap();
        models::insert(&mut conn, &emb).await.unwrap();

        let all = models::list(&mut conn, &ModelFilter::default(), PageRequest { page: 1, limit: 4 }).await.unwrap();
        assert_eq!(all.total, 6);
        let names: Vec<_> = all.items.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta", "delta%model", "delta_model"]);
        let second = models::list(&mut conn, &ModelFilter::default(), PageRequest { page: 2, limit: 4 }).await.unwrap();
        assert_eq!(second.items.len(), 2);

        let search = ModelFilter { search: Some("DELTA%".into()), ..Default::default() };
        let found = models::list(&mut conn, &search, PageRequest::default()).await.unwrap();
        assert_eq!(found.items.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["delta%model"]);

        let by_desc = ModelFilter { search: Some("served BY".into()), ..Default::default() };
        assert_eq!(models::list(&mut conn, &by_desc, PageRequest::default()).await.unwrap().total, 6);

        let provider = ModelFilter { provider: Some("openai".into()), ..Default::default() };
        assert_eq!(models::list(&mut conn, &provider, PageRequest::default()).await.unwrap().items[0].id, emb.id);

        let cap = ModelFilter { capability: Some(Capability::Embeddings), ..Default::default() };
        let embedders = models::list(&mut conn, &cap, PageRequest::default()).await.unwrap();
        assert_eq!((embedders.total, embedders.items[0].id), (1, emb.id));
        let tools = ModelFilter { capability: Some(Capability::Tools), provider: Some("vllm".into()), search: Some("a".into()) };
        assert_eq!(models::list(&mut conn, &tools, PageRequest::default()).await.unwrap().total, 5);
    }

    async fn by_ids_and_all_live_skip_deleted(store: Store) {
        let a = insert_model(&store, "a").await;
        let b = insert_model(&store, "b").await;
        let mut conn = store.conn().await.unwrap();
        models::soft_delete(&mut conn, b.id, T0).await.unwrap();
        let found = models::by_ids(&mut conn, &[a.id, b.id, next_id()]).await.unwrap();
        assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), [a.id]);
        assert_eq!(models::all_live(&mut conn).await.unwrap().len(), 1);
        assert!(models::by_ids(&mut conn, &[]).await.unwrap().is_empty());
    }
}
