//! Builds the HTTP application from the platform and the enabled modules, runs the background
//! tasks and stream consumers, and shuts everything down in order on SIGTERM/SIGINT: stop
//! accepting, let in-flight requests finish (up to `server.shutdown_timeout_secs`), then cancel
//! background work and wait for it.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::platform::Platform;
use crate::platform::health::Modules;
use crate::platform::http::error::{FieldError, Problem};
use crate::platform::http::middleware::PerformanceMonitoring;
use crate::platform::http::{extract, middleware};
use crate::platform::module::Module;

/// Builds a module from the platform; tests use this to add their own modules.
pub type ModuleFactory = Box<dyn FnOnce(&Platform) -> anyhow::Result<Arc<dyn Module>> + Send>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Maestro",
        description = "Template registry, quality gates, durable workflows, test healing and ephemeral Kubernetes environments in one server. Errors are RFC 9457 `application/problem+json`. Authenticate with `Authorization: Bearer <access token>` from `POST /api/v1/auth/token`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Tokens and the current user"),
        (name = "admin", description = "Tenant administration (admin role)"),
        (name = "health", description = "Liveness, readiness, status and metrics"),
    )
)]
struct BaseApi;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_string());
        scheme.description = Some("Access token from POST /api/v1/auth/token (or from the configured OIDC issuer). Scopes in `security` name the minimum role.".to_string());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

fn base_openapi(modules: &[Arc<dyn Module>]) -> utoipa::openapi::OpenApi {
    let mut doc = BaseApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    for module in modules {
        doc.merge(module.openapi());
    }
    doc
}

/// The actix application: platform routes, every enabled module, OpenAPI and Swagger UI.
pub fn build_app(
    platform: Platform,
    modules: Modules,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let settings = platform.settings.clone();
    let console_platform = platform.clone();
    let (app, api) = utoipa_app(platform, modules).split_for_parts();
    app.configure(|cfg| crate::console::configure(cfg, &console_platform))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .service(web::redirect("/docs", "/docs/"))
        .default_service(web::to(extract::not_found))
        .wrap(from_fn(crate::platform::http::nul::reject_nul))
        .wrap(from_fn(crate::platform::auth::middleware::authenticate))
        .wrap(cors(&settings))
        .wrap(from_fn(middleware::request_context))
}

fn utoipa_app(
    platform: Platform,
    modules: Modules,
) -> utoipa_actix_web::UtoipaApp<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let settings = platform.settings.clone();
    let mut app = App::new()
        .into_utoipa_app()
        .openapi(base_openapi(&modules.0))
        .app_data(web::Data::new(platform.clone()))
        .app_data(web::Data::new(platform.auth.clone()))
        .app_data(web::Data::new(modules.clone()))
        .app_data(web::Data::new(PerformanceMonitoring(
            settings.telemetry.performance_monitoring,
        )))
        .app_data(extract::json_config(settings.server.json_body_limit))
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .configure(crate::platform::health::configure)
        .configure(crate::platform::auth::routes::configure)
        .configure(crate::platform::admin::configure);
    for module in modules.0.iter() {
        let module = module.clone();
        app = app.configure(move |cfg| module.configure(cfg));
    }
    app
}

/// The OpenAPI document this configuration serves (also `maestro openapi`).
pub fn openapi_document(platform: &Platform, modules: &Modules) -> utoipa::openapi::OpenApi {
    utoipa_app(platform.clone(), modules.clone())
        .split_for_parts()
        .1
}

fn cors(settings: &Settings) -> actix_cors::Cors {
    let origins = &settings.server.cors_allowed_origins;
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers(vec![
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::IF_MATCH,
            actix_web::http::header::HeaderName::from_static("idempotency-key"),
            middleware::REQUEST_ID,
            middleware::TRACEPARENT,
        ])
        .expose_headers(vec![
            actix_web::http::header::ETAG,
            actix_web::http::header::LOCATION,
            middleware::REQUEST_ID,
            middleware::TRACEPARENT,
        ])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin.trim_end_matches('/'));
        }
    }
    cors
}

/// A running Maestro: HTTP server plus background tasks.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    platform: Platform,
    modules: Modules,
    cancel: CancellationToken,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    pending_tasks: Vec<crate::platform::module::BackgroundTask>,
}

/// Stops a running [`Application`] from elsewhere (tests, signal handler).
#[derive(Clone)]
pub struct ShutdownHandle {
    server: actix_web::dev::ServerHandle,
    cancel: CancellationToken,
}

impl ShutdownHandle {
    /// Graceful: in-flight requests finish, then background tasks are cancelled.
    pub async fn shutdown(&self) {
        self.server.stop(true).await;
        self.cancel.cancel();
    }

    /// Immediate: drops connections and cancels tasks without waiting.
    pub async fn abort(&self) {
        self.cancel.cancel();
        self.server.stop(false).await;
    }
}

impl Application {
    /// Builds with the modules enabled in `settings`.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with(settings, Vec::new()).await
    }

    /// Builds with extra modules besides the configured ones.
    pub async fn build_with(
        settings: Settings,
        extra: Vec<ModuleFactory>,
    ) -> anyhow::Result<Application> {
        let platform = Platform::new(settings)?;
        if platform.settings.database.migrate_on_start {
            let applied = platform.migrate(Duration::from_secs(30)).await?;
            if !applied.is_empty() {
                tracing::info!(count = applied.len(), "applied database migrations");
            }
        }
        let mut modules = crate::modules::build(&platform).await?;
        for factory in extra {
            modules.push(factory(&platform)?);
        }
        let modules = Modules(Arc::new(modules));
        metrics::gauge!("maestro_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        crate::platform::telemetry::prometheus();

        let settings = platform.settings.clone();
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}:{}: {e}; set server.port (MAESTRO__SERVER__PORT) to a free port",
                    settings.server.host,
                    settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let app_platform = platform.clone();
        let app_modules = modules.clone();
        let mut server =
            HttpServer::new(move || build_app(app_platform.clone(), app_modules.clone()))
                .disable_signals()
                .shutdown_timeout(settings.server.shutdown_timeout_secs)
                .listen(listener)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.run();

        let cancel = CancellationToken::new();
        let mut pending_tasks = platform.background_tasks();
        for module in modules.0.iter() {
            pending_tasks.extend(module.tasks());
        }
        if let Some(edge) = &platform.edge {
            let mut sampled = Vec::new();
            for module in modules.0.iter() {
                for handler in module.stream_handlers() {
                    sampled.push((
                        edge.stream_name(handler.stream),
                        handler.stream,
                        handler.group,
                    ));
                    let edge = edge.clone();
                    pending_tasks.push(crate::platform::module::BackgroundTask::new(
                        "stream-consumer",
                        move |cancel| edge.consumer_loop(handler, cancel),
                    ));
                }
            }
            let edge = edge.clone();
            pending_tasks.push(crate::platform::module::BackgroundTask::new(
                "stream-metrics",
                move |cancel| {
                    Box::pin(async move {
                        loop {
                            edge.sample_metrics(&sampled).await;
                            tokio::select! {
                                _ = cancel.cancelled() => return Ok(()),
                                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                            }
                        }
                    })
                },
            ));
        }

        Ok(Application {
            port,
            server,
            platform,
            modules,
            cancel,
            tasks: JoinSet::new(),
            pending_tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    pub fn modules(&self) -> &Modules {
        &self.modules
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            server: self.server.handle(),
            cancel: self.cancel.clone(),
        }
    }

    /// Serves until the server stops (signal or [`ShutdownHandle`]), then cancels background
    /// tasks and waits for them.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        for task in self.pending_tasks.drain(..) {
            let cancel = self.cancel.child_token();
            let name = task.name;
            let fut = (task.run)(cancel);
            self.tasks.spawn(async move { (name, fut.await) });
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        let cancel = self.cancel.clone();
        let supervise = async move {
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok((name, Ok(()))) => tracing::debug!(task = name, "background task finished"),
                    Ok((name, Err(e))) => {
                        tracing::error!(task = name, error = ?e, "background task failed")
                    }
                    Err(e) if e.is_cancelled() => {}
                    Err(e) => tracing::error!(error = %e, "background task panicked"),
                }
            }
        };
        let supervisor = tokio::spawn(supervise);
        let result = self.server.await;
        cancel.cancel();
        if tokio::time::timeout(Duration::from_secs(10), supervisor)
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within 10 s");
        }
        self.platform.release();
        result.map_err(Into::into)
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down gracefully"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down gracefully"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
