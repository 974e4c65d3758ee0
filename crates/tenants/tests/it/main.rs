//! The organizations' databases on SQLite files and on PostgreSQL: every case runs on both.

use std::time::Duration;

use purser_domain::Id;
use purser_store::Backend;
use purser_store::testing::TestDatabase;
use purser_tenants::{Settings, TenantError, Tenants};

/// Tenants next to a disposable main database (whose drop removes them too on PostgreSQL).
pub struct Place {
    main: TestDatabase,
    _dir: tempfile::TempDir,
    template: String,
}

impl Place {
    pub async fn new(backend: Backend) -> Self {
        let main = TestDatabase::create(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let template = match backend {
            Backend::Sqlite => format!("sqlite://{}/tenants/{{org}}.db", dir.path().display()),
            Backend::Postgres => format!("{}_t{{org}}", main.url),
        };
        Self { main, _dir: dir, template }
    }

    pub fn tenants(&self, max_open: usize, idle: Duration) -> Tenants {
        Tenants::new(Settings {
            url_template: self.template.clone(),
            admin_url: Some(self.main.url.clone()),
            max_open,
            idle,
            pool_size: 2,
        })
        .unwrap()
    }
}

/// The tenants' migrations, in order.
const ALL: [(i64, &str); 5] = [
    (1, "0001_documents"),
    (2, "0002_document_order"),
    (3, "0003_document_search"),
    (4, "0004_file_timestamps"),
    (5, "0005_outbox"),
];

pub fn org(n: i64) -> Id {
    Id::from_i64(1_000_000 + n)
}

macro_rules! both {
    ($(async fn $name:ident($place:ident: Place) $body:block)*) => {
        $(
            mod $name {
                use super::*;

                async fn case($place: Place) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    case(crate::Place::new(purser_store::Backend::Sqlite).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    case(crate::Place::new(purser_store::Backend::Postgres).await).await;
                }
            }
        )*
    };
}

mod documents;

both! {
    async fn create_migrates_once_and_is_safe_to_repeat(place: Place) {
        let tenants = place.tenants(8, Duration::from_secs(60));
        let first = tenants.create(org(1)).await.unwrap();
        assert!(first.created);
        assert_eq!(first.migrations, ALL);
        assert_eq!(first.version, 5);
        let again = tenants.create(org(1)).await.unwrap();
        assert!(!again.created);
        assert!(again.migrations.is_empty());
        assert_eq!(again.version, 5);

        let info = tenants.inspect(org(1)).await.unwrap().unwrap();
        assert_eq!(info.version, 5);
        assert!(info.size_bytes > 0);
        let history = tenants.history(org(1)).await.unwrap().unwrap();
        assert_eq!(history.iter().map(|a| (a.version, a.name.as_str())).collect::<Vec<_>>(), ALL);
        assert!(history[0].applied_at > 0);
    }

    // Each tenant's rows are in its database alone.
    async fn tenants_keep_their_rows_apart(place: Place) {
        let tenants = place.tenants(8, Duration::from_secs(60));
        let (a, b) = (tenants.store(org(1)).await.unwrap(), tenants.store(org(2)).await.unwrap());
        let mut conn = a.conn().await.unwrap();
        sqlx::query("INSERT INTO files (sha256, md5, size, object_key, created_at) VALUES ('ab', 'cd', 1, 'k', 0)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let count = |store: purser_store::Store| async move {
            let mut conn = store.conn().await.unwrap();
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM files").fetch_one(&mut *conn).await.unwrap()
        };
        assert_eq!(count(a).await, 1);
        assert_eq!(count(b).await, 0);
        // The main database has no tenant tables.
        let main = place.main.store().await;
        let mut conn = main.conn().await.unwrap();
        assert!(sqlx::query("SELECT 1 FROM documents").fetch_optional(&mut *conn).await.is_err());
    }

    async fn open_pools_are_bounded_least_recently_used_first(place: Place) {
        let tenants = place.tenants(2, Duration::from_secs(60));
        tenants.store(org(1)).await.unwrap();
        tenants.store(org(2)).await.unwrap();
        tenants.store(org(1)).await.unwrap(); // 2 is now the least recently used
        tenants.store(org(3)).await.unwrap();
        assert_eq!(tenants.open_pools(), 2);
        assert!(tenants.is_open(org(1)) && tenants.is_open(org(3)) && !tenants.is_open(org(2)));
        // A closed one opens again, with its data.
        tenants.store(org(2)).await.unwrap();
        assert_eq!(tenants.open_pools(), 2);
        assert!(tenants.is_open(org(2)));
    }

    async fn idle_pools_are_closed(place: Place) {
        let busy = place.tenants(8, Duration::from_secs(3600));
        busy.store(org(1)).await.unwrap();
        assert_eq!(busy.close_idle(), 0);
        assert!(busy.is_open(org(1)));
        let idle = place.tenants(8, Duration::ZERO);
        idle.store(org(1)).await.unwrap();
        idle.store(org(2)).await.unwrap();
        assert_eq!(idle.close_idle(), 2);
        assert_eq!(idle.open_pools(), 0);
    }

    async fn dry_run_changes_nothing(place: Place) {
        let tenants = place.tenants(8, Duration::from_secs(60));
        let missing = tenants.migrate(org(1), true).await.unwrap();
        assert!(missing.created);
        assert_eq!(missing.migrations, ALL);
        assert_eq!(tenants.inspect(org(1)).await.unwrap(), None, "a dry run created the database");
        tenants.migrate(org(1), false).await.unwrap();
        let current = tenants.migrate(org(1), true).await.unwrap();
        assert!(!current.created && current.migrations.is_empty());
        assert_eq!(current.version, 5);
    }

    // Replicas opening a new organization's database at the same moment: one creates it,
    // every one gets it.
    async fn concurrent_creation_makes_one_database(place: Place) {
        let replicas: Vec<std::sync::Arc<Tenants>> =
            (0..2).map(|_| std::sync::Arc::new(place.tenants(8, Duration::from_secs(60)))).collect();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let tenants = std::sync::Arc::clone(&replicas[i % 2]);
            tasks.push(tokio::spawn(async move { tenants.create(org(7)).await }));
        }
        let mut created = 0;
        for task in tasks {
            let outcome = task.await.unwrap().unwrap();
            assert_eq!(outcome.version, 5);
            created += usize::from(outcome.created);
        }
        assert_eq!(created, 1);
        assert_eq!(replicas[0].inspect(org(7)).await.unwrap().unwrap().version, 5);
    }

    async fn dropping_removes_the_database(place: Place) {
        let tenants = place.tenants(8, Duration::from_secs(60));
        tenants.store(org(1)).await.unwrap();
        tenants.store(org(2)).await.unwrap();
        tenants.drop_database(org(1)).await.unwrap();
        assert!(!tenants.is_open(org(1)));
        assert_eq!(tenants.inspect(org(1)).await.unwrap(), None);
        assert!(tenants.inspect(org(2)).await.unwrap().is_some(), "another tenant went too");
        // Dropping what is not there is not an error.
        tenants.drop_database(org(1)).await.unwrap();
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let place = Place::new(Backend::Sqlite).await;
    let tenants = place.tenants(8, Duration::from_secs(60));
    let store = tenants.store(org(1)).await.unwrap();
    store.ping().await.unwrap();
    let file = tenants.url(org(1)).trim_start_matches("sqlite://").to_owned();
    let dir = std::path::Path::new(&file).parent().unwrap().to_owned();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for extra in ["-wal", "-shm"] {
        if let Ok(meta) = std::fs::metadata(format!("{file}{extra}")) {
            assert_eq!(meta.permissions().mode() & 0o077, 0, "{extra} is readable by others");
        }
    }
}

#[test]
fn templates_are_checked() {
    let settings = |url_template: &str| Settings {
        url_template: url_template.into(),
        admin_url: Some("postgres://postgres@127.0.0.1/postgres".into()),
        max_open: 8,
        idle: Duration::from_secs(60),
        pool_size: 2,
    };
    let refused = |template: &str| matches!(Tenants::new(settings(template)), Err(TenantError::Config(_)));
    assert!(refused("sqlite:///var/lib/purser/tenants/all.db"), "no {{org}}");
    assert!(refused("mysql://h/t{org}"));
    assert!(refused("postgres://h/{org}/x"), "{{org}} outside the database name");
    assert!(refused(&format!("postgres://h/{}{{org}}", "a".repeat(45))), "too long for PostgreSQL");
    assert!(refused("postgres://h/t-{org}"), "only letters, digits and _");
    assert!(!refused(&format!("postgres://h/{}{{org}}?sslmode=require", "a".repeat(44))));
    assert!(!refused("sqlite:///var/lib/purser/tenants/{org}.db"));
}
