//! Render time and size of the web console's heaviest pages: the catalog (one page of 25 out of
//! 10,000 templates) and a run with 400 steps (each with an attempt log, failures with
//! details, outputs). Rendering only: the data the services return is made up here, because the
//! queries behind these pages are measured by the templates and workflow_engine benches.
//! `cargo bench --bench console`; prints the bytes of each page once.

use criterion::{Criterion, criterion_group, criterion_main};

use maestro::console::bench::{STEPS, catalog_page, run_page, sample_catalog, sample_run};

fn bench_pages(c: &mut Criterion) {
    let page = sample_catalog();
    let run = sample_run(STEPS);
    let catalog_html = catalog_page(&page).expect("catalog renders");
    let run_html = run_page(&run).expect("run renders");
    println!(
        "console page sizes (uncompressed, vendor files excluded): catalog {} bytes, run with {STEPS} steps {} bytes",
        catalog_html.len(),
        run_html.len()
    );
    if let Some(dir) = std::env::var_os("MAESTRO_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("catalog.html"), &catalog_html).expect("dump catalog");
        std::fs::write(dir.join("run.html"), &run_html).expect("dump run");
    }
    let mut group = c.benchmark_group("console/render");
    group.bench_function("catalog_25_of_10000", |b| {
        b.iter(|| catalog_page(&page).expect("catalog").len())
    });
    group.bench_function("run_400_steps", |b| {
        b.iter(|| run_page(&run).expect("run").len())
    });
    group.finish();
}

criterion_group!(benches, bench_pages);
criterion_main!(benches);
