//! Each organization's own database: made with the organization, apart from the main one,
//! and migrated by `purser tenants`.

use std::process::Command;

use purser_domain::Id;

use crate::harness::TestApp;
use crate::orgs::org_with_owner;

/// Runs the built `purser` against the app's data directory and database.
fn purser(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_purser"))
        .arg("--data-dir")
        .arg(app.data_dir())
        .args(args)
        .env("PURSER__DATABASE__URL", &app.database_url)
        .env("PURSER__LOG__LEVEL", "warn")
        .output()
        .expect("run purser");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

both! {
    async fn an_organization_gets_its_own_database(app: TestApp) {
        let (_, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let org: Id = org.parse().unwrap();
        let tenants = app.services.tenants();
        let info = tenants.inspect(org).await.unwrap().expect("created with the organization");
        assert_eq!(info.version, purser_tenants::migrations(tenants.backend()).latest_version());
        // Its tables are there and not in the main database.
        let store = tenants.store(org).await.unwrap();
        let mut conn = store.conn().await.unwrap();
        let documents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(documents, 0);
        let mut main = app.services.store().conn().await.unwrap();
        assert!(sqlx::query("SELECT 1 FROM documents").fetch_optional(&mut *main).await.is_err());
        // The Default organization has one from the start.
        let default = app.services.ensure_default_organization().await.unwrap().0;
        assert!(tenants.inspect(default.id).await.unwrap().is_some());
    }

    async fn tenants_migrate_reports_each_tenant_and_is_safe_to_repeat(app: TestApp) {
        let (_, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let id: Id = org.parse().unwrap();
        let tenants = app.services.tenants();
        // As after an upgrade that brings tenant databases: this one does not exist yet.
        tenants.drop_database(id).await.unwrap();

        let (ok, out) = purser(&app, &["tenants", "migrate", "--dry-run"]);
        assert!(ok, "{out}");
        assert!(out.contains(&format!("{org} Lab: would create the database, would apply 0001_documents, 0002_document_order, 0003_document_search, 0004_file_timestamps, 0005_outbox")), "{out}");
        assert!(out.contains("Default: up to date (version 5)"), "{out}");
        assert!(out.contains("2 tenants: 1 would change, 1 up to date, 0 failed"), "{out}");
        assert_eq!(tenants.inspect(id).await.unwrap(), None, "a dry run created it");

        let (ok, out) = purser(&app, &["tenants", "migrate"]);
        assert!(ok, "{out}");
        assert!(out.contains(&format!("[2/2] {org} Lab: created the database, applied 0001_documents, 0002_document_order, 0003_document_search, 0004_file_timestamps, 0005_outbox (version 5)")), "{out}");
        assert_eq!(tenants.inspect(id).await.unwrap().unwrap().version, 5);

        let (ok, out) = purser(&app, &["tenants", "migrate"]);
        assert!(ok && out.contains("2 tenants: 0 changed, 2 up to date, 0 failed"), "{out}");

        let (ok, out) = purser(&app, &["tenants", "migrate", "--history", "--tenant", &org]);
        assert!(ok && out.contains("[1/1]") && out.contains("0001_documents") && out.contains("applied 20"), "{out}");
        let (ok, out) = purser(&app, &["tenants", "list"]);
        assert!(ok && out.lines().any(|l| l.starts_with(&org) && l.contains(" 5 ") && l.ends_with("Lab")), "{out}");

        let (ok, out) = purser(&app, &["tenants", "migrate", "--tenant", "12345"]);
        assert!(!ok && out.contains("no organization has id 12345"), "{out}");
    }
}

/// A tenant that cannot be migrated is reported, the others are still done, and the run fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tenant_fails_the_run_but_not_the_others() {
    let app = TestApp::start(purser_store::Backend::Sqlite).await;
    let (_, broken) = org_with_owner(&app, "ada@example.com", "Broken").await;
    let (_, fine) = org_with_owner(&app, "bob@example.com", "Fine").await;
    let tenants = app.services.tenants();
    for org in [&broken, &fine] {
        tenants.drop_database(org.parse().unwrap()).await.unwrap();
    }
    // Something that is not a database where the broken one's file goes.
    let path = app.data_dir().join("tenants").join(format!("{broken}.db"));
    std::fs::write(&path, b"this is not a database, and it is long enough to have a header").unwrap();

    let (ok, out) = purser(&app, &["tenants", "migrate"]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("{broken} Broken: FAILED")), "{out}");
    assert!(out.contains(&format!("{fine} Fine: created the database")), "{out}");
    assert!(out.contains("1 failed") && out.contains("some tenants failed"), "{out}");
}
