//! The starter catalog: `maestro seed` and the first start import it into tenant `default`;
//! running it again changes nothing; every template instantiates with its defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Map;

use super::git_log;
use crate::helpers::{TestApp, maestro_bin, repo_root};
use maestro::modules::templates::TemplatesService;
use maestro::modules::templates::model::ListQuery;
use maestro::modules::templates::seed;
use maestro::modules::templates::service::{
    InstantiateRequest, InstantiationSource, system_principal,
};
use maestro::platform::auth::TenantId;

fn fixture_catalog() -> PathBuf {
    repo_root().join("tests/fixtures/catalog")
}

async fn all_templates(
    service: &TemplatesService,
    tenant: &TenantId,
) -> Vec<maestro::modules::templates::model::TemplateSummary> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = service
            .list(
                tenant,
                &ListQuery {
                    sort: Some("name".into()),
                    limit: Some(100),
                    offset: Some(offset),
                    ..ListQuery::default()
                },
                false,
            )
            .await
            .unwrap();
        let n = page.items.len() as i64;
        out.extend(page.items);
        if n == 0 || offset + n >= page.total {
            return out;
        }
        offset += n;
    }
}

/// Seeds `catalog`, checks idempotence and that every template renders with its defaults;
/// returns the seeded templates.
async fn seed_and_check(
    app: &TestApp,
    catalog: &std::path::Path,
) -> Vec<maestro::modules::templates::model::TemplateSummary> {
    let service = app.platform.services.get::<TemplatesService>().unwrap();
    let first = seed::run(&service, catalog).await.unwrap();
    assert!(first.skipped.is_empty(), "skipped: {:#?}", first.skipped);
    assert!(!first.created.is_empty());
    let tenant = TenantId(first.tenant_id.clone());
    let commits = git_log(app, &tenant.0).len();
    assert_eq!(
        commits,
        first.created.len(),
        "one commit per seeded template"
    );

    let again = seed::run(&service, catalog).await.unwrap();
    assert!(
        again.created.is_empty() && again.updated.is_empty() && again.skipped.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.unchanged.len(), first.created.len());
    assert_eq!(
        git_log(app, &tenant.0).len(),
        commits,
        "a re-run makes no commits"
    );

    let templates = all_templates(&service, &tenant).await;
    assert_eq!(templates.len(), first.created.len());
    let actor = system_principal(&tenant);
    for t in &templates {
        let done = service
            .instantiate(
                &actor,
                &t.id,
                InstantiateRequest {
                    parameters: Map::new(),
                    dry_run: true,
                    output_format: "json".into(),
                    ..InstantiateRequest::default()
                },
                InstantiationSource::Http,
            )
            .await
            .unwrap_or_else(|e| panic!("{} does not instantiate with its defaults: {e:?}", t.name));
        assert!(!done.files.is_empty(), "{} renders no files", t.name);
    }
    templates
}

#[tokio::test]
async fn the_fixture_catalog_seeds_idempotently_and_instantiates() {
    let app = TestApp::spawn().await;
    let templates = seed_and_check(&app, &fixture_catalog()).await;
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["adr-log", "make-release", "pytest-suite"]);
    let adr = templates.iter().find(|t| t.name == "adr-log").unwrap();
    assert_eq!(adr.format, "cookiecutter");
    assert_eq!(adr.author, "Maestro Test Fixtures");
    assert_eq!(adr.updated_by, seed::SEED_EMAIL);
    app.shutdown().await;
}

#[tokio::test]
async fn the_first_start_seeds_tenant_default() {
    let catalog = fixture_catalog();
    let app = TestApp::builder()
        .with(move |s| {
            s.templates.seed_on_start = true;
            s.templates.storage_path = catalog;
        })
        .spawn()
        .await;
    let service = app.platform.services.get::<TemplatesService>().unwrap();
    let tenant = app.platform.auth.ensure_tenant("default").await.unwrap();
    app.eventually("the catalog to be seeded", Duration::from_secs(30), || {
        let (service, tenant) = (service.clone(), tenant.clone());
        async move { (all_templates(&service, &tenant).await.len() == 3).then_some(()) }
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn maestro_seed_command_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(maestro_bin())
            .arg("--config-dir")
            .arg(repo_root().join("config"))
            .arg("seed")
            .env("MAESTRO_ENV", "test")
            .env("MAESTRO__DATA_DIR", dir.path().join("data"))
            .env(
                "MAESTRO__DATABASE__URL",
                format!("sqlite://{}", dir.path().join("m.db").display()),
            )
            .env("MAESTRO__REDIS__URL", "")
            .env("MAESTRO__TEMPLATES__STORAGE_PATH", fixture_catalog())
            .output()
            .unwrap()
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("3 created, 0 updated, 0 unchanged, 0 skipped"),
        "{stdout}"
    );
    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(
        stdout.contains("0 created, 0 updated, 3 unchanged, 0 skipped"),
        "{stdout}"
    );
}

/// The real starter catalog at the repository root: all 15 categories, at least three templates
/// each, every one instantiating with its defaults.
#[tokio::test]
async fn the_starter_catalog_covers_every_category_and_instantiates() {
    let catalog = repo_root().join("templates_storage");
    assert!(
        catalog.is_dir(),
        "templates_storage/ is missing at the repository root"
    );
    let app = TestApp::spawn().await;
    let templates = seed_and_check(&app, &catalog).await;
    for category in maestro::render::CATEGORIES {
        let n = templates.iter().filter(|t| t.category == category).count();
        assert!(
            n >= 3,
            "category {category} has {n} templates; at least 3 are needed"
        );
    }
    app.shutdown().await;
}
