//! Logs, traces and the metrics recorder. Logs are readable in development and JSON in
//! production (each line carries the request's `trace_id`/`span_id` in its span fields); spans go
//! to an OTLP/HTTP collector when `telemetry.otlp_endpoint` is set; metrics are rendered in
//! Prometheus text by `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Settings};

tokio::task_local! {
    /// The current request's trace id, for problem+json bodies.
    pub static REQUEST_TRACE_ID: String;
}

static OTEL_ENABLED: OnceLock<bool> = OnceLock::new();
static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The trace id of the request being served, if any.
pub fn current_trace_id() -> Option<String> {
    REQUEST_TRACE_ID.try_with(|id| id.clone()).ok()
}

/// True when spans are exported through OpenTelemetry (trace ids then come from its context).
pub fn otel_enabled() -> bool {
    OTEL_ENABLED.get().copied().unwrap_or(false)
}

/// Flushes exported spans on drop.
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("maestro: flushing traces failed: {e}");
        }
    }
}

/// Installs the global subscriber once per process (later calls, e.g. from tests, are no-ops).
pub fn init(settings: &Settings) -> anyhow::Result<TelemetryGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env)?,
        _ => EnvFilter::try_new(&settings.telemetry.log_level)?,
    };
    let fmt_layer = match settings.log_format() {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_target(true)
            .boxed(),
        _ => tracing_subscriber::fmt::layer().with_target(false).boxed(),
    };

    let mut provider = None;
    let otel_layer = if settings.telemetry.otlp_endpoint.is_empty() {
        None
    } else {
        use opentelemetry_otlp::WithExportConfig;
        let endpoint = format!(
            "{}/v1/traces",
            settings.telemetry.otlp_endpoint.trim_end_matches('/')
        );
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()?;
        let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(settings.telemetry.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = tracer_provider.tracer("maestro");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        provider = Some(tracer_provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    };

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .is_ok();
    if installed {
        let _ = OTEL_ENABLED.set(provider.is_some());
    } else {
        provider = None;
    }
    Ok(TelemetryGuard { provider })
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".to_string()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("maestro_quality_score".to_string()),
                    &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed; the handle still renders our registry.
        let _ = metrics::set_global_recorder(recorder);
        // Every observation of a histogram waits in the recorder until it is drained into its
        // buckets, which only a scrape or an upkeep does: unscraped, a busy replica grew by ~20
        // bytes per request (7 MiB per 380k hot GETs, ~50 MiB per load round). One thread for the
        // process, so it runs whatever the runtimes are doing.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

/// How often histogram observations are drained into their buckets when nothing scrapes.
const METRICS_UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// W3C `traceparent` parts: (trace id, parent span id, sampled).
pub fn parse_traceparent(raw: &str) -> Option<(String, String, bool)> {
    let mut parts = raw.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let span_id = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    if !hex(version, 2)
        || version == "ff"
        || !hex(trace_id, 32)
        || !hex(span_id, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || span_id.bytes().all(|b| b == b'0') {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some((trace_id.to_string(), span_id.to_string(), sampled))
}

pub fn random_trace_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

pub fn random_span_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let (t, s, sampled) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s, "00f067aa0ba902b7");
        assert!(sampled);
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(
            parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none()
        );
        assert!(parse_traceparent("garbage").is_none());
        assert!(
            parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none()
        );
    }
}
