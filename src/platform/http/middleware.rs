//! The outermost request middleware: request id, W3C trace context, the request span, and the
//! HTTP metrics (by route template, method and status).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use crate::platform::telemetry::{self, REQUEST_TRACE_ID};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Accepts a caller's request id if it is short printable ASCII; otherwise makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        // From the thread's generator: `Uuid::new_v4` asks the kernel (a syscall) every time.
        .unwrap_or_else(|| {
            uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .to_string()
        })
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let incoming = req
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(telemetry::parse_traceparent);
    let method = req.method().to_string();
    let path = req.path().to_string();
    let quiet = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");

    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        http.method = %method,
        http.target = %path,
        http.route = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    let (trace_id, span_id) = trace_ids(&span, &req, incoming.as_ref());
    span.record("trace_id", trace_id.as_str());
    span.record("span_id", span_id.as_str());

    // Inner middleware answers its own errors (see auth), so they carry the trace id too.
    let mut res = REQUEST_TRACE_ID
        .scope(trace_id.clone(), next.call(req))
        .instrument(span.clone())
        .await?;

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16();
    span.record("http.route", route.as_str());
    span.record("http.status_code", status);
    let elapsed = started.elapsed().as_secs_f64();
    let timed = res
        .request()
        .app_data::<actix_web::web::Data<PerformanceMonitoring>>()
        .is_none_or(|p| p.0);
    record_metrics(&method, &route, status, timed.then_some(elapsed));
    {
        let _entered = span.enter();
        if quiet && status < 400 {
            tracing::debug!(status, elapsed_ms = elapsed * 1000.0, "{method} {route}");
        } else if status >= 500 {
            tracing::error!(status, elapsed_ms = elapsed * 1000.0, "{method} {route}");
        } else {
            tracing::info!(status, elapsed_ms = elapsed * 1000.0, "{method} {route}");
        }
    }

    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("00-{trace_id}-{span_id}-01")) {
        headers.insert(TRACEPARENT, v);
    }
    Ok(res)
}

/// One request's counter and, when `elapsed` is given, its latency; through handles kept per
/// worker thread, so a request does not build label strings and look them up in the registry
/// (the lookup borrows: nothing is allocated once a combination was seen).
fn record_metrics(method: &str, route: &str, status: u16, elapsed: Option<f64>) {
    type Handles = (metrics::Counter, Option<metrics::Histogram>);
    /// Per route template: its methods and statuses seen (a handful), with their handles.
    type PerRoute = Vec<(String, u16, Handles)>;
    thread_local! {
        static HANDLES: RefCell<HashMap<String, PerRoute>> = RefCell::default();
    }
    let labels = || {
        [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ]
    };
    HANDLES.with_borrow_mut(|handles| {
        // Bounded by methods × route templates × statuses; the guard is for the unexpected.
        if handles.len() > 4096 {
            handles.clear();
        }
        if !handles.contains_key(route) {
            handles.insert(route.to_string(), Vec::new());
        }
        let Some(seen) = handles.get_mut(route) else {
            return;
        };
        let found = seen
            .iter()
            .position(|(m, s, _)| *s == status && m == method);
        let at = match found {
            Some(at) => at,
            None => {
                if seen.len() > 64 {
                    seen.clear();
                }
                // The recorder is installed first, or the handles would be no-ops for good.
                let _ = telemetry::prometheus();
                let counter = metrics::counter!("maestro_http_requests_total", &labels());
                seen.push((method.to_string(), status, (counter, None)));
                seen.len() - 1
            }
        };
        let (_, _, (counter, histogram)) = &mut seen[at];
        counter.increment(1);
        if let Some(elapsed) = elapsed {
            histogram
                .get_or_insert_with(|| {
                    metrics::histogram!("maestro_http_request_duration_seconds", &labels())
                })
                .record(elapsed);
        }
    });
}

/// Whether latency histograms are recorded (`ENABLE_PERFORMANCE_MONITORING`).
#[derive(Debug, Clone, Copy)]
pub struct PerformanceMonitoring(pub bool);

/// With OpenTelemetry on, the span joins the caller's trace and the ids come from its context;
/// without it, the caller's trace id is kept (or a new one made) so logs still correlate.
fn trace_ids(
    span: &tracing::Span,
    req: &ServiceRequest,
    incoming: Option<&(String, String, bool)>,
) -> (String, String) {
    if telemetry::otel_enabled() {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        struct Headers<'a>(&'a actix_web::http::header::HeaderMap);
        impl opentelemetry::propagation::Extractor for Headers<'_> {
            fn get(&self, key: &str) -> Option<&str> {
                self.0.get(key).and_then(|v| v.to_str().ok())
            }
            fn keys(&self) -> Vec<&str> {
                self.0.keys().map(|k| k.as_str()).collect()
            }
        }
        let parent =
            opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(req.headers())));
        let _ = span.set_parent(parent);
        let context = span.context();
        let span_ref = context.span();
        let sc = span_ref.span_context();
        if sc.is_valid() {
            return (sc.trace_id().to_string(), sc.span_id().to_string());
        }
    }
    let trace_id = incoming
        .map(|(t, _, _)| t.clone())
        .unwrap_or_else(telemetry::random_trace_id);
    (trace_id, telemetry::random_span_id())
}
