//! The self-contained HTML report: one file, inline CSS and SVG charts, no script and no
//! external asset, so it opens anywhere (a CI artifact, an e-mail attachment).

use std::fmt::Write;

use askama::Template;

use super::{Report, TimelineBucket, human_us, plural, text, triage};
use crate::chaos::Action;
use crate::chaos::Event;
use crate::journal::IterationRecord;

/// Iterations listed inside one expanded group.
const ITERATIONS_PER_GROUP: usize = 25;

/// One failure group, ready for the template (askama escapes every field).
struct GroupView {
    title: String,
    count: usize,
    span: String,
    injectors: String,
    replay: String,
    iterations: Vec<IterationView>,
    more: usize,
}

/// One iteration inside a group.
struct IterationView {
    index: u64,
    duration: String,
    error: String,
    decisions: Vec<String>,
    events: Vec<String>,
    violations: Vec<String>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct HtmlReport<'a> {
    r: &'a Report,
    verdict_class: &'static str,
    started: String,
    wall: String,
    success_pct: String,
    latency_rows: Vec<(&'static str, String)>,
    latency_chart: String,
    success_chart: String,
    injections_chart: String,
    injector_rows: Vec<(String, String, String)>,
    validator_rows: Vec<(String, String, String, String)>,
    groups: Vec<GroupView>,
    /// Host memory, descriptors and threads over the run (empty when not sampled).
    resources_section: String,
    /// Rendered and escaped by `coverage::html`.
    coverage_table: String,
}

pub(super) fn render(r: &Report, journal: &str) -> String {
    let l = &r.latency_us;
    let page = HtmlReport {
        r,
        coverage_table: super::coverage::html(r),
        verdict_class: match r.verdict {
            super::Verdict::Pass => "pass",
            super::Verdict::Unstable => "unstable",
            super::Verdict::Fail => "fail",
            super::Verdict::Interrupted => "interrupted",
        },
        started: format_unix_ms(r.started_at_unix_ms),
        wall: human_us(r.wall_time_us as f64),
        success_pct: format!("{:.2}%", r.success_rate * 100.0),
        latency_rows: vec![
            ("min", human_us(l.min)),
            ("p50", human_us(l.p50)),
            ("p90", human_us(l.p90)),
            ("p99", human_us(l.p99)),
            ("p99.9", human_us(l.p999)),
            ("max", human_us(l.max)),
            ("mean", human_us(l.mean)),
        ],
        latency_chart: latency_chart(&r.timeline),
        success_chart: success_chart(&r.timeline),
        injections_chart: injections_chart(r),
        injector_rows: r
            .injectors
            .iter()
            .map(|i| {
                let counts = if i.injections.is_empty() {
                    "none".to_string()
                } else {
                    i.injections.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
                };
                (i.label.clone(), counts, i.notes.join("; "))
            })
            .collect(),
        validator_rows: r
            .validators
            .iter()
            .map(|v| {
                let state = match (&v.final_violation, &v.first_violation) {
                    (Some(f), _) => format!("failed: {f}"),
                    (None, Some(first)) => {
                        format!("complained about {}; first: {first}", plural(v.violations, "iteration"))
                    }
                    (None, None) => "ok".to_string(),
                };
                let kind = format!("{}, {}", text::severity(v.severity), text::counting(v.counting));
                (v.label.clone(), kind, state, v.notes.join("; "))
            })
            .collect(),
        groups: triage::group(&r.failures)
            .iter()
            .map(|g| GroupView {
                title: g.title(),
                count: g.count(),
                span: if g.count() == 1 {
                    format!("iteration {}", g.first())
                } else {
                    format!("iterations {} to {}", g.first(), g.last())
                },
                injectors: if g.injectors.is_empty() {
                    "none".to_string()
                } else {
                    g.injectors.iter().map(|(l, k)| format!("{l} (in {k})")).collect::<Vec<_>>().join(", ")
                },
                replay: g.replay_command(journal, r.provenance.as_ref().map(|p| p.scenario_file.as_str())),
                iterations: g.iterations.iter().take(ITERATIONS_PER_GROUP).map(|i| iteration_view(i)).collect(),
                more: g.count().saturating_sub(ITERATIONS_PER_GROUP),
            })
            .collect(),
        resources_section: super::resources::html_section(&r.host_resources),
    };
    page.render().unwrap_or_else(|e| {
        format!("<!DOCTYPE html><html><body><p>cannot render the report: {}</p></body></html>", esc(&e.to_string()))
    })
}

fn iteration_view(i: &IterationRecord) -> IterationView {
    IterationView {
        index: i.index,
        duration: human_us(i.duration_us as f64),
        error: i.error.clone().unwrap_or_else(|| "failed".into()),
        decisions: i
            .decisions
            .iter()
            .map(|d| {
                let us = |d: std::time::Duration| human_us(d.as_nanos() as f64 / 1e3);
                let action = match &d.action {
                    Action::None => "none".to_string(),
                    Action::Delay(delay) => format!("delay {}", us(*delay)),
                    Action::Error(message) => format!("error \"{message}\""),
                    Action::Panic(message) => format!("panic \"{message}\""),
                    Action::Cancel => "cancel".to_string(),
                    Action::Network(f) if f.drop => format!("network: drop after {}", us(f.latency)),
                    Action::Network(f) => format!("network: +{}", us(f.latency)),
                };
                format!(
                    "{} → {} at {} `{}` (visit {})",
                    d.injector,
                    action,
                    d.kind,
                    d.point,
                    u64::from(d.occurrence) + 1
                )
            })
            .collect(),
        events: i
            .events
            .iter()
            .map(|e| match e {
                Event::RecursionDepth(d) => format!("recursion depth {d}"),
                Event::Panic(m) => format!("panic caught: {m}"),
                Event::Error(m) => format!("error: {m}"),
                Event::Metric(name, v) => format!("metric {name} = {v}"),
            })
            .chain((i.dropped_events > 0).then(|| format!("{} more events not kept", i.dropped_events)))
            .collect(),
        violations: i.violations.iter().map(|v| format!("{}: {}", v.validator, v.message)).collect(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix milliseconds (civil-from-days, no date crate).
fn format_unix_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const W: f64 = 640.0;
const H: f64 = 200.0;
const PAD_L: f64 = 64.0;
const PAD_B: f64 = 28.0;
const PAD_T: f64 = 12.0;
const PAD_R: f64 = 12.0;

fn empty_chart(what: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} 60\" role=\"img\"><text x=\"10\" y=\"35\" class=\"muted\">{}</text></svg>",
        esc(what)
    )
}

/// A line chart of `series` (label, class, values) over the timeline's buckets.
fn line_chart(
    buckets: &[TimelineBucket],
    series: &[(&str, &str, Vec<f64>)],
    y_max: f64,
    y_label: &dyn Fn(f64) -> String,
) -> String {
    let n = buckets.len();
    let x = |i: usize| PAD_L + (W - PAD_L - PAD_R) * if n <= 1 { 0.5 } else { i as f64 / (n - 1) as f64 };
    let y = |v: f64| PAD_T + (H - PAD_T - PAD_B) * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\">");
    for k in 0..=4 {
        let v = y_max * k as f64 / 4.0;
        let yy = y(v);
        let _ = write!(
            svg,
            "<line x1=\"{PAD_L}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            W - PAD_R,
            PAD_L - 6.0,
            yy + 4.0,
            esc(&y_label(v))
        );
    }
    let end_ms = buckets.last().map_or(0, |b| b.start_ms);
    let _ = write!(
        svg,
        "<text x=\"{PAD_L}\" y=\"{:.1}\" class=\"axis\">0 s</text><text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{:.1} s</text>",
        H - 8.0,
        W - PAD_R,
        H - 8.0,
        end_ms as f64 / 1e3
    );
    for (label, class, values) in series {
        let points: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = write!(
            svg,
            "<polyline class=\"{class}\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            esc(label)
        );
        if values.len() == 1 {
            let _ = write!(svg, "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>", x(0), y(values[0]));
        }
    }
    svg.push_str("</svg>");
    svg
}

fn latency_chart(t: &[TimelineBucket]) -> String {
    let t: Vec<TimelineBucket> = t.iter().filter(|b| b.iterations > 0).copied().collect();
    if t.is_empty() {
        return empty_chart("no iterations ran");
    }
    let y_max = nice_ceiling(t.iter().map(|b| b.max_us).fold(1.0, f64::max));
    line_chart(
        &t,
        &[
            ("max latency", "max", t.iter().map(|b| b.max_us).collect()),
            ("mean latency", "mean", t.iter().map(|b| b.mean_us).collect()),
        ],
        y_max,
        &human_us,
    )
}

/// The smallest 1, 2, 4, 5 or 8 × 10^k at or above `v`, so the four grid lines fall on
/// round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 4.0, 5.0, 8.0, 10.0].iter().map(|m| m * magnitude).find(|c| *c >= v).unwrap_or(10.0 * magnitude)
}

fn success_chart(t: &[TimelineBucket]) -> String {
    let t: Vec<TimelineBucket> = t.iter().filter(|b| b.iterations > 0).copied().collect();
    if t.is_empty() {
        return empty_chart("no iterations ran");
    }
    let values = t.iter().map(|b| (b.iterations - b.failed) as f64 * 100.0 / b.iterations as f64).collect();
    line_chart(&t, &[("success rate", "ok", values)], 100.0, &|v| format!("{v:.0}%"))
}

fn injections_chart(r: &Report) -> String {
    let totals: Vec<(&str, u64)> =
        r.injectors.iter().map(|i| (i.label.as_str(), i.injections.values().sum())).collect();
    if totals.is_empty() {
        return empty_chart("no injectors");
    }
    let max = totals.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let row = 26.0;
    let height = row * totals.len() as f64 + 8.0;
    let label_w = 180.0;
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" role=\"img\">");
    for (k, (label, n)) in totals.iter().enumerate() {
        let y = 4.0 + row * k as f64;
        let w = (W - label_w - 80.0) * *n as f64 / max;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" class=\"bar\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\">{n}</text>",
            label_w - 8.0,
            y + 15.0,
            esc(label),
            row - 8.0,
            label_w + w + 6.0,
            y + 15.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_in_utc() {
        assert_eq!(format_unix_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix_ms(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn chart_scales_end_on_round_numbers() {
        assert_eq!(nice_ceiling(393.41), 400.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(1001.0), 2000.0);
        assert_eq!(nice_ceiling(7.0), 8.0);
    }

    #[test]
    fn text_is_escaped_for_svg() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
