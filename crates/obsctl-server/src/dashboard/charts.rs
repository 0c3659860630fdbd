//! Inline SVG charts: a latency sparkline for a service card and a line chart with axes for
//! the detail pages. No script, no library: the server draws them.

use std::fmt::Write;

/// A sparkline of `values` (oldest first) in a `width`×`height` box, on whole pixels (the
/// overview draws ten thousand of them); empty when there are fewer than two points.
pub fn sparkline(values: &[f64], width: u32, height: u32) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let max = values.iter().copied().fold(1.0, f64::max);
    let last = (values.len() - 1) as u32;
    let mut svg = String::with_capacity(150 + values.len() * 7);
    let _ = write!(
        svg,
        r#"<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-hidden="true"><polyline points=""#
    );
    for (i, v) in values.iter().enumerate() {
        let x = i as u32 * width / last;
        let y = height - 1 - ((v / max).clamp(0.0, 1.0) * f64::from(height - 2)).round() as u32;
        let _ = write!(svg, "{}{x},{y}", if i == 0 { "" } else { " " });
    }
    svg.push_str(r#""/></svg>"#);
    svg
}

/// A line chart of one or more series sharing a y axis that runs from 0 to `ceiling` (100 for
/// percentages) or to the largest value, with that top labelled above the chart (outside the
/// SVG, which stretches to its box). `series` is `(css class, values oldest first)`.
pub fn line_chart(series: &[(&str, &[f64])], unit: &str, label: &str, ceiling: Option<f64>) -> String {
    let (width, height) = (600.0, 100.0);
    let top = ceiling.unwrap_or_else(|| series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0_f64, f64::max));
    // Labels can come from the host (a mount path may hold `<` or `"`): escaped like a template.
    let Ok(label) = askama::filters::escape(label, askama::filters::Html);
    let Ok(unit) = askama::filters::escape(unit, askama::filters::Html);
    let mut svg = format!(
        r#"<figure class="chart-box"><figcaption>{} {unit}</figcaption><svg class="chart" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" aria-label="{label}">"#,
        round(top)
    );
    let _ = write!(svg, r#"<line class="axis" x1="0" y1="{height}" x2="{width}" y2="{height}"/>"#);
    for (class, values) in series {
        if values.len() >= 2 {
            let _ = write!(svg, r#"<polyline class="{class}" points="{}"/>"#, polyline_max(values, width, height, top));
        }
    }
    svg.push_str("</svg></figure>");
    svg
}

fn polyline_max(values: &[f64], width: f64, height: f64, max: f64) -> String {
    let max = if max > 0.0 { max } else { 1.0 };
    let step = width / (values.len() - 1) as f64;
    let mut out = String::with_capacity(values.len() * 12);
    for (i, v) in values.iter().enumerate() {
        let y = height - (v / max).clamp(0.0, 1.0) * (height - 2.0) - 1.0;
        let _ = write!(out, "{:.1},{:.1} ", i as f64 * step, y);
    }
    out.pop();
    out
}

/// A number short enough for a label: 3 significant figures at most.
pub fn round(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_into_their_box() {
        assert_eq!(sparkline(&[1.0], 60, 16), "");
        let svg = sparkline(&[0.0, 10.0, 5.0], 60, 16);
        assert!(svg.contains(r#"points="0,15 30,1 60,8""#), "{svg}");
        let chart = line_chart(&[("cpu", &[0.0, 50.0]), ("mem", &[20.0, 25.0])], "%", "host", None);
        assert!(chart.contains("<figcaption>50.0 %") && chart.matches("<polyline").count() == 2, "{chart}");
        let percent = line_chart(&[("cpu", &[0.0, 50.0])], "%", "host", Some(100.0));
        let hostile = line_chart(&[("mem", &[1.0, 2.0])], "%", "/mnt/\"><script>x</script>", Some(100.0));
        assert!(!hostile.contains("<script>") && hostile.contains("&#60;script&#62;"), "{hostile}");
        assert!(percent.contains("<figcaption>100 %") && percent.contains("600.0,50.0"), "{percent}");
    }
}
