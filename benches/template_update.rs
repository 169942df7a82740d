//! Server time of a project update (issue 15): a native template of 200 files, a project
//! generated from version 1 with 10 files edited by the project, version 2 changing 20 files (10
//! of them also edited by the project, in other lines: three-way merges). Measures
//! `TemplatesService::update_project` — two renders of 200 files, the merge, the patch and (for
//! the real update) the ledger entry — on SQLite. `cargo bench --bench template_update`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use maestro::config::{Environment, LoadOptions, Settings};
use maestro::modules::templates::service::{
    InstantiateRequest, InstantiationSource, TemplateInput, TemplatesService, UpdateRequest,
    system_principal,
};
use maestro::platform::Platform;
use maestro::render::SourceFile;

const FILES: usize = 200;
const CHANGED_BY_TEMPLATE: usize = 20;
const EDITED_BY_PROJECT: usize = 10;

fn module(i: usize, version: u8) -> String {
    let mut out = String::new();
    for line in 0..40 {
        if line == 35 && version == 2 && i < CHANGED_BY_TEMPLATE {
            out.push_str(&format!(
                "line {line} of module {i}, changed in version 2\n"
            ));
        } else {
            out.push_str(&format!(
                "line {line} of module {i} for {{{{ project_name }}}} on port {{{{ port }}}}\n"
            ));
        }
    }
    out
}

fn template(version: u8) -> TemplateInput {
    let mut files = vec![SourceFile::new(
        "manifest.yaml",
        format!(
            "name: update-bench\nversion: {version}.0.0\ndescription: Update bench\ncategory: backend_developer\nauthor: Bench\nparameters:\n  - name: project_name\n    type: string\n    default: orders\n  - name: port\n    type: integer\n    default: 8080\n"
        ),
    )];
    for i in 0..FILES {
        files.push(SourceFile::new(
            format!("src/module_{i:03}.txt"),
            module(i, version),
        ));
    }
    TemplateInput {
        manifest: None,
        files: Some(files),
    }
}

fn bench_update(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (service, actor, id, project) = runtime.block_on(async {
        let mut settings: Settings = Settings::load(&LoadOptions {
            config_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            environment: Some(Environment::Test),
            read_process_env: false,
        })
        .unwrap();
        settings.data_dir = dir.path().join("data");
        settings.database.url = format!("sqlite://{}", dir.path().join("bench.db").display());
        settings.redis.url = String::new();
        let platform = Platform::new(settings).unwrap();
        platform.migrate(Duration::from_secs(10)).await.unwrap();
        let service = TemplatesService::new(&platform);
        let tenant = platform.auth.ensure_tenant("bench").await.unwrap();
        let actor = system_principal(&tenant);
        let created = service.create(&actor, template(1)).await.unwrap();
        let id = created.template.id.clone();
        let done = service
            .instantiate(
                &actor,
                &id,
                InstantiateRequest {
                    output_format: "json".into(),
                    ..InstantiateRequest::default()
                },
                InstantiationSource::Http,
            )
            .await
            .unwrap();
        let project: Vec<SourceFile> = done
            .files
            .iter()
            .map(|(path, content, executable)| {
                let mut content = content.clone();
                let n: usize = path
                    .strip_prefix("src/module_")
                    .and_then(|p| p.strip_suffix(".txt"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(usize::MAX);
                // The project edits line 3 of modules 10..20 (also changed by the template, in
                // line 35) and of modules 100..110.
                if (10..10 + EDITED_BY_PROJECT / 2).contains(&n)
                    || (100..100 + EDITED_BY_PROJECT / 2).contains(&n)
                {
                    let text = String::from_utf8(content).unwrap();
                    content = text
                        .replacen("line 3 of", "line 3 (edited by the project) of", 1)
                        .into_bytes();
                }
                SourceFile::new(path.clone(), content).executable(*executable)
            })
            .collect();
        service
            .update(&actor, &id, None, template(2), None)
            .await
            .unwrap();
        (service, actor, id, project)
    });
    let request = |dry_run: bool| UpdateRequest {
        files: project.clone(),
        dry_run,
        ..UpdateRequest::default()
    };
    // Once, to print what is measured.
    let result = runtime
        .block_on(service.update_project(&actor, &id, request(true)))
        .unwrap();
    println!(
        "update of {} files: {} changes, {} conflicts",
        project.len(),
        result.changes.len(),
        result.conflicts.len()
    );
    let mut group = c.benchmark_group("template_update_200_files_20_changed");
    group.bench_function("dry_run_plan", |b| {
        b.iter(|| {
            runtime
                .block_on(service.update_project(&actor, &id, request(true)))
                .unwrap()
        })
    });
    group.bench_function("update_with_patch_and_ledger_entry", |b| {
        b.iter(|| {
            runtime
                .block_on(service.update_project(&actor, &id, request(false)))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench_update
}
criterion_main!(benches);
