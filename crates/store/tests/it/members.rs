use purser_domain::org::{OrgRole, OrgStatus, Organization, Team};
use purser_domain::page::PageRequest;
use purser_store::{orgs, teams};

use crate::fixtures::*;

/// Every page of a listing, in order, `limit` at a time.
async fn all_pages<T, F, Fut>(limit: u32, mut page: F) -> (Vec<T>, u64)
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = purser_domain::page::Page<T>>,
{
    let (mut seen, mut n) = (Vec::new(), 1);
    loop {
        let got = page(PageRequest { page: n, limit }).await;
        let total = got.total;
        let last = got.items.len() < limit as usize;
        seen.extend(got.items);
        if last {
            return (seen, total);
        }
        n += 1;
    }
}

contract! {
    // Pages follow one order (owners, admins, members, viewers; then by joining time and
    // id) without gaps or repeats, whichever way the rows were added.
    async fn organization_members_are_paged_owners_first(store: Store) {
        let org = Organization {
            id: next_id(), name: "Acme".into(), is_default: false, status: OrgStatus::Active,
            max_members: None, max_teams: None, max_storage_bytes: None, document_types: None, timestamp_uploads: false, created_at: T0, updated_at: T0,
        };
        let mut conn = store.conn().await.unwrap();
        orgs::insert(&mut conn, &org).await.unwrap();
        let roles = [OrgRole::Viewer, OrgRole::Member, OrgRole::Admin, OrgRole::Owner, OrgRole::Member];
        let mut expected = Vec::new();
        for i in 0..11i64 {
            let u = insert_user(&store, &format!("m{i}@example.com")).await;
            let role = roles[i as usize % roles.len()];
            // Two members join at each instant: the id breaks the tie.
            let joined = T0.plus_secs(100 - i / 2);
            orgs::add_member(&mut conn, org.id, u.id, role, joined).await.unwrap();
            let rank = [OrgRole::Owner, OrgRole::Admin, OrgRole::Member, OrgRole::Viewer].iter().position(|r| *r == role);
            expected.push((rank, joined, u.id));
        }
        expected.sort();
        let (seen, total) = all_pages(3, |page| {
            let store = store.clone();
            async move { orgs::members(&mut store.conn().await.unwrap(), org.id, page).await.unwrap() }
        })
        .await;
        assert_eq!(total, 11);
        assert_eq!(seen.iter().map(|m| m.user_id).collect::<Vec<_>>(), expected.iter().map(|e| e.2).collect::<Vec<_>>());
        assert!(seen.iter().all(|m| m.org_id == org.id && m.email.ends_with("@example.com")));
    }

    async fn team_members_are_paged_managers_first(store: Store) {
        let org = Organization {
            id: next_id(), name: "Acme".into(), is_default: false, status: OrgStatus::Active,
            max_members: None, max_teams: None, max_storage_bytes: None, document_types: None, timestamp_uploads: false, created_at: T0, updated_at: T0,
        };
        let team = Team {
            id: next_id(), org_id: org.id, name: "Core".into(), description: None, is_default: false,
            budget: None, budget_period: None, tpm_limit: None, rpm_limit: None, max_parallel: None,
            model_ids: vec![], permissions: vec![], created_at: T0, updated_at: T0,
        };
        let mut conn = store.conn().await.unwrap();
        orgs::insert(&mut conn, &org).await.unwrap();
        teams::insert(&mut conn, &team).await.unwrap();
        let mut expected = Vec::new();
        for i in 0..9i64 {
            let u = insert_user(&store, &format!("t{i}@example.com")).await;
            let manager = i % 3 == 1;
            let joined = T0.plus_secs(50 - i / 2);
            teams::add_member(&mut conn, team.id, u.id, manager, joined).await.unwrap();
            expected.push((!manager, joined, u.id));
        }
        expected.sort();
        let (seen, total) = all_pages(2, |page| {
            let store = store.clone();
            async move { teams::members(&mut store.conn().await.unwrap(), team.id, page).await.unwrap() }
        })
        .await;
        assert_eq!(total, 9);
        assert_eq!(seen.iter().map(|m| m.user_id).collect::<Vec<_>>(), expected.iter().map(|e| e.2).collect::<Vec<_>>());
        assert_eq!(seen.iter().filter(|m| m.manager).count(), 3);
    }
}
