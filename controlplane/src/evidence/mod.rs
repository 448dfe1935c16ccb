//! Evidence with a chain of custody.
//!
//! ```text
//!  <evidence dir>/appliance.ed25519      the signing key (0600), made at first start
//!  <evidence dir>/appliance.ed25519.pub  its public half (hex)
//!  <evidence dir>/items/<id>-<kind>.json the items, written once, never changed
//!  <evidence dir>/custody.log            signed, hash-chained entries (custody.rs)
//! ```
//!
//! An incident's evidence ([`collect`]) is its record with its timeline, the EVE records of
//! its stored alerts and the flow records of its host with its peers, each an item with its
//! SHA-256, each collection an entry of the custody log. An artefact held elsewhere (a
//! memory image from `acquire_memory`) is an entry with its hash only. Viewing and exporting
//! an item, and verifying the log, are entries too. Packet captures ([`capture`]) are the
//! packets of an alerting flow the workers' rings hand over, stored as `pcap` items
//! (`<id>-pcap.pcap`).

pub mod capture;
pub mod collect;
pub mod custody;
pub mod key;
pub mod pcap;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Kind, Result};
use crate::store::Store;
pub use custody::{Act, Body as Item, Report};

/// The evidence store.
pub struct Evidence {
    dir: PathBuf,
    key: SigningKey,
    /// The log, and the id the next item gets.
    log: Mutex<(custody::Log, u64)>,
    store: Arc<Store>,
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evidence")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

const LOG_FILE: &str = "custody.log";
const ITEMS_DIR: &str = "items";

impl Evidence {
    /// Opens `dir` (created when missing), its key (made when missing) and its log.
    pub fn open(dir: &Path, store: Arc<Store>) -> Result<Evidence> {
        std::fs::create_dir_all(dir.join(ITEMS_DIR)).map_err(|e| {
            Error::new(
                Kind::Storage,
                format!("evidence directory {}: {e}", dir.display()),
            )
        })?;
        let key = key::load_or_create(dir)?;
        let log = custody::Log::open(&dir.join(LOG_FILE))?;
        let next_item = custody::read(&dir.join(LOG_FILE))?
            .iter()
            .filter(|e| e.body.act == Act::Collected)
            .map(|e| e.body.item)
            .max()
            .unwrap_or(0)
            + 1;
        Ok(Evidence {
            dir: dir.to_owned(),
            key,
            log: Mutex::new((log, next_item)),
            store,
        })
    }

    /// The appliance's public key (hex).
    pub fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    fn items_dir(&self) -> PathBuf {
        self.dir.join(ITEMS_DIR)
    }

    fn append(&self, body: Item) -> Result<Item> {
        let mut g = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Ok(g.0.append(body, &self.key)?.body)
    }

    /// Stores `bytes` as a new item of `incident` and logs its collection by `who`.
    pub fn add_item(&self, incident: u64, kind: &str, bytes: &[u8], who: &str) -> Result<Item> {
        self.add_file(incident, kind, "json", bytes, "", who)
    }

    /// Stores a packet capture (a pcap savefile) as a new `pcap` item of `incident`.
    pub fn add_capture(&self, incident: u64, pcap: &[u8], note: &str, who: &str) -> Result<Item> {
        self.add_file(incident, "pcap", "pcap", pcap, note, who)
    }

    fn add_file(
        &self,
        incident: u64,
        kind: &str,
        ext: &str,
        bytes: &[u8],
        note: &str,
        who: &str,
    ) -> Result<Item> {
        let mut g = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let id = g.1;
        let file = format!("{id:08}-{kind}.{ext}");
        let path = self.items_dir().join(&file);
        write_new(&path, bytes)?;
        let body = body(
            who,
            Act::Collected,
            id,
            incident,
            kind,
            file,
            hex::encode(Sha256::digest(bytes)),
            bytes.len() as u64,
            note.to_owned(),
        );
        let e = g.0.append(body, &self.key)?;
        g.1 += 1;
        Ok(e.body)
    }

    /// Logs an artefact held elsewhere (only its hash is kept).
    pub fn add_artefact(
        &self,
        incident: u64,
        kind: &str,
        sha256: &str,
        size: u64,
        note: &str,
        who: &str,
    ) -> Result<Item> {
        let mut g = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let id = g.1;
        let b = body(
            who,
            Act::Collected,
            id,
            incident,
            kind,
            String::new(),
            sha256.to_owned(),
            size,
            note.to_owned(),
        );
        let e = g.0.append(b, &self.key)?;
        g.1 += 1;
        Ok(e.body)
    }

    /// Collects the evidence of incident `id` (see [`collect`]).
    pub fn collect_incident(&self, id: u64, who: &str) -> Result<Vec<Item>> {
        collect::incident(self, &self.store, id, who)
    }

    /// Items, oldest first; of `incident` only when not 0.
    pub fn list(&self, incident: u64) -> Result<Vec<Item>> {
        Ok(custody::read(&self.dir.join(LOG_FILE))?
            .into_iter()
            .map(|e| e.body)
            .filter(|b| b.act == Act::Collected && (incident == 0 || b.incident == incident))
            .collect())
    }

    /// The bytes of item `id`, read for `act` (viewed or exported) by `who`, logged; with
    /// whether they still match the hash they were collected with.
    pub fn read_item(&self, id: u64, act: Act, who: &str) -> Result<(Item, Vec<u8>, bool)> {
        let item = self
            .list(0)?
            .into_iter()
            .find(|i| i.item == id)
            .ok_or_else(|| Error::not_found(format!("evidence item {id}")))?;
        if item.file.is_empty() {
            return Err(Error::new(
                Kind::FailedPrecondition,
                format!(
                    "evidence item {id} ({}) is held elsewhere; only its hash {} is here",
                    item.kind, item.sha256
                ),
            ));
        }
        let bytes = std::fs::read(self.items_dir().join(&item.file))
            .map_err(|e| Error::new(Kind::Storage, format!("evidence item {id}: {e}")))?;
        let intact = hex::encode(Sha256::digest(&bytes)) == item.sha256;
        self.append(body(
            who,
            act,
            id,
            item.incident,
            &item.kind,
            item.file.clone(),
            item.sha256.clone(),
            item.size,
            if intact {
                String::new()
            } else {
                "bytes differ from the collected hash".into()
            },
        ))?;
        Ok((item, bytes, intact))
    }

    /// Verifies the whole log and every stored item, and logs the verification.
    pub fn verify(&self, who: &str) -> Result<Report> {
        let report = custody::verify(
            &self.dir.join(LOG_FILE),
            &self.items_dir(),
            &self.key.verifying_key(),
        )?;
        let note = match (&report.broken_link, report.altered_items.len()) {
            (None, 0) => format!("intact: {} entries, {} items", report.entries, report.items),
            (b, n) => format!(
                "broken link: {}; altered items: {n}",
                b.as_deref().unwrap_or("none")
            ),
        };
        self.append(body(
            who,
            Act::Verified,
            0,
            0,
            "",
            String::new(),
            String::new(),
            0,
            note,
        ))?;
        Ok(report)
    }
}

#[allow(clippy::too_many_arguments)]
fn body(
    who: &str,
    act: Act,
    item: u64,
    incident: u64,
    kind: &str,
    file: String,
    sha256: String,
    size: u64,
    note: String,
) -> Item {
    Item {
        seq: 0,
        time_ns: crate::health::now_nanos(),
        who: who.to_owned(),
        act,
        item,
        incident,
        kind: kind.to_owned(),
        file,
        sha256,
        size,
        note,
        prev: String::new(),
    }
}

/// Writes a new file (never over an existing one) and syncs it; a full disk is an error
/// naming the file, and the partial file is removed.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let err = |e: std::io::Error| {
        Error::new(
            Kind::Storage,
            format!("writing evidence {}: {e}", path.display()),
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(path);
        err(e)
    })
}
