//! Host resources over a run: [`ResourceSample`]s of this process's resident memory, open file
//! descriptors and threads, taken by a [`ResourceSampler`] thread and charted in the HTML report.
//!
//! A long run must hold flat: a leak shows as a line that keeps climbing. The sampler keeps at
//! most [`MAX_SAMPLES`] samples: when full it drops every other one and samples half as often,
//! so a day-long run costs the same few kilobytes as a minute-long one.

#[cfg(feature = "html")]
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Most samples kept; see the module docs.
pub const MAX_SAMPLES: usize = 512;

/// One measurement of this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Milliseconds since sampling started.
    pub t_ms: u64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// OS threads.
    pub threads: u64,
}

impl ResourceSample {
    /// Measure this process now (`t_ms` is left 0); `None` where `/proc/self` does not exist
    /// (platforms other than Linux).
    pub fn now() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(Self { t_ms: 0, rss_bytes: field("VmRSS:")? * 1024, fds, threads: field("Threads:")? })
    }
}

/// Samples kept so far and the current spacing between them.
struct Series {
    samples: Vec<ResourceSample>,
    every: Duration,
    origin: Instant,
}

impl Series {
    fn push(&mut self, sample: ResourceSample) {
        if self.samples.len() >= MAX_SAMPLES {
            // Keep the even-indexed samples (the first one stays) and halve the rate.
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.every *= 2;
        }
        self.samples.push(sample);
    }
}

/// A thread that samples this process at a fixed interval until [`finish`](Self::finish).
///
/// The CLI starts one for each run (sampling every second); the library never does (it
/// installs no threads of its own beyond what a run needs).
pub struct ResourceSampler {
    series: Arc<Mutex<Series>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ResourceSampler {
    /// Start sampling every `every` (the first sample is taken at once). On platforms without
    /// `/proc/self` the sampler collects nothing.
    ///
    /// # Errors
    ///
    /// The sampling thread cannot be spawned.
    pub fn start(every: Duration) -> std::io::Result<Self> {
        let series = Arc::new(Mutex::new(Series { samples: Vec::new(), every, origin: Instant::now() }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (series, stop) = (Arc::clone(&series), Arc::clone(&stop));
            std::thread::Builder::new().name("chaoskit-resources".into()).spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        let Some(mut sample) = ResourceSample::now() else {
                            return;
                        };
                        let mut s = series.lock().unwrap_or_else(|p| p.into_inner());
                        sample.t_ms = s.origin.elapsed().as_millis() as u64;
                        s.push(sample);
                        next += s.every;
                    }
                    // Short naps so `finish` returns quickly.
                    std::thread::sleep(Duration::from_millis(50).min(every));
                }
            })?
        };
        Ok(Self { series, stop, thread: Some(thread) })
    }

    /// Stop sampling, take one last sample, and return them all in time order.
    pub fn finish(mut self) -> Vec<ResourceSample> {
        self.halt();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut last) = ResourceSample::now() {
            last.t_ms = series.origin.elapsed().as_millis() as u64;
            if series.samples.last().is_none_or(|prev| prev.t_ms < last.t_ms) {
                series.push(last);
            }
        }
        std::mem::take(&mut series.samples)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ResourceSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The HTML section charting `samples` (empty when there are none): three small line charts
/// (memory in MiB, file descriptors, threads) over run time.
#[cfg(feature = "html")]
pub(super) fn html_section(samples: &[ResourceSample]) -> String {
    if samples.is_empty() {
        return String::new();
    }
    let mut html = String::from("<h2>Host resources over time</h2>\n<div class=\"resources\">\n");
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    for (title, values, unit, digits) in [
        ("resident memory", samples.iter().map(|s| mib(s.rss_bytes)).collect::<Vec<_>>(), " MiB", 1),
        ("open file descriptors", samples.iter().map(|s| s.fds as f64).collect(), "", 0),
        ("threads", samples.iter().map(|s| s.threads as f64).collect(), "", 0),
    ] {
        let first = values.first().copied().unwrap_or(0.0);
        let last = values.last().copied().unwrap_or(0.0);
        let peak = values.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            html,
            "<figure><figcaption>{title}: start {first:.digits$}{unit}, end {last:.digits$}{unit}, peak {peak:.digits$}{unit}</figcaption>{}</figure>",
            sparkline(samples, &values)
        );
    }
    html.push_str("</div>\n");
    html
}

/// A small SVG line chart of `values` against the samples' times, with its y range labelled.
#[cfg(feature = "html")]
fn sparkline(samples: &[ResourceSample], values: &[f64]) -> String {
    const W: f64 = 300.0;
    const H: f64 = 90.0;
    const PAD_L: f64 = 44.0;
    const PAD: f64 = 8.0;
    let t_max = samples.last().map(|s| s.t_ms).unwrap_or(0).max(1) as f64;
    let v_max = values.iter().copied().fold(0.0, f64::max);
    let v_min = values.iter().copied().fold(v_max, f64::min);
    // Start the axis at zero unless the range is narrow, so a flat line looks flat.
    let lo = if v_min > 0.5 * v_max { v_min * 0.9 } else { 0.0 };
    let hi = if v_max > lo { v_max * 1.05 } else { lo + 1.0 };
    let x = |t: u64| PAD_L + (W - PAD_L - PAD) * t as f64 / t_max;
    let y = |v: f64| PAD + (H - 2.0 * PAD) * (1.0 - (v - lo) / (hi - lo));
    let points =
        samples.iter().zip(values).map(|(s, v)| format!("{:.1},{:.1}", x(s.t_ms), y(*v))).collect::<Vec<_>>().join(" ");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\">\
         <line x1=\"{PAD_L}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\" stroke=\"#ccc\"/>\
         <text x=\"2\" y=\"{t1:.1}\" font-size=\"10\">{hi:.0}</text><text x=\"2\" y=\"{b:.1}\" font-size=\"10\">{lo:.0}</text>\
         <polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\"{points}\"/></svg>",
        b = H - PAD,
        r = W - PAD,
        t1 = PAD + 8.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, rss_bytes: u64) -> ResourceSample {
        ResourceSample { t_ms, rss_bytes, fds: 10, threads: 4 }
    }

    #[test]
    fn a_full_series_halves_its_samples_and_its_rate() {
        let mut s = Series { samples: Vec::new(), every: Duration::from_secs(1), origin: Instant::now() };
        for t in 0..(MAX_SAMPLES as u64 * 4) {
            s.push(sample(t, t));
        }
        assert!(s.samples.len() <= MAX_SAMPLES, "{}", s.samples.len());
        assert_eq!(s.samples[0].t_ms, 0, "the first sample is kept");
        assert!(s.every > Duration::from_secs(1));
        assert!(s.samples.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
    }

    #[cfg(all(target_os = "linux", feature = "html"))]
    #[test]
    fn the_sampler_measures_this_process() {
        let sampler = ResourceSampler::start(Duration::from_millis(5)).expect("sampler");
        std::thread::sleep(Duration::from_millis(60));
        let samples = sampler.finish();
        assert!(samples.len() >= 3, "{samples:?}");
        assert!(samples.iter().all(|s| s.rss_bytes > 1 << 20 && s.fds >= 3 && s.threads >= 1), "{samples:?}");
        let html = html_section(&samples);
        assert!(html.contains("resident memory: start") && html.matches("<polyline").count() == 3, "{html}");
    }

    #[cfg(feature = "html")]
    #[test]
    fn no_samples_no_section() {
        assert_eq!(html_section(&[]), "");
    }
}
