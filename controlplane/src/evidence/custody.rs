//! The chain of custody: an append-only file of JSON lines (`custody.log`), each entry
//! naming what happened to an evidence item (collected, viewed, exported, verified), who did
//! it and when, the hash of the entry before it, its own hash, and the appliance key's
//! Ed25519 signature of that hash.
//!
//! ```text
//! hash = SHA-256 of the entry's JSON without `hash` and `sig` (fields in declared order)
//! sig  = Ed25519(appliance key, hash bytes)
//! prev = hash of the previous entry (64 zeros for the first)
//! ```
//!
//! Changing, removing or reordering an entry breaks its hash, its signature or the next
//! entry's `prev`; [`verify`] names the first entry where that happens.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Kind, Result};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    Collected,
    Viewed,
    Exported,
    Verified,
}

/// The signed part of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// 1 for the first entry, then one more each.
    pub seq: u64,
    /// Wall clock, ns since the epoch.
    pub time_ns: u64,
    pub who: String,
    pub act: Act,
    /// The item (0 for a verification of the whole log).
    pub item: u64,
    pub incident: u64,
    /// `alerts`, `flows`, `incident`, `memory_image`.
    pub kind: String,
    /// The item's file under `items/`; empty when only its hash is held (memory images).
    pub file: String,
    /// SHA-256 (hex) of the item's bytes.
    pub sha256: String,
    pub size: u64,
    /// Free text: where an artefact came from, a verification's result.
    pub note: String,
    pub prev: String,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub body: Body,
    pub hash: String,
    pub sig: String,
}

fn hash_of(b: &Body) -> [u8; 32] {
    let json = serde_json::to_vec(b).expect("a custody entry serialises");
    Sha256::digest(json).into()
}

/// The log, open for appending.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    file: File,
    next_seq: u64,
    prev: String,
}

impl Log {
    /// Opens (or creates) the log at `path`, continuing after its last entry.
    pub fn open(path: &Path) -> Result<Log> {
        let io = |e: std::io::Error| {
            Error::new(
                Kind::Storage,
                format!("custody log {}: {e}", path.display()),
            )
        };
        let mut next_seq = 1;
        let mut prev = GENESIS.to_owned();
        if path.exists() {
            let f = File::open(path).map_err(io)?;
            if let Some(Ok(line)) = BufReader::new(f).lines().last() {
                // A damaged last line is left for `verify` to name; appending goes on after it.
                if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                    next_seq = e.body.seq + 1;
                    prev = e.hash;
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(Log {
            path: path.to_owned(),
            file,
            next_seq,
            prev,
        })
    }

    /// Appends `body` (its `seq` and `prev` are set here), signed with `key`, synced.
    pub fn append(&mut self, mut body: Body, key: &SigningKey) -> Result<Entry> {
        body.seq = self.next_seq;
        body.prev.clone_from(&self.prev);
        let h = hash_of(&body);
        let entry = Entry {
            sig: hex::encode(key.sign(&h).to_bytes()),
            hash: hex::encode(h),
            body,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| Error::internal(e.to_string()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| {
                Error::new(
                    Kind::Storage,
                    format!("appending to {}: {e}", self.path.display()),
                )
            })?;
        self.next_seq += 1;
        self.prev.clone_from(&entry.hash);
        Ok(entry)
    }
}

/// Every entry that parses, in order (for listings).
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::new(
                Kind::Storage,
                format!("{}: {e}", path.display()),
            ))
        }
    };
    Ok(BufReader::new(f)
        .lines()
        .map_while(std::result::Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub items: u64,
    /// The first broken link of the chain, if any.
    pub broken_link: Option<String>,
    /// Every stored item whose bytes no longer match the hash it was collected with.
    pub altered_items: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.broken_link.is_none() && self.altered_items.is_empty()
    }
}

/// Recomputes every entry's hash and signature, the chain of `prev` hashes, and the SHA-256
/// of every stored item (files under `items`).
pub fn verify(path: &Path, items: &Path, key: &VerifyingKey) -> Result<Report> {
    let mut r = Report::default();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(r),
        Err(e) => {
            return Err(Error::new(
                Kind::Storage,
                format!("{}: {e}", path.display()),
            ))
        }
    };
    let mut prev = GENESIS.to_owned();
    for (n, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::new(Kind::Storage, e.to_string()))?;
        let at = n as u64 + 1;
        r.entries = at;
        if r.broken_link.is_none() {
            if let Err(why) = check_entry(&line, at, &prev, key) {
                r.broken_link = Some(format!("entry {at} (line {at}): {why}"));
            }
        }
        let Ok(e) = serde_json::from_slice::<Entry>(&line) else {
            continue;
        };
        prev.clone_from(&e.hash);
        if e.body.act == Act::Collected && !e.body.file.is_empty() {
            r.items += 1;
            if let Some(bad) = check_item(items, &e.body) {
                r.altered_items.push(bad);
            }
        }
    }
    Ok(r)
}

fn check_entry(
    line: &[u8],
    seq: u64,
    prev: &str,
    key: &VerifyingKey,
) -> std::result::Result<(), String> {
    let e: Entry = serde_json::from_slice(line).map_err(|e| format!("not a custody entry: {e}"))?;
    if e.body.seq != seq {
        return Err(format!(
            "sequence {} where {seq} was due (an entry was removed or moved)",
            e.body.seq
        ));
    }
    if e.body.prev != prev {
        return Err("its prior hash is not the hash of the entry before it".into());
    }
    let h = hash_of(&e.body);
    if hex::encode(h) != e.hash {
        return Err("its content does not match its hash (the entry was altered)".into());
    }
    let sig = hex::decode(&e.sig)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or("its signature is malformed")?;
    key.verify(&h, &sig)
        .map_err(|_| "its signature is not the appliance key's".to_owned())
}

fn check_item(items: &Path, b: &Body) -> Option<String> {
    let path = items.join(&b.file);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let got = hex::encode(Sha256::digest(&bytes));
            (got != b.sha256).then(|| {
                format!(
                    "item {} ({}): SHA-256 {got}, collected as {}",
                    b.item,
                    path.display(),
                    b.sha256
                )
            })
        }
        Err(e) => Some(format!("item {} ({}): {e}", b.item, path.display())),
    }
}
