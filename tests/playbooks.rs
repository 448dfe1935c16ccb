//! Playbooks end to end: the real `osprey run` replays the bundled demo capture with its
//! rules; the control plane correlates the alerts into incidents and a playbook blocks the
//! incident's peers (origin `playbook`, with a time to live), notifies a webhook (a plain
//! HTTP receiver on 127.0.0.1:0 in this test) and records both on the incident. The same run
//! with the playbook in dry-run records what it would do and adds no block.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{osprey, run_within, sample};
use controlplane::incidents::persist;
use controlplane::store::{Store, StoreOptions};

/// A minimal HTTP/1.1 receiver: answers 200 to every POST and keeps the bodies.
fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    let l = line.trim_end().to_ascii_lowercase();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                g.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .unwrap();
            }
        }
    });
    (url, got)
}

fn run_once(dir: &Path, url: &str, dry_run: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmode = \"replay\"\npcap = {:?}\nworkers = 1\n\
             [api]\nlisten = \"127.0.0.1:0\"\nallow_plaintext = true\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\npath = {:?}\n\
             [rules]\nfiles = [{:?}]\n\
             [incidents]\nhome_net = [\"0.0.0.0/0\"]\n\
             [[webhooks]]\nname = \"soc\"\nurl = {url:?}\nattempts = 2\ntimeout_ms = 2000\n\
             [[playbooks]]\nname = \"contain\"\ndry_run = {dry_run}\n\
             [playbooks.when]\nsid = [9000003]\n\
             [[playbooks.actions]]\naction = \"block\"\naddress = \"peers\"\nttl_secs = 7200\n\
             [[playbooks.actions]]\naction = \"notify\"\ntarget = \"soc\"\n",
            sample("demo.pcap").display().to_string(),
            dir.join("db").display().to_string(),
            sample("demo.rules").display().to_string(),
        ),
    )
    .unwrap();
    let out = run_within(
        osprey().args(["run", "-c"]).arg(&cfg),
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "osprey run: {:?}", out.status);
}

#[test]
fn a_replayed_alert_fires_a_playbook_that_blocks_its_peer_and_notifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, got) = receiver();
    run_once(&tmp.path().join("act"), &url, false);

    let store = Store::open(&tmp.path().join("act/db"), &StoreOptions::default()).unwrap();
    let (incidents, _) = persist::list(&store, 0, usize::MAX, |_| true).unwrap();
    let fired: Vec<_> = incidents
        .iter()
        .filter(|i| i.sids.contains(&9_000_003))
        .collect();
    assert_eq!(fired.len(), 1, "one incident holds sid 9000003");
    let inc = fired[0];
    let block = inc
        .responses
        .iter()
        .find(|r| r.action == "block")
        .expect("the block is on the incident's timeline");
    assert_eq!(block.playbook, "contain");
    assert_eq!(block.outcome.as_str(), "ok", "{}", block.detail);
    let entries = store.all_blocks().unwrap();
    assert_eq!(entries.len(), block.block_ids.len());
    for e in &entries {
        assert!(block.block_ids.contains(&e.id));
        assert_eq!(e.origin, "playbook");
        assert_eq!(e.expires_ns - e.created_ns, 7200 * 1_000_000_000);
        let ip: std::net::IpAddr = e.target.parse().unwrap();
        assert!(
            inc.hosts.contains(&ip),
            "{} is a peer of {}",
            e.target,
            inc.key.host
        );
    }
    assert!(!entries.is_empty());
    let notify = inc.responses.iter().find(|r| r.action == "notify").unwrap();
    assert_eq!(notify.outcome.as_str(), "ok");
    let bodies = got.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .any(|b| b["event_type"] == "playbook" && b["incident"]["id"] == inc.id),
        "{bodies:?}"
    );
    drop(store);

    // The same run in dry-run: recorded as what it would do, nothing added.
    run_once(&tmp.path().join("dry"), &url, true);
    let store = Store::open(&tmp.path().join("dry/db"), &StoreOptions::default()).unwrap();
    assert!(store.all_blocks().unwrap().is_empty());
    let (incidents, _) = persist::list(&store, 0, usize::MAX, |_| true).unwrap();
    let inc = incidents
        .iter()
        .find(|i| i.sids.contains(&9_000_003))
        .unwrap();
    assert!(!inc.responses.is_empty());
    assert!(inc
        .responses
        .iter()
        .all(|r| r.outcome.as_str() == "dry_run" && r.detail.starts_with("would ")));
}
