//! The one way to read a raw request body (archives, YAML definitions, JUnit reports): bounded by
//! a limit that the 413 names, checked against `Content-Length` before anything is read. Also
//! what every archive reader shares: the archive formats a `Content-Type` names, and [`Metered`],
//! which counts decompressed bytes as they are produced.

use std::io::Read;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, web};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};

/// The media type of a `Content-Type` value, without its parameters and lowercased
/// (`Application/JSON; charset=utf-8` → `application/json`), for choosing how to read a body.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// How large a body may be, and what a client is told when it is larger.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    pub bytes: usize,
    /// The problem code of the 413 (`request.body_too_large`, `templates.upload_too_large`, …).
    pub code: &'static str,
    /// The setting that raises the limit, named in the 413 so an operator knows what to change.
    pub setting: &'static str,
}

impl BodyLimit {
    /// The JSON body limit (`server.json_body_limit`), for endpoints that read JSON or YAML by hand.
    pub fn json(bytes: usize) -> BodyLimit {
        BodyLimit {
            bytes,
            code: "request.body_too_large",
            setting: "server.json_body_limit",
        }
    }

    fn too_large(&self) -> ApiError {
        ApiError::payload_too_large(
            self.code,
            format!(
                "The request body is larger than {} bytes (limit {}).",
                self.bytes, self.setting
            ),
        )
    }
}

/// Reads the whole body up to `limit.bytes`; more is a 413 naming the limit, a broken stream a 400.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: BodyLimit,
) -> ApiResult<web::Bytes> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit.bytes as u64) {
        return Err(limit.too_large());
    }
    let mut body = web::BytesMut::with_capacity(
        declared
            .map_or(0, |n| n as usize)
            .min(limit.bytes)
            .min(1 << 20),
    );
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "request.invalid_body",
                format!("The request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit.bytes {
            return Err(limit.too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON body read with [`read_body`]; a body that is not `T` is a 400
/// `request.invalid_json` that says what was expected (`shape`) and what the parser found.
pub fn parse_json<T: DeserializeOwned>(body: &[u8], shape: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "request.invalid_json",
            format!("The body must be {shape}: {e}"),
        )
    })
}

/// The 415 for a body whose media type (`essence`, see [`media_type`]) the endpoint does not
/// read; `accepted` lists what it does.
pub fn unsupported_media_type(essence: &str, accepted: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request.unsupported_media_type",
        format!("`{essence}` is not accepted here; send {accepted}."),
    )
}

/// The archive formats accepted for upload (templates, report folders) and produced by
/// instantiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    TarGz,
}

impl ArchiveKind {
    /// The archive format named by a `Content-Type` (parameters and case do not matter).
    pub fn from_content_type(content_type: &str) -> Option<ArchiveKind> {
        match media_type(content_type).as_str() {
            "application/zip" | "application/x-zip-compressed" => Some(ArchiveKind::Zip),
            "application/gzip"
            | "application/x-gzip"
            | "application/x-tar+gzip"
            | "application/x-compressed-tar"
            | "application/tar+gzip" => Some(ArchiveKind::TarGz),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "application/zip",
            ArchiveKind::TarGz => "application/gzip",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::TarGz => "tar.gz",
        }
    }
}

/// A reader that counts the bytes it produces and fails once they pass `cap`: decompressed
/// sizes are counted, not believed, so a decompression bomb stops at the first byte over.
/// [`Metered::exceeded`] tells that failure from a broken archive.
pub struct Metered<R> {
    inner: R,
    produced: u64,
    cap: u64,
    exceeded: bool,
}

impl<R> Metered<R> {
    pub fn new(inner: R, cap: u64) -> Self {
        Metered {
            inner,
            produced: 0,
            cap,
            exceeded: false,
        }
    }

    /// Whether reading failed because the budget ran out.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if self.produced > self.cap {
            self.exceeded = true;
            return Err(std::io::Error::other("the archive expands past its budget"));
        }
        Ok(n)
    }
}
