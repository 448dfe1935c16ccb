//! Incidents end to end: the real `osprey run` replays `public_mix.pcap` with every ET Open
//! rule file (one worker, the control plane storing alerts and correlating them), twice into
//! two fresh databases; both hold the same incidents (ids, keys, members, tactics, scores).
//! Prints what the performance notes quote: alerts, their ATT&CK coverage, incidents and
//! the top five with their explanations.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{osprey, run_within};
use controlplane::incidents::{persist, Incident, Member};
use controlplane::model::Alert;
use controlplane::store::{AlertFilter, Order, Store, StoreOptions};
use vocab::testing::shared_data;

fn et_open_files(et: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(et)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .filter(|p| !p.ends_with("emerging-deleted.rules"))
        .collect();
    files.sort();
    files
}

/// Runs the appliance over `pcap` into `dir/db`; the Hyperscan cache is shared between runs.
fn run_once(dir: &Path, pcap: &Path, rules: &[PathBuf], cache: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let files: Vec<String> = rules
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let cfg = dir.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {:?}\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{}]\ncache_dir = {:?}\n",
            pcap.display().to_string(),
            dir.join("db").display().to_string(),
            files.join(","),
            cache.display().to_string(),
        ),
    )
    .unwrap();
    let out = run_within(
        osprey().args(["run", "-c"]).arg(&cfg),
        Duration::from_secs(900),
    );
    assert!(out.status.success(), "osprey run: {:?}", out.status);
}

/// Every stored alert and every incident with its timeline.
fn read_back(db: &Path) -> (Vec<Alert>, Vec<(Incident, Vec<Member>)>) {
    let store = Store::open(db, &StoreOptions::default()).unwrap();
    let mut alerts = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .query_alerts(&AlertFilter {
                start_ns: 0,
                end_ns: 0,
                sid: None,
                address: None,
                order: Order::OldestFirst,
                after,
                limit: 1000,
            })
            .unwrap();
        alerts.extend(page.items);
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let (incidents, more) = persist::list(&store, 0, usize::MAX, |_| true).unwrap();
    assert!(more.is_none());
    let with_members = incidents
        .into_iter()
        .map(|i| {
            let m = persist::members(&store, i.id, usize::MAX).unwrap();
            (i, m)
        })
        .collect();
    (alerts, with_members)
}

/// What must be the same in two replays: everything but wall-clock times.
fn comparable(i: &Incident) -> String {
    format!(
        "{} {:?} {} {} {} {} {} {:?} {:?} {:?} {} {} {}",
        i.id,
        i.key,
        i.title,
        i.first_ns,
        i.last_ns,
        i.alerts,
        i.members_kept,
        i.hosts,
        i.sids,
        i.tactics,
        i.stage,
        i.kill_chain,
        i.score
    )
}

fn report(alerts: &[Alert], incidents: &[(Incident, Vec<Member>)]) {
    let tactic = alerts
        .iter()
        .filter(|a| !a.attack.tactic_id.is_empty())
        .count();
    let technique = alerts
        .iter()
        .filter(|a| !a.attack.technique_id.is_empty())
        .count();
    let pct = |n: usize| 100.0 * n as f64 / alerts.len().max(1) as f64;
    eprintln!(
        "alerts {}: with a tactic {tactic} ({:.1}%), with a technique {technique} ({:.1}%); incidents {}",
        alerts.len(),
        pct(tactic),
        pct(technique),
        incidents.len()
    );
    let mut ranked: Vec<&Incident> = incidents.iter().map(|(i, _)| i).collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    for i in ranked.iter().take(5) {
        let tactics: Vec<&str> = i.tactics.iter().map(|(t, _)| t.as_str()).collect();
        eprintln!(
            "#{} score {:.1} host {} alerts {} sids {} tactics {} — {}",
            i.id,
            i.score,
            i.key.host,
            i.alerts,
            i.sids.len(),
            tactics.join("→"),
            i.title
        );
        for c in &i.explanation {
            eprintln!("    {:<10} {:>5.1}  {}", c.factor, c.points, c.detail);
        }
    }
}

#[test]
fn public_mix_with_et_open_gives_the_same_incidents_twice() {
    let (Some(pcap), Some(et)) = (shared_data("pcaps/public_mix.pcap"), shared_data("et-open"))
    else {
        return;
    };
    let rules = et_open_files(&et);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hs-cache");
    let mut runs = Vec::new();
    for n in 0..2 {
        let dir = tmp.path().join(format!("run{n}"));
        run_once(&dir, &pcap, &rules, &cache);
        runs.push(read_back(&dir.join("db")));
    }
    let (alerts, incidents) = &runs[0];
    report(alerts, incidents);
    assert!(alerts.len() > 100, "only {} alerts", alerts.len());
    assert_eq!(alerts.len(), runs[1].0.len());
    // Every stored alert is a member of one incident (none overflowed, none dropped).
    let members: u64 = incidents.iter().map(|(i, _)| i.alerts).sum();
    assert_eq!(members, alerts.len() as u64);
    assert!(
        incidents.len() < alerts.len() / 5,
        "{} incidents",
        incidents.len()
    );
    // ET Open's metadata gives techniques; the classtype table adds tactics.
    let techniques = alerts
        .iter()
        .filter(|a| !a.attack.technique_id.is_empty())
        .count();
    let tactics = alerts
        .iter()
        .filter(|a| !a.attack.tactic_id.is_empty())
        .count();
    assert!(
        techniques > 0 && tactics > techniques,
        "{techniques} / {tactics}"
    );
    let a: Vec<String> = incidents.iter().map(|(i, _)| comparable(i)).collect();
    let b: Vec<String> = runs[1].1.iter().map(|(i, _)| comparable(i)).collect();
    assert_eq!(a, b);
    let ma: Vec<&Vec<Member>> = incidents.iter().map(|(_, m)| m).collect();
    let mb: Vec<&Vec<Member>> = runs[1].1.iter().map(|(_, m)| m).collect();
    assert_eq!(ma, mb);
}
