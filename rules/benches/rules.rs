//! Benchmarks over ET Open (`../shared/data/et-open/`; skipped with a note when absent, a
//! failure under `CI`):
//! `parse::et_open` (text → AST, rules/s), `load::et_open` (→ validated IR incl. PCRE
//! compile), `compile::et_open_cold` and `compile::et_open_cached` (Hyperscan databases).
//!
//! `cargo bench -p rules --bench rules`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rules::{CompileOptions, Engine, LoadOptions, Loader};
use std::path::PathBuf;

fn et_open() -> Option<Vec<(String, String)>> {
    let dir = vocab::testing::shared_data("et-open")?;
    let rd = std::fs::read_dir(&dir).expect("et-open reads");
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    Some(
        files
            .into_iter()
            .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(&p).ok()?)))
            .collect(),
    )
}

fn benches(c: &mut Criterion) {
    let Some(files) = et_open() else { return };
    let texts: Vec<rules::RuleText> = files
        .iter()
        .flat_map(|(n, t)| rules::split_rules(n, t))
        .collect();
    let bytes: usize = texts.iter().map(|t| t.text.len()).sum();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("et_open", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter(|t| rules::parse_rule(&t.text).is_ok())
                .count()
        })
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("et_open_bytes", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter(|t| rules::parse_rule(&t.text).is_ok())
                .count()
        })
    });
    g.finish();

    // As `load_files` does: files parsed and validated on every core.
    let load = || {
        let mut l = Loader::new(LoadOptions::default());
        l.add_many(&files, 0);
        l.finish()
    };
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("et_open", |b| b.iter(|| load().report.loaded));
    g.finish();

    let rs = load();
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("et_open_cold", |b| {
        b.iter(|| {
            Engine::compile(&rs.rules, &CompileOptions::default())
                .map(|e| e.stats.databases)
                .unwrap_or(0)
        })
    });
    let dir = std::env::temp_dir().join("osprey-rules-bench-cache");
    let opts = CompileOptions {
        cache_dir: Some(dir),
        threads: 0,
        ..CompileOptions::default()
    };
    let _ = Engine::compile(&rs.rules, &opts);
    g.bench_function("et_open_cached", |b| {
        b.iter(|| {
            Engine::compile(&rs.rules, &opts)
                .map(|e| e.stats.from_cache)
                .unwrap_or(false)
        })
    });
    g.finish();
}

criterion_group!(rules_benches, benches);
criterion_main!(rules_benches);
