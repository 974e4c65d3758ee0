//! Configuration: defaults in code, then an optional TOML file, then environment variables
//! `PURSER__SECTION__KEY` (e.g. `PURSER__DATABASE__URL`), then command-line flags.
//! Everything is checked at start-up; a bad value stops Purser with a message naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that never appears in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database, the generated master key and other local files live.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub secrets: SecretsConfig,
    pub bootstrap: BootstrapConfig,
    pub gateway: GatewaySettings,
    pub mail: MailConfig,
    pub tenancy: TenancyConfig,
    pub storage: StorageConfig,
    pub events: EventsConfig,
    pub timestamps: TimestampsConfig,
    pub vaults: VaultsConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            secrets: SecretsConfig::default(),
            bootstrap: BootstrapConfig::default(),
            gateway: GatewaySettings::default(),
            mail: MailConfig::default(),
            tenancy: TenancyConfig::default(),
            storage: StorageConfig::default(),
            events: EventsConfig::default(),
            timestamps: TimestampsConfig::default(),
            vaults: VaultsConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The URL users reach Purser at, for links in mails; default `http://<listen>`.
    pub public_url: Option<String>,
    /// Largest management API request body.
    pub max_body_bytes: usize,
    /// How long shutdown waits for requests in flight (streams included) before cutting them.
    pub shutdown_grace_secs: u64,
    /// Serving threads, each a single-threaded runtime that keeps its connections to their
    /// end; default: one per core. Background work runs on a separate runtime.
    pub threads: Option<usize>,
    /// Mark browser session cookies `Secure` (HTTPS only; browsers count http://localhost
    /// as secure). Turn off only behind plain HTTP on another host name.
    pub secure_cookies: bool,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            threads: None,
            secure_cookies: true,
            metrics_token: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`; default: SQLite in the data dir.
    pub url: Option<Secret>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        let d = purser_services::AuthSettings::default();
        Self {
            issuer: d.issuer,
            access_token_ttl_secs: d.access_token_ttl_secs,
            refresh_token_ttl_secs: d.refresh_token_ttl_secs,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// 64 hex characters. Encrypts stored secrets and signs tokens; every replica needs the
    /// same one. Without it, one is generated into `<data_dir>/master.key`.
    pub master_key: Option<Secret>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Created (or promoted) as a platform admin at start.
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    pub connect_timeout_ms: u64,
    /// Until a model server's response headers arrive (for a non-streamed answer, the
    /// whole generation).
    pub first_byte_timeout_ms: u64,
    /// Longest silence between two chunks of a streamed answer.
    pub stream_idle_timeout_ms: u64,
    /// Longest a request may take, retries and streaming included.
    pub total_timeout_ms: u64,
    /// Further attempts after a failure that reached the client with nothing yet.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// Consecutive failures that take a deployment out of rotation...
    pub breaker_failures: u32,
    /// ...for this long, before one probe request tries it again.
    pub breaker_cooldown_ms: u64,
    pub max_request_bytes: usize,
    /// Usage records each serving thread holds in memory when the database is slow or down;
    /// beyond that, new ones are dropped and counted (`purser_usage_dropped_total`).
    pub usage_buffer: usize,
    /// How often metered usage is written to the database, in milliseconds.
    pub usage_flush_ms: u64,
    pub resync_interval_secs: u64,
    /// How often the change log is read for changes made through other replicas.
    pub change_poll_ms: u64,
    /// With `limits.redis_url`: how often replicas exchange their gateway counts
    /// (requests, tokens, spend, requests in flight) through Redis.
    pub shared_sync_ms: u64,
    /// When a client leaves a stream before its end, how long the rest is read for the
    /// usage the model server sends last; without it, Purser counts the tokens itself.
    pub usage_wait_after_disconnect_ms: u64,
    /// The longest answer assumed (in tokens) for a request that sets no `max_tokens`, to
    /// a model without a context length: what it reserves of its budgets.
    pub default_max_output_tokens: u64,
    /// Whether answers to a key with limits carry its `x-ratelimit-*` headers, as OpenAI's
    /// carry an organization's.
    pub rate_limit_headers: bool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Default for GatewaySettings {
    fn default() -> Self {
        let d = purser_gateway::GatewayConfig::default();
        Self {
            connect_timeout_ms: millis(d.connect_timeout),
            first_byte_timeout_ms: millis(d.first_byte_timeout),
            stream_idle_timeout_ms: millis(d.stream_idle_timeout),
            total_timeout_ms: millis(d.total_timeout),
            retries: d.retries,
            retry_backoff_ms: millis(d.retry_backoff),
            breaker_failures: d.breaker.failures,
            breaker_cooldown_ms: millis(d.breaker.cooldown),
            max_request_bytes: d.max_request_bytes,
            usage_buffer: d.meter.capacity,
            usage_flush_ms: millis(d.meter.flush_interval),
            resync_interval_secs: d.resync_interval.as_secs(),
            change_poll_ms: millis(d.change_poll_interval),
            shared_sync_ms: 100,
            usage_wait_after_disconnect_ms: millis(d.usage_wait_after_disconnect),
            default_max_output_tokens: d.default_max_output_tokens,
            rate_limit_headers: d.rate_limit_headers,
        }
    }
}

impl GatewaySettings {
    /// The gateway's settings; with `limits`' Redis, limits and spend shared with the
    /// other replicas.
    pub fn to_gateway_config(&self, limits: &LimitsConfig) -> purser_gateway::GatewayConfig {
        let d = purser_gateway::GatewayConfig::default();
        let shared = limits.redis_url.as_ref().map(|url| purser_gateway::shared::SharedConfig {
            url: url.expose().to_owned(),
            prefix: limits.redis_prefix.clone(),
            interval: Duration::from_millis(self.shared_sync_ms),
        });
        purser_gateway::GatewayConfig {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            first_byte_timeout: Duration::from_millis(self.first_byte_timeout_ms),
            stream_idle_timeout: Duration::from_millis(self.stream_idle_timeout_ms),
            total_timeout: Duration::from_millis(self.total_timeout_ms),
            retries: self.retries,
            retry_backoff: Duration::from_millis(self.retry_backoff_ms),
            breaker: purser_gateway::BreakerPolicy {
                failures: self.breaker_failures,
                cooldown: Duration::from_millis(self.breaker_cooldown_ms),
            },
            max_request_bytes: self.max_request_bytes,
            resync_interval: Duration::from_secs(self.resync_interval_secs),
            change_poll_interval: Duration::from_millis(self.change_poll_ms),
            meter: purser_gateway::meter::MeterConfig {
                capacity: self.usage_buffer,
                flush_interval: Duration::from_millis(self.usage_flush_ms),
                ..d.meter
            },
            shared,
            usage_wait_after_disconnect: Duration::from_millis(self.usage_wait_after_disconnect_ms),
            default_max_output_tokens: self.default_max_output_tokens,
            rate_limit_headers: self.rate_limit_headers,
            ..d
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://user:password@host:port` or `smtps://...`. Without it, mail is written to
    /// `outbox` (one JSON object per line) so the mail flows work with no mail server.
    pub smtp_url: Option<Secret>,
    pub from: String,
    /// Default `<data_dir>/mail/outbox.jsonl`.
    pub outbox: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self { smtp_url: None, from: "Purser <purser@localhost>".into(), outbox: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenancyConfig {
    /// How long a deleted organization's data is kept before it may be purged.
    pub deletion_grace_days: u32,
    /// Where each organization's own database is, with `{org}` for its id; default: a
    /// SQLite file per organization under `<data_dir>/tenants/`, or on PostgreSQL a database
    /// per organization on the main database's server, named `<main database>_t{org}`.
    pub database_url_template: Option<Secret>,
    /// PostgreSQL: where to create and drop the organizations' databases from (a database
    /// on their server); default: the main database.
    pub admin_url: Option<Secret>,
    /// Organizations' databases open at once (the least recently used is closed first).
    /// With `connections_per_database`, it bounds this replica's connections to the
    /// organizations' database server: keep every replica's total within its limit.
    pub max_open_databases: usize,
    /// An organization's database unused this long is closed.
    pub idle_close_secs: u64,
    /// Connections per organization's database.
    pub connections_per_database: u32,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            deletion_grace_days: 30,
            database_url_template: None,
            admin_url: None,
            max_open_databases: 16,
            idle_close_secs: 300,
            connections_per_database: 2,
        }
    }
}

/// Where organizations' files are kept, and the rules for documents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (files under `local_dir`) or `s3`.
    pub backend: String,
    /// Default `<data_dir>/files`.
    pub local_dir: Option<PathBuf>,
    pub s3: S3Config,
    /// Largest file accepted in one upload.
    pub max_upload_bytes: u64,
    /// A file no document names any more is removed this long after.
    pub orphan_grace_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: "local".into(),
            local_dir: None,
            s3: S3Config::default(),
            max_upload_bytes: 100 * 1024 * 1024,
            orphan_grace_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:9000`; unset for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Address buckets as `bucket.host` instead of `host/bucket`.
    pub virtual_hosted_style: bool,
    /// The endpoint browsers reach, for pre-signed download links; default `endpoint`.
    pub public_endpoint: Option<String>,
}

/// Where events go besides the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// NATS with JetStream, e.g. `nats://127.0.0.1:4222`; unset, events stay in the outbox.
    pub nats_url: Option<Secret>,
    /// The JetStream stream, created if missing.
    pub nats_stream: String,
    /// Events are published to `<prefix>.<type>`.
    pub nats_subject_prefix: String,
    /// Kafka bootstrap brokers (`host:port`); empty, events do not go to Kafka.
    pub kafka_brokers: Vec<String>,
    /// The topic events are written to, keyed by organization id; created if missing.
    pub kafka_topic: String,
    /// Partitions of the topic when Purser creates it.
    pub kafka_partitions: u16,
    /// Events no bus took are dropped after this many days (published ones after a day).
    pub keep_days: u32,
    /// Run the event relay on this replica (one relays at a time, by a lease).
    pub relay: bool,
    /// Let webhooks reach link-local addresses (where cloud metadata services answer).
    pub webhook_allow_link_local: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            nats_stream: "PURSER_EVENTS".into(),
            nats_subject_prefix: "purser.events".into(),
            kafka_brokers: Vec::new(),
            kafka_topic: "purser.events".into(),
            kafka_partitions: 3,
            keep_days: 7,
            relay: true,
            webhook_allow_link_local: false,
        }
    }
}

/// An RFC 3161 time-stamping authority, for organizations that time-stamp their documents.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimestampsConfig {
    /// Where `application/timestamp-query` requests are POSTed; unset, time-stamping is off.
    pub url: Option<String>,
    /// PEM file of the CA certificates the authority's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// Longest wait for one reply.
    pub timeout_secs: u64,
}

impl Default for TimestampsConfig {
    fn default() -> Self {
        Self { url: None, ca_file: None, timeout_secs: 10 }
    }
}

/// Vault tokens: what the policy engine is called in them, how long they and their
/// refresh tokens live, how often Purser's signing key changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaultsConfig {
    /// The `aud` claim of vault tokens: the engine that verifies them.
    pub token_audience: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    /// A new signing key takes over after this many days; the old one stays published
    /// until its last token has expired.
    pub key_rotation_days: u32,
    /// The policy engine told each vault's state (`PUT <url>/vaults/{id}`); unset, none is.
    pub engine_url: Option<String>,
    /// Longest wait for the engine's answer.
    pub engine_timeout_secs: u64,
}

impl Default for VaultsConfig {
    fn default() -> Self {
        let d = purser_services::vault_tokens::VaultTokenSettings::default();
        Self {
            token_audience: d.audience,
            access_token_ttl_secs: d.access_ttl_secs,
            refresh_token_ttl_secs: d.refresh_ttl_secs,
            key_rotation_days: u32::try_from(d.key_rotation_secs / 86_400).unwrap_or(30),
            engine_url: None,
            engine_timeout_secs: 10,
        }
    }
}

impl VaultsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, message: &str| Err(ConfigError(format!("vaults.{key}: {message}")));
        if self.token_audience.trim().is_empty() || self.token_audience.chars().any(char::is_control) {
            return fail("token_audience", "must be a non-empty name without control characters");
        }
        if !(30..=86_400).contains(&self.access_token_ttl_secs) {
            return fail("access_token_ttl_secs", "must be 30 to 86400");
        }
        if !(60..=365 * 86_400).contains(&self.refresh_token_ttl_secs) {
            return fail("refresh_token_ttl_secs", "must be 60 to 31536000");
        }
        if !(1..=365).contains(&self.key_rotation_days) {
            return fail("key_rotation_days", "must be 1 to 365");
        }
        if let Some(url) = &self.engine_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return fail("engine_url", "must start with http:// or https://");
        }
        if self.engine_timeout_secs == 0 {
            return fail("engine_timeout_secs", "must be at least 1");
        }
        Ok(())
    }

    pub fn settings(&self) -> purser_services::vault_tokens::VaultTokenSettings {
        purser_services::vault_tokens::VaultTokenSettings {
            audience: self.token_audience.clone(),
            access_ttl_secs: self.access_token_ttl_secs,
            refresh_ttl_secs: self.refresh_token_ttl_secs,
            key_rotation_secs: i64::from(self.key_rotation_days) * 86_400,
        }
    }
}

/// `limit` requests per `window_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub limit: u32,
    pub window_secs: u64,
}

impl RuleConfig {
    const fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_secs }
    }

    pub fn rule(self) -> purser_limits::Rule {
        purser_limits::Rule { limit: self.limit, window: Duration::from_secs(self.window_secs) }
    }
}

/// How long a sign-in to an account under a failure streak waits: `first_ms` at the limit,
/// doubling with each failure beyond, at most `max_ms`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayConfig {
    pub first_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `redis://...`: count in Redis so every replica shares the limits. Without it,
    /// each process counts on its own.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key Purser writes.
    pub redis_prefix: String,
    /// Sign-in attempts from one address.
    pub login_per_ip: RuleConfig,
    /// Failed sign-ins to one account from one address; past it, that address must wait
    /// for the window to end.
    pub login_failures_per_account_and_ip: RuleConfig,
    /// Failed sign-ins to one account from anywhere; past it, each sign-in to the account
    /// waits (`login_delay`).
    pub login_failures_per_account: RuleConfig,
    pub login_delay: DelayConfig,
    pub register_per_ip: RuleConfig,
    pub verify_per_account: RuleConfig,
    pub reset_per_ip: RuleConfig,
    pub reset_per_email: RuleConfig,
    /// Refused token requests (`POST /api/v1/token`) from one address; past it, the
    /// address is refused until the window ends.
    pub token_failures_per_ip: RuleConfig,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_prefix: "purser:".into(),
            login_per_ip: RuleConfig::new(60, 60),
            login_failures_per_account_and_ip: RuleConfig::new(10, 900),
            login_failures_per_account: RuleConfig::new(50, 900),
            login_delay: DelayConfig { first_ms: 250, max_ms: 8000 },
            register_per_ip: RuleConfig::new(20, 3600),
            verify_per_account: RuleConfig::new(5, 3600),
            reset_per_ip: RuleConfig::new(20, 3600),
            reset_per_email: RuleConfig::new(3, 3600),
            token_failures_per_ip: RuleConfig::new(120, 60),
        }
    }
}

impl LimitsConfig {
    pub fn rules(&self) -> purser_api::RateRules {
        purser_api::RateRules {
            login_per_ip: self.login_per_ip.rule(),
            login_failures_per_account_and_ip: self.login_failures_per_account_and_ip.rule(),
            login_failures_per_account: self.login_failures_per_account.rule(),
            login_delay: purser_api::SignInDelay {
                first: Duration::from_millis(self.login_delay.first_ms),
                max: Duration::from_millis(self.login_delay.max_ms),
            },
            register_per_ip: self.register_per_ip.rule(),
            verify_per_account: self.verify_per_account.rule(),
            reset_per_ip: self.reset_per_ip.rule(),
            reset_per_email: self.reset_per_email.rule(),
            token_failures_per_ip: self.token_failures_per_ip.rule(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            return Err(ConfigError("limits.redis_url: must start with redis:// or rediss://".into()));
        }
        for (name, rule) in [
            ("login_per_ip", self.login_per_ip),
            ("login_failures_per_account_and_ip", self.login_failures_per_account_and_ip),
            ("login_failures_per_account", self.login_failures_per_account),
            ("register_per_ip", self.register_per_ip),
            ("verify_per_account", self.verify_per_account),
            ("reset_per_ip", self.reset_per_ip),
            ("reset_per_email", self.reset_per_email),
            ("token_failures_per_ip", self.token_failures_per_ip),
        ] {
            if rule.limit == 0 || rule.window_secs == 0 {
                return Err(ConfigError(format!("limits.{name}: limit and window_secs must be at least 1")));
            }
        }
        if self.login_delay.first_ms > self.login_delay.max_ms || self.login_delay.max_ms > 60_000 {
            return Err(ConfigError("limits.login_delay: first_ms must not exceed max_ms, nor max_ms 60000".into()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `purser=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "text".into(), level: "info".into() }
    }
}

/// Start-up refusal with the key at fault.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!("the config file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("PURSER__").split("__"));
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("server.listen", listen));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", dir));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| describe(&e)).collect::<Vec<_>>().join("; ")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, message: &str| Err(ConfigError(format!("{key}: {message}")));
        if self.data_dir.as_os_str().is_empty() {
            return fail("data_dir", "must not be empty");
        }
        if let Some(url) = &self.database.url
            && purser_store::Backend::of_url(url.expose()).is_none()
        {
            return fail("database.url", "must start with sqlite: or postgres://");
        }
        if self.database.max_connections == Some(0) {
            return fail("database.max_connections", "must be at least 1");
        }
        if !matches!(self.server.threads, None | Some(1..=1024)) {
            return fail("server.threads", "must be between 1 and 1024");
        }
        if let Some(key) = &self.secrets.master_key
            && purser_services::crypto::MasterKey::from_hex(key.expose()).is_err()
        {
            return fail("secrets.master_key", "must be 64 hexadecimal characters (32 bytes)");
        }
        if !(60..=86_400).contains(&self.auth.access_token_ttl_secs) {
            return fail("auth.access_token_ttl_secs", "must be between 60 and 86400");
        }
        if !(300..=31_536_000).contains(&self.auth.refresh_token_ttl_secs) {
            return fail("auth.refresh_token_ttl_secs", "must be between 300 and 31536000");
        }
        if self.auth.issuer.trim().is_empty() {
            return fail("auth.issuer", "must not be empty");
        }
        match (&self.bootstrap.admin_email, &self.bootstrap.admin_password) {
            (Some(_), None) => return fail("bootstrap.admin_password", "is required with bootstrap.admin_email"),
            (None, Some(_)) => return fail("bootstrap.admin_email", "is required with bootstrap.admin_password"),
            _ => {}
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return fail("server.public_url", "must start with http:// or https://");
        }
        if let Some(url) = &self.mail.smtp_url
            && !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://"))
        {
            return fail("mail.smtp_url", "must start with smtp:// or smtps://");
        }
        if !purser_mail::is_mailbox(&self.mail.from) {
            return fail("mail.from", "must be an address such as \"Purser <purser@example.com>\"");
        }
        self.limits.validate()?;
        if self.tenancy.idle_close_secs == 0 {
            return fail("tenancy.idle_close_secs", "must be at least 1");
        }
        if let Err(e) = purser_tenants::Tenants::new(self.tenant_settings()) {
            return Err(ConfigError(e.to_string()));
        }
        self.validate_storage()?;
        self.vaults.validate()?;
        if let Some(url) = &self.events.nats_url
            && !(url.expose().starts_with("nats://") || url.expose().starts_with("tls://"))
        {
            return fail("events.nats_url", "must start with nats:// or tls://");
        }
        let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !token(&self.events.nats_stream) || self.events.nats_stream.contains('.') {
            return fail("events.nats_stream", "must be letters, digits, - and _");
        }
        if !token(&self.events.nats_subject_prefix) || self.events.nats_subject_prefix.split('.').any(str::is_empty) {
            return fail("events.nats_subject_prefix", "must be dot-separated tokens of letters, digits, - and _");
        }
        if let Some(url) = &self.timestamps.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return fail("timestamps.url", "must start with http:// or https://");
            }
            if self.timestamps.ca_file.is_none() {
                return fail(
                    "timestamps.ca_file",
                    "is needed with timestamps.url: the CA the authority's certificate chains to",
                );
            }
            if self.timestamps.timeout_secs == 0 {
                return fail("timestamps.timeout_secs", "must be at least 1");
            }
        }
        for broker in &self.events.kafka_brokers {
            let port = broker.rsplit_once(':').and_then(|(host, port)| (!host.is_empty()).then_some(port));
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return fail("events.kafka_brokers", "each must be host:port");
            }
        }
        // Kafka's own rule for topic names.
        let topic = &self.events.kafka_topic;
        if topic.is_empty()
            || topic.len() > 249
            || matches!(topic.as_str(), "." | "..")
            || !topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return fail("events.kafka_topic", "must be 1 to 249 letters, digits, '.', '_' and '-'");
        }
        if self.events.kafka_partitions == 0 {
            return fail("events.kafka_partitions", "must be at least 1");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return fail("log.format", "must be text or json");
        }
        if self.server.max_body_bytes < 1024 {
            return fail("server.max_body_bytes", "must be at least 1024");
        }
        if self.gateway.max_request_bytes < 1024 {
            return fail("gateway.max_request_bytes", "must be at least 1024");
        }
        if self.gateway.usage_buffer == 0 {
            return fail("gateway.usage_buffer", "must be at least 1");
        }
        let g = &self.gateway;
        if [g.connect_timeout_ms, g.first_byte_timeout_ms, g.stream_idle_timeout_ms, g.total_timeout_ms].contains(&0) {
            return fail("gateway", "timeouts must be greater than zero");
        }
        if g.retries > 10 {
            return fail("gateway.retries", "must be at most 10");
        }
        if g.breaker_failures == 0 || g.breaker_cooldown_ms == 0 {
            return fail("gateway.breaker_failures", "breaker failures and cooldown must be greater than zero");
        }
        if !(1..=60_000).contains(&self.gateway.usage_flush_ms) {
            return fail("gateway.usage_flush_ms", "must be between 1 and 60000");
        }
        if !(10..=60_000).contains(&g.change_poll_ms) {
            return fail("gateway.change_poll_ms", "must be between 10 and 60000");
        }
        if !(10..=10_000).contains(&g.shared_sync_ms) {
            return fail("gateway.shared_sync_ms", "must be between 10 and 10000");
        }
        if self.gateway.resync_interval_secs == 0 {
            return fail("gateway.resync_interval_secs", "must be at least 1");
        }
        Ok(())
    }

    pub fn public_url(&self) -> String {
        self.server.public_url.clone().unwrap_or_else(|| format!("http://{}", self.server.listen))
    }

    pub fn outbox(&self) -> PathBuf {
        self.mail.outbox.clone().unwrap_or_else(|| self.data_dir.join("mail").join("outbox.jsonl"))
    }

    /// The database URL: configured, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("purser.db").display()),
        }
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, message: &str| Err(ConfigError(format!("{key}: {message}")));
        let storage = &self.storage;
        match storage.backend.as_str() {
            "local" => {}
            "s3" => {
                if storage.s3.bucket.is_empty() {
                    return fail("storage.s3.bucket", "is needed with storage.backend = \"s3\"");
                }
                for (key, url) in [
                    ("storage.s3.endpoint", &storage.s3.endpoint),
                    ("storage.s3.public_endpoint", &storage.s3.public_endpoint),
                ] {
                    if let Some(url) = url
                        && !(url.starts_with("http://") || url.starts_with("https://"))
                    {
                        return fail(key, "must start with http:// or https://");
                    }
                }
            }
            _ => return fail("storage.backend", "must be local or s3"),
        }
        if storage.max_upload_bytes == 0 {
            return fail("storage.max_upload_bytes", "must be at least 1");
        }
        Ok(())
    }

    /// Where organizations' files are kept (see `StorageConfig`).
    pub fn blob_settings(&self) -> purser_tenants::blobs::BlobSettings {
        use purser_tenants::blobs::{BlobBackend, BlobSettings, S3Settings};
        let storage = &self.storage;
        let expose = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default();
        let backend = match storage.backend.as_str() {
            "s3" => BlobBackend::S3(S3Settings {
                endpoint: storage.s3.endpoint.clone(),
                bucket: storage.s3.bucket.clone(),
                region: storage.s3.region.clone().unwrap_or_else(|| "us-east-1".into()),
                access_key_id: expose(&storage.s3.access_key_id),
                secret_access_key: expose(&storage.s3.secret_access_key),
                virtual_hosted_style: storage.s3.virtual_hosted_style,
                public_endpoint: storage.s3.public_endpoint.clone(),
            }),
            _ => BlobBackend::Local { root: storage.local_dir.clone().unwrap_or_else(|| self.data_dir.join("files")) },
        };
        BlobSettings { backend, spool_dir: self.data_dir.join("spool") }
    }

    /// Where the organizations' own databases are (see `TenancyConfig`).
    pub fn tenant_settings(&self) -> purser_tenants::Settings {
        let main = self.database_url();
        let t = &self.tenancy;
        let url_template = match &t.database_url_template {
            Some(template) => template.expose().to_owned(),
            None if self.backend() == purser_store::Backend::Postgres => {
                // The main URL with its database name suffixed: same server, same options.
                match main.split_once('?') {
                    Some((base, query)) => format!("{base}_t{{org}}?{query}"),
                    None => format!("{main}_t{{org}}"),
                }
            }
            None => format!("sqlite://{}/{{org}}.db", self.data_dir.join("tenants").display()),
        };
        purser_tenants::Settings {
            url_template,
            admin_url: Some(t.admin_url.as_ref().map_or(main, |u| u.expose().to_owned())),
            max_open: t.max_open_databases,
            idle: std::time::Duration::from_secs(t.idle_close_secs),
            pool_size: t.connections_per_database,
        }
    }

    pub fn backend(&self) -> purser_store::Backend {
        purser_store::Backend::of_url(&self.database_url()).unwrap_or(purser_store::Backend::Sqlite)
    }
}

/// A figment error as one line that names the key, with the profile prefix removed.
fn describe(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let source = e.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
    if key.is_empty() { format!("{}{source}", e.kind) } else { format!("{key}: {}{source}", e.kind) }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own error type
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://./data/purser.db");
    }

    #[test]
    fn environment_overrides_file_and_flags_override_both() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("purser.toml", "data_dir = \"/srv/purser\"\n[server]\nlisten = \"0.0.0.0:9000\"\n")?;
            jail.set_env("PURSER__DATABASE__URL", "postgres://postgres@127.0.0.1/purser");
            jail.set_env("PURSER__SERVER__LISTEN", "0.0.0.0:9100");
            let config = Config::load(Some(Path::new("purser.toml")), &Overrides::default()).unwrap();
            assert_eq!(config.server.listen.to_string(), "0.0.0.0:9100");
            assert_eq!(config.data_dir, PathBuf::from("/srv/purser"));
            assert_eq!(config.backend(), purser_store::Backend::Postgres);
            let flags = Overrides { listen: Some("127.0.0.1:7000".parse().unwrap()), data_dir: Some("/tmp/x".into()) };
            let config = Config::load(Some(Path::new("purser.toml")), &flags).unwrap();
            assert_eq!(config.server.listen.to_string(), "127.0.0.1:7000");
            assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(&str, &str, &str); 6] = [
            ("PURSER__SERVER__LISTEN", "not-an-address", "server.listen"),
            ("PURSER__SERVER__THREADS", "0", "server.threads"),
            ("PURSER__DATABASE__URL", "mysql://x", "database.url"),
            ("PURSER__SECRETS__MASTER_KEY", "abc", "secrets.master_key"),
            ("PURSER__SERVER__NO_SUCH_KEY", "1", "no_such_key"),
            ("PURSER__GATEWAY__USAGE_BUFFER", "lots", "gateway.usage_buffer"),
        ];
        for (var, value, key) in cases {
            figment::Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let error = Config::load(None, &Overrides::default()).unwrap_err().to_string();
                assert!(error.contains(key), "{var}={value}: {error}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("PURSER__BOOTSTRAP__ADMIN_EMAIL", "root@example.com");
            let error = Config::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(error.contains("bootstrap.admin_password"), "{error}");
            Ok(())
        });
        let missing = Config::load(Some(Path::new("/nonexistent/purser.toml")), &Overrides::default()).unwrap_err();
        assert!(missing.to_string().contains("does not exist"));
    }

    #[test]
    fn secrets_are_redacted() {
        let mut config = Config::default();
        config.database.url = Some(Secret::from("postgres://u:hunter2@db/purser"));
        config.secrets.master_key = Some(Secret::from("ab"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("\"ab\""), "{shown}");
    }
}
