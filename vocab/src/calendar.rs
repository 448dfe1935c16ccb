//! Civil dates from epoch days, and EVE's timestamp spelling.

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's
/// `civil_from_days` algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Nanoseconds since the epoch as Suricata writes EVE timestamps, in UTC:
/// `2024-04-19T12:00:01.123456+0000`.
pub fn eve_timestamp(ts_nanos: u64) -> String {
    let secs = ts_nanos / 1_000_000_000;
    let micros = (ts_nanos % 1_000_000_000) / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_832), (2024, 4, 19));
    }

    #[test]
    fn timestamps_format_like_suricata() {
        let ns = 1_713_528_001_123_456_789;
        assert_eq!(eve_timestamp(ns), "2024-04-19T12:00:01.123456+0000");
        assert_eq!(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
        // 2024-02-29T23:59:59.123456Z, a leap day.
        assert_eq!(
            eve_timestamp(1_709_251_199_123_456_000),
            "2024-02-29T23:59:59.123456+0000"
        );
    }
}
