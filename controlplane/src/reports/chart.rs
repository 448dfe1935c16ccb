//! SVG charts drawn on the server: a time series as an area under a line, and horizontal
//! bars for a top-N list. Plain SVG elements with inline attributes, so a page prints without
//! scripts or fonts from elsewhere. Labels are escaped by the caller's [`escape`].

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 180.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 22.0;

/// Text safe inside HTML or SVG (element content and quoted attributes).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` → `1.23 M`: short numbers for axes and tables.
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (d, unit) = if a >= 1e12 {
        (1e12, " T")
    } else if a >= 1e9 {
        (1e9, " G")
    } else if a >= 1e6 {
        (1e6, " M")
    } else if a >= 1e3 {
        (1e3, " k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if d == 1.0 && x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.0}{unit}")
    } else {
        format!("{x:.2}{unit}")
    }
}

/// A time series over `[from_ns, to_ns)`: an area chart with its maximum on the axis and
/// the range's two ends (labelled by `label_time`) below. `points` are (ns, value).
pub fn series(
    title: &str,
    points: &[(u64, f64)],
    from_ns: u64,
    to_ns: u64,
    label_time: &dyn Fn(u64) -> String,
) -> String {
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let top = if max > 0.0 { max } else { 1.0 };
    let span = to_ns.saturating_sub(from_ns).max(1) as f64;
    let x = |t: u64| LEFT + (t.saturating_sub(from_ns) as f64 / span) * (W - LEFT - 8.0);
    let y = |v: f64| 8.0 + (1.0 - v / top) * (H - BOTTOM - 8.0);
    let mut path = String::new();
    for (i, &(t, v)) in points.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(t),
            y(v)
        );
    }
    let base = y(0.0);
    let mut area = path.clone();
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            area,
            "L{:.1},{base:.1} L{:.1},{base:.1} Z",
            x(last.0),
            x(first.0)
        );
    }
    format!(
        r##"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><title>{t}</title>
<line x1="{LEFT}" y1="{base:.1}" x2="{xr}" y2="{base:.1}" stroke="#999"/>
<line x1="{LEFT}" y1="8" x2="{LEFT}" y2="{base:.1}" stroke="#999"/>
<text x="{lx}" y="14" text-anchor="end" font-size="11">{maxl}</text>
<text x="{lx}" y="{base:.1}" text-anchor="end" font-size="11">0</text>
<path d="{area}" fill="#cfe3f7"/><path d="{path}" fill="none" stroke="#1f5f9e" stroke-width="1.5"/>
<text x="{LEFT}" y="{ty}" font-size="11">{from}</text>
<text x="{xr}" y="{ty}" text-anchor="end" font-size="11">{to}</text>
</svg>"##,
        t = escape(title),
        xr = W - 8.0,
        lx = LEFT - 4.0,
        maxl = si(max),
        ty = H - 6.0,
        from = escape(&label_time(from_ns)),
        to = escape(&label_time(to_ns)),
    )
}

/// Horizontal bars, one per (label, value), longest first as given.
pub fn bars(title: &str, rows: &[(String, u64)]) -> String {
    let row_h = 22.0;
    let h = row_h * rows.len() as f64 + 4.0;
    let label_w = 300.0;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {h}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 2.0 + i as f64 * row_h;
        let w = (*v as f64 / max) * (W - label_w - 80.0);
        let short: String = label.chars().take(48).collect();
        let _ = write!(
            out,
            r##"<text x="{lw}" y="{ty:.1}" text-anchor="end" font-size="11">{l}</text><rect x="{bx}" y="{y:.1}" width="{w:.1}" height="{bh}" fill="#1f5f9e"/><text x="{vx:.1}" y="{ty:.1}" font-size="11">{v}</text>"##,
            lw = label_w - 6.0,
            ty = y + 14.0,
            l = escape(&short),
            bx = label_w,
            bh = row_h - 6.0,
            vx = label_w + w + 4.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_labels_is_escaped() {
        let svg = bars("t", &[("<script>alert(1)</script> & \"x\"".into(), 3)]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("&amp; &quot;x&quot;"));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(999.0), "999");
        assert_eq!(si(1234.0), "1.23 k");
        assert_eq!(si(2_500_000.0), "2.50 M");
        assert_eq!(si(0.5), "0.50");
    }

    #[test]
    fn a_series_spans_its_range() {
        let svg = series("pps", &[(0, 1.0), (50, 4.0), (99, 2.0)], 0, 100, &|t| {
            format!("t{t}")
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(">t0<") && svg.contains(">t100<"));
        assert!(svg.contains(">4<"), "the maximum labels the axis: {svg}");
    }
}
