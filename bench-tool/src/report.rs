//! The result of a run: etcd benchmark's text report, or one JSON object.
//!
//! The JSON keeps the full latency histogram (`histogram_us`: pairs of
//! [value in µs, count], one per non-empty bucket of 3 significant digits),
//! so `chart` and later analysis can recompute any percentile.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::recorder::{Recorder, Stats, LATENCY_MAX_US};

/// Percentiles printed and exported, as etcd's benchmark prints them.
pub const PERCENTILES: [f64; 8] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9];
/// Buckets of the text histogram (etcd's benchmark uses 10 plus the slowest).
const TEXT_HISTOGRAM_BUCKETS: usize = 10;
const TEXT_HISTOGRAM_BAR_CHARS: usize = 40;

/// Latency summary of one kind of request, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub stddev: f64,
    pub max: f64,
    /// "p10" .. "p99.9" to microseconds.
    pub percentiles: BTreeMap<String, f64>,
}

/// Figures of one kind of request (all requests, or one class of them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub count: u64,
    pub errors_total: u64,
    pub errors: BTreeMap<String, u64>,
    pub throughput_per_s: f64,
    pub latency_us: Latency,
    /// [value µs, count] per non-empty histogram bucket.
    pub histogram_us: Vec<(u64, u64)>,
}

/// Everything a run reports; `--json` prints it as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub workload: String,
    pub title: Option<String>,
    pub label: Option<String>,
    pub endpoints: Vec<String>,
    pub conns: usize,
    pub clients: usize,
    pub rate_per_s: f64,
    pub duration_s: f64,
    #[serde(flatten)]
    pub figures: Figures,
    /// Split figures, e.g. "read"/"write" of txn-mixed, "put"/"create" of watch.
    pub classes: BTreeMap<String, Figures>,
    /// Workload-specific facts (e.g. events expected and received).
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn percentile_key(percentile: f64) -> String {
    format!("p{percentile}")
}

fn figures(stats: &Stats, elapsed: Duration) -> Figures {
    let histogram = &stats.latency_us;
    let count = histogram.len();
    let mean_s = if count > 0 {
        stats.latency_sum_s / count as f64
    } else {
        0.0
    };
    let variance_s2 = if count > 0 {
        (stats.latency_squares_sum_s2 / count as f64 - mean_s * mean_s).max(0.0)
    } else {
        0.0
    };
    let percentiles = PERCENTILES
        .iter()
        .map(|&p| {
            let value = if count > 0 {
                histogram.value_at_percentile(p) as f64
            } else {
                0.0
            };
            (percentile_key(p), value)
        })
        .collect();
    Figures {
        count,
        errors_total: stats.errors_total(),
        errors: stats.errors.clone(),
        throughput_per_s: count as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_us: Latency {
            min: if count > 0 {
                histogram.min() as f64
            } else {
                0.0
            },
            mean: mean_s * 1e6,
            stddev: variance_s2.sqrt() * 1e6,
            max: if count > 0 {
                histogram.max() as f64
            } else {
                0.0
            },
            percentiles,
        },
        histogram_us: histogram
            .iter_recorded()
            .map(|bucket| {
                (
                    histogram.highest_equivalent(bucket.value_iterated_to()),
                    bucket.count_at_value(),
                )
            })
            .collect(),
    }
}

/// Where and how a run loaded the cluster, for the report's header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub workload: String,
    pub title: Option<String>,
    pub label: Option<String>,
    pub endpoints: Vec<String>,
    pub conns: usize,
    pub clients: usize,
    pub rate_per_s: f64,
}

impl Report {
    pub fn new(info: RunInfo, recorder: &Recorder, elapsed: Duration) -> Self {
        Report {
            tool: "cairn-bench".to_string(),
            workload: info.workload,
            title: info.title,
            label: info.label,
            endpoints: info.endpoints,
            conns: info.conns,
            clients: info.clients,
            rate_per_s: info.rate_per_s,
            duration_s: elapsed.as_secs_f64(),
            figures: figures(&recorder.all, elapsed),
            classes: recorder
                .classes
                .iter()
                .map(|(class, stats)| (class.to_string(), figures(stats, elapsed)))
                .collect(),
            extra: BTreeMap::new(),
        }
    }

    /// etcd benchmark's text: summary, histogram, percentiles, errors; then
    /// the same for each class.
    pub fn text(&self) -> String {
        let mut out = String::new();
        write_figures(&mut out, &self.figures, self.duration_s);
        for (class, figures) in &self.classes {
            let _ = writeln!(out, "\n== {class}");
            write_figures(&mut out, figures, self.duration_s);
        }
        if !self.extra.is_empty() {
            let _ = writeln!(out);
            for (name, value) in &self.extra {
                let _ = writeln!(out, "{name}: {value}");
            }
        }
        out
    }
}

fn seconds(us: f64) -> String {
    format!("{:.4} secs", us / 1e6)
}

fn write_figures(out: &mut String, figures: &Figures, duration_s: f64) {
    let latency = &figures.latency_us;
    if figures.count > 0 {
        let _ = writeln!(out, "\nSummary:");
        let _ = writeln!(out, "  Total:\t{:.4} secs.", duration_s);
        let _ = writeln!(out, "  Slowest:\t{}.", seconds(latency.max));
        let _ = writeln!(out, "  Fastest:\t{}.", seconds(latency.min));
        let _ = writeln!(out, "  Average:\t{}.", seconds(latency.mean));
        let _ = writeln!(out, "  Stddev:\t{}.", seconds(latency.stddev));
        let _ = writeln!(out, "  Requests/sec:\t{:.4}", figures.throughput_per_s);
        write_text_histogram(out, figures);
        let _ = writeln!(out, "\nLatency distribution:");
        for percentile in PERCENTILES {
            let value = latency.percentiles[&percentile_key(percentile)];
            let _ = writeln!(out, "  {percentile}% in {}.", seconds(value));
        }
        let _ = writeln!(out, "  max in {}.", seconds(latency.max));
    } else {
        let _ = writeln!(out, "\nNo request succeeded.");
    }
    if !figures.errors.is_empty() {
        let _ = writeln!(out, "\nError distribution:");
        for (error, count) in &figures.errors {
            let _ = writeln!(out, "  [{count}]\t{error}");
        }
    }
}

/// Ten equal-width buckets from fastest to slowest, as etcd's benchmark.
fn write_text_histogram(out: &mut String, figures: &Figures) {
    let fastest = figures.latency_us.min;
    let slowest = figures.latency_us.max;
    let width = (slowest - fastest) / TEXT_HISTOGRAM_BUCKETS as f64;
    let mut bounds: Vec<f64> = (0..TEXT_HISTOGRAM_BUCKETS)
        .map(|i| fastest + width * i as f64)
        .collect();
    bounds.push(slowest);
    let mut counts = vec![0u64; bounds.len()];
    for &(value, count) in &figures.histogram_us {
        let value = (value as f64).clamp(fastest, slowest);
        let index = bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(bounds.len() - 1);
        counts[index] += count;
    }
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let _ = writeln!(out, "\nResponse time histogram:");
    for (bound, count) in bounds.iter().zip(&counts) {
        let bar = "∎".repeat((*count as usize * TEXT_HISTOGRAM_BAR_CHARS) / most as usize);
        let _ = writeln!(out, "  {:.4} [{count}]\t|{bar}", bound / 1e6);
    }
}

/// Rebuilds a histogram from exported buckets (for `chart`).
pub fn histogram_from_buckets(buckets: &[(u64, u64)]) -> Histogram<u64> {
    let mut histogram =
        Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid histogram bounds");
    for &(value, count) in buckets {
        histogram.saturating_record_n(value.clamp(1, LATENCY_MAX_US), count);
    }
    histogram
}

/// Reads a `--json` result file.
pub fn read_report(file: &Path) -> Result<Report, String> {
    let text =
        std::fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))?;
    serde_json::from_str(&text).map_err(|error| {
        format!(
            "{}: not a cairn-bench --json result: {error}",
            file.display()
        )
    })
}

/// `summary`: one tab-separated line per result file.
pub fn print_summaries(files: &[PathBuf]) -> Result<(), String> {
    for file in files {
        let report = read_report(file)?;
        let figures = &report.figures;
        let latency = &figures.latency_us;
        let errors: Vec<String> = figures
            .errors
            .iter()
            .map(|(error, count)| format!("{count}x {}", error.replace(['\t', '\n', '|'], " ")))
            .collect();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{:.1}\t{:.0}\t{:.0}\t{:.0}\t{}",
            file.display(),
            report.title.as_deref().unwrap_or("-"),
            report.label.as_deref().unwrap_or("-"),
            report.workload,
            figures.count,
            figures.errors_total,
            figures.throughput_per_s,
            latency.percentiles["p50"],
            latency.percentiles["p99"],
            latency.max,
            if errors.is_empty() {
                "-".to_string()
            } else {
                errors.join("; ")
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder_of(latencies_us: &[u64], errors: &[&str]) -> Recorder {
        let mut recorder = Recorder::default();
        for &us in latencies_us {
            recorder.record(Some("read"), Duration::from_micros(us), Ok(()));
        }
        for error in errors {
            recorder.record(None, Duration::ZERO, Err(error.to_string()));
        }
        recorder
    }

    fn info() -> RunInfo {
        RunInfo {
            workload: "put".to_string(),
            title: None,
            label: Some("cairn".to_string()),
            endpoints: vec!["127.0.0.1:2379".to_string()],
            conns: 1,
            clients: 1,
            rate_per_s: 0.0,
        }
    }

    #[test]
    fn figures_count_errors_and_percentiles() {
        let latencies: Vec<u64> = (1..=1000).collect();
        let recorder = recorder_of(&latencies, &["boom", "boom"]);
        let report = Report::new(info(), &recorder, Duration::from_secs(2));
        assert_eq!(report.figures.count, 1000);
        assert_eq!(report.figures.errors["boom"], 2);
        assert_eq!(report.figures.throughput_per_s, 500.0);
        assert_eq!(report.figures.latency_us.percentiles["p50"], 500.0);
        // hdrhistogram rounds the rank up: 99.9% of 1000 lands on 999 or 1000.
        let p999 = report.figures.latency_us.percentiles["p99.9"];
        assert!((999.0..=1000.0).contains(&p999), "p99.9 = {p999}");
        assert_eq!(report.figures.latency_us.max, 1000.0);
        assert!((report.figures.latency_us.mean - 500.5).abs() < 1e-6);
        assert_eq!(report.classes["read"].count, 1000);
    }

    #[test]
    fn json_round_trip_keeps_the_histogram() {
        let recorder = recorder_of(&[120, 130, 5_000, 80_000], &[]);
        let report = Report::new(info(), &recorder, Duration::from_secs(1));
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        let histogram = histogram_from_buckets(&back.figures.histogram_us);
        assert_eq!(histogram.len(), 4);
        assert_eq!(
            histogram.value_at_percentile(50.0),
            recorder.all.latency_us.value_at_percentile(50.0)
        );
        assert_eq!(histogram.max(), recorder.all.latency_us.max());
    }

    #[test]
    fn text_report_has_etcd_sections() {
        let recorder = recorder_of(
            &[100, 200, 300],
            &["rpc error: code = Unavailable desc = x"],
        );
        let text = Report::new(info(), &recorder, Duration::from_secs(1)).text();
        for section in [
            "Summary:",
            "Requests/sec:",
            "Response time histogram:",
            "Latency distribution:",
            "99.9% in",
            "Error distribution:",
        ] {
            assert!(text.contains(section), "missing {section} in\n{text}");
        }
    }
}
