//! A real TAXII 2.1 server for the tests: `medallion` (installed into `.venv/` by
//! `deploy/install-deps.sh`) on 127.0.0.1 with a port the test picks, its memory backend read
//! from a JSON data file the test writes, HTTP basic authentication. Under `CI` a missing
//! medallion fails the test (`vocab::testing::material`). Shared by `tests/intel.rs` and
//! `controlplane/tests/intel.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The workspace's root (where `.venv/` is), from the tests of either package.
fn root() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| p.join("Cargo.lock").exists())
        .unwrap_or(here)
}

pub const USER: &str = "osprey";
pub const PASSWORD: &str = "taxii-test-password";
pub const COLLECTION: &str = "osprey-test";
const COLLECTION_ID: &str = "365fed99-08fa-fdcd-a1b3-fb247eb41d01";
/// The `date_added` of every object the data file starts with.
pub const ADDED: &str = "2024-01-01T00:00:00.000000Z";

/// A running medallion; killed when dropped.
pub struct Medallion {
    child: Option<Child>,
    pub port: u16,
    python: PathBuf,
}

/// A free loopback port (released for the server to bind).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Medallion {
    /// Starts medallion in `dir` serving one collection of `objects` (keep it to tens:
    /// its memory backend sorts a collection on every request) with pages of at most
    /// `page` objects; `None` when medallion is not installed (outside `CI`).
    pub fn start(dir: &Path, objects: &[Value], page: usize) -> Option<Medallion> {
        Medallion::start_on(dir, objects, page, free_port())
    }

    /// [`Medallion::start`] on `port` (a server that comes back where it was, empty).
    pub fn start_on(dir: &Path, objects: &[Value], page: usize, port: u16) -> Option<Medallion> {
        let bin = vocab::testing::material(root().join(".venv/bin/medallion"))?;
        let python = root().join(".venv/bin/python");
        let base = format!("http://127.0.0.1:{port}");
        let manifest: Vec<Value> = objects
            .iter()
            .map(|o| {
                json!({"id": o["id"], "date_added": ADDED, "version": o["modified"],
                       "media_type": "application/stix+json;version=2.1"})
            })
            .collect();
        let data = json!({
            "/discovery": {"title": "Osprey test TAXII", "description": "", "contact": "",
                           "default": format!("{base}/api1/"),
                           "api_roots": [format!("{base}/api1/")]},
            "api1": {
                "information": {"title": "api1", "description": "",
                                "versions": ["application/taxii+json;version=2.1"],
                                "max_content_length": 10_485_760},
                "status": [],
                "collections": [{"id": COLLECTION_ID, "title": COLLECTION, "description": "",
                                 "can_read": true, "can_write": true,
                                 "media_types": ["application/stix+json;version=2.1"],
                                 "objects": objects, "manifest": manifest}]
            }
        });
        let data_file = dir.join("medallion-data.json");
        std::fs::write(&data_file, data.to_string()).unwrap();
        let config = json!({
            "backend": {"module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend",
                        "filename": data_file},
            "users": {USER: PASSWORD},
            "taxii": {"max_page_size": page}
        });
        let config_file = dir.join("medallion.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start medallion");
        let m = Medallion {
            child: Some(child),
            port,
            python,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "medallion never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(m)
    }

    /// The discovery URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/taxii2/", self.port)
    }

    /// Adds `objects` to the collection over TAXII (POST, as a producer would).
    pub fn add(&self, objects: &[Value]) {
        let body = json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                          "objects": objects})
        .to_string();
        let script = format!(
            "import base64, sys, urllib.request\n\
             req = urllib.request.Request('http://127.0.0.1:{}/api1/collections/{COLLECTION_ID}/objects/', data=sys.stdin.buffer.read(), method='POST')\n\
             req.add_header('Content-Type', 'application/taxii+json;version=2.1')\n\
             req.add_header('Accept', 'application/taxii+json;version=2.1')\n\
             req.add_header('Authorization', 'Basic ' + base64.b64encode(b'{USER}:{PASSWORD}').decode())\n\
             print(urllib.request.urlopen(req).read().decode())\n",
            self.port
        );
        let mut child = Command::new(&self.python)
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "POST to medallion: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["success_count"], objects.len(), "{status}");
    }

    /// Stops the server (as a server that goes down).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Medallion {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A STIX 2.1 indicator of domain `name`.
pub fn domain_indicator(id: &str, name: &str, modified: &str) -> Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": id,
           "created": "2024-01-01T00:00:00.000Z", "modified": modified,
           "name": format!("C2 domain {name}"), "indicator_types": ["malicious-activity"],
           "pattern": format!("[domain-name:value = '{name}']"), "pattern_type": "stix",
           "valid_from": "2020-01-01T00:00:00Z", "confidence": 90, "labels": ["c2"]})
}
