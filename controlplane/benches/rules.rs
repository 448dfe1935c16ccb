//! Ruleset bookkeeping around a reload, on the ET Open ruleset from `shared/data/et-open`
//! (24,827 enabled rules; skipped with a note when absent, a failure under `CI`). The engine's compile time is the
//! rules crate's to measure; these are the control plane's parts of `Add` and `Reload`.
//!
//! - `rules::put_all`: storing every rule (one `WriteBatch`).
//! - `rules::reload_bookkeeping`: reading the stored ruleset, filtering enabled rules, hashing
//!   them and building the alert signature catalog, which a reload does besides compiling.
//!
//! `cargo bench -p controlplane --bench rules`

use controlplane::api::rules::ruleset_hash;
use controlplane::ingest::SignatureCatalog;
use controlplane::model::StoredRule;
use controlplane::store::{Store, StoreOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Value of `key:` inside the rule options, up to the next `;`.
fn option<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let i = text
        .find(&format!(" {key}:"))
        .or_else(|| text.find(&format!("({key}:")))?;
    let rest = &text[i + key.len() + 2..];
    Some(rest[..rest.find(';')?].trim())
}

fn load_et_open() -> Option<Vec<StoredRule>> {
    let dir = vocab::testing::shared_data("et-open")?;
    let mut rules = Vec::new();
    for e in std::fs::read_dir(dir).expect("et-open reads").flatten() {
        if e.path().extension().is_none_or(|x| x != "rules") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).ok()?;
        for l in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let Some(sid) = option(l, "sid").and_then(|s| s.parse().ok()) else {
                continue;
            };
            rules.push(StoredRule {
                gid: 1,
                sid,
                rev: option(l, "rev").and_then(|s| s.parse().ok()).unwrap_or(1),
                msg: option(l, "msg").unwrap_or("").trim_matches('"').to_owned(),
                classtype: option(l, "classtype").unwrap_or("").to_owned(),
                priority: 3,
                text: l.to_owned(),
                enabled: true,
                updated_nanos: 0,
            });
        }
    }
    Some(rules)
}

fn bench(c: &mut Criterion) {
    let Some(rules) = load_et_open() else {
        return;
    };
    eprintln!("ET Open: {} enabled rules", rules.len());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    // Stored before any bench so each can run alone (`--bench reload_bookkeeping`).
    store.put_rules(&rules).unwrap();
    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rules.len() as u64));
    g.bench_function("put_all", |b| b.iter(|| store.put_rules(&rules).unwrap()));
    g.bench_function("reload_bookkeeping", |b| {
        b.iter(|| {
            let all = store.all_rules().unwrap();
            let enabled: Vec<StoredRule> = all.into_iter().filter(|r| r.enabled).collect();
            let h = ruleset_hash(&enabled);
            let cat = SignatureCatalog::from_rules(&enabled);
            (h, cat.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
