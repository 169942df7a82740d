//! Black-box tests of the workflows module. Test step types (`test.instantiate`, `test.gate`)
//! stand in for the templates and quality modules' types, which live in other branches.

mod definitions;
mod durability;
mod runs;
mod waits;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::DateTime;
use futures::future::BoxFuture;
use maestro::modules::workflows::WorkflowsService;
use maestro::platform::Platform;
use maestro::platform::module::Module;
use maestro::platform::steps::{StepContext, StepFailure, StepType};
use maestro::server::ModuleFactory;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::TestApp;

/// Renders a "template": returns a checksum of its inputs and a file count.
struct TestInstantiate;
impl StepType for TestInstantiate {
    fn name(&self) -> &'static str {
        "test.instantiate"
    }
    fn validate(&self, with: &Value) -> Result<(), String> {
        if with.get("template").is_none() {
            return Err("`template` is required".into());
        }
        Ok(())
    }
    fn run(&self, ctx: StepContext, with: Value) -> BoxFuture<'static, Result<Value, StepFailure>> {
        Box::pin(async move {
            let digest = sha2::Sha256::digest(with.to_string().as_bytes());
            Ok(json!({
                "checksum": hex::encode(digest),
                "files": 3,
                "author": ctx.actor.display_name(),
                "template": with["template"],
            }))
        })
    }
}

/// A quality gate: fails (for good) below the threshold.
struct TestGate;
impl StepType for TestGate {
    fn name(&self) -> &'static str {
        "test.gate"
    }
    fn run(
        &self,
        _ctx: StepContext,
        with: Value,
    ) -> BoxFuture<'static, Result<Value, StepFailure>> {
        Box::pin(async move {
            let score = with["score"].as_f64().unwrap_or(0.0);
            let threshold = with["threshold"].as_f64().unwrap_or(70.0);
            if score < threshold {
                Err(StepFailure::Permanent(format!(
                    "quality gate failed: score {score} is below {threshold}"
                )))
            } else {
                Ok(json!({"passed": true, "score": score}))
            }
        })
    }
}

struct TestSteps;
impl Module for TestSteps {
    fn name(&self) -> &'static str {
        "test-steps"
    }
    fn configure(&self, _cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {}
}

pub fn test_steps() -> ModuleFactory {
    Box::new(|platform: &Platform| {
        platform.steps.register(Arc::new(TestInstantiate));
        platform.steps.register(Arc::new(TestGate));
        Ok(Arc::new(TestSteps) as Arc<dyn Module>)
    })
}

/// A TestApp with the test step types (and a bigger pool: the engine uses connections too).
pub async fn spawn() -> TestApp {
    TestApp::builder()
        .module(test_steps())
        .with(|s| s.database.pool_size = 8)
        .spawn()
        .await
}

pub async fn create(app: &TestApp, definition: &Value) -> Value {
    let (status, body) = app
        .post("/api/v1/workflows", Some(&app.editor.token), definition)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

pub async fn execute(app: &TestApp, workflow_id: &str, inputs: Value) -> Value {
    let (status, body) = app
        .post(
            &format!("/api/v1/workflows/{workflow_id}/execute"),
            Some(&app.editor.token),
            &json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

pub async fn get_run(app: &TestApp, run_id: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/workflows/runs/{run_id}"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits until the run reaches `status` (panics with the last view after `secs`).
pub async fn wait_status(app: &TestApp, run_id: &str, status: &str, secs: u64) -> Value {
    let last = LastSeen::default();
    app.eventually(
        &format!("run {run_id} to reach {status}"),
        Duration::from_secs(secs),
        || async {
            let run = get_run(app, run_id).await;
            last.set(&run);
            (run["status"] == status).then_some(run)
        },
    )
    .await
}

/// Waits (up to 10 s) until step `step_id` of the run has `status`.
pub async fn wait_step(app: &TestApp, run_id: &str, step_id: &str, status: &str) {
    app.eventually(
        &format!("step {step_id} of run {run_id} to be {status}"),
        Duration::from_secs(10),
        || async { (step(&get_run(app, run_id).await, step_id)["status"] == status).then_some(()) },
    )
    .await
}

/// Waits until the workflow engine has nothing left to do now: no transaction under way, no
/// step executing or waiting to be committed, no queue row due. Use it before asserting that
/// something did *not* happen (a paused run's next step did not start, nothing ran after a
/// cancel), instead of sleeping.
pub async fn drain_workflows(app: &TestApp) {
    let service = app
        .platform
        .services
        .get::<WorkflowsService>()
        .expect("the workflows module is enabled");
    app.eventually(
        "the workflow engine to drain",
        Duration::from_secs(30),
        || {
            let engine = service.engine().clone();
            async move { engine.is_idle().await.then_some(()) }
        },
    )
    .await;
}

/// The last value a wait saw, printed if the wait panics (it timed out).
#[derive(Default)]
struct LastSeen(std::sync::Mutex<Value>);

impl LastSeen {
    fn set(&self, value: &Value) {
        if let Ok(mut last) = self.0.lock() {
            *last = value.clone();
        }
    }
}

impl Drop for LastSeen {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(last) = self.0.lock()
        {
            eprintln!("last seen: {last:#}");
        }
    }
}

pub fn step<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("step {id} missing in {run:#}"))
}

/// A small HTTP service for `http.request` steps: `/ok` answers 200 with JSON, `/flaky` answers
/// 500 until `fixed` is set, `/slow` takes 2 s. Counts hits.
pub struct MockHttp {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
    pub fixed: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

impl MockHttp {
    pub async fn start() -> MockHttp {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let hits = Arc::new(AtomicUsize::new(0));
        let fixed = Arc::new(AtomicBool::new(false));
        let (h, f) = (hits.clone(), fixed.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let (h1, h2, f2) = (h.clone(), h.clone(), f.clone());
            App::new()
                .route(
                    "/ok",
                    web::post().to(move |req: actix_web::HttpRequest, body: web::Json<Value>| {
                        let h = h1.clone();
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            let key = req
                                .headers()
                                .get("idempotency-key")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string();
                            HttpResponse::Ok().json(json!({
                                "received": body.into_inner(),
                                "deployed": true,
                                "idempotency_key": key,
                            }))
                        }
                    }),
                )
                .route(
                    "/flaky",
                    web::get().to(move || {
                        let (h, f) = (h2.clone(), f2.clone());
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            if f.load(Ordering::SeqCst) {
                                HttpResponse::Ok().json(json!({"healthy": true}))
                            } else {
                                HttpResponse::InternalServerError().body("backend down")
                            }
                        }
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        MockHttp {
            url: format!("http://127.0.0.1:{port}"),
            hits,
            fixed,
            handle,
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// A timestamp field of a run or step.
fn time(v: &Value) -> DateTime<chrono::Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&chrono::Utc)
}
