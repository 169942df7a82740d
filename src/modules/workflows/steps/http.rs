use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::HumanDuration;
use crate::platform::steps::{OrExpr, StepContext, StepFailure, StepType, parse_with};

const MAX_BODY: usize = 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// `http.request`: `method` (default GET), `url`, `headers`, `body` (JSON value or string),
/// `expected_status` (a code, a list of codes, or a class like `"2xx"`; default 2xx) and
/// `timeout` (default 30s). Outputs `{status, headers, body}` (the body parsed as JSON when it is
/// JSON). Connection errors, timeouts, 408, 429 and 5xx are retryable; other unexpected statuses
/// are permanent. Requests carry `Idempotency-Key: <run id>:<step id>` (the same on every
/// attempt) unless `headers` sets one.
pub struct HttpRequest {
    client: reqwest::Client,
}

impl HttpRequest {
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("maestro-workflows/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(HttpRequest { client })
    }
}

fn is_expr(v: &str) -> bool {
    v.contains("${{")
}

/// `http.request`'s `with:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpWith {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: Option<OrExpr<Map<String, Value>>>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    expected_status: Option<Value>,
    #[serde(default)]
    timeout: Option<OrExpr<HumanDuration>>,
}

/// The accepted statuses from `expected_status`.
fn status_matcher(spec: Option<&Value>) -> Result<Vec<(u16, u16)>, String> {
    let one = |v: &Value| -> Result<(u16, u16), String> {
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(code) if (100..=599).contains(&code) => Ok((code as u16, code as u16)),
                _ => Err(format!("`{n}` is not an HTTP status")),
            },
            Value::String(s) => {
                let s = s.trim().to_ascii_lowercase();
                if s.len() == 3
                    && s.ends_with("xx")
                    && let Some(d) = s.chars().next().and_then(|c| c.to_digit(10))
                    && (1..=5).contains(&d)
                {
                    let base = (d * 100) as u16;
                    return Ok((base, base + 99));
                }
                match s.parse::<u16>() {
                    Ok(code) if (100..=599).contains(&code) => Ok((code, code)),
                    _ => Err(format!("`{s}` is not an HTTP status or class like `2xx`")),
                }
            }
            other => Err(format!("`{other}` is not an HTTP status")),
        }
    };
    match spec {
        None | Some(Value::Null) => Ok(vec![(200, 299)]),
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(one).collect(),
        Some(Value::Array(_)) => Err("`expected_status` must not be empty".into()),
        Some(v) => Ok(vec![one(v)?]),
    }
}

impl StepType for HttpRequest {
    fn name(&self) -> &'static str {
        "http.request"
    }

    fn validate(&self, with: &Value) -> Result<(), String> {
        if with.get("url").is_none() {
            return Err("`url` is required".into());
        }
        let with: HttpWith = parse_with(with)?;
        if !is_expr(&with.url) {
            let parsed =
                url::Url::parse(&with.url).map_err(|e| format!("`url` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("`url` must be http:// or https://".into());
            }
        }
        if let Some(m) = &with.method
            && !is_expr(m)
            && !METHODS.contains(&m.to_ascii_uppercase().as_str())
        {
            return Err(format!("`method` must be one of {}", METHODS.join(", ")));
        }
        if let Some(OrExpr::Value(headers)) = &with.headers {
            for (k, v) in headers {
                if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    return Err(format!("`headers`: `{k}` is not a header name"));
                }
                if !v.is_string() {
                    return Err(format!("`headers.{k}` must be a string"));
                }
            }
        }
        if let Some(v) = &with.expected_status
            && !v.as_str().is_some_and(is_expr)
        {
            status_matcher(Some(v))?;
        }
        super::check_max("timeout", with.timeout.as_ref(), MAX_TIMEOUT)
    }

    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        let client = self.client.clone();
        Box::pin(async move {
            let permanent = StepFailure::Permanent;
            let with: HttpWith = parse_with(&with).map_err(permanent)?;
            let url = url::Url::parse(&with.url)
                .map_err(|e| permanent(format!("`url` `{}` is not a URL: {e}", with.url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(permanent("`url` must be http:// or https://".into()));
            }
            let method = with.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| permanent(format!("`{method}` is not an HTTP method")))?;
            let expected = status_matcher(with.expected_status.as_ref()).map_err(permanent)?;
            let timeout = match &with.timeout {
                Some(t) => t.resolved("timeout").map_err(permanent)?.get(),
                None => DEFAULT_TIMEOUT,
            }
            .min(MAX_TIMEOUT);
            let headers = match &with.headers {
                Some(h) => h.resolved("headers").map_err(permanent)?.clone(),
                None => Map::new(),
            };
            let mut req = client.request(method, url.clone()).timeout(timeout);
            // The same key on every attempt (retries, takeovers after a crash), so the receiver
            // can drop duplicates; a key given in `headers` wins.
            let has_key = headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("idempotency-key"));
            if !has_key {
                req = req.header("Idempotency-Key", format!("{}:{}", ctx.run_id, ctx.step_id));
            }
            for (k, v) in &headers {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                req = req.header(k.as_str(), v);
            }
            match &with.body {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => req = req.body(s.clone()),
                Some(v) => req = req.json(v),
            }
            let res = req.send().await.map_err(|e| {
                StepFailure::Retryable(format!("request to {url} failed: {}", error_chain(&e)))
            })?;
            let status = res.status().as_u16();
            let mut headers = Map::new();
            for (k, v) in res.headers() {
                if let Ok(v) = v.to_str() {
                    headers.insert(k.as_str().to_string(), Value::String(v.to_string()));
                }
            }
            let mut body = Vec::new();
            let mut res = res;
            loop {
                let chunk = res.chunk().await.map_err(|e| {
                    StepFailure::Retryable(format!("reading the response from {url} failed: {e}"))
                })?;
                let Some(chunk) = chunk else { break };
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(permanent(format!(
                        "the response from {url} is larger than {MAX_BODY} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let body = serde_json::from_slice::<Value>(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            if !expected
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&status))
            {
                let snippet: String = match &body {
                    Value::String(s) => s.chars().take(200).collect(),
                    other => other.to_string().chars().take(200).collect(),
                };
                let message = format!("{url} answered {status}: {snippet}");
                return Err(if status >= 500 || status == 408 || status == 429 {
                    StepFailure::Retryable(message)
                } else {
                    StepFailure::Permanent(message)
                });
            }
            Ok(json!({"status": status, "headers": headers, "body": body}))
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_status_forms() {
        assert_eq!(status_matcher(None).unwrap(), vec![(200, 299)]);
        assert_eq!(status_matcher(Some(&json!(201))).unwrap(), vec![(201, 201)]);
        assert_eq!(
            status_matcher(Some(&json!("4xx"))).unwrap(),
            vec![(400, 499)]
        );
        assert_eq!(
            status_matcher(Some(&json!([200, "204"]))).unwrap(),
            vec![(200, 200), (204, 204)]
        );
        assert!(status_matcher(Some(&json!(99))).is_err());
        assert!(status_matcher(Some(&json!("9xx"))).is_err());
    }

    #[test]
    fn validation_names_the_bad_parameter() {
        let h = HttpRequest::new().unwrap();
        assert!(h.validate(&json!({"url": "https://example.com"})).is_ok());
        assert!(h.validate(&json!({"url": "${{ inputs.url }}"})).is_ok());
        assert!(h.validate(&json!({})).unwrap_err().contains("url"));
        assert!(
            h.validate(&json!({"url": "ftp://x"}))
                .unwrap_err()
                .contains("http")
        );
        assert!(
            h.validate(&json!({"url": "http://x", "method": "BREW"}))
                .unwrap_err()
                .contains("method")
        );
        assert!(
            h.validate(&json!({"url": "http://x", "timeout": "soon"}))
                .unwrap_err()
                .contains("timeout")
        );
        assert!(
            h.validate(&json!({"url": "http://x", "retries": 3}))
                .unwrap_err()
                .contains("retries")
        );
    }
}
