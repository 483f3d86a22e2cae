//! Latency and error recording: one `Recorder` per client task, merged at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Largest latency the histograms hold; longer samples are clamped to it.
pub const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by the histograms.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies and errors of one kind of request.
#[derive(Debug, Clone)]
pub struct Stats {
    pub latency_us: Histogram<u64>,
    /// Exact sums for the mean and the standard deviation (the histogram rounds).
    pub latency_sum_s: f64,
    pub latency_squares_sum_s2: f64,
    /// Error text ("rpc error: code = ... desc = ...") to count.
    pub errors: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGNIFICANT_DIGITS)
                .expect("valid histogram bounds"),
            latency_sum_s: 0.0,
            latency_squares_sum_s2: 0.0,
            errors: BTreeMap::new(),
        }
    }
}

impl Stats {
    pub fn record_latency(&mut self, latency: Duration) {
        let latency_us = (latency.as_micros() as u64).clamp(1, LATENCY_MAX_US);
        self.latency_us.saturating_record(latency_us);
        let latency_s = latency.as_secs_f64();
        self.latency_sum_s += latency_s;
        self.latency_squares_sum_s2 += latency_s * latency_s;
    }

    pub fn record_error(&mut self, error: String) {
        *self.errors.entry(error).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share their bounds");
        self.latency_sum_s += other.latency_sum_s;
        self.latency_squares_sum_s2 += other.latency_squares_sum_s2;
        for (error, count) in &other.errors {
            *self.errors.entry(error.clone()).or_insert(0) += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Every sample of a run, and the same split by class (e.g. read and write).
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub all: Stats,
    pub classes: BTreeMap<&'static str, Stats>,
}

impl Recorder {
    pub fn record(
        &mut self,
        class: Option<&'static str>,
        latency: Duration,
        result: Result<(), String>,
    ) {
        match result {
            Ok(()) => {
                self.all.record_latency(latency);
                if let Some(class) = class {
                    self.classes
                        .entry(class)
                        .or_default()
                        .record_latency(latency);
                }
            }
            Err(error) => {
                if let Some(class) = class {
                    self.classes
                        .entry(class)
                        .or_default()
                        .record_error(error.clone());
                }
                self.all.record_error(error);
            }
        }
    }

    /// Records a sample only under `class`, not in `all` (e.g. the puts of a
    /// watch benchmark, whose main figure is the event latency).
    pub fn record_class_only(
        &mut self,
        class: &'static str,
        latency: Duration,
        result: Result<(), String>,
    ) {
        let stats = self.classes.entry(class).or_default();
        match result {
            Ok(()) => stats.record_latency(latency),
            Err(error) => stats.record_error(error),
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.all.merge(&other.all);
        for (class, stats) in &other.classes {
            self.classes.entry(class).or_default().merge(stats);
        }
    }
}

/// etcd's benchmark prints gRPC errors as grpc-go formats them.
pub fn status_text(status: &tonic::Status) -> String {
    format!(
        "rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    )
}
