use serde_json::{Value, json};

use crate::harness::{Session, TestApp, chat_body};
use crate::orgs::{join, org_with_owner};

async fn team(app: &TestApp, by: &Session, org: &str, body: Value) -> Value {
    app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&by.token), body).await.expect(201)
}

both! {
    async fn teams_are_managed_by_admins_and_read_by_everyone_in_the_org(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let admin = join(&app, &owner, &org, "bob@example.com", "admin").await;
        let member = join(&app, &owner, &org, "cid@example.com", "member").await;
        let created = team(&app, &admin, &org, json!({
            "name": "Research", "description": "<b>R</b>&D", "budget": "100", "budgetPeriod": "monthly", "tpmLimit": 1000, "rpmLimit": 60,
        })).await;
        assert_eq!((created["budget"].as_str(), created["budgetPeriod"].as_str(), created["modelIds"].as_array().map(Vec::len)), (Some("100"), Some("monthly"), Some(0)));
        let id = created["id"].as_str().unwrap();
        let refused = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&member.token), json!({ "name": "Mine" })).await;
        assert_eq!(refused.status.as_u16(), 403);
        let listed = app.get(&format!("/api/v1/organizations/{org}/teams"), Some(&member.token)).await.expect(200);
        assert_eq!(listed["pagination"]["total"], 1);
        let dup = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&admin.token), json!({ "name": "Research" })).await;
        assert_eq!((dup.status.as_u16(), dup.code()), (409, "team_name_taken"));
        for (body, field) in [
            (json!({ "name": "T", "budget": "5" }), "budgetPeriod"),
            (json!({ "name": "T", "budgetPeriod": "daily" }), "budget"),
            (json!({ "name": "T", "rpmLimit": 0 }), "rpmLimit"),
            (json!({ "name": "T", "modelIds": ["12345"] }), "modelIds[0]"),
            (json!({ "name": "" }), "name"),
            (json!({ "name": "T", "budgetPeriod": "yearly", "budget": "1" }), "budgetPeriod"),
        ] {
            let reply = app.post(&format!("/api/v1/organizations/{org}/teams"), Some(&admin.token), body.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.body["errors"][0]["field"].as_str()), (422, Some(field)), "{body}");
        }
        let changed = app.patch(&format!("/api/v1/organizations/{org}/teams/{id}"), Some(&admin.token), json!({ "budget": null, "budgetPeriod": null, "name": "R&D" })).await.expect(200);
        assert_eq!((changed["budget"].clone(), changed["name"].as_str()), (Value::Null, Some("R&D")));
        assert_eq!(app.delete(&format!("/api/v1/organizations/{org}/teams/{id}"), Some(&member.token)).await.status.as_u16(), 403);
        assert_eq!(app.delete(&format!("/api/v1/organizations/{org}/teams/{id}"), Some(&admin.token)).await.status.as_u16(), 204);
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/teams/{id}"), Some(&admin.token)).await.status.as_u16(), 404);
    }

    async fn team_members_managers_and_delegated_permissions(app: TestApp) {
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let admin = join(&app, &owner, &org, "bob@example.com", "admin").await;
        let lead = join(&app, &owner, &org, "cid@example.com", "member").await;
        let member = join(&app, &owner, &org, "dee@example.com", "member").await;
        let stranger = app.verified_user("eve@example.com").await;
        let t = team(&app, &admin, &org, json!({ "name": "Recruiting" })).await;
        let tid = t["id"].as_str().unwrap();
        let members = format!("/api/v1/organizations/{org}/teams/{tid}/members");

        let outsider = app.post(&members, Some(&admin.token), json!({ "userId": stranger.id })).await;
        assert_eq!((outsider.status.as_u16(), outsider.body["errors"][0]["field"].as_str()), (422, Some("userId")));
        app.post(&members, Some(&admin.token), json!({ "userId": lead.id, "manager": true })).await.expect(201);
        // A manager adds people to their team but cannot appoint managers.
        app.post(&members, Some(&lead.token), json!({ "userId": member.id })).await.expect(201);
        let appoint = app.patch(&format!("{members}/{}", member.id), Some(&lead.token), json!({ "manager": true })).await;
        assert_eq!(appoint.status.as_u16(), 403);
        let listed = app.get(&members, Some(&member.token)).await.expect(200);
        assert_eq!(listed["data"][0]["email"], "cid@example.com", "managers first");

        // Only owners delegate; members of the team then invite members (not admins).
        let grant = format!("/api/v1/organizations/{org}/teams/{tid}/permissions");
        assert_eq!(app.call(reqwest::Method::PUT, &grant, Some(&admin.token), Some(json!({ "permissions": ["inviteMembers"] }))).await.status.as_u16(), 403);
        let invite = format!("/api/v1/organizations/{org}/invitations");
        let invite_as = |email: &str, role: &str| json!({ "email": email, "role": role });
        assert_eq!(app.post(&invite, Some(&member.token), invite_as("new1@example.com", "member")).await.status.as_u16(), 403);
        let granted = app.call(reqwest::Method::PUT, &grant, Some(&owner.token), Some(json!({ "permissions": ["inviteMembers", "inviteMembers"] }))).await.expect(200);
        assert_eq!(granted["permissions"], json!(["inviteMembers"]));
        assert_eq!(app.post(&invite, Some(&member.token), invite_as("new1@example.com", "member")).await.status.as_u16(), 201);
        let admin_invite = app.post(&invite, Some(&member.token), invite_as("new2@example.com", "admin")).await;
        assert_eq!(admin_invite.status.as_u16(), 403, "delegation stops at members");
        let bad = app.call(reqwest::Method::PUT, &grant, Some(&owner.token), Some(json!({ "permissions": ["root"] }))).await;
        assert_eq!(bad.status.as_u16(), 422);

        assert_eq!(app.delete(&format!("{members}/{}", member.id), Some(&lead.token)).await.status.as_u16(), 204);
        let after = app.post(&invite, Some(&member.token), invite_as("new3@example.com", "member")).await;
        assert_eq!(after.status.as_u16(), 403, "off the team, the permission is gone");

        let default_team = app.get("/api/v1/organizations", Some(&owner.token)).await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
        let dteams = app.get(&format!("/api/v1/organizations/{default_team}/teams"), Some(&owner.token)).await.expect(200);
        assert_eq!(dteams["data"][0]["name"], "Default Team");
        assert_eq!(dteams["data"][0]["isDefault"], true);
    }

    async fn keys_are_billed_to_teams_whose_limits_apply_in_the_gateway(app: TestApp) {
        let platform = app.admin().await;
        let model = app.model(&platform, json!({})).await;
        let other_model = app.model(&platform, json!({ "name": "other" })).await;
        let (owner, org) = org_with_owner(&app, "ada@example.com", "Lab").await;
        let member = join(&app, &owner, &org, "bob@example.com", "member").await;
        let viewer = join(&app, &owner, &org, "cid@example.com", "viewer").await;
        let t = team(&app, &owner, &org, json!({ "name": "Lab team", "rpmLimit": 1, "modelIds": [model["id"]] })).await;
        let tid = t["id"].as_str().unwrap();
        app.post(&format!("/api/v1/organizations/{org}/teams/{tid}/members"), Some(&owner.token), json!({ "userId": member.id })).await.expect(201);
        app.post(&format!("/api/v1/organizations/{org}/teams/{tid}/members"), Some(&owner.token), json!({ "userId": viewer.id })).await.expect(201);

        // Without a team a key goes to the Default Team.
        let (default_key_id, _) = app.key(&member, &[model["id"].as_str().unwrap()], json!({})).await;
        let default_key = app.get(&format!("/api/v1/api-keys/{default_key_id}"), Some(&member.token)).await.expect(200);
        assert_ne!(default_key["teamId"].as_str(), Some(tid));
        assert!(default_key["teamId"].is_string());

        app.post("/api/v1/subscriptions", Some(&member.token), json!({ "modelId": other_model["id"] })).await.expect(201);
        let not_allowed = app.post("/api/v1/api-keys", Some(&member.token), json!({ "name": "k", "teamId": tid, "modelIds": [other_model["id"]] })).await;
        assert_eq!((not_allowed.status.as_u16(), not_allowed.body["errors"][0]["field"].as_str()), (422, Some("modelIds[0]")));
        app.post("/api/v1/subscriptions", Some(&viewer.token), json!({ "modelId": model["id"] })).await.expect(201);
        let viewer_key = app.post("/api/v1/api-keys", Some(&viewer.token), json!({ "name": "k", "teamId": tid, "modelIds": [model["id"]] })).await;
        assert_eq!((viewer_key.status.as_u16(), viewer_key.body["errors"][0]["field"].as_str()), (422, Some("teamId")), "viewers cannot spend");
        let stranger = app.user("eve@example.com").await;
        app.post("/api/v1/subscriptions", Some(&stranger.token), json!({ "modelId": model["id"] })).await.expect(201);
        let foreign = app.post("/api/v1/api-keys", Some(&stranger.token), json!({ "name": "k", "teamId": tid, "modelIds": [model["id"]] })).await;
        assert_eq!(foreign.body["errors"][0]["field"], "teamId");

        let (_, key_one) = app.key(&member, &[model["id"].as_str().unwrap()], json!({ "teamId": tid })).await;
        let (_, key_two) = app.key(&member, &[model["id"].as_str().unwrap()], json!({ "teamId": tid })).await;
        app.chat(&key_one, chat_body("mock-model")).await.expect(200);
        let team_limited = app.chat(&key_two, chat_body("mock-model")).await;
        assert_eq!(team_limited.status.as_u16(), 429, "the team's 1 RPM is shared by its keys");
        assert!(team_limited.body["error"]["message"].as_str().unwrap().contains("its team"));

        // Suspending the organization stops its teams' keys at once; resuming restores them.
        app.post(&format!("/api/v1/organizations/{org}/suspend"), Some(&platform.token), json!({})).await.expect(200);
        let suspended = app.chat(&key_one, chat_body("mock-model")).await;
        assert_eq!((suspended.status.as_u16(), suspended.body["error"]["code"].as_str()), (403, Some("team_unavailable")));
        app.post(&format!("/api/v1/organizations/{org}/resume"), Some(&platform.token), json!({})).await.expect(200);

        // A budget on the team: one answer costs $0.000034.
        app.patch(&format!("/api/v1/organizations/{org}/teams/{tid}"), Some(&owner.token), json!({ "rpmLimit": null, "budget": "0.00005", "budgetPeriod": "daily" })).await.expect(200);
        app.chat(&key_two, chat_body("mock-model")).await.expect(200);
        let broke = app.chat(&key_two, chat_body("mock-model")).await;
        assert_eq!((broke.status.as_u16(), broke.body["error"]["code"].as_str()), (429, Some("insufficient_quota")));

        // Deleting the organization is refused while its keys work; removing the member revokes them.
        let busy = app.delete(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await;
        assert_eq!((busy.status.as_u16(), busy.code()), (409, "organization_has_active_resources"));
        app.delete(&format!("/api/v1/organizations/{org}/members/{}", member.id), Some(&owner.token)).await;
        assert_eq!(app.chat(&key_one, chat_body("mock-model")).await.status.as_u16(), 401);
        app.delete(&format!("/api/v1/organizations/{org}"), Some(&owner.token)).await.expect(200);
        let usage = app.usage(&member, "").await;
        assert_eq!(usage["totals"]["requests"], 2);
    }
}
