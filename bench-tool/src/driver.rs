//! Runs N clients against a shared plan: how many requests (`--total`), until
//! when (`--duration`), how fast (`--rate`). Each client owns a `Worker` that
//! issues one request per ticket; the driver times it and records the outcome.

use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::progress::Progress;
use crate::recorder::Recorder;

/// One client's request generator.
pub trait Worker: Send + 'static {
    /// Issues request number `ticket` (unique over all clients, from 0).
    fn call(&mut self, ticket: u64) -> impl Future<Output = Result<(), tonic::Status>> + Send;

    /// Class of the request last issued, for split reports (e.g. "read").
    fn class(&self) -> Option<&'static str> {
        None
    }
}

/// When the run stops and how tickets are paced. Shared by all clients.
#[derive(Debug)]
pub struct Plan {
    started: Instant,
    total: Option<u64>,
    deadline: Option<Instant>,
    /// Requests per second over all clients; 0 means unpaced.
    rate_per_s: f64,
    issued: AtomicU64,
    completed: AtomicU64,
}

impl Plan {
    pub fn new(total: Option<u64>, duration_s: Option<f64>, rate_per_s: f64) -> Self {
        let started = Instant::now();
        Self {
            started,
            total,
            deadline: duration_s.map(|seconds| started + Duration::from_secs_f64(seconds)),
            rate_per_s,
            issued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn total(&self) -> Option<u64> {
        self.total
    }

    pub fn duration(&self) -> Option<Duration> {
        self.deadline.map(|deadline| deadline - self.started)
    }

    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    pub fn mark_completed(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Claims the next ticket, waiting for its slot when paced; `None` once
    /// the total is issued or the deadline passed.
    pub async fn next(&self) -> Option<u64> {
        let ticket = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.total.is_some_and(|total| ticket >= total) {
            return None;
        }
        if self.rate_per_s > 0.0 {
            let due = self.started + Duration::from_secs_f64(ticket as f64 / self.rate_per_s);
            if self.deadline.is_some_and(|deadline| due >= deadline) {
                return None;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return None;
        }
        Some(ticket)
    }
}

/// Whether to draw a progress bar: only for a human watching a terminal.
pub fn show_progress(json: bool) -> bool {
    !json && std::io::stdout().is_terminal()
}

/// Runs every worker as its own task until the plan ends; returns the merged
/// recording and the wall time of the run.
pub async fn run_workers<W: Worker>(
    workers: Vec<W>,
    plan: Arc<Plan>,
    request_timeout: Duration,
    progress: bool,
) -> (Recorder, Duration) {
    let progress = progress.then(|| Progress::start(plan.clone()));
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let plan = plan.clone();
        tasks.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            while let Some(ticket) = plan.next().await {
                let started = Instant::now();
                let result = match tokio::time::timeout(request_timeout, worker.call(ticket)).await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(status)) => Err(crate::recorder::status_text(&status)),
                    Err(_) => Err(format!("request timed out after {request_timeout:?}")),
                };
                recorder.record(worker.class(), started.elapsed(), result);
                plan.mark_completed();
            }
            recorder
        }));
    }
    let mut recorder = Recorder::default();
    for task in tasks {
        let part = task.await.expect("client task panicked");
        recorder.merge(&part);
    }
    let elapsed = plan.started().elapsed();
    if let Some(progress) = progress {
        progress.finish().await;
    }
    (recorder, elapsed)
}
