use std::env;

/// Runtime configuration, read from environment variables.
#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub log_json: bool,
    pub request_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: {{ port }},
            log_json: true,
            request_timeout_secs: 15,
        }
    }
}

impl Config {
    /// Reads `PORT`, `LOG_JSON` and `REQUEST_TIMEOUT_SECS`, falling back to the defaults.
    pub fn from_env() -> Result<Self, String> {
        let defaults = Self::default();
        Ok(Self {
            port: parse_var("PORT", defaults.port)?,
            log_json: parse_var("LOG_JSON", defaults.log_json)?,
            request_timeout_secs: parse_var("REQUEST_TIMEOUT_SECS", defaults.request_timeout_secs)?,
        })
    }
}

fn parse_var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match env::var(name) {
        Ok(raw) => raw
            .parse()
            .map_err(|_| format!("invalid value for {name}: {raw:?}")),
        Err(_) => Ok(default),
    }
}
