use std::sync::Arc;

use purser_domain::{ManualClock, PlatformRole};
use purser_store::Backend;
use serde_json::{Value, json};

use crate::harness::{Options, Session, T0, TestApp};

/// A verified user who owns a new organization; returns (owner, org id).
pub async fn org_with_owner(app: &TestApp, email: &str, name: &str) -> (Session, String) {
    let owner = app.verified_user(email).await;
    let org = app.post("/api/v1/organizations", Some(&owner.token), json!({ "name": name })).await.expect(201);
    (owner, org["id"].as_str().unwrap().to_owned())
}

/// Invites `email` with `role` and has them (registered and verified here) accept.
pub async fn join(app: &TestApp, inviter: &Session, org: &str, email: &str, role: &str) -> Session {
    let member = app.verified_user(email).await;
    app.post(
        &format!("/api/v1/organizations/{org}/invitations"),
        Some(&inviter.token),
        json!({ "email": email, "role": role }),
    )
    .await
    .expect(201);
    let token = app.mailed_token(email, "invited").await;
    app.post("/api/v1/invitations/accept", Some(&member.token), json!({ "token": token })).await.expect(200);
    member
}

fn names(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect()
}

both! {
    async fn creating_an_organization_needs_a_verified_email(app: TestApp) {
        let unverified = app.user("ada@example.com").await;
        let refused = app.post("/api/v1/organizations", Some(&unverified.token), json!({ "name": "Lab" })).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (403, "email_not_verified"));
        let (owner, org) = org_with_owner(&app, "bob@example.com", "Lab").await;
        let shown = app.get(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await.expect(200);
        assert_eq!((shown["myRole"].as_str(), shown["memberCount"].as_u64(), shown["status"].as_str()), (Some("owner"), Some(1), Some("active")));
        let mine = app.get("/api/v1/organizations", Some(&owner.token)).await.expect(200);
        assert_eq!(names(&mine), ["Default", "Lab"], "everyone is in the default organization too");
        let empty = app.post("/api/v1/organizations", Some(&owner.token), json!({ "name": " " })).await;
        assert_eq!(empty.body["errors"][0]["field"], "name");
    }

    async fn strangers_see_nothing_and_platform_roles_see_what_they_may(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let stranger = app.verified_user("eve@example.com").await;
        let t = Some(stranger.token.as_str());
        for reply in [
            app.get(&format!("/api/v1/organizations/{org}"), t).await,
            app.patch(&format!("/api/v1/organizations/{org}"), t, json!({ "name": "Mine" })).await,
            app.delete(&format!("/api/v1/organizations/{org}"), t).await,
            app.get(&format!("/api/v1/organizations/{org}/members"), t).await,
            app.post(&format!("/api/v1/organizations/{org}/invitations"), t, json!({ "email": "x@example.com", "role": "member" })).await,
        ] {
            assert_eq!((reply.status.as_u16(), reply.code()), (404, "organization_not_found"));
        }
        assert_eq!(app.get("/api/v1/organizations?all=true", t).await.status.as_u16(), 403);

        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let ro = Some(readonly.token.as_str());
        let seen = app.get(&format!("/api/v1/organizations/{org}"), ro).await.expect(200);
        assert_eq!(seen["myRole"], Value::Null);
        app.get(&format!("/api/v1/organizations/{org}/members"), ro).await.expect(200);
        let all = app.get("/api/v1/organizations?all=true", ro).await.expect(200);
        assert_eq!(all["pagination"]["total"], 2);
        let write = app.patch(&format!("/api/v1/organizations/{org}"), ro, json!({ "name": "Mine" })).await;
        assert_eq!((write.status.as_u16(), write.code()), (403, "forbidden"));
        let unchanged = app.get(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await.expect(200);
        assert_eq!(unchanged["name"], "Lab");
    }

    async fn an_invitation_by_email_to_acceptance(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let invited = app.post(&format!("/api/v1/organizations/{org}/invitations"), Some(&owner.token), json!({ "email": "Bob@Example.com", "role": "admin" })).await.expect(201);
        assert_eq!((invited["email"].as_str(), invited["status"].as_str(), invited["emailSent"].as_bool()), (Some("bob@example.com"), Some("pending"), Some(true)));
        let token = app.mailed_token("bob@example.com", "invited to join Lab").await;
        assert!(!invited.to_string().contains(&token), "the token travels only by mail");
        let again = app.post(&format!("/api/v1/organizations/{org}/invitations"), Some(&owner.token), json!({ "email": "bob@example.com", "role": "member" })).await;
        assert_eq!((again.status.as_u16(), again.code()), (409, "invitation_pending"));

        // Bob signs up but has not verified the address yet.
        let bob = app.user("bob@example.com").await;
        let early = app.post("/api/v1/invitations/accept", Some(&bob.token), json!({ "token": token })).await;
        assert_eq!((early.status.as_u16(), early.code()), (403, "invitation_email_mismatch"));
        // Someone else with the token cannot use it either.
        let eve = app.verified_user("eve@example.com").await;
        let stolen = app.post("/api/v1/invitations/accept", Some(&eve.token), json!({ "token": token })).await;
        assert_eq!(stolen.code(), "invitation_email_mismatch");

        let verify = app.mailed_token("bob@example.com", "Confirm").await;
        app.post("/api/v1/auth/verify-email", None, json!({ "token": verify })).await.expect(200);
        let open = app.get("/api/v1/invitations", Some(&bob.token)).await.expect(200);
        assert_eq!(open.as_array().unwrap().len(), 1);
        let joined = app.post("/api/v1/invitations/accept", Some(&bob.token), json!({ "token": token })).await.expect(200);
        assert_eq!((joined["role"].as_str(), joined["orgId"].as_str()), (Some("admin"), Some(org.as_str())));
        let twice = app.post("/api/v1/invitations/accept", Some(&bob.token), json!({ "token": token })).await;
        assert_eq!((twice.status.as_u16(), twice.code()), (409, "invitation_not_pending"));
        app.get(&format!("/api/v1/organizations/{org}"), Some(&bob.token)).await.expect(200);
        let member_again = app.post(&format!("/api/v1/organizations/{org}/invitations"), Some(&owner.token), json!({ "email": "bob@example.com", "role": "member" })).await;
        assert_eq!(member_again.code(), "already_member");
        let listed = app.get(&format!("/api/v1/organizations/{org}/invitations"), Some(&owner.token)).await.expect(200);
        assert_eq!(listed["data"][0]["status"], "accepted");
        let unknown = app.post("/api/v1/invitations/accept", Some(&bob.token), json!({ "token": "nope" })).await;
        assert_eq!(unknown.status.as_u16(), 404);
    }

    async fn roles_and_the_last_owner(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let admin = join(&app, &owner, &org, "bob@example.com", "admin").await;
        let member = join(&app, &owner, &org, "cid@example.com", "member").await;
        let path = |user: &Session| format!("/api/v1/organizations/{org}/members/{}", user.id);

        let alone = app.patch(&path(&owner), Some(&owner.token), json!({ "role": "admin" })).await;
        assert_eq!((alone.status.as_u16(), alone.code()), (409, "last_owner"));
        let gone = app.delete(&path(&owner), Some(&owner.token)).await;
        assert_eq!(gone.code(), "last_owner");
        let leave = app.post(&format!("/api/v1/organizations/{org}/leave"), Some(&owner.token), json!({})).await;
        assert_eq!(leave.code(), "last_owner");

        let promote = app.patch(&path(&member), Some(&admin.token), json!({ "role": "admin" })).await;
        assert_eq!(promote.status.as_u16(), 403, "admins cannot make admins");
        let demote = app.patch(&path(&member), Some(&admin.token), json!({ "role": "viewer" })).await.expect(200);
        assert_eq!(demote["role"], "viewer");
        let touch_owner = app.delete(&path(&owner), Some(&admin.token)).await;
        assert_eq!(touch_owner.status.as_u16(), 403);
        let viewer_write = app.patch(&format!("/api/v1/organizations/{org}"), Some(&member.token), json!({ "name": "x" })).await;
        assert_eq!(viewer_write.status.as_u16(), 403);

        app.post(&format!("/api/v1/organizations/{org}/transfer-ownership"), Some(&owner.token), json!({ "userId": admin.id })).await;
        let members = app.get(&format!("/api/v1/organizations/{org}/members"), Some(&owner.token)).await.expect(200);
        let roles: Vec<(String, String)> = members["data"].as_array().unwrap().iter().map(|m| (m["email"].as_str().unwrap().into(), m["role"].as_str().unwrap().into())).collect();
        assert_eq!(roles, [("bob@example.com".into(), "owner".into()), ("ada@example.com".into(), "admin".into()), ("cid@example.com".into(), "viewer".into())]);
        let not_owner = app.post(&format!("/api/v1/organizations/{org}/transfer-ownership"), Some(&owner.token), json!({ "userId": owner.id })).await;
        assert_eq!(not_owner.status.as_u16(), 403, "the former owner is an admin now");

        app.patch(&path(&owner), Some(&admin.token), json!({ "role": "owner" })).await.expect(200);
        assert_eq!(app.post(&format!("/api/v1/organizations/{org}/leave"), Some(&admin.token), json!({})).await.status.as_u16(), 204, "not the last owner any more");
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), Some(&admin.token)).await.status.as_u16(), 404);
        assert_eq!(app.delete(&path(&member), Some(&owner.token)).await.status.as_u16(), 204);
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), Some(&member.token)).await.status.as_u16(), 404);
    }

    async fn suspension_quotas_and_deletion(app: TestApp) {
        let platform = app.admin().await;
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let o = Some(owner.token.as_str());
        let quota = app.patch(&format!("/api/v1/organizations/{org}"), o, json!({ "maxMembers": 2 })).await;
        assert_eq!(quota.status.as_u16(), 403, "owners do not set their own quotas");
        app.patch(&format!("/api/v1/organizations/{org}"), Some(&platform.token), json!({ "maxMembers": 2 })).await.expect(200);
        app.post(&format!("/api/v1/organizations/{org}/invitations"), o, json!({ "email": "b@example.com", "role": "member" })).await.expect(201);
        let over = app.post(&format!("/api/v1/organizations/{org}/invitations"), o, json!({ "email": "c@example.com", "role": "member" })).await;
        assert_eq!((over.status.as_u16(), over.code()), (409, "member_quota_exceeded"));

        assert_eq!(app.post(&format!("/api/v1/organizations/{org}/suspend"), o, json!({})).await.status.as_u16(), 403);
        let suspended = app.post(&format!("/api/v1/organizations/{org}/suspend"), Some(&platform.token), json!({})).await.expect(200);
        assert_eq!(suspended["status"], "suspended");
        let frozen = app.patch(&format!("/api/v1/organizations/{org}"), o, json!({ "name": "Renamed" })).await;
        assert_eq!((frozen.status.as_u16(), frozen.code()), (403, "organization_suspended"));
        app.get(&format!("/api/v1/organizations/{org}"), o).await.expect(200);
        app.post(&format!("/api/v1/organizations/{org}/resume"), Some(&platform.token), json!({})).await.expect(200);
        app.patch(&format!("/api/v1/organizations/{org}"), o, json!({ "name": "Renamed" })).await.expect(200);

        let default_org = app.get("/api/v1/organizations", o).await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
        let keep = app.delete(&format!("/api/v1/organizations/{default_org}"), Some(&platform.token)).await;
        assert_eq!((keep.status.as_u16(), keep.code()), (409, "default_organization"));
        let leave_default = app.post(&format!("/api/v1/organizations/{default_org}/leave"), o, json!({})).await;
        assert_eq!(leave_default.code(), "default_organization");

        let deleted = app.delete(&format!("/api/v1/organizations/{org}"), o).await.expect(200);
        assert_eq!(deleted["deleted"], true);
        assert!(deleted["purgeAfter"].is_string());
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), o).await.status.as_u16(), 404, "it stops working at once");
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), Some(&platform.token)).await.status.as_u16(), 404);
    }

    async fn an_empty_change_is_still_authorized_first(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let member = join(&app, &owner, &org, "bob@example.com", "member").await;
        let stranger = app.verified_user("eve@example.com").await;
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let path = format!("/api/v1/organizations/{org}");
        let before = app.get(&path, Some(&owner.token)).await.expect(200);
        let successes = |app: &TestApp| {
            let app_services = app.services.clone();
            let org: purser_domain::Id = org.parse().unwrap();
            async move {
                let mut conn = app_services.store().conn().await.unwrap();
                let filter = purser_store::audit::AuditFilter { org_id: Some(org), action: Some("organization.update".into()), ..Default::default() };
                let page = purser_domain::page::PageRequest { page: 1, limit: 100 };
                let entries = purser_store::audit::list(&mut conn, &filter, page).await.unwrap();
                entries.items.iter().filter(|e| e.success).count()
            }
        };
        for (who, status) in [(&stranger, 404), (&member, 403), (&readonly, 403)] {
            for body in [json!({}), json!({ "maxMembers": 5 })] {
                let reply = app.patch(&path, Some(&who.token), body).await;
                assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
            }
        }
        let after = app.get(&path, Some(&owner.token)).await.expect(200);
        assert_eq!(before["updatedAt"], after["updatedAt"], "nothing was written");
        // A suspended organization takes no change, even an empty one, even from its owner.
        let platform = app.admin().await;
        let suspended = app.post(&format!("{path}/suspend"), Some(&platform.token), json!({})).await.expect(200);
        let frozen = app.patch(&path, Some(&owner.token), json!({})).await;
        assert_eq!((frozen.status.as_u16(), frozen.code()), (403, "organization_suspended"));
        let after = app.get(&path, Some(&owner.token)).await.expect(200);
        assert_eq!(suspended["updatedAt"], after["updatedAt"], "nothing was written");
        assert_eq!(successes(&app).await, 0, "no change was made, and none is recorded as made");
        app.post(&format!("{path}/resume"), Some(&platform.token), json!({})).await.expect(200);
        let resumed = app.get(&path, Some(&owner.token)).await.expect(200);
        // The owner's own empty change goes through and is recorded as one.
        app.patch(&path, Some(&owner.token), json!({})).await.expect(200);
        assert_eq!(successes(&app).await, 1);
        let owners_quota = app.patch(&path, Some(&owner.token), json!({ "maxMembers": 5 })).await;
        assert_eq!(owners_quota.status.as_u16(), 403, "quotas are the platform admins' to set");
        assert_eq!(resumed["memberCount"], 2);
    }

    async fn in_the_default_organization_members_see_only_themselves(app: TestApp) {
        let ada = app.verified_user("ada@example.com").await;
        let bob = app.verified_user("bob@example.com").await;
        let orgs = app.get("/api/v1/organizations", Some(&ada.token)).await.expect(200);
        let default = orgs["data"][0]["id"].as_str().unwrap().to_owned();
        let members = app.get(&format!("/api/v1/organizations/{default}/members"), Some(&ada.token)).await.expect(200);
        let seen: Vec<_> = members["data"].as_array().unwrap().iter().map(|m| m["userId"].as_str().unwrap().to_owned()).collect();
        assert_eq!((seen, members["pagination"]["total"].as_u64()), (vec![ada.id.clone()], Some(1)));
        let other = app.get(&format!("/api/v1/organizations/{default}/members/{}", bob.id), Some(&ada.token)).await;
        assert_eq!((other.status.as_u16(), other.code()), (404, "member_not_found"));
        app.get(&format!("/api/v1/organizations/{default}/members/{}", ada.id), Some(&ada.token)).await.expect(200);
        let teams = app.get(&format!("/api/v1/organizations/{default}/teams"), Some(&ada.token)).await.expect(200);
        let team = teams["data"][0]["id"].as_str().unwrap();
        let team_members = app.get(&format!("/api/v1/organizations/{default}/teams/{team}/members"), Some(&ada.token)).await.expect(200);
        assert_eq!(team_members["pagination"]["total"], 1);
        assert_eq!(team_members["data"][0]["userId"], ada.id.as_str());
        assert!(!team_members.to_string().contains("bob@example.com"));
        // Platform admins and read-only admins see everyone.
        let readonly = app.with_role("ro@example.com", PlatformRole::AdminReadonly).await;
        let platform = app.admin().await;
        for who in [&readonly, &platform] {
            let all = app.get(&format!("/api/v1/organizations/{default}/members"), Some(&who.token)).await.expect(200);
            assert!(all["pagination"]["total"].as_u64().unwrap() >= 4, "{all}");
        }
        // In any other organization, members see each other.
        let (owner, org) = org_with_owner(&app, "carol@example.com", "Lab").await;
        let dave = join(&app, &owner, &org, "dave@example.com", "viewer").await;
        let lab = app.get(&format!("/api/v1/organizations/{org}/members"), Some(&dave.token)).await.expect(200);
        assert_eq!(lab["pagination"]["total"], 2);
    }

    async fn owners_read_their_organizations_audit_log(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let admin = join(&app, &owner, &org, "bob@example.com", "admin").await;
        let (_, other_org) = org_with_owner(&app, "eve@example.com", "Other").await;
        let log = app.get(&format!("/api/v1/organizations/{org}/audit-logs"), Some(&owner.token)).await.expect(200);
        let actions: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["invitation.accept", "invitation.create", "organization.create"]);
        assert!(log["data"].as_array().unwrap().iter().all(|e| e["orgId"].as_str() == Some(org.as_str())));
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/audit-logs"), Some(&admin.token)).await.status.as_u16(), 403);
        assert_eq!(app.get(&format!("/api/v1/organizations/{other_org}/audit-logs"), Some(&owner.token)).await.status.as_u16(), 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_expire_after_seven_days() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let clock = Arc::new(ManualClock::new(T0));
        let app = TestApp::start_with(backend, Options { clock: Some(clock.clone()), ..Options::default() }).await;
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        app.verified_user("bob@example.com").await;
        app.post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            json!({ "email": "bob@example.com", "role": "member" }),
        )
        .await
        .expect(201);
        let token = app.mailed_token("bob@example.com", "invited").await;
        clock.advance_secs(7 * 24 * 3600);
        let bob = app.login("bob@example.com").await; // the old access token expired with the clock
        let late = app.post("/api/v1/invitations/accept", Some(&bob.token), json!({ "token": token })).await;
        assert_eq!((late.status.as_u16(), late.code()), (409, "invitation_expired"), "{backend:?}");
        let owner = app.login("ada@example.com").await;
        let listed = app.get(&format!("/api/v1/organizations/{org}/invitations"), Some(&owner.token)).await.expect(200);
        assert_eq!(listed["data"][0]["status"], "expired");
        app.post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            json!({ "email": "bob@example.com", "role": "member" }),
        )
        .await
        .expect(201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_organizations_are_purged_after_the_grace_period() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let clock = Arc::new(ManualClock::new(T0));
        let app = TestApp::start_with(backend, Options { clock: Some(clock.clone()), ..Options::default() }).await;
        let platform = app.admin().await;
        let model = app.model(&platform, json!({})).await;
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let team = app
            .post(&format!("/api/v1/organizations/{org}/teams"), Some(&owner.token), json!({ "name": "T" }))
            .await
            .expect(201);
        let team = team["id"].as_str().unwrap();
        app.post(
            &format!("/api/v1/organizations/{org}/teams/{team}/members"),
            Some(&owner.token),
            json!({ "userId": owner.id }),
        )
        .await
        .expect(201);
        let (key, _) = app.key(&owner, &[model["id"].as_str().unwrap()], json!({ "teamId": team })).await;
        app.delete(&format!("/api/v1/api-keys/{key}"), Some(&owner.token)).await;
        app.delete(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await.expect(200);

        let org_id: purser_domain::Id = org.parse().unwrap();
        let tenants = app.services.tenants();
        clock.advance_secs(29 * 86_400);
        assert_eq!(app.services.purge_deleted_organizations().await.unwrap(), 0, "{backend:?}: kept for 30 days");
        assert!(tenants.inspect(org_id).await.unwrap().is_some(), "{backend:?}: its database is kept until the purge");
        clock.advance_secs(2 * 86_400);
        assert_eq!(app.services.purge_deleted_organizations().await.unwrap(), 1, "{backend:?}");
        assert_eq!(tenants.inspect(org_id).await.unwrap(), None, "{backend:?}: the purge drops its database");
        assert_eq!(app.services.purge_deleted_organizations().await.unwrap(), 0, "purging twice is harmless");
        let owner = app.login("ada@example.com").await;
        let kept = app.get(&format!("/api/v1/api-keys/{key}"), Some(&owner.token)).await.expect(200);
        assert_eq!(kept["teamId"], Value::Null, "the key's history stays; its team is gone");
        let platform = app.login("root@example.com").await;
        let log = app.get("/api/v1/admin/audit?action=organization.purge", Some(&platform.token)).await.expect(200);
        assert_eq!(log["data"][0]["resourceId"].as_str(), Some(org.as_str()));
    }
}
