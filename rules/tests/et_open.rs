//! Runs the ET Open ruleset (test material outside the repository, `../shared/data/et-open/`)
//! through the parser and the loader. Without the material a test says so and passes, unless
//! `CI` is set (then it fails naming the path: `vocab::testing`).

use std::path::PathBuf;

fn et_open_files() -> Option<Vec<PathBuf>> {
    let dir = vocab::testing::shared_data("et-open")?;
    let rd = std::fs::read_dir(&dir).expect("et-open reads");
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    Some(files)
}

#[test]
fn every_et_open_rule_round_trips() {
    let Some(files) = et_open_files() else { return };
    let (mut enabled, mut disabled, mut failed) = (0usize, 0usize, Vec::new());
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for rt in rules::split_rules(&f.display().to_string(), &text) {
            let mut r = match rules::parse_rule(&rt.text) {
                Ok(r) => r,
                Err(e) => {
                    if !rt.commented {
                        failed.push(format!("{}:{} {}", rt.map.file, rt.map.first_line(), e));
                    }
                    continue;
                }
            };
            if r.enabled {
                enabled += 1;
            } else {
                disabled += 1;
            }
            let printed = r.to_string();
            let mut again = rules::parse_rule(&printed)
                .unwrap_or_else(|e| panic!("reprint does not parse: {e}\n{printed}"));
            r.strip_spans();
            again.strip_spans();
            assert_eq!(r, again, "round trip differs for\n{}", rt.text);
        }
    }
    println!("et-open: {enabled} enabled + {disabled} commented-out rules round-trip");
    assert!(
        failed.is_empty(),
        "{} enabled rules fail to parse: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(enabled, 24_827);
    assert_eq!(disabled, 10_023);
}

#[test]
fn et_open_loads_and_compiles() {
    let Some(files) = et_open_files() else { return };
    let rs = rules::load_files(&files, rules::LoadOptions::default()).expect("load");
    let r = &rs.report;
    println!(
        "et-open: read {} loaded {} skipped {} failed {} {:?}",
        r.read, r.loaded, r.skipped, r.failed, r.skipped_by_keyword
    );
    assert_eq!(r.read, 24_827);
    assert!(r.loaded * 100 >= r.read * 95, "{r}");
    assert!(r.failed < 10, "{r}");
    // Every loaded rule's text parses back to an AST.
    assert!(rs.rules.iter().all(|l| l.ast().is_ok()));
    let e = rules::Engine::compile(&rs.rules, &rules::CompileOptions::default()).expect("compile");
    println!(
        "et-open engine: {} groups, {} databases, {} bytes",
        e.stats.groups, e.stats.databases, e.stats.database_bytes
    );
    assert_eq!(e.stats.rules, r.loaded);
    assert!(e.stats.databases > 0);
    assert!(e.alloc_scratch().expect("scratch").is_some());
}

/// `rules check` keeps no rule (`check_only`) and still reports exactly what a full load does,
/// duplicates and diagnostics included.
#[test]
fn et_open_check_only_reports_what_a_full_load_does() {
    let Some(mut files) = et_open_files() else {
        return;
    };
    // The same file twice: every rule is a duplicate of itself (warnings at each sid).
    let largest = files
        .iter()
        .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .cloned()
        .expect("files");
    files.push(largest);
    let full = rules::load_files(&files, rules::LoadOptions::default()).expect("load");
    let opts = rules::LoadOptions {
        check_only: true,
        ..rules::LoadOptions::default()
    };
    let check = rules::load_files(&files, opts).expect("check");
    assert!(check.rules.is_empty(), "a check keeps no rule");
    assert!(full.report.duplicates > 100, "{}", full.report);
    assert_eq!(check.report.to_string(), full.report.to_string());
    assert_eq!(
        serde_json::to_string(&check.report).unwrap(),
        serde_json::to_string(&full.report).unwrap()
    );
}
