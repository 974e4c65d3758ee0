//! Starts Purser in-process on `127.0.0.1:0` with a fresh database and talks to it over HTTP.

use std::sync::Arc;

use purser::Purser;
use purser::config::{Config, Secret};
use purser_domain::{Clock, ManualClock, PlatformRole, SystemClock, Timestamp};
use purser_gateway::Gateway;
use purser_services::{ClientInfo, Services};
use purser_store::Backend;
use purser_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem `code`, for error answers.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.body);
        self.body
    }
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub token: String,
    pub refresh: String,
}

pub struct Options {
    /// A clock the test moves by hand; the wall clock when `None`.
    pub clock: Option<Arc<ManualClock>>,
    /// Changes to the configuration.
    pub tweak: Box<dyn Fn(&mut Config) + Send + Sync>,
    /// Run on another app's database (a second replica) instead of a fresh one.
    pub database_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self { clock: None, tweak: Box::new(|_| {}), database_url: None }
    }
}

impl Options {
    pub fn tweak(f: impl Fn(&mut Config) + Send + Sync + 'static) -> Self {
        Self { tweak: Box::new(f), ..Self::default() }
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub services: Arc<Services>,
    pub gateway: Arc<Gateway>,
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: TestDatabase,
    dir: tempfile::TempDir,
}

/// A time well inside the validity of everything the tests create.
pub const T0: Timestamp = Timestamp::from_millis(1_790_000_000_000);

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, options: Options) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDatabase::create(backend).await;
        let database_url = options.database_url.clone().unwrap_or_else(|| db.url.clone());
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        config.database.url = Some(Secret::from(database_url.as_str()));
        config.database.max_connections = Some(5);
        config.gateway.connect_timeout_ms = 500;
        // Tests sign in and register many times from one address; the rate-limit tests
        // set their own limits.
        for rule in [
            &mut config.limits.login_per_ip,
            &mut config.limits.login_failures_per_account_and_ip,
            &mut config.limits.login_failures_per_account,
            &mut config.limits.register_per_ip,
            &mut config.limits.verify_per_account,
            &mut config.limits.reset_per_ip,
            &mut config.limits.reset_per_email,
        ] {
            rule.limit = 100_000;
        }
        (options.tweak)(&mut config);
        let clock: Arc<dyn Clock> = match &options.clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let purser = Purser::build(&config, clock).await.expect("build purser");
        let (services, gateway) = (purser.services.clone(), purser.gateway.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(purser.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            services,
            gateway,
            database_url,
            stop: Some(stop),
            server: Some(server),
            _db: db,
            dir,
        }
    }

    /// The data directory the app runs with.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Shuts the server down as SIGTERM would: drain, flush usage, release.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server");
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        match body {
            Some(body) => {
                let bytes = serde_json::to_vec(&body).unwrap();
                self.call_raw(method, path, token, Some("application/json"), Some(bytes)).await
            }
            None => self.call_raw(method, path, token, None, None).await,
        }
    }

    /// A request with a body sent as given: `content_type` and `body` both `None` send
    /// nothing at all.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// A GET whose answer is plain text (such as `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.http.get(format!("{}{path}", self.base)).send().await.unwrap().text().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    pub async fn register(&self, email: &str) {
        self.post("/api/v1/auth/register", None, json!({ "email": email, "password": PASSWORD, "name": "Test User" }))
            .await
            .expect(202);
    }

    pub async fn login(&self, email: &str) -> Session {
        let body =
            self.post("/api/v1/auth/login", None, json!({ "email": email, "password": PASSWORD })).await.expect(200);
        Session {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            token: body["accessToken"].as_str().unwrap().to_owned(),
            refresh: body["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// Every mail written to the outbox so far.
    pub fn mails(&self) -> Vec<Value> {
        let path = self.dir.path().join("mail").join("outbox.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// The token in the newest mail to `to` whose subject contains `subject`, waiting for it
    /// to arrive (some mails are sent in the background).
    pub async fn mailed_token(&self, to: &str, subject: &str) -> String {
        for _ in 0..200 {
            let found = self
                .mails()
                .into_iter()
                .rev()
                .find(|m| m["to"] == to && m["subject"].as_str().unwrap().contains(subject));
            if let Some(mail) = found {
                let text = mail["text"].as_str().unwrap();
                let start = text.find("token=").expect("a link with a token") + 6;
                return text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no mail to {to} about {subject:?}: {:?}", self.mails());
    }

    /// Registers, verifies the address with the mailed token, and signs in.
    pub async fn verified_user(&self, email: &str) -> Session {
        self.register(email).await;
        let token = self.mailed_token(email, "Confirm").await;
        self.post("/api/v1/auth/verify-email", None, json!({ "token": token })).await.expect(200);
        self.login(email).await
    }

    /// Registers and signs in a user.
    pub async fn user(&self, email: &str) -> Session {
        self.register(email).await;
        self.login(email).await
    }

    /// A signed-in platform admin.
    pub async fn admin(&self) -> Session {
        self.services
            .ensure_admin("root@example.com", Some(PASSWORD.into()), None, &ClientInfo::system())
            .await
            .unwrap();
        self.login("root@example.com").await
    }

    /// A signed-in, verified user with the given platform role (set directly in the store).
    pub async fn with_role(&self, email: &str, role: PlatformRole) -> Session {
        let session = self.verified_user(email).await;
        let mut conn = self.services.store().conn().await.unwrap();
        purser_store::users::set_role(&mut conn, session.id.parse().unwrap(), role, self.services.now()).await.unwrap();
        session
    }

    /// Creates a model as `admin`; `overrides` replace fields of a valid mock model.
    pub async fn model(&self, admin: &Session, overrides: Value) -> Value {
        let mut body = json!({
            "name": "mock-model",
            "provider": "mock",
            "inputCostPerToken": "0.000001",
            "outputCostPerToken": "0.000002",
            "capabilities": ["chat"],
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post("/api/v1/admin/models", Some(&admin.token), body).await.expect(201)
    }

    /// Subscribes `user` to each model and creates a key for them; returns `(key id, secret)`.
    pub async fn key(&self, user: &Session, model_ids: &[&str], extra: Value) -> (String, String) {
        for id in model_ids {
            let reply = self.post("/api/v1/subscriptions", Some(&user.token), json!({ "modelId": id })).await;
            assert!(reply.status == 201 || reply.code() == "already_subscribed", "{}", reply.body);
        }
        let mut body = json!({ "name": "test key", "modelIds": model_ids });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let created = self.post("/api/v1/api-keys", Some(&user.token), body).await.expect(201);
        (created["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned())
    }

    /// A chat completion through the gateway.
    pub async fn chat(&self, key: &str, body: Value) -> Reply {
        self.post("/v1/chat/completions", Some(key), body).await
    }

    /// Uploads `bytes` as a document named `filename` of `content_type` into `org`.
    pub async fn upload(&self, token: &str, org: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Reply {
        let part = Part { name: "file", filename: Some(filename), content_type: Some(content_type), bytes };
        self.upload_parts(token, org, &[part]).await
    }

    /// Uploads a multipart body of `parts` into `org`.
    pub async fn upload_parts(&self, token: &str, org: &str, parts: &[Part<'_>]) -> Reply {
        let path = format!("/api/v1/organizations/{org}/documents");
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        self.call_raw(Method::POST, &path, Some(token), Some(&content_type), Some(multipart(parts))).await
    }

    /// Usage totals of the signed-in user, after everything metered so far is written.
    pub async fn usage(&self, session: &Session, query: &str) -> Value {
        self.gateway.flush_usage().await;
        self.get(&format!("/api/v1/usage/summary{query}"), Some(&session.token)).await.expect(200)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value of the first sample of metric `name` (any labels) in a `/metrics` text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// What a request sends besides a valid body: nothing at all, JSON cut short, well-formed
/// JSON of the wrong shape (an unknown field whose name holds a NUL), or a query string
/// with a bad page and a control character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadInput {
    NoBody,
    Malformed,
    WrongShape,
    BadQuery,
}

impl BadInput {
    pub const BODIES: [BadInput; 3] = [BadInput::NoBody, BadInput::Malformed, BadInput::WrongShape];

    /// Sends `method path` with this bad input instead of a valid one.
    pub async fn send(self, app: &TestApp, method: Method, path: &str, token: &str) -> Reply {
        let json = Some("application/json");
        match self {
            BadInput::NoBody => app.call_raw(method, path, Some(token), None, None).await,
            BadInput::Malformed => app.call_raw(method, path, Some(token), json, Some(br#"{"name": "#.to_vec())).await,
            BadInput::WrongShape => {
                let body = br#"{"unexpected\u0000": [1, {"deep": "\u0007"}]}"#.to_vec();
                app.call_raw(method, path, Some(token), json, Some(body)).await
            }
            BadInput::BadQuery => {
                let path = format!("{path}?page=0&limit=%00&search=a%00b");
                app.call_raw(method, &path, Some(token), None, None).await
            }
        }
    }
}

pub fn chat_body(model: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": "count these five words" }] })
}

/// One part of a `multipart/form-data` body.
pub struct Part<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub bytes: &'a [u8],
}

pub const BOUNDARY: &str = "purser-test-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body (boundary [`BOUNDARY`]) of `parts`.
pub fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"", part.name).as_bytes(),
        );
        if let Some(filename) = part.filename {
            body.extend_from_slice(format!("; filename=\"{filename}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}
