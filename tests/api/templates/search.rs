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
    // The scores below are set by hand: no quality module scoring the creates behind our back.
    let app = TestApp::builder()
        .with(|s| s.modules.quality = false)
        .spawn()
        .await;
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
    // The search index follows the scores too (a score leaves `updated_at` as it is).
    let (_, page) = app
        .get(
            "/api/v1/templates?text=team&min_quality=75&sort=-quality",
            Some(&token),
        )
        .await;
    assert_eq!(names(&page), vec!["terraform-vpc", "react-dashboard"]);

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

async fn search(app: &TestApp, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    app.post("/api/v1/templates/search", Some(token), &body)
        .await
}

async fn found(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let (status, page) = search(app, token, json!({"query": query, "limit": 100})).await;
    assert_eq!(status, 200, "{query}: {page}");
    assert_eq!(
        page["total"].as_u64().unwrap() as usize,
        page["items"].as_array().unwrap().len(),
        "{query}: {page}"
    );
    names(&page)
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// Phrases, prefixes, several words, `or` and `-`, through the full-text index of either
/// backend; the index follows updates and deletes.
#[tokio::test]
async fn search_understands_phrases_prefixes_and_several_words() {
    let app = TestApp::spawn().await;
    make(
        &app,
        "postgres-migrations",
        "backend_developer",
        &["postgresql", "sql"],
        "Schema migrations for PostgreSQL with rollback",
    )
    .await;
    make(
        &app,
        "admin-dashboard",
        "frontend_developer",
        &["react", "admin"],
        "An admin dashboard with charts",
    )
    .await;
    make(
        &app,
        "ops-console",
        "devops_engineer",
        &["ops"],
        "Dashboard for the admin team",
    )
    .await;
    let go = make(
        &app,
        "go-service",
        "backend_developer",
        &["go", "grpc"],
        "A gRPC service in Go",
    )
    .await;
    make(
        &app,
        "google-cloud-function",
        "devops_engineer",
        &["gcp", "serverless"],
        "Serverless function on Google Cloud",
    )
    .await;
    make(
        &app,
        "legacy-monolith",
        "backend_developer",
        &["java"],
        "Legacy Java service with migrations",
    )
    .await;
    let token = app.viewer.token.clone();

    // A word of three or more letters also finds longer words; the name outranks the description.
    assert_eq!(
        found(&app, &token, "migration").await,
        vec!["postgres-migrations", "legacy-monolith"]
    );
    assert_eq!(
        found(&app, &token, "POSTGRES migr").await,
        vec!["postgres-migrations"]
    );
    // Quoted: the exact word only.
    assert!(found(&app, &token, "\"migration\"").await.is_empty());
    // A phrase needs its words next to each other, in order; bare words anywhere.
    assert_eq!(
        found(&app, &token, "\"admin dashboard\"").await,
        vec!["admin-dashboard"]
    );
    assert_eq!(
        found(&app, &token, "admin dashboard").await,
        vec!["admin-dashboard", "ops-console"]
    );
    assert_eq!(
        found(&app, &token, "postgres-migrations").await,
        vec!["postgres-migrations"]
    );
    // Short words are exact unless starred.
    assert_eq!(found(&app, &token, "go").await, vec!["go-service"]);
    assert_eq!(
        sorted(found(&app, &token, "go*").await),
        vec!["go-service", "google-cloud-function"]
    );
    // Exclusion and alternatives.
    assert_eq!(
        found(&app, &token, "migrations -legacy").await,
        vec!["postgres-migrations"]
    );
    assert_eq!(
        sorted(found(&app, &token, "react OR grpc").await),
        vec!["admin-dashboard", "go-service"]
    );
    assert_eq!(
        sorted(found(&app, &token, "service -\"grpc service\"").await),
        vec!["legacy-monolith"]
    );
    // Text with another order, a page, and GET.
    let (_, page) = app
        .get(
            "/api/v1/templates?text=%22admin%20dashboard%22%20OR%20serverless&sort=name",
            Some(&token),
        )
        .await;
    assert_eq!(
        names(&page),
        vec!["admin-dashboard", "google-cloud-function"]
    );
    assert!(page["items"][0].get("relevance").is_none(), "{page}");
    let (_, page) = search(
        &app,
        &token,
        json!({"query": "service", "limit": 1, "offset": 1}),
    )
    .await;
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = search(
        &app,
        &token,
        json!({"query": "service", "limit": 1, "offset": 5}),
    )
    .await;
    assert_eq!(page["total"], 2, "a page past the end still counts: {page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 0);

    // The index follows an update and a delete.
    let (_, current) = app
        .get(&format!("/api/v1/templates/{go}"), Some(&token))
        .await;
    let etag = current["current_commit"].as_str().unwrap().to_string();
    let body = json!({
        "manifest": {"name": "go-service", "version": "1.1.0", "description": "A Connect RPC service in Go", "category": "backend_developer", "author": "Search Team", "tags": ["go", "connect"]},
        "files": {"README.md": "# go-service\n", "out.txt": "x"}
    });
    let (status, updated) = super::put_with_etag(&app, &app.editor.token, &go, &etag, &body).await;
    assert_eq!(status, 200, "{updated}");
    assert!(found(&app, &token, "grpc").await.is_empty());
    assert_eq!(found(&app, &token, "connect").await, vec!["go-service"]);
    let (status, _) = app
        .delete(&format!("/api/v1/templates/{go}"), Some(&app.editor.token))
        .await;
    assert_eq!(status, 204);
    assert!(found(&app, &token, "connect").await.is_empty());
    app.shutdown().await;
}

/// Search only ever sees the caller's tenant, however the query is written.
#[tokio::test]
async fn search_never_crosses_tenants() {
    let app = TestApp::spawn().await;
    make(
        &app,
        "shared-words",
        "backend_developer",
        &["kafka"],
        "Kafka consumer in Rust",
    )
    .await;
    let body = json!({
        "manifest": {"name": "shared-words", "version": "1.0.0", "description": "Kafka producer in Rust", "category": "backend_developer", "author": "Other Team", "tags": ["kafka"]},
        "files": {"README.md": "# x\n"}
    });
    let (status, other) = app
        .post("/api/v1/templates", Some(&app.other_admin.token), &body)
        .await;
    assert_eq!(status, 201, "{other}");
    for query in [
        "kafka",
        "rust",
        "\"kafka consumer\"",
        "kaf*",
        "kafka -producer",
        "producer OR consumer",
    ] {
        let (status, page) = search(&app, &app.viewer.token, json!({"query": query})).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["author"] == "Search Team"),
            "{query}: {page}"
        );
        let (_, page) = search(&app, &app.other_admin.token, json!({"query": query})).await;
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["id"] == other["id"]),
            "{query}: {page}"
        );
    }
    assert_eq!(found(&app, &app.viewer.token, "producer").await.len(), 0);
    assert_eq!(
        found(&app, &app.other_admin.token, "producer").await.len(),
        1
    );
    assert_eq!(
        found(&app, &app.other_admin.token, "consumer").await.len(),
        0
    );
    let (_, page) = app
        .get(
            "/api/v1/templates?text=kafka&sort=name",
            Some(&app.other_admin.token),
        )
        .await;
    assert_eq!(page["total"], 1, "{page}");
    app.shutdown().await;
}

/// Operators of either engine, unbalanced quotes and punctuation are text: a result or a 422
/// that names the field, never a 500.
#[tokio::test]
async fn odd_queries_give_results_or_a_clear_422() {
    let app = TestApp::spawn().await;
    make(
        &app,
        "fastapi-service",
        "backend_developer",
        &["python"],
        "HTTP API on FastAPI (async)",
    )
    .await;
    let token = app.viewer.token.clone();
    let long_word = "x".repeat(101);
    let many_words = "word ".repeat(40);
    let queries: Vec<&str> = vec![
        "fastapi & python | !java",
        "'fastapi' <-> python:*",
        "fastapi:*",
        "NEAR(fastapi python)",
        "name:fastapi",
        "fastapi AND NOT java",
        "\"fastapi",
        "fastapi\"",
        "\"\"fastapi\"\"",
        "(fastapi)",
        "fastapi*python",
        "fast*",
        "\\fastapi\\",
        "'",
        "''",
        "\"",
        "%",
        "_",
        "*",
        "**",
        ":*",
        "<->",
        "!",
        "&&",
        "(((",
        "-",
        "--fastapi",
        "-fastapi",
        "-fastapi -python",
        "or",
        "OR OR fastapi OR",
        "fastapi -",
        "日本語",
        "🚀 fastapi",
        "NOT fastapi",
        "a\u{301}",
        "1e5 0x1F 3.14",
        "$1 ?1 ?",
        "fastapi; DROP TABLE templates; --",
        &long_word,
        &many_words,
    ];
    for query in &queries {
        for (status, body) in [
            search(&app, &token, json!({"query": query})).await,
            app.get(
                &format!(
                    "/api/v1/templates?text={}",
                    url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
                ),
                Some(&token),
            )
            .await,
        ] {
            match status.as_u16() {
                200 => assert!(body["items"].is_array(), "{query}: {body}"),
                422 => {
                    assert!(
                        ["query", "text"].contains(&body["errors"][0]["field"].as_str().unwrap()),
                        "{query}: {body}"
                    );
                    assert!(!body["detail"].as_str().unwrap().is_empty());
                }
                other => panic!("{query}: {other} {body}"),
            }
        }
    }
    // Operators are plain text: these find the template (`not` is a word, and so is `java` in
    // `!java`, which no template has).
    assert!(
        found(&app, &token, "fastapi & python | !java")
            .await
            .is_empty()
    );
    for query in [
        "fastapi & python",
        "'fastapi' <-> python:*",
        "(fastapi)",
        "\"fastapi",
        "--fastapi",
        "🚀 fastapi",
    ] {
        assert_eq!(
            found(&app, &token, query).await,
            vec!["fastapi-service"],
            "{query}"
        );
    }
    // Nothing to look for: 422 with what to fix.
    for query in ["!!!", "-fastapi", "(((", &long_word, &many_words] {
        let (status, problem) = search(&app, &token, json!({"query": query})).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "query", "{problem}");
    }
    let (status, problem) = app.get("/api/v1/templates?text=!!!", Some(&token)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "text", "{problem}");
    app.shutdown().await;
}
