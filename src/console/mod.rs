//! The web console under `/ui`: server-rendered pages (minijinja, auto-escaped `.html`
//! templates embedded in the binary), htmx for partial updates and Pico CSS, both vendored in
//! `assets/vendor/` and served from versioned, immutable URLs. Pages call the modules' services
//! in-process, with the caller's principal, so roles and tenants are enforced exactly as in the
//! API. A page exists only when its module is enabled (its service is registered).
//!
//! Sign-in ([`session`]) keeps the API's access and refresh tokens in HttpOnly, SameSite=Strict
//! cookies; every POST carries a CSRF token (double-submit, see [`session::CsrfForm`]).

pub mod assets;
pub mod bench;
pub mod markdown;
pub mod oidc;
mod pages;
pub mod session;
pub mod view;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::modules::healing::HealingService;
use crate::modules::k8s::K8sService;
use crate::modules::quality::QualityService;
use crate::modules::templates::TemplatesService;
use crate::modules::workflows::WorkflowsService;
use crate::platform::Platform;

/// The console's problem codes (shown on its HTML error pages), registered beside the modules'
/// enums so they are unique and documented in docs/errors.md.
pub const CONSOLE_CODES: &[crate::platform::http::error::CodeDoc] = {
    use crate::platform::http::error::CodeDoc;
    use actix_web::http::StatusCode;
    &[
        CodeDoc::new("console.csrf", StatusCode::FORBIDDEN),
        CodeDoc::new("console.not_found", StatusCode::NOT_FOUND),
        CodeDoc::new("console.step_not_found", StatusCode::NOT_FOUND),
        CodeDoc::new("console.redrive_skipped", StatusCode::CONFLICT),
        CodeDoc::new("console.form_too_large", StatusCode::PAYLOAD_TOO_LARGE),
        CodeDoc::new("console.form_expected", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        CodeDoc::new("console.oidc_failed", StatusCode::BAD_GATEWAY),
    ]
};

/// The services the console found registered: a `None` is a disabled module, whose pages and
/// nav entries do not exist.
#[derive(Clone)]
pub struct Console {
    pub platform: Platform,
    pub templates: Option<TemplatesService>,
    pub quality: Option<QualityService>,
    pub workflows: Option<WorkflowsService>,
    pub healing: Option<HealingService>,
    pub k8s: Option<K8sService>,
    /// The "Sign in with …" client, when `auth.oidc.client_id` is set.
    pub oidc: Option<std::sync::Arc<oidc::OidcClient>>,
}

/// A module's service for a page, or the 404 a page of a disabled module answers.
pub(crate) fn enabled<'a, T>(
    service: &'a Option<T>,
    module: &str,
) -> Result<&'a T, crate::platform::http::error::ApiError> {
    service.as_ref().ok_or_else(|| {
        crate::platform::http::error::ApiError::not_found(
            "console.not_found",
            format!("The {module} module is off."),
        )
    })
}

/// One entry of the navigation bar.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// The first path segment after `/ui/` that marks this entry as current.
    pub section: &'static str,
}

impl Console {
    pub fn new(platform: &Platform) -> Console {
        Console {
            platform: platform.clone(),
            templates: platform.services.get::<TemplatesService>(),
            quality: platform.services.get::<QualityService>(),
            workflows: platform.services.get::<WorkflowsService>(),
            healing: platform.services.get::<HealingService>(),
            k8s: platform.services.get::<K8sService>(),
            oidc: oidc::OidcClient::new(platform.settings.auth.oidc.clone()),
        }
    }

    /// The navigation: only the enabled modules' pages.
    pub fn nav(&self) -> Vec<NavItem> {
        let mut nav = Vec::new();
        if self.templates.is_some() {
            nav.push(NavItem {
                href: "/ui/templates",
                label: "Catalog",
                section: "templates",
            });
        }
        if self.quality.is_some() {
            nav.push(NavItem {
                href: "/ui/quality",
                label: "Quality",
                section: "quality",
            });
        }
        if self.workflows.is_some() {
            nav.push(NavItem {
                href: "/ui/workflows",
                label: "Workflows",
                section: "workflows",
            });
            nav.push(NavItem {
                href: "/ui/runs",
                label: "Runs",
                section: "runs",
            });
            nav.push(NavItem {
                href: "/ui/dlq",
                label: "Dead letters",
                section: "dlq",
            });
        }
        if self.healing.is_some() {
            nav.push(NavItem {
                href: "/ui/healing",
                label: "Healing",
                section: "healing",
            });
        }
        if self.k8s.is_some() {
            nav.push(NavItem {
                href: "/ui/environments",
                label: "Environments",
                section: "environments",
            });
        }
        nav
    }
}

/// Mounts `/ui` (not part of the OpenAPI document: these are pages, not API).
pub fn configure(cfg: &mut web::ServiceConfig, platform: &Platform) {
    let console = Console::new(platform);
    let mut scope = web::scope("/ui")
        .app_data(web::Data::new(console.clone()))
        .wrap(from_fn(session::ui_middleware))
        .configure(assets::configure)
        .configure(session::configure)
        .configure(|cfg| {
            if console.oidc.is_some() {
                oidc::configure(cfg);
            }
        })
        .route("", web::get().to(pages::home))
        .route("/", web::get().to(pages::home));
    if console.templates.is_some() {
        scope = scope.configure(pages::templates::configure);
    }
    if console.quality.is_some() {
        scope = scope.configure(pages::quality::configure);
    }
    if console.workflows.is_some() {
        scope = scope.configure(pages::workflows::configure);
    }
    if console.healing.is_some() {
        scope = scope.configure(pages::healing::configure);
    }
    if console.k8s.is_some() {
        scope = scope.configure(pages::k8s::configure);
    }
    cfg.service(scope);
}
