//! A small module used by the platform tests: two routes and a stream handler whose behaviour the
//! message decides (`fail=always` keeps failing; anything else succeeds and is recorded).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use maestro::platform::auth::{Authorized, Viewer};
use maestro::platform::edge::{StreamHandler, StreamMessage};
use maestro::platform::module::Module;
use maestro::server::ModuleFactory;

pub const STREAM: &str = "testmod:requests";
pub const GROUP: &str = "maestro-testmod-workers";

#[derive(Clone, Default)]
pub struct Recorder {
    pub handled: Arc<Mutex<Vec<StreamMessage>>>,
    pub attempts: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub fn handled_ids(&self) -> Vec<String> {
        self.handled
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.id.clone())
            .collect()
    }

    pub fn handled_field(&self, field: &str) -> Vec<String> {
        self.handled
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| m.field(field).map(str::to_string))
            .collect()
    }
}

pub struct TestModule {
    recorder: Recorder,
}

/// `/api/v1/testmod/ping` (any role), `/api/v1/testmod/slow?ms=` (any role; sleeps).
pub fn test_module(recorder: Recorder) -> ModuleFactory {
    Box::new(move |_platform| Ok(Arc::new(TestModule { recorder }) as Arc<dyn Module>))
}

#[derive(serde::Deserialize)]
struct SlowQuery {
    ms: u64,
}

/// Answers pong.
#[utoipa::path(
    tag = "testmod",
    responses(
        (status = 200, description = "pong"),
        (status = 401, description = "Missing token", body = maestro::platform::http::error::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/testmod/ping")]
async fn ping(caller: Authorized<Viewer>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"pong": true, "role": caller.role}))
}

/// Answers after `ms` milliseconds.
#[utoipa::path(
    tag = "testmod",
    params(("ms" = u64, Query, description = "Delay")),
    responses(
        (status = 200, description = "done"),
        (status = 401, description = "Missing token", body = maestro::platform::http::error::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/testmod/slow")]
async fn slow(_caller: Authorized<Viewer>, q: web::Query<SlowQuery>) -> HttpResponse {
    tokio::time::sleep(Duration::from_millis(q.ms)).await;
    HttpResponse::Ok().json(serde_json::json!({"slept_ms": q.ms}))
}

impl Module for TestModule {
    fn name(&self) -> &'static str {
        "testmod"
    }

    fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
        cfg.service(ping).service(slow);
    }

    fn stream_handlers(&self) -> Vec<StreamHandler> {
        let recorder = self.recorder.clone();
        vec![StreamHandler {
            stream: STREAM,
            group: GROUP,
            handler: Arc::new(move |message: StreamMessage| {
                let recorder = recorder.clone();
                Box::pin(async move {
                    recorder.attempts.lock().unwrap().push(message.id.clone());
                    if message.field("fail") == Some("always") {
                        anyhow::bail!("handler refused message {}: fail=always", message.id);
                    }
                    recorder.handled.lock().unwrap().push(message);
                    Ok(())
                })
            }),
        }]
    }
}

pub mod k8s_fake;
