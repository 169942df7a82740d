//! Response bodies: whole JSON documents, `Status` failures, and streams fed through a channel
//! (watch events, followed logs); an `Err` item in a stream breaks the connection like a dropped
//! TCP stream would.

use std::io;

use bytes::Bytes;
use http::Response;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::status::ApiFailure;

pub type FakeBody = BoxBody<Bytes, io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> FakeBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn response(code: u16, content_type: &str, body: FakeBody) -> Response<FakeBody> {
    let mut res = Response::new(body);
    *res.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        res.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    res
}

pub fn json_response(code: u16, v: &Value) -> Response<FakeBody> {
    response(
        code,
        "application/json",
        full(serde_json::to_vec(v).unwrap_or_default()),
    )
}

pub fn failure(f: &ApiFailure) -> Response<FakeBody> {
    json_response(f.code, &f.to_status())
}

/// A 200 whose body is whatever the sender sends, until it is dropped.
pub fn streaming(
    content_type: &str,
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
) -> Response<FakeBody> {
    let stream = ReceiverStream::new(rx).map(|item| item.map(Frame::data));
    response(200, content_type, BodyExt::boxed(StreamBody::new(stream)))
}
