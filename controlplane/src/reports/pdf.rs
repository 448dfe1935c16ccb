//! PDF printing by headless Chromium (Debian's `chromium`): the page is written to a
//! temporary directory, `chromium --headless --print-to-pdf` prints it as a child process
//! with a timeout (killed past it), and the directory is removed whatever happens.
//!
//! A child process rather than a DevTools client (chromiumoxide, fantoccini): printing one
//! local file needs no browser session, the page has no script to wait for, and a process
//! with a timeout and its own profile directory is the smallest thing that can hang, leak or
//! be killed cleanly.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Kind, Result};

/// How to print.
#[derive(Clone, Debug)]
pub struct PdfSettings {
    /// The browser binary (a name looked up in `PATH`, or a path).
    pub chromium: PathBuf,
    pub timeout: Duration,
}

/// Prints `html` to PDF bytes.
pub fn print(html: &str, s: &PdfSettings) -> Result<Vec<u8>> {
    let dir = tempfile::Builder::new()
        .prefix("osprey-report-")
        .tempdir()
        .map_err(|e| Error::internal(format!("report: temporary directory: {e}")))?;
    let page = dir.path().join("report.html");
    let pdf = dir.path().join("report.pdf");
    std::fs::write(&page, html)
        .map_err(|e| Error::internal(format!("report: writing {}: {e}", page.display())))?;
    // Chromium's chatter goes to a file: a pipe nobody reads until the end could fill.
    let log = dir.path().join("chromium.log");
    let log_file = std::fs::File::create(&log)
        .map_err(|e| Error::internal(format!("report: writing {}: {e}", log.display())))?;
    let mut child = Command::new(&s.chromium)
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--no-first-run")
        .arg("--disable-extensions")
        .arg("--no-pdf-header-footer")
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| {
            Error::new(
                Kind::Unavailable,
                format!(
                    "PDF reports need headless Chromium: cannot run {:?} ({e}); install \
                     Debian's `chromium` (deploy/install-deps.sh) or set [reports] chromium",
                    s.chromium
                ),
            )
        })?;
    let deadline = Instant::now() + s.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::new(
                    Kind::Unavailable,
                    format!(
                        "PDF report: chromium did not finish within {} s (killed)",
                        s.timeout.as_secs()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(Error::internal(format!("PDF report: waiting: {e}"))),
        }
    };
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    let bytes = std::fs::read(&pdf).unwrap_or_default();
    if !status.success() || !bytes.starts_with(b"%PDF") {
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Error::internal(format!(
            "PDF report: chromium exited with {status} without a PDF: {}",
            last.chars().take(300).collect::<String>()
        )));
    }
    Ok(bytes)
}
