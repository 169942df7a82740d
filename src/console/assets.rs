//! Static files of the console, embedded in the binary and served from versioned URLs with a
//! one-year immutable cache: a new release changes the URL, never the bytes behind one.
//! The vendored files (`assets/vendor/`, see its README) carry their upstream version in the name;
//! Maestro's own CSS and JS carry a digest of their content.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

pub const HTMX: &[u8] = include_bytes!("../../assets/vendor/htmx-2.0.11.min.js");
pub const PICO: &[u8] = include_bytes!("../../assets/vendor/pico-2.1.1.min.css");
pub const MAESTRO_CSS: &[u8] = include_bytes!("static/maestro.css");
pub const MAESTRO_JS: &[u8] = include_bytes!("static/maestro.js");

pub struct Asset {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// The URLs the layout links to.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AssetUrls {
    pub htmx: String,
    pub pico: String,
    pub css: String,
    pub js: String,
}

fn digest_name(stem: &str, ext: &str, bytes: &[u8]) -> String {
    let hash = hex::encode(Sha256::digest(bytes));
    format!("{stem}-{}.{ext}", &hash[..12])
}

pub fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        vec![
            Asset {
                name: "htmx-2.0.11.min.js".into(),
                content_type: "text/javascript; charset=utf-8",
                bytes: HTMX,
            },
            Asset {
                name: "pico-2.1.1.min.css".into(),
                content_type: "text/css; charset=utf-8",
                bytes: PICO,
            },
            Asset {
                name: digest_name("maestro", "css", MAESTRO_CSS),
                content_type: "text/css; charset=utf-8",
                bytes: MAESTRO_CSS,
            },
            Asset {
                name: digest_name("maestro", "js", MAESTRO_JS),
                content_type: "text/javascript; charset=utf-8",
                bytes: MAESTRO_JS,
            },
        ]
    })
}

pub fn urls() -> &'static AssetUrls {
    static URLS: OnceLock<AssetUrls> = OnceLock::new();
    URLS.get_or_init(|| {
        let a = assets();
        let url = |i: usize| format!("/ui/assets/{}", a[i].name);
        AssetUrls {
            htmx: url(0),
            pico: url(1),
            css: url(2),
            js: url(3),
        }
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(serve));
}

async fn serve(name: web::Path<String>) -> HttpResponse {
    match assets().iter().find(|a| a.name == *name) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(asset.bytes),
        None => HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/plain; charset=utf-8")
            .body("No such console asset (asset URLs change with each release; reload the page)."),
    }
}
