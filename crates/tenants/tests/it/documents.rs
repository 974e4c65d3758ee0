//! Documents and their files in a tenant's database: one file per content, orphans and
//! their cleanup, listing in every order.

use std::time::Duration;

use purser_domain::document::{Document, DocumentQuery, DocumentSort, StoredFile};
use purser_domain::page::PageRequest;
use purser_domain::{Id, Timestamp};
use purser_tenants::documents;

use super::{Place, org};

const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

fn file(sha: &str, size: u64) -> StoredFile {
    StoredFile {
        sha256: sha.into(),
        md5: format!("md5-of-{sha}"),
        size,
        object_key: format!("tenants/1/files/{sha}"),
        created_at: T0,
        orphaned_at: None,
    }
}

fn doc(n: i64, name: &str, f: &StoredFile, mime: &str, at: Timestamp) -> Document {
    Document {
        id: Id::from_i64(500 + n),
        name: name.into(),
        mime_type: mime.into(),
        sha256: f.sha256.clone(),
        md5: f.md5.clone(),
        size: f.size,
        owner_id: Id::from_i64(42),
        timestamped_at: None,
        created_at: at,
        updated_at: at,
    }
}

/// Adds a document as an upload does: claim its file, insert it, in one transaction.
/// Returns whether the file was already stored.
async fn upload(store: &purser_store::Store, d: &Document, f: &StoredFile) -> bool {
    let mut tx = store.begin().await.unwrap();
    let (stored, existed) = documents::claim_file(&mut tx, f).await.unwrap();
    assert_eq!(stored.sha256, f.sha256);
    documents::insert(&mut tx, d).await.unwrap();
    tx.commit().await.unwrap();
    existed
}

both! {
    async fn the_same_bytes_are_stored_once(place: Place) {
        let store = place.tenants(8, Duration::from_secs(60)).store(org(1)).await.unwrap();
        let report = file("aa11", 1000);
        assert!(!upload(&store, &doc(1, "report.pdf", &report, "application/pdf", T0), &report).await);
        assert!(upload(&store, &doc(2, "copy of report.pdf", &report, "application/pdf", T0), &report).await);
        let other = file("bb22", 300);
        assert!(!upload(&store, &doc(3, "notes.txt", &other, "text/plain", T0), &other).await);

        let mut conn = store.conn().await.unwrap();
        let usage = documents::usage(&mut conn).await.unwrap();
        assert_eq!((usage.documents, usage.files, usage.bytes_stored, usage.bytes_saved), (3, 2, 1300, 1000));
        let got = documents::get(&mut conn, Id::from_i64(502)).await.unwrap().unwrap();
        assert_eq!((got.name.as_str(), got.md5.as_str(), got.size), ("copy of report.pdf", "md5-of-aa11", 1000));
        assert!(documents::get(&mut conn, Id::from_i64(999)).await.unwrap().is_none());
    }

    // A file becomes an orphan only when its last document goes; the cleanup takes it
    // only after the grace period, and never once a new upload named it again.
    async fn orphans_are_removed_after_their_grace_and_never_while_named(place: Place) {
        let store = place.tenants(8, Duration::from_secs(60)).store(org(1)).await.unwrap();
        let f = file("cc33", 10);
        upload(&store, &doc(1, "a.txt", &f, "text/plain", T0), &f).await;
        upload(&store, &doc(2, "b.txt", &f, "text/plain", T0), &f).await;
        let mut conn = store.conn().await.unwrap();
        let later = T0.plus_secs(60);
        assert_eq!(documents::delete(&mut conn, Id::from_i64(501), later).await.unwrap().unwrap().name, "a.txt");
        assert!(documents::orphans(&mut conn, later.plus_secs(3600), 10).await.unwrap().is_empty(), "b.txt still names it");
        documents::delete(&mut conn, Id::from_i64(502), later).await.unwrap().unwrap();
        assert!(documents::delete(&mut conn, Id::from_i64(502), later).await.unwrap().is_none());
        let orphans = documents::orphans(&mut conn, later.plus_secs(1), 10).await.unwrap();
        assert_eq!(orphans.iter().map(|o| (o.sha256.as_str(), o.orphaned_at)).collect::<Vec<_>>(), vec![("cc33", Some(later))]);
        assert!(!documents::remove_orphan(&mut conn, "cc33", later).await.unwrap(), "inside its grace period");
        drop(conn);

        // Uploaded again: named again, no longer an orphan, and the cleanup leaves it.
        assert!(upload(&store, &doc(3, "c.txt", &f, "text/plain", later), &f).await);
        let mut conn = store.conn().await.unwrap();
        assert!(documents::orphans(&mut conn, later.plus_secs(3600), 10).await.unwrap().is_empty());
        assert!(!documents::remove_orphan(&mut conn, "cc33", later.plus_secs(3600)).await.unwrap());

        documents::delete(&mut conn, Id::from_i64(503), later).await.unwrap();
        assert!(documents::remove_orphan(&mut conn, "cc33", later.plus_secs(1)).await.unwrap());
        let usage = documents::usage(&mut conn).await.unwrap();
        assert_eq!((usage.documents, usage.files, usage.bytes_stored), (0, 0, 0));
    }

    async fn lists_page_through_every_order_with_filters(place: Place) {
        let store = place.tenants(8, Duration::from_secs(60)).store(org(1)).await.unwrap();
        // Lower case, so that the order by name is the same under any collation the
        // server has; the search below is in upper case.
        let names = ["budget 2026.xlsx", "budget_draft.xlsx", "photo.png", "notes 100%.txt", "zebra.pdf", "alpha.txt"];
        let mut all = Vec::new();
        for n in 0..24i64 {
            let f = file(&format!("f{n:02}"), 100 + (n as u64 * 37) % 11 * 10);
            let name = format!("{} {n}", names[n as usize % names.len()]);
            let mime = if n % 3 == 0 { "text/plain" } else { "application/pdf" };
            // Two documents at each instant: the id orders them.
            let d = doc(n, &name, &f, mime, T0.plus_secs(n / 2));
            upload(&store, &d, &f).await;
            all.push(d);
        }
        let mut conn = store.conn().await.unwrap();
        let expect = |sort: DocumentSort, keep: &dyn Fn(&Document) -> bool| {
            let mut v: Vec<&Document> = all.iter().filter(|d| keep(d)).collect();
            v.sort_by(|a, b| {
                let key = match sort {
                    DocumentSort::Newest | DocumentSort::Oldest => a.created_at.cmp(&b.created_at),
                    DocumentSort::NameAsc | DocumentSort::NameDesc => a.name.cmp(&b.name),
                    DocumentSort::Largest | DocumentSort::Smallest => a.size.cmp(&b.size),
                };
                key.then(a.id.cmp(&b.id))
            });
            if matches!(sort, DocumentSort::Newest | DocumentSort::NameDesc | DocumentSort::Largest) {
                v.reverse();
            }
            v.iter().map(|d| d.id).collect::<Vec<_>>()
        };
        for sort in DocumentSort::ALL.map(|s| s.parse::<DocumentSort>().unwrap()) {
            for (query, keep) in [
                (DocumentQuery { sort, ..Default::default() }, Box::new(|_: &Document| true) as Box<dyn Fn(&Document) -> bool>),
                (
                    DocumentQuery { search: Some("BUDGET".into()), sort, ..Default::default() },
                    Box::new(|d: &Document| d.name.to_lowercase().contains("budget")),
                ),
                (
                    DocumentQuery { search: Some("100%".into()), sort, ..Default::default() },
                    Box::new(|d: &Document| d.name.contains("100%")),
                ),
                (
                    DocumentQuery { search: Some("t_d".into()), sort, ..Default::default() },
                    Box::new(|d: &Document| d.name.contains("t_d")),
                ),
                (
                    DocumentQuery { mime_type: Some("text/plain".into()), sort, ..Default::default() },
                    Box::new(|d: &Document| d.mime_type == "text/plain"),
                ),
            ] {
                let (mut seen, mut page) = (Vec::new(), 1);
                loop {
                    let got = documents::list(&mut conn, &query, PageRequest { page, limit: 5 }).await.unwrap();
                    assert_eq!(got.total as usize, expect(sort, &keep).len(), "{query:?}");
                    let last = got.items.len() < 5;
                    seen.extend(got.items.iter().map(|d| d.id));
                    if last {
                        break;
                    }
                    page += 1;
                }
                assert_eq!(seen, expect(sort, &keep), "{query:?}");
            }
        }
    }

    async fn documents_are_renamed(place: Place) {
        let store = place.tenants(8, Duration::from_secs(60)).store(org(1)).await.unwrap();
        let f = file("dd44", 5);
        upload(&store, &doc(1, "old.txt", &f, "text/plain", T0), &f).await;
        let mut conn = store.conn().await.unwrap();
        assert!(documents::rename(&mut conn, Id::from_i64(501), "new.txt", T0.plus_secs(5)).await.unwrap());
        assert!(!documents::rename(&mut conn, Id::from_i64(999), "x.txt", T0).await.unwrap());
        let got = documents::get(&mut conn, Id::from_i64(501)).await.unwrap().unwrap();
        assert_eq!((got.name.as_str(), got.updated_at, got.created_at), ("new.txt", T0.plus_secs(5), T0));
    }

    // A file's time-stamp reply is kept once, bytes intact; every document of the file shows it.
    async fn a_files_timestamp_is_kept_once(place: Place) {
        let store = place.tenants(8, Duration::from_secs(60)).store(org(1)).await.unwrap();
        let f = file("ee55", 9);
        upload(&store, &doc(1, "a.txt", &f, "text/plain", T0), &f).await;
        upload(&store, &doc(2, "b.txt", &f, "text/plain", T0), &f).await;
        let mut conn = store.conn().await.unwrap();
        assert_eq!(documents::timestamp(&mut conn, &f.sha256).await.unwrap(), None);
        let reply: Vec<u8> = (0..=255).collect();
        assert!(documents::set_timestamp(&mut conn, &f.sha256, &reply, T0.plus_secs(1)).await.unwrap());
        assert!(!documents::set_timestamp(&mut conn, &f.sha256, b"another", T0.plus_secs(2)).await.unwrap());
        assert!(!documents::set_timestamp(&mut conn, "no-such-file", b"x", T0).await.unwrap());
        assert_eq!(documents::timestamp(&mut conn, &f.sha256).await.unwrap(), Some((reply, T0.plus_secs(1))));
        for id in [501, 502] {
            let got = documents::get(&mut conn, Id::from_i64(id)).await.unwrap().unwrap();
            assert_eq!(got.timestamped_at, Some(T0.plus_secs(1)));
        }
    }
}
