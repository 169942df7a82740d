//! Criterion benches for the templates module: rendering (the renderer only: detect, resolve
//! parameters, render) and search through `TemplatesService` — over 1,000 templates (text, a
//! filtered SQL list, the cached path) and, with the catalog and the ~300 varied queries of the
//! read-path harness (`benches/support/catalog.rs`), at 10,000 and 100,000 templates (uncached:
//! every query answered by the in-process search index). `cargo bench --bench templates`;
//! `MAESTRO_BENCH_SEARCH_SIZES=10000` (default `10000,100000`) picks the catalog sizes.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

use maestro::config::{Environment, LoadOptions, Settings};
use maestro::modules::templates::model::SearchBody;
use maestro::modules::templates::seed::read_folder;
use maestro::modules::templates::service::{
    TemplateInput, TemplatesService, files_from_json, system_principal,
};
use maestro::platform::Platform;
use maestro::platform::auth::TenantId;
use maestro::render::{self, RenderOptions, SourceFile};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixed() -> RenderOptions {
    RenderOptions {
        now: chrono::DateTime::parse_from_rfc3339("2024-02-29T23:30:15Z")
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc)),
        seed: Some(1),
        ..RenderOptions::default()
    }
}

/// detect → resolve defaults → render, as an instantiation does.
fn render_once(files: &[SourceFile], input: &Map<String, Value>) -> usize {
    let spec = render::detect(files).expect("template");
    let opts = fixed();
    let ctx = render::resolve_parameters(&spec, input, &opts).expect("parameters");
    render::render(&spec, files, &ctx, &opts)
        .expect("render")
        .files
        .len()
}

/// A native template of `n` text files of ~2 KiB with loops, conditions and filters.
fn synthetic_native(n: usize) -> Vec<SourceFile> {
    let mut files = vec![SourceFile::new(
        "manifest.yaml",
        "name: bench\nversion: 1.0.0\ndescription: Bench\ncategory: backend_developer\nauthor: Bench\nparameters:\n  - name: project_name\n    type: string\n    default: orders-service\n  - name: with_db\n    type: boolean\n    default: true\n  - name: services\n    type: list\n    default: [api, worker, scheduler]\n",
    )];
    let body = "# {{ project_name | title }}\n{% for s in services %}- {{ s | upper }} ({{ loop.index }})\n{% endfor %}{% if with_db %}DATABASE_URL=postgres://{{ project_name | replace('-', '_') }}\n{% endif %}".repeat(12);
    for i in 0..n {
        files.push(SourceFile::new(
            format!("{{{{ project_name }}}}/src/module_{i}.txt"),
            body.clone(),
        ));
    }
    files
}

fn bench_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    let small = synthetic_native(5);
    let large = synthetic_native(200);
    let none = Map::new();
    group.bench_function("native_5_files", |b| b.iter(|| render_once(&small, &none)));
    group.bench_function("native_200_files", |b| {
        b.iter(|| render_once(&large, &none))
    });
    let basic = read_folder(&root().join("tests/fixtures/cookiecutter/basic/template")).unwrap();
    let extra: Map<String, Value> = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/cookiecutter/basic/extra_context.json"))
            .unwrap(),
    )
    .unwrap();
    group.bench_function("cookiecutter_basic", |b| {
        b.iter(|| render_once(&basic, &extra))
    });
    let slug = read_folder(&root().join("tests/fixtures/cookiecutter/slugify/template")).unwrap();
    group.bench_function("cookiecutter_slugify", |b| {
        b.iter(|| render_once(&slug, &none))
    });
    group.finish();
}

const WORDS: &[&str] = &[
    "api",
    "service",
    "python",
    "rust",
    "react",
    "kafka",
    "postgres",
    "terraform",
    "helm",
    "grpc",
    "worker",
    "etl",
    "dashboard",
    "auth",
    "cache",
    "queue",
    "ml",
    "pipeline",
    "docs",
    "testing",
];

/// A platform on an SQLite file in `dir` (no Redis), its templates service and a tenant.
async fn bench_platform(
    dir: &std::path::Path,
    tenant: &str,
) -> (Platform, TemplatesService, TenantId) {
    let mut settings: Settings = Settings::load(&LoadOptions {
        config_dir: root().join("config"),
        environment: Some(Environment::Test),
        read_process_env: false,
    })
    .unwrap();
    settings.data_dir = dir.join("data");
    settings.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    settings.redis.url = String::new();
    let platform = Platform::new(settings).unwrap();
    platform.migrate(Duration::from_secs(10)).await.unwrap();
    let service = TemplatesService::new(&platform);
    let tenant = platform.auth.ensure_tenant(tenant).await.unwrap();
    (platform, service, tenant)
}

fn bench_search(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (service, tenant) = runtime.block_on(async {
        let (_, service, tenant) = bench_platform(dir.path(), "bench").await;
        let actor = system_principal(&tenant);
        for i in 0..1000 {
            let (a, b, c) = (WORDS[i % 20], WORDS[(i / 20) % 20], WORDS[(i * 7) % 20]);
            let manifest = json!({
                "name": format!("{a}-{b}-{i}"),
                "version": "1.0.0",
                "description": format!("A {c} template for {a} teams that need {b}"),
                "category": render::CATEGORIES[i % 15],
                "author": "Bench",
                "tags": [a, b, c],
            });
            service
                .create(
                    &actor,
                    TemplateInput {
                        manifest: Some(manifest),
                        files: Some(vec![SourceFile::new("README.md", "# x\n")]),
                    },
                )
                .await
                .unwrap();
        }
        (service, tenant)
    });
    let mut group = c.benchmark_group("search_1000_templates");
    let run = |body: SearchBody, cached: bool, service: &TemplatesService, tenant: &TenantId| {
        runtime.block_on(async {
            let page = if cached {
                service.search(tenant, &body).await
            } else {
                service.search_uncached(tenant, &body).await
            };
            page.unwrap().total
        })
    };
    let text = SearchBody {
        query: Some("python api".into()),
        ..SearchBody::default()
    };
    let filtered = SearchBody {
        category: Some("backend_developer".into()),
        tags: vec!["rust".into()],
        sort: Some("name".into()),
        ..SearchBody::default()
    };
    let everything = SearchBody {
        query: Some("template".into()),
        ..SearchBody::default()
    };
    group.bench_function("text_two_words", |b| {
        b.iter(|| run(text.clone(), false, &service, &tenant))
    });
    group.bench_function("text_matching_all", |b| {
        b.iter(|| run(everything.clone(), false, &service, &tenant))
    });
    group.bench_function("category_and_tag_sorted", |b| {
        b.iter(|| run(filtered.clone(), false, &service, &tenant))
    });
    group.bench_function("text_two_words_cached", |b| {
        b.iter(|| run(text.clone(), true, &service, &tenant))
    });
    group.finish();
}

/// The process's resident memory (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[path = "support/catalog.rs"]
#[allow(dead_code)]
mod catalog;

/// Varied queries over large catalogs, through the service without the response cache: each
/// iteration is the next of the harness's ~300 queries (words, prefixes, pairs, triples,
/// phrases, `or`, `-`), so the figure is the mean over the mix. Sizes grow in one tenant (the
/// 100,000 run adds 90,000 to the 10,000).
fn bench_search_scale(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("MAESTRO_BENCH_SEARCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (platform, service, tenant) = runtime.block_on(bench_platform(dir.path(), "scale"));
    let queries: Vec<SearchBody> = catalog::queries()
        .into_iter()
        .map(|q| SearchBody {
            query: Some(q),
            ..SearchBody::default()
        })
        .collect();
    let mut rng = catalog::Rng(0x7E4A_1A7E);
    let mut seeded = 0;
    // The last template created: the one whose score the write-then-search case changes.
    let mut last = None;
    for size in sizes {
        let started = std::time::Instant::now();
        runtime.block_on(async {
            let actor = system_principal(&tenant);
            while seeded < size {
                let body = catalog::template(&mut rng, seeded);
                let files = files_from_json(body["files"].as_object().unwrap()).unwrap();
                let created = service
                    .create(
                        &actor,
                        TemplateInput {
                            manifest: Some(body["manifest"].clone()),
                            files: Some(files),
                        },
                    )
                    .await
                    .unwrap();
                last = Some((created.template.id, created.template.current_commit));
                seeded += 1;
            }
        });
        eprintln!("seeded {size} templates ({:.0?})", started.elapsed());
        // The first text search builds the tenant's index; a write makes the next one refresh.
        let search = |body: &SearchBody| {
            runtime.block_on(async { service.search_uncached(&tenant, body).await.unwrap().total })
        };
        let (started, before) = (std::time::Instant::now(), rss_mib());
        search(&queries[0]);
        eprintln!(
            "first search at {size} (builds the index): {:.1?}, RSS {before:.0} -> {:.0} MiB",
            started.elapsed(),
            rss_mib()
        );
        let mut group = c.benchmark_group(format!("search_{size}_templates"));
        let mut next = 0;
        group.bench_function("varied_queries_uncached", |b| {
            b.iter(|| {
                next = (next + 1) % queries.len();
                search(&queries[next])
            })
        });
        let broad = SearchBody {
            query: Some("type".into()),
            ..SearchBody::default()
        };
        eprintln!("`type` matches {} of {size}", search(&broad));
        group.bench_function("broad_prefix_uncached", |b| b.iter(|| search(&broad)));
        let sorted = SearchBody {
            query: Some("service".into()),
            category: Some("backend_developer".into()),
            sort: Some("-updated".into()),
            ..SearchBody::default()
        };
        group.bench_function("text_filtered_sorted_uncached", |b| {
            b.iter(|| search(&sorted))
        });
        // The generation moves (as after a write elsewhere) with nothing new in the change feed:
        // the search reads the feed (empty) first.
        group.bench_function("search_after_a_write", |b| {
            b.iter(|| {
                runtime.block_on(platform.cache.bump("templates", tenant.as_str()));
                search(&queries[1])
            })
        });
        // A real write (a template's quality score changes, which moves the generation), then
        // the search, which applies that one change to the index.
        let (id, commit) = last.clone().unwrap();
        let mut score = 50.0;
        group.bench_function("score_change_then_search", |b| {
            b.iter(|| {
                score = if score == 50.0 { 60.0 } else { 50.0 };
                runtime.block_on(async {
                    let stored = service
                        .set_quality_score(&tenant, &id, &commit, score)
                        .await
                        .unwrap();
                    assert!(stored);
                });
                search(&queries[1])
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4));
    targets = bench_render, bench_search, bench_search_scale
}
criterion_main!(benches);
