//! The role matrix: every management route, tried by every platform role and every
//! organization role, answers as the policy says: allowed, 403, or (for someone with no
//! standing in the organization) 404. Each attempt runs against fresh resources.

use purser_domain::model::{Capability, Model};
use purser_domain::org::{INVITATION_TTL_SECS, Invitation, OrgRole, OrgStatus, Organization, Team};
use purser_domain::subscription::{Subscription, SubscriptionStatus};
use purser_domain::user::UserEmail;
use purser_domain::vault::{Certificate, Grant, Grantee, ServiceClient, SyncStatus, Vault, VaultRole};
use purser_domain::webhook::{Delivery, DeliveryStatus};
use purser_domain::{Id, PlatformRole, TokenPrice};
use purser_store::{clients, emails, invitations, models, orgs, subscriptions, teams, vaults};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{BadInput, Session, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Admin,
    Readonly,
    Outsider,
    Owner,
    OrgAdmin,
    Member,
    Viewer,
}

const ACTORS: [Actor; 7] =
    [Actor::Admin, Actor::Readonly, Actor::Outsider, Actor::Owner, Actor::OrgAdmin, Actor::Member, Actor::Viewer];

/// Who a route is for.
#[derive(Debug, Clone, Copy)]
enum Who {
    AnySignedIn,
    PlatformReader,
    PlatformAdmin,
    OrgRead,
    OrgAdminRead,
    OrgAdmin,
    OrgOwner,
    OrgOwnerRead,
    OrgMember,
    /// Members and above (not viewers): uploading.
    OrgWrite,
    /// Those with a role on the vault (of the actors, the member).
    VaultHolder,
    OrgPlatformAdmin,
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Allowed,
    Forbidden,
    Hidden,
}

fn expect(who: Who, actor: Actor) -> Expect {
    use Actor::*;
    let allowed: &[Actor] = match who {
        Who::AnySignedIn => &ACTORS,
        Who::PlatformReader => &[Admin, Readonly],
        Who::PlatformAdmin | Who::OrgPlatformAdmin => &[Admin],
        Who::OrgRead => &[Admin, Readonly, Owner, OrgAdmin, Member, Viewer],
        Who::OrgAdminRead => &[Admin, Readonly, Owner, OrgAdmin],
        Who::OrgAdmin => &[Admin, Owner, OrgAdmin],
        Who::OrgOwner => &[Admin, Owner],
        Who::OrgOwnerRead => &[Admin, Readonly, Owner],
        Who::OrgMember => &[Admin, Owner, OrgAdmin, Member, Viewer],
        Who::OrgWrite => &[Admin, Owner, OrgAdmin, Member],
        Who::VaultHolder => &[Member],
    };
    let org_route = !matches!(who, Who::AnySignedIn | Who::PlatformReader | Who::PlatformAdmin);
    if allowed.contains(&actor) {
        Expect::Allowed
    } else if org_route && actor == Outsider {
        Expect::Hidden
    } else {
        Expect::Forbidden
    }
}

/// Fresh resources for one attempt.
struct Fixture {
    org: Id,
    team: Id,
    target: Id,
    invitation: Id,
    model: Id,
    pending: Id,
    /// Unrestricted models for the actor's own key and own subscription.
    keyed_model: Id,
    open_model: Id,
    /// A document the target (a member) uploaded.
    document: Id,
    /// A webhook the owner made, and a delivery of it that failed.
    webhook: Id,
    delivery: Id,
    /// A vault on which the member actor, the target, the team and the client are readers;
    /// the client has a certificate.
    vault: Id,
    client: Id,
    certificate: Id,
}

struct Cast {
    sessions: Vec<(Actor, Session)>,
    target: Session,
}

impl Cast {
    fn id(&self, actor: Actor) -> Id {
        self.sessions.iter().find(|(a, _)| *a == actor).unwrap().1.id.parse().unwrap()
    }
}

fn model(id: Id, name: String, restricted: bool, now: purser_domain::Timestamp) -> Model {
    Model {
        id,
        name,
        provider: "mock".into(),
        description: None,
        deployments: Vec::new(),
        input_cost_per_token: TokenPrice::ZERO,
        output_cost_per_token: TokenPrice::ZERO,
        context_length: None,
        capabilities: vec![Capability::Chat],
        restricted,
        created_at: now,
        updated_at: now,
    }
}

async fn fixture(app: &TestApp, cast: &Cast) -> Fixture {
    let services = &app.services;
    let now = services.now();
    let next = || services.ids().next_id();
    let mut tx = services.store().begin().await.unwrap();
    let org = Organization {
        id: next(),
        name: "Matrix".into(),
        is_default: false,
        status: OrgStatus::Active,
        max_members: None,
        max_teams: None,
        max_storage_bytes: None,
        document_types: None,
        timestamp_uploads: false,
        created_at: now,
        updated_at: now,
    };
    orgs::insert(&mut tx, &org).await.unwrap();
    let target: Id = cast.target.id.parse().unwrap();
    for (actor, role) in [
        (Actor::Owner, OrgRole::Owner),
        (Actor::OrgAdmin, OrgRole::Admin),
        (Actor::Member, OrgRole::Member),
        (Actor::Viewer, OrgRole::Viewer),
    ] {
        orgs::add_member(&mut tx, org.id, cast.id(actor), role, now).await.unwrap();
    }
    orgs::add_member(&mut tx, org.id, target, OrgRole::Member, now).await.unwrap();
    let team = Team {
        id: next(),
        org_id: org.id,
        name: format!("Team {}", org.id),
        description: None,
        is_default: false,
        budget: None,
        budget_period: None,
        tpm_limit: None,
        rpm_limit: None,
        max_parallel: None,
        model_ids: vec![],
        permissions: vec![],
        created_at: now,
        updated_at: now,
    };
    teams::insert(&mut tx, &team).await.unwrap();
    teams::add_member(&mut tx, team.id, cast.id(Actor::Member), false, now).await.unwrap();
    teams::add_member(&mut tx, team.id, target, false, now).await.unwrap();
    let (vault, client, certificate) =
        vault_fixture(&mut tx, org.id, team.id, cast.id(Actor::Member), target, &next, now).await;
    let invitation = Invitation {
        id: next(),
        org_id: org.id,
        email: format!("invited-{}@example.com", org.id),
        role: OrgRole::Member,
        invited_by: cast.id(Actor::Owner),
        created_at: now,
        expires_at: now.plus_secs(INVITATION_TTL_SECS),
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    };
    invitations::insert(&mut tx, &invitation, &format!("digest-{}", invitation.id)).await.unwrap();
    let restricted = model(next(), format!("model-{}", org.id), true, now);
    let keyed = model(next(), format!("keyed-{}", org.id), false, now);
    let open = model(next(), format!("open-{}", org.id), false, now);
    for m in [&restricted, &keyed, &open] {
        models::insert(&mut tx, m).await.unwrap();
    }
    let pending = Subscription {
        id: next(),
        user_id: target,
        model_id: restricted.id,
        model_name: restricted.name.clone(),
        status: SubscriptionStatus::Pending,
        status_reason: None,
        created_at: now,
        updated_at: now,
    };
    subscriptions::insert(&mut tx, &pending).await.unwrap();
    tx.commit().await.unwrap();
    let uploaded = app.upload(&cast.target.token, &org.id.to_string(), "notes.txt", "text/plain", b"notes").await;
    let document = uploaded.expect(201)["document"]["id"].as_str().unwrap().parse().unwrap();
    let owner = &cast.sessions.iter().find(|(a, _)| *a == Actor::Owner).unwrap().1;
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "eventTypes": ["member.added"] });
    let created =
        app.post(&format!("/api/v1/organizations/{}/webhooks", org.id), Some(&owner.token), hook).await.expect(201);
    let webhook: Id = created["webhook"]["id"].as_str().unwrap().parse().unwrap();
    let delivery = Delivery {
        id: next(),
        webhook_id: webhook,
        event_id: next(),
        event_type: "member.added".into(),
        payload: "{}".into(),
        status: DeliveryStatus::Failed,
        attempts: 8,
        next_attempt_at: None,
        last_status_code: Some(500),
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    purser_store::webhooks::enqueue(&mut services.store().conn().await.unwrap(), &delivery).await.unwrap();
    Fixture {
        org: org.id,
        team: team.id,
        target,
        invitation: invitation.id,
        model: restricted.id,
        pending: pending.id,
        keyed_model: keyed.id,
        open_model: open.id,
        document,
        webhook,
        delivery: delivery.id,
        vault,
        client,
        certificate,
    }
}

/// A vault with readers (a member, the target, a team and a client), and the client with a
/// certificate.
async fn vault_fixture(
    tx: &mut purser_store::Tx,
    org: Id,
    team: Id,
    member: Id,
    target: Id,
    next: impl Fn() -> Id,
    now: purser_domain::Timestamp,
) -> (Id, Id, Id) {
    let vault = Vault {
        id: next(),
        org_id: org,
        name: format!("vault-{org}"),
        description: None,
        sync_status: SyncStatus::Pending,
        sync_error: None,
        synced_at: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    };
    vaults::insert(tx, &vault).await.unwrap();
    let client = ServiceClient {
        id: next(),
        org_id: org,
        name: "svc".into(),
        description: None,
        disabled: false,
        created_by: None,
        created_at: now,
        updated_at: now,
    };
    clients::insert(tx, &client).await.unwrap();
    let certificate = next();
    let public_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes();
    let cert = Certificate {
        id: certificate,
        client_id: client.id,
        org_id: org,
        kid: Certificate::kid_for(client.id, certificate),
        name: "k".into(),
        public_key,
        created_at: now,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    clients::insert_certificate(tx, &cert).await.unwrap();
    for grantee in [Grantee::User(member), Grantee::User(target), Grantee::Team(team), Grantee::Client(client.id)] {
        let grant = Grant {
            vault_id: vault.id,
            grantee,
            role: VaultRole::Reader,
            granted_by: None,
            created_at: now,
            updated_at: now,
        };
        vaults::put_grant(tx, &grant).await.unwrap();
    }
    (vault.id, client.id, certificate)
}

/// The routes, with who they are for and a valid body; `{...}` are filled from a fixture.
fn routes(f: &Fixture, n: usize) -> Vec<(&'static str, &'static str, Who, Option<Value>)> {
    use Who::*;
    let model = json!({ "name": format!("new-model-{n}"), "provider": "mock", "inputCostPerToken": "0", "outputCostPerToken": "0", "capabilities": ["chat"] });
    vec![
        ("get", "/api/v1/auth/me", AnySignedIn, None),
        ("post", "/api/v1/auth/logout", AnySignedIn, None),
        ("post", "/api/v1/auth/verify-email/send", AnySignedIn, Some(json!({ "emailId": "OWN" }))),
        (
            "post",
            "/api/v1/auth/password",
            AnySignedIn,
            Some(json!({ "currentPassword": "not the password", "newPassword": "another long password" })),
        ),
        ("get", "/api/v1/auth/emails", AnySignedIn, None),
        ("post", "/api/v1/auth/emails", AnySignedIn, Some(json!({ "email": format!("extra-{n}@example.com") }))),
        ("delete", "/api/v1/auth/emails/{id}", AnySignedIn, None),
        ("post", "/api/v1/auth/emails/{id}/primary", AnySignedIn, None),
        ("get", "/api/v1/auth/sessions", AnySignedIn, None),
        ("delete", "/api/v1/auth/sessions/{id}", AnySignedIn, None),
        ("post", "/api/v1/auth/sessions/revoke-others", AnySignedIn, None),
        ("get", "/api/v1/models", AnySignedIn, None),
        ("get", "/api/v1/models/{id}", AnySignedIn, None),
        ("post", "/api/v1/subscriptions", AnySignedIn, Some(json!({ "modelId": f.model }))),
        ("get", "/api/v1/subscriptions", AnySignedIn, None),
        ("get", "/api/v1/subscriptions/{id}", AnySignedIn, None),
        ("post", "/api/v1/subscriptions/{id}/cancel", AnySignedIn, None),
        ("post", "/api/v1/api-keys", AnySignedIn, Some(json!({ "name": "k", "modelIds": [f.keyed_model] }))),
        ("get", "/api/v1/api-keys", AnySignedIn, None),
        ("get", "/api/v1/api-keys/{id}", AnySignedIn, None),
        ("delete", "/api/v1/api-keys/{id}", AnySignedIn, None),
        ("get", "/api/v1/usage/summary", AnySignedIn, None),
        ("get", "/api/v1/usage/timeseries", AnySignedIn, None),
        ("get", "/api/v1/usage/budgets", AnySignedIn, None),
        ("get", "/api/v1/usage/records", AnySignedIn, None),
        ("get", "/api/v1/usage/export", AnySignedIn, None),
        ("get", "/api/v1/invitations", AnySignedIn, None),
        ("post", "/api/v1/invitations/accept", AnySignedIn, Some(json!({ "token": "unknown" }))),
        ("post", "/api/v1/organizations", AnySignedIn, Some(json!({ "name": "Mine" }))),
        ("get", "/api/v1/organizations", AnySignedIn, None),
        ("post", "/api/v1/admin/models", PlatformAdmin, Some(model)),
        ("patch", "/api/v1/admin/models/{id}", PlatformAdmin, Some(json!({ "description": "changed" }))),
        ("delete", "/api/v1/admin/models/{id}", PlatformAdmin, None),
        ("post", "/api/v1/admin/models/{id}/deployments", PlatformAdmin, Some(json!({ "upstreamUrl": "http://x/v1" }))),
        ("patch", "/api/v1/admin/models/{id}/deployments/{deploymentId}", PlatformAdmin, Some(json!({ "weight": 2 }))),
        ("delete", "/api/v1/admin/models/{id}/deployments/{deploymentId}", PlatformAdmin, None),
        ("get", "/api/v1/admin/subscriptions", PlatformReader, None),
        ("post", "/api/v1/admin/subscriptions/{id}/approve", PlatformAdmin, None),
        ("post", "/api/v1/admin/subscriptions/{id}/deny", PlatformAdmin, None),
        ("get", "/api/v1/admin/audit", PlatformReader, None),
        ("get", "/api/v1/users", PlatformReader, None),
        ("get", "/api/v1/users/{id}", PlatformReader, None),
        ("patch", "/api/v1/users/{id}", PlatformAdmin, Some(json!({ "role": "user" }))),
        ("get", "/api/v1/users/{id}/limits", PlatformReader, None),
        ("put", "/api/v1/users/{id}/limits", PlatformAdmin, Some(json!({ "rpmLimit": 60 }))),
        ("get", "/api/v1/organizations/{org}", OrgRead, None),
        ("patch", "/api/v1/organizations/{org}", OrgAdmin, Some(json!({ "name": "Renamed" }))),
        ("delete", "/api/v1/organizations/{org}", OrgOwner, None),
        ("post", "/api/v1/organizations/{org}/suspend", OrgPlatformAdmin, None),
        ("post", "/api/v1/organizations/{org}/resume", OrgPlatformAdmin, None),
        ("get", "/api/v1/organizations/{org}/members", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/members/{user}", OrgRead, None),
        ("patch", "/api/v1/organizations/{org}/members/{user}", OrgAdmin, Some(json!({ "role": "viewer" }))),
        ("delete", "/api/v1/organizations/{org}/members/{user}", OrgAdmin, None),
        ("post", "/api/v1/organizations/{org}/transfer-ownership", OrgOwner, Some(json!({ "userId": f.target }))),
        ("post", "/api/v1/organizations/{org}/leave", OrgMember, None),
        ("get", "/api/v1/organizations/{org}/audit-logs", OrgOwnerRead, None),
        (
            "post",
            "/api/v1/organizations/{org}/invitations",
            OrgAdmin,
            Some(json!({ "email": format!("guest-{n}@example.com"), "role": "member" })),
        ),
        ("get", "/api/v1/organizations/{org}/invitations", OrgAdminRead, None),
        ("delete", "/api/v1/organizations/{org}/invitations/{invitation}", OrgAdmin, None),
        ("post", "/api/v1/organizations/{org}/teams", OrgAdmin, Some(json!({ "name": format!("New team {n}") }))),
        ("get", "/api/v1/organizations/{org}/teams", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/teams/{team}", OrgRead, None),
        ("patch", "/api/v1/organizations/{org}/teams/{team}", OrgAdmin, Some(json!({ "description": "changed" }))),
        ("delete", "/api/v1/organizations/{org}/teams/{team}", OrgAdmin, None),
        (
            "put",
            "/api/v1/organizations/{org}/teams/{team}/permissions",
            OrgOwner,
            Some(json!({ "permissions": ["manageTeams"] })),
        ),
        ("post", "/api/v1/organizations/{org}/teams/{team}/members", OrgAdmin, Some(json!({ "userId": "VIEWER" }))),
        ("get", "/api/v1/organizations/{org}/teams/{team}/members", OrgRead, None),
        (
            "patch",
            "/api/v1/organizations/{org}/teams/{team}/members/{user}",
            OrgAdmin,
            Some(json!({ "manager": true })),
        ),
        ("delete", "/api/v1/organizations/{org}/teams/{team}/members/{user}", OrgAdmin, None),
        // Uploads are multipart (sent by `call`, below); the rest JSON or nothing.
        ("post", "/api/v1/organizations/{org}/documents", OrgWrite, None),
        ("get", "/api/v1/organizations/{org}/documents", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/documents/{doc}", OrgRead, None),
        ("patch", "/api/v1/organizations/{org}/documents/{doc}", OrgAdmin, Some(json!({ "name": "renamed.txt" }))),
        ("delete", "/api/v1/organizations/{org}/documents/{doc}", OrgAdmin, None),
        ("get", "/api/v1/organizations/{org}/documents/{doc}/content", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/documents/{doc}/download-url", OrgRead, None),
        // No time-stamping authority here: those allowed are told so (409).
        (
            "post",
            "/api/v1/organizations/{org}/documents/timestamps",
            OrgWrite,
            Some(json!({ "documentIds": [f.document.to_string()] })),
        ),
        ("get", "/api/v1/organizations/{org}/documents/{doc}/timestamp.tsr", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/storage", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/orphaned-files", OrgAdmin, None),
        ("delete", "/api/v1/organizations/{org}/orphaned-files", OrgAdmin, None),
        (
            "post",
            "/api/v1/organizations/{org}/webhooks",
            OrgAdmin,
            Some(json!({ "url": "http://127.0.0.1:9/new", "eventTypes": ["*"] })),
        ),
        ("get", "/api/v1/organizations/{org}/webhooks", OrgAdminRead, None),
        ("get", "/api/v1/organizations/{org}/webhooks/{webhook}", OrgAdminRead, None),
        ("patch", "/api/v1/organizations/{org}/webhooks/{webhook}", OrgAdmin, Some(json!({ "active": false }))),
        ("delete", "/api/v1/organizations/{org}/webhooks/{webhook}", OrgAdmin, None),
        ("get", "/api/v1/organizations/{org}/webhooks/{webhook}/deliveries", OrgAdminRead, None),
        ("post", "/api/v1/organizations/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver", OrgAdmin, None),
        ("post", "/api/v1/organizations/{org}/vaults", OrgAdmin, Some(json!({ "name": format!("vault {n}") }))),
        ("get", "/api/v1/organizations/{org}/vaults", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/vaults/{vault}", OrgRead, None),
        ("patch", "/api/v1/organizations/{org}/vaults/{vault}", OrgAdmin, Some(json!({ "description": "changed" }))),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}", OrgAdmin, None),
        ("get", "/api/v1/organizations/{org}/vaults/{vault}/grants", OrgRead, None),
        (
            "put",
            "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}",
            OrgAdmin,
            Some(json!({ "role": "writer" })),
        ),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}/grants/users/{user}", OrgAdmin, None),
        (
            "put",
            "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}",
            OrgAdmin,
            Some(json!({ "role": "writer" })),
        ),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}/grants/teams/{team}", OrgAdmin, None),
        (
            "put",
            "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}",
            OrgAdmin,
            Some(json!({ "role": "writer" })),
        ),
        ("delete", "/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}", OrgAdmin, None),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/tokens", VaultHolder, Some(json!({ "role": "reader" }))),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/tokens/revoke", OrgAdmin, None),
        ("post", "/api/v1/organizations/{org}/vaults/{vault}/sync", OrgAdmin, None),
        ("post", "/api/v1/organizations/{org}/clients", OrgAdmin, Some(json!({ "name": format!("client {n}") }))),
        ("get", "/api/v1/organizations/{org}/clients", OrgRead, None),
        ("get", "/api/v1/organizations/{org}/clients/{client}", OrgRead, None),
        ("patch", "/api/v1/organizations/{org}/clients/{client}", OrgAdmin, Some(json!({ "disabled": true }))),
        ("delete", "/api/v1/organizations/{org}/clients/{client}", OrgAdmin, None),
        (
            "post",
            "/api/v1/organizations/{org}/clients/{client}/certificates",
            OrgAdmin,
            Some(json!({ "name": "made" })),
        ),
        ("delete", "/api/v1/organizations/{org}/clients/{client}/certificates/{certificate}", OrgAdmin, None),
    ]
}

/// Routes on the caller's own resources: with the caller's own resource they must succeed.
const OWN_RESOURCES: [&str; 6] = [
    "/api/v1/auth/emails/{id}",
    "/api/v1/auth/emails/{id}/primary",
    "/api/v1/auth/sessions/{id}",
    "/api/v1/subscriptions/{id}",
    "/api/v1/subscriptions/{id}/cancel",
    "/api/v1/api-keys/{id}",
];

/// Creates one of the actor's own resources for `template` and returns its id.
async fn own_resource(app: &TestApp, f: &Fixture, session: &Session, template: &str) -> String {
    let services = &app.services;
    let user: Id = session.id.parse().unwrap();
    let now = services.now();
    let mut conn = services.store().conn().await.unwrap();
    match template {
        "/api/v1/auth/emails/{id}" | "/api/v1/auth/emails/{id}/primary" => {
            let email = UserEmail {
                id: services.ids().next_id(),
                user_id: user,
                email: format!("own-{}@example.com", services.ids().next_id()),
                is_primary: false,
                verified_at: Some(now),
                created_at: now,
            };
            emails::insert(&mut conn, &email).await.unwrap();
            email.id.to_string()
        }
        "/api/v1/auth/sessions/{id}" => {
            let other = relogin(app, session).await;
            let sessions = app.get("/api/v1/auth/sessions", Some(&other.token)).await.expect(200);
            let current = sessions.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
            current["id"].as_str().unwrap().to_owned()
        }
        "/api/v1/subscriptions/{id}" | "/api/v1/subscriptions/{id}/cancel" => {
            let subscription = Subscription {
                id: services.ids().next_id(),
                user_id: user,
                model_id: f.open_model,
                model_name: format!("open-{}", f.org),
                status: SubscriptionStatus::Active,
                status_reason: None,
                created_at: now,
                updated_at: now,
            };
            subscriptions::insert(&mut conn, &subscription).await.unwrap();
            subscription.id.to_string()
        }
        "/api/v1/api-keys/{id}" => app.key(session, &[&f.keyed_model.to_string()], json!({})).await.0,
        other => panic!("no own resource for {other}"),
    }
}

/// A fresh session of the same user, signing in with their current address.
async fn relogin(app: &TestApp, session: &Session) -> Session {
    let me = app.get("/api/v1/auth/me", Some(&session.token)).await.expect(200);
    app.login(me["email"].as_str().unwrap()).await
}

/// How many audit entries there are, and whether the newest records a success.
async fn newest_audit(app: &TestApp) -> (u64, bool) {
    let mut conn = app.services.store().conn().await.unwrap();
    let page = purser_domain::page::PageRequest { page: 1, limit: 1 };
    let newest = purser_store::audit::list(&mut conn, &Default::default(), page).await.unwrap();
    (newest.total, newest.items.first().is_some_and(|e| e.success))
}

/// Routes anyone may call signed out; they have no role dimension.
const PUBLIC: [&str; 10] = [
    // A signed download link: its signature is its authorization (see documents.rs).
    "/api/v1/document-links/{org}/{doc}",
    // Public keys; and the token endpoint, where a client assertion authenticates (vaults.rs).
    "/api/v1/organizations/{org}/jwks.json",
    "/api/v1/token",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/login/cookie",
    "/api/v1/auth/refresh",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/password-reset/request",
    "/api/v1/auth/password-reset",
];

fn judge(reply: &crate::harness::Reply, what: &str) -> Expect {
    match (reply.status.as_u16(), reply.code()) {
        (403, _) => Expect::Forbidden,
        (404, "organization_not_found") => Expect::Hidden,
        (401, _) => panic!("{what}: signed out? {}", reply.body),
        (500.., _) => panic!("{what}: {}", reply.body),
        _ => Expect::Allowed,
    }
}

both! {
    async fn every_route_answers_every_role_as_the_policy_says(app: TestApp) {
        let mut sessions = Vec::new();
        for actor in ACTORS {
            let email = format!("{actor:?}@example.com").to_lowercase();
            let session = match actor {
                Actor::Admin => app.admin().await,
                Actor::Readonly => app.with_role(&email, PlatformRole::AdminReadonly).await,
                _ => app.verified_user(&email).await,
            };
            sessions.push((actor, session));
        }
        let cast = Cast { sessions, target: app.user("target@example.com").await };

        // Every management route of the real route table is in the matrix; which take a
        // body and which a query string is read from the same table.
        let spec = serde_json::to_value(purser_api::openapi()).unwrap();
        let probe = fixture(&app, &cast).await;
        let table = routes(&probe, 0);
        for (path, operations) in spec["paths"].as_object().unwrap() {
            if !path.starts_with("/api/v1/") || PUBLIC.contains(&path.as_str()) {
                continue;
            }
            for method in operations.as_object().unwrap().keys() {
                assert!(table.iter().any(|(m, p, _, _)| m == method && p == path), "{method} {path} is not in the role matrix");
            }
        }
        let inputs_of = |method: &str, path: &str| -> Vec<BadInput> {
            let operation = &spec["paths"][path][method];
            let mut bad = Vec::new();
            if let Some(body) = operation.get("requestBody") {
                // A body that may be left out is only refused when it is sent wrong.
                let optional = body.get("required") != Some(&Value::Bool(true));
                bad.extend(BadInput::BODIES.into_iter().filter(|b| !(optional && *b == BadInput::NoBody)));
            }
            let params = operation["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "query") {
                bad.push(BadInput::BadQuery);
            }
            bad
        };

        let mut n = 0;
        let mut bad_sent = 0;
        for index in 0..table.len() {
            for (actor, session) in &cast.sessions {
                n += 1;
                let f = fixture(&app, &cast).await;
                let (method, template, who, body) = routes(&f, n).swap_remove(index);
                let id = if template.starts_with("/api/v1/admin/models") {
                    f.model.to_string()
                } else if template.starts_with("/api/v1/admin/subscriptions") {
                    f.pending.to_string()
                } else if template.starts_with("/api/v1/users/") {
                    f.target.to_string()
                } else if template == "/api/v1/models/{id}" {
                    f.open_model.to_string()
                } else if OWN_RESOURCES.contains(&template) {
                    own_resource(&app, &f, session, template).await
                } else {
                    "1".into()
                };
                let path = template
                    .replace("{org}", &f.org.to_string())
                    .replace("{team}", &f.team.to_string())
                    .replace("{user}", &f.target.to_string())
                    .replace("{invitation}", &f.invitation.to_string())
                    .replace("{doc}", &f.document.to_string())
                    .replace("{webhook}", &f.webhook.to_string())
                    .replace("{delivery}", &f.delivery.to_string())
                    .replace("{vault}", &f.vault.to_string())
                    .replace("{client}", &f.client.to_string())
                    .replace("{certificate}", &f.certificate.to_string())
                    .replace("{deploymentId}", "1")
                    .replace("{id}", &id);
                let own_email = if template == "/api/v1/auth/verify-email/send" {
                    own_resource(&app, &f, session, "/api/v1/auth/emails/{id}").await
                } else {
                    String::new()
                };
                let body = body.map(|b| {
                    let text = b.to_string().replace("VIEWER", &cast.id(Actor::Viewer).to_string()).replace("OWN", &own_email);
                    serde_json::from_str::<Value>(&text).unwrap()
                });
                // Signing out ends the session; use a fresh one for that.
                let token = if template == "/api/v1/auth/logout" { relogin(&app, session).await.token } else { session.token.clone() };
                let verb = || Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let expected = expect(who, *actor);

                // Bad input first, on the same fresh resources: those without the right are
                // refused as with a valid body; the others are told what is wrong, and
                // nothing changes. Either way the attempt at a change is audited.
                for bad in inputs_of(method, template) {
                    bad_sent += 1;
                    let what = format!("{actor:?} {method} {template} with {bad:?}");
                    let audit_before = newest_audit(&app).await;
                    let reply = bad.send(&app, verb(), &path, &token).await;
                    let got = judge(&reply, &what);
                    if expected == Expect::Allowed {
                        assert!(matches!(reply.status.as_u16(), 400 | 415 | 422), "{what} answered {}: {}", reply.status, reply.body);
                    } else {
                        assert_eq!(got, expected, "{what} answered {}: {}", reply.status, reply.body);
                    }
                    if method != "get" {
                        let (total, success) = newest_audit(&app).await;
                        assert!(total > audit_before.0 && !success, "{what} left no failed attempt in the audit log");
                    }
                }

                let what = format!("{actor:?} {method} {template}");
                let audit_before = newest_audit(&app).await;
                let reply = if template == "/api/v1/organizations/{org}/documents" && method == "post" {
                    app.upload(&token, &f.org.to_string(), &format!("upload-{n}.txt"), "text/plain", format!("upload {n}").as_bytes()).await
                } else {
                    app.call(verb(), &path, Some(&token), body).await
                };
                assert_eq!(judge(&reply, &what), expected, "{what} answered {}: {}", reply.status, reply.body);
                if OWN_RESOURCES.contains(&template) {
                    assert!(reply.status.is_success(), "{what} on the caller's own resource answered {}: {}", reply.status, reply.body);
                }
                // Every change, and every refused attempt at one, leaves an audit entry.
                if method != "get" {
                    let (total, success) = newest_audit(&app).await;
                    assert!(total > audit_before.0, "{what} left no audit entry");
                    assert_eq!(success, reply.status.is_success(), "{what}: the entry's outcome");
                }
            }
        }
        assert!(bad_sent > 300, "only {bad_sent} requests with bad input were sent");
    }
}
