//! A copy of `../shared/bench/floor` (its own project there), built here so that
//! `examples/load_reads.rs` measures it in the same run with the same compiler and profile:
//! `cargo build --release --example floor`.
//!
//! The floor: the most a Rust HTTP server can answer for `GET /api/v1/templates/{id}` on
//! this machine. It verifies an HS256 bearer JWT (signature + `exp`, jsonwebtoken 11 on
//! aws-lc-rs), reads the tenant from it (`tid` or `tenant_id`), and returns a fixed-shape
//! ~600-byte JSON document built with serde_json. No storage, no cache, no middleware:
//! whatever Maestro does beyond this is the cost of its real work.
//!
//! Environment: `FLOOR_JWT_SECRET` (set it to Maestro's `auth.secret_key` so Maestro's own
//! access tokens work here), `FLOOR_BIND` (default 127.0.0.1:8090), `FLOOR_WORKERS`
//! (default: actix's default, one per physical core).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, get, http::header, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

struct AuthState {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    #[allow(dead_code)]
    sub: String,
    #[serde(alias = "tid")]
    tenant_id: String,
    #[allow(dead_code)]
    exp: u64,
}

#[derive(Serialize)]
struct TemplateDoc<'a> {
    id: &'a str,
    tenant_id: &'a str,
    name: &'static str,
    category: &'static str,
    tags: [&'static str; 5],
    version: &'static str,
    description: &'static str,
    quality_score: f64,
    current_commit: &'static str,
    created_at: &'static str,
    updated_at: &'static str,
    files: [&'static str; 6],
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    detail: &'a str,
}

fn unauthorized(detail: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .json(ErrorBody { detail })
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[get("/api/v1/templates/{id}")]
async fn get_template(
    req: HttpRequest,
    id: web::Path<String>,
    auth: web::Data<AuthState>,
) -> HttpResponse {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return unauthorized("missing bearer token");
    };
    let Some(token) = value.to_str().ok().and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    }) else {
        return unauthorized("malformed Authorization header");
    };
    let claims = match decode::<Claims>(token, &auth.key, &auth.validation) {
        Ok(data) => data.claims,
        Err(_) => return unauthorized("invalid or expired token"),
    };
    let doc = TemplateDoc {
        id: id.as_str(),
        tenant_id: &claims.tenant_id,
        name: "FastAPI REST service with PostgreSQL",
        category: "backend_developer",
        tags: ["python", "fastapi", "rest", "postgresql", "docker"],
        version: "1.4.2",
        description: "Production-ready FastAPI service skeleton: async SQLAlchemy, Alembic \
                      migrations, JWT auth, structured logging and a pytest suite.",
        quality_score: 87.5,
        current_commit: "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345",
        created_at: "2025-03-14T09:26:53Z",
        updated_at: "2025-10-26T12:00:00Z",
        files: [
            "README.md",
            "manifest.yaml",
            "src/app/main.py",
            "src/app/db.py",
            "tests/test_api.py",
            "Dockerfile",
        ],
    };
    HttpResponse::Ok().json(doc)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("FLOOR_JWT_SECRET").expect("set FLOOR_JWT_SECRET");
    let bind = std::env::var("FLOOR_BIND").unwrap_or_else(|_| "127.0.0.1:8090".to_owned());
    let workers: Option<usize> = std::env::var("FLOOR_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok());

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_exp = true;
    validation.validate_aud = false;
    let auth = web::Data::new(AuthState {
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
    });

    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .service(healthz)
            .service(get_template)
    });
    if let Some(n) = workers {
        server = server.workers(n);
    }
    eprintln!(
        "floor listening on http://{bind} (workers: {})",
        workers.map_or_else(|| "default".to_owned(), |n| n.to_string())
    );
    server.bind(bind)?.run().await
}
