//! The varied, realistic template catalog and search queries of the read-path harness
//! (`examples/load_reads.rs`) and the search bench (`benches/templates.rs`): the same data set and
//! queries on every run (a fixed-seed generator). Included by both with `#[path]`.

use std::collections::BTreeSet;

use maestro::render::CATEGORIES;
use serde_json::{Value, json};

/// SplitMix64: the same data set and queries on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const STACKS: [(&str, &str); 30] = [
    ("python", "fastapi"),
    ("python", "django"),
    ("python", "flask"),
    ("go", "gin"),
    ("go", "echo"),
    ("rust", "axum"),
    ("rust", "actix"),
    ("java", "spring"),
    ("kotlin", "ktor"),
    ("typescript", "nestjs"),
    ("javascript", "express"),
    ("typescript", "nextjs"),
    ("typescript", "react"),
    ("typescript", "vue"),
    ("typescript", "angular"),
    ("typescript", "svelte"),
    ("ruby", "rails"),
    ("php", "laravel"),
    ("csharp", "dotnet"),
    ("elixir", "phoenix"),
    ("scala", "akka"),
    ("python", "pytorch"),
    ("python", "airflow"),
    ("hcl", "terraform"),
    ("yaml", "helm"),
    ("python", "pytest"),
    ("javascript", "playwright"),
    ("java", "junit"),
    ("markdown", "mkdocs"),
    ("python", "langchain"),
];
const KINDS: [&str; 20] = [
    "service",
    "api",
    "worker",
    "cli",
    "library",
    "dashboard",
    "operator",
    "function",
    "pipeline",
    "gateway",
    "bot",
    "sdk",
    "starter",
    "microservice",
    "scheduler",
    "exporter",
    "proxy",
    "portal",
    "module",
    "chart",
];
const INFRA: [&str; 30] = [
    "postgresql",
    "mysql",
    "mongodb",
    "redis",
    "kafka",
    "rabbitmq",
    "elasticsearch",
    "s3",
    "grpc",
    "graphql",
    "websocket",
    "docker",
    "kubernetes",
    "aws",
    "gcp",
    "azure",
    "prometheus",
    "grafana",
    "opentelemetry",
    "oauth2",
    "keycloak",
    "vault",
    "nginx",
    "sqlite",
    "dynamodb",
    "snowflake",
    "spark",
    "celery",
    "nats",
    "minio",
];
const FEATURES: [&str; 30] = [
    "authentication",
    "rate limiting",
    "migrations",
    "caching",
    "structured logging",
    "tracing",
    "metrics",
    "retries",
    "pagination",
    "input validation",
    "i18n",
    "dark mode",
    "feature flags",
    "health checks",
    "background jobs",
    "file uploads",
    "webhooks",
    "full-text search",
    "multi-tenancy",
    "role-based access",
    "audit log",
    "ci pipeline",
    "load testing",
    "contract tests",
    "snapshot tests",
    "accessibility checks",
    "single sign-on",
    "encryption at rest",
    "backups",
    "blue-green deploys",
];
const ADJECTIVES: [&str; 15] = [
    "Minimal",
    "Production-ready",
    "Async",
    "Secure",
    "Event-driven",
    "Serverless",
    "Multi-tenant",
    "Lightweight",
    "Batteries-included",
    "Opinionated",
    "Cloud-native",
    "Scalable",
    "Resilient",
    "Typed",
    "Modular",
];
const AUTHORS: [&str; 16] = [
    "Platform Team",
    "Data Team",
    "Web Team",
    "SRE Guild",
    "Security Office",
    "Payments Squad",
    "Mobile Team",
    "ML Platform",
    "Developer Experience",
    "QA Chapter",
    "Architecture Board",
    "Docs Team",
    "Growth Team",
    "Identity Team",
    "Infra Team",
    "Search Team",
];

/// The create body of template `i`.
pub fn template(rng: &mut Rng, i: usize) -> Value {
    let (lang, framework) = STACKS[(rng.next() % STACKS.len() as u64) as usize];
    let kind = rng.pick(&KINDS);
    let infra = rng.pick(&INFRA);
    let mut other = rng.pick(&INFRA);
    if other == infra {
        other = INFRA[(INFRA.iter().position(|x| *x == infra).unwrap_or(0) + 1) % INFRA.len()];
    }
    let features = [
        rng.pick(&FEATURES),
        rng.pick(&FEATURES),
        rng.pick(&FEATURES),
    ];
    let adjective = rng.pick(&ADJECTIVES);
    let name = format!("{framework}-{kind}-{infra}-{i:05}");
    let description = format!(
        "{adjective} {framework} {kind} with {infra} and {other}: {}, {} and {}.",
        features[0], features[1], features[2]
    );
    let tags: BTreeSet<&str> = [lang, framework, kind, infra, other].into_iter().collect();
    json!({
        "manifest": {
            "name": name,
            "version": format!("1.{}.{}", i % 7, i % 13),
            "description": description,
            "category": CATEGORIES[i % CATEGORIES.len()],
            "author": rng.pick(&AUTHORS),
            "tags": tags,
            "parameters": [{"name": "project_name", "type": "string", "default": "app"}],
        },
        "files": {
            "README.md": format!("# {name}\n\n{description}\n\n## Use\n\nInstantiate with `project_name`.\n"),
            "{{ project_name }}/main.txt": format!("{{{{ project_name }}}}: {framework} {kind} on {infra}\n"),
            "{{ project_name }}/config.yaml": format!("service: {{{{ project_name }}}}\nbackend: {infra}\ncache: {other}\n"),
        }
    })
}

/// A few hundred realistic queries: words, pairs, triples, phrases, prefixes, `or`, `-`.
pub fn queries() -> Vec<String> {
    let mut rng = Rng(0x5EA4C4);
    let frameworks: Vec<&str> = STACKS.iter().map(|(_, f)| *f).collect();
    let languages: Vec<&str> = STACKS.iter().map(|(l, _)| *l).collect();
    let mut out = BTreeSet::new();
    let prefixes = [
        "postgres", "kube", "terra", "auth", "migr", "observ", "micro", "graph", "elastic", "dash",
        "sched", "pipe", "front", "serverl", "rabbit", "type",
    ];
    for p in prefixes {
        out.insert(p.to_string());
    }
    while out.len() < 60 {
        let word = match rng.next() % 3 {
            0 => rng.pick(&frameworks),
            1 => rng.pick(&INFRA),
            _ => rng.pick(&KINDS),
        };
        out.insert(word.to_string());
    }
    while out.len() < 180 {
        let query = match rng.next() % 3 {
            0 => format!("{} {}", rng.pick(&frameworks), rng.pick(&INFRA)),
            1 => format!("{} {}", rng.pick(&frameworks), rng.pick(&KINDS)),
            _ => format!("{} {}", rng.pick(&KINDS), rng.pick(&INFRA)),
        };
        out.insert(query);
    }
    while out.len() < 220 {
        out.insert(format!(
            "{} {} {}",
            rng.pick(&languages),
            rng.pick(&KINDS),
            rng.pick(&INFRA)
        ));
    }
    while out.len() < 250 {
        let feature = rng.pick(&FEATURES);
        out.insert(if rng.next().is_multiple_of(2) {
            format!("\"{feature}\"")
        } else {
            format!("\"{feature}\" {}", rng.pick(&frameworks))
        });
    }
    while out.len() < 275 {
        out.insert(format!(
            "{} or {}",
            rng.pick(&frameworks),
            rng.pick(&frameworks)
        ));
    }
    // Exclusions narrow a broad word: a language but not one of its frameworks, a kind of
    // template but not on some infrastructure.
    while out.len() < 300 {
        let (lang, framework) = STACKS[(rng.next() % STACKS.len() as u64) as usize];
        let same_language = STACKS.iter().filter(|(l, _)| *l == lang).count() > 1;
        out.insert(if same_language && rng.next().is_multiple_of(2) {
            format!("{lang} -{framework}")
        } else {
            format!("{} -{}", rng.pick(&KINDS), rng.pick(&INFRA))
        });
    }
    out.into_iter().collect()
}
