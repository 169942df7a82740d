//! Search by text, category and tags; list filters, sorting, pagination; categories.

use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn make(
    app: &TestApp,
    name: &str,
    category: &str,
    tags: &[&str],
    description: &str,
) -> String {
    let body = json!({
        "manifest": {"name": name, "version": "1.0.0", "description": description, "category": category, "author": "Search Team", "tags": tags},
        "files": {"README.md": format!("# {name}\n"), "out.txt": "x"}
    });
    let (status, created) = app
        .post("/api/v1/templates", Some(&app.editor.token), &body)
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn search_finds_by_text_category_and_tags() {
    let app = TestApp::spawn().await;
    make(
        &app,
        "fastapi-service",
        "backend_developer",
        &["python", "fastapi", "api"],
        "HTTP API on FastAPI",
    )
    .await;
    make(
        &app,
        "python-worker",
        "backend_developer",
        &["python", "queue"],
        "Queue worker that calls a FastAPI backend",
    )
    .await;
    make(
        &app,
        "react-dashboard",
        "frontend_developer",
        &["react", "typescript"],
        "Admin dashboard",
    )
    .await;
    make(
        &app,
        "terraform-vpc",
        "devops_engineer",
        &["terraform", "aws"],
        "A VPC with subnets",
    )
    .await;
    let token = app.viewer.token.clone();

    // Text: name matches rank first; every word must match.
    let (status, page) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"query": "fastapi"}),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(names(&page), vec!["fastapi-service", "python-worker"]);
    assert!(
        page["items"][0]["relevance"].as_f64().unwrap()
            > page["items"][1]["relevance"].as_f64().unwrap()
    );
    let (_, page) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"query": "FastAPI queue"}),
        )
        .await;
    assert_eq!(names(&page), vec!["python-worker"]);
    let (_, page) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"query": "100%_"}),
        )
        .await;
    assert_eq!(page["total"], 0, "LIKE wildcards are literal: {page}");

    // Category and tags.
    let (_, page) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"category": "backend_developer", "sort": "name"}),
        )
        .await;
    assert_eq!(names(&page), vec!["fastapi-service", "python-worker"]);
    let (_, page) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"tags": ["python", "queue"]}),
        )
        .await;
    assert_eq!(names(&page), vec!["python-worker"]);
    let (_, page) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"query": "dashboard", "category": "frontend_developer", "tags": ["react"]}),
        )
        .await;
    assert_eq!(names(&page), vec!["react-dashboard"]);
    let (status, problem) = app
        .post(
            "/api/v1/templates/search",
            Some(&token),
            &json!({"category": "cooking"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "category");

    // GET list filters, sort and pages.
    let (_, page) = app
        .get("/api/v1/templates?tags=python&sort=-name", Some(&token))
        .await;
    assert_eq!(names(&page), vec!["python-worker", "fastapi-service"]);
    let (_, page) = app.get("/api/v1/templates?text=vpc", Some(&token)).await;
    assert_eq!(names(&page), vec!["terraform-vpc"]);
    let (_, first) = app
        .get("/api/v1/templates?sort=name&limit=2", Some(&token))
        .await;
    let (_, second) = app
        .get("/api/v1/templates?sort=name&limit=2&offset=2", Some(&token))
        .await;
    assert_eq!(first["total"], 4);
    assert_eq!(names(&first), vec!["fastapi-service", "python-worker"]);
    assert_eq!(names(&second), vec!["react-dashboard", "terraform-vpc"]);
    let (status, _) = app.get("/api/v1/templates?sort=size", Some(&token)).await;
    assert_eq!(status, 422);

    // Quality: set through the service (as the quality module does) and filter/sort by it.
    let service = app
        .platform
        .services
        .get::<maestro::modules::templates::TemplatesService>()
        .unwrap();
    let tenant = maestro::platform::auth::TenantId(app.viewer.tenant_id.clone());
    let (_, all) = app.get("/api/v1/templates?sort=name", Some(&token)).await;
    for (i, t) in all["items"].as_array().unwrap().iter().enumerate() {
        let stored = service
            .set_quality_score(
                &tenant,
                t["id"].as_str().unwrap(),
                t["current_commit"].as_str().unwrap(),
                60.0 + 10.0 * i as f64,
            )
            .await
            .unwrap();
        assert!(stored);
    }
    assert!(
        !service
            .set_quality_score(
                &tenant,
                all["items"][0]["id"].as_str().unwrap(),
                &"0".repeat(40),
                99.0
            )
            .await
            .unwrap(),
        "a stale commit is not scored"
    );
    let (_, page) = app
        .get(
            "/api/v1/templates?min_quality=75&sort=-quality",
            Some(&token),
        )
        .await;
    assert_eq!(names(&page), vec!["terraform-vpc", "react-dashboard"]);
    assert_eq!(page["items"][0]["quality_score"], 90.0);

    // Categories: all 15, with counts.
    let (_, cats) = app.get("/api/v1/templates/categories", Some(&token)).await;
    let cats = cats.as_array().unwrap();
    assert_eq!(cats.len(), 15);
    assert_eq!(
        cats.iter()
            .find(|c| c["category"] == "backend_developer")
            .unwrap()["count"],
        2
    );
    app.shutdown().await;
}
