//! Reports: an executive summary of a time range built from the store, rendered as one
//! self-contained HTML page (inline CSS and server-drawn SVG charts, no script, so it prints)
//! or as PDF printed from that page by headless Chromium; stored with their SHA-256 and
//! listed; generated on demand (API, `osprey ctl report`) or by the `[reports]` schedule.
//!
//! One file per job: [`summary`] gathers the numbers, [`html`] renders them (with
//! [`chart`]'s SVG), [`pdf`] prints, [`schedule`] says when scheduled reports are due,
//! [`sampler`] records the appliance's throughput that the traffic and performance sections
//! chart. [`generate`] is the library entry point every interface (gRPC, REST, the schedule)
//! calls.

pub mod chart;
pub mod html;
pub mod pdf;
pub mod sampler;
pub mod schedule;
pub mod summary;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, ReportsConfig};
use crate::error::{Error, Result};
use crate::store::Store;

pub use summary::Summary;

/// A report's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Pdf,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Html, Format::Pdf];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Pdf => "pdf",
        }
    }

    /// `"html"` (also the empty string) or `"pdf"`.
    pub fn parse(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "html" => Ok(Format::Html),
            "pdf" => Ok(Format::Pdf),
            other => Err(Error::invalid(format!(
                "format `{other}`: \"html\" or \"pdf\""
            ))),
        }
    }

    /// The MIME type of the content.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
        }
    }
}

/// A wall-clock range `[from_ns, to_ns)`, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub from_ns: u64,
    pub to_ns: u64,
}

const DAY_NS: u64 = 86_400 * 1_000_000_000;

impl Range {
    /// Refuses an empty or reversed range and one longer than `max_span_days`.
    pub fn new(from_ns: u64, to_ns: u64, max_span_days: u64) -> Result<Range> {
        if from_ns >= to_ns {
            return Err(Error::invalid(format!(
                "range: from ({from_ns} ns) must be before to ({to_ns} ns)"
            )));
        }
        let max = max_span_days.saturating_mul(DAY_NS);
        if to_ns - from_ns > max {
            return Err(Error::invalid(format!(
                "range: {} days is longer than the {max_span_days} days a report may cover",
                (to_ns - from_ns) / DAY_NS
            )));
        }
        Ok(Range { from_ns, to_ns })
    }

    pub fn span_ns(self) -> u64 {
        self.to_ns - self.from_ns
    }
}

/// A stored report's description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportMeta {
    pub id: u64,
    pub from_ns: u64,
    pub to_ns: u64,
    pub format: Format,
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    pub created_ns: u64,
    /// `schedule daily`, `schedule weekly`, ... or the identity that asked.
    pub origin: String,
}

/// The appliance's cumulative counters at one wall-clock moment (see [`sampler`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub ts_ns: u64,
    pub packets: u64,
    pub bytes: u64,
    pub alerts: u64,
    pub drops: u64,
}

/// `[reports]`, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    pub schedule: Vec<schedule::Every>,
    pub hour: u8,
    pub formats: Vec<Format>,
    pub pdf: pdf::PdfSettings,
    pub keep: usize,
    pub max_span_days: u64,
    pub sample_every: Duration,
}

impl Settings {
    /// Checks `[reports]`, naming the key of what is wrong.
    pub fn from_config(c: &ReportsConfig) -> std::result::Result<Settings, ConfigError> {
        let bad = |key: &str, message: String| ConfigError {
            key: format!("reports.{key}"),
            message,
        };
        let schedule = c
            .schedule
            .iter()
            .map(|s| schedule::Every::parse(s).map_err(|m| bad("schedule", m)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if c.hour > 23 {
            return Err(bad(
                "hour",
                format!("{} is not an hour of the day (0–23)", c.hour),
            ));
        }
        let formats = c
            .formats
            .iter()
            .map(|f| Format::parse(f).map_err(|e| bad("formats", e.context)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if !c.schedule.is_empty() && formats.is_empty() {
            return Err(bad(
                "formats",
                "a schedule needs at least one format".into(),
            ));
        }
        for (key, v) in [
            ("pdf_timeout_secs", c.pdf_timeout_secs),
            ("keep", c.keep as u64),
            ("max_span_days", c.max_span_days),
            ("sample_secs", c.sample_secs),
        ] {
            if v == 0 {
                return Err(bad(key, "must be above 0".into()));
            }
        }
        Ok(Settings {
            schedule,
            hour: c.hour,
            formats,
            pdf: pdf::PdfSettings {
                chromium: c.chromium.clone(),
                timeout: Duration::from_secs(c.pdf_timeout_secs),
            },
            keep: c.keep as usize,
            max_span_days: c.max_span_days,
            sample_every: Duration::from_secs(c.sample_secs),
        })
    }
}

/// Reports generated and failed, by format (`osprey_reports_generated_total{format}`,
/// `osprey_reports_failed_total{format}`).
#[derive(Debug, Default)]
pub struct Counters {
    generated: [AtomicU64; 2],
    failed: [AtomicU64; 2],
}

impl Counters {
    fn slot(f: Format) -> usize {
        f as usize
    }

    /// (format, generated, failed) of each format.
    pub fn values(&self) -> Vec<(&'static str, u64, u64)> {
        Format::ALL
            .iter()
            .map(|&f| {
                let i = Self::slot(f);
                (
                    f.as_str(),
                    self.generated[i].load(Ordering::Relaxed),
                    self.failed[i].load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// What the report generator needs beside the store: the storage cap it reports against.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `[storage] max_bytes` (0: no cap).
    pub max_bytes: u64,
    /// `[storage] max_age_secs` (0: kept forever).
    pub max_age_secs: u64,
}

/// Reports of one appliance: generation, storage, listing, counters.
#[derive(Debug)]
pub struct Reports {
    pub store: Arc<Store>,
    pub settings: Settings,
    pub context: Context,
    pub counters: Counters,
}

impl Reports {
    pub fn new(store: Arc<Store>, settings: Settings, context: Context) -> Reports {
        Reports {
            store,
            settings,
            context,
            counters: Counters::default(),
        }
    }

    /// Generates a report of `range` in `format`, stores it and returns it with its
    /// content. Blocking (RocksDB reads, Chromium): call from a blocking thread.
    pub fn generate(
        &self,
        range: Range,
        format: Format,
        origin: &str,
        now_ns: u64,
    ) -> Result<(ReportMeta, Vec<u8>)> {
        let res = generate(
            &self.store,
            &self.context,
            &self.settings.pdf,
            range,
            format,
            now_ns,
        )
        .and_then(|content| {
            let mut meta = ReportMeta {
                id: 0,
                from_ns: range.from_ns,
                to_ns: range.to_ns,
                format,
                size: content.len() as u64,
                sha256: hex::encode(Sha256::digest(&content)),
                created_ns: now_ns,
                origin: origin.to_owned(),
            };
            self.store
                .put_report(&mut meta, &content, self.settings.keep)?;
            Ok((meta, content))
        });
        let slot = Counters::slot(format);
        match &res {
            Ok(_) => self.counters.generated[slot].fetch_add(1, Ordering::Relaxed),
            Err(_) => self.counters.failed[slot].fetch_add(1, Ordering::Relaxed),
        };
        res
    }

    /// Checks a requested range against `[reports] max_span_days`.
    pub fn range(&self, from_ns: u64, to_ns: u64) -> Result<Range> {
        Range::new(from_ns, to_ns, self.settings.max_span_days)
    }
}

/// The report of `range` in `format` (not stored): the summary from the store, rendered.
/// The one generator behind every interface.
pub fn generate(
    store: &Store,
    ctx: &Context,
    pdf: &pdf::PdfSettings,
    range: Range,
    format: Format,
    now_ns: u64,
) -> Result<Vec<u8>> {
    let summary = Summary::build(store, ctx, range, now_ns)?;
    let page = html::render(&summary);
    match format {
        Format::Html => Ok(page.into_bytes()),
        Format::Pdf => pdf::print(&page, pdf),
    }
}
