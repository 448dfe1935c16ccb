//! Scheduled reports: when each `[reports] schedule` entry is due (pure, on wall-clock
//! nanoseconds in UTC), and the control plane's task that generates them.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Reports;

const SEC: u64 = 1_000_000_000;
const HOUR: u64 = 3_600 * SEC;
const DAY: u64 = 24 * HOUR;

/// One schedule entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// The previous hour, on the hour.
    Hourly,
    /// The previous 24 hours, every day at `[reports] hour`.
    Daily,
    /// The previous 7 days, Mondays at `[reports] hour`.
    Weekly,
    /// The previous interval, at every multiple of it since the epoch.
    Interval(Duration),
}

impl Every {
    /// `"hourly"`, `"daily"`, `"weekly"` or `"every <duration>"` (at least one second).
    pub fn parse(s: &str) -> Result<Every, String> {
        let t = s.trim();
        match t {
            "hourly" => return Ok(Every::Hourly),
            "daily" => return Ok(Every::Daily),
            "weekly" => return Ok(Every::Weekly),
            _ => {}
        }
        let bad = || {
            format!(
                "{s:?}: \"daily\", \"weekly\", \"hourly\" or \"every <duration>\" (\"every 30m\")"
            )
        };
        let d = t
            .strip_prefix("every ")
            .and_then(|d| humantime::parse_duration(d.trim()).ok())
            .ok_or_else(bad)?;
        if d < Duration::from_secs(1) {
            return Err(format!("{s:?}: at least every second"));
        }
        Ok(Every::Interval(d))
    }

    /// The entry as written in the config (and in a scheduled report's origin).
    pub fn name(self) -> String {
        match self {
            Every::Hourly => "hourly".into(),
            Every::Daily => "daily".into(),
            Every::Weekly => "weekly".into(),
            Every::Interval(d) => format!("every {}", humantime::format_duration(d)),
        }
    }

    /// The range a report covers, ending when it is due.
    pub fn span_ns(self) -> u64 {
        match self {
            Every::Hourly => HOUR,
            Every::Daily => DAY,
            Every::Weekly => 7 * DAY,
            Every::Interval(d) => d.as_nanos().min(u64::MAX as u128) as u64,
        }
    }

    /// The first due time strictly after `after_ns`.
    pub fn next_after(self, after_ns: u64, hour: u8) -> u64 {
        let at_hour = hour as u64 * HOUR;
        match self {
            Every::Hourly => (after_ns / HOUR + 1) * HOUR,
            Every::Interval(_) => {
                let span = self.span_ns().max(1);
                (after_ns / span + 1) * span
            }
            Every::Daily => {
                let today = after_ns / DAY * DAY + at_hour;
                if today > after_ns {
                    today
                } else {
                    today + DAY
                }
            }
            Every::Weekly => {
                let mut t = Every::Daily.next_after(after_ns, hour);
                // Day 0 of the epoch was a Thursday: Mondays are days with (day + 3) % 7 == 0.
                while (t / DAY + 3) % 7 != 0 {
                    t += DAY;
                }
                t
            }
        }
    }
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Generates every scheduled report when it is due, in every configured format, until
/// shutdown. A failed report is logged and counted; the schedule goes on.
pub fn spawn(
    reports: Arc<Reports>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if reports.settings.schedule.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let hour = reports.settings.hour;
        let now = wall_ns();
        let mut next: Vec<(Every, u64)> = reports
            .settings
            .schedule
            .iter()
            .map(|&e| (e, e.next_after(now, hour)))
            .collect();
        loop {
            let due = next.iter().map(|n| n.1).min().unwrap_or(u64::MAX);
            let wait = Duration::from_nanos(due.saturating_sub(wall_ns()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let now = wall_ns();
            for (every, at) in next.iter_mut() {
                if *at > now {
                    continue;
                }
                run_one(&reports, *every, *at).await;
                *at = every.next_after(now, hour);
            }
        }
    }))
}

async fn run_one(reports: &Arc<Reports>, every: Every, at: u64) {
    let from = at.saturating_sub(every.span_ns());
    for &format in &reports.settings.formats {
        let r = reports.clone();
        let origin = format!("schedule {}", every.name());
        let res = tokio::task::spawn_blocking(move || {
            let range = r.range(from, at)?;
            r.generate(range, format, &origin, wall_ns())
        })
        .await;
        match res {
            Ok(Ok((meta, _))) => tracing::info!(
                id = meta.id,
                schedule = %every.name(),
                format = format.as_str(),
                bytes = meta.size,
                "scheduled report stored"
            ),
            Ok(Err(e)) => tracing::warn!(
                schedule = %every.name(),
                format = format.as_str(),
                error = %e,
                "scheduled report failed"
            ),
            Err(e) => tracing::warn!(error = %e, "scheduled report task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 (a Monday) 16:50:00 UTC.
    const MON_1650: u64 = 1_796_662_200 * SEC;

    #[test]
    fn entries_parse_and_name_themselves() {
        assert_eq!(Every::parse("daily"), Ok(Every::Daily));
        assert_eq!(Every::parse(" weekly "), Ok(Every::Weekly));
        assert_eq!(
            Every::parse("every 10m"),
            Ok(Every::Interval(Duration::from_secs(600)))
        );
        assert_eq!(Every::parse("every 10m").unwrap().name(), "every 10m");
        for bad in ["monthly", "every", "every soon", "every 10ms", ""] {
            assert!(Every::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn daily_and_weekly_fall_on_the_hour_and_monday() {
        assert_eq!((MON_1650 / DAY + 3) % 7, 0, "the constant is a Monday");
        let midnight = MON_1650 / DAY * DAY;
        assert_eq!(Every::Daily.next_after(MON_1650, 18), midnight + 18 * HOUR);
        assert_eq!(
            Every::Daily.next_after(MON_1650, 6),
            midnight + DAY + 6 * HOUR
        );
        assert_eq!(
            Every::Daily.next_after(midnight + 6 * HOUR, 6),
            midnight + DAY + 6 * HOUR,
            "strictly after"
        );
        assert_eq!(Every::Weekly.next_after(MON_1650, 18), midnight + 18 * HOUR);
        assert_eq!(
            Every::Weekly.next_after(MON_1650, 6),
            midnight + 7 * DAY + 6 * HOUR
        );
        assert_eq!(Every::Hourly.next_after(MON_1650, 0), midnight + 17 * HOUR);
        let every = Every::Interval(Duration::from_secs(7));
        assert_eq!(every.next_after(13 * SEC, 0), 14 * SEC);
        assert_eq!(every.span_ns(), 7 * SEC);
    }
}
