//! Configuration: `config/default.toml`, then `config/<MAESTRO_ENV>.toml`, then the seed's
//! environment aliases (`DATABASE_URL`, `SECRET_KEY`, …), then `MAESTRO__SECTION__KEY` variables.
//! Everything is validated once at start; an error names the offending key and says what to do.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The secret shipped in `config/default.toml`; production refuses to start with it.
pub const DEFAULT_SECRET: &str = "maestro-development-secret-change-me";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
            Environment::Test => "test",
        }
    }

    fn parse(raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" => Ok(Environment::Development),
            "production" | "prod" => Ok(Environment::Production),
            "test" => Ok(Environment::Test),
            other => Err(ConfigError::new(
                "MAESTRO_ENV",
                format!("unknown environment `{other}`; use development, production or test"),
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(skip_deserializing, default = "default_environment")]
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub cache: CacheSettings,
    pub auth: AuthSettings,
    pub modules: ModuleFlags,
    pub streams: StreamSettings,
    pub telemetry: TelemetrySettings,
    pub templates: crate::modules::templates::settings::TemplatesSettings,
    pub quality: crate::modules::quality::settings::QualitySettings,
    pub workflows: crate::modules::workflows::settings::WorkflowsSettings,
    pub k8s: crate::modules::k8s::settings::K8sSettings,
    pub healing: crate::modules::healing::settings::HealingSettings,
}

fn default_environment() -> Environment {
    Environment::Development
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub json_body_limit: usize,
    pub shutdown_timeout_secs: u64,
    pub cors_allowed_origins: Vec<String>,
    pub workers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout_ms: u64,
    pub busy_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub migrate_on_start: bool,
    /// A checkout (waiting for a pooled connection, then its `SELECT 1` health check on
    /// PostgreSQL) taking longer than this makes the circuit breaker probe the database.
    pub checkout_probe_after: HumanDuration,
    /// PostgreSQL: a pooled connection that answered less than this ago skips the checkout's
    /// `SELECT 1` (HikariCP's `aliveBypassWindowMs`); `0s` = check every checkout.
    pub check_bypass_window: HumanDuration,
    /// Client-side deadline for one unit of database work (all statements of one `Db::run`),
    /// enforced even when the server does not answer at all; `0s` = none.
    pub query_timeout: HumanDuration,
    /// How long one breaker probe (a fresh connection and `SELECT 1`) may take before it counts
    /// as failed.
    pub probe_timeout: HumanDuration,
    /// How often the open breaker probes the database again.
    pub probe_interval: HumanDuration,
    /// PostgreSQL: idle time before TCP keepalive probes start (libpq `keepalives_idle`);
    /// `0s` = the OS default.
    pub tcp_keepalive_idle: HumanDuration,
    /// PostgreSQL: how long sent data may stay unacknowledged before the connection is dropped
    /// (libpq `tcp_user_timeout`, Linux); `0s` = the OS default.
    pub tcp_user_timeout: HumanDuration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
    /// Connections per process; commands are pipelined over them (multiplexed).
    pub pool_size: usize,
    pub command_timeout_ms: u64,
    /// Consecutive failed calls after which Maestro stops calling Redis for `breaker_open`.
    pub breaker_failures: u32,
    /// How long the circuit stays open before one call probes Redis again.
    pub breaker_open: HumanDuration,
}

impl RedisSettings {
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    pub default_ttl_secs: u64,
    /// Keyed entries of the in-process tier without Redis (quality reports, lookups).
    pub max_entries: u64,
    /// Bytes of cached responses (body, ETag and key) the in-process tier (L1) holds: a byte
    /// budget rather than a count, so a catalog of many small answers stays in-process.
    pub max_bytes: HumanBytes,
    /// With Redis: how long a replica serves an entry from its in-process tier without hearing
    /// about writes (the bound on staleness while invalidations cannot be delivered).
    pub local_ttl: HumanDuration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub secret_key: String,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub rbac: bool,
    pub oidc: OidcSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    pub tenant_claim: String,
    pub role_claim: String,
    pub default_tenant: String,
    pub default_role: String,
    /// The console's authorization-code client (with PKCE): its id at the issuer. Empty: no
    /// "Sign in with …" button.
    #[serde(default)]
    pub client_id: String,
    /// Empty for a public client (PKCE only); else sent with HTTP Basic to the token endpoint.
    #[serde(default)]
    pub client_secret: String,
    /// Where the issuer sends the browser back; empty = `<this server>/ui/oidc/callback` as the
    /// request reached it. Register exactly this URL at the issuer.
    #[serde(default)]
    pub redirect_url: String,
    #[serde(default = "default_oidc_scopes")]
    pub scopes: String,
    /// The button's label ("Sign in with <display_name>"); empty = the issuer's host.
    #[serde(default)]
    pub display_name: String,
}

fn default_oidc_scopes() -> String {
    "openid email profile".to_string()
}

impl OidcSettings {
    pub fn enabled(&self) -> bool {
        !self.issuer.trim().is_empty()
    }

    /// The console offers sign-in through the issuer.
    pub fn console_sign_in(&self) -> bool {
        self.enabled() && !self.client_id.trim().is_empty()
    }
}

/// Which modules this process mounts. A disabled module has no routes, no OpenAPI paths,
/// no background tasks and no stream consumers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleFlags {
    pub templates: bool,
    pub quality: bool,
    pub workflows: bool,
    pub healing: bool,
    pub k8s: bool,
}

impl ModuleFlags {
    pub fn is_enabled(&self, module: &str) -> bool {
        match module {
            "templates" => self.templates,
            "quality" => self.quality,
            "workflows" => self.workflows,
            "healing" => self.healing,
            "k8s" => self.k8s,
            _ => false,
        }
    }

    pub fn all_off() -> Self {
        ModuleFlags {
            templates: false,
            quality: false,
            workflows: false,
            healing: false,
            k8s: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub block_ms: u64,
    pub batch_size: usize,
    pub claim_idle_ms: u64,
    pub max_deliveries: u64,
    pub max_len: usize,
    /// How long the first of a burst of outbound events waits for its repeats before the batch
    /// is written: identical events within it (the same user viewing the same template) become
    /// one entry with a count.
    pub flush_interval: HumanDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    pub log_level: String,
    pub otlp_endpoint: String,
    pub service_name: String,
    pub performance_monitoring: bool,
}

/// A duration written with its unit in configuration (`250ms`, `2s`, `5m`, `1h 30m`): parsed
/// once when the configuration loads, so code reads a [`std::time::Duration`] and never re-parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub std::time::Duration);

impl HumanDuration {
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        humantime::parse_duration(raw.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{raw}` is not a duration ({e}); use e.g. 250ms, 2s or 5m"
                ))
            })
    }
}

/// A size written with its unit in configuration (`64MiB`, `512KiB`, `1GiB`, or plain bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanBytes(pub u64);

impl HumanBytes {
    pub fn get(self) -> u64 {
        self.0
    }

    fn parse(raw: &str) -> Option<HumanBytes> {
        let raw = raw.trim();
        let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
        let (digits, unit) = raw.split_at(split);
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return None,
        };
        digits
            .parse::<u64>()
            .ok()?
            .checked_mul(scale)
            .map(HumanBytes)
    }
}

impl Serialize for HumanBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let text = match [(30, "GiB"), (20, "MiB"), (10, "KiB")]
            .into_iter()
            .find(|(shift, _)| n != 0 && n.is_multiple_of(1u64 << shift))
        {
            Some((shift, unit)) => format!("{}{unit}", n >> shift),
            None => format!("{n}B"),
        };
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for HumanBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A number from a file, or a string (every environment variable is one).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(HumanBytes(n)),
            Raw::Text(raw) => HumanBytes::parse(&raw).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{raw}` is not a size; use e.g. 64MiB, 512KiB, 1GiB or a number of bytes"
                ))
            }),
        }
    }
}

/// A configuration problem, always tied to the key (or variable) that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration key `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The seed's plain environment variables and the key each one sets. A `MAESTRO__…` variable
/// for the same key wins over its alias.
const ALIASES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "redis.url"),
    ("SECRET_KEY", "auth.secret_key"),
    ("SERVICE_PORT", "server.port"),
    ("ENABLE_RBAC", "auth.rbac"),
    ("ENABLE_QUALITY_GATES", "quality.gates"),
    ("MIN_TEMPLATE_QUALITY_SCORE", "quality.min_score"),
    (
        "ENABLE_PERFORMANCE_MONITORING",
        "telemetry.performance_monitoring",
    ),
    ("TEMPLATES_STORAGE_PATH", "templates.storage_path"),
];

/// Where to read configuration from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub config_dir: PathBuf,
    /// `None` reads `MAESTRO_ENV` (default development).
    pub environment: Option<Environment>,
    /// Read `MAESTRO__…` variables and the seed aliases from the process environment.
    pub read_process_env: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            config_dir: PathBuf::from("config"),
            environment: None,
            read_process_env: true,
        }
    }
}

impl Settings {
    /// Loads and validates the configuration the way `maestro serve` does.
    pub fn load(opts: &LoadOptions) -> Result<Settings, ConfigError> {
        Self::load_with_env(opts, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (tests pass their own).
    pub fn load_with_env(
        opts: &LoadOptions,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = if opts.read_process_env {
            vars.into_iter().collect()
        } else {
            Vec::new()
        };
        let environment = match opts.environment {
            Some(env) => env,
            None => match vars.iter().find(|(k, _)| k == "MAESTRO_ENV") {
                Some((_, v)) => Environment::parse(v)?,
                None => Environment::Development,
            },
        };

        let default_file = opts.config_dir.join("default.toml");
        let mut builder = config::Config::builder();
        builder = if default_file.exists() {
            builder.add_source(config::File::from(default_file.as_path()))
        } else {
            // A binary run outside the repository still starts on the embedded defaults.
            builder.add_source(config::File::from_str(
                include_str!("../config/default.toml"),
                config::FileFormat::Toml,
            ))
        };
        let env_file = opts
            .config_dir
            .join(format!("{}.toml", environment.as_str()));
        builder = builder.add_source(config::File::from(env_file.as_path()).required(false));

        let prefixed: std::collections::HashMap<String, String> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("MAESTRO__"))
            .cloned()
            .collect();
        for (alias, key) in ALIASES {
            let Some((_, value)) = vars.iter().find(|(k, _)| k == alias) else {
                continue;
            };
            let maestro_var = format!("MAESTRO__{}", key.replace('.', "__").to_ascii_uppercase());
            if prefixed.contains_key(&maestro_var) {
                continue;
            }
            builder = builder
                .set_override(*key, value.clone())
                .map_err(|e| ConfigError::new(*alias, e.to_string()))?;
        }
        builder = builder.add_source(
            config::Environment::with_prefix("MAESTRO")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("server.cors_allowed_origins")
                .with_list_parse_key("templates.git_allowed_local_dirs")
                .source(Some(prefixed.into_iter().collect())),
        );

        let merged = builder
            .build()
            .map_err(|e| ConfigError::new(config_error_key(&e), e.to_string()))?;
        let mut settings: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::new(key, e.into_inner().to_string())
        })?;
        settings.environment = environment;
        // An empty MAESTRO__SERVER__CORS_ALLOWED_ORIGINS parses as [""]: treat it as "none".
        settings
            .server
            .cors_allowed_origins
            .retain(|origin| !origin.trim().is_empty());
        settings
            .templates
            .git_allowed_local_dirs
            .retain(|dir| !dir.as_os_str().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    /// Deprecated keys that are set, each with what to write instead; `maestro` warns about
    /// each once at start.
    pub fn deprecations(&self) -> Vec<String> {
        self.templates.deprecations()
    }

    /// Checks what serde cannot: URL schemes, ranges, production secrets.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.json_body_limit < 1024 {
            return Err(ConfigError::new(
                "server.json_body_limit",
                "must be at least 1024 bytes",
            ));
        }
        for origin in &self.server.cors_allowed_origins {
            if origin != "*" && url::Url::parse(origin).is_err() {
                return Err(ConfigError::new(
                    "server.cors_allowed_origins",
                    format!("`{origin}` is not an origin like https://app.example.com or \"*\""),
                ));
            }
        }
        crate::platform::db::Backend::from_url(&self.database.url)
            .map_err(|msg| ConfigError::new("database.url", msg))?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::new("database.pool_size", "must be at least 1"));
        }
        if self.database.acquire_timeout_ms == 0 {
            return Err(ConfigError::new(
                "database.acquire_timeout_ms",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("checkout_probe_after", self.database.checkout_probe_after),
            ("probe_timeout", self.database.probe_timeout),
            ("probe_interval", self.database.probe_interval),
        ] {
            if value.get().is_zero() {
                return Err(ConfigError::new(
                    format!("database.{key}"),
                    "must be more than 0 (e.g. 500ms)",
                ));
            }
        }
        if self.redis.enabled() {
            let url = self.redis.url.trim();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "redis.url",
                    "must start with redis:// or rediss:// (or be empty to run without Redis)",
                ));
            }
            if redis::Client::open(url).is_err() {
                return Err(ConfigError::new(
                    "redis.url",
                    "is not a valid Redis URL; expected redis://[:password@]host:port/<db>",
                ));
            }
        }
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::new(
                "redis.key_prefix",
                "must be a non-empty string without spaces",
            ));
        }
        if self.redis.pool_size == 0 {
            return Err(ConfigError::new("redis.pool_size", "must be at least 1"));
        }
        let flush = self.streams.flush_interval.get();
        if flush < std::time::Duration::from_millis(10)
            || flush > std::time::Duration::from_secs(60)
        {
            return Err(ConfigError::new(
                "streams.flush_interval",
                "must be between 10ms and 60s (e.g. 5s)",
            ));
        }
        if self.cache.max_bytes.get() < 1 << 20 {
            return Err(ConfigError::new(
                "cache.max_bytes",
                "must be at least 1MiB (e.g. 64MiB)",
            ));
        }
        if self.auth.access_token_ttl_secs < 60 {
            return Err(ConfigError::new(
                "auth.access_token_ttl_secs",
                "must be at least 60 seconds",
            ));
        }
        if self.auth.refresh_token_ttl_secs < self.auth.access_token_ttl_secs {
            return Err(ConfigError::new(
                "auth.refresh_token_ttl_secs",
                "must not be shorter than auth.access_token_ttl_secs",
            ));
        }
        let secret = self.auth.secret_key.trim();
        if secret.is_empty() {
            return Err(ConfigError::new(
                "auth.secret_key",
                "is empty; set MAESTRO__AUTH__SECRET_KEY to 32+ random bytes (e.g. `openssl rand -hex 32`)",
            ));
        }
        if self.environment == Environment::Production {
            if secret == DEFAULT_SECRET {
                return Err(ConfigError::new(
                    "auth.secret_key",
                    "is the development default; production needs its own secret: set MAESTRO__AUTH__SECRET_KEY (e.g. `openssl rand -hex 32`)",
                ));
            }
            if secret.len() < 32 {
                return Err(ConfigError::new(
                    "auth.secret_key",
                    "is shorter than 32 characters; production needs at least 32 random bytes",
                ));
            }
        }
        if self.auth.oidc.enabled() {
            if url::Url::parse(&self.auth.oidc.issuer).is_err() {
                return Err(ConfigError::new(
                    "auth.oidc.issuer",
                    "must be the issuer URL, e.g. https://login.example.com/realms/main",
                ));
            }
            if self.auth.oidc.audience.trim().is_empty() {
                return Err(ConfigError::new(
                    "auth.oidc.audience",
                    "must be set when auth.oidc.issuer is set (the `aud` Maestro accepts)",
                ));
            }
            if !self.auth.oidc.jwks_url.is_empty()
                && url::Url::parse(&self.auth.oidc.jwks_url).is_err()
            {
                return Err(ConfigError::new(
                    "auth.oidc.jwks_url",
                    "is not a URL; leave empty to discover it from the issuer",
                ));
            }
            if !self.auth.oidc.redirect_url.is_empty()
                && url::Url::parse(&self.auth.oidc.redirect_url).is_err()
            {
                return Err(ConfigError::new(
                    "auth.oidc.redirect_url",
                    "is not a URL; e.g. https://maestro.example.com/ui/oidc/callback, or empty",
                ));
            }
            if !self.auth.oidc.client_id.is_empty()
                && !self
                    .auth
                    .oidc
                    .scopes
                    .split_whitespace()
                    .any(|s| s == "openid")
            {
                return Err(ConfigError::new(
                    "auth.oidc.scopes",
                    "must include `openid` (the console signs in with the ID token)",
                ));
            }
            if crate::platform::auth::Role::parse(&self.auth.oidc.default_role).is_none() {
                return Err(ConfigError::new(
                    "auth.oidc.default_role",
                    "must be admin, editor or viewer",
                ));
            }
        }
        if self.streams.max_deliveries == 0 {
            return Err(ConfigError::new(
                "streams.max_deliveries",
                "must be at least 1",
            ));
        }
        if self.streams.batch_size == 0 {
            return Err(ConfigError::new("streams.batch_size", "must be at least 1"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level).is_err() {
            return Err(ConfigError::new(
                "telemetry.log_level",
                "is not a valid filter; use e.g. info, debug or maestro=debug,info",
            ));
        }
        if !self.telemetry.otlp_endpoint.is_empty()
            && url::Url::parse(&self.telemetry.otlp_endpoint).is_err()
        {
            return Err(ConfigError::new(
                "telemetry.otlp_endpoint",
                "must be a URL such as http://otel-collector:4318",
            ));
        }
        self.templates.validate()?;
        self.workflows.validate()?;
        self.quality.validate()?;
        self.k8s.validate()?;
        self.healing.validate()?;
        Ok(())
    }

    /// The effective log format: `auto` is pretty outside production.
    pub fn log_format(&self) -> LogFormat {
        match self.telemetry.log_format {
            LogFormat::Auto if self.environment == Environment::Production => LogFormat::Json,
            LogFormat::Auto => LogFormat::Pretty,
            other => other,
        }
    }

    /// Resolves a possibly relative path against the data directory.
    pub fn data_path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.data_dir.join(relative)
    }

    /// A copy safe to print: secrets and URL passwords replaced.
    pub fn redacted(&self) -> Settings {
        let mut copy = self.clone();
        copy.auth.secret_key = "[redacted]".to_string();
        if !copy.auth.oidc.client_secret.is_empty() {
            copy.auth.oidc.client_secret = "[redacted]".to_string();
        }
        copy.database.url = redact_url_password(&copy.database.url);
        copy.redis.url = redact_url_password(&copy.redis.url);
        copy
    }
}

fn config_error_key(err: &config::ConfigError) -> String {
    match err {
        config::ConfigError::Type { key: Some(k), .. } => k.clone(),
        config::ConfigError::NotFound(k) => k.clone(),
        config::ConfigError::FileParse { uri: Some(u), .. } => u.clone(),
        _ => "config".to_string(),
    }
}

/// Replaces the password in `scheme://user:password@host/…` with `[redacted]`.
pub fn redact_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("[redacted]"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn opts(env: Environment) -> LoadOptions {
        LoadOptions {
            config_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            environment: Some(env),
            read_process_env: true,
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_use_port_8000_with_sqlite() {
        let s = Settings::load_with_env(&opts(Environment::Development), vars(&[])).unwrap();
        assert_eq!(s.server.port, 8000);
        assert!(s.database.url.starts_with("sqlite://"));
        assert!(!s.redis.enabled());
        assert_eq!(s.log_format(), LogFormat::Pretty);
    }

    #[test]
    fn maestro_variables_override_files_and_beat_aliases() {
        let s = Settings::load_with_env(
            &opts(Environment::Development),
            vars(&[
                ("MAESTRO__SERVER__PORT", "9100"),
                ("SERVICE_PORT", "9200"),
                ("MAESTRO__MODULES__TEMPLATES", "false"),
                ("ENABLE_RBAC", "false"),
                ("MIN_TEMPLATE_QUALITY_SCORE", "80"),
                (
                    "MAESTRO__SERVER__CORS_ALLOWED_ORIGINS",
                    "https://a.example,https://b.example",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9100);
        assert!(!s.modules.templates);
        assert!(!s.auth.rbac);
        assert_eq!(s.quality.min_score, 80);
        assert_eq!(s.server.cors_allowed_origins.len(), 2);
    }

    #[test]
    fn local_git_remote_dirs_come_as_a_list_of_absolute_paths() {
        let load = |value: &str| {
            Settings::load_with_env(
                &opts(Environment::Development),
                vars(&[("MAESTRO__TEMPLATES__GIT_ALLOWED_LOCAL_DIRS", value)]),
            )
        };
        let s = load("/srv/git,/mnt/mirrors").unwrap();
        assert_eq!(
            s.templates.git_allowed_local_dirs,
            vec![PathBuf::from("/srv/git"), PathBuf::from("/mnt/mirrors")]
        );
        assert!(
            load("")
                .unwrap()
                .templates
                .git_allowed_local_dirs
                .is_empty()
        );
        let err = load("relative/dir").unwrap_err();
        assert_eq!(err.key, "templates.git_allowed_local_dirs");
        let defaults = Settings::load_with_env(&opts(Environment::Development), vars(&[])).unwrap();
        assert!(defaults.templates.git_allowed_local_dirs.is_empty());
    }

    #[test]
    fn aliases_apply_when_no_maestro_variable_is_set() {
        let s = Settings::load_with_env(
            &opts(Environment::Development),
            vars(&[
                ("SERVICE_PORT", "9200"),
                ("DATABASE_URL", "postgres://u:secret@db/maestro"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9200);
        assert!(s.database.url.starts_with("postgres://"));
        assert!(!s.redacted().database.url.contains("secret"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Settings::load_with_env(
            &opts(Environment::Development),
            vars(&[("MAESTRO__SERVER__PORT", "eighty")]),
        )
        .unwrap_err();
        assert_eq!(err.key, "server.port", "{err}");

        let err = Settings::load_with_env(
            &opts(Environment::Development),
            vars(&[("MAESTRO__SERVER__PROT", "80")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");

        let err = Settings::load_with_env(
            &opts(Environment::Development),
            vars(&[("MAESTRO__DATABASE__URL", "mysql://x")]),
        )
        .unwrap_err();
        assert_eq!(err.key, "database.url");
    }

    #[test]
    fn cache_budget_takes_units_and_is_checked() {
        let s = Settings::load_with_env(&opts(Environment::Development), vars(&[])).unwrap();
        assert_eq!(s.cache.max_bytes, HumanBytes(64 << 20));
        for (raw, bytes) in [
            ("128MiB", 128 << 20),
            ("1 GiB", 1 << 30),
            ("2097152", 2 << 20),
        ] {
            let s = Settings::load_with_env(
                &opts(Environment::Development),
                vars(&[("MAESTRO__CACHE__MAX_BYTES", raw)]),
            )
            .unwrap();
            assert_eq!(s.cache.max_bytes.get(), bytes, "{raw}");
        }
        for raw in ["64MB", "lots", "512KiB"] {
            let err = Settings::load_with_env(
                &opts(Environment::Development),
                vars(&[("MAESTRO__CACHE__MAX_BYTES", raw)]),
            )
            .unwrap_err();
            assert_eq!(err.key, "cache.max_bytes", "{raw}: {err}");
        }
    }

    #[test]
    fn the_event_flush_interval_takes_units_and_is_checked() {
        let s = Settings::load_with_env(&opts(Environment::Development), vars(&[])).unwrap();
        assert_eq!(s.streams.flush_interval.get(), Duration::from_secs(5));
        let flush = |raw| {
            Settings::load_with_env(
                &opts(Environment::Development),
                vars(&[("MAESTRO__STREAMS__FLUSH_INTERVAL", raw)]),
            )
        };
        assert_eq!(
            flush("250ms").unwrap().streams.flush_interval.get(),
            Duration::from_millis(250)
        );
        for raw in ["0s", "2m", "soon"] {
            let err = flush(raw).unwrap_err();
            assert_eq!(err.key, "streams.flush_interval", "{raw}: {err}");
        }
    }

    #[test]
    fn production_refuses_default_or_empty_secret() {
        let err = Settings::load_with_env(&opts(Environment::Production), vars(&[])).unwrap_err();
        assert_eq!(err.key, "auth.secret_key");
        let err =
            Settings::load_with_env(&opts(Environment::Production), vars(&[("SECRET_KEY", "")]))
                .unwrap_err();
        assert_eq!(err.key, "auth.secret_key");
        let ok = Settings::load_with_env(
            &opts(Environment::Production),
            vars(&[("SECRET_KEY", "0123456789abcdef0123456789abcdef")]),
        )
        .unwrap();
        assert_eq!(ok.log_format(), LogFormat::Json);
    }
}
