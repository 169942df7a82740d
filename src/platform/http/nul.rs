//! NUL characters (`\0`) are refused in every text input, at the edge, by one middleware
//! ([`reject_nul`]): PostgreSQL cannot store them in text (SQLite can), so without this a `%00`
//! in an id or a `"\u0000"` in a JSON field became a 500 on one backend and a stored value on
//! the other. What is checked, before any handler sees the input:
//!
//! - every decoded path segment → 400 `request.nul_in_path`, naming the route's parameter;
//! - every decoded query parameter name and value → 400 `request.nul_in_query`, naming it;
//! - JSON bodies (no `Content-Type`, `application/json`, `*+json`, `text/plain`): every string,
//!   keys and values at any depth, scanned as the body streams in (no extra buffering, any size)
//!   → 422 `request.nul_in_body` with the field's JSON path (`manifest.name`, `files["a\u0000"]`);
//! - form bodies (`application/x-www-form-urlencoded`): names and values → the same 422;
//! - YAML bodies (`application/yaml`, …): held back until complete (at most
//!   `server.json_body_limit`, the limit every YAML endpoint applies; larger ones pass on
//!   unchecked for the handler to refuse), then every string → the same 422.
//!
//! A body is only refused when the handler reads it, and the handler then never receives it:
//! the body stream ends with an error at the first NUL, and this middleware replaces whatever
//! the handler answered with the 422. Archives and other binary bodies are not text and are left
//! alone (the paths inside archives are checked where they are read). [`find_nul`] walks an
//! already-parsed JSON value, for text that arrives inside files (a template's manifest).

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, ResponseError};
use futures::Stream;

use super::error::{ApiError, FieldError};

/// What actix keeps a streaming request body as.
type BoxedPayloadStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// A NUL in a request input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NulError {
    #[error("The path parameter `{param}` contains a NUL character (%00); remove it from the URL.")]
    Path { param: String },
    #[error(
        "The query parameter `{param}` contains a NUL character (%00); remove it from the query string."
    )]
    Query { param: String },
    #[error(
        "The body field `{field}` contains a NUL character (\\u0000), which Maestro does not accept in text; remove it."
    )]
    Body { field: String },
}

crate::problem_codes! {
    NulError {
        Self::Path { .. } => (BAD_REQUEST, "request.nul_in_path"),
        Self::Query { .. } => (BAD_REQUEST, "request.nul_in_query"),
        Self::Body { .. } => (UNPROCESSABLE_ENTITY, "request.nul_in_body"),
    }
    field_errors(self) {
        let (field, what) = match self {
            Self::Path { param } => (param, "path parameter"),
            Self::Query { param } => (param, "query parameter"),
            Self::Body { field } => (field, "field"),
        };
        vec![FieldError::new(field.clone(), format!("this {what} must not contain a NUL character"))]
    }
}

/// The middleware (see the module documentation).
pub async fn reject_nul(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(err) = url_problem(&req) {
        let response = ApiError::from(err).error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    let found = Rc::new(RefCell::new(None::<String>));
    if has_body(&req) {
        match body_kind(&req) {
            BodyKind::Json => wrap_payload(&mut req, Scanner::Json(JsonScanner::default()), &found),
            BodyKind::Form => wrap_payload(&mut req, Scanner::Form(FormScanner::default()), &found),
            BodyKind::Yaml => wrap_yaml(&mut req, &found),
            BodyKind::Other => {}
        }
    }
    let res = next.call(req).await?;
    let field = found.borrow_mut().take();
    match field {
        None => Ok(res.map_into_left_body()),
        Some(field) => {
            let response = ApiError::from(NulError::Body { field }).error_response();
            Ok(res.into_response(response).map_into_right_body())
        }
    }
}

// ----- path and query -----

fn url_problem(req: &ServiceRequest) -> Option<NulError> {
    let path = req.path();
    if path.contains('%') {
        let segments: Vec<&str> = path.split('/').collect();
        if let Some(index) = segments.iter().position(|s| decodes_to_nul(s)) {
            let param = req
                .match_pattern()
                .and_then(|pattern| pattern_param(&pattern, index))
                .unwrap_or_else(|| format!("segment {index} ({})", shown(segments[index])));
            return Some(NulError::Path { param });
        }
    }
    let query = req.query_string();
    if query.contains('%') {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if name.contains('\0') || value.contains('\0') {
                return Some(NulError::Query {
                    param: shown(&name),
                });
            }
        }
    }
    None
}

/// `%00` is the only percent-encoding of NUL (a raw NUL cannot be in a request line).
fn decodes_to_nul(segment: &str) -> bool {
    segment.contains("%00")
}

/// The name of the parameter at `/`-separated `index` of a route pattern such as
/// `/api/v1/templates/{id}/files/{path:.*}` (a tail parameter covers every later segment).
fn pattern_param(pattern: &str, index: usize) -> Option<String> {
    let mut tail = None;
    for (i, segment) in pattern.split('/').enumerate() {
        let name = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(|inner| {
                let (name, regex) = inner.split_once(':').unwrap_or((inner, ""));
                (
                    name.to_string(),
                    regex.contains(".*") || regex.contains(".+"),
                )
            });
        if let Some((name, is_tail)) = &name {
            if i == index {
                return Some(name.clone());
            }
            if *is_tail {
                tail = Some(name.clone());
            }
        }
        if i >= index {
            break;
        }
    }
    tail
}

// ----- bodies -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Yaml,
    Other,
}

fn has_body(req: &ServiceRequest) -> bool {
    use actix_web::http::Method;
    let headers = req.headers();
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn body_kind(req: &ServiceRequest) -> BodyKind {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return BodyKind::Json;
    };
    let essence = super::body::media_type(value.to_str().unwrap_or_default());
    match essence.as_str() {
        "" | "application/json" | "text/json" | "text/plain" => BodyKind::Json,
        e if e.ends_with("+json") => BodyKind::Json,
        "application/x-www-form-urlencoded" => BodyKind::Form,
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => BodyKind::Yaml,
        _ => BodyKind::Other,
    }
}

enum Scanner {
    Json(JsonScanner),
    Form(FormScanner),
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        match self {
            Scanner::Json(s) => s.feed(chunk),
            Scanner::Form(s) => s.feed(chunk),
        }
    }

    fn finish(&mut self) -> Option<String> {
        match self {
            Scanner::Json(s) => s.finish(),
            Scanner::Form(_) => None,
        }
    }
}

/// What the handler reads instead of the rest of a body with a NUL (the middleware then answers
/// with the 422 in place of whatever the handler made of it).
fn nul_payload_error() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "the body contains a NUL character",
    ))
}

/// Passes the body through unchanged, ending it with an error at the first NUL (and noting the
/// field for the middleware).
struct Scanned {
    inner: Payload,
    scanner: Scanner,
    found: Rc<RefCell<Option<String>>>,
    failed: bool,
}

impl Scanned {
    fn fail(&mut self, field: String) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.failed = true;
        *self.found.borrow_mut() = Some(field);
        Poll::Ready(Some(Err(nul_payload_error())))
    }
}

impl Stream for Scanned {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.scanner.feed(&chunk) {
                Some(field) => self.fail(field),
                None => Poll::Ready(Some(Ok(chunk))),
            },
            Poll::Ready(None) => match self.scanner.finish() {
                Some(field) => self.fail(field),
                None => Poll::Ready(None),
            },
            other => other,
        }
    }
}

fn wrap_payload(req: &mut ServiceRequest, scanner: Scanner, found: &Rc<RefCell<Option<String>>>) {
    let inner = req.take_payload();
    let scanned = Scanned {
        inner,
        scanner,
        found: found.clone(),
        failed: false,
    };
    req.set_payload(Payload::from(Box::pin(scanned) as BoxedPayloadStream));
}

/// Holds a YAML body back until it is complete (at most `server.json_body_limit`), then looks
/// for NULs in its strings: the handler gets the whole body, or an error at its end. A larger body
/// is handed on unchecked as it comes (its handler refuses it with its own limit), and one that is
/// not valid YAML is handed on for the handler to say why.
struct YamlChecked {
    inner: Payload,
    limit: usize,
    buffered: BytesMut,
    /// Over the limit: everything else passes straight through.
    passing: bool,
    found: Rc<RefCell<Option<String>>>,
    finished: bool,
}

impl Stream for YamlChecked {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if self.passing {
            if !self.buffered.is_empty() {
                let held = self.buffered.split().freeze();
                return Poll::Ready(Some(Ok(held)));
            }
            return Pin::new(&mut self.inner).poll_next(cx);
        }
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if self.buffered.len() + chunk.len() > self.limit {
                        self.passing = true;
                        self.buffered.extend_from_slice(&chunk);
                        let held = self.buffered.split().freeze();
                        return Poll::Ready(Some(Ok(held)));
                    }
                    self.buffered.extend_from_slice(&chunk);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    let body = self.buffered.split().freeze();
                    let field = yaml_serde::from_slice::<yaml_serde::Value>(&body)
                        .ok()
                        .and_then(|value| find_nul_yaml(&value, &mut Vec::new()));
                    return match field {
                        Some(field) => {
                            *self.found.borrow_mut() = Some(field);
                            Poll::Ready(Some(Err(nul_payload_error())))
                        }
                        None if body.is_empty() => Poll::Ready(None),
                        None => Poll::Ready(Some(Ok(body))),
                    };
                }
            }
        }
    }
}

fn wrap_yaml(req: &mut ServiceRequest, found: &Rc<RefCell<Option<String>>>) {
    let limit = req
        .app_data::<web::Data<crate::platform::Platform>>()
        .map_or(1024 * 1024, |p| p.settings.server.json_body_limit);
    let checked = YamlChecked {
        inner: req.take_payload(),
        limit,
        buffered: BytesMut::new(),
        passing: false,
        found: found.clone(),
        finished: false,
    };
    req.set_payload(Payload::from(Box::pin(checked) as BoxedPayloadStream));
}

// ----- parsed values -----

/// One step of a path into a document.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    if path.is_empty() {
        return "(body)".to_string();
    }
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k)
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Key(k) => {
                out.push_str("[\"");
                out.push_str(&shown(k).replace('"', "\\\""));
                out.push_str("\"]");
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Text for a message: NUL and other control characters escaped, at most 100 characters.
fn shown(text: &str) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count >= 100 {
            out.push('…');
            break;
        }
        match c {
            '\0' => out.push_str("\\u0000"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The path (`manifest.name`, `steps[2].id`, `files["a\u0000"]`) of the first string — key or
/// value — containing a NUL, if any.
pub fn find_nul(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut Vec<Seg>) -> Option<String> {
        match value {
            serde_json::Value::String(s) if s.contains('\0') => Some(render(path)),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(Seg::Index(i));
                let found = walk(item, path);
                path.pop();
                found
            }),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                path.push(Seg::Key(key.clone()));
                let found = if key.contains('\0') {
                    Some(render(path))
                } else {
                    walk(item, path)
                };
                path.pop();
                found
            }),
            _ => None,
        }
    }
    walk(value, &mut Vec::new())
}

fn find_nul_yaml(value: &yaml_serde::Value, path: &mut Vec<Seg>) -> Option<String> {
    use yaml_serde::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(render(path)),
        Value::Sequence(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(Seg::Index(i));
            let found = find_nul_yaml(item, path);
            path.pop();
            found
        }),
        Value::Mapping(map) => map.iter().find_map(|(key, item)| {
            let name = match key {
                Value::String(s) => s.clone(),
                other => yaml_serde::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            path.push(Seg::Key(name));
            let found = find_nul_yaml(key, path).or_else(|| find_nul_yaml(item, path));
            path.pop();
            found
        }),
        Value::Tagged(tagged) => find_nul_yaml(&tagged.value, path),
        _ => None,
    }
}

// ----- streaming scanners -----

/// Where the JSON scanner is inside a container.
#[derive(Debug)]
enum Frame {
    Object {
        key: Option<String>,
        expecting_key: bool,
    },
    Array {
        index: usize,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    Backslash,
    Unicode,
}

/// Finds `\u0000` in JSON strings (keys and values) byte by byte, across chunk boundaries, and
/// keeps just enough state (the open containers, the current key) to name the field. It only
/// needs to be right for valid JSON: for anything else the handler's parser answers.
#[derive(Debug, Default)]
struct JsonScanner {
    stack: Vec<Frame>,
    in_string: bool,
    string_is_key: bool,
    key: Vec<u8>,
    escape: Escape,
    hex: u32,
    hex_len: u8,
    /// A NUL was seen in the key being read: report it once the whole key is known.
    nul_in_key: bool,
    done: bool,
}

/// Keys longer than this are cut in messages.
const KEY_CAP: usize = 256;

impl JsonScanner {
    fn path(&self, extra_key: Option<String>) -> String {
        let mut path: Vec<Seg> = Vec::new();
        for frame in &self.stack {
            match frame {
                Frame::Object { key: Some(k), .. } => path.push(Seg::Key(k.clone())),
                Frame::Object { key: None, .. } => {}
                Frame::Array { index } => path.push(Seg::Index(*index)),
            }
        }
        if let Some(k) = extra_key {
            // The NUL is in this object's key being read: replace the (stale) key of the top frame.
            if let Some(Frame::Object { key: Some(_), .. }) = self.stack.last() {
                path.pop();
            }
            path.push(Seg::Key(k));
        }
        render(&path)
    }

    fn push_key_byte(&mut self, b: u8) {
        if self.key.len() < KEY_CAP {
            self.key.push(b);
        }
    }

    fn push_key_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            self.push_key_byte(b);
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        if self.done {
            return None;
        }
        let mut i = 0;
        while i < chunk.len() {
            // Inside a value string, only `"` and `\` matter: skip to the next one.
            if self.in_string && !self.string_is_key && self.escape == Escape::None {
                match chunk[i..].iter().position(|&b| b == b'"' || b == b'\\') {
                    Some(at) => i += at,
                    None => break,
                }
            }
            let b = chunk[i];
            i += 1;
            if self.in_string {
                match self.escape {
                    Escape::Backslash => {
                        self.escape = Escape::None;
                        let decoded = match b {
                            b'u' => {
                                self.escape = Escape::Unicode;
                                self.hex = 0;
                                self.hex_len = 0;
                                continue;
                            }
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            other => other as char,
                        };
                        if self.string_is_key {
                            self.push_key_char(decoded);
                        }
                    }
                    Escape::Unicode => {
                        let Some(digit) = (b as char).to_digit(16) else {
                            // Not valid JSON: leave it to the parser.
                            self.escape = Escape::None;
                            continue;
                        };
                        self.hex = self.hex * 16 + digit;
                        self.hex_len += 1;
                        if self.hex_len == 4 {
                            self.escape = Escape::None;
                            if self.hex == 0 {
                                if self.string_is_key {
                                    self.nul_in_key = true;
                                } else {
                                    self.done = true;
                                    return Some(self.path(None));
                                }
                            }
                            if self.string_is_key {
                                let c = char::from_u32(self.hex).unwrap_or('\u{fffd}');
                                self.push_key_char(c);
                            }
                        }
                    }
                    Escape::None => match b {
                        b'\\' => self.escape = Escape::Backslash,
                        b'"' => {
                            self.in_string = false;
                            if self.string_is_key {
                                let key = String::from_utf8_lossy(&self.key).into_owned();
                                self.key.clear();
                                if self.nul_in_key {
                                    self.done = true;
                                    return Some(self.path(Some(key)));
                                }
                                if let Some(Frame::Object {
                                    key: slot,
                                    expecting_key,
                                }) = self.stack.last_mut()
                                {
                                    *slot = Some(key);
                                    *expecting_key = false;
                                }
                            }
                        }
                        other => {
                            if self.string_is_key {
                                self.push_key_byte(other);
                            }
                        }
                    },
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.escape = Escape::None;
                    self.string_is_key = matches!(
                        self.stack.last(),
                        Some(Frame::Object {
                            expecting_key: true,
                            ..
                        })
                    );
                    self.key.clear();
                    self.nul_in_key = false;
                }
                b'{' => self.stack.push(Frame::Object {
                    key: None,
                    expecting_key: true,
                }),
                b'[' => self.stack.push(Frame::Array { index: 0 }),
                b'}' | b']' => {
                    self.stack.pop();
                }
                b',' => match self.stack.last_mut() {
                    Some(Frame::Array { index }) => *index += 1,
                    Some(Frame::Object { key, expecting_key }) => {
                        *key = None;
                        *expecting_key = true;
                    }
                    None => {}
                },
                _ => {}
            }
        }
        None
    }

    /// At the end of the body: a key with a NUL that was never closed.
    fn finish(&mut self) -> Option<String> {
        if self.done || !self.nul_in_key {
            return None;
        }
        self.done = true;
        let key = String::from_utf8_lossy(&self.key).into_owned();
        Some(self.path(Some(key)))
    }
}

/// Finds `%00` (or a raw NUL) in `application/x-www-form-urlencoded` names and values.
#[derive(Debug, Default)]
struct FormScanner {
    name: Vec<u8>,
    in_value: bool,
    /// 0: no escape; 1: after `%`; 2: after `%` and one hex digit.
    percent: u8,
    high: u8,
    done: bool,
}

impl FormScanner {
    fn push(&mut self, b: u8) {
        if !self.in_value && self.name.len() < KEY_CAP {
            self.name.push(b);
        }
    }

    fn found(&mut self) -> Option<String> {
        self.done = true;
        let mut name = String::from_utf8_lossy(&self.name).into_owned();
        if !self.in_value {
            name.push('\0');
        }
        Some(shown(&name))
    }

    fn feed(&mut self, chunk: &[u8]) -> Option<String> {
        if self.done {
            return None;
        }
        for &b in chunk {
            if self.percent > 0 {
                let Some(digit) = (b as char).to_digit(16) else {
                    self.percent = 0;
                    continue;
                };
                if self.percent == 1 {
                    self.high = digit as u8;
                    self.percent = 2;
                    continue;
                }
                self.percent = 0;
                let decoded = self.high * 16 + digit as u8;
                if decoded == 0 {
                    return self.found();
                }
                self.push(decoded);
                continue;
            }
            match b {
                0 => return self.found(),
                b'%' => self.percent = 1,
                b'&' => {
                    self.name.clear();
                    self.in_value = false;
                }
                b'=' if !self.in_value => self.in_value = true,
                b'+' => self.push(b' '),
                other => self.push(other),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_json(body: &str, chunk: usize) -> Option<String> {
        let mut s = JsonScanner::default();
        for part in body.as_bytes().chunks(chunk.max(1)) {
            if let Some(found) = s.feed(part) {
                return Some(found);
            }
        }
        s.finish()
    }

    #[test]
    fn json_scanner_names_the_field_in_any_chunking() {
        let cases = [
            (r#"{"name": "a\u0000b"}"#, Some("name")),
            (
                r#"{"manifest": {"name": "x", "tags": ["ok", "b\u0000"]}}"#,
                Some("manifest.tags[1]"),
            ),
            (
                r#"{"files": {"ok.txt": "fine", "a\u0000b": "x"}}"#,
                Some(r#"files["a\u0000b"]"#),
            ),
            (r#"[1, {"a": [true, "\u0000"]}]"#, Some("[1].a[1]")),
            (r#""\u0000""#, Some("(body)")),
            (r#"{"we ird": "\u0000"}"#, Some(r#"["we ird"]"#)),
            (r#"{"k\"q": {"x": "\u0000"}}"#, Some(r#"["k\"q"].x"#)),
            // Not NULs: an escaped backslash followed by text, other escapes, braces in strings.
            (r#"{"a": "\\u0000", "b": "\u0001", "c": "{[\"]}"}"#, None),
            (r#"{"a": "x"}"#, None),
            // The key after a NUL-free object still gets the right name.
            (r#"{"a": {"b": 1}, "c": "\u0000"}"#, Some("c")),
            (
                r#"{"a": [1, 2, {"b": [3]}], "c": ["x", "\u0000"]}"#,
                Some("c[1]"),
            ),
        ];
        for (body, expected) in cases {
            for chunk in [1, 2, 3, 7, 1000] {
                assert_eq!(
                    scan_json(body, chunk).as_deref(),
                    expected,
                    "{body} in chunks of {chunk}"
                );
            }
        }
        // A key with a NUL at the very end of a truncated body is still reported.
        assert_eq!(
            scan_json(r#"{"x": {"ab\u0000"#, 4).as_deref(),
            Some(r#"x["ab\u0000"]"#)
        );
    }

    #[test]
    fn form_scanner_finds_percent_zero() {
        let scan = |body: &str| {
            let mut s = FormScanner::default();
            body.as_bytes().chunks(2).find_map(|c| s.feed(c))
        };
        assert_eq!(scan("a=1&name=x%00y").as_deref(), Some("name"));
        assert_eq!(scan("a=1&na%00me=x").as_deref(), Some("na\\u0000"));
        assert_eq!(scan("a=1&b=%2500&c=%41"), None);
    }

    #[test]
    fn parsed_values_are_walked() {
        let v = serde_json::json!({"a": [{"b": "x\u{0}"}]});
        assert_eq!(find_nul(&v).as_deref(), Some("a[0].b"));
        assert_eq!(
            find_nul(&serde_json::json!({"a\u{0}": 1})).as_deref(),
            Some("[\"a\\u0000\"]")
        );
        assert_eq!(find_nul(&serde_json::json!({"a": "b"})), None);
        let y: yaml_serde::Value =
            yaml_serde::from_str("name: w\nsteps:\n  - id: \"a\\0\"\n").unwrap();
        assert_eq!(
            find_nul_yaml(&y, &mut Vec::new()).as_deref(),
            Some("steps[0].id")
        );
    }

    #[test]
    fn route_patterns_name_path_parameters() {
        let p = "/api/v1/templates/{id}/files/{path:.*}";
        assert_eq!(pattern_param(p, 4).as_deref(), Some("id"));
        assert_eq!(pattern_param(p, 6).as_deref(), Some("path"));
        assert_eq!(pattern_param(p, 8).as_deref(), Some("path"));
        assert_eq!(pattern_param(p, 3), None);
        assert_eq!(
            pattern_param("/api/v1/runs/{run_id}/events/{name}", 6).as_deref(),
            Some("name")
        );
    }
}
